// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Halo2 Verifier Interface
/// @notice The entry point of a verifier contract rendered by ezkl for one circuit.
/// @dev Consumers call it only through this typed interface, so that Solidity re-encodes
/// the arguments canonically (see `ZkmlConsumer._verifierAccepts`).
interface IHalo2Verifier {
    /// @notice Verifies a proof against its public instances.
    /// @dev A generated verifier may revert or return false on a bad proof; callers must
    /// treat both as a rejection.
    /// @param proof The proof bytes (ezkl's `proof` hex, not the full calldata).
    /// @param instances The public instances as BN254 scalar field elements, in circuit
    /// order (inputs first, then outputs).
    /// @return True if the proof is valid for these instances.
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}
