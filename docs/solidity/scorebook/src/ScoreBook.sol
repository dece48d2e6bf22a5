// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IHalo2Verifier} from "zkml-prover/IHalo2Verifier.sol";
import {IModelRegistry} from "zkml-prover/IModelRegistry.sol";
import {ZkmlConsumer} from "zkml-prover/ZkmlConsumer.sol";

/// @title Score book
/// @notice Records the score the `scorer` model gives a feature vector, once per vector.
/// @dev The circuit: 4 public inputs (the features, signed fixed point at the input scale),
/// 1 public output (the score), weights fixed in the verifying key: 5 instances.
contract ScoreBook is ZkmlConsumer {
    /// @notice Inputs of the model.
    uint256 public constant FEATURES = 4;

    /// @notice The proven score of each feature vector scored so far (key: `keyOf(features)`).
    mapping(bytes32 key => int256) public scoreOf;
    /// @notice Whether a feature vector has a score.
    mapping(bytes32 key => bool) public scored;

    /// @notice The vector already has a score; it is never overwritten.
    /// @param key The vector's key.
    error AlreadyScored(bytes32 key);

    /// @notice Emitted for every recorded score.
    /// @param key The vector's key.
    /// @param score The score, signed fixed point at the circuit's output scale.
    event Scored(bytes32 indexed key, int256 score);

    /// @param verifier_ The ezkl verifier of the model.
    /// @param registry_ A model registry to consult, or the zero address for none.
    /// @param modelId_ The model's id in `registry_` (0 without one).
    constructor(IHalo2Verifier verifier_, IModelRegistry registry_, uint256 modelId_)
        ZkmlConsumer(verifier_, registry_, modelId_)
    {}

    /// @notice Records the score a proof of the model gives `features`.
    /// @param features The inputs, signed fixed point at the circuit's input scale.
    /// @param proof The proof bytes.
    /// @param instances The 4 feature felts, then the score felt.
    /// @return score The proven score.
    function record(int256[4] calldata features, bytes calldata proof, uint256[] calldata instances)
        external
        returns (int256 score)
    {
        bytes memory context = abi.encode(features);
        score = _acceptProof(proof, instances, context)[0];
        bytes32 key = keccak256(context);
        scoreOf[key] = score;
        emit Scored(key, score);
    }

    /// @notice The key of a feature vector.
    /// @param features The inputs.
    /// @return keccak256(abi.encode(features)).
    function keyOf(int256[4] calldata features) external pure returns (bytes32) {
        return keccak256(abi.encode(features));
    }

    /// @inheritdoc ZkmlConsumer
    function _instanceCount() internal pure override returns (uint256) {
        return FEATURES + 1;
    }

    /// @inheritdoc ZkmlConsumer
    function _outputCount() internal pure override returns (uint256) {
        return 1;
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev The caller's features, field-encoded: the proof must be about exactly them.
    function _expectedInputs(bytes memory context) internal pure override returns (uint256[] memory felts) {
        int256[4] memory features = abi.decode(context, (int256[4]));
        felts = new uint256[](FEATURES);
        for (uint256 i = 0; i < FEATURES; ++i) {
            felts[i] = _encodeSigned(features[i]);
        }
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev Keyed on the features, never on proof bytes: one score per vector.
    function _recordUse(bytes memory context) internal override {
        bytes32 key = keccak256(context);
        if (scored[key]) revert AlreadyScored(key);
        scored[key] = true;
    }
}
