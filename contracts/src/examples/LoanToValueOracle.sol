// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {FeeFeatures} from "../FeeFeatures.sol";
import {IInferenceConsumer, IInferenceMarket, Offer, RequestStatus} from "../IInferenceMarket.sol";
import {OwnableNoRenounce} from "../OwnableNoRenounce.sol";

/// @title Loan-to-value oracle (example caller of the inference market)
/// @notice Keeps a loan-to-value ratio (in bps) that falls when the `fee` model forecasts
/// more volatility. It records its own prices, buys a forecast of the model over its last
/// WINDOW prices from the `InferenceMarket` (paying from its own balance, with itself as the
/// callback), and moves the ratio toward the forecast's target within owner-set bounds, by
/// at most a maximum step per forecast. Its owner pauses it.
/// @dev An example to copy for "a contract buys a proven inference": the market checks the
/// proof, that its inputs are the ones this contract asked about (their hash), and settles;
/// this contract only trusts the market as the sender of `onInference` and only for its own
/// pending request id (freshness keyed on the request id, DESIGN.md rule 4), and bounds the
/// effect (rule 6: clamp, step, pause, an event per change). The inputs are `FeeFeatures`
/// of its own prices, as `AdaptiveFeePool` computes them, so a proof of the fee model fits.
contract LoanToValueOracle is IInferenceConsumer, OwnableNoRenounce, Pausable {
    using SafeERC20 for IERC20;

    /// @notice Prices per forecast window (`FeeFeatures.WINDOW`, as a literal: an array length
    /// cannot name a library's constant); the last one is the reference.
    uint256 public constant WINDOW = 9;
    /// @notice The fee model's inputs per forecast (`FeeFeatures.COUNT`).
    uint256 public constant N_FEATURES = WINDOW - 1;
    /// @notice Ratios are in basis points, at most 100 %.
    uint16 public constant MAX_BPS = 10_000;

    /// @notice How the forecast moves the ratio, set by the owner.
    /// @param minLtvBps Lowest ratio, whatever the forecast.
    /// @param maxLtvBps Highest ratio (the target at zero volatility), at most MAX_BPS.
    /// @param maxStepBps Largest change per forecast, > 0.
    /// @param dropPerPctBps Ratio taken off the maximum per 1 % of forecast volatility.
    struct LtvPolicy {
        uint16 minLtvBps;
        uint16 maxLtvBps;
        uint16 maxStepBps;
        uint16 dropPerPctBps;
    }

    /// @notice The market forecasts are bought from (the only sender `onInference` accepts).
    IInferenceMarket public immutable market;
    /// @notice The fee model's id in the market's registry.
    uint256 public immutable modelId;
    /// @notice Fixed-point scale (bits) of the fee circuit's inputs.
    uint8 public immutable inputScale;
    /// @notice Fixed-point scale (bits) of the fee circuit's output (volatility, % per step).
    uint8 public immutable outputScale;
    /// @notice Gas the market forwards to `onInference`.
    uint32 public immutable callbackGasLimit;

    /// @notice The account that may record prices and buy forecasts besides the owner.
    address public keeper;
    /// @notice Prices ever recorded.
    uint64 public observationCount;
    /// @notice The current loan-to-value ratio, in bps.
    uint16 public ltvBps;
    /// @notice The owner's bounds and step.
    LtvPolicy public policy;
    /// @notice The forecast request this contract waits for, or 0.
    uint256 public pendingRequestId;
    /// @dev Ring buffer: price number n is stored at slot n % WINDOW.
    uint256[WINDOW] private _prices;

    /// @notice A constructor parameter is out of range.
    error InvalidConfig();
    /// @notice The bounds contradict themselves: min <= max <= MAX_BPS, step > 0.
    error InvalidPolicy();
    /// @notice Only the owner or the keeper may do this.
    /// @param caller The refused account.
    error NotKeeper(address caller);
    /// @notice A price is 0 or >= 2**128.
    error InvalidPrice();
    /// @notice Fewer than WINDOW prices have been recorded.
    /// @param have Prices recorded so far.
    /// @param need Prices required.
    error NotEnoughObservations(uint64 have, uint64 need);
    /// @notice A forecast is still open at the market; wait for it (or its refund).
    /// @param requestId The open request.
    error ForecastPending(uint256 requestId);
    /// @notice `onInference` from another sender than the market.
    /// @param caller The refused sender.
    error NotMarket(address caller);
    /// @notice `onInference` for a request this contract is not waiting for.
    /// @param requestId The refused request id.
    error UnexpectedRequest(uint256 requestId);

    /// @notice Emitted for every recorded price.
    /// @param index The price's number (0-based).
    /// @param price The price.
    event PriceRecorded(uint64 indexed index, uint256 price);
    /// @notice Emitted when the owner changes the keeper.
    /// @param previousKeeper The keeper until now.
    /// @param newKeeper The keeper from now on (0: the owner alone).
    event KeeperChanged(address indexed previousKeeper, address indexed newKeeper);
    /// @notice Emitted when a forecast is bought.
    /// @param requestId The market's request.
    /// @param epoch The number of prices recorded when it was asked (its window ends there).
    event ForecastRequested(uint256 indexed requestId, uint64 epoch);
    /// @notice Emitted for every change of the ratio: a forecast's, or the owner's bounds'.
    /// @param requestId The forecast that moved it, or 0 for a change of bounds.
    /// @param oldLtvBps The ratio before.
    /// @param newLtvBps The ratio after.
    /// @param volatility The forecast (signed fixed point at `outputScale`), 0 for bounds.
    event LtvUpdated(uint256 indexed requestId, uint16 oldLtvBps, uint16 newLtvBps, int256 volatility);
    /// @notice Emitted when the owner sets the bounds and step.
    /// @param policy The new policy.
    event PolicyChanged(LtvPolicy policy);

    /// @param market_ The inference market (`InvalidConfig` without code).
    /// @param modelId_ The fee model's id.
    /// @param inputScale_ The fee circuit's input scale, <= 64.
    /// @param outputScale_ The fee circuit's output scale, <= 64.
    /// @param callbackGasLimit_ Gas for `onInference` (> 0; the market caps it).
    /// @param policy_ Bounds, step and sensitivity (`InvalidPolicy`).
    /// @param initialLtvBps The starting ratio, within the bounds (`InvalidPolicy`).
    /// @param initialOwner Owns the bounds, the keeper and the pause switch.
    constructor(
        IInferenceMarket market_,
        uint256 modelId_,
        uint8 inputScale_,
        uint8 outputScale_,
        uint32 callbackGasLimit_,
        LtvPolicy memory policy_,
        uint16 initialLtvBps,
        address initialOwner
    ) Ownable(initialOwner) {
        if (
            address(market_).code.length == 0 || inputScale_ > FeeFeatures.MAX_SCALE || outputScale_ > 64
                || callbackGasLimit_ == 0
        ) revert InvalidConfig();
        _checkPolicy(policy_);
        if (initialLtvBps < policy_.minLtvBps || initialLtvBps > policy_.maxLtvBps) revert InvalidPolicy();
        market = market_;
        modelId = modelId_;
        inputScale = inputScale_;
        outputScale = outputScale_;
        callbackGasLimit = callbackGasLimit_;
        policy = policy_;
        ltvBps = initialLtvBps;
    }

    /// @dev The owner or the keeper (`NotKeeper`).
    modifier onlyKeeper() {
        if (msg.sender != owner() && msg.sender != keeper) revert NotKeeper(msg.sender);
        _;
    }

    // --- the owner -------------------------------------------------------------------------------

    /// @notice Stops buying forecasts and applying them; owner only.
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Resumes; owner only.
    function unpause() external onlyOwner {
        _unpause();
    }

    /// @notice Lets `newKeeper` record prices and buy forecasts (0: the owner alone).
    /// @param newKeeper The keeper.
    function setKeeper(address newKeeper) external onlyOwner {
        emit KeeperChanged(keeper, newKeeper);
        keeper = newKeeper;
    }

    /// @notice Sets the bounds, step and sensitivity; the ratio is clamped into the new
    /// bounds at once (`LtvUpdated` with request id 0 when that moves it).
    /// @param policy_ The new policy (`InvalidPolicy`).
    function setPolicy(LtvPolicy calldata policy_) external onlyOwner {
        _checkPolicy(policy_);
        policy = policy_;
        emit PolicyChanged(policy_);
        uint16 old = ltvBps;
        uint16 clamped =
            old < policy_.minLtvBps ? policy_.minLtvBps : (old > policy_.maxLtvBps ? policy_.maxLtvBps : old);
        if (clamped != old) {
            ltvBps = clamped;
            emit LtvUpdated(0, old, clamped, 0);
        }
    }

    /// @notice Sends this contract's funds (and any refund the market credited it) to `to`.
    /// @param to The receiver.
    function withdrawFunds(address to) external onlyOwner {
        IERC20 token = market.getOffer(modelId).token;
        if (market.creditOf(address(this), token) != 0) market.withdraw(token);
        token.safeTransfer(to, token.balanceOf(address(this)));
    }

    // --- the keeper ------------------------------------------------------------------------------

    /// @notice Records a price observation.
    /// @param price The price, 0 < price < 2**128.
    function recordPrice(uint256 price) external onlyKeeper {
        if (price == 0 || price >= 2 ** 128) revert InvalidPrice();
        uint64 index = observationCount;
        _prices[index % WINDOW] = price;
        observationCount = index + 1;
        emit PriceRecorded(index, price);
    }

    /// @notice Buys a forecast of the fee model over the last WINDOW prices, paying the
    /// offer's price and `proverFee` from this contract's balance. One at a time: a new one
    /// may be bought once the pending one is settled or refunded.
    /// @param deadline Last second the market may fulfil it.
    /// @param proverFee What the prover earns on top of the price.
    /// @return requestId The market's request.
    function requestForecast(uint64 deadline, uint128 proverFee)
        external
        onlyKeeper
        whenNotPaused
        returns (uint256 requestId)
    {
        uint256 pending = pendingRequestId;
        if (pending != 0) {
            (RequestStatus status,) = market.resultOf(pending);
            if (status == RequestStatus.Open) revert ForecastPending(pending);
        }
        uint64 count = observationCount;
        if (count < WINDOW) revert NotEnoughObservations(count, uint64(WINDOW));
        int256[N_FEATURES] memory features = FeeFeatures.compute(observations(), inputScale);
        int256[] memory inputs = new int256[](N_FEATURES);
        for (uint256 i = 0; i < N_FEATURES; ++i) {
            inputs[i] = features[i];
        }
        Offer memory offer = market.getOffer(modelId);
        offer.token.forceApprove(address(market), uint256(offer.price) + proverFee);
        requestId = market.request(modelId, inputs, address(this), callbackGasLimit, deadline, proverFee);
        pendingRequestId = requestId;
        emit ForecastRequested(requestId, count);
    }

    // --- the market ------------------------------------------------------------------------------

    /// @inheritdoc IInferenceConsumer
    /// @dev Only the market, only the pending request; refused while paused (the market
    /// records the failed callback, the forecast is simply not applied).
    function onInference(uint256 requestId, int256[] calldata outputs) external whenNotPaused {
        if (msg.sender != address(market)) revert NotMarket(msg.sender);
        if (requestId == 0 || requestId != pendingRequestId) revert UnexpectedRequest(requestId);
        pendingRequestId = 0;
        int256 volatility = outputs[0];
        uint16 old = ltvBps;
        uint16 next = _nextLtv(old, volatility);
        ltvBps = next;
        emit LtvUpdated(requestId, old, next, volatility);
    }

    // --- views -----------------------------------------------------------------------------------

    /// @notice The last WINDOW prices, oldest first (slots not yet recorded are 0).
    /// @return window The prices.
    function observations() public view returns (uint256[WINDOW] memory window) {
        uint64 count = observationCount;
        for (uint256 k = 0; k < WINDOW; ++k) {
            uint256 back = WINDOW - k;
            if (back <= count) window[k] = _prices[(count - back) % WINDOW];
        }
    }

    /// @notice The ratio a forecast of `volatility` aims at, before the step limit: the
    /// maximum less `dropPerPctBps` per 1 % of volatility (negative counts as 0), never below
    /// the minimum.
    /// @param volatility Signed fixed point at `outputScale`, percent per step.
    /// @return The target, in bps.
    function targetLtv(int256 volatility) public view returns (uint16) {
        LtvPolicy memory p = policy;
        // |volatility| < 2**128 (the market decodes no more), times < 2**16: no overflow
        uint256 drop = volatility > 0 ? (uint256(volatility) * p.dropPerPctBps) >> outputScale : 0;
        uint256 span = p.maxLtvBps - p.minLtvBps;
        return drop >= span ? p.minLtvBps : uint16(p.maxLtvBps - drop);
    }

    // --- internals -------------------------------------------------------------------------------

    /// @dev The target, then at most `maxStepBps` away from `old`.
    function _nextLtv(uint16 old, int256 volatility) internal view returns (uint16) {
        uint16 target = targetLtv(volatility);
        uint16 step = policy.maxStepBps;
        if (target > old && target - old > step) return old + step;
        if (target < old && old - target > step) return old - step;
        return target;
    }

    /// @dev `InvalidPolicy` unless min <= max <= MAX_BPS and step > 0.
    function _checkPolicy(LtvPolicy memory p) internal pure {
        if (p.minLtvBps > p.maxLtvBps || p.maxLtvBps > MAX_BPS || p.maxStepBps == 0) revert InvalidPolicy();
    }
}
