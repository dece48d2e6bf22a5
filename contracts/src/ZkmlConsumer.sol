// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IHalo2Verifier} from "./IHalo2Verifier.sol";
import {IModelRegistry, IModelRegistryCheckErrors} from "./IModelRegistry.sol";

/// @title zkML Consumer
/// @notice Template for contracts that act on model outputs proven with an ezkl circuit. A
/// consumer says what its circuit looks like (`_instanceCount`, `_outputCount`), which
/// input instances it expects (`_expectedInputs`, from its own state or arguments) and how
/// it keys freshness (`_recordUse`); `_acceptProof` then runs every check of the contract
/// rules in one fixed order and hands back the decoded outputs:
///
///   1. instance count              `WrongInstanceCount`
///   2. registry (if one is set)    `UnregisteredArtifact`, `VersionIsRevoked`, `CallerNotAllowed`
///                                  (a version of the pinned `modelId`, no other model's)
///   3. inputs bound to chain state `NoInputsBound`, `InputsOverlapOutputs`, `InputMismatch`
///   4. freshness bookkeeping       whatever `_recordUse` reverts with
///   5. field range, then proof     `InstanceNotInField`, `ProofRejected`
///   6. signed output decoding      `OutputOutOfRange`
///
/// @dev Freshness is recorded before the external verifier call (checks-effects-
/// interactions), so a verifier that re-enters cannot get one proof accepted twice. Every
/// rejection reverts the whole call, so a rejected proof changes no state.
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

    /// @notice The model in `registry` whose active versions this contract accepts, or 0
    /// without a registry.
    /// @dev Pinned, not looked up from the verifier: anyone can register any verifier under
    /// a model of their own, so "some model lists this verifier" proves nothing. Only the
    /// versions this model's owner registered count (DESIGN.md rule 2).
    uint256 public immutable modelId;

    /// @notice The verifier given to the constructor is the zero address or has no code.
    /// @param verifier The rejected address.
    error InvalidVerifier(address verifier);

    /// @notice The registry given to the constructor is not zero and has no code.
    /// @param registry The rejected address.
    error InvalidRegistry(address registry);

    /// @notice The model id given to the constructor is not a model of the registry (or is
    /// not 0 without a registry).
    /// @param modelId The rejected id.
    error InvalidModel(uint256 modelId);

    /// @notice The proof carries another number of public instances than the circuit has.
    /// @param given Instances given.
    /// @param expected Instances of the circuit (`_instanceCount()`).
    error WrongInstanceCount(uint256 given, uint256 expected);

    /// @notice The consumer bound no input instance to anything, so any input would pass;
    /// such a proof says nothing about this contract's state and is refused (rule 3).
    error NoInputsBound();

    /// @notice The consumer's configuration is inconsistent: it binds more inputs than the
    /// circuit has before its outputs.
    /// @param inputs Instances before the outputs the consumer needs (leading ones included).
    /// @param outputs Output instances at the end (`_outputCount()`).
    /// @param instances Instances of the circuit.
    error InputsOverlapOutputs(uint256 inputs, uint256 outputs, uint256 instances);

    /// @notice An input instance differs from what the consumer expects.
    /// @param index The input position.
    /// @param expected The felt the consumer computed.
    /// @param given The felt in the proof.
    error InputMismatch(uint256 index, uint256 expected, uint256 given);

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
    /// @param modelId_ The model in `registry_` whose versions count (0 without a registry).
    constructor(IHalo2Verifier verifier_, IModelRegistry registry_, uint256 modelId_) {
        if (address(verifier_).code.length == 0) revert InvalidVerifier(address(verifier_));
        if (address(registry_) == address(0)) {
            if (modelId_ != 0) revert InvalidModel(modelId_);
        } else {
            if (address(registry_).code.length == 0) revert InvalidRegistry(address(registry_));
            if (modelId_ == 0 || modelId_ > registry_.modelCount()) revert InvalidModel(modelId_);
        }
        verifier = verifier_;
        registry = registry_;
        modelId = modelId_;
    }

    // --- what a consumer says about its circuit, inputs and freshness -------------------

    /// @notice The number of public instances of the circuit (leading module instances, then
    /// inputs, then outputs).
    /// @dev A circuit with fixed params has inputs + outputs; hashed params add one leading
    /// instance, the weights' Poseidon hash (see `_inputOffset`).
    /// @return The count every proof must carry.
    function _instanceCount() internal view virtual returns (uint256);

    /// @notice The number of output instances, the last ones in circuit order.
    /// @return The count `_acceptProof` decodes.
    function _outputCount() internal view virtual returns (uint256);

    /// @notice The felts the first input instances must equal, in circuit order, recomputed
    /// from chain state or from the caller's arguments carried in `context` (rule 3).
    /// @dev Returning an empty array is refused with `NoInputsBound`: a consumer that binds
    /// nothing would act on a proof about any input. Revert here with a named error when
    /// the state cannot give inputs yet (e.g. too few observations).
    /// @param context What the consumer's entry point passed to `_acceptProof`.
    /// @return expected One felt per bound input instance, each < r.
    function _expectedInputs(bytes memory context) internal view virtual returns (uint256[] memory expected);

    /// @notice Records that the proof's subject (an epoch, a request id, a commitment) is
    /// used, or reverts if it already was (rule 4).
    /// @dev No default on purpose: every consumer must say how it keys freshness, and never
    /// on proof bytes, which anyone can re-randomise. Called after all input checks and
    /// before the external verifier call (checks-effects-interactions).
    /// @param context What the consumer's entry point passed to `_acceptProof`.
    function _recordUse(bytes memory context) internal virtual;

    /// @notice The weights commitment a proof carries, identifying the model version when
    /// several versions share one verifier (hashed params).
    /// @dev 0 here, for circuits whose weights are fixed in the verifying key. A consumer of
    /// a hashed-params circuit overrides it to return `bytes32(instances[0])` (ezkl puts the
    /// weights' Poseidon hash before the inputs) and `_inputOffset` to return 1: the
    /// registry then accepts only weights registered under the pinned model, so a perturbed
    /// copy of the model (same vk, other weights) is refused.
    /// @return The commitment, or 0.
    function _paramsCommitment(uint256[] calldata) internal view virtual returns (bytes32) {
        return bytes32(0);
    }

    /// @notice The number of instances ezkl puts before the model's inputs: 1 for hashed
    /// params (the weights' Poseidon hash), else 0.
    /// @dev `_expectedInputs` is compared with the instances from this position on.
    /// @return The offset of the first input instance.
    function _inputOffset() internal view virtual returns (uint256) {
        return 0;
    }

    /// @notice The digest of the verifying-key artifact (VKA) the proof is checked against,
    /// for ezkl's reusable verifier, where one verifier serves many circuits.
    /// @dev 0 here, for a verifier generated for one circuit; a consumer of the reusable
    /// verifier overrides it (and `_verifierAccepts`) so the registry checks the right version.
    /// @return The digest, or 0.
    function _vkaDigest() internal view virtual returns (bytes32) {
        return bytes32(0);
    }

    /// @notice Asks the verifier about a proof whose instances are already known to be < r.
    /// @dev The call is encoded from the typed interface on purpose (rule 1, `abi.encodeCall`):
    /// Solidity then re-encodes `proof` and `instances` canonically. The generated verifier
    /// hashes the transcript from `proof.offset` but reads evaluations at fixed calldata
    /// offsets, so forwarding a caller's non-canonical calldata layout verbatim (a raw
    /// `call` with `msg.data`) could make it check one proof while hashing another. Only a
    /// successful call whose first returned word is exactly 1 accepts: a revert, a `false`
    /// and malformed or short return data are all rejections (a `try ... returns (bool)`
    /// would revert, unnamed, on return data it cannot decode). The call itself is made in
    /// assembly only to send the encoded bytes as they are: `address.call(data)` copies
    /// them once more (6k gas for a fee proof) and `returns (bytes memory)` copies the
    /// answer. A consumer of ezkl's reusable verifier overrides this to pass its VKA.
    /// @param proof The proof bytes.
    /// @param instances The public instances, in circuit order.
    /// @return accepted True only if the verifier accepted the proof.
    function _verifierAccepts(bytes calldata proof, uint256[] calldata instances)
        internal
        virtual
        returns (bool accepted)
    {
        bytes memory data = abi.encodeCall(IHalo2Verifier.verifyProof, (proof, instances));
        address target = address(verifier);
        assembly ("memory-safe") {
            // the answer's first word lands in scratch space; fewer than 32 bytes is no answer
            let ok := call(gas(), target, 0, add(data, 32), mload(data), 0, 32)
            accepted := and(and(ok, iszero(lt(returndatasize(), 32))), eq(mload(0), 1))
        }
    }

    // --- the one entry point ---------------------------------------------------------------

    /// @notice Runs every check on a proof, in the order listed in the contract's NatSpec,
    /// records its use and returns its decoded outputs.
    /// @param proof The proof bytes.
    /// @param instances The public instances, in circuit order (inputs first, outputs last).
    /// @param context Consumer-defined data handed to `_expectedInputs` and `_recordUse`
    /// (e.g. the epoch, or the caller's raw inputs).
    /// @return outputs The last `_outputCount()` instances as signed fixed-point integers
    /// (the scale is the circuit's output scale).
    function _acceptProof(bytes calldata proof, uint256[] calldata instances, bytes memory context)
        internal
        returns (int256[] memory outputs)
    {
        uint256 count = _instanceCount();
        if (instances.length != count) revert WrongInstanceCount(instances.length, count);
        _checkRegistry(instances);

        uint256[] memory expected = _expectedInputs(context);
        uint256 bound = expected.length;
        if (bound == 0) revert NoInputsBound();
        uint256 outputCount = _outputCount();
        uint256 offset = _inputOffset();
        if (offset + bound + outputCount > count) revert InputsOverlapOutputs(offset + bound, outputCount, count);
        for (uint256 i = 0; i < bound; ++i) {
            uint256 given = instances[offset + i];
            if (given != expected[i]) revert InputMismatch(i, expected[i], given);
        }

        _recordUse(context);
        _checkFieldAndProof(proof, instances);

        outputs = new int256[](outputCount);
        uint256 first = count - outputCount;
        for (uint256 k = 0; k < outputCount; ++k) {
            outputs[k] = _decodeSigned(instances[first + k]);
        }
    }

    // --- building blocks, usable on their own ------------------------------------------------

    /// @notice Steps 5 of `_acceptProof` alone: reverts unless every instance is < r and
    /// the pinned verifier accepts `proof` for `instances`. NOT a substitute for
    /// `_acceptProof`: no instance count, registry, input binding or freshness check
    /// (the name says so, so that code written for the old `_verify`, which also checked
    /// the registry, fails to compile instead of silently losing that check).
    /// @dev Each instance must be < r first: the verifier reduces instances mod r, so x and
    /// x + r would otherwise both verify and any binding check on raw values could be
    /// bypassed. Then `_verifierAccepts`; a refusal is `ProofRejected`.
    /// @param proof The proof bytes.
    /// @param instances The public instances, in circuit order.
    function _checkFieldAndProof(bytes calldata proof, uint256[] calldata instances) internal {
        for (uint256 i = 0; i < instances.length; ++i) {
            if (instances[i] >= FIELD_MODULUS) revert InstanceNotInField(i, instances[i]);
        }
        if (!_verifierAccepts(proof, instances)) revert ProofRejected();
    }

    /// @notice Reverts unless the registry (if any) lists this contract's verifier, VKA
    /// digest and weights commitment as an active version of the pinned model that
    /// `msg.sender` may use. For hashed params this is what binds the weights: the proof's
    /// commitment must be one the model's owner registered, so a perturbed copy of the
    /// model (same vk, other weights) registered under any other model is refused.
    /// @dev The registry's own errors (`UnregisteredArtifact`, `VersionIsRevoked`,
    /// `CallerNotAllowed`) bubble up unchanged. The caller checked is the account calling
    /// this contract: the one acting on the model's output. Runs before the verifier, so a
    /// revoked model costs no pairing.
    /// @param instances The public instances, for `_paramsCommitment`.
    function _checkRegistry(uint256[] calldata instances) internal view {
        if (address(registry) == address(0)) return;
        registry.checkUsable(modelId, address(verifier), _vkaDigest(), _paramsCommitment(instances), msg.sender);
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
