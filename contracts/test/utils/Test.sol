// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Vm} from "./Vm.sol";

/// @title Cheatcode access
/// @notice The handle `vm` and fuzz-input bounding, for suites and for invariant handlers
/// (contracts forge calls at random, which are not test suites themselves).
/// @dev TEST ONLY.
abstract contract Cheats {
    /// @notice Where forge answers cheatcodes: address(uint160(uint256(keccak256("hevm cheat code")))).
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice Maps any fuzz input into [min, max], keeping inputs already inside unchanged.
    /// @param x The fuzz input.
    /// @param min The lowest value.
    /// @param max The highest value (>= min).
    /// @return The bounded value.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + x % (size + 1);
    }

    /// @notice `bound` for signed values: order-preserving through the sign-flipped word.
    /// @param x The fuzz input.
    /// @param min The lowest value.
    /// @param max The highest value (>= min).
    /// @return The bounded value.
    function boundInt(int256 x, int256 min, int256 max) internal pure returns (int256) {
        return _fromOrdered(bound(_toOrdered(x), _toOrdered(min), _toOrdered(max)));
    }

    /// @dev Two's complement with the sign bit flipped: int order becomes uint order.
    function _toOrdered(int256 x) private pure returns (uint256) {
        return uint256(x) ^ (uint256(1) << 255);
    }

    /// @dev The inverse of `_toOrdered`.
    function _fromOrdered(uint256 x) private pure returns (int256) {
        return int256(x ^ (uint256(1) << 255));
    }
}

/// @title A tiny forge test base (forge-std stand-in)
/// @notice What the suites need from forge-std, offline: the cheatcode handle `vm`, assertions
/// (forge's own `vm.assert*` cheatcodes, so a failure reads as in forge-std), fuzz-input
/// bounding, labelled addresses and the target list forge asks an invariant suite for.
/// @dev TEST ONLY. Forge finds tests by name (`test*`, `testFuzz*`, `invariant*`) and runs
/// `setUp` first; it calls `targetContracts()` (forge-std's `StdInvariant` selector) to learn
/// which contracts an invariant run may call.
abstract contract Test is Cheats {
    /// @dev The contracts invariant runs call (empty: forge picks every deployed contract).
    address[] private _targetedContracts;

    /// @notice The contracts forge may call in invariant runs (see `_targetContract`).
    /// @return targeted The addresses given to `_targetContract`.
    function targetContracts() public view returns (address[] memory targeted) {
        return _targetedContracts;
    }

    /// @notice Restricts invariant runs to `target` (call once per target in `setUp`).
    /// @param target A handler contract whose functions are the allowed actions.
    function _targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    /// @notice An address named `name` (deterministic, labelled in traces).
    /// @param name The label.
    /// @return account keccak256(name) as an address.
    function makeAddr(string memory name) internal returns (address account) {
        account = address(uint160(uint256(keccak256(bytes(name)))));
        vm.label(account, name);
    }

    // Assertions: forge's `vm.assert*` cheatcodes, which fail the test with `what` and both values.

    /// @notice Fails the test with `what` unless `condition` holds.
    function assertTrue(bool condition, string memory what) internal pure {
        vm.assertTrue(condition, what);
    }

    /// @notice Fails the test with `what` unless `left == right`.
    function assertEq(uint256 left, uint256 right, string memory what) internal pure {
        vm.assertEq(left, right, what);
    }

    /// @notice Fails the test with `what` unless `left == right`.
    function assertEq(int256 left, int256 right, string memory what) internal pure {
        vm.assertEq(left, right, what);
    }

    /// @notice Fails the test with `what` unless `left == right`.
    function assertEq(address left, address right, string memory what) internal pure {
        vm.assertEq(left, right, what);
    }

    /// @notice Fails the test with `what` unless `left == right`.
    function assertEq(bytes32 left, bytes32 right, string memory what) internal pure {
        vm.assertEq(left, right, what);
    }

    /// @notice Fails the test with `what` unless `left == right`.
    function assertEq(bool left, bool right, string memory what) internal pure {
        vm.assertEq(left, right, what);
    }

    /// @notice Fails the test with `what` unless `left <= right`.
    function assertLe(uint256 left, uint256 right, string memory what) internal pure {
        vm.assertLe(left, right, what);
    }

    /// @notice Fails the test with `what` unless `left >= right`.
    function assertGe(uint256 left, uint256 right, string memory what) internal pure {
        vm.assertGe(left, right, what);
    }
}
