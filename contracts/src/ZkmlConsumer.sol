// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IHalo2Verifier} from "./IHalo2Verifier.sol";

/// @title zkML Consumer
/// @notice Base for contracts that act on model outputs proven with an ezkl circuit: it
/// pins the verifier, calls it safely, and converts between signed fixed-point numbers
/// and the BN254 field elements that carry them as public instances.
abstract contract ZkmlConsumer {
    /// @notice The BN254 scalar field modulus r; every public instance is in [0, r).
    uint256 internal constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice Exclusive bound on the magnitude of a signed value carried by an instance.
    /// @dev Felts below it are positive, felts above r - MAX_ABS are negative; the wide
    /// band in between is no honest model output and is rejected.
    uint256 internal constant MAX_ABS = 2 ** 128;

    /// @notice The verifier of the one circuit (model) this contract trusts.
    /// @dev Fixed at deployment and never taken from a caller: a caller-chosen verifier
    /// could accept anything.
    IHalo2Verifier public immutable verifier;

    /// @notice The verifier given to the constructor is the zero address or has no code.
    /// @param verifier The rejected address.
    error InvalidVerifier(address verifier);

    /// @notice A public instance is not a canonical field element (it is >= r).
    /// @param index The position of the instance.
    /// @param value The rejected value.
    error InstanceNotInField(uint256 index, uint256 value);

    /// @notice The verifier returned false or reverted.
    error ProofRejected();

    /// @notice A felt lies in the band [MAX_ABS, r - MAX_ABS] (or >= r), so it is neither
    /// a small positive nor a small negative value.
    /// @param value The rejected felt.
    error OutputOutOfRange(uint256 value);

    /// @notice A signed value to encode has magnitude >= MAX_ABS.
    /// @param value The rejected value.
    error ValueOutOfRange(int256 value);

    /// @param verifier_ The deployed ezkl verifier of the model this contract consumes.
    constructor(IHalo2Verifier verifier_) {
        if (address(verifier_).code.length == 0) revert InvalidVerifier(address(verifier_));
        verifier = verifier_;
    }

    /// @notice Reverts unless `proof` is valid for `instances` under the pinned verifier.
    /// @dev Each instance must be < r first: the verifier reduces instances mod r, so x and
    /// x + r would otherwise both verify and any binding check on raw values could be
    /// bypassed. The call goes through the typed interface on purpose: Solidity then
    /// re-encodes `proof` and `instances` canonically. The generated verifier hashes the
    /// transcript from `proof.offset` but reads evaluations at fixed calldata offsets, so
    /// forwarding a caller's non-canonical calldata layout verbatim (a raw `call` with
    /// `msg.data`) could make it check one proof while hashing another. A false return
    /// and a revert are both reported as `ProofRejected`.
    /// @param proof The proof bytes.
    /// @param instances The public instances, in circuit order.
    function _verify(bytes calldata proof, uint256[] calldata instances) internal {
        for (uint256 i = 0; i < instances.length; ++i) {
            if (instances[i] >= FIELD_MODULUS) revert InstanceNotInField(i, instances[i]);
        }
        try verifier.verifyProof(proof, instances) returns (bool ok) {
            if (!ok) revert ProofRejected();
        } catch {
            revert ProofRejected();
        }
    }

    /// @notice Decodes a felt into the signed integer it carries (fixed point is kept:
    /// the caller knows the scale).
    /// @dev x < MAX_ABS gives x; r - MAX_ABS < x < r gives -(r - x); anything else reverts
    /// with `OutputOutOfRange`.
    /// @param felt The field element.
    /// @return The signed value, with magnitude < MAX_ABS.
    function _decodeSigned(uint256 felt) internal pure returns (int256) {
        if (felt < MAX_ABS) return int256(felt);
        if (felt > FIELD_MODULUS - MAX_ABS && felt < FIELD_MODULUS) return -int256(FIELD_MODULUS - felt);
        revert OutputOutOfRange(felt);
    }

    /// @notice Encodes a signed integer as a felt: x >= 0 gives x, x < 0 gives r - |x|.
    /// @dev The inverse of `_decodeSigned`; reverts with `ValueOutOfRange` if
    /// |value| >= MAX_ABS, so that every encoded value decodes back to itself.
    /// @param value The signed value.
    /// @return The field element.
    function _encodeSigned(int256 value) internal pure returns (uint256) {
        if (value >= int256(MAX_ABS) || value <= -int256(MAX_ABS)) revert ValueOutOfRange(value);
        return value >= 0 ? uint256(value) : FIELD_MODULUS - uint256(-value);
    }
}
