// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {
    IInferenceMarketErrors as E,
    IInferenceMarketEvents as Ev,
    RequestStatus,
    Shape
} from "../src/IInferenceMarket.sol";
import {OddVerifier} from "./MarketMocks.sol";
import {Felt} from "./utils/Felt.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";
import {Vm} from "./utils/Vm.sol";
import {Versions} from "./utils/Versions.sol";

/// @title InferenceMarket: settlement by proof
/// @notice What `fulfil` pays, stores and emits, the proof checks in order with every
/// rejection by name, and the lock that makes a copied proof worthless (callbacks:
/// InferenceMarket.callbacks.t.sol).
contract InferenceMarketFulfilTest is MarketFixture {
    uint256 internal constant R = Felt.R;

    function _fulfilExpecting(bytes memory reason, uint256[] memory ids, uint256[] memory instances) internal {
        vm.prank(prover);
        vm.expectRevert(reason);
        market.fulfil(ids, PROOF, instances);
    }

    function _lockedRequests(uint256 n) internal returns (uint256[] memory ids) {
        ids = new uint256[](n);
        for (uint256 k = 0; k < n; ++k) {
            ids[k] = _request();
        }
        _lockAs(prover, ids);
    }

    function _count(Vm.Log[] memory logs, bytes32 topic) internal pure returns (uint256 count) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].topics.length != 0 && logs[i].topics[0] == topic) ++count;
        }
    }

    // --- what a settlement does --------------------------------------------------------------------

    function test_Fulfil_PaysStoresAndEmits() public {
        market.setProtocolFee(300);
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        uint256 liabilities = market.liabilities(token);
        int256[] memory expected = new int256[](1);
        expected[0] = outputFor(id, 0);
        vm.expectEmit();
        emit Ev.Fulfilled(id, prover, expected);
        vm.expectEmit();
        emit Ev.Credited(prover, token, PROVER_FEE + STAKE);
        vm.expectEmit();
        emit Ev.Credited(payee, token, PRICE - 30);
        vm.expectEmit();
        emit Ev.Credited(feeRecipient, token, 30);
        _fulfilAs(prover, _ids(id));
        assertEq(market.creditOf(prover, token), PROVER_FEE + STAKE, "prover: fee and stake back");
        assertEq(market.creditOf(payee, token), PRICE - 30, "payee: the price less 3 %");
        assertEq(market.creditOf(feeRecipient, token), 30, "protocol: 3 %");
        assertEq(market.liabilities(token), liabilities, "escrow and stake became credits");
        assertEq(token.balanceOf(address(market)), liabilities, "balance == liabilities");
        (RequestStatus status, int256[] memory outputs) = market.resultOf(id);
        assertEq(uint256(status), uint256(RequestStatus.Fulfilled), "fulfilled");
        assertEq(outputs[0], expected[0], "output stored");
        assertEq(market.getRequest(id).locker, prover, "the lock stays on record");
        assertEq(verifier.calls(), 1, "verified once");
    }

    /// @notice Slot k is the k-th id given, whatever the ids; one verifier call and one
    /// credit per account for the whole batch.
    function test_Fulfil_ABatchInTheOrderGiven() public {
        uint256[] memory ids = _lockedRequests(4);
        (ids[0], ids[1], ids[2], ids[3]) = (ids[2], ids[0], ids[3], ids[1]);
        vm.recordLogs();
        _fulfilAs(prover, ids);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(_count(logs, Ev.Fulfilled.selector), 4, "one Fulfilled per request");
        assertEq(_count(logs, Ev.Credited.selector), 2, "one Credited per account paid (no protocol fee)");
        assertEq(verifier.calls(), 1, "one proof");
        for (uint256 k = 0; k < 4; ++k) {
            (, int256[] memory outputs) = market.resultOf(ids[k]);
            assertEq(outputs[0], outputFor(ids[k], 0), "each its slot's output");
        }
        assertEq(market.creditOf(prover, token), 4 * (PROVER_FEE + STAKE), "summed");
        assertEq(market.creditOf(payee, token), 4 * PRICE, "summed");
    }

    function test_Fulfil_APartialBatchIsZeroPadded() public {
        uint256[] memory ids = _lockedRequests(2);
        uint256[] memory instances = _instancesFor(ids);
        instances[5] = 1; // slot 2's second input
        _fulfilExpecting(abi.encodeWithSelector(E.PaddingNotZero.selector, 5, 1), ids, instances);
        instances[5] = 0;
        instances[9] = 123; // a padding slot's output: the model's output on zeros, unchecked
        vm.prank(prover);
        market.fulfil(ids, PROOF, instances);
    }

    /// @notice Several outputs, a weights commitment first, extreme values both ways.
    function test_Fulfil_HashedParamsAndSeveralOutputs() public {
        (uint256 hashed,) = _newModel(Shape(2, 1, 2, 3), bytes32(uint256(7)), token);
        uint256 id = _requestAs(requester, hashed, _inputs(2, 4));
        _lockAs(prover, _ids(id));
        uint256[] memory instances = _instancesFor(_ids(id));
        instances[0] = 8;
        _fulfilExpecting(
            abi.encodeWithSelector(E.ParamsMismatch.selector, bytes32(uint256(7)), bytes32(uint256(8))),
            _ids(id),
            instances
        );
        instances[0] = 7;
        int256 top = int256(Felt.MAX_ABS) - 1;
        (instances[5], instances[6], instances[7]) = (Felt.encode(top), Felt.encode(-top), 0);
        vm.prank(prover);
        market.fulfil(_ids(id), PROOF, instances);
        (, int256[] memory outputs) = market.resultOf(id);
        assertEq(outputs.length, 3, "three outputs");
        assertEq(outputs[0], top, "largest");
        assertEq(outputs[1], -top, "smallest");
        assertEq(outputs[2], 0, "zero");
    }

    function testFuzz_Fulfil_StoresAnyDecodableOutput(int256[3] memory values) public {
        (uint256 multi,) = _newModel(Shape(1, 0, 2, 3), 0, token);
        uint256 id = _requestAs(requester, multi, _inputs(2, 1));
        _lockAs(prover, _ids(id));
        uint256[] memory instances = _instancesFor(_ids(id));
        int256 top = int256(Felt.MAX_ABS) - 1;
        for (uint256 j = 0; j < 3; ++j) {
            values[j] = boundInt(values[j], -top, top);
            instances[2 + j] = Felt.encode(values[j]);
        }
        vm.prank(prover);
        market.fulfil(_ids(id), PROOF, instances);
        (, int256[] memory outputs) = market.resultOf(id);
        for (uint256 j = 0; j < 3; ++j) {
            assertEq(outputs[j], values[j], "stored as proven");
        }
    }

    function test_Fulfil_WorksWhilePaused() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        market.pause();
        _fulfilAs(prover, _ids(id));
    }

    /// @notice A restricted model whose allowlist lacks the prover: the registry's quick
    /// answer is `CallerNotAllowed`, so the market reads the full record: not revoked.
    function test_Fulfil_ARestrictedModelsUnlistedProver() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        vm.prank(modelOwner);
        registry.setAccessRestricted(modelId, true);
        _fulfilAs(prover, _ids(id));
    }

    // --- the requests of a call ------------------------------------------------------------------

    function test_Fulfil_RefusesBadIdsByName() public {
        uint256[] memory ids = _lockedRequests(2);
        uint256[] memory instances = _instancesFor(ids);
        _fulfilExpecting(abi.encodeWithSelector(E.WrongBatchSize.selector, 0, 0), new uint256[](0), instances);
        uint256[] memory five = new uint256[](5);
        five[0] = ids[0];
        _fulfilExpecting(abi.encodeWithSelector(E.WrongBatchSize.selector, 5, 4), five, instances);
        _fulfilExpecting(abi.encodeWithSelector(E.DuplicateRequest.selector, ids[0]), _ids(ids[0], ids[0]), instances);
        _fulfilExpecting(abi.encodeWithSelector(E.UnknownRequest.selector, 99), _ids(99), instances);
        _fulfilExpecting(abi.encodeWithSelector(E.UnknownRequest.selector, 99), _ids(ids[0], 99), instances);
        _fulfilAs(prover, _ids(ids[0]));
        bytes memory done = abi.encodeWithSelector(E.RequestNotOpen.selector, ids[0], RequestStatus.Fulfilled);
        _fulfilExpecting(done, _ids(ids[0]), instances);
        _fulfilExpecting(done, _ids(ids[1], ids[0]), _instancesFor(_ids(ids[1], ids[0])));
    }

    function test_Fulfil_RefusesMixedModelsAndVersions() public {
        uint256 a = _request();
        vm.startPrank(modelOwner);
        uint32 next = uint32(registry.addVersion(modelId, Versions.input(address(verifier), 0, bytes32(uint256(1)), 0)));
        market.serveVersion(modelId, next, Shape(4, 1, 2, 1));
        vm.stopPrank();
        uint256 b = _request();
        (uint256 other,) = _newModel(defaultShape(), 0, token);
        uint256 c = _requestAs(requester, other, _inputs(2, 9));
        uint256[] memory ids = new uint256[](3);
        (ids[0], ids[1], ids[2]) = (a, b, c);
        _lockAs(prover, ids);
        _fulfilExpecting(abi.encodeWithSelector(E.MixedVersions.selector, b), _ids(a, b), _instancesFor(_ids(a, b)));
        _fulfilExpecting(abi.encodeWithSelector(E.MixedVersions.selector, c), _ids(a, c), _instancesFor(_ids(a, c)));
    }

    /// @notice A proof copied from the mempool (same ids, proof and instances) earns its
    /// sender nothing while the lock holds; the locker is paid.
    function test_Fulfil_ACopiedProofEarnsNothing() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        uint256[] memory instances = _instancesFor(_ids(id));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(E.NotLocker.selector, id, stranger));
        market.fulfil(_ids(id), PROOF, instances);
        vm.prank(prover);
        market.fulfil(_ids(id), PROOF, instances);
        assertEq(market.creditOf(stranger, token), 0, "the copier earns nothing");
        assertEq(market.creditOf(prover, token), PROVER_FEE + STAKE, "the locker is paid");
    }

    function test_Fulfil_OnlyUnderAnUnexpiredLockBeforeTheDeadline() public {
        uint256 unlocked = _request();
        _fulfilExpecting(
            abi.encodeWithSelector(E.NotLocker.selector, unlocked, prover),
            _ids(unlocked),
            _instancesFor(_ids(unlocked))
        );
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        uint256[] memory ids = _ids(unlocked, id);
        _fulfilExpecting(abi.encodeWithSelector(E.NotLocker.selector, unlocked, prover), ids, _instancesFor(ids));
        vm.warp(block.timestamp + WINDOW + 1);
        _fulfilExpecting(abi.encodeWithSelector(E.NotLocker.selector, id, prover), _ids(id), _instancesFor(_ids(id)));
        vm.prank(requester);
        uint256 soon = market.request(modelId, _inputs(2, 1), address(0), 0, uint64(block.timestamp + 10), 0);
        _remember(soon, modelId, _inputs(2, 1));
        _lockAs(prover, _ids(soon));
        vm.warp(block.timestamp + 11);
        _fulfilExpecting(
            abi.encodeWithSelector(E.RequestExpired.selector, soon, uint64(block.timestamp - 1)),
            _ids(soon),
            _instancesFor(_ids(soon))
        );
    }

    /// @notice Ids 1 and 257 share the duplicate filter's bit: the slow path lets them through.
    function test_Fulfil_DistinctIdsWithTheSameLowByte() public {
        uint256 first = _request();
        for (uint256 k = 0; k < 255; ++k) {
            _request();
        }
        uint256 last = _request();
        assertEq(last - first, 256, "same low byte");
        uint256[] memory ids = _ids(first, last);
        _lockAs(prover, ids);
        _fulfilAs(prover, ids);
        assertEq(uint256(market.getRequest(last).status), uint256(RequestStatus.Fulfilled), "both settled");
    }

    // --- the instances ---------------------------------------------------------------------------

    function test_Fulfil_RefusesBadInstancesByName() public {
        uint256[] memory ids = _lockedRequests(2);
        uint256[] memory instances = _instancesFor(ids);
        uint256[] memory short = new uint256[](11);
        _fulfilExpecting(abi.encodeWithSelector(E.WrongInstanceCount.selector, 11, 12), ids, short);
        uint256 saved = instances[9];
        instances[9] = R; // slot 1's output
        _fulfilExpecting(abi.encodeWithSelector(E.InstanceNotInField.selector, 9, R), ids, instances);
        instances[9] = saved;
        instances[6] = R + 5; // a padding slot's input: out of the field before it is nonzero
        _fulfilExpecting(abi.encodeWithSelector(E.InstanceNotInField.selector, 6, R + 5), ids, instances);
        instances[6] = 0;
        instances[1] += R; // x and x + r verify alike: refused as out of the field, not as a mismatch
        _fulfilExpecting(abi.encodeWithSelector(E.InstanceNotInField.selector, 1, instances[1]), ids, instances);
        instances[1] -= R;
        _fulfilExpecting(abi.encodeWithSelector(E.InputsMismatch.selector, ids[1], 0), _ids(ids[1], ids[0]), instances);
        instances[3] += 1;
        _fulfilExpecting(abi.encodeWithSelector(E.InputsMismatch.selector, ids[1], 1), ids, instances);
        instances[3] -= 1;
        instances[8] = Felt.MAX_ABS;
        _fulfilExpecting(abi.encodeWithSelector(E.OutputOutOfRange.selector, Felt.MAX_ABS), ids, instances);
        instances[8] = R - Felt.MAX_ABS;
        _fulfilExpecting(abi.encodeWithSelector(E.OutputOutOfRange.selector, R - Felt.MAX_ABS), ids, instances);
        instances[8] = R - Felt.MAX_ABS + 1;
        vm.prank(prover);
        market.fulfil(ids, PROOF, instances);
        (, int256[] memory outputs) = market.resultOf(ids[0]);
        assertEq(outputs[0], 1 - int256(Felt.MAX_ABS), "the most negative output");
    }

    function test_Fulfil_RefusesWhatTheVerifierDoesNotAccept() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        uint256[] memory instances = _instancesFor(_ids(id));
        verifier.setAccepts(false);
        _fulfilExpecting(abi.encodeWithSelector(E.ProofRejected.selector), _ids(id), instances);
        verifier.setReverts(true);
        _fulfilExpecting(abi.encodeWithSelector(E.ProofRejected.selector), _ids(id), instances);
        OddVerifier odd = new OddVerifier();
        vm.startPrank(modelOwner);
        uint32 oddVersion = uint32(registry.addVersion(modelId, Versions.plain(address(odd))));
        market.serveVersion(modelId, oddVersion, defaultShape());
        vm.stopPrank();
        uint256 oddId = _request();
        _lockAs(prover, _ids(oddId));
        instances = _instancesFor(_ids(oddId));
        for (uint256 mode = 0; mode < 3; ++mode) {
            odd.setMode(mode); // empty, 16 bytes, the word 2
            _fulfilExpecting(abi.encodeWithSelector(E.ProofRejected.selector), _ids(oddId), instances);
        }
        assertEq(uint256(market.getRequest(oddId).status), uint256(RequestStatus.Open), "still open");
    }
}
