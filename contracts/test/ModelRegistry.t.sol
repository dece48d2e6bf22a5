// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {
    IModelRegistryCheckErrors,
    IModelRegistryErrors,
    IModelRegistryEvents,
    Version
} from "../src/IModelRegistry.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {Test} from "./utils/Test.sol";
import {Versions} from "./utils/Versions.sol";

/// @title ModelRegistry: ownership, versions, revocation, per-model keys, the allowlist
/// @notice Unit and fuzz tests of every registry rule and every error it declares.
contract ModelRegistryTest is Test {
    ModelRegistry internal registry;
    address internal verifier;
    address internal alice;
    address internal bob;
    uint256 internal modelId;

    function setUp() public {
        registry = new ModelRegistry();
        verifier = address(new MockVerifier(true));
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        vm.prank(alice);
        modelId = registry.createModel("fee");
    }

    function _addAs(address owner, uint256 id, address verifier_) internal returns (uint256) {
        vm.prank(owner);
        return registry.addVersion(id, Versions.plain(verifier_));
    }

    function _usable(uint256 id, address verifier_, address caller) internal view returns (uint256) {
        return registry.checkUsable(id, verifier_, bytes32(0), bytes32(0), caller);
    }

    // --- models ---------------------------------------------------------------------------------

    function test_CreateModel_NumbersModelsAndNamesTheCreatorOwner() public {
        vm.expectEmit();
        emit IModelRegistryEvents.ModelCreated(2, bob, "digits");
        vm.prank(bob);
        assertEq(registry.createModel("digits"), 2, "ids count up from 1");
        (address owner, address pending, bool restricted, uint256 versions, string memory name) = registry.getModel(2);
        assertEq(owner, bob, "creator owns it");
        assertEq(pending, address(0), "no offer");
        assertEq(restricted, false, "open by default");
        assertEq(versions, 0, "no versions yet");
        assertEq(keccak256(bytes(name)), keccak256("digits"), "name kept");
        assertEq(registry.modelCount(), 2, "two models");
    }

    function test_CreateModel_RefusesAnEmptyName() public {
        vm.expectRevert(IModelRegistryErrors.EmptyName.selector);
        registry.createModel("");
    }

    function testFuzz_UnknownModelsAreRefusedEverywhere(uint256 id) public {
        vm.assume(id != modelId);
        bytes memory unknown = abi.encodeWithSelector(IModelRegistryCheckErrors.UnknownModel.selector, id);
        vm.expectRevert(unknown);
        registry.getModel(id);
        vm.expectRevert(unknown);
        registry.checkUsable(id, verifier, 0, 0, alice);
        vm.expectRevert(unknown);
        registry.acceptOwnership(id);
        vm.expectRevert(unknown);
        registry.addVersion(id, Versions.plain(verifier));
    }

    // --- versions -------------------------------------------------------------------------------

    function test_AddVersion_RecordsEveryField() public {
        vm.warp(1_700_000_000);
        uint256 version = _addAs(alice, modelId, verifier);
        Version memory record = registry.getVersion(modelId, version);
        assertEq(version, 1, "first version");
        assertEq(record.verifier, verifier, "verifier");
        assertEq(record.registeredAt, 1_700_000_000, "timestamp");
        assertEq(record.revoked, false, "active");
        assertEq(record.vkHash, Versions.plain(verifier).vkHash, "vk hash");
        assertEq(keccak256(bytes(record.ezklVersion)), keccak256("23.0.5"), "ezkl version");
        assertEq(registry.versionOf(modelId, verifier, 0, 0), 1, "found by its key");
        assertEq(_usable(modelId, verifier, bob), 1, "usable by anyone while open");
    }

    function testFuzz_AddVersion_OnlyByTheOwner(address caller) public {
        vm.assume(caller != alice);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.NotModelOwner.selector, modelId, caller));
        _addAs(caller, modelId, verifier);
    }

    function testFuzz_AddVersion_RefusesAVerifierWithoutCode(address target) public {
        vm.assume(target.code.length == 0);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.InvalidVerifier.selector, target));
        _addAs(alice, modelId, target);
    }

    function test_AddVersion_RefusesAnUnknownParent() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.UnknownParent.selector, modelId, 1));
        registry.addVersion(modelId, Versions.input(verifier, 0, 0, 1));
        _addAs(alice, modelId, verifier);
        vm.prank(alice);
        assertEq(registry.addVersion(modelId, Versions.input(verifier, 0, bytes32("w"), 1)), 2, "child of 1");
        assertEq(registry.getVersion(modelId, 2).parent, 1, "lineage");
    }

    function test_AddVersion_RefusesTheSameArtifactTwiceInOneModel() public {
        _addAs(alice, modelId, verifier);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.DuplicateArtifact.selector, modelId, 1));
        _addAs(alice, modelId, verifier);
    }

    /// @notice The key is (verifier, VKA digest, weights commitment): any field makes another version.
    function testFuzz_ArtifactKey_IsTheTripleHash(bytes32 digest, bytes32 commitment) public {
        bytes32 key = registry.artifactKey(verifier, digest, commitment);
        assertEq(key, keccak256(abi.encode(verifier, digest, commitment)), "keccak(abi.encode(...))");
        vm.prank(alice);
        uint256 version = registry.addVersion(modelId, Versions.input(verifier, digest, commitment, 0));
        assertEq(registry.versionOf(modelId, verifier, digest, commitment), version, "found by its key");
        assertEq(registry.checkUsable(modelId, verifier, digest, commitment, bob), version, "usable");
        if (digest != 0 || commitment != 0) assertEq(registry.versionOf(modelId, verifier, 0, 0), 0, "other key");
    }

    /// @notice Keys are per model: registering a verifier elsewhere neither blocks nor unlocks it here.
    function test_ArtifactKeys_ArePerModel() public {
        vm.prank(bob);
        uint256 squat = registry.createModel("squat");
        _addAs(bob, squat, verifier);
        assertEq(_addAs(alice, modelId, verifier), 1, "not blocked by the squatter");
        vm.prank(bob);
        registry.revokeVersion(squat, 1);
        assertEq(_usable(modelId, verifier, alice), 1, "another model's revocation changes nothing");
        address other = address(new MockVerifier(true));
        _addAs(bob, squat, other);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistryCheckErrors.UnregisteredArtifact.selector, modelId, other, 0, 0)
        );
        _usable(modelId, other, alice);
    }

    // --- revocation --------------------------------------------------------------------------------

    function test_Revoke_IsPermanentAndByTheOwnerOnly() public {
        _addAs(alice, modelId, verifier);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.NotModelOwner.selector, modelId, bob));
        registry.revokeVersion(modelId, 1);
        vm.expectEmit();
        emit IModelRegistryEvents.VersionRevoked(modelId, 1);
        vm.prank(alice);
        registry.revokeVersion(modelId, 1);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryCheckErrors.VersionIsRevoked.selector, modelId, 1));
        _usable(modelId, verifier, alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.AlreadyRevoked.selector, modelId, 1));
        registry.revokeVersion(modelId, 1);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.DuplicateArtifact.selector, modelId, 1));
        _addAs(alice, modelId, verifier); // a revoked key stays bound: no coming back to life
    }

    function testFuzz_UnknownVersionsAreRefused(uint256 version) public {
        _addAs(alice, modelId, verifier);
        vm.assume(version != 1);
        bytes memory unknown = abi.encodeWithSelector(IModelRegistryErrors.UnknownVersion.selector, modelId, version);
        vm.expectRevert(unknown);
        registry.getVersion(modelId, version);
        vm.prank(alice);
        vm.expectRevert(unknown);
        registry.revokeVersion(modelId, version);
    }

    // --- ownership ----------------------------------------------------------------------------------

    function test_Transfer_TakesTwoStepsAndTheOwnerKeepsEveryRightUntilAccepted() public {
        vm.prank(alice);
        registry.transferOwnership(modelId, bob);
        (address owner, address pending,,,) = registry.getModel(modelId);
        assertEq(owner, alice, "alice until bob accepts");
        assertEq(pending, bob, "bob may accept");
        assertEq(_addAs(alice, modelId, verifier), 1, "alice still registers");
        address carol = makeAddr("carol");
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.NotPendingOwner.selector, modelId, carol));
        registry.acceptOwnership(modelId);
        vm.expectEmit();
        emit IModelRegistryEvents.OwnershipTransferred(modelId, alice, bob);
        vm.prank(bob);
        registry.acceptOwnership(modelId);
        (owner, pending,,,) = registry.getModel(modelId);
        assertEq(owner, bob, "bob owns it");
        assertEq(pending, address(0), "offer consumed");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.NotModelOwner.selector, modelId, alice));
        registry.revokeVersion(modelId, 1);
    }

    function test_Transfer_ANewOfferReplacesTheOldOne() public {
        vm.startPrank(alice);
        registry.transferOwnership(modelId, bob);
        registry.transferOwnership(modelId, address(0)); // withdrawn
        vm.stopPrank();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryErrors.NotPendingOwner.selector, modelId, bob));
        registry.acceptOwnership(modelId);
    }

    // --- access ----------------------------------------------------------------------------------------

    function test_Allowlist_RestrictsUseToListedCallers() public {
        _addAs(alice, modelId, verifier);
        address[] memory accounts = new address[](1);
        accounts[0] = bob;
        vm.startPrank(alice);
        registry.setAccessRestricted(modelId, true);
        vm.stopPrank();
        assertEq(registry.isAllowed(modelId, bob), false, "restricted, not listed");
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryCheckErrors.CallerNotAllowed.selector, modelId, bob));
        _usable(modelId, verifier, bob);
        vm.expectEmit();
        emit IModelRegistryEvents.AllowedChanged(modelId, bob, true);
        vm.prank(alice);
        registry.setAllowed(modelId, accounts, true);
        assertEq(_usable(modelId, verifier, bob), 1, "listed");
        vm.prank(alice);
        registry.setAccessRestricted(modelId, false);
        assertEq(registry.isAllowed(modelId, makeAddr("anyone")), true, "open again");
    }

    function testFuzz_Allowlist_OnlyTheOwnerChangesIt(address caller) public {
        vm.assume(caller != alice);
        bytes memory refused = abi.encodeWithSelector(IModelRegistryErrors.NotModelOwner.selector, modelId, caller);
        vm.startPrank(caller);
        vm.expectRevert(refused);
        registry.setAccessRestricted(modelId, true);
        vm.expectRevert(refused);
        registry.setAllowed(modelId, new address[](0), true);
        vm.expectRevert(refused);
        registry.transferOwnership(modelId, caller);
        vm.stopPrank();
    }
}
