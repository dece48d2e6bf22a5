// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {
    IInferenceConsumer,
    IInferenceMarket,
    IInferenceMarketErrors,
    Offer,
    RequestInfo,
    RequestStatus
} from "../IInferenceMarket.sol";
import {OwnableNoRenounce} from "../OwnableNoRenounce.sol";

/// @title Digit reader (example caller of the inference market)
/// @notice Buys the `digits` model's reading of 8x8 images from the `InferenceMarket` for
/// whoever asks and pays, and keeps one label per image: the argmax of the 10 proven
/// logits of the first request for that image to be fulfilled. If the market refunds a
/// request, the escrow it sends back to this contract is forwarded to the account that paid
/// for it (`reclaim`). Its owner can only pause new reads.
/// @dev The second example to copy for "a contract buys a proven inference", this time on
/// behalf of third parties, so it holds other people's money for a while and says exactly
/// whose it is:
///   - inputs (rule 3): the pixels the reader gives, encoded here exactly as the circuit
///     was built to read them (see `_encode`); the market binds the proof to their hash.
///   - freshness (rule 4): answers are keyed on the market's request id (only ids this
///     contract made, only from the market), labels on the image hash; never proof bytes.
///   - money (rule 7): `read` pulls the escrow from the reader balance-delta checked, and
///     passes it to the market, which pulls it again; a refund comes back to this contract
///     as requester, and `reclaim` forwards exactly the escrow of that request, once, to its
///     reader (pull payment: anyone may trigger it, only the reader receives). Both entry
///     points that move tokens are `nonReentrant`.
///   - bounded effect (rule 6): a label is written once and never changes; the owner pauses
///     new reads, never answers already paid for, never a reader's refund.
/// Stakes the market forfeits to this contract (a prover's lock expired on one of its
/// requests) belong to no reader's escrow: they are never forwarded and stay here. So this
/// contract's token balance plus its market credit never falls below what readers are owed.
contract DigitReader is IInferenceConsumer, OwnableNoRenounce, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Pixels per image (8 x 8, row-major).
    uint256 public constant PIXELS = 64;
    /// @notice Digit classes, one logit each.
    uint256 public constant CLASSES = 10;
    /// @notice The largest pixel value (the sklearn digits range is 0..16).
    uint8 public constant PIXEL_MAX = 16;

    /// @notice The market readings are bought from (the only sender `onInference` accepts).
    IInferenceMarket public immutable market;
    /// @notice The digits model's id in the market's registry: every read pins it.
    uint256 public immutable modelId;
    /// @notice Fixed-point scale (bits) of the digits circuit's inputs.
    uint8 public immutable inputScale;
    /// @notice Gas the market forwards to `onInference` (enough for cold storage and a new label).
    uint32 public immutable callbackGasLimit;

    /// @dev One request this contract made. `reader` and `owed` share a slot.
    /// @param reader The account that paid for it (never 0 for a request made here).
    /// @param owed The escrow still to forward if the market refunds it; 0 once forwarded.
    /// @param imageHash The image asked about.
    struct ReadRequest {
        address reader;
        uint96 owed;
        bytes32 imageHash;
    }

    /// @dev A recorded label; both fields share one slot.
    struct Label {
        bool known;
        uint8 digit;
    }

    /// @dev The requests this contract made, by market request id.
    mapping(uint256 requestId => ReadRequest) private _requests;
    /// @dev Labels by image hash.
    mapping(bytes32 imageHash => Label) private _labels;

    /// @notice A constructor parameter is out of range.
    error InvalidConfig();
    /// @notice A pixel is above `PIXEL_MAX`: the circuit was built for 0..16 only.
    /// @param index The pixel's position (row-major).
    /// @param value The refused value.
    error InvalidPixel(uint256 index, uint8 value);
    /// @notice The image has a label already; another reading could not change it, so it
    /// is not bought.
    /// @param imageHash The image.
    /// @param digit Its label.
    error AlreadyKnown(bytes32 imageHash, uint8 digit);
    /// @notice Price plus prover fee does not fit the 96 bits a request's escrow is kept in
    /// (about 7.9e28 of the token's smallest unit).
    /// @param escrow The refused amount.
    error EscrowTooLarge(uint256 escrow);
    /// @notice The token moved another amount than the escrow from the reader (a
    /// fee-on-transfer token): passing it on would spend other readers' refunds.
    /// @param expected The escrow.
    /// @param received What arrived.
    error PaymentShort(uint256 expected, uint256 received);
    /// @notice `onInference` from another sender than the market.
    /// @param caller The refused sender.
    error NotMarket(address caller);
    /// @notice Not a request this contract made.
    /// @param requestId The refused id.
    error UnexpectedRequest(uint256 requestId);
    /// @notice The market answered another number of outputs than the 10 logits.
    /// @param given Outputs received.
    /// @param expected `CLASSES`.
    error WrongOutputCount(uint256 given, uint256 expected);
    /// @notice `reclaim` of a request the market has not refunded (it is open or fulfilled).
    /// @param requestId The request.
    /// @param status Where it stands at the market.
    error NotRefunded(uint256 requestId, RequestStatus status);
    /// @notice Nothing is owed for the request: its escrow was forwarded already, or it
    /// escrowed nothing.
    /// @param requestId The request.
    error NothingOwed(uint256 requestId);

    /// @notice Emitted when a reading is bought.
    /// @param requestId The market's request.
    /// @param imageHash The image (`imageHash(pixels)`).
    /// @param reader The account that paid.
    /// @param escrow Price plus prover fee, paid by the reader.
    event ReadRequested(uint256 indexed requestId, bytes32 indexed imageHash, address indexed reader, uint256 escrow);
    /// @notice Emitted when an image gets its label (once per image).
    /// @param imageHash The image.
    /// @param digit The label: the argmax of the proven logits.
    /// @param reader The account that paid for the reading.
    /// @param requestId The market's request.
    event DigitRead(bytes32 indexed imageHash, uint8 digit, address indexed reader, uint256 indexed requestId);
    /// @notice Emitted when a reading arrives for an image labelled already: the first label
    /// stands, this one is only reported.
    /// @param imageHash The image.
    /// @param digit This reading's argmax (it can differ from the label only if the two
    /// requests pinned different versions of the model: one version is deterministic).
    /// @param reader The account that paid for this reading.
    /// @param requestId The market's request.
    event ReadIgnored(bytes32 indexed imageHash, uint8 digit, address indexed reader, uint256 indexed requestId);
    /// @notice Emitted when a refunded request's escrow is forwarded to its reader.
    /// @param requestId The market's request.
    /// @param reader The receiver.
    /// @param amount The escrow.
    event Reclaimed(uint256 indexed requestId, address indexed reader, uint256 amount);

    /// @param market_ The inference market (`InvalidConfig` without code).
    /// @param modelId_ The digits model's id in the market's registry.
    /// @param inputScale_ The digits circuit's input scale, <= 64 (`InvalidConfig`).
    /// @param callbackGasLimit_ Gas for `onInference`, > 0 (`InvalidConfig`; the market caps it).
    /// @param initialOwner Holds the pause switch (not zero: `OwnableInvalidOwner`).
    constructor(
        IInferenceMarket market_,
        uint256 modelId_,
        uint8 inputScale_,
        uint32 callbackGasLimit_,
        address initialOwner
    ) Ownable(initialOwner) {
        if (address(market_).code.length == 0 || inputScale_ > 64 || callbackGasLimit_ == 0) {
            revert InvalidConfig();
        }
        market = market_;
        modelId = modelId_;
        inputScale = inputScale_;
        callbackGasLimit = callbackGasLimit_;
    }

    // --- the owner -------------------------------------------------------------------------------

    /// @notice Stops new reads; owner only. Readings already paid for are still recorded and
    /// refunds still forwarded: pausing never strands a reader.
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Resumes new reads; owner only.
    function unpause() external onlyOwner {
        _unpause();
    }

    // --- readers ---------------------------------------------------------------------------------

    /// @notice Buys the digits model's reading of an image, paying the offer's price plus
    /// `proverFee` from the caller (approve this contract for that sum first). The label
    /// arrives with the proof (`DigitRead`); if the market refunds the request instead,
    /// `reclaim` returns the payment.
    /// @dev Checks, in order: reentrancy, paused, `AlreadyKnown`, `InvalidPixel`, the
    /// market's `NoOpenOffer` (before touching a token that may not be set), `EscrowTooLarge`,
    /// `PaymentShort`, then whatever `market.request` refuses (deadline, fee, callback gas).
    /// The allowance given to the market is exactly what it pulls, so none is left over.
    /// @param pixels The image, row-major, each 0..16.
    /// @param deadline Last second the market may fulfil the request.
    /// @param proverFee What the prover earns on top of the price.
    /// @return requestId The market's request.
    function read(uint8[64] calldata pixels, uint64 deadline, uint128 proverFee)
        external
        nonReentrant
        whenNotPaused
        returns (uint256 requestId)
    {
        bytes32 hash = imageHash(pixels);
        Label memory label = _labels[hash];
        if (label.known) revert AlreadyKnown(hash, label.digit);
        int256[] memory inputs = _encode(pixels);
        Offer memory offer = market.getOffer(modelId);
        if (!offer.open) revert IInferenceMarketErrors.NoOpenOffer(modelId);
        uint256 escrow = uint256(offer.price) + proverFee;
        if (escrow > type(uint96).max) revert EscrowTooLarge(escrow);
        if (escrow != 0) {
            _pull(offer.token, escrow);
            offer.token.forceApprove(address(market), escrow);
        }
        requestId = market.request(modelId, inputs, address(this), callbackGasLimit, deadline, proverFee);
        // the cast keeps every bit: escrow <= type(uint96).max was checked above
        _requests[requestId] = ReadRequest({reader: msg.sender, owed: uint96(escrow), imageHash: hash});
        emit ReadRequested(requestId, hash, msg.sender, escrow);
    }

    /// @notice Forwards a refunded request's escrow to the reader who paid it; anyone may
    /// call (the money only ever goes to the reader), once per request.
    /// @dev Checks: reentrancy, `UnexpectedRequest`, `NothingOwed`, `NotRefunded`. The debt
    /// is cleared before any transfer. The market's credit is withdrawn only when this
    /// contract's balance cannot cover the debt: every refund credits at least its escrow and
    /// nothing but a reclaim pays escrows out, so balance + credit always covers what is owed.
    /// @param requestId The market's request.
    function reclaim(uint256 requestId) external nonReentrant {
        ReadRequest storage entry = _requests[requestId];
        address reader = entry.reader;
        if (reader == address(0)) revert UnexpectedRequest(requestId);
        uint256 owed = entry.owed;
        if (owed == 0) revert NothingOwed(requestId);
        RequestInfo memory info = market.getRequest(requestId);
        if (info.status != RequestStatus.Refunded) revert NotRefunded(requestId, info.status);
        entry.owed = 0;
        IERC20 token = info.token;
        if (token.balanceOf(address(this)) < owed) market.withdraw(token);
        token.safeTransfer(reader, owed);
        emit Reclaimed(requestId, reader, owed);
    }

    // --- the market ------------------------------------------------------------------------------

    /// @inheritdoc IInferenceConsumer
    /// @dev Only the market, only requests made here (`NotMarket`, `UnexpectedRequest`), only
    /// 10 logits (`WrongOutputCount`); a revert is recorded by the market as `CallbackFailed`
    /// and leaves the image unlabelled. Not paused: the reader has paid for this answer. The
    /// first reading of an image to arrive labels it; later ones emit `ReadIgnored`. The
    /// digit is the argmax, the lowest index among equal logits (numpy's `argmax`).
    function onInference(uint256 requestId, int256[] calldata outputs) external {
        if (msg.sender != address(market)) revert NotMarket(msg.sender);
        ReadRequest storage entry = _requests[requestId];
        address reader = entry.reader;
        if (reader == address(0)) revert UnexpectedRequest(requestId);
        if (outputs.length != CLASSES) revert WrongOutputCount(outputs.length, CLASSES);
        uint8 digit = _argmax(outputs);
        bytes32 hash = entry.imageHash;
        Label storage label = _labels[hash];
        if (label.known) {
            emit ReadIgnored(hash, digit, reader, requestId);
            return;
        }
        (label.known, label.digit) = (true, digit);
        emit DigitRead(hash, digit, reader, requestId);
    }

    // --- views -----------------------------------------------------------------------------------

    /// @notice The key of an image: keccak256 of its 64 pixels, each as a 32-byte word
    /// (`abi.encode(pixels)`), the same key `DigitLabels` uses.
    /// @param pixels The image.
    /// @return The hash.
    function imageHash(uint8[64] calldata pixels) public pure returns (bytes32) {
        return keccak256(abi.encode(pixels));
    }

    /// @notice The label of an image, if one arrived.
    /// @param imageHash_ The image (`imageHash(pixels)`).
    /// @return known Whether the image has a label.
    /// @return digit The label (0 when unknown).
    function labelOf(bytes32 imageHash_) external view returns (bool known, uint8 digit) {
        Label memory label = _labels[imageHash_];
        return (label.known, label.digit);
    }

    /// @notice What this contract knows of one of its requests.
    /// @param requestId The market's request.
    /// @return reader Who paid for it (0: not a request made here).
    /// @return owed The escrow `reclaim` would still forward after a refund.
    /// @return imageHash_ The image asked about.
    function requestOf(uint256 requestId) external view returns (address reader, uint256 owed, bytes32 imageHash_) {
        ReadRequest memory entry = _requests[requestId];
        return (entry.reader, entry.owed, entry.imageHash);
    }

    // --- internals -------------------------------------------------------------------------------

    /// @dev The pixels as the circuit reads them: pixel v is the real v/16 on the
    /// 2**-inputScale grid, rounded half up, i.e. (v * 2**inputScale + 8) / 16, as
    /// `models/digits.py` (`_quantize_pixels`) trains and quantises and `DigitLabels`
    /// checks. (Sending v * 2**inputScale instead would make the circuit read 16x brighter
    /// pixels than it was trained on: the proof would verify, the label would be wrong.)
    /// Every felt is at most 2**inputScale <= 2**64, far inside the market's 2**128.
    function _encode(uint8[64] calldata pixels) internal view returns (int256[] memory inputs) {
        uint256 unit = uint256(1) << inputScale;
        inputs = new int256[](PIXELS);
        for (uint256 i = 0; i < PIXELS; ++i) {
            uint8 value = pixels[i];
            if (value > PIXEL_MAX) revert InvalidPixel(i, value);
            inputs[i] = int256((uint256(value) * unit + PIXEL_MAX / 2) / PIXEL_MAX);
        }
    }

    /// @dev Pulls `amount` from the caller, checked by this contract's balance delta
    /// (`PaymentShort`): the balance may hold refunds owed to other readers, which a short
    /// transfer must never top up.
    function _pull(IERC20 token, uint256 amount) internal {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 balance = token.balanceOf(address(this));
        uint256 received = balance > before ? balance - before : 0;
        if (received != amount) revert PaymentShort(amount, received);
    }

    /// @dev The index of the largest of the 10 logits; the lowest index among equals.
    function _argmax(int256[] calldata logits) internal pure returns (uint8 best) {
        int256 top = logits[0];
        for (uint256 k = 1; k < CLASSES; ++k) {
            int256 logit = logits[k];
            if (logit > top) (top, best) = (logit, uint8(k)); // k < CLASSES = 10: fits uint8
        }
    }
}
