// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {DigitLabels} from "../src/examples/DigitLabels.sol";
import {DigitReader} from "../src/examples/DigitReader.sol";
import {
    IInferenceMarket,
    IInferenceMarketErrors as Err,
    IInferenceMarketEvents as Ev,
    RequestInfo,
    RequestStatus,
    Shape
} from "../src/IInferenceMarket.sol";
import {IModelRegistry} from "../src/IModelRegistry.sol";
import {OwnableNoRenounce} from "../src/OwnableNoRenounce.sol";
import {ReentrantToken} from "./DigitReaderMocks.sol";
import {FeeOnTransferToken, MockToken} from "./MarketMocks.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {Felt} from "./utils/Felt.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";

/// @dev forge prints `console.log` calls of a test (`-vv`); the address is forge-std's.
library DigitGasLog {
    address internal constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function log(string memory label, uint256 value) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string,uint256)", label, value));
        ok;
    }
}

/// @title What every DigitReader suite starts from
/// @notice The market fixture plus a digits model (batch 1: 64 pixel inputs, 10 logits) with
/// an open offer in the fixture's token, a DigitReader pinned to it, and two funded readers
/// who approved the DigitReader (never the market: they pay through it).
abstract contract DigitReaderBase is MarketFixture {
    uint8 internal constant IN_SCALE = 5; // the digits circuit's
    uint32 internal constant CALLBACK_GAS = 100_000;

    DigitReader internal digits;
    uint256 internal digitsModel;
    address internal reader;
    address internal reader2;

    function setUp() public virtual override {
        super.setUp();
        (digitsModel,) = _newModel(_digitsShape(10), 0, token);
        digits = new DigitReader(market, digitsModel, IN_SCALE, CALLBACK_GAS, address(this));
        reader = makeAddr("reader");
        reader2 = makeAddr("reader2");
        _fundReader(reader, token);
        _fundReader(reader2, token);
    }

    function _digitsShape(uint16 outputs) internal pure returns (Shape memory) {
        return Shape({batchSize: 1, leadingInstances: 0, inputsPerInference: 64, outputsPerInference: outputs});
    }

    function _fundReader(address who, IERC20 token_) internal {
        MockToken(address(token_)).mint(who, FUNDS);
        vm.prank(who);
        token_.approve(address(digits), type(uint256).max);
    }

    /// @dev A pseudo-random image, pixels 0..16.
    function _image(uint256 seed) internal pure returns (uint8[64] memory pixels) {
        for (uint256 i = 0; i < 64; ++i) {
            pixels[i] = uint8(uint256(keccak256(abi.encode(seed, i))) % 17);
        }
    }

    /// @dev The test's own statement of the circuit's inputs: pixel v is v/16 on the
    /// 2**-IN_SCALE grid, rounded half up (models/digits.py `_quantize_pixels`).
    function _felts(uint8[64] memory pixels) internal pure returns (uint256[] memory felts) {
        felts = new uint256[](64);
        for (uint256 i = 0; i < 64; ++i) {
            felts[i] = (uint256(pixels[i]) * 2 ** IN_SCALE + 8) / 16;
        }
    }

    /// @dev The instances of a batch-1 proof: the pixels' felts, then `logits` (any count).
    function _instances(uint8[64] memory pixels, int256[] memory logits)
        internal
        pure
        returns (uint256[] memory instances)
    {
        uint256[] memory felts = _felts(pixels);
        instances = new uint256[](64 + logits.length);
        for (uint256 i = 0; i < 64; ++i) {
            instances[i] = felts[i];
        }
        for (uint256 k = 0; k < logits.length; ++k) {
            instances[64 + k] = Felt.encode(logits[k]);
        }
    }

    /// @dev Ten logits whose only maximum is `digit`.
    function _logitsFor(uint8 digit) internal pure returns (int256[] memory logits) {
        logits = new int256[](10);
        for (uint256 k = 0; k < 10; ++k) {
            logits[k] = -int256(k) * 3 - 1;
        }
        logits[digit] = 40;
    }

    function _read(address who, uint8[64] memory pixels) internal returns (uint256 id) {
        vm.prank(who);
        id = digits.read(pixels, uint64(block.timestamp + TTL), PROVER_FEE);
    }

    /// @dev The prover locks request `id` and fulfils it with a proof of `logits` on `pixels`.
    function _answer(uint256 id, uint8[64] memory pixels, int256[] memory logits) internal {
        _lockAs(prover, _ids(id));
        _prove(id, pixels, logits);
    }

    /// @dev The prover fulfils request `id` (locked already) with a proof of `logits` on
    /// `pixels`: `fulfil` is the next call, so a test may expect its events just before.
    function _prove(uint256 id, uint8[64] memory pixels, int256[] memory logits) internal {
        uint256[] memory instances = _instances(pixels, logits);
        vm.prank(prover);
        market.fulfil(_ids(id), PROOF, instances);
    }
}

/// @title DigitReader: a contract that buys digit readings from the market for its callers
/// @notice It asks the market about exactly the pixels it was given (the circuit's
/// encoding), takes answers only from the market and only for its own requests, records the
/// argmax of the first answer per image, forwards refunded escrows to the readers who paid
/// them exactly once, and pauses new reads only. Every custom error of DigitReader is
/// triggered by name.
contract DigitReaderTest is DigitReaderBase {
    // --- configuration ---------------------------------------------------------------------------

    function test_Constructor_RefusesBadConfiguration() public {
        vm.expectRevert(DigitReader.InvalidConfig.selector);
        new DigitReader(IInferenceMarket(stranger), digitsModel, IN_SCALE, CALLBACK_GAS, address(this));
        vm.expectRevert(DigitReader.InvalidConfig.selector);
        new DigitReader(market, digitsModel, 65, CALLBACK_GAS, address(this));
        vm.expectRevert(DigitReader.InvalidConfig.selector);
        new DigitReader(market, digitsModel, IN_SCALE, 0, address(this));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new DigitReader(market, digitsModel, IN_SCALE, CALLBACK_GAS, address(0));
        DigitReader widest = new DigitReader(market, digitsModel, 64, CALLBACK_GAS, address(this));
        assertEq(widest.inputScale(), 64, "scale 64 is allowed");
    }

    function test_Owner_CannotRenounce() public {
        vm.expectRevert(OwnableNoRenounce.RenounceDisabled.selector);
        digits.renounceOwnership();
    }

    // --- buying a reading ------------------------------------------------------------------------

    /// @notice The request is for the pinned model, carries the circuit's felts of exactly the
    /// caller's pixels (the same felts `DigitLabels` expects of a proof), calls back the
    /// DigitReader, and is paid by the caller: the DigitReader keeps neither tokens nor an
    /// allowance.
    function testFuzz_Read_AsksTheMarketAboutThePixels(uint256 seed) public {
        uint8[64] memory pixels = _image(seed);
        bytes32 hash = keccak256(abi.encode(pixels));
        uint256 escrow = PRICE + PROVER_FEE;
        vm.expectEmit();
        emit DigitReader.ReadRequested(1, hash, reader, escrow);
        uint256 id = _read(reader, pixels);
        assertEq(id, 1, "the market's id");
        assertEq(token.balanceOf(reader), FUNDS - escrow, "the reader paid the escrow");
        assertEq(token.balanceOf(address(digits)), 0, "the DigitReader keeps nothing");
        assertEq(token.allowance(address(digits), address(market)), 0, "no allowance left over");
        RequestInfo memory info = market.getRequest(id);
        assertEq(info.inputsHash, keccak256(abi.encodePacked(_felts(pixels))), "the pixels' felts");
        DigitLabels labels = new DigitLabels(new MockVerifier(true), IModelRegistry(address(0)), 0, IN_SCALE, stranger);
        uint256[64] memory expected = labels.expectedInputs(pixels);
        assertEq(info.inputsHash, keccak256(abi.encodePacked(expected)), "the felts DigitLabels checks");
        assertEq(info.modelId, digitsModel, "the pinned model");
        assertEq(info.requester, address(digits), "requested by the DigitReader");
        assertEq(info.callback, address(digits), "calls it back");
        assertEq(uint256(info.callbackGasLimit), CALLBACK_GAS, "with its gas");
        assertEq(uint256(info.proverFee), PROVER_FEE, "the reader's fee");
        (address paidBy, uint256 owed, bytes32 asked) = digits.requestOf(id);
        assertEq(paidBy, reader, "keyed to the reader");
        assertEq(owed, escrow, "owes the escrow until settled");
        assertEq(asked, hash, "keyed to the image");
        assertEq(digits.imageHash(pixels), hash, "the image key");
    }

    function testFuzz_Read_RefusesPixelsAbove16(uint256 index, uint8 value) public {
        index = bound(index, 0, 63);
        value = uint8(bound(value, 17, 255));
        uint8[64] memory pixels = _image(index);
        pixels[index] = value;
        vm.prank(reader);
        vm.expectRevert(abi.encodeWithSelector(DigitReader.InvalidPixel.selector, index, value));
        digits.read(pixels, uint64(block.timestamp + TTL), PROVER_FEE);
        pixels[index] = 16;
        _read(reader, pixels); // 16 itself is a pixel
    }

    /// @notice A labelled image is not bought again (the label could not change); an image
    /// merely pending may be asked about twice (see the first-label test).
    function test_Read_RefusesAnImageWithALabel() public {
        uint8[64] memory pixels = _image(1);
        uint256 id = _read(reader, pixels);
        _read(reader2, pixels);
        _answer(id, pixels, _logitsFor(4));
        vm.prank(reader2);
        vm.expectRevert(abi.encodeWithSelector(DigitReader.AlreadyKnown.selector, keccak256(abi.encode(pixels)), 4));
        digits.read(pixels, uint64(block.timestamp + TTL), PROVER_FEE);
    }

    function test_Read_RefusesAClosedOfferAndAnEscrowAbove96Bits() public {
        uint8[64] memory pixels = _image(2);
        vm.prank(reader);
        vm.expectRevert(abi.encodeWithSelector(DigitReader.EscrowTooLarge.selector, uint256(PRICE) + type(uint128).max));
        digits.read(pixels, uint64(block.timestamp + TTL), type(uint128).max);
        vm.prank(modelOwner);
        market.closeOffer(digitsModel);
        vm.prank(reader);
        vm.expectRevert(abi.encodeWithSelector(Err.NoOpenOffer.selector, digitsModel));
        digits.read(pixels, uint64(block.timestamp + TTL), PROVER_FEE);
        assertEq(token.balanceOf(reader), FUNDS, "nothing taken");
        // a model with no offer at all: refused before its (unset) token is touched
        vm.prank(modelOwner);
        uint256 bare = registry.createModel("bare");
        DigitReader unoffered = new DigitReader(market, bare, IN_SCALE, CALLBACK_GAS, address(this));
        vm.prank(reader);
        vm.expectRevert(abi.encodeWithSelector(Err.NoOpenOffer.selector, bare));
        unoffered.read(pixels, uint64(block.timestamp + TTL), PROVER_FEE);
    }

    /// @notice A fee-on-transfer token delivers less than the escrow: refused, so the
    /// shortfall can never be paid out of refunds the DigitReader holds for others.
    function test_Read_RefusesAShortPayment() public {
        FeeOnTransferToken fot = new FeeOnTransferToken();
        (uint256 fotModel,) = _newModel(_digitsShape(10), 0, IERC20(address(fot)));
        DigitReader fotDigits = new DigitReader(market, fotModel, IN_SCALE, CALLBACK_GAS, address(this));
        fot.mint(reader, FUNDS);
        fot.mint(address(fotDigits), 1e6); // as if it held someone's refund
        vm.prank(reader);
        fot.approve(address(fotDigits), type(uint256).max);
        uint256 escrow = PRICE + PROVER_FEE;
        vm.prank(reader);
        vm.expectRevert(abi.encodeWithSelector(DigitReader.PaymentShort.selector, escrow, escrow - escrow / 100));
        fotDigits.read(_image(3), uint64(block.timestamp + TTL), PROVER_FEE);
    }

    /// @notice A token that calls back into the DigitReader while it pulls the payment meets
    /// the reentrancy guard.
    function test_Read_CannotBeReentered() public {
        ReentrantToken hooked = new ReentrantToken();
        (uint256 hookedModel,) = _newModel(_digitsShape(10), 0, IERC20(address(hooked)));
        DigitReader hookedDigits = new DigitReader(market, hookedModel, IN_SCALE, CALLBACK_GAS, address(this));
        hooked.mint(reader, FUNDS);
        vm.prank(reader);
        hooked.approve(address(hookedDigits), type(uint256).max);
        uint64 deadline = uint64(block.timestamp + TTL);
        hooked.arm(address(hookedDigits), abi.encodeCall(DigitReader.read, (_image(5), deadline, PROVER_FEE)));
        vm.prank(reader);
        uint256 id = hookedDigits.read(_image(4), deadline, PROVER_FEE);
        assertTrue(!hooked.lastOk(), "the nested read failed");
        assertEq(
            keccak256(hooked.lastReturn()),
            keccak256(abi.encodeWithSelector(ReentrancyGuard.ReentrancyGuardReentrantCall.selector)),
            "on the guard"
        );
        assertEq(market.requestCount(), id, "one request only");
    }

    // --- what it accepts -------------------------------------------------------------------------

    /// @notice `onInference` is the market's alone, and only for requests the DigitReader
    /// made: a request someone else made at the market naming it as callback is a failed
    /// callback that labels nothing.
    function test_OnInference_OnlyTheMarketForItsOwnRequests() public {
        uint8[64] memory pixels = _image(6);
        uint256 id = _read(reader, pixels);
        int256[] memory logits = _logitsFor(1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(DigitReader.NotMarket.selector, stranger));
        digits.onInference(id, logits);
        vm.prank(address(market));
        vm.expectRevert(abi.encodeWithSelector(DigitReader.UnexpectedRequest.selector, 0));
        digits.onInference(0, logits);
        vm.prank(address(market));
        vm.expectRevert(abi.encodeWithSelector(DigitReader.UnexpectedRequest.selector, id + 1));
        digits.onInference(id + 1, logits);

        // a stranger asks the market directly about other pixels, naming the DigitReader
        uint8[64] memory other = _image(7);
        uint256[] memory felts = _felts(other);
        int256[] memory inputs = new int256[](64);
        for (uint256 i = 0; i < 64; ++i) {
            inputs[i] = int256(felts[i]);
        }
        vm.prank(stranger);
        uint256 foreign =
            market.request(digitsModel, inputs, address(digits), CALLBACK_GAS, uint64(block.timestamp + TTL), 0);
        _lockAs(prover, _ids(foreign));
        uint256[] memory instances = _instances(other, logits);
        vm.expectEmit();
        emit Ev.CallbackFailed(foreign, address(digits));
        vm.prank(prover);
        market.fulfil(_ids(foreign), PROOF, instances);
        (bool known,) = digits.labelOf(keccak256(abi.encode(other)));
        assertTrue(!known, "no label from a foreign request");
        (known,) = digits.labelOf(keccak256(abi.encode(pixels)));
        assertTrue(!known, "and the pending one is untouched");
    }

    /// @notice The label is the argmax of the proven logits, the lowest digit among equals,
    /// over any decodable logits.
    function testFuzz_OnInference_LabelIsTheArgmax(uint256 seed, int256[10] memory raw) public {
        int256 top = int256(Felt.MAX_ABS) - 1;
        int256[] memory logits = new int256[](10);
        uint8 best;
        for (uint256 k = 0; k < 10; ++k) {
            // some runs collapse to a few values, so ties are common
            logits[k] = seed % 3 == 0 ? boundInt(raw[k], -2, 2) : boundInt(raw[k], -top, top);
            if (logits[k] > logits[best]) best = uint8(k);
        }
        uint8[64] memory pixels = _image(seed);
        bytes32 hash = keccak256(abi.encode(pixels));
        uint256 id = _read(reader, pixels);
        _lockAs(prover, _ids(id));
        vm.expectEmit();
        emit DigitReader.DigitRead(hash, best, reader, id);
        _prove(id, pixels, logits);
        (bool known, uint8 digit) = digits.labelOf(hash);
        assertTrue(known, "labelled");
        assertEq(uint256(digit), uint256(best), "argmax, lowest on ties");
    }

    function test_OnInference_TiesGoToTheLowestDigit() public {
        int256[] memory logits = new int256[](10);
        for (uint256 k = 0; k < 10; ++k) {
            logits[k] = -7; // all equal: digit 0
        }
        uint8[64] memory pixels = _image(8);
        _answer(_read(reader, pixels), pixels, logits);
        (, uint8 digit) = digits.labelOf(keccak256(abi.encode(pixels)));
        assertEq(uint256(digit), 0, "all equal: 0");
        (logits[3], logits[6], logits[9]) = (5, 5, 5);
        pixels = _image(9);
        _answer(_read(reader, pixels), pixels, logits);
        (, digit) = digits.labelOf(keccak256(abi.encode(pixels)));
        assertEq(uint256(digit), 3, "3, 6 and 9 equal: 3");
    }

    /// @notice Two readings of one image pending: the first fulfilled labels it, the later
    /// one is reported and ignored (its reader paid for it; the label does not move).
    function test_OnInference_FirstLabelWins() public {
        uint8[64] memory pixels = _image(10);
        bytes32 hash = keccak256(abi.encode(pixels));
        uint256 first = _read(reader, pixels);
        uint256 second = _read(reader2, pixels);
        _lockAs(prover, _ids(first, second));
        vm.expectEmit();
        emit DigitReader.DigitRead(hash, 7, reader2, second);
        _prove(second, pixels, _logitsFor(7));
        vm.expectEmit();
        emit DigitReader.ReadIgnored(hash, 2, reader, first);
        _prove(first, pixels, _logitsFor(2));
        (bool known, uint8 digit) = digits.labelOf(hash);
        assertTrue(known && digit == 7, "the first fulfilled stands");
        (, uint256 owed,) = digits.requestOf(first);
        assertEq(owed, PRICE + PROVER_FEE, "a fulfilled request stays unreclaimable (see reclaim tests)");
        vm.expectRevert(abi.encodeWithSelector(DigitReader.NotRefunded.selector, first, RequestStatus.Fulfilled));
        digits.reclaim(first);
    }

    /// @notice Anything but 10 outputs is refused: by name when the market calls with it,
    /// and through the market as a failed callback that labels nothing (a model served with
    /// another output count).
    function test_OnInference_RefusesAnotherOutputCount() public {
        uint8[64] memory pixels = _image(11);
        uint256 id = _read(reader, pixels);
        vm.prank(address(market));
        vm.expectRevert(abi.encodeWithSelector(DigitReader.WrongOutputCount.selector, 9, 10));
        digits.onInference(id, new int256[](9));
        vm.prank(address(market));
        vm.expectRevert(abi.encodeWithSelector(DigitReader.WrongOutputCount.selector, 11, 10));
        digits.onInference(id, new int256[](11));

        (uint256 nineModel,) = _newModel(_digitsShape(9), 0, token);
        DigitReader nine = new DigitReader(market, nineModel, IN_SCALE, CALLBACK_GAS, address(this));
        vm.prank(reader);
        token.approve(address(nine), type(uint256).max);
        vm.prank(reader);
        uint256 nineId = nine.read(pixels, uint64(block.timestamp + TTL), PROVER_FEE);
        int256[] memory logits = new int256[](9);
        logits[4] = 1;
        _lockAs(prover, _ids(nineId));
        vm.expectEmit();
        emit Ev.CallbackFailed(nineId, address(nine));
        _prove(nineId, pixels, logits);
        (bool known,) = nine.labelOf(keccak256(abi.encode(pixels)));
        assertTrue(!known, "no label from 9 logits");
    }

    // --- refunds ---------------------------------------------------------------------------------

    /// @notice An unanswered reading is refunded to the DigitReader; anyone may forward it,
    /// and it reaches the reader who paid, exactly once.
    function test_Reclaim_PaysTheReaderExactlyOnce() public {
        uint8[64] memory pixels = _image(12);
        uint256 id = _read(reader, pixels);
        uint256 escrow = PRICE + PROVER_FEE;
        vm.expectRevert(abi.encodeWithSelector(DigitReader.NotRefunded.selector, id, RequestStatus.Open));
        digits.reclaim(id);
        vm.warp(block.timestamp + TTL + 1);
        vm.prank(stranger);
        market.refund(id);
        assertEq(market.creditOf(address(digits), token), escrow, "credited to the DigitReader");
        uint256 strangerBefore = token.balanceOf(stranger);
        vm.expectEmit();
        emit DigitReader.Reclaimed(id, reader, escrow);
        vm.prank(stranger);
        digits.reclaim(id);
        assertEq(token.balanceOf(reader), FUNDS, "the reader has all its money back");
        assertEq(token.balanceOf(stranger), strangerBefore, "the caller gets nothing");
        assertEq(token.balanceOf(address(digits)), 0, "nothing kept");
        assertEq(market.creditOf(address(digits), token), 0, "the credit collected");
        vm.expectRevert(abi.encodeWithSelector(DigitReader.NothingOwed.selector, id));
        digits.reclaim(id);
        (, uint256 owed,) = digits.requestOf(id);
        assertEq(owed, 0, "owes nothing more");
    }

    function test_Reclaim_RefusesRequestsNotMadeHere() public {
        vm.expectRevert(abi.encodeWithSelector(DigitReader.UnexpectedRequest.selector, 0));
        digits.reclaim(0);
        uint256 foreign = _request(); // the fixture's requester, at the market directly
        vm.warp(block.timestamp + TTL + 1);
        market.refund(foreign);
        vm.expectRevert(abi.encodeWithSelector(DigitReader.UnexpectedRequest.selector, foreign));
        digits.reclaim(foreign);
    }

    /// @notice A free model's request escrowed nothing: after its refund nothing is owed.
    function test_Reclaim_NothingOwedForAFreeReading() public {
        vm.prank(modelOwner);
        market.setOffer(digitsModel, token, payee, 0, STAKE, WINDOW);
        vm.prank(reader);
        uint256 id = digits.read(_image(13), uint64(block.timestamp + TTL), 0);
        vm.warp(block.timestamp + TTL + 1);
        market.refund(id);
        vm.expectRevert(abi.encodeWithSelector(DigitReader.NothingOwed.selector, id));
        digits.reclaim(id);
        assertEq(token.balanceOf(reader), FUNDS, "it cost nothing");
    }

    /// @notice The accounting, over any mix: four readers with their own prover fees; each
    /// request is fulfilled, or refunded with or without a lapsed lock (whose stake the
    /// market forfeits to the DigitReader); reclaims run in any order, each twice. Every
    /// refunded reader gets exactly its escrow, every fulfilled one paid exactly its escrow,
    /// and what the DigitReader holds (balance + market credit) is exactly the forfeited
    /// stakes, never a reader's money.
    function testFuzz_Reclaim_EachRefundedReaderGetsItsEscrowOnce(uint8 refundMask, uint8 lockMask, uint256 order)
        public
    {
        address[4] memory readers;
        uint256[4] memory ids;
        uint128[4] memory fees;
        for (uint256 i = 0; i < 4; ++i) {
            readers[i] = makeAddr(string(abi.encodePacked("fuzz reader ", bytes1(uint8(48 + i)))));
            _fundReader(readers[i], token);
            fees[i] = uint128(11 * i + 1);
            vm.prank(readers[i]);
            ids[i] = digits.read(_image(100 + i), uint64(block.timestamp + TTL), fees[i]);
        }
        uint256 forfeited;
        for (uint256 i = 0; i < 4; ++i) {
            bool refunded = (refundMask >> i) & 1 == 1;
            if (!refunded) {
                _answer(ids[i], _image(100 + i), _logitsFor(uint8(i)));
            } else if ((lockMask >> i) & 1 == 1) {
                _lockAs(prover, _ids(ids[i])); // never fulfilled: the stake lapses
                forfeited += STAKE;
            }
        }
        vm.warp(block.timestamp + TTL + 1);
        for (uint256 i = 0; i < 4; ++i) {
            if ((refundMask >> i) & 1 == 1) market.refund(ids[i]);
        }
        for (uint256 n = 0; n < 8; ++n) {
            uint256 i = (order % 4 + n) % 4; // each request twice, starting anywhere
            bool refunded = (refundMask >> i) & 1 == 1;
            if (!refunded) {
                vm.expectRevert(
                    abi.encodeWithSelector(DigitReader.NotRefunded.selector, ids[i], RequestStatus.Fulfilled)
                );
            } else if (n >= 4) {
                vm.expectRevert(abi.encodeWithSelector(DigitReader.NothingOwed.selector, ids[i]));
            }
            vm.prank(stranger);
            digits.reclaim(ids[i]);
        }
        for (uint256 i = 0; i < 4; ++i) {
            bool refunded = (refundMask >> i) & 1 == 1;
            uint256 paid = refunded ? 0 : PRICE + fees[i];
            assertEq(token.balanceOf(readers[i]), FUNDS - paid, "escrow back once, or spent once");
        }
        uint256 held = token.balanceOf(address(digits)) + market.creditOf(address(digits), token);
        assertEq(held, forfeited, "the DigitReader keeps only forfeited stakes");
    }

    // --- the owner -------------------------------------------------------------------------------

    /// @notice Paused: no new reads; a reading already paid for still labels its image, and a
    /// refund still reaches its reader. Only the owner pauses.
    function test_Pause_StopsNewReadsOnly() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        digits.pause();
        uint8[64] memory pixels = _image(14);
        uint256 answered = _read(reader, pixels);
        uint256 unanswered = _read(reader2, _image(15));
        vm.expectRevert(Pausable.ExpectedPause.selector);
        digits.unpause();
        digits.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        digits.pause();
        vm.prank(reader);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        digits.read(_image(16), uint64(block.timestamp + TTL), PROVER_FEE);
        _answer(answered, pixels, _logitsFor(9));
        (bool known, uint8 digit) = digits.labelOf(keccak256(abi.encode(pixels)));
        assertTrue(known && digit == 9, "labelled while paused");
        vm.warp(block.timestamp + TTL + 1);
        market.refund(unanswered);
        digits.reclaim(unanswered);
        assertEq(token.balanceOf(reader2), FUNDS, "refunded while paused");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        digits.unpause();
        digits.unpause();
        _read(reader, _image(16));
    }
}

/// @title What a reading costs
/// @notice `read` (request escrowed, 64 felts hashed, 9 output placeholders pre-written by
/// the market) and the callback that records a first label, each with everything it touches
/// cold, as in its own transaction: `setUp` (a transaction of its own) makes one reading so
/// the market holds escrow and the reader's allowance is set, then pends a second image.
/// `forge test --match-contract DigitReaderGasTest -vv` prints the figures.
contract DigitReaderGasTest is DigitReaderBase {
    uint256 internal pending;
    uint8[64] internal pendingPixels;

    function setUp() public override {
        super.setUp();
        _read(reader, _image(1));
        pendingPixels = _image(2);
        pending = _read(reader, pendingPixels);
    }

    function test_Gas_ReadAndFirstLabel() public {
        uint8[64] memory pixels = _image(3);
        vm.prank(reader);
        digits.read(pixels, uint64(block.timestamp + TTL), PROVER_FEE);
        uint256 readGas = vm.lastCallGas().gasTotalUsed;
        vm.prank(address(market));
        digits.onInference(pending, _logitsFor(6));
        uint256 callbackGas = vm.lastCallGas().gasTotalUsed;
        (bool known, uint8 digit) = digits.labelOf(keccak256(abi.encode(pendingPixels)));
        assertTrue(known && digit == 6, "labelled");
        assertLe(callbackGas, CALLBACK_GAS / 2, "the callback limit leaves a wide margin");
        DigitGasLog.log("read gas", readGas);
        DigitGasLog.log("onInference gas (first label, cold)", callbackGas);
    }
}
