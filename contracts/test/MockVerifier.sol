// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IHalo2Verifier} from "../src/IHalo2Verifier.sol";

/// @title Mock Halo2 Verifier (TEST ONLY)
/// @notice WARNING: THIS VERIFIER CHECKS NOTHING AND ACCEPTS ANY PROOF FOR ANY INSTANCES
/// while `accepts` is true (as after `new MockVerifier(true)`). It exists only so that a
/// consumer's own unit tests can exercise its input binding, freshness, decoding and policy
/// without proving. NEVER deploy it anywhere a real value depends on it, and never register
/// it in a ModelRegistry: anyone can switch its answer, and a consumer pinned to it trusts
/// whatever a caller claims.
/// @dev `accepts == false` returns false and `reverts == true` reverts with
/// `MockVerifierReverted`; a `ZkmlConsumer` reports both as `ProofRejected`.
contract MockVerifier is IHalo2Verifier {
    /// @notice What `verifyProof` returns when it does not revert.
    bool public accepts;
    /// @notice Whether `verifyProof` reverts (takes precedence over `accepts`).
    bool public reverts;
    /// @notice Calls to `verifyProof` that returned (true or false).
    uint256 public calls;

    /// @notice What `verifyProof` reverts with while `reverts` is set.
    error MockVerifierReverted();

    /// @notice Emitted when the configured behaviour changes.
    /// @param accepts What `verifyProof` returns now.
    /// @param reverts Whether `verifyProof` reverts now.
    event BehaviourChanged(bool accepts, bool reverts);

    /// @param accepts_ What `verifyProof` returns (true: accept anything).
    constructor(bool accepts_) {
        accepts = accepts_;
    }

    /// @notice Sets what `verifyProof` returns; open to anyone (test only).
    /// @param accepts_ True: accept anything; false: reject everything.
    function setAccepts(bool accepts_) external {
        accepts = accepts_;
        emit BehaviourChanged(accepts_, reverts);
    }

    /// @notice Makes `verifyProof` revert, or stop reverting; open to anyone (test only).
    /// @param reverts_ True: revert on every call.
    function setReverts(bool reverts_) external {
        reverts = reverts_;
        emit BehaviourChanged(accepts, reverts_);
    }

    /// @notice TEST ONLY: reverts while `reverts` is set, else returns `accepts`, whatever
    /// the proof and instances. The arguments are ignored.
    /// @return The configured answer.
    function verifyProof(bytes calldata, uint256[] calldata) external returns (bool) {
        if (reverts) revert MockVerifierReverted();
        ++calls;
        return accepts;
    }
}
