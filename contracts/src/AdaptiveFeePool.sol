// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {FeeFeatures} from "./FeeFeatures.sol";
import {IHalo2Verifier} from "./IHalo2Verifier.sol";
import {IModelRegistry} from "./IModelRegistry.sol";
import {OwnableNoRenounce} from "./OwnableNoRenounce.sol";
import {ZkmlConsumer} from "./ZkmlConsumer.sol";

/// @title Adaptive Fee Pool
/// @notice A pool whose swap fee follows a proven volatility forecast. Anyone may submit
/// a proof of the fee model run on the pool's own last `WINDOW` prices; the pool checks
/// the proof's inputs against its storage, decodes the predicted volatility, maps it to a
/// fee tier, and moves its fee toward that tier within owner-set bounds.
/// @dev Built on the `ZkmlConsumer` template: the template runs the proof checks, this
/// contract supplies the inputs it expects (features recomputed from its prices), keys
/// freshness on the epoch, and keeps only its fee policy. Ownership (two-step, never
/// renounced: `OwnableNoRenounce`) and the pause switch are OpenZeppelin's. The input
/// features are `FeeFeatures`' (they must match `models/fee.py`'s `fixed_point_features`
/// bit for bit).
contract AdaptiveFeePool is ZkmlConsumer, OwnableNoRenounce, Pausable {
    /// @notice Prices per model window; the last one is the reference price.
    /// @dev `FeeFeatures.WINDOW`, as a literal: an array length cannot name a library's
    /// constant (the suite checks they are equal).
    uint256 public constant WINDOW = 9;
    /// @notice Input features per proof (one per older price in the window): `FeeFeatures.COUNT`.
    uint256 public constant N_FEATURES = WINDOW - 1;
    /// @notice Features are percent deviations from the latest price.
    int256 public constant FEATURE_MULTIPLIER = FeeFeatures.MULTIPLIER;
    /// @notice The model's input domain: each feature saturates to +-FEATURE_LIMIT_PCT percent.
    /// @dev The circuit was calibrated on that whole box, so every window the pool can hold
    /// (a 50% crash in one step, a run of spikes) has inputs a proof can be made for, and the
    /// fee stays live exactly when it should move (DESIGN.md rule 6).
    int256 public constant FEATURE_LIMIT_PCT = FeeFeatures.LIMIT_PCT;
    /// @notice Fees are in basis points, at most 100%.
    uint16 public constant MAX_BPS = 10_000;
    /// @notice `lastUpdateEpoch` before the first update (no epoch can reach it).
    uint64 public constant NEVER_UPDATED = type(uint64).max;

    /// @notice What the owner decides at deployment: the model can move the fee only
    /// within it.
    /// @param thresholdsMicroPct Volatility thresholds in millionths of a percent, strictly
    /// ascending (0.3% is 300000); bucket k holds volatility in [T[k-1], T[k]).
    /// @param tiersBps Target fee per bucket, in bps.
    /// @param initialFeeBps Starting fee, within [minFeeBps, maxFeeBps].
    /// @param minFeeBps Lowest fee.
    /// @param maxFeeBps Highest fee, at most `MAX_BPS`.
    /// @param maxStepBps Largest change per update, > 0.
    /// @param minUpdateInterval Seconds between updates.
    struct FeePolicy {
        uint256[3] thresholdsMicroPct;
        uint16[4] tiersBps;
        uint16 initialFeeBps;
        uint16 minFeeBps;
        uint16 maxFeeBps;
        uint16 maxStepBps;
        uint64 minUpdateInterval;
    }

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

    // Storage order matters for gas: `observationCount` packs into the slot of OZ's
    // `_pendingOwner` and `_paused` (read together by `updateFee`'s first checks), and the
    // three fields an update writes share the next slot, so an update writes one slot.

    /// @notice Prices ever recorded; the current epoch.
    uint64 public observationCount;
    /// @notice Epoch of the last fee update, or `NEVER_UPDATED`.
    uint64 public lastUpdateEpoch = NEVER_UPDATED;
    /// @notice Block timestamp of the last fee update (0 before the first).
    uint64 public lastUpdateTime;
    /// @notice The current swap fee, in bps.
    uint16 public feeBps;
    /// @dev Ring buffer: price number n is stored at slot n % WINDOW.
    uint256[WINDOW] private _prices;

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

    /// @param verifier_ The ezkl verifier of the fee model.
    /// @param registry_ The model registry whose record of the fee model must allow each
    /// update (active version, caller allowed), or the zero address for none.
    /// @param modelId_ The fee model's id in `registry_` (0 without a registry).
    /// @param inputScale_ Fixed-point bits of the inputs (<= 64), the circuit's input scale.
    /// @param outputScale_ Fixed-point bits of the output (<= 64), the circuit's output scale.
    /// @param policy The fee schedule and bounds (`InvalidConfig` if they contradict themselves).
    /// @param initialOwner The account that records prices and pauses (not zero:
    /// `OwnableInvalidOwner`); it hands over in two steps (`transferOwnership`, then
    /// `acceptOwnership` by the new owner).
    constructor(
        IHalo2Verifier verifier_,
        IModelRegistry registry_,
        uint256 modelId_,
        uint8 inputScale_,
        uint8 outputScale_,
        FeePolicy memory policy,
        address initialOwner
    ) ZkmlConsumer(verifier_, registry_, modelId_) Ownable(initialOwner) {
        uint256[3] memory thresholds = policy.thresholdsMicroPct;
        if (
            inputScale_ > 64 || outputScale_ > 64 || policy.minFeeBps > policy.initialFeeBps
                || policy.initialFeeBps > policy.maxFeeBps || policy.maxFeeBps > MAX_BPS || policy.maxStepBps == 0
                || thresholds[0] >= thresholds[1] || thresholds[1] >= thresholds[2]
        ) revert InvalidConfig();
        inputScale = inputScale_;
        outputScale = outputScale_;
        (_threshold0, _threshold1, _threshold2) = (thresholds[0], thresholds[1], thresholds[2]);
        uint16[4] memory tiers = policy.tiersBps;
        (_tier0, _tier1, _tier2, _tier3) = (tiers[0], tiers[1], tiers[2], tiers[3]);
        feeBps = policy.initialFeeBps;
        minFeeBps = policy.minFeeBps;
        maxFeeBps = policy.maxFeeBps;
        maxStepBps = policy.maxStepBps;
        minUpdateInterval = policy.minUpdateInterval;
    }

    /// @notice Stops fee updates (prices can still be recorded); owner only.
    /// @dev Reverts with `EnforcedPause` when already paused.
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Resumes fee updates; owner only.
    /// @dev Reverts with `ExpectedPause` when not paused.
    function unpause() external onlyOwner {
        _unpause();
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
    /// (truncating toward zero), saturated to +-FEATURE_LIMIT_PCT * 2**inputScale and
    /// field-encoded; see `models/fee.py`. Reverts with `NotEnoughObservations` before
    /// `WINDOW` prices are recorded.
    /// @return inputs The expected felts of instances 0 .. N_FEATURES - 1.
    function expectedInputs() external view returns (uint256[N_FEATURES] memory inputs) {
        uint256[] memory features = _features();
        for (uint256 i = 0; i < N_FEATURES; ++i) {
            inputs[i] = features[i];
        }
    }

    /// @notice Updates the fee from a proof of the fee model on this epoch's prices.
    /// @dev Checks, in order: paused, epoch is current, not yet updated this epoch, interval
    /// passed; then the template's `_acceptProof`: instance count, model version registered
    /// and caller allowed (with a registry), enough observations, inputs match storage,
    /// epoch marked used, instances in the field, proof valid, output decodable. The epoch
    /// is marked used before the verifier call, so a re-entrant update cannot apply twice.
    /// Open to anyone the registry allows (everyone without one): the proof, not the
    /// caller, is what is trusted.
    /// @param epoch The epoch (`observationCount`) the proof's inputs were taken at.
    /// @param proof The proof bytes.
    /// @param instances N_FEATURES input felts, then the volatility felt.
    function updateFee(uint64 epoch, bytes calldata proof, uint256[] calldata instances) external whenNotPaused {
        uint64 current = observationCount;
        if (epoch != current) revert StaleEpoch(epoch, current);
        if (epoch == lastUpdateEpoch) revert AlreadyUpdated(epoch);
        uint256 nextAllowed = uint256(lastUpdateTime) + minUpdateInterval;
        if (block.timestamp < nextAllowed) revert TooEarly(nextAllowed);

        int256 volatility = _acceptProof(proof, instances, abi.encode(epoch))[0];
        uint16 oldFee = feeBps;
        uint16 newFee = _nextFee(oldFee, _targetFee(volatility));
        feeBps = newFee;
        emit FeeUpdated(epoch, oldFee, newFee, volatility);
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev N_FEATURES inputs and one output (the volatility), weights fixed in the vk.
    function _instanceCount() internal pure override returns (uint256) {
        return N_FEATURES + 1;
    }

    /// @inheritdoc ZkmlConsumer
    function _outputCount() internal pure override returns (uint256) {
        return 1;
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev The features of the current window; the epoch in `context` was already checked
    /// to be the current one.
    function _expectedInputs(bytes memory) internal view override returns (uint256[] memory) {
        return _features();
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev Freshness is keyed on the epoch (`context` is `abi.encode(uint64 epoch)`): one
    /// update per epoch, and the update time starts the next interval.
    function _recordUse(bytes memory context) internal override {
        lastUpdateEpoch = abi.decode(context, (uint64));
        lastUpdateTime = uint64(block.timestamp);
    }

    /// @notice The feature felts of any window of prices, as the pool encodes its own: for
    /// off-chain tools and tests to check the encoding against `models/fee.py`.
    /// @param window WINDOW prices, oldest first, each 0 < price < 2**128 (`InvalidPrice`).
    /// @return inputs N_FEATURES felts.
    function featuresOf(uint256[WINDOW] memory window) public view returns (uint256[] memory inputs) {
        int256[N_FEATURES] memory features = FeeFeatures.compute(window, inputScale);
        inputs = new uint256[](N_FEATURES);
        for (uint256 i = 0; i < N_FEATURES; ++i) {
            inputs[i] = _encodeSigned(features[i]);
        }
    }

    /// @notice The feature felts of the current window (see `expectedInputs`).
    /// @return inputs N_FEATURES felts.
    function _features() internal view returns (uint256[] memory inputs) {
        uint64 count = observationCount;
        if (count < WINDOW) revert NotEnoughObservations(count, uint64(WINDOW));
        return featuresOf(observations());
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
