// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ModelRegistry} from "../src/ModelRegistry.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {Cheats, Test} from "./utils/Test.sol";
import {Versions} from "./utils/Versions.sol";

/// @title What forge may do to a model registry in an invariant run
/// @notice TEST ONLY: three accounts create models, register versions (three verifiers, a few
/// weights commitments), revoke, offer, accept and restrict, in any order; ghost records keep
/// what each successful call established, for the invariants to check against the registry.
contract RegistryHandler is Cheats {
    /// @notice A registered version as the handler saw it accepted.
    struct Registered {
        uint256 modelId;
        uint256 version;
        address verifier;
        bytes32 commitment;
    }

    /// @notice The registry under test.
    ModelRegistry public immutable registry = new ModelRegistry();
    /// @notice The accounts that act.
    address[3] public actors = [address(0xA11CE), address(0xB0B), address(0xCA401)];
    /// @notice The verifiers they register.
    address[3] public verifiers;

    /// @notice Every version accepted, in order.
    Registered[] public registered;
    /// @notice Versions accepted per model.
    mapping(uint256 modelId => uint256) public versionsOf;
    /// @notice Whether a revocation of (model, version) succeeded.
    mapping(uint256 modelId => mapping(uint256 version => bool)) public revoked;
    /// @notice Revocations that succeeded.
    uint256 public revocations;

    constructor() {
        for (uint256 i = 0; i < 3; ++i) {
            verifiers[i] = address(new MockVerifier(true));
        }
    }

    /// @notice Versions accepted so far.
    /// @return The count.
    function registeredCount() external view returns (uint256) {
        return registered.length;
    }

    /// @notice An actor creates a model.
    /// @param actor Fuzz input choosing the account.
    function createModel(uint256 actor) external {
        vm.prank(_actor(actor));
        registry.createModel("model");
    }

    /// @notice An actor registers a version of a model (refused unless it owns it, the parent
    /// exists and the artifact is new in that model).
    /// @param actor Fuzz input choosing the account.
    /// @param model Fuzz input choosing the model.
    /// @param verifier Fuzz input choosing the verifier.
    /// @param commitment Fuzz input choosing the weights commitment (one of four).
    /// @param parent Fuzz input for the parent version.
    function addVersion(uint256 actor, uint256 model, uint256 verifier, uint256 commitment, uint256 parent) external {
        uint256 modelId = _model(model);
        address chosen = verifiers[verifier % 3];
        bytes32 weights = bytes32(commitment % 4);
        vm.prank(_actor(actor));
        try registry.addVersion(modelId, Versions.input(chosen, 0, weights, parent % 3)) returns (uint256 version) {
            registered.push(Registered(modelId, version, chosen, weights));
            ++versionsOf[modelId];
        } catch {}
    }

    /// @notice An actor revokes a version.
    /// @param actor Fuzz input choosing the account.
    /// @param model Fuzz input choosing the model.
    /// @param version Fuzz input choosing the version.
    function revoke(uint256 actor, uint256 model, uint256 version) external {
        uint256 modelId = _model(model);
        uint256 chosen = version % 4;
        vm.prank(_actor(actor));
        try registry.revokeVersion(modelId, chosen) {
            revoked[modelId][chosen] = true;
            ++revocations;
        } catch {}
    }

    /// @notice An actor offers a model to another (or withdraws the offer).
    /// @param actor Fuzz input choosing the account.
    /// @param model Fuzz input choosing the model.
    /// @param to Fuzz input choosing the new owner (3: nobody).
    function offer(uint256 actor, uint256 model, uint256 to) external {
        (uint256 modelId, address next) = (_model(model), to % 4 == 3 ? address(0) : _actor(to));
        vm.prank(_actor(actor)); // after every view call: a prank is for the next call only
        try registry.transferOwnership(modelId, next) {} catch {}
    }

    /// @notice An actor accepts a model offered to it.
    /// @param actor Fuzz input choosing the account.
    /// @param model Fuzz input choosing the model.
    function accept(uint256 actor, uint256 model) external {
        uint256 modelId = _model(model);
        vm.prank(_actor(actor));
        try registry.acceptOwnership(modelId) {} catch {}
    }

    /// @notice An actor restricts a model to the actors' allowlist, or opens it.
    /// @param actor Fuzz input choosing the account.
    /// @param model Fuzz input choosing the model.
    /// @param restricted Whether to restrict.
    function restrict(uint256 actor, uint256 model, bool restricted) external {
        uint256 modelId = _model(model);
        vm.prank(_actor(actor));
        try registry.setAccessRestricted(modelId, restricted) {} catch {}
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % 3];
    }

    /// @dev A model id, mostly existing ones (0 and count + 1 test the unknown-model checks).
    function _model(uint256 seed) internal view returns (uint256) {
        return seed % (registry.modelCount() + 2);
    }
}

/// @title ModelRegistry invariants
/// @notice Whatever forge does: revocation is permanent, versions are append-only and found by
/// their key within their own model only, and every model has one of the actors as owner.
contract ModelRegistryInvariantTest is Test {
    RegistryHandler internal handler;
    ModelRegistry internal registry;

    function setUp() public {
        handler = new RegistryHandler();
        registry = handler.registry();
        _targetContract(address(handler));
    }

    /// @notice The handler's actions reach the registry, and refused ones leave no record.
    function test_Handler_RecordsOnlyWhatTheRegistryAccepted() public {
        handler.createModel(0); // model 1, owned by actor 0
        handler.addVersion(0, 1, 0, 0, 0);
        handler.addVersion(1, 1, 1, 0, 0); // actor 1 does not own model 1
        handler.addVersion(0, 1, 0, 0, 0); // the same artifact again
        handler.addVersion(0, 1, 0, 1, 1); // another commitment, child of version 1
        assertEq(handler.registeredCount(), 2, "two versions");
        handler.revoke(0, 1, 1);
        handler.revoke(0, 1, 1); // already revoked
        assertEq(handler.revocations(), 1, "one revocation");
        handler.offer(0, 1, 1);
        handler.accept(1, 1);
        (address owner,,,,) = registry.getModel(1);
        assertEq(owner, handler.actors(1), "handed over");
    }

    function invariant_RevocationIsPermanent() public view {
        for (uint256 i = 0; i < handler.registeredCount(); ++i) {
            (uint256 modelId, uint256 version,,) = handler.registered(i);
            bool wasRevoked = handler.revoked(modelId, version);
            assertEq(registry.getVersion(modelId, version).revoked, wasRevoked, "revoked iff a revocation succeeded");
        }
    }

    function invariant_VersionsAreAppendOnlyAndKeyedPerModel() public view {
        for (uint256 i = 0; i < handler.registeredCount(); ++i) {
            (uint256 modelId, uint256 version, address verifier, bytes32 commitment) = handler.registered(i);
            assertEq(registry.getVersion(modelId, version).verifier, verifier, "record unchanged");
            assertEq(registry.versionOf(modelId, verifier, 0, commitment), version, "its key finds it");
        }
        for (uint256 id = 1; id <= registry.modelCount(); ++id) {
            (,,, uint256 versions,) = registry.getModel(id);
            assertEq(versions, handler.versionsOf(id), "versions only through addVersion");
        }
    }

    function invariant_EveryModelHasAnActorAsOwner() public view {
        for (uint256 id = 1; id <= registry.modelCount(); ++id) {
            (address owner,,,,) = registry.getModel(id);
            assertTrue(
                owner == handler.actors(0) || owner == handler.actors(1) || owner == handler.actors(2),
                "an actor owns it"
            );
        }
    }
}
