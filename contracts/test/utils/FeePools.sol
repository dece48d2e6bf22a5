// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AdaptiveFeePool} from "../../src/AdaptiveFeePool.sol";
import {IHalo2Verifier} from "../../src/IHalo2Verifier.sol";
import {IModelRegistry} from "../../src/IModelRegistry.sol";
import {Felt} from "./Felt.sol";

/// @title Fee pools for tests
/// @notice The fee circuit's scales and the policy `prover deploy fee` uses, a price window,
/// and the instances a proof over the pool's current window carries.
/// @dev TEST ONLY.
library FeePools {
    /// @notice The fee circuit's input scale (bits).
    uint8 internal constant INPUT_SCALE = 10;
    /// @notice The fee circuit's output scale (bits).
    uint8 internal constant OUTPUT_SCALE = 34;

    /// @notice `prover deploy fee`'s policy (prover/consumers/fee/pool.py, models/fee.py).
    /// @return policy Thresholds 0.3/0.7/1.3 %, tiers 5/30/60/100 bps, fee 30 in [5, 100],
    /// steps of 25, one update per 60 s.
    function defaultPolicy() internal pure returns (AdaptiveFeePool.FeePolicy memory policy) {
        policy = AdaptiveFeePool.FeePolicy({
            thresholdsMicroPct: [uint256(300_000), 700_000, 1_300_000],
            tiersBps: [uint16(5), 30, 60, 100],
            initialFeeBps: 30,
            minFeeBps: 5,
            maxFeeBps: 100,
            maxStepBps: 25,
            minUpdateInterval: 60
        });
    }

    /// @notice A pool pinned to `verifier`, no registry, owned by `owner`.
    /// @param verifier The verifier (a MockVerifier in unit tests).
    /// @param policy The fee policy.
    /// @param owner The owner.
    /// @return The pool.
    function deploy(IHalo2Verifier verifier, AdaptiveFeePool.FeePolicy memory policy, address owner)
        internal
        returns (AdaptiveFeePool)
    {
        return new AdaptiveFeePool(verifier, IModelRegistry(address(0)), 0, INPUT_SCALE, OUTPUT_SCALE, policy, owner);
    }

    /// @notice Records a calm window of WINDOW prices around 2000 (18 decimals); owner only.
    /// @param pool The pool (the caller must own it).
    function fillWindow(AdaptiveFeePool pool) internal {
        for (uint256 i = 0; i < 9; ++i) {
            pool.recordPrice(2000e18 + i * 1e18);
        }
    }

    /// @notice The instances of a proof over the pool's current window predicting `volatility`.
    /// @param pool The pool.
    /// @param volatility Signed fixed point at OUTPUT_SCALE, percent per step (|v| < 2**128).
    /// @return instances The 8 input felts, then the output felt.
    function instancesFor(AdaptiveFeePool pool, int256 volatility) internal view returns (uint256[] memory instances) {
        uint256[8] memory inputs = pool.expectedInputs();
        instances = new uint256[](9);
        for (uint256 i = 0; i < 8; ++i) {
            instances[i] = inputs[i];
        }
        instances[8] = Felt.encode(volatility);
    }

    /// @notice The smallest volatility whose floor in millionths of a percent is `microPct`.
    /// @param microPct Volatility in millionths of a percent.
    /// @return Fixed point at OUTPUT_SCALE.
    function volatilityAt(uint256 microPct) internal pure returns (int256) {
        return int256((microPct * 2 ** OUTPUT_SCALE + 1e6 - 1) / 1e6);
    }
}
