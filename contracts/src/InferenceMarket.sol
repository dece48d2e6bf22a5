// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IHalo2Verifier} from "./IHalo2Verifier.sol";
import {IInferenceConsumer, IInferenceMarket, Offer, RequestInfo, RequestStatus, Shape} from "./IInferenceMarket.sol";
import {IModelRegistry, IModelRegistryCheckErrors, Version} from "./IModelRegistry.sol";
import {OwnableNoRenounce} from "./OwnableNoRenounce.sol";

/// @title Inference Market
/// @notice Buy inferences of registered models in ERC-20: a request escrows the price and a
/// prover fee, a prover locks it with a stake, and one proof of the pinned batch-N circuit
/// settles up to N requests. Model owners, provers and the protocol are paid only through
/// verified proofs, and everyone withdraws (pull payments).
/// @dev The NatSpec of `IInferenceMarket` is the specification. What this implementation adds:
///
/// Storage is laid out so that settling a request costs three cold slot reads and one write
/// (the batch's fixed costs aside):
///   - `Request.core`, one slot written by `request`, `lock`, `fulfil` and `refund`, packs
///     (low bit first) the status (2 bits), a has-callback flag (bit 2), the serving id
///     (bits 8..39, see below), the deadline (40..79), the lock id (80..111), the protocol
///     fee in bps pinned at request (112..126) and, once fulfilled, the first output biased
///     by 2**128 (127..255, 129 bits: every decodable output fits). So the write that marks
///     a request fulfilled also stores the result of a one-output model.
///   - `Request.amounts` (price | prover fee, one slot) and `Request.inputsHash` are read.
///   - the requester, callback and callback gas limit live in slots `fulfil` reads only for
///     requests with a callback; outputs after the first live in `_extraOutputs`, which
///     `request` pre-writes with a nonzero placeholder so that `fulfil` never pays for a
///     fresh slot.
///   - a `lock` call writes one lock record (locker, expiry, stake per request) per run of
///     requests of one model; requests point at it by id, so a batch locked together is
///     checked with one record read.
/// Serving ids: each `serveVersion` of a (model, version) that is not serving gets a new id
/// with its shape, verifier and weights commitment copied from the registry (a version's
/// record never changes there, only its revocation). Requests pin the id, so a retired
/// version stays retired for the requests that pinned it even if it is served again later.
/// Revocation is asked of the registry whenever it matters (request, lock, fulfil, refund):
/// `checkUsable` first (a few reads), `getVersion` when that answer is not conclusive.
/// Credits of one `fulfil` are summed and written once per account; `fulfil` leaves
/// `liabilities` unchanged (escrows and stakes become credits), so the accounting invariant
/// costs it nothing. The per-request loops of `fulfil` are assembly (each with a Solidity
/// slow path that names the error): with cold storage, a request of the fee model's shape
/// costs about 13,100 gas of bookkeeping on top of a batch's fixed ~64k (the registry's
/// revocation check, the reentrancy guard, three credits), 11,468 of it the three reads,
/// the one write and the `Fulfilled` log (InferenceMarket.gas.t.sol measures it).
/// Callbacks run after all settlement, with exactly their gas limit (checked against the
/// 63/64 rule first), without copying return data; every mutating entry point is
/// `nonReentrant`, so a callback (or a token, or a verifier) cannot re-enter the market:
/// such a callback fails and is recorded as `CallbackFailed`.
contract InferenceMarket is IInferenceMarket, OwnableNoRenounce, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice The largest batch a circuit may prove (and a `lock` call may take).
    uint256 public constant MAX_BATCH = 64;
    /// @notice The shortest lock an offer may grant: a prover needs time to send a proof.
    uint32 public constant MIN_LOCK_WINDOW = 5;
    /// @notice The longest lock an offer may grant: a stalled prover blocks others no longer.
    uint32 public constant MAX_LOCK_WINDOW = 1 days;
    /// @notice The furthest deadline a request may set, so escrows do not sit for ever.
    uint64 public constant MAX_REQUEST_TTL = 30 days;
    /// @notice The most gas a request may ask for its callback, so a batch stays provable.
    uint32 public constant MAX_CALLBACK_GAS = 2_000_000;
    /// @notice The highest protocol fee, in bps of the price (10 %).
    uint16 public constant MAX_PROTOCOL_FEE_BPS = 1000;
    /// @notice The BN254 scalar field modulus r: instances are canonical felts below it.
    uint256 public constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Signed values carried by felts have magnitude below 2**128 (as in `ZkmlConsumer`).
    uint256 public constant MAX_ABS = 0x100000000000000000000000000000000; // 2**128, a literal for assembly
    /// @notice Gas kept back before a callback's call for the call itself (cold account,
    /// stack), in the 63/64 check.
    uint256 public constant CALLBACK_GAS_RESERVE = 5000;

    // --- Request.core bit layout (see the contract's @dev) ---
    uint256 private constant STATUS_MASK = 0x3;
    uint256 private constant HAS_CALLBACK = 0x4;
    uint256 private constant SERVING_SHIFT = 8;
    uint256 private constant DEADLINE_SHIFT = 40;
    uint256 private constant LOCK_SHIFT = 80;
    uint256 private constant LOCK_MASK = uint256(type(uint32).max) << LOCK_SHIFT;
    uint256 private constant BPS_SHIFT = 112;
    uint256 private constant BPS_MASK = 0x7fff;
    uint256 private constant OUTPUT_SHIFT = 127;
    /// @dev Everything below the first output but the status: (1 << OUTPUT_SHIFT) - 1 - STATUS_MASK.
    uint256 private constant KEPT_AT_SETTLEMENT = 0x7ffffffffffffffffffffffffffffffc;
    // RequestStatus's values, as literals for assembly (Open, Fulfilled, Refunded)
    uint256 private constant OPEN = 1;
    uint256 private constant FULFILLED = 2;
    uint256 private constant REFUNDED = 3;
    /// @dev What `request` writes into output slots after the first (never a stored output).
    uint256 private constant OUTPUT_PLACEHOLDER = 1;
    uint256 private constant BPS_DENOMINATOR = 10_000;

    /// @dev One request. Slot 0 is `core` (packed, see above); `fulfil` reads slots 0-2.
    struct Request {
        uint256 core;
        /// price (low 128 bits) | prover fee (high 128 bits): one read at settlement
        uint256 amounts;
        bytes32 inputsHash;
        address requester;
        uint32 callbackGasLimit;
        address callback;
    }

    /// @dev A served (model, version): the shape it serves with and what the registry says
    /// verifies it. Slot 0 is what every check reads.
    struct Serving {
        address verifier;
        uint16 batchSize;
        uint16 leadingInstances;
        uint16 inputsPerInference;
        uint16 outputsPerInference;
        bool retired;
        uint256 modelId;
        bytes32 paramsCommitment;
        uint32 version;
    }

    /// @dev An offer, slot by slot in the order the entry points read them.
    struct OfferData {
        IERC20 token;
        uint32 lockWindow;
        uint32 version;
        bool open;
        address payee;
        uint128 price;
        uint128 lockStake;
    }

    /// @dev A lock taken by one `lock` call over requests of one model.
    struct LockRecord {
        address locker;
        uint64 until;
        uint128 stake;
    }

    /// @dev What `request` gathers before it stores a request.
    struct Terms {
        IERC20 token;
        uint256 core;
        uint128 price;
        uint32 version;
        uint256 outputs;
        bytes32 inputsHash;
        uint64 deadline;
        uint128 proverFee;
        address callback;
        uint32 callbackGasLimit;
        uint256 escrow;
    }

    /// @dev What `fulfil` carries between its steps.
    struct Batch {
        uint32 servingId;
        uint256 modelId;
        address verifier;
        uint256 batchSize;
        uint256 leading;
        uint256 inputs;
        uint256 outputs;
        bytes32 paramsCommitment;
        uint256 stakes;
        /// 1 + the first slot whose inputs are not its request's, or 0
        uint256 mismatch;
        /// whether any request of the batch has a callback
        bool callbacks;
    }

    /// @dev The registry, fixed for good: models, owners, versions and allowlists.
    IModelRegistry private immutable _registry;

    // Packs with OpenZeppelin's `_pendingOwner` and `_paused` (read together by `request`
    // and `lock`).
    uint16 private _protocolFeeBps;
    uint32 private _lockCount;
    uint32 private _servingCount;

    address private _feeRecipient;
    uint64 private _requestCount;

    mapping(uint256 requestId => Request) private _requests;
    mapping(uint256 requestId => mapping(uint256 index => uint256 biased)) private _extraOutputs;
    mapping(uint256 lockId => LockRecord) private _locks;
    mapping(uint32 servingId => Serving) private _serving;
    mapping(uint256 modelId => mapping(uint32 version => uint32 servingId)) private _servingIds;
    mapping(uint256 modelId => OfferData) private _offers;
    mapping(IERC20 token => mapping(address account => uint256)) private _credits;
    mapping(IERC20 token => uint256) private _liabilities;

    /// @param registry_ The model registry whose owners, versions and allowlists count
    /// (`InvalidRegistry` without code).
    /// @param initialOwner The market's owner: pauses, sets the protocol fee and its
    /// recipient (not zero: `OwnableInvalidOwner`); hands over in two steps.
    /// @param feeRecipient_ Receives protocol fees (`InvalidPayee` for 0). The fee starts at 0.
    constructor(IModelRegistry registry_, address initialOwner, address feeRecipient_) Ownable(initialOwner) {
        if (address(registry_).code.length == 0) revert InvalidRegistry(address(registry_));
        if (feeRecipient_ == address(0)) revert InvalidPayee();
        _registry = registry_;
        _feeRecipient = feeRecipient_;
    }

    // --- model owners ----------------------------------------------------------------------------

    /// @inheritdoc IInferenceMarket
    function setOffer(uint256 modelId, IERC20 token, address payee, uint128 price, uint128 lockStake, uint32 lockWindow)
        external
    {
        _onlyModelOwner(modelId);
        if (address(token) == address(0) || address(token).code.length == 0) revert InvalidToken(address(token));
        OfferData storage offer = _offers[modelId];
        IERC20 fixedToken = offer.token;
        if (address(fixedToken) != address(0) && fixedToken != token) revert TokenFixed(modelId, fixedToken);
        if (payee == address(0)) revert InvalidPayee();
        if (lockWindow < MIN_LOCK_WINDOW || lockWindow > MAX_LOCK_WINDOW) revert InvalidLockWindow(lockWindow);
        offer.token = token;
        offer.lockWindow = lockWindow;
        offer.open = true;
        offer.payee = payee;
        offer.price = price;
        offer.lockStake = lockStake;
        emit OfferSet(modelId, token, payee, price, lockStake, lockWindow);
    }

    /// @inheritdoc IInferenceMarket
    /// @dev `NoOpenOffer` when there is no open offer to close.
    function closeOffer(uint256 modelId) external {
        _onlyModelOwner(modelId);
        OfferData storage offer = _offers[modelId];
        if (!offer.open) revert NoOpenOffer(modelId);
        offer.open = false;
        emit OfferClosed(modelId);
    }

    /// @inheritdoc IInferenceMarket
    /// @dev Copies the version's verifier and weights commitment from the registry. Refused:
    /// `UnknownVersion`, `VersionRevoked`, `UnsupportedVerifier` (a VKA digest: ezkl's
    /// reusable verifier takes other calldata), `InvalidShape` (batch 1..MAX_BATCH, at least
    /// one input and one output, a leading instance when the version commits to its weights;
    /// or another shape while the version serves). Serving a version that serves with the
    /// same shape only makes it the offer's version again.
    function serveVersion(uint256 modelId, uint32 version, Shape calldata shape) external {
        uint256 versionCount = _onlyModelOwner(modelId);
        if (version == 0 || version > versionCount) revert UnknownVersion(modelId, version);
        Version memory record = _registry.getVersion(modelId, version);
        if (record.revoked) revert VersionRevoked(modelId, version);
        if (record.vkaDigest != bytes32(0)) revert UnsupportedVerifier(modelId, version);
        if (
            shape.batchSize == 0 || shape.batchSize > MAX_BATCH || shape.inputsPerInference == 0
                || shape.outputsPerInference == 0
                || (record.paramsCommitment != bytes32(0) && shape.leadingInstances == 0)
        ) revert InvalidShape();

        uint32 servingId = _servingIds[modelId][version];
        Serving storage current = _serving[servingId];
        if (servingId != 0 && !current.retired) {
            if (
                current.batchSize != shape.batchSize || current.leadingInstances != shape.leadingInstances
                    || current.inputsPerInference != shape.inputsPerInference
                    || current.outputsPerInference != shape.outputsPerInference
            ) revert InvalidShape();
        } else {
            servingId = ++_servingCount;
            _servingIds[modelId][version] = servingId;
            _serving[servingId] = Serving({
                verifier: record.verifier,
                batchSize: shape.batchSize,
                leadingInstances: shape.leadingInstances,
                inputsPerInference: shape.inputsPerInference,
                outputsPerInference: shape.outputsPerInference,
                retired: false,
                modelId: modelId,
                paramsCommitment: record.paramsCommitment,
                version: version
            });
        }
        _offers[modelId].version = version;
        emit VersionServed(
            modelId,
            version,
            shape.batchSize,
            shape.leadingInstances,
            shape.inputsPerInference,
            shape.outputsPerInference
        );
    }

    /// @inheritdoc IInferenceMarket
    /// @dev `VersionNotServing` unless it serves. When it was the offer's version, the offer
    /// serves no version until the owner serves one (new requests: `NoOpenOffer`).
    function retireVersion(uint256 modelId, uint32 version) external {
        _onlyModelOwner(modelId);
        uint32 servingId = _servingIds[modelId][version];
        Serving storage serving = _serving[servingId];
        if (servingId == 0 || serving.retired) revert VersionNotServing(modelId, version);
        serving.retired = true;
        OfferData storage offer = _offers[modelId];
        if (offer.version == version) offer.version = 0;
        emit VersionRetired(modelId, version);
    }

    // --- requesters ------------------------------------------------------------------------------

    /// @inheritdoc IInferenceMarket
    /// @dev Checks, in order: paused, `NoOpenOffer`, `RequesterNotAllowed`, `VersionRevoked`,
    /// `WrongInputCount`, `InputOutOfRange`, `InvalidDeadline`, `InvalidCallbackGasLimit`
    /// (above the cap, a limit without a callback, or a callback with no gas),
    /// `InvalidCallback`, then the escrow's transfer (`EscrowShort`).
    function request(
        uint256 modelId,
        int256[] calldata inputs,
        address callback,
        uint32 callbackGasLimit,
        uint64 deadline,
        uint128 proverFee
    ) external nonReentrant whenNotPaused returns (uint256 requestId) {
        Terms memory terms = _openTerms(modelId, inputs.length);
        terms.inputsHash = _hashInputs(inputs);
        if (deadline <= block.timestamp || deadline > block.timestamp + MAX_REQUEST_TTL) {
            revert InvalidDeadline(deadline);
        }
        if (callback == address(0)) {
            if (callbackGasLimit != 0) revert InvalidCallbackGasLimit(callbackGasLimit);
        } else {
            if (callbackGasLimit == 0 || callbackGasLimit > MAX_CALLBACK_GAS) {
                revert InvalidCallbackGasLimit(callbackGasLimit);
            }
            if (callback.code.length == 0) revert InvalidCallback(callback);
            terms.core |= HAS_CALLBACK;
        }
        (terms.deadline, terms.proverFee, terms.callback, terms.callbackGasLimit) =
        (deadline, proverFee, callback, callbackGasLimit);
        terms.escrow = uint256(terms.price) + proverFee; // up to 2**129: in uint256
        _pull(terms.token, terms.escrow);
        requestId = ++_requestCount;
        _store(requestId, terms);
        _emitRequested(requestId, modelId, inputs, terms);
    }

    /// @inheritdoc IInferenceMarket
    /// @dev `UnknownRequest`, `RequestNotOpen`, then `NotRefundable` unless the deadline has
    /// passed, the pinned serving is retired or the version is revoked in the registry.
    function refund(uint256 requestId) external nonReentrant {
        Request storage stored = _requests[requestId];
        uint256 core = stored.core;
        _requireOpen(requestId, core);
        uint64 deadline = _deadlineOf(core);
        Serving storage serving = _serving[_servingOf(core)];
        uint256 modelId = serving.modelId;
        if (block.timestamp <= deadline && !serving.retired && !_isRevoked(modelId, serving)) {
            revert NotRefundable(requestId);
        }
        stored.core = (core & ~STATUS_MASK) | REFUNDED;

        IERC20 token = _offers[modelId].token;
        address requester = stored.requester;
        uint256 amounts = stored.amounts;
        uint256 escrow = uint256(uint128(amounts)) + (amounts >> 128);
        uint256 forfeited = _releaseOnRefund(requestId, core, token, requester);
        emit Refunded(requestId, requester, escrow);
        _credit(token, requester, escrow + forfeited);
    }

    /// @dev The stake of a refunded request's lock, if any: an expired lock's stake is
    /// forfeited to the requester (returned here, `StakeForfeited`), an unexpired one's goes
    /// back to its locker (the request became refundable under it: retired or revoked).
    function _releaseOnRefund(uint256 requestId, uint256 core, IERC20 token, address requester)
        private
        returns (uint256 forfeited)
    {
        uint256 lockId = _lockOf(core);
        if (lockId == 0) return 0;
        LockRecord storage held = _locks[lockId];
        (address locker, uint64 until, uint128 stake) = (held.locker, held.until, held.stake);
        if (block.timestamp > _min(until, _deadlineOf(core))) {
            if (stake != 0) emit StakeForfeited(requestId, locker, requester, stake);
            return stake;
        }
        _credit(token, locker, stake);
    }

    // --- provers ---------------------------------------------------------------------------------

    /// @inheritdoc IInferenceMarket
    /// @dev Checks per request, in order: `DuplicateRequest`, `UnknownRequest`,
    /// `RequestNotOpen`, `RequestExpired`, `VersionNotServing`, `VersionRevoked`,
    /// `AlreadyLocked` (any unexpired lock, the caller's own included); then the stakes are
    /// pulled, one transfer per run of requests of one model (`EscrowShort`). 1..MAX_BATCH
    /// ids (`WrongBatchSize(given, MAX_BATCH)`).
    function lock(uint256[] calldata requestIds) external nonReentrant whenNotPaused {
        uint256 n = requestIds.length;
        if (n == 0 || n > MAX_BATCH) revert WrongBatchSize(n, MAX_BATCH);
        uint256 lastModel;
        uint32 lastServing;
        uint256 lockId;
        LockRecord memory taken;
        IERC20 token;
        uint256 runStake;
        uint256 bloom;
        for (uint256 i = 0; i < n; ++i) {
            uint256 requestId = requestIds[i];
            bloom = _checkDistinct(requestIds, i, bloom);
            Request storage stored = _requests[requestId];
            uint256 core = stored.core;
            _requireOpen(requestId, core);
            uint64 deadline = _deadlineOf(core);
            if (block.timestamp > deadline) revert RequestExpired(requestId, deadline);
            uint32 servingId = _servingOf(core);
            if (servingId != lastServing) {
                uint256 modelId = _requireServing(servingId);
                lastServing = servingId;
                if (modelId != lastModel || lockId == 0) {
                    if (runStake != 0) _pull(token, runStake);
                    runStake = 0;
                    lastModel = modelId;
                    OfferData storage offer = _offers[modelId];
                    token = offer.token;
                    taken = LockRecord(msg.sender, uint64(block.timestamp) + offer.lockWindow, offer.lockStake);
                    lockId = ++_lockCount;
                    _locks[lockId] = taken;
                }
            }
            uint256 previous = _lockOf(core);
            if (previous != 0) _releaseExpired(requestId, previous, deadline, token, stored);
            stored.core = (core & ~LOCK_MASK) | (lockId << LOCK_SHIFT);
            runStake += taken.stake;
            emit Locked(requestId, msg.sender, _min(taken.until, deadline), taken.stake);
        }
        if (runStake != 0) _pull(token, runStake);
    }

    /// @inheritdoc IInferenceMarket
    /// @dev Checks, in order: `WrongBatchSize` (`(0, 0)` for no ids); the first request's
    /// `UnknownRequest`, `RequestNotOpen`, then `WrongBatchSize` (more ids than its circuit's
    /// batch); per request `DuplicateRequest`, `UnknownRequest`, `RequestNotOpen`,
    /// `MixedVersions`, `RequestExpired`, `NotLocker` (a request locked by another prover,
    /// or whose lock expired); then `VersionNotServing`, `VersionRevoked`, `WrongInstanceCount`,
    /// `InstanceNotInField`, `ParamsMismatch`, `InputsMismatch`, `PaddingNotZero`,
    /// `ProofRejected` (one verifier call), `OutputOutOfRange`. Then settlement (credits,
    /// outputs, `Fulfilled`), then the callbacks (`InsufficientGasForCallback` when the
    /// caller sent too little gas for one; a callback's own failure is `CallbackFailed`).
    function fulfil(uint256[] calldata requestIds, bytes calldata proof, uint256[] calldata instances)
        external
        nonReentrant
    {
        uint256 n = requestIds.length;
        if (n == 0) revert WrongBatchSize(0, 0);
        uint256[] memory cores = new uint256[](n);
        Batch memory batch = _loadBatch(requestIds);
        uint256 leading = batch.leading;
        uint256 firstInput;
        assembly ("memory-safe") {
            firstInput := add(instances.offset, shl(5, leading))
        }
        _checkRequests(batch, requestIds, firstInput, cores);
        _checkInstances(batch, requestIds, instances);
        if (!_verifierAccepts(batch.verifier, proof, instances)) revert ProofRejected();
        int256[][] memory results = _settle(batch, requestIds, cores, instances);
        if (batch.callbacks) {
            for (uint256 k = 0; k < n; ++k) {
                if (cores[k] & HAS_CALLBACK != 0) _notify(requestIds[k], results[k]);
            }
        }
    }

    // --- everyone --------------------------------------------------------------------------------

    /// @inheritdoc IInferenceMarket
    function withdraw(IERC20 token) external nonReentrant {
        uint256 amount = _credits[token][msg.sender];
        if (amount == 0) revert NothingToWithdraw(token);
        _credits[token][msg.sender] = 0;
        _liabilities[token] -= amount;
        emit Withdrawn(msg.sender, token, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // --- market owner ----------------------------------------------------------------------------

    /// @inheritdoc IInferenceMarket
    function setProtocolFee(uint16 bps) external onlyOwner {
        if (bps > MAX_PROTOCOL_FEE_BPS) revert ProtocolFeeTooHigh(bps);
        emit ProtocolFeeChanged(_protocolFeeBps, bps);
        _protocolFeeBps = bps;
    }

    /// @inheritdoc IInferenceMarket
    function setFeeRecipient(address recipient) external onlyOwner {
        if (recipient == address(0)) revert InvalidPayee();
        emit FeeRecipientChanged(_feeRecipient, recipient);
        _feeRecipient = recipient;
    }

    /// @notice Stops new requests and locks (owner only); fulfil, refund and withdraw keep
    /// working, so no escrow, stake or credit is ever trapped by a pause.
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Accepts requests and locks again (owner only).
    function unpause() external onlyOwner {
        _unpause();
    }

    // --- views -----------------------------------------------------------------------------------

    /// @inheritdoc IInferenceMarket
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IInferenceMarket
    function getOffer(uint256 modelId) external view returns (Offer memory) {
        OfferData storage offer = _offers[modelId];
        return Offer({
            token: offer.token,
            payee: offer.payee,
            price: offer.price,
            lockStake: offer.lockStake,
            lockWindow: offer.lockWindow,
            version: offer.version,
            open: offer.open
        });
    }

    /// @inheritdoc IInferenceMarket
    /// @dev The shape of the version's latest serving (zero if it never served).
    function shapeOf(uint256 modelId, uint32 version) external view returns (Shape memory shape, bool serving) {
        uint32 servingId = _servingIds[modelId][version];
        if (servingId == 0) return (shape, false);
        Serving storage record = _serving[servingId];
        shape = Shape(record.batchSize, record.leadingInstances, record.inputsPerInference, record.outputsPerInference);
        serving = !record.retired;
    }

    /// @inheritdoc IInferenceMarket
    /// @dev The lock fields stay after settlement (who held the request last).
    function getRequest(uint256 requestId) external view returns (RequestInfo memory info) {
        Request storage stored = _requests[requestId];
        uint256 core = stored.core;
        if (core == 0) revert UnknownRequest(requestId);
        Serving storage serving = _serving[_servingOf(core)];
        info.requester = stored.requester;
        info.modelId = serving.modelId;
        info.version = serving.version;
        info.status = RequestStatus(core & STATUS_MASK);
        info.deadline = _deadlineOf(core);
        info.callback = stored.callback;
        info.callbackGasLimit = stored.callbackGasLimit;
        info.token = _offers[serving.modelId].token;
        uint256 amounts = stored.amounts;
        uint256 price = uint128(amounts);
        uint256 protocolAmount = _protocolShare(price, core);
        info.ownerAmount = uint128(price - protocolAmount);
        info.protocolAmount = uint128(protocolAmount);
        info.proverFee = uint128(amounts >> 128);
        info.inputsHash = stored.inputsHash;
        uint256 lockId = _lockOf(core);
        if (lockId != 0) {
            LockRecord storage held = _locks[lockId];
            info.locker = held.locker;
            info.lockedUntil = _min(held.until, info.deadline);
            info.stake = held.stake;
        }
    }

    /// @inheritdoc IInferenceMarket
    /// @dev `None` and no outputs for an id never handed out.
    function resultOf(uint256 requestId) external view returns (RequestStatus status, int256[] memory outputs) {
        uint256 core = _requests[requestId].core;
        status = RequestStatus(core & STATUS_MASK);
        if (status != RequestStatus.Fulfilled) return (status, outputs);
        uint256 count = _serving[_servingOf(core)].outputsPerInference;
        outputs = new int256[](count);
        outputs[0] = _unbias(core >> OUTPUT_SHIFT);
        for (uint256 k = 1; k < count; ++k) {
            outputs[k] = _unbias(_extraOutputs[requestId][k]);
        }
    }

    /// @inheritdoc IInferenceMarket
    function creditOf(address account, IERC20 token) external view returns (uint256) {
        return _credits[token][account];
    }

    /// @inheritdoc IInferenceMarket
    function liabilities(IERC20 token) external view returns (uint256) {
        return _liabilities[token];
    }

    /// @inheritdoc IInferenceMarket
    function requestCount() external view returns (uint256) {
        return _requestCount;
    }

    /// @inheritdoc IInferenceMarket
    function protocolFeeBps() external view returns (uint16) {
        return _protocolFeeBps;
    }

    /// @inheritdoc IInferenceMarket
    function feeRecipient() external view returns (address) {
        return _feeRecipient;
    }

    // --- request helpers -------------------------------------------------------------------------

    /// @dev The terms of a new request so far: the offer's token and price, its version,
    /// core word (open, serving id, protocol fee) and output count. Checks the offer, the
    /// requester, revocation and the input count.
    function _openTerms(uint256 modelId, uint256 inputCount) private view returns (Terms memory terms) {
        OfferData storage offer = _offers[modelId];
        uint32 version = offer.version;
        if (!offer.open || version == 0) revert NoOpenOffer(modelId);
        if (!_registry.isAllowed(modelId, msg.sender)) revert RequesterNotAllowed(modelId, msg.sender);
        uint32 servingId = _servingIds[modelId][version];
        Serving storage serving = _serving[servingId];
        if (_isRevoked(modelId, serving)) revert VersionRevoked(modelId, version);
        uint256 expected = serving.inputsPerInference;
        if (inputCount != expected) revert WrongInputCount(inputCount, expected);
        terms.token = offer.token;
        terms.price = offer.price;
        terms.version = version;
        terms.outputs = serving.outputsPerInference;
        terms.core = OPEN | (uint256(servingId) << SERVING_SHIFT) | (uint256(_protocolFeeBps) << BPS_SHIFT);
    }

    /// @dev keccak256 of the inputs' felts, packed (`InputOutOfRange` for |x| >= 2**128).
    function _hashInputs(int256[] calldata inputs) private pure returns (bytes32 inputsHash) {
        uint256 n = inputs.length;
        uint256[] memory felts = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            int256 value = inputs[i];
            if (value >= int256(MAX_ABS) || value <= -int256(MAX_ABS)) revert InputOutOfRange(i, value);
            felts[i] = value >= 0 ? uint256(value) : FIELD_MODULUS - uint256(-value);
        }
        inputsHash = keccak256(abi.encodePacked(felts));
    }

    /// @dev Writes a new request, and placeholders in its output slots after the first.
    function _store(uint256 requestId, Terms memory terms) private {
        Request storage stored = _requests[requestId];
        stored.core = terms.core | (uint256(terms.deadline) << DEADLINE_SHIFT);
        stored.amounts = uint256(terms.price) | (uint256(terms.proverFee) << 128);
        stored.inputsHash = terms.inputsHash;
        stored.requester = msg.sender;
        if (terms.callback != address(0)) {
            stored.callbackGasLimit = terms.callbackGasLimit;
            stored.callback = terms.callback;
        }
        for (uint256 k = 1; k < terms.outputs; ++k) {
            _extraOutputs[requestId][k] = OUTPUT_PLACEHOLDER;
        }
    }

    /// @dev Emits `Requested` (a function of its own for the stack).
    function _emitRequested(uint256 requestId, uint256 modelId, int256[] calldata inputs, Terms memory terms) private {
        emit Requested(
            requestId,
            modelId,
            msg.sender,
            terms.version,
            inputs,
            terms.deadline,
            terms.escrow,
            terms.proverFee,
            terms.callback,
            terms.callbackGasLimit
        );
    }

    // --- lock helpers ----------------------------------------------------------------------------

    /// @dev The serving's model; `VersionNotServing` when retired, `VersionRevoked` when the
    /// registry revoked the version.
    function _requireServing(uint32 servingId) private view returns (uint256 modelId) {
        Serving storage serving = _serving[servingId];
        modelId = serving.modelId;
        if (serving.retired) revert VersionNotServing(modelId, serving.version);
        if (_isRevoked(modelId, serving)) revert VersionRevoked(modelId, serving.version);
    }

    /// @dev A request's previous lock: `AlreadyLocked` while unexpired, else its stake goes to
    /// the requester (`StakeForfeited`, `Credited`).
    function _releaseExpired(uint256 requestId, uint256 previous, uint64 deadline, IERC20 token, Request storage stored)
        private
    {
        LockRecord storage held = _locks[previous];
        (address locker, uint64 until, uint128 stake) = (held.locker, held.until, held.stake);
        uint64 lockedUntil = _min(until, deadline);
        if (block.timestamp <= lockedUntil) revert AlreadyLocked(requestId, locker, lockedUntil);
        if (stake == 0) return;
        address requester = stored.requester;
        emit StakeForfeited(requestId, locker, requester, stake);
        _credit(token, requester, stake);
    }

    // --- fulfil helpers --------------------------------------------------------------------------

    /// @dev What `fulfil` needs of the serving its first request pinned; `UnknownRequest`,
    /// `RequestNotOpen` for that request, `WrongBatchSize` for more ids than the circuit's batch.
    function _loadBatch(uint256[] calldata requestIds) private view returns (Batch memory batch) {
        uint256 first = requestIds[0];
        uint256 core = _requests[first].core;
        _requireOpen(first, core);
        uint32 servingId = _servingOf(core);
        Serving storage serving = _serving[servingId];
        batch.servingId = servingId;
        batch.verifier = serving.verifier;
        batch.batchSize = serving.batchSize;
        batch.leading = serving.leadingInstances;
        batch.inputs = serving.inputsPerInference;
        batch.outputs = serving.outputsPerInference;
        batch.modelId = serving.modelId;
        batch.paramsCommitment = serving.paramsCommitment;
        if (requestIds.length > batch.batchSize) revert WrongBatchSize(requestIds.length, batch.batchSize);
    }

    /// @dev Step 1 of `fulfil`, reading only: each request distinct, open, of the batch's
    /// serving, before its deadline and locked by the caller; the serving neither retired nor
    /// revoked. Fills `cores`, sums the stakes into `batch` and notes whether any request has
    /// a callback. While each request's slot is at hand it also hashes the slot's inputs
    /// (from `cursor`, the first input instance) and notes the first slot that is not its
    /// request's (`batch.mismatch`); `_checkInstances` reports it in its turn, after the
    /// checks that come before it (hashing first is harmless: calldata past its end reads as
    /// zeros, and the instance count is checked before the report).
    /// The loop is the settlement's hot path, so it is assembly: per request one conjunction
    /// of every condition above over the packed `core` and the (cached) lock record. When it
    /// is false, `_refuseRequest` checks the same conditions again in Solidity, in the order
    /// of `fulfil`'s NatSpec, and reverts with the named error (it returns only when the
    /// duplicate filter's hit was a false positive).
    function _checkRequests(Batch memory batch, uint256[] calldata requestIds, uint256 cursor, uint256[] memory cores)
        private
        view
    {
        // Loop state, packed so the legacy code generator keeps it on the stack:
        //   params: the batch's serving id (bits 0..31), bytes of one slot's inputs (32..)
        //   held:   the cached lock record's first slot (locker | until << 160), its id << 224
        //   acc:    the stakes' sum (bits 0..199: at most MAX_BATCH stakes < 2**128 each),
        //           1 + the first mismatching slot (200..207), any callback (bit 255)
        uint256 params = uint256(batch.servingId) | (batch.inputs << 37);
        uint256 bloom;
        uint256 held;
        uint256 stake;
        uint256 acc;
        for (uint256 i = 0; i < requestIds.length;) {
            bool ok;
            assembly ("memory-safe") {
                let requestId := calldataload(add(requestIds.offset, shl(5, i)))
                let bit := shl(and(requestId, 0xff), 1)
                ok := iszero(and(bloom, bit))
                bloom := or(bloom, bit)
                mstore(0, requestId)
                mstore(0x20, _requests.slot)
                let slot := keccak256(0, 0x40)
                let core := sload(slot)
                let lockId := and(shr(LOCK_SHIFT, core), 0xffffffff)
                if iszero(eq(lockId, shr(224, held))) {
                    mstore(0, lockId)
                    mstore(0x20, _locks.slot)
                    let record := keccak256(0, 0x40)
                    held := or(sload(record), shl(224, lockId))
                    stake := and(sload(add(record, 1)), 0xffffffffffffffffffffffffffffffff)
                }
                let time := timestamp()
                ok := and(
                    and(ok, eq(and(core, STATUS_MASK), OPEN)),
                    and(
                        and(
                            eq(and(shr(SERVING_SHIFT, core), 0xffffffff), and(params, 0xffffffff)),
                            iszero(gt(time, and(shr(DEADLINE_SHIFT, core), 0xffffffffff)))
                        ),
                        and(
                            and(iszero(iszero(lockId)), iszero(gt(time, and(shr(160, held), 0xffffffffffffffff)))),
                            eq(and(held, 0xffffffffffffffffffffffffffffffffffffffff), caller())
                        )
                    )
                )
                mstore(add(cores, shl(5, add(i, 1))), core)
                acc := add(acc, stake)
                if and(core, HAS_CALLBACK) { acc := or(acc, shl(255, 1)) }
                let slotBytes := shr(32, params)
                if iszero(and(shr(200, acc), 0xff)) {
                    // scratch beyond the free memory pointer: hashed and forgotten at once
                    let buffer := mload(0x40)
                    calldatacopy(buffer, cursor, slotBytes)
                    if iszero(eq(keccak256(buffer, slotBytes), sload(add(slot, 2)))) {
                        acc := or(acc, shl(200, add(i, 1)))
                    }
                }
                cursor := add(cursor, slotBytes)
            }
            if (!ok) _refuseRequest(batch, requestIds, i);
            unchecked {
                ++i;
            }
        }
        batch.stakes = acc & ((uint256(1) << 200) - 1);
        batch.mismatch = (acc >> 200) & 0xff;
        batch.callbacks = acc >> 255 != 0;
        Serving storage serving = _serving[batch.servingId];
        if (serving.retired) revert VersionNotServing(batch.modelId, serving.version);
        if (_isRevoked(batch.modelId, serving)) revert VersionRevoked(batch.modelId, serving.version);
    }

    /// @dev The slow path of `_checkRequests` for request `i`: reverts with `DuplicateRequest`,
    /// `UnknownRequest`, `RequestNotOpen`, `MixedVersions`, `RequestExpired` or `NotLocker`,
    /// in that order, or returns when none applies (a false positive of the duplicate filter).
    function _refuseRequest(Batch memory batch, uint256[] calldata requestIds, uint256 i) private view {
        uint256 requestId = requestIds[i];
        for (uint256 j = 0; j < i; ++j) {
            if (requestIds[j] == requestId) revert DuplicateRequest(requestId);
        }
        uint256 core = _requests[requestId].core;
        _requireOpen(requestId, core);
        if (_servingOf(core) != batch.servingId) revert MixedVersions(requestId);
        uint64 deadline = _deadlineOf(core);
        if (block.timestamp > deadline) revert RequestExpired(requestId, deadline);
        uint256 lockId = _lockOf(core);
        LockRecord storage record = _locks[lockId];
        if (lockId == 0 || record.locker != msg.sender || block.timestamp > record.until) {
            revert NotLocker(requestId, msg.sender);
        }
    }

    /// @dev Step 2 of `fulfil`: the instances' count, field, weights commitment, each
    /// request's inputs in its slot, and zero padding. Every instance must be < r; on the
    /// success path only the leading and output instances are scanned for it, since a
    /// request slot's inputs hash to the request's canonical felts (all < r) and padding is
    /// 0. Any refusal first scans them all, so the error is always the one a full scan in
    /// circuit order gives (`InstanceNotInField` for the first felt >= r).
    function _checkInstances(Batch memory batch, uint256[] calldata requestIds, uint256[] calldata instances)
        private
        pure
    {
        uint256 leading = batch.leading;
        uint256 perSlot = batch.inputs;
        uint256 paddingEnd = leading + batch.batchSize * perSlot;
        uint256 expected = paddingEnd + batch.batchSize * batch.outputs;
        if (instances.length != expected) revert WrongInstanceCount(instances.length, expected);
        if (_firstWhere(instances, 0, leading, false) < leading) _refuseOutOfField(instances);
        if (_firstWhere(instances, paddingEnd, expected, false) < expected) _refuseOutOfField(instances);
        bytes32 commitment = batch.paramsCommitment;
        if (leading != 0 && commitment != bytes32(0) && bytes32(instances[0]) != commitment) {
            _refuseOutOfField(instances);
            revert ParamsMismatch(commitment, bytes32(instances[0]));
        }
        uint256 mismatch = batch.mismatch;
        if (mismatch != 0) {
            _refuseOutOfField(instances);
            revert InputsMismatch(requestIds[mismatch - 1], mismatch - 1);
        }
        uint256 n = requestIds.length;
        uint256 found = _firstWhere(instances, leading + n * perSlot, paddingEnd, true);
        if (found < paddingEnd) {
            _refuseOutOfField(instances);
            revert PaddingNotZero(found, instances[found]);
        }
    }

    /// @dev Reverts with `InstanceNotInField` for the first instance >= r, if there is one.
    function _refuseOutOfField(uint256[] calldata instances) private pure {
        uint256 found = _firstWhere(instances, 0, instances.length, false);
        if (found < instances.length) revert InstanceNotInField(found, instances[found]);
    }

    /// @dev The first index in [from, to) of an instance that is >= r (`nonzero` false) or
    /// that is not 0 (`nonzero` true); `to` when there is none. `to` <= instances.length.
    function _firstWhere(uint256[] calldata instances, uint256 from, uint256 to, bool nonzero)
        private
        pure
        returns (uint256 index)
    {
        assembly ("memory-safe") {
            let start := instances.offset
            let end := add(start, shl(5, to))
            let p := add(start, shl(5, from))
            switch nonzero
            case 0 {
                for {} lt(p, end) { p := add(p, 32) } { if iszero(lt(calldataload(p), FIELD_MODULUS)) { break } }
            }
            default {
                for {} lt(p, end) { p := add(p, 32) } { if calldataload(p) { break } }
            }
            index := shr(5, sub(p, start))
        }
    }

    /// @dev Step 3 of `fulfil`, after the proof verified: for each request, decodes its
    /// outputs (`OutputOutOfRange`), marks it fulfilled with its first output in the same
    /// write, stores the others over their placeholders and emits `Fulfilled`; then credits
    /// the batch's sums once per account: the prover its fees and its stakes back, the payee
    /// the owner shares, the fee recipient the protocol fees. Returns the outputs for the
    /// callbacks.
    function _settle(
        Batch memory batch,
        uint256[] calldata requestIds,
        uint256[] memory cores,
        uint256[] calldata instances
    ) private returns (int256[][] memory results) {
        uint256 n = requestIds.length;
        uint256 outputs = batch.outputs;
        uint256 cursor = batch.leading + batch.batchSize * batch.inputs;
        bytes32 topic = Fulfilled.selector;
        // the prices, the protocol fees, the prover's fees and stakes (at most MAX_BATCH
        // amounts < 2**128 each, and the stakes' sum: no overflow)
        uint256[3] memory totals = [uint256(0), 0, batch.stakes];
        // the outputs are kept for the callbacks only when there are any
        if (batch.callbacks) results = new int256[][](n);
        for (uint256 k = 0; k < n;) {
            int256[] memory decoded = _decodeOutputs(instances, cursor, outputs);
            uint256 requestId;
            assembly ("memory-safe") {
                requestId := calldataload(add(requestIds.offset, shl(5, k)))
                let core := mload(add(cores, shl(5, add(k, 1))))
                mstore(0, requestId)
                mstore(0x20, _requests.slot)
                let slot := keccak256(0, 0x40) // Request.core; Request.amounts is the next slot
                let amounts := sload(add(slot, 1))
                let price := and(amounts, 0xffffffffffffffffffffffffffffffff)
                mstore(totals, add(mload(totals), price))
                let fees := add(totals, 0x20)
                mstore(fees, add(mload(fees), div(mul(price, and(shr(BPS_SHIFT, core), BPS_MASK)), BPS_DENOMINATOR)))
                let prover := add(totals, 0x40)
                mstore(prover, add(mload(prover), shr(128, amounts)))
                // fulfilled, with the first output + 2**128 in the top 129 bits (as `_bias`)
                sstore(
                    slot,
                    or(
                        or(and(core, KEPT_AT_SETTLEMENT), FULFILLED),
                        shl(OUTPUT_SHIFT, add(mload(add(decoded, 0x20)), MAX_ABS))
                    )
                )
                if and(core, HAS_CALLBACK) { mstore(add(results, shl(5, add(k, 1))), decoded) }
                // Fulfilled(requestId, msg.sender, decoded), from the ABI encoding
                // `_decodeOutputs` laid out in memory
                log3(sub(decoded, 0x20), add(0x40, shl(5, mload(decoded))), topic, requestId, caller())
            }
            for (uint256 j = 1; j < outputs; ++j) {
                _extraOutputs[requestId][j] = _bias(decoded[j]);
            }
            unchecked {
                cursor += outputs;
                ++k;
            }
        }
        OfferData storage offer = _offers[batch.modelId];
        IERC20 token = offer.token;
        _credit(token, msg.sender, totals[2]);
        _credit(token, offer.payee, totals[0] - totals[1]);
        _credit(token, _feeRecipient, totals[1]);
    }

    /// @dev The `count` outputs from instance `from` on (all already known < r), decoded as
    /// signed values (`OutputOutOfRange` in the band between 2**128 and r - 2**128). The
    /// array is allocated right after a word holding 0x20, so that the memory from that word
    /// on is the ABI encoding of `(int256[])`: `_emitFulfilled` logs it without re-encoding.
    function _decodeOutputs(uint256[] calldata instances, uint256 from, uint256 count)
        private
        pure
        returns (int256[] memory decoded)
    {
        uint256 bad;
        assembly ("memory-safe") {
            let head := mload(0x40)
            mstore(head, 0x20)
            decoded := add(head, 0x20)
            mstore(decoded, count)
            let out := add(decoded, 0x20)
            let p := add(instances.offset, shl(5, from))
            let end := add(p, shl(5, count))
            let negativeFrom := sub(FIELD_MODULUS, MAX_ABS)
            for {} lt(p, end) { p := add(p, 0x20) } {
                let felt := calldataload(p)
                switch lt(felt, MAX_ABS)
                case 1 { mstore(out, felt) }
                default {
                    if iszero(gt(felt, negativeFrom)) {
                        bad := felt
                        break
                    }
                    mstore(out, sub(0, sub(FIELD_MODULUS, felt)))
                }
                out := add(out, 0x20)
            }
            mstore(0x40, out)
        }
        // 0 is a small positive value, never a refused one
        if (bad != 0) revert OutputOutOfRange(bad);
    }

    /// @dev Tells a request's callback of its result with exactly its gas limit. Reverts with
    /// `InsufficientGasForCallback` when less than the limit would reach the callback (the
    /// 63/64 rule, after `CALLBACK_GAS_RESERVE` for the call itself), so a prover cannot
    /// starve a callback into failing. The return data is never copied (a return bomb costs
    /// the market nothing); a revert, an out-of-gas or a callback without code is
    /// `CallbackFailed`, and the settlement stands.
    function _notify(uint256 requestId, int256[] memory outputs) private {
        Request storage stored = _requests[requestId];
        address callback = stored.callback;
        uint256 gasLimit = stored.callbackGasLimit;
        bytes memory data = abi.encodeCall(IInferenceConsumer.onInference, (requestId, outputs));
        bool ok;
        if (callback.code.length != 0) {
            uint256 available = gasleft();
            if (available < CALLBACK_GAS_RESERVE) revert InsufficientGasForCallback(requestId);
            available -= CALLBACK_GAS_RESERVE;
            if (available - available / 64 < gasLimit) revert InsufficientGasForCallback(requestId);
            assembly ("memory-safe") {
                ok := call(gasLimit, callback, 0, add(data, 32), mload(data), 0, 0)
            }
        }
        if (!ok) emit CallbackFailed(requestId, callback);
    }

    /// @dev Asks the serving's verifier about the proof, through the typed interface so the
    /// call is canonically re-encoded (DESIGN.md rule 1). Accepts only a successful call whose
    /// answer is at least 32 bytes with a first word of exactly 1, as `ZkmlConsumer`.
    function _verifierAccepts(address verifier, bytes calldata proof, uint256[] calldata instances)
        private
        returns (bool accepted)
    {
        bytes memory data = abi.encodeCall(IHalo2Verifier.verifyProof, (proof, instances));
        assembly ("memory-safe") {
            let ok := call(gas(), verifier, 0, add(data, 32), mload(data), 0, 32)
            accepted := and(and(ok, iszero(lt(returndatasize(), 32))), eq(mload(0), 1))
        }
    }

    // --- shared helpers --------------------------------------------------------------------------

    /// @dev Only the model's owner in the registry (`NotModelOwner`, also for unknown
    /// models). Returns the model's version count.
    function _onlyModelOwner(uint256 modelId) private view returns (uint256 versionCount) {
        if (modelId == 0 || modelId > _registry.modelCount()) revert NotModelOwner(modelId, msg.sender);
        address owner_;
        (owner_,,, versionCount,) = _registry.getModel(modelId);
        if (owner_ != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }

    /// @dev Whether the registry revoked the serving's version: `checkUsable` answers in a
    /// few reads (success: not revoked; `VersionIsRevoked`: revoked); any other answer (a
    /// restricted model whose allowlist lacks the caller) falls back to the full record.
    function _isRevoked(uint256 modelId, Serving storage serving) private view returns (bool) {
        try _registry.checkUsable(modelId, serving.verifier, bytes32(0), serving.paramsCommitment, msg.sender) returns (
            uint256
        ) {
            return false;
        } catch (bytes memory reason) {
            if (reason.length >= 4 && bytes4(reason) == IModelRegistryCheckErrors.VersionIsRevoked.selector) {
                return true;
            }
        }
        return _registry.getVersion(modelId, serving.version).revoked;
    }

    /// @dev `UnknownRequest` for a request never made, `RequestNotOpen` for a settled one.
    function _requireOpen(uint256 requestId, uint256 core) private pure {
        uint256 status = core & STATUS_MASK;
        if (status == OPEN) return;
        if (core == 0) revert UnknownRequest(requestId);
        revert RequestNotOpen(requestId, RequestStatus(status));
    }

    /// @dev `DuplicateRequest` if `requestIds[i]` appeared before index i. A 256-bit filter
    /// on the id's low byte makes the common case (distinct, often consecutive ids) one AND;
    /// only a filter hit compares with the earlier ids.
    function _checkDistinct(uint256[] calldata requestIds, uint256 i, uint256 bloom) private pure returns (uint256) {
        uint256 requestId;
        assembly ("memory-safe") {
            // i < requestIds.length, checked by every caller's loop
            requestId := calldataload(add(requestIds.offset, shl(5, i)))
        }
        uint256 bit = uint256(1) << (requestId & 0xff);
        if (bloom & bit != 0) {
            for (uint256 j = 0; j < i; ++j) {
                if (requestIds[j] == requestId) revert DuplicateRequest(requestId);
            }
        }
        return bloom | bit;
    }

    /// @dev Pulls `amount` of `token` from the caller, balance-delta checked (`EscrowShort`
    /// for fee-on-transfer and other tokens that move another amount), and books it.
    function _pull(IERC20 token, uint256 amount) private {
        if (amount == 0) return;
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 balance = token.balanceOf(address(this));
        uint256 received = balance > before ? balance - before : 0;
        if (received != amount) revert EscrowShort(amount, received);
        _liabilities[token] += amount;
    }

    /// @dev Adds to an account's credit (nothing for 0), emitting `Credited`.
    function _credit(IERC20 token, address account, uint256 amount) private {
        if (amount == 0) return;
        _credits[token][account] += amount;
        emit Credited(account, token, amount);
    }

    /// @dev The protocol's share of a request's price (< 2**128), at the fee its core pinned;
    /// the payee's share is the rest.
    function _protocolShare(uint256 price, uint256 core) private pure returns (uint256) {
        unchecked {
            return price * ((core >> BPS_SHIFT) & BPS_MASK) / BPS_DENOMINATOR;
        }
    }

    /// @dev A decoded output (|v| < 2**128) as 129 bits, never 0: v + 2**128.
    function _bias(int256 value) private pure returns (uint256) {
        return uint256(value + int256(MAX_ABS));
    }

    /// @dev The inverse of `_bias`.
    function _unbias(uint256 biased) private pure returns (int256) {
        return int256(biased) - int256(MAX_ABS);
    }

    /// @dev The serving id a request's core pins.
    function _servingOf(uint256 core) private pure returns (uint32) {
        return uint32(core >> SERVING_SHIFT);
    }

    /// @dev A request's deadline, from its core.
    function _deadlineOf(uint256 core) private pure returns (uint64) {
        return uint64(uint40(core >> DEADLINE_SHIFT));
    }

    /// @dev The id of a request's (latest) lock record, 0 if never locked.
    function _lockOf(uint256 core) private pure returns (uint256) {
        return uint32(core >> LOCK_SHIFT);
    }

    /// @dev The earlier of two times (a lock ends at its request's deadline at the latest).
    function _min(uint64 a, uint64 b) private pure returns (uint64) {
        return a < b ? a : b;
    }
}
