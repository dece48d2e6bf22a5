// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IHalo2Verifier} from "../IHalo2Verifier.sol";
import {IModelRegistry} from "../IModelRegistry.sol";
import {OwnableNoRenounce} from "../OwnableNoRenounce.sol";
import {ZkmlConsumer} from "../ZkmlConsumer.sol";

/// @title Credit Line (example consumer on private inputs)
/// @notice Prices a borrower's credit line from a proven probability of default (PD), without
/// the lender ever seeing the borrower's features. The `credit` circuit hashes its input: its
/// one public input instance is the Poseidon hash of the borrower's salted feature tensor (the
/// *commitment*), its one output instance the PD. A trusted attester (a bank or identity
/// provider that saw the borrower's documents) signs, as EIP-712 typed data, that this
/// commitment belongs to this borrower until an expiry; the borrower submits the proof with
/// that attestation, and the contract maps the PD onto the owner's terms: the lower the PD,
/// the higher the limit and the lower the rate, declined from `maxDefaultBps` on.
///
/// What stays private: the features and the salt. Only their hash reaches the chain, and the
/// salt (random words inside the hashed tensor) keeps the few plausible feature values from
/// being found by hashing candidates. What is public: the commitment, the PD and the terms.
///
/// What is trusted: the attesters, that the features behind an attested commitment are the
/// borrower's true ones (the proof only shows the PD is the model's output on *some* input
/// with that hash); the circuit (pinned by the verifier and, with a registry, the model id),
/// that it computes the model the lender priced; and the owner, who sets the terms and the
/// attesters and may pause.
///
/// What the borrower is protected from: the owner changing the terms while an application
/// is in flight. Every terms change bumps `termsVersion`; the borrower quotes the version they
/// read (`quote(pdBps)` previews the line it gives) and an application against any other
/// version reverts (`TermsChanged`) before anything is used, so a `setTerms` mined just before
/// never prices a line on terms the borrower did not see, nor burns their commitment.
/// @dev An example to copy for "inputs bound to a signed commitment" (DESIGN.md rule 3): the
/// four template hooks bind the one input instance to the attested commitment and key
/// freshness on it (rule 4: a commitment prices one line, whatever the proof bytes, so a
/// re-randomised proof is refused like the original). The circuit has fixed params and 2
/// public instances: [commitment, PD]. The PD is saturated to [0, 1] before pricing (rule
/// 6), so every decodable output gives terms within the owner's bounds.
///
/// The EIP-712 domain is built here rather than by inheriting OpenZeppelin's `EIP712`: that
/// one (5.7) imports, through `MessageHashUtils` and `Strings`, the library `Bytes`, whose
/// `mcopy` is a Cancun opcode, and this project compiles for Shanghai (foundry.toml,
/// prover/evm/solc.py). The encoding is OpenZeppelin's (domain {name, version, chainId,
/// verifyingContract}, cached, rebuilt on another chain id or address), and `eip712Domain`
/// (ERC-5267) reports it to wallets and signers.
contract CreditLine is ZkmlConsumer, IERC5267, OwnableNoRenounce, Pausable {
    /// @notice Basis points in 1 (100 % PD, 100 % a year).
    uint16 public constant MAX_BPS = 10_000;

    /// @notice The EIP-712 domain's name.
    string public constant EIP712_NAME = "CreditLine";
    /// @notice The EIP-712 domain's version.
    string public constant EIP712_VERSION = "1";
    /// @dev The EIP-712 type hash of the domain: name, version, chainId, verifyingContract.
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// @notice The EIP-712 type hash of `Attestation`.
    /// @dev Off-chain signers must use exactly this type string, with the domain
    /// {name: "CreditLine", version: "1", chainId, verifyingContract: this contract}.
    bytes32 public constant ATTESTATION_TYPEHASH =
        keccak256("Attestation(uint256 commitment,address borrower,uint64 expiry)");

    /// @notice What an attester signs: the commitment to features it checked is this
    /// borrower's, usable until `expiry`.
    /// @param commitment The Poseidon hash of the borrower's salted feature tensor, as the
    /// circuit exposes it (a field element < r).
    /// @param borrower The only account that may use the attestation, so a leaked
    /// attestation and proof price nobody else's line.
    /// @param expiry The last timestamp (inclusive) at which it is accepted: features age.
    struct Attestation {
        uint256 commitment;
        address borrower;
        uint64 expiry;
    }

    /// @notice How a PD becomes a credit line, set by the owner.
    /// @param minLimit The limit at a PD just below `maxDefaultBps` (lender's currency units).
    /// @param maxLimit The limit at PD 0, > 0 and >= minLimit.
    /// @param minRateBps The yearly rate at PD 0, in basis points.
    /// @param maxRateBps The yearly rate at a PD just below `maxDefaultBps`, <= 10 000.
    /// @param maxDefaultBps PDs at or above it are declined; in (0, 10 000].
    struct Terms {
        uint128 minLimit;
        uint128 maxLimit;
        uint16 minRateBps;
        uint16 maxRateBps;
        uint16 maxDefaultBps;
    }

    /// @notice A borrower's current line; all fields share one slot.
    /// @param limit The credit limit; 0 means the last application was declined.
    /// @param rateBps The yearly rate in basis points; 0 when declined.
    /// @param pdBps The proven PD it was priced from, in basis points.
    /// @param updatedAt When it was priced.
    struct Line {
        uint128 limit;
        uint16 rateBps;
        uint16 pdBps;
        uint64 updatedAt;
    }

    /// @notice Fixed-point scale (bits) of the circuit's output: 2**outputScale is PD 1.0.
    uint8 public immutable outputScale;

    /// @dev The domain separator at deployment, with the chain id and address it was built for:
    /// a signature for one chain never counts on a fork with another id, nor for code run at
    /// another address (the separator is rebuilt there, as OpenZeppelin's `EIP712` does).
    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;
    address private immutable _cachedThis;

    /// @notice The version of the terms in force: 1 at deployment, incremented by every
    /// `setTerms`. A borrower passes the version they read to `applyForCredit`.
    /// @dev Declared first so it packs into the slot of `Ownable._owner` and `Pausable._paused`,
    /// which `whenNotPaused` has already read: the check costs a warm load.
    uint64 public termsVersion;
    /// @dev The pricing in force.
    Terms private _terms;
    /// @dev Whose attestations count.
    mapping(address attester => bool) private _attesters;
    /// @dev Commitments that already priced a line.
    mapping(uint256 commitment => bool) private _commitmentUsed;
    /// @dev The latest line per borrower.
    mapping(address borrower => Line) private _lines;

    /// @notice The terms changed since the borrower read them: the application quoted another
    /// `termsVersion` than the one in force. Protects the borrower from a `setTerms` mined just
    /// before their application (pricing them at terms they never saw and burning their
    /// one-time commitment); they re-read the terms (`terms()`, `quote(pdBps)` previews the
    /// line) and re-apply with the new version, the commitment still unused.
    /// @param expected The version the borrower quoted.
    /// @param current The version in force.
    error TermsChanged(uint64 expected, uint64 current);
    /// @notice The caller is not the borrower the attestation names.
    /// @param borrower The attested borrower.
    /// @param caller The account that called.
    error NotAttestedBorrower(address borrower, address caller);
    /// @notice The attestation's expiry has passed.
    /// @param expiry The attested expiry.
    /// @param now_ The block's timestamp.
    error AttestationExpired(uint64 expiry, uint256 now_);
    /// @notice The signature is malformed: not 65 bytes, a bad `v`, a high `s`, or no signer.
    error InvalidSignature();
    /// @notice The attestation was signed by an account that is not a trusted attester (or
    /// the signature is over other data, which recovers some other account).
    /// @param signer The recovered signer.
    error UntrustedAttester(address signer);
    /// @notice The commitment already priced a line; a borrower reapplies with a new one
    /// (fresh salt, new attestation).
    /// @param commitment The used commitment.
    error CommitmentAlreadyUsed(uint256 commitment);
    /// @notice Terms break a bound listed on `Terms`.
    error InvalidTerms();
    /// @notice The zero address cannot be an attester.
    /// @param attester The rejected address.
    error InvalidAttester(address attester);
    /// @notice A constructor parameter is out of range.
    error InvalidConfig();

    /// @notice Emitted when the pricing changes (and at deployment, version 1).
    /// @param version The new `termsVersion`.
    /// @param terms The new terms.
    event TermsSet(uint64 indexed version, Terms terms);
    /// @notice Emitted when an account is trusted or distrusted as an attester.
    /// @param attester The account.
    /// @param trusted Whether its attestations count from now on.
    event AttesterSet(address indexed attester, bool trusted);
    /// @notice Emitted when a borrower's line is priced (declined: limit and rate 0). Carries
    /// the score and the terms only: the contract never sees a feature.
    /// @param borrower The borrower.
    /// @param attester The attester whose signature bound the commitment.
    /// @param commitment The hash of the borrower's salted features.
    /// @param pdBps The proven PD, saturated to [0, 1], in basis points (rounded down).
    /// @param limit The new limit.
    /// @param rateBps The new yearly rate in basis points.
    event CreditTermsSet(
        address indexed borrower,
        address indexed attester,
        uint256 commitment,
        uint16 pdBps,
        uint256 limit,
        uint16 rateBps
    );

    /// @param verifier_ The ezkl verifier of the credit circuit.
    /// @param registry_ The model registry to consult, or the zero address for none.
    /// @param modelId_ The credit model's id in `registry_` (0 without a registry).
    /// @param outputScale_ Fixed-point bits of the circuit's output (<= 64).
    /// @param terms_ The initial pricing (see `Terms`).
    /// @param attesters_ The initially trusted attesters (none zero).
    /// @param initialOwner The account that sets terms and attesters and may pause (not zero:
    /// `OwnableInvalidOwner`).
    constructor(
        IHalo2Verifier verifier_,
        IModelRegistry registry_,
        uint256 modelId_,
        uint8 outputScale_,
        Terms memory terms_,
        address[] memory attesters_,
        address initialOwner
    ) ZkmlConsumer(verifier_, registry_, modelId_) Ownable(initialOwner) {
        if (outputScale_ > 64) revert InvalidConfig();
        outputScale = outputScale_;
        _cachedChainId = block.chainid;
        _cachedThis = address(this);
        _cachedDomainSeparator = _buildDomainSeparator();
        _setTerms(terms_);
        for (uint256 i = 0; i < attesters_.length; ++i) {
            _setAttester(attesters_[i], true);
        }
    }

    // --- owner ---------------------------------------------------------------------------------

    /// @notice Replaces the pricing and increments `termsVersion`; owner only. Lines already
    /// priced keep their terms; applications in flight against the old version revert
    /// (`TermsChanged`) without using their commitment.
    /// @param terms_ The new terms (`InvalidTerms` unless within the bounds on `Terms`).
    function setTerms(Terms calldata terms_) external onlyOwner {
        _setTerms(terms_);
    }

    /// @notice Trusts or distrusts an attester; owner only. Takes effect on the next
    /// application: an unused attestation from a distrusted attester no longer counts.
    /// @param attester The account (not zero: `InvalidAttester`).
    /// @param trusted Whether its attestations count.
    function setAttester(address attester, bool trusted) external onlyOwner {
        _setAttester(attester, trusted);
    }

    /// @notice Stops pricing lines; owner only (`EnforcedPause` when already paused).
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Resumes pricing lines; owner only (`ExpectedPause` when not paused).
    function unpause() external onlyOwner {
        _unpause();
    }

    // --- borrowers -----------------------------------------------------------------------------

    /// @notice Prices the caller's credit line from a proof of the model's PD on the features
    /// an attester vouched for, replacing any earlier line of the caller.
    /// @dev Named `applyForCredit` because `apply` is a reserved word in Solidity. Checks, in
    /// order: paused; `expectedTermsVersion` is the version in force (`TermsChanged`);
    /// attested borrower is the caller; not expired (expiry == now still
    /// counts); signature well-formed (`InvalidSignature`) and by a trusted attester
    /// (`UntrustedAttester`); then `_acceptProof`: instance count, registry, instance 0 equals
    /// the attested commitment (`InputMismatch`), commitment unused, instances in the field,
    /// proof valid, PD decodable. The signature is checked before the proof so a forged
    /// attestation costs no pairing.
    /// @param proof The proof bytes.
    /// @param instances The commitment, then the PD felt (signed fixed point at `outputScale`).
    /// @param attestation What the attester signed.
    /// @param signature The attester's 65-byte signature of `attestationDigest(attestation)`.
    /// @param expectedTermsVersion The `termsVersion` of the terms the borrower read (and
    /// previewed with `quote`): the line is priced on those terms or not at all.
    /// @return limit The new limit (0: declined).
    /// @return rateBps The new yearly rate in basis points (0: declined).
    function applyForCredit(
        bytes calldata proof,
        uint256[] calldata instances,
        Attestation calldata attestation,
        bytes calldata signature,
        uint64 expectedTermsVersion
    ) external whenNotPaused returns (uint256 limit, uint16 rateBps) {
        if (expectedTermsVersion != termsVersion) {
            revert TermsChanged(expectedTermsVersion, termsVersion);
        }
        if (attestation.borrower != msg.sender) {
            revert NotAttestedBorrower(attestation.borrower, msg.sender);
        }
        if (attestation.expiry < block.timestamp) revert AttestationExpired(attestation.expiry, block.timestamp);
        address attester = _attester(attestation, signature);

        uint256 commitment = attestation.commitment;
        int256[] memory outputs = _acceptProof(proof, instances, abi.encode(commitment));
        uint16 pdBps = _pdBps(outputs[0]);
        (limit, rateBps) = quote(pdBps);

        _lines[msg.sender] =
            Line({limit: uint128(limit), rateBps: rateBps, pdBps: pdBps, updatedAt: uint64(block.timestamp)});
        emit CreditTermsSet(msg.sender, attester, commitment, pdBps, limit, rateBps);
    }

    // --- views ---------------------------------------------------------------------------------

    /// @notice The line the current terms give a PD; what `applyForCredit` applies.
    /// @dev Linear in the PD between the terms' ends. Both divisions round down, so the
    /// limit rounds up by less than one unit and the rate down by less than one bp: the
    /// borrower's side, by less than the terms' own resolution. Monotone: a higher PD never
    /// gets a higher limit or, while approved, a lower rate. An approved limit is always
    /// >= 1 (and >= minLimit), so limit 0 means declined.
    /// @param pdBps A PD in basis points (values above 10 000 are declined like 10 000).
    /// @return limit The limit, in [minLimit, maxLimit], or 0 when pdBps >= maxDefaultBps.
    /// @return rateBps The rate, in [minRateBps, maxRateBps], or 0 when declined.
    function quote(uint16 pdBps) public view returns (uint256 limit, uint16 rateBps) {
        Terms memory t = _terms;
        if (pdBps >= t.maxDefaultBps) return (0, 0);
        limit = t.maxLimit - (uint256(t.maxLimit - t.minLimit) * pdBps) / t.maxDefaultBps;
        rateBps = t.minRateBps + uint16((uint256(t.maxRateBps - t.minRateBps) * pdBps) / t.maxDefaultBps);
    }

    /// @notice The EIP-712 digest an attester signs for `a`.
    /// @dev keccak256("\x19\x01" || domainSeparator() || keccak256(abi.encode(ATTESTATION_TYPEHASH,
    /// commitment, borrower, expiry))), the domain being {"CreditLine", "1", chainid, this}:
    /// what eth_account's `encode_typed_data` and `eth_signTypedData_v4` sign.
    /// @param a The attestation.
    /// @return digest The digest.
    function attestationDigest(Attestation calldata a) public view returns (bytes32 digest) {
        bytes32 separator = domainSeparator();
        bytes32 structHash = keccak256(abi.encode(ATTESTATION_TYPEHASH, a.commitment, a.borrower, a.expiry));
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, hex"1901")
            mstore(add(ptr, 0x02), separator)
            mstore(add(ptr, 0x22), structHash)
            digest := keccak256(ptr, 0x42)
        }
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    /// @return The separator: keccak256(abi.encode(EIP712Domain type hash, keccak256(name),
    /// keccak256(version), chainid, this)).
    function domainSeparator() public view returns (bytes32) {
        if (block.chainid == _cachedChainId && address(this) == _cachedThis) return _cachedDomainSeparator;
        return _buildDomainSeparator();
    }

    /// @inheritdoc IERC5267
    /// @dev Fields 0x0f: name, version, chainId, verifyingContract; no salt, no extensions.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", EIP712_NAME, EIP712_VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @notice The pricing in force.
    /// @return The terms.
    function terms() external view returns (Terms memory) {
        return _terms;
    }

    /// @notice Whether an account's attestations count.
    /// @param account The account.
    /// @return Whether it is a trusted attester.
    function isAttester(address account) external view returns (bool) {
        return _attesters[account];
    }

    /// @notice Whether a commitment already priced a line.
    /// @param commitment The commitment.
    /// @return Whether it was used.
    function commitmentUsed(uint256 commitment) external view returns (bool) {
        return _commitmentUsed[commitment];
    }

    /// @notice A borrower's latest line (all zero if it never applied).
    /// @param borrower The borrower.
    /// @return The line.
    function lineOf(address borrower) external view returns (Line memory) {
        return _lines[borrower];
    }

    // --- template hooks ------------------------------------------------------------------------

    /// @inheritdoc ZkmlConsumer
    /// @dev The commitment (hashed input), then the PD (public output); params are fixed.
    function _instanceCount() internal pure override returns (uint256) {
        return 2;
    }

    /// @inheritdoc ZkmlConsumer
    function _outputCount() internal pure override returns (uint256) {
        return 1;
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev `context` is `abi.encode(commitment)`, the attested one: a proof over other
    /// features or another salt carries another hash and is refused (`InputMismatch`).
    function _expectedInputs(bytes memory context) internal pure override returns (uint256[] memory expected) {
        expected = new uint256[](1);
        expected[0] = abi.decode(context, (uint256));
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev Keyed on the commitment: one line per commitment, whatever the proof bytes.
    function _recordUse(bytes memory context) internal override {
        uint256 commitment = abi.decode(context, (uint256));
        if (_commitmentUsed[commitment]) revert CommitmentAlreadyUsed(commitment);
        _commitmentUsed[commitment] = true;
    }

    // --- internals -----------------------------------------------------------------------------

    /// @notice The domain separator for the current chain id and address.
    /// @return The separator.
    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH,
                keccak256(bytes(EIP712_NAME)),
                keccak256(bytes(EIP712_VERSION)),
                block.chainid,
                address(this)
            )
        );
    }

    /// @notice The trusted attester who signed `attestation`, or a revert.
    /// @dev OpenZeppelin's `tryRecover` (calldata variant) refuses signatures other than 65
    /// bytes, `v` other than 27/28 and high `s` (malleable copies), and never returns the
    /// zero address without an error. A signature over any other attestation recovers some
    /// unrelated account, hence `UntrustedAttester` rather than `InvalidSignature` for it.
    /// @param attestation The attestation.
    /// @param signature Its signature.
    /// @return signer The recovered, trusted signer.
    function _attester(Attestation calldata attestation, bytes calldata signature)
        internal
        view
        returns (address signer)
    {
        ECDSA.RecoverError err;
        (signer, err,) = ECDSA.tryRecoverCalldata(attestationDigest(attestation), signature);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSignature();
        if (!_attesters[signer]) revert UntrustedAttester(signer);
    }

    /// @notice A decoded PD as basis points, saturated to [0, 1] (rule 6): a negative PD
    /// counts as 0 and one above 1.0 as 10 000, so every output the decoder accepts prices
    /// a line within bounds.
    /// @dev Rounds down (a PD a hair under a bps step counts as the step below).
    /// @param pd The PD, signed fixed point at `outputScale`.
    /// @return The PD in basis points, <= 10 000.
    function _pdBps(int256 pd) internal view returns (uint16) {
        if (pd <= 0) return 0;
        uint256 one = uint256(1) << outputScale;
        uint256 clamped = uint256(pd) > one ? one : uint256(pd);
        return uint16((clamped * MAX_BPS) / one);
    }

    /// @notice Validates and stores the terms, increments `termsVersion`, emitting `TermsSet`.
    /// @param terms_ The terms.
    function _setTerms(Terms memory terms_) internal {
        if (
            terms_.minLimit > terms_.maxLimit || terms_.maxLimit == 0 || terms_.minRateBps > terms_.maxRateBps
                || terms_.maxRateBps > MAX_BPS || terms_.maxDefaultBps == 0 || terms_.maxDefaultBps > MAX_BPS
        ) revert InvalidTerms();
        _terms = terms_;
        uint64 version = termsVersion + 1;
        termsVersion = version;
        emit TermsSet(version, terms_);
    }

    /// @notice Stores an attester's trust, emitting `AttesterSet`.
    /// @param attester The account (not zero).
    /// @param trusted Whether its attestations count.
    function _setAttester(address attester, bool trusted) internal {
        if (attester == address(0)) revert InvalidAttester(attester);
        _attesters[attester] = trusted;
        emit AttesterSet(attester, trusted);
    }
}
