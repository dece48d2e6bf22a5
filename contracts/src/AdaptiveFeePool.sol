// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IHalo2Verifier} from "./IHalo2Verifier.sol";
import {IModelRegistry} from "./IModelRegistry.sol";
import {ZkmlConsumer} from "./ZkmlConsumer.sol";

/// @title Adaptive Fee Pool
/// @notice A pool whose swap fee follows a proven volatility forecast. Anyone may submit
/// a proof of the fee model run on the pool's own last `WINDOW` prices; the pool checks
/// the proof's inputs against its storage, decodes the predicted volatility, maps it to a
/// fee tier, and moves its fee toward that tier within owner-set bounds.
/// @dev The input features must match `models/fee.py` (`fixed_point_features`) bit for bit.
contract AdaptiveFeePool is ZkmlConsumer {
    /// @notice Prices per model window; the last one is the reference price.
    uint256 public constant WINDOW = 9;
    /// @notice Input features per proof (one per older price in the window).
    uint256 public constant N_FEATURES = WINDOW - 1;
    /// @notice Features are percent deviations from the latest price.
    int256 public constant FEATURE_MULTIPLIER = 100;
    /// @notice Fees are in basis points, at most 100%.
    uint16 public constant MAX_BPS = 10_000;
    /// @notice `lastUpdateEpoch` before the first update (no epoch can reach it).
    uint64 public constant NEVER_UPDATED = type(uint64).max;

    /// @notice The account allowed to record prices and pause.
    address public immutable owner;
    /// @notice Fixed-point scale (bits) of the input instances.
    uint8 public immutable inputScale;
    /// @notice Fixed-point scale (bits) of the output instance.
    uint8 public immutable outputScale;
    /// @notice Lowest fee the pool will ever charge, in bps.
    uint16 public immutable minFeeBps;
    /// @notice Highest fee the pool will ever charge, in bps.
    uint16 public immutable maxFeeBps;
    /// @notice Largest fee change one update may make, in bps.
    uint16 public immutable maxStepBps;
    /// @notice Seconds that must pass between two fee updates.
    uint64 public immutable minUpdateInterval;

    uint256 private immutable _threshold0;
    uint256 private immutable _threshold1;
    uint256 private immutable _threshold2;
    uint16 private immutable _tier0;
    uint16 private immutable _tier1;
    uint16 private immutable _tier2;
    uint16 private immutable _tier3;

    /// @notice The current swap fee, in bps.
    uint16 public feeBps;
    /// @notice Whether fee updates are paused.
    bool public paused;
    /// @notice Prices ever recorded; the current epoch.
    uint64 public observationCount;
    /// @notice Epoch of the last fee update, or `NEVER_UPDATED`.
    uint64 public lastUpdateEpoch = NEVER_UPDATED;
    /// @notice Block timestamp of the last fee update (0 before the first).
    uint64 public lastUpdateTime;
    /// @dev Ring buffer: price number n is stored at slot n % WINDOW.
    uint256[WINDOW] private _prices;

    /// @notice The caller is not the owner.
    error NotOwner();
    /// @notice The pool is paused.
    error EnforcedPause();
    /// @notice `unpause` was called while the pool is not paused.
    error ExpectedPause();
    /// @notice A constructor parameter is out of range or inconsistent.
    error InvalidConfig();
    /// @notice A price is 0 or >= 2**128.
    error InvalidPrice();
    /// @notice Fewer than `WINDOW` prices have been recorded.
    /// @param have Prices recorded so far.
    /// @param need Prices required.
    error NotEnoughObservations(uint64 have, uint64 need);
    /// @notice The proof is for another epoch than the current one.
    /// @param given The epoch the caller claimed.
    /// @param current The current epoch (`observationCount`).
    error StaleEpoch(uint64 given, uint64 current);
    /// @notice The fee was already updated with this epoch's observations.
    /// @param epoch The epoch.
    error AlreadyUpdated(uint64 epoch);
    /// @notice The minimum interval since the last update has not passed.
    /// @param nextAllowed The first timestamp at which an update is allowed.
    error TooEarly(uint256 nextAllowed);
    /// @notice The proof carries the wrong number of public instances.
    /// @param given Instances given.
    /// @param expected Instances expected (`N_FEATURES` inputs + 1 output).
    error WrongInstanceCount(uint256 given, uint256 expected);
    /// @notice An input instance differs from the feature recomputed from storage.
    /// @param index The input position.
    /// @param expected The felt the pool computed.
    /// @param given The felt in the proof.
    error InputMismatch(uint256 index, uint256 expected, uint256 given);

    /// @notice Emitted when the owner pauses fee updates.
    /// @param account The owner.
    event Paused(address account);
    /// @notice Emitted when the owner resumes fee updates.
    /// @param account The owner.
    event Unpaused(address account);
    /// @notice Emitted for every recorded price.
    /// @param index The price's number (0-based); the epoch becomes index + 1.
    /// @param price The price.
    event PriceRecorded(uint64 indexed index, uint256 price);
    /// @notice Emitted for every accepted update, even when the fee does not change.
    /// @param epoch The epoch the proof was for.
    /// @param oldFeeBps The fee before.
    /// @param newFeeBps The fee after.
    /// @param volatility The decoded model output (signed, fixed point at `outputScale`).
    event FeeUpdated(uint64 indexed epoch, uint16 oldFeeBps, uint16 newFeeBps, int256 volatility);

    /// @dev Restricts a function to the owner.
    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// @param verifier_ The ezkl verifier of the fee model.
    /// @param registry_ The model registry whose record of the fee model must allow each
    /// update (active version, caller allowed), or the zero address for none.
    /// @param inputScale_ Fixed-point bits of the inputs (<= 64).
    /// @param outputScale_ Fixed-point bits of the output (<= 64).
    /// @param thresholdsMicroPct Volatility thresholds in millionths of a percent, strictly
    /// ascending (0.3% is 300000); bucket k holds volatility in [T[k-1], T[k]).
    /// @param tiersBps Target fee per bucket, in bps.
    /// @param initialFeeBps Starting fee, within [minFeeBps_, maxFeeBps_].
    /// @param minFeeBps_ Lowest fee.
    /// @param maxFeeBps_ Highest fee, at most `MAX_BPS`.
    /// @param maxStepBps_ Largest change per update, > 0.
    /// @param minUpdateInterval_ Seconds between updates.
    constructor(
        IHalo2Verifier verifier_,
        IModelRegistry registry_,
        uint8 inputScale_,
        uint8 outputScale_,
        uint256[3] memory thresholdsMicroPct,
        uint16[4] memory tiersBps,
        uint16 initialFeeBps,
        uint16 minFeeBps_,
        uint16 maxFeeBps_,
        uint16 maxStepBps_,
        uint64 minUpdateInterval_
    ) ZkmlConsumer(verifier_, registry_) {
        if (
            inputScale_ > 64 || outputScale_ > 64 || minFeeBps_ > initialFeeBps || initialFeeBps > maxFeeBps_
                || maxFeeBps_ > MAX_BPS || maxStepBps_ == 0 || thresholdsMicroPct[0] >= thresholdsMicroPct[1]
                || thresholdsMicroPct[1] >= thresholdsMicroPct[2]
        ) revert InvalidConfig();
        owner = msg.sender;
        inputScale = inputScale_;
        outputScale = outputScale_;
        (_threshold0, _threshold1, _threshold2) = (thresholdsMicroPct[0], thresholdsMicroPct[1], thresholdsMicroPct[2]);
        (_tier0, _tier1, _tier2, _tier3) = (tiersBps[0], tiersBps[1], tiersBps[2], tiersBps[3]);
        feeBps = initialFeeBps;
        minFeeBps = minFeeBps_;
        maxFeeBps = maxFeeBps_;
        maxStepBps = maxStepBps_;
        minUpdateInterval = minUpdateInterval_;
    }

    /// @notice Stops fee updates (prices can still be recorded).
    function pause() external onlyOwner {
        if (paused) revert EnforcedPause();
        paused = true;
        emit Paused(msg.sender);
    }

    /// @notice Resumes fee updates.
    function unpause() external onlyOwner {
        if (!paused) revert ExpectedPause();
        paused = false;
        emit Unpaused(msg.sender);
    }

    /// @notice Records a price observation and starts a new epoch (stands in for swaps).
    /// @param price The price, 0 < price < 2**128.
    function recordPrice(uint256 price) external onlyOwner {
        if (price == 0 || price >= 2 ** 128) revert InvalidPrice();
        uint64 index = observationCount;
        _prices[index % WINDOW] = price;
        observationCount = index + 1;
        emit PriceRecorded(index, price);
    }

    /// @notice The current epoch: the number of prices ever recorded.
    /// @return The epoch a proof must name to update the fee now.
    function currentEpoch() external view returns (uint64) {
        return observationCount;
    }

    /// @notice The fee schedule given at deployment.
    /// @return thresholdsMicroPct Volatility thresholds in millionths of a percent.
    /// @return tiersBps Target fee per bucket, in bps.
    function feeSchedule() external view returns (uint256[3] memory thresholdsMicroPct, uint16[4] memory tiersBps) {
        thresholdsMicroPct = [_threshold0, _threshold1, _threshold2];
        tiersBps = [_tier0, _tier1, _tier2, _tier3];
    }

    /// @notice The last `WINDOW` prices, oldest first (the latest at index WINDOW - 1).
    /// @return window The prices; slots not yet recorded (at the front) are 0.
    function observations() public view returns (uint256[WINDOW] memory window) {
        uint64 count = observationCount;
        for (uint256 k = 0; k < WINDOW; ++k) {
            uint256 back = WINDOW - k;
            if (back <= count) window[k] = _prices[(count - back) % WINDOW];
        }
    }

    /// @notice The input instances a proof must carry now, recomputed from storage.
    /// @dev feature_i = (p_i - p_8) * 100 * 2**inputScale / p_8 with signed division
    /// (truncating toward zero), field-encoded; see `models/fee.py`.
    /// @return inputs The expected felts of instances 0 .. N_FEATURES - 1.
    function expectedInputs() public view returns (uint256[N_FEATURES] memory inputs) {
        if (observationCount < WINDOW) revert NotEnoughObservations(observationCount, uint64(WINDOW));
        uint256[WINDOW] memory window = observations();
        int256 latest = int256(window[WINDOW - 1]);
        int256 unit = int256(uint256(1) << inputScale);
        for (uint256 i = 0; i < N_FEATURES; ++i) {
            int256 num = (int256(window[i]) - latest) * FEATURE_MULTIPLIER * unit;
            inputs[i] = _encodeSigned(num / latest);
        }
    }

    /// @notice Updates the fee from a proof of the fee model on this epoch's prices.
    /// @dev Checks, in order: paused, epoch is current, not yet updated this epoch, interval
    /// passed, instance count, inputs match storage, model version registered and caller
    /// allowed (with a registry), proof valid, output decodable. The
    /// epoch is marked used before the verifier call, so a re-entrant update cannot
    /// apply twice. Open to anyone the registry allows (everyone without one): the proof,
    /// not the caller, is what is trusted.
    /// @param epoch The epoch (`observationCount`) the proof's inputs were taken at.
    /// @param proof The proof bytes.
    /// @param instances N_FEATURES input felts, then the volatility felt.
    function updateFee(uint64 epoch, bytes calldata proof, uint256[] calldata instances) external {
        if (paused) revert EnforcedPause();
        if (epoch != observationCount) revert StaleEpoch(epoch, observationCount);
        if (epoch == lastUpdateEpoch) revert AlreadyUpdated(epoch);
        uint256 nextAllowed = uint256(lastUpdateTime) + minUpdateInterval;
        if (block.timestamp < nextAllowed) revert TooEarly(nextAllowed);
        if (instances.length != N_FEATURES + 1) revert WrongInstanceCount(instances.length, N_FEATURES + 1);
        uint256[N_FEATURES] memory expected = expectedInputs();
        for (uint256 i = 0; i < N_FEATURES; ++i) {
            if (instances[i] != expected[i]) revert InputMismatch(i, expected[i], instances[i]);
        }
        lastUpdateEpoch = epoch;
        lastUpdateTime = uint64(block.timestamp);

        _verify(proof, instances);
        int256 volatility = _decodeSigned(instances[N_FEATURES]);
        uint16 oldFee = feeBps;
        uint16 newFee = _nextFee(oldFee, _targetFee(volatility));
        feeBps = newFee;
        emit FeeUpdated(epoch, oldFee, newFee, volatility);
    }

    /// @notice The tier fee for a volatility (negative counts as 0).
    /// @dev Compares floor(vol * 1e6 / 2**outputScale) with the integer thresholds, which
    /// equals comparing the exact rational volatility in percent: bucket k when
    /// T[k-1] <= vol < T[k], like numpy's searchsorted(side="right").
    /// @param volatility Signed fixed point at `outputScale`, percent per step.
    /// @return The tier fee, in bps.
    function _targetFee(int256 volatility) internal view returns (uint16) {
        uint256 microPct = volatility > 0 ? (uint256(volatility) * 1e6) >> outputScale : 0;
        if (microPct < _threshold0) return _tier0;
        if (microPct < _threshold1) return _tier1;
        if (microPct < _threshold2) return _tier2;
        return _tier3;
    }

    /// @notice Clamps a target to [minFeeBps, maxFeeBps], then to maxStepBps from `oldFee`.
    /// @param oldFee The current fee (always within the bounds).
    /// @param target The tier fee.
    /// @return The new fee.
    function _nextFee(uint16 oldFee, uint16 target) internal view returns (uint16) {
        if (target < minFeeBps) target = minFeeBps;
        if (target > maxFeeBps) target = maxFeeBps;
        if (target > oldFee && target - oldFee > maxStepBps) return oldFee + maxStepBps;
        if (target < oldFee && oldFee - target > maxStepBps) return oldFee - maxStepBps;
        return target;
    }
}
