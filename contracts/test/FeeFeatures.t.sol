// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AdaptiveFeePool} from "../src/AdaptiveFeePool.sol";
import {FeeFeatures} from "../src/FeeFeatures.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {FeePools} from "./utils/FeePools.sol";
import {Felt} from "./utils/Felt.sol";
import {Test} from "./utils/Test.sol";

/// @title The library's features, callable (TEST ONLY)
contract FeeFeaturesHarness {
    /// @notice `FeeFeatures.compute`.
    function compute(uint256[9] memory window, uint8 inputScale) external pure returns (int256[8] memory) {
        return FeeFeatures.compute(window, inputScale);
    }
}

/// @title FeeFeatures: one computation of the fee model's inputs
/// @notice The pool's encoding of a window is the library's features as felts, for any
/// window and scale; features saturate at +-100 %; invalid prices are refused by name.
contract FeeFeaturesTest is Test {
    FeeFeaturesHarness internal harness;
    AdaptiveFeePool internal pool;

    function setUp() public {
        harness = new FeeFeaturesHarness();
        pool = FeePools.deploy(new MockVerifier(true), FeePools.defaultPolicy(), address(this));
    }

    function test_Constants_AreThePools() public view {
        assertEq(pool.WINDOW(), FeeFeatures.WINDOW, "window");
        assertEq(pool.N_FEATURES(), FeeFeatures.COUNT, "features");
        assertEq(pool.FEATURE_MULTIPLIER(), FeeFeatures.MULTIPLIER, "percent");
        assertEq(pool.FEATURE_LIMIT_PCT(), FeeFeatures.LIMIT_PCT, "saturation");
    }

    function testFuzz_ThePoolEncodesTheLibrarysFeatures(uint256[9] memory window) public view {
        for (uint256 k = 0; k < 9; ++k) {
            window[k] = bound(window[k], 1, 2 ** 128 - 1);
        }
        int256[8] memory features = harness.compute(window, FeePools.INPUT_SCALE);
        uint256[] memory felts = pool.featuresOf(window);
        int256 limit = 100 * int256(uint256(1) << FeePools.INPUT_SCALE);
        for (uint256 i = 0; i < 8; ++i) {
            assertEq(felts[i], Felt.encode(features[i]), "felt of the feature");
            assertTrue(features[i] <= limit && features[i] >= -limit, "saturated to +-100 %");
        }
    }

    function test_Compute_PercentDeviationsAtTheScale() public view {
        uint256[9] memory window = [uint256(3e18), 1, 1e18, 1e18, 1e18, 1e18, 1e18, 15e17, 1e18];
        int256[8] memory features = harness.compute(window, 0);
        assertEq(features[0], 100, "+200 % saturates to +100 %");
        assertEq(features[1], -99, "-100 %, truncated toward zero");
        assertEq(features[7], 50, "+50 %");
        features = harness.compute(window, 64);
        assertEq(features[7], 50 * int256(uint256(1) << 64), "the largest scale");
    }

    function test_Compute_RefusesInvalidPrices() public {
        uint256[9] memory window = [uint256(1), 1, 1, 1, 1, 1, 1, 1, 1];
        window[4] = 2 ** 128;
        vm.expectRevert(FeeFeatures.InvalidPrice.selector);
        harness.compute(window, 10);
        window[4] = 0;
        vm.expectRevert(FeeFeatures.InvalidPrice.selector);
        harness.compute(window, 10);
    }
}
