// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title A token that calls back on transfer (TEST ONLY)
/// @notice Once armed, its next transfer between accounts first calls `target` with `data`
/// (as a hostile or hooked token would) and records how that call ended, so a test can see
/// a contract refuse to be re-entered while it moves this token.
contract ReentrantToken is ERC20 {
    /// @notice The contract the armed transfer calls.
    address public target;
    /// @notice What the armed transfer sends it.
    bytes public data;
    /// @notice Whether the next transfer calls back.
    bool public armed;
    /// @notice Whether the last call back succeeded.
    bool public lastOk;
    /// @notice The last call back's return or revert data.
    bytes public lastReturn;

    constructor() ERC20("Reentrant", "RE") {}

    /// @notice Mints `amount` to `to`; open to anyone (test only).
    /// @param to The receiver.
    /// @param amount The amount.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Makes the next transfer between accounts call `target_` with `data_` first.
    /// @param target_ The contract to call.
    /// @param data_ The calldata.
    function arm(address target_, bytes calldata data_) external {
        (target, data, armed) = (target_, data_, true);
    }

    /// @dev Calls back once (disarming first, so the call back cannot loop), then moves.
    function _update(address from, address to, uint256 value) internal override {
        if (armed && from != address(0) && to != address(0)) {
            armed = false;
            (bool ok, bytes memory returned) = target.call(data);
            (lastOk, lastReturn) = (ok, returned);
        }
        super._update(from, to, value);
    }
}
