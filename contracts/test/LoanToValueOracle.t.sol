// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {AdaptiveFeePool} from "../src/AdaptiveFeePool.sol";
import {IInferenceMarket, IInferenceMarketEvents as Ev, RequestStatus, Shape} from "../src/IInferenceMarket.sol";
import {LoanToValueOracle} from "../src/examples/LoanToValueOracle.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {FeePools} from "./utils/FeePools.sol";
import {Felt} from "./utils/Felt.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";

/// @title LoanToValueOracle: a contract that buys proven forecasts from the market
/// @notice It asks about its own prices (the fee model's features, encoded as the pool
/// encodes them), accepts answers only from the market and only for its pending request,
/// keeps the ratio in the owner's bounds, one bounded step per forecast, and pauses.
contract LoanToValueOracleTest is MarketFixture {
    uint8 internal constant IN_SCALE = FeePools.INPUT_SCALE;
    uint8 internal constant OUT_SCALE = FeePools.OUTPUT_SCALE;
    uint32 internal constant CALLBACK_GAS = 200_000;

    LoanToValueOracle internal oracle;
    uint256 internal feeModel;
    address internal keeper;

    function setUp() public override {
        super.setUp();
        keeper = makeAddr("keeper");
        (feeModel,) = _newModel(Shape(1, 0, 8, 1), 0, token);
        oracle =
            new LoanToValueOracle(market, feeModel, IN_SCALE, OUT_SCALE, CALLBACK_GAS, _policy(), 7000, address(this));
        oracle.setKeeper(keeper);
        token.mint(address(oracle), 1e24);
    }

    /// @dev Ratio in [50 %, 80 %], 5 % per forecast at most, 10 % less per 1 % of volatility.
    function _policy() internal pure returns (LoanToValueOracle.LtvPolicy memory) {
        return LoanToValueOracle.LtvPolicy({minLtvBps: 5000, maxLtvBps: 8000, maxStepBps: 500, dropPerPctBps: 1000});
    }

    function _fillWindow() internal {
        vm.startPrank(keeper);
        for (uint256 i = 0; i < 9; ++i) {
            oracle.recordPrice(2000e18 + i * 3e18);
        }
        vm.stopPrank();
    }

    /// @dev Buys a forecast and has the prover answer `volatility` (percent, fixed point).
    function _forecast(int256 volatility) internal returns (uint256 id) {
        vm.prank(keeper);
        id = oracle.requestForecast(uint64(block.timestamp + TTL), PROVER_FEE);
        _lockAs(prover, _ids(id));
        uint256[] memory instances = _oracleInstances(volatility);
        vm.prank(prover);
        market.fulfil(_ids(id), PROOF, instances);
    }

    /// @dev The instances of a proof over the oracle's current window: the window's features
    /// as the pool encodes them (same scale), then the output.
    function _oracleInstances(int256 volatility) internal returns (uint256[] memory instances) {
        AdaptiveFeePool pool = FeePools.deploy(new MockVerifier(true), FeePools.defaultPolicy(), address(this));
        uint256[] memory felts = pool.featuresOf(oracle.observations());
        instances = new uint256[](9);
        for (uint256 i = 0; i < 8; ++i) {
            instances[i] = felts[i];
        }
        instances[8] = Felt.encode(volatility);
    }

    function _pct(uint256 percentTimes100) internal pure returns (int256) {
        return int256((percentTimes100 << OUT_SCALE) / 100);
    }

    // --- configuration ---------------------------------------------------------------------------

    function test_Constructor_RefusesBadConfiguration() public {
        LoanToValueOracle.LtvPolicy memory p = _policy();
        vm.expectRevert(LoanToValueOracle.InvalidConfig.selector);
        new LoanToValueOracle(
            IInferenceMarket(stranger), feeModel, IN_SCALE, OUT_SCALE, CALLBACK_GAS, p, 7000, address(this)
        );
        vm.expectRevert(LoanToValueOracle.InvalidConfig.selector);
        new LoanToValueOracle(market, feeModel, 65, OUT_SCALE, CALLBACK_GAS, p, 7000, address(this));
        vm.expectRevert(LoanToValueOracle.InvalidConfig.selector);
        new LoanToValueOracle(market, feeModel, IN_SCALE, 65, CALLBACK_GAS, p, 7000, address(this));
        vm.expectRevert(LoanToValueOracle.InvalidConfig.selector);
        new LoanToValueOracle(market, feeModel, IN_SCALE, OUT_SCALE, 0, p, 7000, address(this));
        vm.expectRevert(LoanToValueOracle.InvalidPolicy.selector);
        new LoanToValueOracle(market, feeModel, IN_SCALE, OUT_SCALE, CALLBACK_GAS, p, 8001, address(this));
        p.maxStepBps = 0;
        vm.expectRevert(LoanToValueOracle.InvalidPolicy.selector);
        new LoanToValueOracle(market, feeModel, IN_SCALE, OUT_SCALE, CALLBACK_GAS, p, 7000, address(this));
    }

    function test_Policy_OnlyTheOwnerAndClampsAtOnce() public {
        LoanToValueOracle.LtvPolicy memory p = _policy();
        (p.minLtvBps, p.maxLtvBps) = (8001, 8000);
        vm.expectRevert(LoanToValueOracle.InvalidPolicy.selector);
        oracle.setPolicy(p);
        (p.minLtvBps, p.maxLtvBps) = (5000, 10_001);
        vm.expectRevert(LoanToValueOracle.InvalidPolicy.selector);
        oracle.setPolicy(p);
        (p.minLtvBps, p.maxLtvBps) = (4000, 6000);
        vm.expectEmit();
        emit LoanToValueOracle.PolicyChanged(p);
        vm.expectEmit();
        emit LoanToValueOracle.LtvUpdated(0, 7000, 6000, 0);
        oracle.setPolicy(p);
        assertEq(oracle.ltvBps(), 6000, "clamped into the new bounds");
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, keeper));
        oracle.setPolicy(p);
    }

    function test_Prices_TheOwnerOrTheKeeper() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(LoanToValueOracle.NotKeeper.selector, stranger));
        oracle.recordPrice(1e18);
        vm.expectRevert(LoanToValueOracle.InvalidPrice.selector);
        oracle.recordPrice(0);
        vm.expectRevert(LoanToValueOracle.InvalidPrice.selector);
        oracle.recordPrice(2 ** 128);
        vm.expectEmit();
        emit LoanToValueOracle.PriceRecorded(0, 1e18);
        oracle.recordPrice(1e18);
        vm.expectEmit();
        emit LoanToValueOracle.KeeperChanged(keeper, address(0));
        oracle.setKeeper(address(0));
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(LoanToValueOracle.NotKeeper.selector, keeper));
        oracle.recordPrice(1e18);
    }

    // --- buying a forecast -----------------------------------------------------------------------

    /// @notice The request carries the fee model's features of the oracle's own window,
    /// exactly as the pool encodes the same window: a proof made for the pool's inputs fits.
    function test_Forecast_AsksAboutItsOwnPrices() public {
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(LoanToValueOracle.NotEnoughObservations.selector, 0, 9));
        oracle.requestForecast(uint64(block.timestamp + TTL), PROVER_FEE);
        _fillWindow();
        uint256 before = token.balanceOf(address(oracle));
        vm.expectEmit();
        emit LoanToValueOracle.ForecastRequested(1, 9);
        vm.prank(keeper);
        uint256 id = oracle.requestForecast(uint64(block.timestamp + TTL), PROVER_FEE);
        assertEq(before - token.balanceOf(address(oracle)), PRICE + PROVER_FEE, "it paid the escrow");
        assertEq(token.allowance(address(oracle), address(market)), 0, "no allowance left over");
        assertEq(oracle.pendingRequestId(), id, "pending");
        uint256[] memory instances = _oracleInstances(0);
        uint256[] memory felts = new uint256[](8);
        for (uint256 i = 0; i < 8; ++i) {
            felts[i] = instances[i];
        }
        assertEq(market.getRequest(id).inputsHash, keccak256(abi.encodePacked(felts)), "the pool's encoding");
        assertEq(market.getRequest(id).callback, address(oracle), "told itself");
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(LoanToValueOracle.ForecastPending.selector, id));
        oracle.requestForecast(uint64(block.timestamp + TTL), PROVER_FEE);
    }

    function test_Forecast_MovesTheRatioOneBoundedStep() public {
        _fillWindow();
        int256 volatility = _pct(250); // 2.5 %: target 80 % - 25 % = 55 %, one step of 5 %
        vm.prank(keeper);
        uint256 id = oracle.requestForecast(uint64(block.timestamp + TTL), PROVER_FEE);
        _lockAs(prover, _ids(id));
        uint256[] memory instances = _oracleInstances(volatility);
        vm.expectEmit();
        emit LoanToValueOracle.LtvUpdated(id, 7000, 6500, volatility);
        vm.prank(prover);
        market.fulfil(_ids(id), PROOF, instances);
        assertEq(oracle.ltvBps(), 6500, "a step toward 55 %");
        assertEq(oracle.pendingRequestId(), 0, "nothing pending");
        _forecast(_pct(250));
        assertEq(oracle.ltvBps(), 6000, "another step");
        _forecast(_pct(250));
        assertEq(oracle.ltvBps(), 5500, "at the target");
        _forecast(-_pct(900)); // negative counts as calm: back up toward 80 %
        assertEq(oracle.ltvBps(), 6000, "a step up");
        assertEq(oracle.targetLtv(_pct(9000)), 5000, "never below the minimum");
    }

    function testFuzz_Forecast_KeepsTheRatioInBounds(int256 volatility) public {
        int256 top = int256(Felt.MAX_ABS) - 1;
        volatility = boundInt(volatility, -top, top);
        _fillWindow();
        uint16 before = oracle.ltvBps();
        _forecast(volatility);
        uint16 afterwards = oracle.ltvBps();
        assertTrue(afterwards >= 5000 && afterwards <= 8000, "in [min, max]");
        assertLe(afterwards > before ? afterwards - before : before - afterwards, 500, "one step at most");
    }

    // --- what it accepts -------------------------------------------------------------------------

    function test_OnInference_OnlyTheMarketForItsPendingRequest() public {
        _fillWindow();
        int256[] memory outputs = new int256[](1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(LoanToValueOracle.NotMarket.selector, stranger));
        oracle.onInference(1, outputs);
        vm.prank(address(market));
        vm.expectRevert(abi.encodeWithSelector(LoanToValueOracle.UnexpectedRequest.selector, 0));
        oracle.onInference(0, outputs);
        vm.prank(keeper);
        uint256 id = oracle.requestForecast(uint64(block.timestamp + TTL), PROVER_FEE);
        vm.prank(address(market));
        vm.expectRevert(abi.encodeWithSelector(LoanToValueOracle.UnexpectedRequest.selector, id + 1));
        oracle.onInference(id + 1, outputs);
        assertEq(oracle.ltvBps(), 7000, "unchanged");
    }

    /// @notice Paused: no forecast is bought, and one that arrives is not applied (the
    /// market records the failed callback; its settlement stands).
    function test_Pause_StopsBuyingAndApplying() public {
        _fillWindow();
        vm.prank(keeper);
        uint256 id = oracle.requestForecast(uint64(block.timestamp + TTL), PROVER_FEE);
        oracle.pause();
        vm.prank(keeper);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        oracle.requestForecast(uint64(block.timestamp + TTL), PROVER_FEE);
        _lockAs(prover, _ids(id));
        uint256[] memory instances = _oracleInstances(_pct(500));
        vm.expectEmit();
        emit Ev.CallbackFailed(id, address(oracle));
        vm.prank(prover);
        market.fulfil(_ids(id), PROOF, instances);
        assertEq(oracle.ltvBps(), 7000, "not applied while paused");
        oracle.unpause();
        _forecast(_pct(500)); // the settled request no longer blocks a new one
        assertEq(oracle.ltvBps(), 6500, "applied again");
    }

    /// @notice An unanswered forecast is refunded to the oracle; its owner takes the funds.
    function test_Refund_ThenAnotherForecastAndTheFundsBack() public {
        _fillWindow();
        vm.prank(keeper);
        uint256 id = oracle.requestForecast(uint64(block.timestamp + TTL), PROVER_FEE);
        vm.warp(block.timestamp + TTL + 1);
        market.refund(id);
        assertEq(uint256(market.getRequest(id).status), uint256(RequestStatus.Refunded), "refunded");
        _forecast(_pct(100));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        oracle.withdrawFunds(stranger);
        oracle.withdrawFunds(address(this));
        assertEq(token.balanceOf(address(this)), 1e24 - PRICE - PROVER_FEE, "all but the one forecast paid");
        assertEq(market.creditOf(address(oracle), token), 0, "the refund collected");
    }
}
