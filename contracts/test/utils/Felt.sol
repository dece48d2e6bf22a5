// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Field-element oracle for tests
/// @notice An independent statement of how a signed fixed-point value becomes a BN254 felt
/// (`ZkmlConsumer`'s encoding, and ezkl's): x >= 0 is x, x < 0 is r - |x|. Tests build
/// instances with it and check the contracts against it, not against themselves; `decode`
/// reads a real proof's instances back.
/// @dev TEST ONLY.
library Felt {
    /// @notice The BN254 scalar field modulus r.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice `ZkmlConsumer.MAX_ABS`: signed values carried by instances have |v| < 2**128.
    uint256 internal constant MAX_ABS = 2 ** 128;

    /// @notice The felt carrying `value` (|value| < r).
    /// @param value A signed integer.
    /// @return The field element.
    function encode(int256 value) internal pure returns (uint256) {
        return value >= 0 ? uint256(value) : R - uint256(-value);
    }

    /// @notice The signed integer a felt carries: the upper half of the field is negative
    /// (for reading a real proof's instances in a test; `ZkmlConsumer` also refuses the
    /// band between 2**128 and r - 2**128).
    /// @param felt A field element (< r).
    /// @return The signed value.
    function decode(uint256 felt) internal pure returns (int256) {
        return felt > R / 2 ? -int256(R - felt) : int256(felt);
    }
}
