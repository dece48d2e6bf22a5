// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AdaptiveFeePool} from "../src/AdaptiveFeePool.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {FeePools} from "./utils/FeePools.sol";
import {Felt} from "./utils/Felt.sol";
import {Cheats, Test} from "./utils/Test.sol";

/// @title What forge may do to a fee pool in an invariant run
/// @notice TEST ONLY: owns a pool pinned to an accepting mock verifier and exposes its life as
/// actions (record a price, let time pass, submit a proof of any volatility, pause, unpause),
/// keeping ghost records of every accepted update for the invariants to judge.
contract FeePoolHandler is Cheats {
    /// @notice The pool under test (owned by this handler).
    AdaptiveFeePool public immutable pool;
    /// @notice Accepted updates.
    uint256 public updates;
    /// @notice The largest |fee change| of one accepted update.
    uint256 public largestStep;
    /// @notice The shortest time between two accepted updates (max while fewer than two).
    uint256 public shortestGap = type(uint256).max;
    /// @notice Accepted updates while paused (must stay 0).
    uint256 public updatesWhilePaused;
    /// @notice Accepted updates for an epoch that had one already (must stay 0).
    uint256 public repeatedEpochs;
    /// @notice Accepted updates whose fee is not the policy's clamped, stepped tier (must stay 0).
    uint256 public unexpectedFees;

    mapping(uint64 epoch => bool) private _updated;
    uint256 private _lastUpdateTime;

    constructor() {
        pool = FeePools.deploy(new MockVerifier(true), FeePools.defaultPolicy(), address(this));
        FeePools.fillWindow(pool);
    }

    /// @notice Records a price anywhere in the pool's accepted range (a new epoch).
    /// @param seed Fuzz input for the price.
    function recordPrice(uint256 seed) external {
        pool.recordPrice(bound(seed, 1, 2 ** 128 - 1));
    }

    /// @notice Lets up to two minutes pass.
    /// @param seconds_ Fuzz input for the wait.
    function wait(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 120));
    }

    /// @notice Submits a proof (the mock accepts it) over the current window predicting
    /// `volatility`, for the current epoch or a stale one.
    /// @param volatility Fuzz input for the model's output.
    /// @param stale Whether to claim the previous epoch instead.
    function update(int256 volatility, bool stale) external {
        volatility = boundInt(volatility, -int256(Felt.MAX_ABS - 1), int256(Felt.MAX_ABS - 1));
        uint64 epoch = pool.currentEpoch() - (stale ? 1 : 0);
        uint16 before = pool.feeBps();
        uint16 target = _clampedTier(volatility);
        bool paused = pool.paused();
        try pool.updateFee(epoch, hex"c0ffee", FeePools.instancesFor(pool, volatility)) {
            uint16 afterwards = pool.feeBps();
            uint256 step = afterwards > before ? afterwards - before : before - afterwards;
            if (step > largestStep) largestStep = step;
            if (_expectedFee(before, target) != afterwards) ++unexpectedFees;
            if (paused) ++updatesWhilePaused;
            if (_updated[epoch]) ++repeatedEpochs;
            _updated[epoch] = true;
            if (updates > 0 && block.timestamp - _lastUpdateTime < shortestGap) {
                shortestGap = block.timestamp - _lastUpdateTime;
            }
            _lastUpdateTime = block.timestamp;
            ++updates;
        } catch {}
    }

    /// @notice Pauses the pool (if it is not).
    function pause() external {
        if (!pool.paused()) pool.pause();
    }

    /// @notice Unpauses the pool (if it is paused).
    function unpause() external {
        if (pool.paused()) pool.unpause();
    }

    /// @dev The policy's tier for `volatility` clamped to [min, max], stated independently of
    /// the pool's code: 5/30/60/100 bps at 0.3/0.7/1.3 % (negative counts as 0).
    function _clampedTier(int256 volatility) internal view returns (uint16 tier) {
        uint256 microPct = volatility > 0 ? uint256(volatility) * 1e6 / 2 ** FeePools.OUTPUT_SCALE : 0;
        tier = microPct < 300_000 ? 5 : microPct < 700_000 ? 30 : microPct < 1_300_000 ? 60 : 100;
        if (tier < pool.minFeeBps()) tier = pool.minFeeBps();
        if (tier > pool.maxFeeBps()) tier = pool.maxFeeBps();
    }

    /// @dev One step of at most maxStepBps from `before` toward `target`.
    function _expectedFee(uint16 before, uint16 target) internal view returns (uint16) {
        uint16 step = pool.maxStepBps();
        if (target > before) return target - before > step ? before + step : target;
        return before - target > step ? before - step : target;
    }
}

/// @title AdaptiveFeePool invariants
/// @notice Whatever sequence of prices, waits, proofs, pauses and unpauses forge tries: the fee
/// stays in [min, max], moves by at most one step toward the proven tier, at most once per
/// epoch, never twice within the interval, never while paused.
contract AdaptiveFeePoolInvariantTest is Test {
    FeePoolHandler internal handler;
    AdaptiveFeePool internal pool;

    function setUp() public {
        vm.warp(1_000_000);
        handler = new FeePoolHandler();
        pool = handler.pool();
        _targetContract(address(handler));
    }

    /// @notice The handler's actions reach the pool: an update lands when the rules allow it.
    function test_Handler_UpdatesOnlyWhenAllowed() public {
        handler.update(1e12, false);
        handler.update(1e12, false); // same epoch
        assertEq(handler.updates(), 1, "one update in epoch 9");
        handler.recordPrice(2000e18);
        handler.update(1e12, false); // too early
        handler.wait(120);
        handler.update(1e12, true); // stale epoch
        handler.update(1e12, false);
        assertEq(handler.updates(), 2, "epoch 10 after the interval");
        handler.recordPrice(2000e18);
        handler.wait(120);
        handler.pause();
        handler.update(1e12, false);
        assertEq(handler.updates(), 2, "nothing while paused");
    }

    function invariant_FeeStaysWithinBounds() public view {
        uint16 fee = pool.feeBps();
        assertTrue(fee >= pool.minFeeBps() && fee <= pool.maxFeeBps(), "fee in [min, max]");
    }

    function invariant_EachUpdateIsOneStepTowardTheTier() public view {
        assertLe(handler.largestStep(), pool.maxStepBps(), "|change| <= maxStep");
        assertEq(handler.unexpectedFees(), 0, "fee = step toward the clamped tier");
    }

    function invariant_OneUpdatePerEpochAndInterval() public view {
        assertEq(handler.repeatedEpochs(), 0, "one update per epoch");
        if (handler.updates() > 1) assertGe(handler.shortestGap(), pool.minUpdateInterval(), "interval kept");
    }

    function invariant_NoUpdateWhilePaused() public view {
        assertEq(handler.updatesWhilePaused(), 0, "paused means no update");
    }

    function invariant_EpochBookkeeping() public view {
        uint64 last = pool.lastUpdateEpoch();
        assertTrue(last == pool.NEVER_UPDATED() || last <= pool.observationCount(), "last epoch <= current");
        assertLe(handler.updates(), pool.observationCount() - 8, "at most one update per epoch since the window");
    }
}
