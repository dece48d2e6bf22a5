// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Fee model features
/// @notice The inputs of the `fee` model computed on chain from a window of prices, in one
/// place for every contract that feeds the model (the pool that checks a proof's inputs
/// against its own prices, a contract that buys a forecast from the market): they must
/// match `models/fee.py` (`fixed_point_features`) bit for bit, or no proof fits.
/// @dev feature_i = (p_i - p_8) * 100 * 2**inputScale / p_8, with signed division
/// (truncating toward zero), saturated to +-LIMIT_PCT * 2**inputScale: percent deviations of
/// each older price from the latest, as signed fixed point at the circuit's input scale.
/// The circuit was calibrated on that whole box, so any window a contract can hold has
/// inputs a proof can be made for (DESIGN.md rule 6). Internal functions only: the code is
/// compiled into each user, nothing to deploy or link.
library FeeFeatures {
    /// @notice Prices per window; the last one is the reference price.
    uint256 internal constant WINDOW = 9;
    /// @notice Features per window (one per older price).
    uint256 internal constant COUNT = WINDOW - 1;
    /// @notice Features are percent deviations from the latest price.
    int256 internal constant MULTIPLIER = 100;
    /// @notice Each feature saturates to +-LIMIT_PCT percent (the model's input domain).
    int256 internal constant LIMIT_PCT = 100;
    /// @notice The largest input scale (bits): features stay far from int256's range.
    uint8 internal constant MAX_SCALE = 64;

    /// @notice A price is 0 or >= 2**128 (no contract records such a price).
    error InvalidPrice();

    /// @notice The model's features of a window of prices.
    /// @param window WINDOW prices, oldest first, each 0 < price < 2**128 (`InvalidPrice`).
    /// @param inputScale The circuit's input scale in bits, <= MAX_SCALE: a precondition every
    /// caller checks once in its configuration, so a larger one is a bug of the caller
    /// (Panic 0x01), not a rejection with a name of its own in the caller's ABI.
    /// @return features COUNT signed fixed-point values, |feature| <= LIMIT_PCT * 2**inputScale.
    function compute(uint256[WINDOW] memory window, uint8 inputScale)
        internal
        pure
        returns (int256[COUNT] memory features)
    {
        assert(inputScale <= MAX_SCALE);
        for (uint256 k = 0; k < WINDOW; ++k) {
            if (window[k] == 0 || window[k] >= 2 ** 128) revert InvalidPrice();
        }
        int256 latest = int256(window[WINDOW - 1]);
        int256 unit = int256(uint256(1) << inputScale);
        int256 limit = LIMIT_PCT * unit;
        for (uint256 i = 0; i < COUNT; ++i) {
            int256 feature;
            unchecked {
                // checked above: prices in (0, 2**128) and a scale <= 64, so
                // |p_i - p_8| * 100 * 2**64 < 2**199 and latest > 0: nothing overflows (and the
                // checked version costs the pool 1.7k gas more per window)
                feature = (int256(window[i]) - latest) * MULTIPLIER * unit / latest;
            }
            if (feature > limit) feature = limit;
            else if (feature < -limit) feature = -limit;
            features[i] = feature;
        }
    }
}
