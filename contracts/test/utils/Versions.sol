// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {VersionInput} from "../../src/IModelRegistry.sol";

/// @title Version records for tests
/// @notice Builds the `VersionInput` a model owner registers, with recognisable artifact
/// hashes, so each test states only what it is about.
/// @dev TEST ONLY.
library Versions {
    /// @notice A version verified by `verifier` (with a VKA digest and weights commitment).
    /// @param verifier The verifier contract (must have code).
    /// @param vkaDigest The VKA digest, or 0.
    /// @param paramsCommitment The weights commitment, or 0.
    /// @param parent An earlier version of the same model, or 0.
    /// @return v The record, every hash derived from the verifier.
    function input(address verifier, bytes32 vkaDigest, bytes32 paramsCommitment, uint256 parent)
        internal
        pure
        returns (VersionInput memory v)
    {
        bytes32 seed = keccak256(abi.encode(verifier, vkaDigest, paramsCommitment));
        v.verifier = verifier;
        v.vkaDigest = vkaDigest;
        v.paramsCommitment = paramsCommitment;
        v.parent = parent;
        v.onnxHash = keccak256(abi.encode(seed, "onnx"));
        v.datasetHash = keccak256(abi.encode(seed, "dataset"));
        v.settingsHash = keccak256(abi.encode(seed, "settings"));
        v.circuitHash = keccak256(abi.encode(seed, "circuit"));
        v.vkHash = keccak256(abi.encode(seed, "vk"));
        v.srsHash = keccak256(abi.encode(seed, "srs"));
        v.lineageHash = keccak256(abi.encode(seed, "lineage"));
        v.ezklVersion = "23.0.5";
    }

    /// @notice A plain version: no VKA digest, no weights commitment, no parent.
    /// @param verifier The verifier contract.
    /// @return The record.
    function plain(address verifier) internal pure returns (VersionInput memory) {
        return input(verifier, bytes32(0), bytes32(0), 0);
    }
}
