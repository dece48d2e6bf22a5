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

    /// @notice The formula as the pool first wrote it, with checked arithmetic: the reference
    /// the library's unchecked version must equal.
    function _reference(uint256[9] memory window, uint8 scale) internal pure returns (int256[8] memory features) {
        int256 latest = int256(window[8]);
        int256 unit = int256(uint256(1) << scale);
        int256 limit = 100 * unit;
        for (uint256 i = 0; i < 8; ++i) {
            int256 feature = (int256(window[i]) - latest) * 100 * unit / latest;
            if (feature > limit) feature = limit;
            else if (feature < -limit) feature = -limit;
            features[i] = feature;
        }
    }

    function testFuzz_Compute_EqualsTheCheckedReference(uint256[9] memory window, uint8 scale) public view {
        for (uint256 k = 0; k < 9; ++k) {
            window[k] = bound(window[k], 1, 2 ** 128 - 1);
        }
        scale = uint8(bound(scale, 0, 64));
        int256[8] memory features = harness.compute(window, scale);
        int256[8] memory expected = _reference(window, scale);
        for (uint256 i = 0; i < 8; ++i) {
            assertEq(features[i], expected[i], "same value");
        }
    }

    function testFuzz_ThePoolEncodesTheLibrarysFeatures(uint256[9] memory window) public view {
        for (uint256 k = 0; k < 9; ++k) {
            window[k] = bound(window[k], 1, 2 ** 128 - 1);
        }
        int256[8] memory features = harness.compute(window, FeePools.INPUT_SCALE);
        uint256[] memory felts = pool.featuresOf(window);
        for (uint256 i = 0; i < 8; ++i) {
            assertEq(felts[i], Felt.encode(features[i]), "felt of the feature");
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

    /// @notice A scale above 64 is a caller's bug (both callers refuse it at deployment):
    /// an assertion, not arithmetic on a wrapped unit.
    function test_Compute_AssertsTheScale() public {
        uint256[9] memory window = [uint256(1), 1, 1, 1, 1, 1, 1, 1, 1];
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x01));
        harness.compute(window, 65);
    }

    /// @notice The extremes of the domain, prices 1 and 2**128 - 1 at scale 64: the
    /// arithmetic's largest magnitudes, exact (unchecked in the library, proven safe here).
    function test_Compute_Extremes() public view {
        uint256 top = 2 ** 128 - 1;
        int256 limit = 100 * int256(uint256(1) << 64);
        int256[8] memory features = harness.compute([top, 1, top, 1, top, 1, top, 1, 1], 64);
        assertEq(features[0], limit, "+(2**128 - 2) * 100 %: saturated");
        assertEq(features[1], 0, "no change");
        features = harness.compute([uint256(1), top, 1, top, 1, top, 1, top, top], 64);
        assertEq(features[0], -limit + 1, "-(1 - 1/(2**128 - 1)) * 100 %, truncated toward zero");
        assertEq(features[1], 0, "no change");
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
