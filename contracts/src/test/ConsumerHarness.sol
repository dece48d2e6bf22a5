// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IHalo2Verifier} from "../IHalo2Verifier.sol";
import {IModelRegistry} from "../IModelRegistry.sol";
import {ZkmlConsumer} from "../ZkmlConsumer.sol";

/// @title ZkmlConsumer Test Harness
/// @notice Exposes the internal helpers of `ZkmlConsumer` for tests; not for deployment
/// outside tests.
contract ConsumerHarness is ZkmlConsumer {
    /// @notice Number of proofs accepted by `verify`; unchanged by any rejected call.
    uint256 public verifiedCount;

    /// @notice Emitted when `verify` accepts a proof.
    /// @param count The value of `verifiedCount` after this proof.
    event ProofAccepted(uint256 count);

    /// @param verifier_ The verifier to pin.
    /// @param registry_ The registry to consult, or the zero address.
    constructor(IHalo2Verifier verifier_, IModelRegistry registry_) ZkmlConsumer(verifier_, registry_) {}

    /// @notice Runs `_verify`, then counts the proof and emits `ProofAccepted`.
    /// @param proof The proof bytes.
    /// @param instances The public instances.
    /// @return The new value of `verifiedCount`.
    function verify(bytes calldata proof, uint256[] calldata instances) external returns (uint256) {
        _verify(proof, instances);
        uint256 count = ++verifiedCount;
        emit ProofAccepted(count);
        return count;
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
}
