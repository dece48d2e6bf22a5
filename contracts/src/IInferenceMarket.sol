// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @dev Where a request stands. Fulfilled and Refunded are final, and a request reaches at
/// most one of them.
enum RequestStatus {
    None,
    Open,
    Fulfilled,
    Refunded
}

/// @dev How the public instances of a served version's circuit are laid out. A batch-N
/// circuit proves N inferences at once: `leadingInstances` (1 for hashed params: the
/// weights' Poseidon hash; else 0), then N x `inputsPerInference` input felts (inference j's
/// inputs contiguous, j = 0..N-1), then N x `outputsPerInference` output felts in the same
/// order. Slots no request fills are padding: every input felt of a padding slot is 0.
struct Shape {
    /// N, the inferences one proof covers (1..MAX_BATCH).
    uint16 batchSize;
    /// Instances before the inputs (0, or 1 for hashed params).
    uint16 leadingInstances;
    /// Input felts per inference (the flattened input tensor without its batch dimension).
    uint16 inputsPerInference;
    /// Output felts per inference.
    uint16 outputsPerInference;
}

/// @dev What a model's owner sells: the price of one inference in `token`, paid to `payee`
/// when a proof of it verifies, and the terms of a prover's lock.
struct Offer {
    /// The ERC-20 every request for this model pays in; fixed once set.
    IERC20 token;
    /// Receives the price of each fulfilled inference (less the protocol fee): any address,
    /// a splitter or a multisig.
    address payee;
    /// Price per inference, in `token`'s units.
    uint128 price;
    /// What a prover posts per request it locks; returned when it fulfils in time, paid to
    /// the requester when the lock expires unfulfilled.
    uint128 lockStake;
    /// Seconds a lock lasts (never beyond the request's deadline).
    uint32 lockWindow;
    /// The version new requests pin (0 until the owner serves one).
    uint32 version;
    /// Whether new requests are accepted.
    bool open;
}

/// @dev Everything the market records about one request.
struct RequestInfo {
    /// The account that paid the escrow and receives refunds and forfeited stakes.
    address requester;
    /// The registry model.
    uint256 modelId;
    /// The version pinned at request time: only a proof of its circuit fulfils the request.
    uint32 version;
    /// Where the request stands.
    RequestStatus status;
    /// Last second at which the request may be fulfilled; refundable after it.
    uint64 deadline;
    /// The contract told of the result (`IInferenceConsumer`), or 0.
    address callback;
    /// Gas forwarded to the callback.
    uint32 callbackGasLimit;
    /// The token of the escrow (the offer's token).
    IERC20 token;
    /// The model's payee's share of the escrow (the price less the protocol fee).
    uint128 ownerAmount;
    /// The protocol fee, pinned at request time.
    uint128 protocolAmount;
    /// The prover's fee.
    uint128 proverFee;
    /// keccak256 of the request's input felts, packed (`abi.encodePacked(uint256[])`).
    bytes32 inputsHash;
    /// The prover holding the lock, or 0.
    address locker;
    /// Last second of the lock (0 when never locked).
    uint64 lockedUntil;
    /// The stake the locker posted for this request.
    uint128 stake;
}

/// @title Inference consumer
/// @notice What a contract implements to be told of the result of its request.
interface IInferenceConsumer {
    /// @notice Called by the market once, after the request is settled. A revert here is
    /// recorded (`CallbackFailed`) and does not undo the settlement.
    /// @param requestId The request.
    /// @param outputs The proven outputs, signed fixed point at the circuit's output scale.
    function onInference(uint256 requestId, int256[] calldata outputs) external;
}

/// @title Inference Market Events
interface IInferenceMarketEvents {
    /// @notice A model's owner set or changed the offer (`open` is true after this).
    event OfferSet(
        uint256 indexed modelId,
        IERC20 indexed token,
        address indexed payee,
        uint128 price,
        uint128 lockStake,
        uint32 lockWindow
    );
    /// @notice A model's owner stopped new requests for the model.
    event OfferClosed(uint256 indexed modelId);
    /// @notice A version serves requests; new requests pin it from now on.
    event VersionServed(
        uint256 indexed modelId,
        uint32 indexed version,
        uint16 batchSize,
        uint16 leadingInstances,
        uint16 inputsPerInference,
        uint16 outputsPerInference
    );
    /// @notice A version no longer serves: its open requests are refundable, not fulfillable.
    event VersionRetired(uint256 indexed modelId, uint32 indexed version);
    /// @notice A request was escrowed. `inputs` are what the prover must prove on.
    event Requested(
        uint256 indexed requestId,
        uint256 indexed modelId,
        address indexed requester,
        uint32 version,
        int256[] inputs,
        uint64 deadline,
        uint256 escrow,
        uint128 proverFee,
        address callback,
        uint32 callbackGasLimit
    );
    /// @notice A prover locked a request until `lockedUntil`, posting `stake`.
    event Locked(uint256 indexed requestId, address indexed locker, uint64 lockedUntil, uint128 stake);
    /// @notice An expired lock's stake went to the requester.
    event StakeForfeited(uint256 indexed requestId, address indexed locker, address indexed requester, uint128 stake);
    /// @notice A request was settled by a verified proof; its outputs are `resultOf`.
    event Fulfilled(uint256 indexed requestId, address indexed prover, int256[] outputs);
    /// @notice The request's callback reverted, ran out of gas or was not a contract.
    event CallbackFailed(uint256 indexed requestId, address indexed callback);
    /// @notice The escrow went back to the requester (credited; `withdraw` pays it out).
    event Refunded(uint256 indexed requestId, address indexed requester, uint256 amount);
    /// @notice An account's credit grew (settlement, refund, forfeited or returned stake).
    event Credited(address indexed account, IERC20 indexed token, uint256 amount);
    /// @notice An account withdrew its credit.
    event Withdrawn(address indexed account, IERC20 indexed token, uint256 amount);
    /// @notice The market's owner changed the protocol fee (applies to later requests).
    event ProtocolFeeChanged(uint16 previousBps, uint16 newBps);
    /// @notice The market's owner changed who receives protocol fees.
    event FeeRecipientChanged(address indexed previousRecipient, address indexed newRecipient);
}

/// @title Inference Market Errors
/// @notice Every rejection of the market, by name.
interface IInferenceMarketErrors {
    /// @notice The registry given to the constructor has no code.
    error InvalidRegistry(address registry);
    /// @notice Only the model's owner in the registry may do this.
    error NotModelOwner(uint256 modelId, address caller);
    /// @notice The token is the zero address or has no code.
    error InvalidToken(address token);
    /// @notice An offer's token cannot change once set (open requests and credits are in it).
    error TokenFixed(uint256 modelId, IERC20 token);
    /// @notice The payee or fee recipient is the zero address.
    error InvalidPayee();
    /// @notice The lock window is outside [MIN_LOCK_WINDOW, MAX_LOCK_WINDOW].
    error InvalidLockWindow(uint32 lockWindow);
    /// @notice The shape is not a circuit: batch 1..MAX_BATCH, at least one input and output.
    error InvalidShape();
    /// @notice The version is not a registered version of the model.
    error UnknownVersion(uint256 modelId, uint32 version);
    /// @notice The version is revoked in the registry.
    error VersionRevoked(uint256 modelId, uint32 version);
    /// @notice The version does not serve requests (never served, or retired).
    error VersionNotServing(uint256 modelId, uint32 version);
    /// @notice The version is verified through a VKA digest (ezkl's reusable verifier), whose
    /// calldata is not `IHalo2Verifier.verifyProof`'s: no proof of it could settle a request.
    error UnsupportedVerifier(uint256 modelId, uint32 version);
    /// @notice The model has no offer, or it is closed, or it serves no version yet.
    error NoOpenOffer(uint256 modelId);
    /// @notice The requester is not on the model's allowlist in the registry.
    error RequesterNotAllowed(uint256 modelId, address requester);
    /// @notice A request carries another number of inputs than the pinned circuit takes.
    error WrongInputCount(uint256 given, uint256 expected);
    /// @notice An input's magnitude is 2**128 or more: it cannot be a fixed-point felt.
    error InputOutOfRange(uint256 index, int256 value);
    /// @notice The deadline is not in the future, or further than MAX_REQUEST_TTL ahead.
    error InvalidDeadline(uint64 deadline);
    /// @notice The callback gas limit is above MAX_CALLBACK_GAS, or a limit without a callback.
    error InvalidCallbackGasLimit(uint32 callbackGasLimit);
    /// @notice The callback is not a contract.
    error InvalidCallback(address callback);
    /// @notice The token moved less than the amount asked (a fee-on-transfer token).
    error EscrowShort(uint256 expected, uint256 received);
    /// @notice No request has this id.
    error UnknownRequest(uint256 requestId);
    /// @notice The request is fulfilled or refunded already.
    error RequestNotOpen(uint256 requestId, RequestStatus status);
    /// @notice The request's deadline has passed.
    error RequestExpired(uint256 requestId, uint64 deadline);
    /// @notice Another prover holds an unexpired lock on the request.
    error AlreadyLocked(uint256 requestId, address locker, uint64 lockedUntil);
    /// @notice The caller does not hold an unexpired lock on the request.
    error NotLocker(uint256 requestId, address caller);
    /// @notice No request ids were given, or more than the circuit's batch size.
    error WrongBatchSize(uint256 given, uint256 batchSize);
    /// @notice The same request appears twice in one call.
    error DuplicateRequest(uint256 requestId);
    /// @notice The requests of one call are for different models or versions.
    error MixedVersions(uint256 requestId);
    /// @notice The proof carries another number of instances than the pinned circuit has.
    error WrongInstanceCount(uint256 given, uint256 expected);
    /// @notice A public instance is not a canonical field element (it is >= r).
    error InstanceNotInField(uint256 index, uint256 value);
    /// @notice The weights commitment in the proof is not the pinned version's.
    error ParamsMismatch(bytes32 expected, bytes32 given);
    /// @notice The inputs in slot `slot` of the proof are not the request's.
    error InputsMismatch(uint256 requestId, uint256 slot);
    /// @notice A padding slot's input felt is not 0.
    error PaddingNotZero(uint256 index, uint256 value);
    /// @notice The verifier returned false, reverted, or answered malformed data.
    error ProofRejected();
    /// @notice An output felt is neither a small positive nor a small negative value.
    error OutputOutOfRange(uint256 value);
    /// @notice Less gas is left than the callback's limit would need (the 63/64 rule):
    /// sending more gas lets the fulfilment through.
    error InsufficientGasForCallback(uint256 requestId);
    /// @notice The request is not refundable yet: before its deadline, with its version
    /// still serving and not revoked.
    error NotRefundable(uint256 requestId);
    /// @notice The caller has no credit in this token.
    error NothingToWithdraw(IERC20 token);
    /// @notice The protocol fee is above MAX_PROTOCOL_FEE_BPS.
    error ProtocolFeeTooHigh(uint16 bps);
}

/// @title Inference Market
/// @notice Contracts and people buy inferences of registered models in ERC-20; a prover is
/// paid, and the model's owner earns the price, only when a proof of the inference verifies
/// on chain against the version the request pinned.
/// @dev Life of a request: `request` escrows price + prover fee (balance-delta checked) and
/// stores a hash of the inputs -> a prover `lock`s it, posting a stake, so that only it may
/// fulfil during the lock (a proof copied from the mempool earns a copier nothing) ->
/// `fulfil` settles up to N requests with one proof of the pinned batch-N circuit, credits
/// prover, payee and protocol, stores the outputs and calls each callback with its gas
/// limit -> or, after the deadline or once the version is retired or revoked, `refund`
/// credits the escrow back. All payments are pull (`withdraw`). Invariant, per token:
/// balance == open escrows + posted stakes + credits.
interface IInferenceMarket is IInferenceMarketEvents, IInferenceMarketErrors {
    // --- model owners ---

    /// @notice Sets or changes the model's offer and opens it (model owner only). The token
    /// cannot change once set. Open requests keep the amounts they escrowed.
    function setOffer(
        uint256 modelId,
        IERC20 token,
        address payee,
        uint128 price,
        uint128 lockStake,
        uint32 lockWindow
    ) external;

    /// @notice Stops new requests for the model (model owner only); open ones stay fulfillable.
    function closeOffer(uint256 modelId) external;

    /// @notice Makes a registered, unrevoked version serve requests with its circuit's shape
    /// (model owner only); new requests pin it from now on. Serving it again with another
    /// shape is refused while it serves (`retireVersion` first).
    function serveVersion(uint256 modelId, uint32 version, Shape calldata shape) external;

    /// @notice Retires a serving version (model owner only): its open requests become
    /// refundable and no proof of it fulfils anything any more.
    function retireVersion(uint256 modelId, uint32 version) external;

    // --- requesters ---

    /// @notice Asks for one inference of `modelId` on `inputs` (signed fixed point at the
    /// circuit's input scale), escrowing the offer's price plus `proverFee` from the caller
    /// (approve the market first).
    /// @param callback A contract implementing `IInferenceConsumer`, or 0.
    /// @param callbackGasLimit Gas for the callback (0 without one).
    /// @param deadline Last second at which the request may be fulfilled.
    /// @param proverFee What the prover earns on top of the price.
    /// @return requestId The new request's id (ids start at 1).
    function request(
        uint256 modelId,
        int256[] calldata inputs,
        address callback,
        uint32 callbackGasLimit,
        uint64 deadline,
        uint128 proverFee
    ) external returns (uint256 requestId);

    /// @notice Credits an open request's escrow back to its requester, once its deadline has
    /// passed or its version is retired or revoked (anyone may call). A lock that expired
    /// unfulfilled forfeits its stake to the requester; an unexpired lock's stake goes back
    /// to its locker.
    function refund(uint256 requestId) external;

    // --- provers ---

    /// @notice Locks open requests for the caller for the offer's lock window (capped at each
    /// request's deadline), posting the offer's lock stake per request. A request whose
    /// previous lock expired may be locked again; that lock's stake goes to the requester.
    function lock(uint256[] calldata requestIds) external;

    /// @notice Settles requests the caller locked with one proof of their pinned version's
    /// circuit: request k's inputs must be slot k's (in the order given), unused slots are
    /// zero padding. Verifies once, then credits, stores outputs and calls callbacks.
    function fulfil(uint256[] calldata requestIds, bytes calldata proof, uint256[] calldata instances) external;

    // --- everyone ---

    /// @notice Pays out the caller's credit in `token`.
    function withdraw(IERC20 token) external;

    // --- market owner ---

    /// @notice Sets the protocol fee, in bps of the price, for later requests (owner only).
    function setProtocolFee(uint16 bps) external;

    /// @notice Sets who receives protocol fees (owner only).
    function setFeeRecipient(address recipient) external;

    // --- views ---

    /// @notice The model registry whose models, owners, versions and allowlists count.
    function registry() external view returns (address);

    /// @notice A model's offer.
    function getOffer(uint256 modelId) external view returns (Offer memory);

    /// @notice The shape a version serves with, and whether it serves.
    function shapeOf(uint256 modelId, uint32 version) external view returns (Shape memory shape, bool serving);

    /// @notice Everything recorded about a request (`UnknownRequest` for an id never handed out).
    function getRequest(uint256 requestId) external view returns (RequestInfo memory);

    /// @notice A request's status and, once fulfilled, its outputs (else empty).
    function resultOf(uint256 requestId) external view returns (RequestStatus status, int256[] memory outputs);

    /// @notice What `account` may withdraw in `token`.
    function creditOf(address account, IERC20 token) external view returns (uint256);

    /// @notice Open escrows + posted stakes + credits in `token`: what the market owes, which
    /// equals its balance of `token`.
    function liabilities(IERC20 token) external view returns (uint256);

    /// @notice The number of requests made (the newest id).
    function requestCount() external view returns (uint256);

    /// @notice The protocol fee for new requests, in bps of the price.
    function protocolFeeBps() external view returns (uint16);

    /// @notice Who receives protocol fees.
    function feeRecipient() external view returns (address);
}
