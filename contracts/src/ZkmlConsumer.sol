// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IHalo2Verifier} from "./IHalo2Verifier.sol";
import {IModelRegistry, IModelRegistryCheckErrors} from "./IModelRegistry.sol";

/// @title zkML Consumer
/// @notice Base for contracts that act on model outputs proven with an ezkl circuit: it
/// pins the verifier, calls it safely, and converts between signed fixed-point numbers
/// and the BN254 field elements that carry them as public instances. With a registry, it
/// also accepts proofs only while the model version behind its verifier is registered, not
/// revoked, and open to the caller.
abstract contract ZkmlConsumer is IModelRegistryCheckErrors {
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

    /// @notice The model registry consulted before every verification, or the zero address
    /// for none.
    /// @dev Immutable like the verifier: an owner who could switch the check off later
    /// would make revocation a promise instead of a rule.
    IModelRegistry public immutable registry;

    /// @notice The verifier given to the constructor is the zero address or has no code.
    /// @param verifier The rejected address.
    error InvalidVerifier(address verifier);

    /// @notice The registry given to the constructor is not zero and has no code.
    /// @param registry The rejected address.
    error InvalidRegistry(address registry);

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
    /// @param registry_ The model registry to consult, or the zero address for none.
    constructor(IHalo2Verifier verifier_, IModelRegistry registry_) {
        if (address(verifier_).code.length == 0) revert InvalidVerifier(address(verifier_));
        if (address(registry_) != address(0) && address(registry_).code.length == 0) {
            revert InvalidRegistry(address(registry_));
        }
        verifier = verifier_;
        registry = registry_;
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
        _checkRegistry(instances);
        try verifier.verifyProof(proof, instances) returns (bool ok) {
            if (!ok) revert ProofRejected();
        } catch {
            revert ProofRejected();
        }
    }

    /// @notice Reverts unless the registry (if any) lists this contract's verifier as an
    /// active model version that `msg.sender` may use.
    /// @dev The registry's own errors (`UnregisteredArtifact`, `VersionIsRevoked`,
    /// `CallerNotAllowed`) bubble up unchanged. The caller checked is the account calling
    /// this contract: the one acting on the model's output. Runs before the verifier, so a
    /// revoked model costs no pairing.
    /// @param instances The public instances, for `_paramsCommitment`.
    function _checkRegistry(uint256[] calldata instances) internal view {
        if (address(registry) == address(0)) return;
        registry.checkUsable(address(verifier), bytes32(0), _paramsCommitment(instances), msg.sender);
    }

    /// @notice The weights commitment a proof carries, identifying the model version when
    /// several versions share one verifier (hashed params).
    /// @dev 0 here, for circuits whose weights are fixed in the verifying key; a consumer of
    /// a hashed-params circuit overrides it to return that instance.
    /// @return The commitment, or 0.
    function _paramsCommitment(uint256[] calldata) internal view virtual returns (bytes32) {
        return bytes32(0);
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
