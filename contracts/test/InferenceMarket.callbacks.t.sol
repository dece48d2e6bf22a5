// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IInferenceMarketErrors as E, IInferenceMarketEvents as Ev, RequestStatus} from "../src/IInferenceMarket.sol";
import {HostileConsumer, RecordingConsumer} from "./MarketMocks.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";
import {Vm} from "./utils/Vm.sol";

/// @title InferenceMarket: callbacks
/// @notice A callback is told once, after settlement, with exactly its gas limit; the caller
/// of `fulfil` cannot starve it (63/64 rule); a callback that reverts, burns its gas,
/// re-enters the market or answers with a return bomb neither blocks the settlement nor
/// takes anything.
contract InferenceMarketCallbacksTest is MarketFixture {
    uint32 internal constant LIMIT = 500_000;

    /// @dev Locks and settles `id` with `gas` for the whole call; returns whether it went
    /// through and its revert data.
    function _fulfilWithGas(uint256 id, uint256 gas) internal returns (bool ok, bytes memory reason) {
        uint256[] memory ids = _ids(id);
        bytes memory call = abi.encodeCall(market.fulfil, (ids, PROOF, _instancesFor(ids)));
        vm.prank(prover);
        (ok, reason) = address(market).call{gas: gas}(call);
    }

    function _assertSettled(uint256 id) internal view {
        assertEq(uint256(market.getRequest(id).status), uint256(RequestStatus.Fulfilled), "settled");
        assertEq(market.creditOf(prover, token), PROVER_FEE + STAKE, "prover paid");
        assertEq(market.creditOf(payee, token), PRICE, "payee paid");
        assertEq(token.balanceOf(address(market)), market.liabilities(token), "balance == liabilities");
    }

    function test_Callback_ToldOnceWithExactlyItsGas() public {
        RecordingConsumer consumer = new RecordingConsumer();
        uint256 id = _requestWithCallback(address(consumer), LIMIT);
        assertEq(market.getRequest(id).callback, address(consumer), "callback recorded");
        assertEq(market.getRequest(id).callbackGasLimit, LIMIT, "limit recorded");
        _lockAs(prover, _ids(id));
        _fulfilAs(prover, _ids(id));
        assertEq(consumer.calls(), 1, "told once");
        assertEq(consumer.lastRequestId(), id, "of its request");
        assertEq(consumer.lastSender(), address(market), "by the market");
        assertEq(consumer.lastOutputs()[0], outputFor(id, 0), "the proven output");
        assertLe(consumer.gasAtEntry(), LIMIT, "no more than its limit");
        assertGe(consumer.gasAtEntry(), LIMIT - 1000, "its limit, less the dispatch");
    }

    /// @notice Callbacks run in a batch's order, only for the requests that have one.
    function test_Callback_OnlyForTheRequestsThatHaveOne() public {
        RecordingConsumer consumer = new RecordingConsumer();
        uint256 plain = _request();
        uint256 told = _requestWithCallback(address(consumer), LIMIT);
        uint256[] memory ids = _ids(told, plain);
        _lockAs(prover, ids);
        _fulfilAs(prover, ids);
        assertEq(consumer.calls(), 1, "one callback");
        assertEq(consumer.lastRequestId(), told, "its own request");
    }

    /// @notice Whatever gas the caller sends, the callback never runs short: either the
    /// whole fulfilment reverts (`InsufficientGasForCallback`, or out of gas before settling)
    /// or the callback gets its full limit.
    function testFuzz_Callback_NeverStarved(uint256 gas) public {
        RecordingConsumer consumer = new RecordingConsumer();
        uint256 id = _requestWithCallback(address(consumer), LIMIT);
        _lockAs(prover, _ids(id));
        gas = bound(gas, 100_000, 1_200_000);
        (bool ok, bytes memory reason) = _fulfilWithGas(id, gas);
        if (ok) {
            assertEq(consumer.calls(), 1, "told");
            assertGe(consumer.gasAtEntry(), LIMIT - 1000, "with its whole limit");
        } else {
            assertEq(consumer.calls(), 0, "not told");
            assertEq(uint256(market.getRequest(id).status), uint256(RequestStatus.Open), "nothing settled");
            if (reason.length != 0) {
                assertEq(
                    keccak256(reason),
                    keccak256(abi.encodeWithSelector(E.InsufficientGasForCallback.selector, id)),
                    "by name"
                );
            }
        }
    }

    function test_Callback_TooLittleGasRevertsTheWholeFulfilment() public {
        RecordingConsumer consumer = new RecordingConsumer();
        uint256 id = _requestWithCallback(address(consumer), LIMIT);
        _lockAs(prover, _ids(id));
        (bool ok, bytes memory reason) = _fulfilWithGas(id, 450_000);
        assertTrue(!ok, "refused");
        assertEq(
            keccak256(reason), keccak256(abi.encodeWithSelector(E.InsufficientGasForCallback.selector, id)), "by name"
        );
        assertEq(uint256(market.getRequest(id).status), uint256(RequestStatus.Open), "nothing settled");
        (ok,) = _fulfilWithGas(id, 1_000_000);
        assertTrue(ok, "more gas lets it through");
        assertEq(consumer.calls(), 1, "told");
    }

    function test_Callback_ARevertIsRecordedNotUndone() public {
        HostileConsumer hostile = new HostileConsumer(market, HostileConsumer.Attack.Revert);
        uint256 id = _requestWithCallback(address(hostile), LIMIT);
        _lockAs(prover, _ids(id));
        vm.expectEmit();
        emit Ev.CallbackFailed(id, address(hostile));
        _fulfilAs(prover, _ids(id));
        _assertSettled(id);
    }

    function test_Callback_BurningAllItsGasIsRecordedNotUndone() public {
        HostileConsumer hostile = new HostileConsumer(market, HostileConsumer.Attack.BurnGas);
        uint256 id = _requestWithCallback(address(hostile), 2_000_000);
        _lockAs(prover, _ids(id));
        vm.expectEmit();
        emit Ev.CallbackFailed(id, address(hostile));
        (bool ok,) = _fulfilWithGas(id, 2_400_000);
        assertTrue(ok, "settled with the 1/64 and the rest kept back");
        _assertSettled(id);
    }

    function test_Callback_CannotReenterTheMarket() public {
        HostileConsumer hostile = new HostileConsumer(market, HostileConsumer.Attack.Reenter);
        uint256 id = _requestWithCallback(address(hostile), LIMIT);
        _lockAs(prover, _ids(id));
        _fulfilAs(prover, _ids(id));
        assertEq(hostile.attempts(), 1, "it tried");
        assertEq(hostile.reentries(), 0, "refund, fulfil and lock all refused");
        bytes32 guard = keccak256(abi.encodeWithSelector(ReentrancyGuard.ReentrancyGuardReentrantCall.selector));
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(keccak256(hostile.reasons(i)), guard, "by the reentrancy guard");
        }
        _assertSettled(id);
    }

    /// @notice 900 kB of return data: the market copies none of it. Copying would cost the
    /// market about 1.6M gas more than it has left, so the fulfilment going through is the
    /// proof.
    function test_Callback_AReturnBombCostsTheMarketNothing() public {
        HostileConsumer hostile = new HostileConsumer(market, HostileConsumer.Attack.ReturnBomb);
        uint256 id = _requestWithCallback(address(hostile), 2_000_000);
        _lockAs(prover, _ids(id));
        vm.recordLogs();
        (bool ok,) = _fulfilWithGas(id, 2_400_000);
        assertTrue(ok, "settled");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != Ev.CallbackFailed.selector, "the callback succeeded");
        }
        _assertSettled(id);
    }

    /// @notice A callback whose code is gone by settlement is a failed callback.
    function test_Callback_WithoutCodeIsAFailure() public {
        RecordingConsumer consumer = new RecordingConsumer();
        uint256 id = _requestWithCallback(address(consumer), LIMIT);
        _lockAs(prover, _ids(id));
        vm.etch(address(consumer), "");
        vm.expectEmit();
        emit Ev.CallbackFailed(id, address(consumer));
        _fulfilAs(prover, _ids(id));
        _assertSettled(id);
    }
}
