// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceMarketErrors as E, IInferenceMarketEvents as Ev, RequestStatus} from "../src/IInferenceMarket.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";

/// @title InferenceMarket: refunds and withdrawals
/// @notice When an escrow goes back (after the deadline, or once the version is retired or
/// revoked), where a lock's stake goes then, and that every credit is paid out once.
contract InferenceMarketRefundsTest is MarketFixture {
    function test_Refund_OnlyAfterTheDeadlineRetirementOrRevocation() public {
        uint256 id = _request();
        vm.expectRevert(abi.encodeWithSelector(E.NotRefundable.selector, id));
        market.refund(id);
        vm.expectRevert(abi.encodeWithSelector(E.UnknownRequest.selector, 77));
        market.refund(77);
        vm.warp(block.timestamp + TTL);
        vm.expectRevert(abi.encodeWithSelector(E.NotRefundable.selector, id));
        market.refund(id); // the deadline itself still belongs to the request
        vm.warp(block.timestamp + 1);
        vm.expectEmit();
        emit Ev.Refunded(id, requester, PRICE + PROVER_FEE);
        vm.expectEmit();
        emit Ev.Credited(requester, token, PRICE + PROVER_FEE);
        vm.prank(stranger);
        market.refund(id);
        assertEq(uint256(market.getRequest(id).status), uint256(RequestStatus.Refunded), "refunded");
        vm.expectRevert(abi.encodeWithSelector(E.RequestNotOpen.selector, id, RequestStatus.Refunded));
        market.refund(id);
        assertEq(market.liabilities(token), PRICE + PROVER_FEE, "owed until withdrawn");
    }

    function test_Refund_AnExpiredLockForfeitsItsStake() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        vm.warp(block.timestamp + TTL + 1);
        vm.expectEmit();
        emit Ev.StakeForfeited(id, prover, requester, STAKE);
        market.refund(id);
        assertEq(market.creditOf(requester, token), PRICE + PROVER_FEE + STAKE, "escrow and stake");
        assertEq(market.creditOf(prover, token), 0, "the idle prover loses its stake");
    }

    function test_Refund_RevocationMidLockReturnsTheStake() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        vm.prank(modelOwner);
        registry.revokeVersion(modelId, version);
        uint256[] memory instances = _instancesFor(_ids(id));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(E.VersionRevoked.selector, modelId, version));
        market.fulfil(_ids(id), PROOF, instances);
        market.refund(id);
        assertEq(market.creditOf(requester, token), PRICE + PROVER_FEE, "escrow back");
        assertEq(market.creditOf(prover, token), STAKE, "stake back: the prover did nothing wrong");
    }

    function test_Withdraw_PaysTheCreditOnce() public {
        _settled();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(E.NothingToWithdraw.selector, token));
        market.withdraw(token);
        uint256 credit = market.creditOf(payee, token);
        assertEq(credit, PRICE, "the payee earned the price");
        vm.expectEmit();
        emit Ev.Withdrawn(payee, token, PRICE);
        vm.prank(payee);
        market.withdraw(token);
        assertEq(token.balanceOf(payee), PRICE, "paid");
        assertEq(market.creditOf(payee, token), 0, "credit spent");
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(E.NothingToWithdraw.selector, token));
        market.withdraw(token);
        vm.prank(prover);
        market.withdraw(token);
        assertEq(market.liabilities(token), 0, "nothing owed");
        assertEq(token.balanceOf(address(market)), 0, "nothing held");
    }
}
