// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {
    IInferenceMarketErrors as E,
    IInferenceMarketEvents as Ev,
    Offer,
    RequestInfo,
    RequestStatus,
    Shape
} from "../src/IInferenceMarket.sol";
import {IModelRegistry} from "../src/IModelRegistry.sol";
import {InferenceMarket} from "../src/InferenceMarket.sol";
import {OwnableNoRenounce} from "../src/OwnableNoRenounce.sol";
import {FeeOnTransferToken, MockToken, NoopVerifier} from "./MarketMocks.sol";
import {Felt} from "./utils/Felt.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";
import {Versions} from "./utils/Versions.sol";

/// @title InferenceMarket: offers, serving, requests, locks, the owner
/// @notice Unit and fuzz tests of every rule before settlement, each rejection by name
/// (settlement: InferenceMarket.fulfil.t.sol; callbacks: InferenceMarket.callbacks.t.sol;
/// refunds and withdrawals: InferenceMarket.refunds.t.sol).
contract InferenceMarketTest is MarketFixture {
    // --- deployment ------------------------------------------------------------------------------

    function test_Constructor_RefusesNoRegistryNoRecipientNoOwner() public {
        vm.expectRevert(abi.encodeWithSelector(E.InvalidRegistry.selector, address(0xDEAD)));
        new InferenceMarket(IModelRegistry(address(0xDEAD)), address(this), feeRecipient);
        vm.expectRevert(E.InvalidPayee.selector);
        new InferenceMarket(registry, address(this), address(0));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new InferenceMarket(registry, address(0), feeRecipient);
    }

    function test_Constructor_SetsTheViewsAndConstants() public view {
        assertEq(market.registry(), address(registry), "registry");
        assertEq(market.feeRecipient(), feeRecipient, "fee recipient");
        assertEq(market.protocolFeeBps(), 0, "no fee at first");
        assertEq(market.owner(), address(this), "owner");
        assertEq(market.MAX_BATCH(), 64, "MAX_BATCH");
        assertEq(market.MIN_LOCK_WINDOW(), 5, "MIN_LOCK_WINDOW");
        assertEq(market.MAX_LOCK_WINDOW(), 1 days, "MAX_LOCK_WINDOW");
        assertEq(market.MAX_REQUEST_TTL(), 30 days, "MAX_REQUEST_TTL");
        assertEq(market.MAX_CALLBACK_GAS(), 2_000_000, "MAX_CALLBACK_GAS");
        assertEq(market.MAX_PROTOCOL_FEE_BPS(), 1000, "MAX_PROTOCOL_FEE_BPS");
        assertEq(market.FIELD_MODULUS(), Felt.R, "r");
        assertEq(market.requestCount(), 0, "no requests");
    }

    // --- offers ----------------------------------------------------------------------------------

    function test_Offer_OnlyTheModelOwnerOfAKnownModel() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(E.NotModelOwner.selector, modelId, stranger));
        market.setOffer(modelId, token, payee, PRICE, STAKE, WINDOW);
        vm.startPrank(modelOwner);
        vm.expectRevert(abi.encodeWithSelector(E.NotModelOwner.selector, 99, modelOwner));
        market.setOffer(99, token, payee, PRICE, STAKE, WINDOW);
        vm.expectRevert(abi.encodeWithSelector(E.NotModelOwner.selector, 0, modelOwner));
        market.closeOffer(0);
        vm.stopPrank();
        vm.startPrank(stranger);
        vm.expectRevert(abi.encodeWithSelector(E.NotModelOwner.selector, modelId, stranger));
        market.closeOffer(modelId);
        vm.expectRevert(abi.encodeWithSelector(E.NotModelOwner.selector, modelId, stranger));
        market.serveVersion(modelId, version, defaultShape());
        vm.expectRevert(abi.encodeWithSelector(E.NotModelOwner.selector, modelId, stranger));
        market.retireVersion(modelId, version);
        vm.stopPrank();
    }

    function test_Offer_RefusesBadTermsByName() public {
        vm.startPrank(modelOwner);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidToken.selector, address(0)));
        market.setOffer(modelId, IERC20(address(0)), payee, PRICE, STAKE, WINDOW);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidToken.selector, stranger));
        market.setOffer(modelId, IERC20(stranger), payee, PRICE, STAKE, WINDOW);
        MockToken other = new MockToken("OTHER");
        vm.expectRevert(abi.encodeWithSelector(E.TokenFixed.selector, modelId, token));
        market.setOffer(modelId, other, payee, PRICE, STAKE, WINDOW);
        vm.expectRevert(E.InvalidPayee.selector);
        market.setOffer(modelId, token, address(0), PRICE, STAKE, WINDOW);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidLockWindow.selector, 4));
        market.setOffer(modelId, token, payee, PRICE, STAKE, 4);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidLockWindow.selector, 1 days + 1));
        market.setOffer(modelId, token, payee, PRICE, STAKE, 1 days + 1);
        vm.stopPrank();
    }

    /// @notice Terms change for later requests; an open request keeps what it escrowed.
    function test_Offer_NewTermsApplyToLaterRequestsOnly() public {
        uint256 early = _request();
        vm.expectEmit();
        emit Ev.OfferSet(modelId, token, stranger, 5000, 1, 1 days);
        vm.prank(modelOwner);
        market.setOffer(modelId, token, stranger, 5000, 1, 1 days);
        Offer memory offer = market.getOffer(modelId);
        assertEq(offer.payee, stranger, "payee");
        assertEq(offer.price, 5000, "price");
        assertEq(offer.lockStake, 1, "stake");
        assertEq(offer.lockWindow, 1 days, "window");
        assertEq(offer.version, version, "version kept");
        assertTrue(offer.open, "open");
        assertEq(market.getRequest(early).ownerAmount, PRICE, "escrowed at the old price");
        _lockAs(prover, _ids(early));
        _fulfilAs(prover, _ids(early));
        assertEq(market.creditOf(stranger, token), PRICE, "the current payee earns the pinned price");
        assertEq(market.creditOf(prover, token), PROVER_FEE + 1, "fee and the stake it posted back");
    }

    function test_CloseOffer_StopsNewRequestsOnly() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        vm.expectEmit();
        emit Ev.OfferClosed(modelId);
        vm.prank(modelOwner);
        market.closeOffer(modelId);
        assertTrue(!market.getOffer(modelId).open, "closed");
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(E.NoOpenOffer.selector, modelId));
        market.request(modelId, _inputs(2, 1), address(0), 0, uint64(block.timestamp + TTL), 0);
        vm.prank(modelOwner);
        vm.expectRevert(abi.encodeWithSelector(E.NoOpenOffer.selector, modelId));
        market.closeOffer(modelId);
        _fulfilAs(prover, _ids(id));
        assertEq(uint256(market.getRequest(id).status), uint256(RequestStatus.Fulfilled), "open ones still settle");
        vm.prank(modelOwner);
        market.setOffer(modelId, token, payee, PRICE, STAKE, WINDOW);
        _request();
    }

    // --- serving ---------------------------------------------------------------------------------

    function test_Serve_RefusesUnknownRevokedAndReusableVersions() public {
        vm.startPrank(modelOwner);
        vm.expectRevert(abi.encodeWithSelector(E.UnknownVersion.selector, modelId, 0));
        market.serveVersion(modelId, 0, defaultShape());
        vm.expectRevert(abi.encodeWithSelector(E.UnknownVersion.selector, modelId, 2));
        market.serveVersion(modelId, 2, defaultShape());
        uint32 revoked =
            uint32(registry.addVersion(modelId, Versions.input(address(verifier), 0, bytes32(uint256(9)), 0)));
        registry.revokeVersion(modelId, revoked);
        vm.expectRevert(abi.encodeWithSelector(E.VersionRevoked.selector, modelId, revoked));
        market.serveVersion(modelId, revoked, defaultShape());
        uint32 reusable = uint32(registry.addVersion(modelId, Versions.input(address(verifier), bytes32("vka"), 0, 0)));
        vm.expectRevert(abi.encodeWithSelector(E.UnsupportedVerifier.selector, modelId, reusable));
        market.serveVersion(modelId, reusable, defaultShape());
        vm.stopPrank();
    }

    function test_Serve_RefusesShapesThatAreNotCircuits() public {
        vm.startPrank(modelOwner);
        uint32 hashed =
            uint32(registry.addVersion(modelId, Versions.input(address(verifier), 0, bytes32(uint256(7)), 0)));
        Shape[6] memory bad = [
            Shape(0, 0, 2, 1),
            Shape(65, 0, 2, 1),
            Shape(4, 0, 0, 1),
            Shape(4, 0, 2, 0),
            Shape(4, 1, 3, 1), // version 1 serves with another shape
            Shape(4, 0, 2, 1) // for `hashed`: weights committed, no leading instance
        ];
        for (uint256 i = 0; i < bad.length; ++i) {
            vm.expectRevert(E.InvalidShape.selector);
            market.serveVersion(modelId, i == 5 ? hashed : version, bad[i]);
        }
        market.serveVersion(modelId, hashed, Shape(64, 1, 2, 1));
        (Shape memory shape, bool serving) = market.shapeOf(modelId, hashed);
        assertEq(shape.batchSize, 64, "largest batch");
        assertEq(shape.leadingInstances, 1, "the weights' hash first");
        assertTrue(serving, "serving");
        vm.stopPrank();
    }

    /// @notice New requests pin the version served last; each keeps its own circuit.
    function test_Serve_NewRequestsPinTheVersionServedLast() public {
        uint256 old = _request();
        vm.startPrank(modelOwner);
        uint32 next = uint32(registry.addVersion(modelId, Versions.plain(address(new NoopVerifier()))));
        vm.expectEmit();
        emit Ev.VersionServed(modelId, next, 2, 0, 3, 2);
        market.serveVersion(modelId, next, Shape(2, 0, 3, 2));
        vm.stopPrank();
        uint256 pinned = _requestAs(requester, modelId, _inputs(3, 5));
        assertEq(market.getRequest(old).version, version, "old request keeps its version");
        assertEq(market.getRequest(pinned).version, next, "new request pins the new one");
        vm.prank(modelOwner);
        market.serveVersion(modelId, version, defaultShape()); // serving: only the offer's version moves
        assertEq(market.getOffer(modelId).version, version, "back to version 1");
        _lockAs(prover, _ids(old, pinned));
        _fulfilAs(prover, _ids(old));
        _fulfilAs(prover, _ids(pinned));
        (, int256[] memory outputs) = market.resultOf(pinned);
        assertEq(outputs.length, 2, "two outputs, as its circuit");
    }

    function test_Retire_MakesPinnedRequestsRefundableNotFulfillable() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        vm.expectEmit();
        emit Ev.VersionRetired(modelId, version);
        vm.prank(modelOwner);
        market.retireVersion(modelId, version);
        (, bool serving) = market.shapeOf(modelId, version);
        assertTrue(!serving, "retired");
        assertEq(market.getOffer(modelId).version, 0, "the offer serves nothing");
        uint256[] memory instances = _instancesFor(_ids(id));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(E.VersionNotServing.selector, modelId, version));
        market.fulfil(_ids(id), PROOF, instances);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(E.NoOpenOffer.selector, modelId));
        market.request(modelId, _inputs(2, 1), address(0), 0, uint64(block.timestamp + TTL), 0);
        vm.prank(modelOwner);
        vm.expectRevert(abi.encodeWithSelector(E.VersionNotServing.selector, modelId, version));
        market.retireVersion(modelId, version);
        // served again: a new serving, the old request stays retired
        vm.prank(modelOwner);
        market.serveVersion(modelId, version, defaultShape());
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(E.VersionNotServing.selector, modelId, version));
        market.fulfil(_ids(id), PROOF, instances);
        vm.prank(stranger);
        market.refund(id);
        assertEq(market.creditOf(requester, token), PRICE + PROVER_FEE, "escrow back");
        assertEq(market.creditOf(prover, token), STAKE, "an unexpired lock's stake back to its locker");
        _settled();
    }

    function test_Retire_RefusesVersionsThatNeverServed() public {
        vm.prank(modelOwner);
        vm.expectRevert(abi.encodeWithSelector(E.VersionNotServing.selector, modelId, 7));
        market.retireVersion(modelId, 7);
    }

    // --- requests --------------------------------------------------------------------------------

    function test_Request_EscrowsAndRecordsEverything() public {
        market.setProtocolFee(250);
        int256[] memory inputs = _inputs(2, -7);
        uint64 deadline = uint64(block.timestamp + TTL);
        uint256 before = token.balanceOf(requester);
        vm.expectEmit();
        emit Ev.Requested(
            1, modelId, requester, version, inputs, deadline, PRICE + PROVER_FEE, PROVER_FEE, address(0), 0
        );
        vm.prank(requester);
        uint256 id = market.request(modelId, inputs, address(0), 0, deadline, PROVER_FEE);
        assertEq(id, 1, "ids start at 1");
        assertEq(market.requestCount(), 1, "count");
        assertEq(before - token.balanceOf(requester), PRICE + PROVER_FEE, "escrow pulled");
        assertEq(market.liabilities(token), PRICE + PROVER_FEE, "owed");
        RequestInfo memory info = market.getRequest(id);
        assertEq(info.requester, requester, "requester");
        assertEq(info.modelId, modelId, "model");
        assertEq(info.version, version, "version");
        assertEq(uint256(info.status), uint256(RequestStatus.Open), "open");
        assertEq(info.deadline, deadline, "deadline");
        assertEq(info.callback, address(0), "no callback");
        assertEq(address(info.token), address(token), "token");
        assertEq(info.protocolAmount, PRICE * 250 / 10_000, "fee pinned");
        assertEq(info.ownerAmount, PRICE - PRICE * 250 / 10_000, "owner's share");
        assertEq(info.proverFee, PROVER_FEE, "prover fee");
        uint256[] memory felts = new uint256[](2);
        (felts[0], felts[1]) = (Felt.encode(inputs[0]), Felt.encode(inputs[1]));
        assertEq(info.inputsHash, keccak256(abi.encodePacked(felts)), "hash of the packed felts");
        assertEq(info.locker, address(0), "not locked");
        (RequestStatus status, int256[] memory outputs) = market.resultOf(id);
        assertEq(uint256(status), uint256(RequestStatus.Open), "result: open");
        assertEq(outputs.length, 0, "no outputs yet");
    }

    function testFuzz_Request_InputsHashIsTheFeltEncoding(int256 a, int256 b) public {
        int256 limit = int256(Felt.MAX_ABS) - 1;
        int256[] memory inputs = new int256[](2);
        (inputs[0], inputs[1]) = (boundInt(a, -limit, limit), boundInt(b, -limit, limit));
        uint256 id = _requestAs(requester, modelId, inputs);
        uint256[] memory felts = new uint256[](2);
        (felts[0], felts[1]) = (Felt.encode(inputs[0]), Felt.encode(inputs[1]));
        assertEq(market.getRequest(id).inputsHash, keccak256(abi.encodePacked(felts)), "packed felts");
    }

    function test_Request_RefusesByName() public {
        uint64 deadline = uint64(block.timestamp + TTL);
        vm.startPrank(requester);
        vm.expectRevert(abi.encodeWithSelector(E.NoOpenOffer.selector, 42));
        market.request(42, _inputs(2, 1), address(0), 0, deadline, 0);
        vm.expectRevert(abi.encodeWithSelector(E.WrongInputCount.selector, 3, 2));
        market.request(modelId, _inputs(3, 1), address(0), 0, deadline, 0);
        int256[] memory inputs = _inputs(2, 1);
        inputs[1] = int256(Felt.MAX_ABS);
        vm.expectRevert(abi.encodeWithSelector(E.InputOutOfRange.selector, 1, inputs[1]));
        market.request(modelId, inputs, address(0), 0, deadline, 0);
        inputs[1] = -int256(Felt.MAX_ABS);
        vm.expectRevert(abi.encodeWithSelector(E.InputOutOfRange.selector, 1, inputs[1]));
        market.request(modelId, inputs, address(0), 0, deadline, 0);
        inputs = _inputs(2, 1);
        uint64 tooFar = uint64(block.timestamp + 30 days + 1);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidDeadline.selector, uint64(block.timestamp)));
        market.request(modelId, inputs, address(0), 0, uint64(block.timestamp), 0);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidDeadline.selector, tooFar));
        market.request(modelId, inputs, address(0), 0, tooFar, 0);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidCallbackGasLimit.selector, 1));
        market.request(modelId, inputs, address(0), 1, deadline, 0);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidCallbackGasLimit.selector, 0));
        market.request(modelId, inputs, address(token), 0, deadline, 0);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidCallbackGasLimit.selector, 2_000_001));
        market.request(modelId, inputs, address(token), 2_000_001, deadline, 0);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidCallback.selector, stranger));
        market.request(modelId, inputs, stranger, 100_000, deadline, 0);
        vm.stopPrank();
        // the extremes of the domain are accepted, and a deadline exactly MAX_REQUEST_TTL ahead
        inputs[0] = int256(Felt.MAX_ABS) - 1;
        inputs[1] = 1 - int256(Felt.MAX_ABS);
        vm.prank(requester);
        market.request(modelId, inputs, address(0), 0, uint64(block.timestamp + 30 days), 0);
    }

    function test_Request_OnlyAllowedRequestersOfUnrevokedVersions() public {
        address[] memory listed = new address[](1);
        listed[0] = requester;
        vm.startPrank(modelOwner);
        registry.setAccessRestricted(modelId, true);
        registry.setAllowed(modelId, listed, true);
        vm.stopPrank();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(E.RequesterNotAllowed.selector, modelId, stranger));
        market.request(modelId, _inputs(2, 1), address(0), 0, uint64(block.timestamp + TTL), 0);
        uint256 id = _request(); // listed: allowed
        vm.prank(modelOwner);
        registry.revokeVersion(modelId, version);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(E.VersionRevoked.selector, modelId, version));
        market.request(modelId, _inputs(2, 1), address(0), 0, uint64(block.timestamp + TTL), 0);
        market.refund(id); // revoked: refundable at once, by anyone
        assertEq(market.creditOf(requester, token), PRICE + PROVER_FEE, "refunded");
    }

    function test_Request_RefusesFeeOnTransferTokens() public {
        FeeOnTransferToken fot = new FeeOnTransferToken();
        (uint256 fotModel,) = _newModel(defaultShape(), 0, fot);
        fot.mint(requester, 1e24);
        vm.startPrank(requester);
        fot.approve(address(market), type(uint256).max);
        uint256 escrow = PRICE + PROVER_FEE;
        vm.expectRevert(abi.encodeWithSelector(E.EscrowShort.selector, escrow, escrow - escrow / 100));
        market.request(fotModel, _inputs(2, 1), address(0), 0, uint64(block.timestamp + TTL), PROVER_FEE);
        vm.stopPrank();
        assertEq(market.liabilities(fot), 0, "nothing booked");
    }

    // --- locks -----------------------------------------------------------------------------------

    function test_Lock_PostsTheStakeForTheWindow() public {
        uint256 a = _request();
        uint256 b = _request();
        uint256 before = token.balanceOf(prover);
        uint64 until = uint64(block.timestamp + WINDOW);
        vm.expectEmit();
        emit Ev.Locked(a, prover, until, STAKE);
        vm.expectEmit();
        emit Ev.Locked(b, prover, until, STAKE);
        _lockAs(prover, _ids(a, b));
        assertEq(before - token.balanceOf(prover), 2 * STAKE, "one stake per request");
        assertEq(market.liabilities(token), 2 * (PRICE + PROVER_FEE + STAKE), "escrows and stakes");
        RequestInfo memory info = market.getRequest(b);
        assertEq(info.locker, prover, "locker");
        assertEq(info.lockedUntil, until, "until");
        assertEq(info.stake, STAKE, "stake");
    }

    function test_Lock_EndsAtTheDeadline() public {
        vm.prank(requester);
        uint256 id = market.request(modelId, _inputs(2, 1), address(0), 0, uint64(block.timestamp + 10), 0);
        _remember(id, modelId, _inputs(2, 1));
        _lockAs(prover, _ids(id));
        assertEq(market.getRequest(id).lockedUntil, block.timestamp + 10, "capped at the deadline");
    }

    function test_Lock_RefusesByName() public {
        uint256 id = _request();
        vm.startPrank(prover);
        vm.expectRevert(abi.encodeWithSelector(E.WrongBatchSize.selector, 0, 64));
        market.lock(new uint256[](0));
        vm.expectRevert(abi.encodeWithSelector(E.WrongBatchSize.selector, 65, 64));
        market.lock(new uint256[](65));
        vm.expectRevert(abi.encodeWithSelector(E.DuplicateRequest.selector, id));
        market.lock(_ids(id, id));
        vm.expectRevert(abi.encodeWithSelector(E.UnknownRequest.selector, 99));
        market.lock(_ids(99));
        market.lock(_ids(id));
        uint64 until = uint64(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(E.AlreadyLocked.selector, id, prover, until));
        market.lock(_ids(id)); // its own unexpired lock too
        vm.stopPrank();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(E.AlreadyLocked.selector, id, prover, until));
        market.lock(_ids(id));
        _fulfilAs(prover, _ids(id));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(E.RequestNotOpen.selector, id, RequestStatus.Fulfilled));
        market.lock(_ids(id));
        uint256 late = _request();
        vm.warp(block.timestamp + TTL + 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(E.RequestExpired.selector, late, uint64(block.timestamp - 1)));
        market.lock(_ids(late));
    }

    function test_Lock_RefusesRetiredAndRevokedVersions() public {
        uint256 a = _request();
        vm.prank(modelOwner);
        market.retireVersion(modelId, version);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(E.VersionNotServing.selector, modelId, version));
        market.lock(_ids(a));
        vm.prank(modelOwner);
        market.serveVersion(modelId, version, defaultShape());
        uint256 b = _request();
        vm.prank(modelOwner);
        registry.revokeVersion(modelId, version);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(E.VersionRevoked.selector, modelId, version));
        market.lock(_ids(b));
    }

    /// @notice An expired lock may be taken over; its stake goes to the requester, and only the
    /// new locker may fulfil.
    function test_Lock_AfterExpiryForfeitsTheStakeToTheRequester() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectEmit();
        emit Ev.StakeForfeited(id, prover, requester, STAKE);
        vm.expectEmit();
        emit Ev.Credited(requester, token, STAKE);
        _lockAs(stranger, _ids(id));
        assertEq(market.creditOf(requester, token), STAKE, "forfeited stake");
        uint256[] memory instances = _instancesFor(_ids(id));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(E.NotLocker.selector, id, prover));
        market.fulfil(_ids(id), PROOF, instances);
        _fulfilAs(stranger, _ids(id));
        assertEq(market.creditOf(stranger, token), PROVER_FEE + STAKE, "the new locker is paid");
        assertEq(market.creditOf(prover, token), 0, "the late prover gets nothing");
    }

    function test_Lock_TheProverMayRelockItsOwnExpiredLock() public {
        uint256 id = _request();
        _lockAs(prover, _ids(id));
        vm.warp(block.timestamp + WINDOW + 1);
        uint256 before = token.balanceOf(prover);
        _lockAs(prover, _ids(id));
        assertEq(before - token.balanceOf(prover), STAKE, "a new stake");
        assertEq(market.creditOf(requester, token), STAKE, "the expired one is forfeited");
        _fulfilAs(prover, _ids(id));
    }

    /// @notice One call may lock requests of models in different tokens: one pull per model.
    function test_Lock_AcrossModelsPullsEachToken() public {
        MockToken other = new MockToken("OTHER");
        (uint256 otherModel,) = _newModel(defaultShape(), 0, other);
        other.mint(requester, 1e24);
        other.mint(prover, 1e24);
        vm.prank(requester);
        other.approve(address(market), type(uint256).max);
        vm.prank(prover);
        other.approve(address(market), type(uint256).max);
        uint256 a = _request();
        uint256 b = _requestAs(requester, otherModel, _inputs(2, 3));
        _lockAs(prover, _ids(a, b));
        assertEq(market.liabilities(token), PRICE + PROVER_FEE + STAKE, "first token");
        assertEq(market.liabilities(other), PRICE + PROVER_FEE + STAKE, "second token");
        assertEq(other.balanceOf(address(market)), market.liabilities(other), "balance == liabilities");
    }

    function test_Lock_RefusesAFeeOnTransferStake() public {
        FeeOnTransferToken fot = new FeeOnTransferToken();
        vm.startPrank(modelOwner);
        uint256 fotModel = registry.createModel("free inferences, staked locks");
        uint32 v = uint32(registry.addVersion(fotModel, Versions.plain(address(verifier))));
        market.setOffer(fotModel, fot, payee, 0, 1000, WINDOW);
        market.serveVersion(fotModel, v, defaultShape());
        vm.stopPrank();
        vm.prank(requester);
        uint256 id = market.request(fotModel, _inputs(2, 1), address(0), 0, uint64(block.timestamp + TTL), 0);
        fot.mint(prover, 1e24);
        vm.startPrank(prover);
        fot.approve(address(market), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(E.EscrowShort.selector, 1000, 990));
        market.lock(_ids(id));
        vm.stopPrank();
    }

    // --- the market's owner ----------------------------------------------------------------------

    function test_ProtocolFee_CappedAndPinnedAtRequest() public {
        vm.expectRevert(abi.encodeWithSelector(E.ProtocolFeeTooHigh.selector, 1001));
        market.setProtocolFee(1001);
        vm.expectEmit();
        emit Ev.ProtocolFeeChanged(0, 1000);
        market.setProtocolFee(1000);
        uint256 id = _request();
        market.setProtocolFee(0);
        _lockAs(prover, _ids(id));
        _fulfilAs(prover, _ids(id));
        assertEq(market.creditOf(feeRecipient, token), PRICE / 10, "10 % pinned at request");
        assertEq(market.creditOf(payee, token), PRICE - PRICE / 10, "the rest");
    }

    function test_FeeRecipient_SetByTheOwner() public {
        vm.expectRevert(E.InvalidPayee.selector);
        market.setFeeRecipient(address(0));
        vm.expectEmit();
        emit Ev.FeeRecipientChanged(feeRecipient, stranger);
        market.setFeeRecipient(stranger);
        assertEq(market.feeRecipient(), stranger, "changed");
    }

    function test_Owner_AloneSetsFeesAndPauses() public {
        bytes memory refused = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger);
        vm.startPrank(stranger);
        vm.expectRevert(refused);
        market.setProtocolFee(1);
        vm.expectRevert(refused);
        market.setFeeRecipient(stranger);
        vm.expectRevert(refused);
        market.pause();
        vm.expectRevert(refused);
        market.unpause();
        vm.stopPrank();
        vm.expectRevert(OwnableNoRenounce.RenounceDisabled.selector);
        market.renounceOwnership();
    }

    /// @notice A pause stops new requests and locks; money already in always moves.
    function test_Pause_StopsRequestsAndLocksOnly() public {
        uint256 locked = _request();
        _lockAs(prover, _ids(locked));
        uint256 idle = _request();
        uint256 expiring = _request();
        market.pause();
        vm.prank(requester);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        market.request(modelId, _inputs(2, 1), address(0), 0, uint64(block.timestamp + TTL), 0);
        vm.prank(prover);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        market.lock(_ids(idle));
        _fulfilAs(prover, _ids(locked));
        vm.prank(payee);
        market.withdraw(token);
        vm.warp(block.timestamp + TTL + 1);
        market.refund(expiring);
        market.unpause();
        _lockAs(prover, _ids(_request()));
    }

    function test_GetRequest_RefusesUnknownIds() public {
        vm.expectRevert(abi.encodeWithSelector(E.UnknownRequest.selector, 0));
        market.getRequest(0);
        (RequestStatus status, int256[] memory outputs) = market.resultOf(5);
        assertEq(uint256(status), uint256(RequestStatus.None), "none");
        assertEq(outputs.length, 0, "no outputs");
    }
}
