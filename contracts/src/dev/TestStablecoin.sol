// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test USD (tUSD) -- FOR DEV CHAINS ONLY
/// @notice !!! DEV CHAINS ONLY. ANYONE CAN MINT THIS TOKEN, SO IT IS WORTH NOTHING. NEVER
/// DEPLOY IT ON A CHAIN WHERE ANYTHING HAS VALUE, NEVER PRICE ANYTHING REAL IN IT, NEVER
/// ACCEPT IT AS PAYMENT. !!!
/// It exists so that the inference market can be tried end to end on a local node (anvil):
/// requesters and provers mint themselves a balance from the faucet, then escrow, stake
/// and withdraw as they would with a real stablecoin of 6 decimals.
/// @dev A plain OpenZeppelin ERC-20 (no fee on transfer, no rebasing: the market's balance
/// checks hold) with a public `mint` capped per call. The cap only keeps a typo from minting
/// an absurd amount; it is not access control, and nothing here is.
contract TestStablecoin is ERC20 {
    /// @notice The most one `mint` call may create: 1,000,000 tUSD.
    uint256 public constant MINT_CAP = 1_000_000 * 10 ** 6;

    /// @notice A `mint` asked for more than `MINT_CAP`.
    /// @param amount The amount asked for.
    /// @param cap The most one call may mint.
    error MintCapExceeded(uint256 amount, uint256 cap);

    constructor() ERC20("Test USD", "tUSD") {}

    /// @notice 6, like the stablecoins it stands in for.
    /// @return The number of decimals.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice DEV ONLY faucet: mints `amount` to `to`, for anyone, up to `MINT_CAP` per call.
    /// @param to The receiver (not zero: `ERC20InvalidReceiver`).
    /// @param amount The amount, in units of 10**-6 tUSD.
    function mint(address to, uint256 amount) external {
        if (amount > MINT_CAP) revert MintCapExceeded(amount, MINT_CAP);
        _mint(to, amount);
    }
}
