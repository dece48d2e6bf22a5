// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IHalo2Verifier} from "../src/IHalo2Verifier.sol";
import {IModelRegistry} from "../src/IModelRegistry.sol";
import {ZkmlConsumer} from "../src/ZkmlConsumer.sol";

/// @title ZkmlConsumer Test Harness
/// @notice TEST ONLY: exposes the internals of `ZkmlConsumer` so tests can reach every
/// check. Its shape, bound inputs, VKA digest and weights commitment are set by any caller,
/// so it trusts nothing: never deploy it outside tests.
/// @dev `verify` runs `_checkFieldAndProof` alone (field range + verifier). `accept` runs the whole
/// `_acceptProof` with caller-chosen expected inputs and a caller-chosen freshness key.
contract ConsumerHarness is ZkmlConsumer {
    /// @notice Number of proofs accepted by `verify`; unchanged by any rejected call.
    uint256 public verifiedCount;
    /// @notice Number of proofs accepted by `accept`; unchanged by any rejected call.
    uint256 public acceptedCount;
    /// @notice Public instances `_acceptProof` requires (default 9: the fee circuit).
    uint256 public instanceCount = 9;
    /// @notice Trailing output instances `_acceptProof` decodes (default 1: the fee circuit).
    uint256 public outputCount = 1;
    /// @notice The VKA digest handed to the registry check (default 0).
    bytes32 public vkaDigest;
    /// @notice The weights commitment handed to the registry check (default 0), unless
    /// `paramsInstance` names an instance to read it from.
    bytes32 public paramsCommitment;
    /// @notice The instance holding the weights commitment, as a hashed-params consumer
    /// reads it (`NO_INSTANCE`: use `paramsCommitment`).
    uint256 public paramsInstance = NO_INSTANCE;
    /// @notice Instances before the first bound input (`_inputOffset`, default 0).
    uint256 public inputOffset;
    /// @notice `paramsInstance` when the commitment is not read from the proof.
    uint256 public constant NO_INSTANCE = type(uint256).max;
    /// @notice Freshness keys consumed by `accept`.
    mapping(bytes32 key => bool) public used;

    /// @dev The expected inputs of the `accept` call in progress (read by `_expectedInputs`).
    uint256[] private _expected;

    /// @notice `accept` was called again with a freshness key already consumed.
    /// @param key The key.
    error AlreadyUsed(bytes32 key);

    /// @notice Emitted when `verify` accepts a proof.
    /// @param count The value of `verifiedCount` after this proof.
    event ProofAccepted(uint256 count);

    /// @notice Emitted when `accept` accepts a proof.
    /// @param key The freshness key consumed.
    /// @param outputs The decoded outputs.
    event OutputsAccepted(bytes32 indexed key, int256[] outputs);

    /// @param verifier_ The verifier to pin.
    /// @param registry_ The registry to consult, or the zero address.
    /// @param modelId_ The model pinned in `registry_` (0 without one).
    constructor(IHalo2Verifier verifier_, IModelRegistry registry_, uint256 modelId_)
        ZkmlConsumer(verifier_, registry_, modelId_)
    {}

    /// @notice Sets the circuit shape `_acceptProof` checks against.
    /// @param instances The instance count.
    /// @param outputs The output count.
    function setShape(uint256 instances, uint256 outputs) external {
        instanceCount = instances;
        outputCount = outputs;
    }

    /// @notice Sets what `_vkaDigest` and `_paramsCommitment` return.
    /// @param digest The VKA digest.
    /// @param commitment The weights commitment.
    function setArtifact(bytes32 digest, bytes32 commitment) external {
        vkaDigest = digest;
        paramsCommitment = commitment;
    }

    /// @notice Reads the weights commitment from instance `index` of each proof and binds
    /// the inputs from `offset` on, as a consumer of a hashed-params circuit does (ezkl: index
    /// 0, offset 1; `NO_INSTANCE` and 0 turn it off).
    /// @param index The instance position of the commitment.
    /// @param offset The position of the first input instance.
    function setParamsInstance(uint256 index, uint256 offset) external {
        paramsInstance = index;
        inputOffset = offset;
    }

    /// @notice Runs `_checkFieldAndProof`, then counts the proof and emits `ProofAccepted`.
    /// @param proof The proof bytes.
    /// @param instances The public instances.
    /// @return The new value of `verifiedCount`.
    function verify(bytes calldata proof, uint256[] calldata instances) external returns (uint256) {
        _checkFieldAndProof(proof, instances);
        uint256 count = ++verifiedCount;
        emit ProofAccepted(count);
        return count;
    }

    /// @notice Runs `_acceptProof` with `expected` as the bound inputs and `key` as the
    /// freshness key, then counts the proof and emits `OutputsAccepted`.
    /// @param proof The proof bytes.
    /// @param instances The public instances.
    /// @param expected The felts the first instances must equal (empty: `NoInputsBound`).
    /// @param key The freshness key `_recordUse` consumes (`AlreadyUsed` the second time).
    /// @return outputs The decoded outputs.
    function accept(bytes calldata proof, uint256[] calldata instances, uint256[] calldata expected, bytes32 key)
        external
        returns (int256[] memory outputs)
    {
        _expected = expected;
        outputs = _acceptProof(proof, instances, abi.encode(key));
        delete _expected;
        ++acceptedCount;
        emit OutputsAccepted(key, outputs);
    }

    /// @notice Exposes `_decodeSigned`.
    /// @param felt The field element.
    /// @return The signed value.
    function decodeSigned(uint256 felt) external pure returns (int256) {
        return _decodeSigned(felt);
    }

    /// @notice Exposes `_encodeSigned`.
    /// @param value The signed value.
    /// @return The field element.
    function encodeSigned(int256 value) external pure returns (uint256) {
        return _encodeSigned(value);
    }

    /// @notice The field modulus and decode bound, so tests need not hard-code them.
    /// @return modulus The BN254 scalar field modulus r.
    /// @return maxAbs The exclusive magnitude bound of decodable values.
    function constants() external pure returns (uint256 modulus, uint256 maxAbs) {
        return (FIELD_MODULUS, MAX_ABS);
    }

    /// @inheritdoc ZkmlConsumer
    function _instanceCount() internal view override returns (uint256) {
        return instanceCount;
    }

    /// @inheritdoc ZkmlConsumer
    function _outputCount() internal view override returns (uint256) {
        return outputCount;
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev The `expected` argument of the `accept` call in progress.
    function _expectedInputs(bytes memory) internal view override returns (uint256[] memory) {
        return _expected;
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev Keyed on the caller-chosen key (`context` is `abi.encode(bytes32 key)`).
    function _recordUse(bytes memory context) internal override {
        bytes32 key = abi.decode(context, (bytes32));
        if (used[key]) revert AlreadyUsed(key);
        used[key] = true;
    }

    /// @inheritdoc ZkmlConsumer
    function _vkaDigest() internal view override returns (bytes32) {
        return vkaDigest;
    }

    /// @inheritdoc ZkmlConsumer
    function _inputOffset() internal view override returns (uint256) {
        return inputOffset;
    }

    /// @inheritdoc ZkmlConsumer
    function _paramsCommitment(uint256[] calldata instances) internal view override returns (bytes32) {
        uint256 index = paramsInstance;
        return index == NO_INSTANCE ? paramsCommitment : bytes32(instances[index]);
    }
}
