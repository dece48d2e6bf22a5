// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

/// @title Ownable, two-step, never renounced
/// @notice OpenZeppelin's `Ownable2Step` without `renounceOwnership`: a consumer's owner holds
/// its pause switch (rule 6) and, for the fee pool, its price feed, so giving ownership up
/// to nobody would remove them for good. Ownership still moves, in two steps.
abstract contract OwnableNoRenounce is Ownable2Step {
    /// @notice Ownership cannot be given up; transfer it instead.
    error RenounceDisabled();

    /// @notice Always reverts with `RenounceDisabled`.
    function renounceOwnership() public pure override {
        revert RenounceDisabled();
    }
}
