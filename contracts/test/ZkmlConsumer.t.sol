// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IHalo2Verifier} from "../src/IHalo2Verifier.sol";
import {IModelRegistry, IModelRegistryCheckErrors} from "../src/IModelRegistry.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {ZkmlConsumer} from "../src/ZkmlConsumer.sol";
import {ConsumerHarness} from "./ConsumerHarness.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {Felt} from "./utils/Felt.sol";
import {Test} from "./utils/Test.sol";
import {Versions} from "./utils/Versions.sol";

/// @title A verifier that calls back into its consumer with the same freshness key
/// @notice TEST ONLY: shows that `_recordUse` runs before the verifier call, so a re-entered
/// `accept` with the key in flight is refused and one proof is accepted once.
contract ReentrantVerifier is IHalo2Verifier {
    /// @notice The consumer to call back.
    ConsumerHarness public target;
    /// @notice The inner call's revert data (empty if it succeeded).
    bytes public innerRevert;

    /// @notice Sets the consumer to call back.
    /// @param target_ The consumer.
    function setTarget(ConsumerHarness target_) external {
        target = target_;
    }

    /// @notice Re-enters `target.accept` with the same arguments, records how it failed, accepts.
    /// @param proof The proof bytes.
    /// @param instances The instances.
    /// @return Always true.
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool) {
        uint256[] memory expected = new uint256[](1);
        expected[0] = instances[0];
        try target.accept(proof, instances, expected, keccak256("key")) {}
        catch (bytes memory reason) {
            innerRevert = reason;
        }
        return true;
    }
}

/// @title ZkmlConsumer: the template's checks, in order, and its signed decoding
/// @notice Unit and fuzz tests of every rejection the template declares, through the test
/// harness pinned to the mock verifier (and to a real ModelRegistry for the registry step).
contract ZkmlConsumerTest is Test {
    uint256 internal constant R = Felt.R;
    uint256 internal constant MAX_ABS = Felt.MAX_ABS;
    bytes internal constant PROOF = hex"c0ffee";
    bytes32 internal constant KEY = keccak256("key");

    MockVerifier internal mock;
    ConsumerHarness internal harness;

    function setUp() public {
        mock = new MockVerifier(true);
        harness = new ConsumerHarness(mock, IModelRegistry(address(0)), 0);
    }

    /// @dev Nine instances (the harness's default shape): `inputs` leading ones, then zeros,
    /// the last one carrying `output`.
    function _instances(uint256[] memory inputs, int256 output) internal pure returns (uint256[] memory instances) {
        instances = new uint256[](9);
        for (uint256 i = 0; i < inputs.length; ++i) {
            instances[i] = inputs[i];
        }
        instances[8] = Felt.encode(output);
    }

    function _inputs(uint256 a, uint256 b) internal pure returns (uint256[] memory inputs) {
        inputs = new uint256[](2);
        (inputs[0], inputs[1]) = (a, b);
    }

    // --- constructor -------------------------------------------------------------------------

    function test_Constructor_RefusesVerifierWithoutCode() public {
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InvalidVerifier.selector, address(0)));
        new ConsumerHarness(IHalo2Verifier(address(0)), IModelRegistry(address(0)), 0);
        address eoa = makeAddr("eoa");
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InvalidVerifier.selector, eoa));
        new ConsumerHarness(IHalo2Verifier(eoa), IModelRegistry(address(0)), 0);
    }

    function test_Constructor_RefusesRegistryWithoutCode() public {
        address eoa = makeAddr("registry");
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InvalidRegistry.selector, eoa));
        new ConsumerHarness(mock, IModelRegistry(eoa), 1);
    }

    function testFuzz_Constructor_RefusesModelIdWithoutRegistry(uint256 modelId) public {
        modelId = bound(modelId, 1, type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InvalidModel.selector, modelId));
        new ConsumerHarness(mock, IModelRegistry(address(0)), modelId);
    }

    function test_Constructor_RefusesModelTheRegistryDoesNotHave() public {
        ModelRegistry registry = new ModelRegistry();
        registry.createModel("fee");
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InvalidModel.selector, 0));
        new ConsumerHarness(mock, registry, 0);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InvalidModel.selector, 2));
        new ConsumerHarness(mock, registry, 2);
        assertEq(new ConsumerHarness(mock, registry, 1).modelId(), 1, "model 1 exists");
    }

    // --- signed fixed point over the whole domain ----------------------------------------------

    function testFuzz_EncodeThenDecodeIsIdentity(int256 value) public view {
        value = boundInt(value, -int256(MAX_ABS - 1), int256(MAX_ABS - 1));
        uint256 felt = harness.encodeSigned(value);
        assertEq(felt, Felt.encode(value), "encoding is ezkl's");
        assertEq(harness.decodeSigned(felt), value, "decode(encode(v)) == v");
    }

    function testFuzz_DecodeThenEncodeIsIdentity(uint256 felt, bool negative) public view {
        felt = negative ? bound(felt, R - MAX_ABS + 1, R - 1) : bound(felt, 0, MAX_ABS - 1);
        assertEq(harness.encodeSigned(harness.decodeSigned(felt)), felt, "encode(decode(x)) == x");
    }

    function testFuzz_DecodeRefusesTheMiddleBand(uint256 felt) public {
        felt = bound(felt, MAX_ABS, R - MAX_ABS);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.OutputOutOfRange.selector, felt));
        harness.decodeSigned(felt);
    }

    function testFuzz_DecodeRefusesNonFieldValues(uint256 felt) public {
        felt = bound(felt, R, type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.OutputOutOfRange.selector, felt));
        harness.decodeSigned(felt);
    }

    function testFuzz_EncodeRefusesLargeMagnitudes(int256 value, bool negative) public {
        value = negative
            ? boundInt(value, type(int256).min, -int256(MAX_ABS))
            : boundInt(value, int256(MAX_ABS), type(int256).max);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.ValueOutOfRange.selector, value));
        harness.encodeSigned(value);
    }

    function test_Decode_EdgesOfTheBands() public {
        assertEq(harness.decodeSigned(0), 0, "zero");
        assertEq(harness.decodeSigned(MAX_ABS - 1), int256(MAX_ABS - 1), "largest positive");
        assertEq(harness.decodeSigned(R - 1), -1, "minus one");
        assertEq(harness.decodeSigned(R - MAX_ABS + 1), -int256(MAX_ABS - 1), "most negative");
        uint256[3] memory refused = [MAX_ABS, R - MAX_ABS, R];
        for (uint256 i = 0; i < refused.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.OutputOutOfRange.selector, refused[i]));
            harness.decodeSigned(refused[i]);
        }
    }

    function test_Constants_AreTheFieldAndTheBound() public view {
        (uint256 modulus, uint256 maxAbs) = harness.constants();
        assertEq(modulus, R, "r");
        assertEq(maxAbs, MAX_ABS, "2**128");
    }

    // --- _acceptProof: each check, in order -----------------------------------------------------

    function testFuzz_Accept_DecodesTheOutput(uint256 a, uint256 b, int256 output) public {
        (a, b) = (bound(a, 0, R - 1), bound(b, 0, R - 1));
        output = boundInt(output, -int256(MAX_ABS - 1), int256(MAX_ABS - 1));
        uint256[] memory inputs = _inputs(a, b);
        int256[] memory outputs = harness.accept(PROOF, _instances(inputs, output), inputs, KEY);
        assertEq(outputs.length, 1, "one output");
        assertEq(outputs[0], output, "decoded output");
        assertEq(harness.acceptedCount(), 1, "counted");
        assertEq(mock.calls(), 1, "verifier called once");
    }

    function testFuzz_Accept_RefusesWrongInstanceCount(uint8 count) public {
        vm.assume(count != 9);
        uint256[] memory instances = new uint256[](count);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.WrongInstanceCount.selector, count, 9));
        harness.accept(PROOF, instances, _inputs(0, 0), KEY);
    }

    function test_Accept_RefusesWhenNoInputIsBound() public {
        vm.expectRevert(ZkmlConsumer.NoInputsBound.selector);
        harness.accept(PROOF, new uint256[](9), new uint256[](0), KEY);
    }

    function test_Accept_RefusesInputsOverlappingOutputs() public {
        harness.setShape(3, 2);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InputsOverlapOutputs.selector, 2, 2, 3));
        harness.accept(PROOF, new uint256[](3), _inputs(0, 0), KEY);
        harness.setParamsInstance(harness.NO_INSTANCE(), 1);
        harness.setShape(3, 1);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InputsOverlapOutputs.selector, 3, 1, 3));
        harness.accept(PROOF, new uint256[](3), _inputs(0, 0), KEY);
    }

    function testFuzz_Accept_RefusesAnyInputMismatch(uint256 index, uint256 given) public {
        index = bound(index, 0, 1);
        uint256[] memory expected = _inputs(7, 8);
        vm.assume(given != expected[index]);
        uint256[] memory instances = _instances(expected, 1);
        instances[index] = given;
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InputMismatch.selector, index, expected[index], given));
        harness.accept(PROOF, instances, expected, KEY);
    }

    function test_Accept_RefusesAReplayedKey() public {
        uint256[] memory inputs = _inputs(1, 2);
        harness.accept(PROOF, _instances(inputs, 5), inputs, KEY);
        vm.expectRevert(abi.encodeWithSelector(ConsumerHarness.AlreadyUsed.selector, KEY));
        harness.accept(hex"beef", _instances(inputs, 5), inputs, KEY);
    }

    /// @notice Every instance must be < r, wherever it is: else x and x + r would both verify.
    function testFuzz_Accept_RefusesInstancesOutsideTheField(uint256 index, uint256 value) public {
        index = bound(index, 0, 8);
        value = bound(value, R, type(uint256).max);
        uint256[] memory inputs = _inputs(1, 2);
        uint256[] memory instances = _instances(inputs, 3);
        instances[index] = value;
        if (index < 2) inputs[index] = value; // a bound input must match first
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InstanceNotInField.selector, index, value));
        harness.accept(PROOF, instances, inputs, KEY);
        assertEq(mock.calls(), 0, "verifier never called");
    }

    function test_Accept_RefusesWhenTheVerifierSaysFalse() public {
        mock.setAccepts(false);
        uint256[] memory inputs = _inputs(1, 2);
        vm.expectRevert(ZkmlConsumer.ProofRejected.selector);
        harness.accept(PROOF, _instances(inputs, 3), inputs, KEY);
    }

    function test_Accept_RefusesWhenTheVerifierReverts() public {
        mock.setReverts(true);
        uint256[] memory inputs = _inputs(1, 2);
        vm.expectRevert(ZkmlConsumer.ProofRejected.selector);
        harness.accept(PROOF, _instances(inputs, 3), inputs, KEY);
        vm.expectRevert(MockVerifier.MockVerifierReverted.selector);
        mock.verifyProof(PROOF, new uint256[](0));
    }

    /// @notice A verifier whose call succeeds with no return data (here: code `STOP`) is no answer.
    function test_Accept_RefusesAnAnswerShorterThanOneWord() public {
        address silent = makeAddr("silent");
        vm.etch(silent, hex"00");
        ConsumerHarness consumer = new ConsumerHarness(IHalo2Verifier(silent), IModelRegistry(address(0)), 0);
        uint256[] memory inputs = _inputs(1, 2);
        vm.expectRevert(ZkmlConsumer.ProofRejected.selector);
        consumer.accept(PROOF, _instances(inputs, 3), inputs, KEY);
    }

    function testFuzz_Accept_RefusesOutputsInTheMiddleBand(uint256 felt) public {
        felt = bound(felt, MAX_ABS, R - MAX_ABS);
        uint256[] memory inputs = _inputs(1, 2);
        uint256[] memory instances = _instances(inputs, 0);
        instances[8] = felt;
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.OutputOutOfRange.selector, felt));
        harness.accept(PROOF, instances, inputs, KEY);
    }

    function test_Accept_RecordsUseBeforeCallingTheVerifier() public {
        ReentrantVerifier reentrant = new ReentrantVerifier();
        ConsumerHarness consumer = new ConsumerHarness(reentrant, IModelRegistry(address(0)), 0);
        reentrant.setTarget(consumer);
        uint256[] memory inputs = new uint256[](1);
        uint256[] memory instances = new uint256[](9);
        consumer.accept(PROOF, instances, inputs, KEY);
        assertEq(consumer.acceptedCount(), 1, "accepted once");
        bytes memory expected = abi.encodeWithSelector(ConsumerHarness.AlreadyUsed.selector, KEY);
        assertEq(keccak256(reentrant.innerRevert()), keccak256(expected), "re-entry refused as a replay");
    }

    function test_Verify_ChecksFieldAndProofOnly() public {
        uint256[] memory instances = new uint256[](3);
        assertEq(harness.verify(PROOF, instances), 1, "any count, no binding");
        instances[2] = R;
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InstanceNotInField.selector, 2, R));
        harness.verify(PROOF, instances);
    }

    // --- the registry step: only an active version of the pinned model, for allowed callers ----

    function _pinned() internal returns (ModelRegistry registry, uint256 modelId, ConsumerHarness consumer) {
        registry = new ModelRegistry();
        modelId = registry.createModel("fee");
        registry.addVersion(modelId, Versions.plain(address(mock)));
        consumer = new ConsumerHarness(mock, registry, modelId);
    }

    function test_Registry_AcceptsAnActiveVersionOfThePinnedModel() public {
        (,, ConsumerHarness consumer) = _pinned();
        uint256[] memory inputs = _inputs(1, 2);
        consumer.accept(PROOF, _instances(inputs, 3), inputs, KEY);
        assertEq(consumer.acceptedCount(), 1, "accepted");
    }

    function test_Registry_RefusesAVerifierRegisteredOnlyUnderAnotherModel() public {
        ModelRegistry registry = new ModelRegistry();
        uint256 mine = registry.createModel("mine");
        registry.addVersion(mine, Versions.plain(address(new MockVerifier(true))));
        vm.prank(makeAddr("squatter"));
        uint256 theirs = registry.createModel("squat");
        vm.prank(makeAddr("squatter"));
        registry.addVersion(theirs, Versions.plain(address(mock)));
        ConsumerHarness consumer = new ConsumerHarness(mock, registry, mine);
        uint256[] memory inputs = _inputs(1, 2);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistryCheckErrors.UnregisteredArtifact.selector, mine, address(mock), 0, 0)
        );
        consumer.accept(PROOF, _instances(inputs, 3), inputs, KEY);
    }

    function test_Registry_RefusesARevokedVersion() public {
        (ModelRegistry registry, uint256 modelId, ConsumerHarness consumer) = _pinned();
        registry.revokeVersion(modelId, 1);
        uint256[] memory inputs = _inputs(1, 2);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryCheckErrors.VersionIsRevoked.selector, modelId, 1));
        consumer.accept(PROOF, _instances(inputs, 3), inputs, KEY);
        assertEq(mock.calls(), 0, "no pairing for a revoked model");
    }

    function test_Registry_RefusesCallersOffTheAllowlist() public {
        (ModelRegistry registry, uint256 modelId, ConsumerHarness consumer) = _pinned();
        registry.setAccessRestricted(modelId, true);
        address stranger = makeAddr("stranger");
        uint256[] memory inputs = _inputs(1, 2);
        uint256[] memory instances = _instances(inputs, 3);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistryCheckErrors.CallerNotAllowed.selector, modelId, stranger));
        consumer.accept(PROOF, instances, inputs, KEY);
        address[] memory accounts = new address[](1);
        accounts[0] = stranger;
        registry.setAllowed(modelId, accounts, true);
        vm.prank(stranger);
        consumer.accept(PROOF, instances, inputs, KEY);
    }

    /// @notice Hashed params: the proof's leading instance is the weights commitment, and only
    /// a commitment the model's owner registered is accepted.
    function testFuzz_Registry_BindsTheProofsWeightsCommitment(uint256 commitment) public {
        commitment = bound(commitment, 1, R - 1);
        uint256 registered = uint256(keccak256("weights")) % R;
        ModelRegistry registry = new ModelRegistry();
        uint256 modelId = registry.createModel("hashed");
        registry.addVersion(modelId, Versions.input(address(mock), 0, bytes32(registered), 0));
        ConsumerHarness consumer = new ConsumerHarness(mock, registry, modelId);
        consumer.setParamsInstance(0, 1);
        uint256[] memory inputs = _inputs(1, 2);
        uint256[] memory instances = new uint256[](9);
        (instances[1], instances[2]) = (1, 2);
        instances[0] = commitment;
        if (commitment != registered) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IModelRegistryCheckErrors.UnregisteredArtifact.selector,
                    modelId,
                    address(mock),
                    0,
                    bytes32(commitment)
                )
            );
        }
        consumer.accept(PROOF, instances, inputs, KEY);
    }
}
