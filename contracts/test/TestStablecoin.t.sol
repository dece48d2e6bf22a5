// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {TestStablecoin} from "../src/dev/TestStablecoin.sol";
import {Test} from "./utils/Test.sol";

/// @title TestStablecoin: the dev chains' tUSD
/// @notice A plain 6-decimals ERC-20 whose faucet anyone may use, up to a cap per call.
contract TestStablecoinTest is Test {
    TestStablecoin internal usd;

    function setUp() public {
        usd = new TestStablecoin();
    }

    function test_Metadata() public view {
        assertEq(keccak256(bytes(usd.name())), keccak256("Test USD"), "name");
        assertEq(keccak256(bytes(usd.symbol())), keccak256("tUSD"), "symbol");
        assertEq(usd.decimals(), 6, "decimals");
        assertEq(usd.MINT_CAP(), 1_000_000e6, "a million per call");
    }

    function testFuzz_Mint_AnyoneUpToTheCap(address caller, uint256 amount) public {
        vm.assume(caller != address(0));
        amount = bound(amount, 0, usd.MINT_CAP());
        vm.prank(caller);
        usd.mint(caller, amount);
        assertEq(usd.balanceOf(caller), amount, "minted");
        assertEq(usd.totalSupply(), amount, "supply");
    }

    function test_Mint_RefusesAboveTheCapAndNobody() public {
        uint256 cap = usd.MINT_CAP();
        vm.expectRevert(abi.encodeWithSelector(TestStablecoin.MintCapExceeded.selector, cap + 1, cap));
        usd.mint(address(this), cap + 1);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        usd.mint(address(0), 1);
    }

    function test_TransfersMoveTheExactAmount() public {
        usd.mint(address(this), 5e6);
        assertTrue(usd.transfer(address(0xB0B), 2e6), "sent");
        assertEq(usd.balanceOf(address(0xB0B)), 2e6, "no fee on transfer");
        assertEq(usd.balanceOf(address(this)), 3e6, "the rest");
    }
}
