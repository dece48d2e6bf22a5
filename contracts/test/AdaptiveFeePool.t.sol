// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {AdaptiveFeePool} from "../src/AdaptiveFeePool.sol";
import {IModelRegistry} from "../src/IModelRegistry.sol";
import {OwnableNoRenounce} from "../src/OwnableNoRenounce.sol";
import {ZkmlConsumer} from "../src/ZkmlConsumer.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {FeePools} from "./utils/FeePools.sol";
import {Felt} from "./utils/Felt.sol";
import {Test} from "./utils/Test.sol";

/// @title AdaptiveFeePool: the fee policy, its owner, and its proof checks
/// @notice Unit and fuzz tests against the mock verifier: the fee stays in [min, max] and
/// moves by at most `maxStepBps` for any proven volatility and any valid policy; one update
/// per epoch and per interval; pause and ownership are the owner's; every rejection by name.
contract AdaptiveFeePoolTest is Test {
    bytes internal constant PROOF = hex"c0ffee";
    int256 internal constant MAX_OUTPUT = int256(Felt.MAX_ABS) - 1;

    MockVerifier internal mock;
    AdaptiveFeePool internal pool;
    address internal stranger;

    function setUp() public {
        vm.warp(1_000_000);
        mock = new MockVerifier(true);
        pool = FeePools.deploy(mock, FeePools.defaultPolicy(), address(this));
        stranger = makeAddr("stranger");
    }

    function _update(int256 volatility) internal returns (uint16) {
        uint64 epoch = pool.currentEpoch();
        pool.updateFee(epoch, PROOF, FeePools.instancesFor(pool, volatility));
        return pool.feeBps();
    }

    function _nextEpoch() internal {
        pool.recordPrice(2010e18);
        vm.warp(block.timestamp + pool.minUpdateInterval());
    }

    // --- the policy ------------------------------------------------------------------------------

    function test_Update_StepsTowardTheTierAndEmits() public {
        FeePools.fillWindow(pool);
        int256 volatility = FeePools.volatilityAt(2_000_000); // 2 %: the top tier, 100 bps
        uint256[] memory instances = FeePools.instancesFor(pool, volatility);
        vm.expectEmit();
        emit AdaptiveFeePool.FeeUpdated(9, 30, 55, volatility);
        pool.updateFee(9, PROOF, instances);
        assertEq(pool.feeBps(), 55, "one step of 25 toward 100");
        assertEq(pool.lastUpdateEpoch(), 9, "epoch used");
        assertEq(pool.lastUpdateTime(), block.timestamp, "interval restarts");
    }

    /// @notice With steps as large as the range, the fee lands on the tier of the volatility:
    /// bucket k holds [T[k-1], T[k]) in millionths of a percent; negative counts as zero.
    function test_TargetFee_FollowsTheThresholds() public {
        AdaptiveFeePool.FeePolicy memory policy = FeePools.defaultPolicy();
        (policy.minFeeBps, policy.maxFeeBps, policy.maxStepBps, policy.minUpdateInterval) = (0, 10_000, 10_000, 0);
        pool = FeePools.deploy(mock, policy, address(this));
        FeePools.fillWindow(pool);
        int256[8] memory volatilities = [
            -MAX_OUTPUT,
            0,
            FeePools.volatilityAt(300_000) - 1,
            FeePools.volatilityAt(300_000),
            FeePools.volatilityAt(700_000) - 1,
            FeePools.volatilityAt(700_000),
            FeePools.volatilityAt(1_300_000),
            MAX_OUTPUT
        ];
        uint16[8] memory tiers = [uint16(5), 5, 5, 30, 30, 60, 100, 100];
        for (uint256 i = 0; i < volatilities.length; ++i) {
            assertEq(_update(volatilities[i]), tiers[i], "tier of the volatility");
            pool.recordPrice(2008e18);
        }
    }

    function testFuzz_Update_FeeStaysInBoundsAndMovesByAtMostOneStep(int256 volatility) public {
        volatility = boundInt(volatility, -MAX_OUTPUT, MAX_OUTPUT);
        FeePools.fillWindow(pool);
        uint16 before = pool.feeBps();
        uint16 afterwards = _update(volatility);
        assertGe(afterwards, pool.minFeeBps(), "fee >= min");
        assertLe(afterwards, pool.maxFeeBps(), "fee <= max");
        uint256 change = afterwards > before ? afterwards - before : before - afterwards;
        assertLe(change, pool.maxStepBps(), "|change| <= maxStep");
    }

    /// @notice Any valid policy (any tiers, even outside [min, max]) and any sequence of
    /// proven volatilities keep the fee in [min, max], one bounded step per update.
    function testFuzz_AnyPolicy_KeepsTheFeeInBounds(
        uint16[4] memory tiers,
        uint16[3] memory bounds,
        int256[4] memory volatilities
    ) public {
        AdaptiveFeePool.FeePolicy memory policy = FeePools.defaultPolicy();
        policy.maxFeeBps = uint16(bound(bounds[0], 0, 10_000));
        policy.minFeeBps = uint16(bound(bounds[1], 0, policy.maxFeeBps));
        policy.initialFeeBps = uint16(bound(bounds[2], policy.minFeeBps, policy.maxFeeBps));
        policy.maxStepBps = uint16(bound(uint256(keccak256(abi.encode(bounds))), 1, 10_000));
        for (uint256 k = 0; k < 4; ++k) {
            policy.tiersBps[k] = uint16(bound(tiers[k], 0, type(uint16).max));
        }
        pool = FeePools.deploy(mock, policy, address(this));
        FeePools.fillWindow(pool);
        vm.warp(block.timestamp + 60);
        for (uint256 i = 0; i < volatilities.length; ++i) {
            uint16 before = pool.feeBps();
            uint16 afterwards = _update(boundInt(volatilities[i], -MAX_OUTPUT, MAX_OUTPUT));
            assertTrue(afterwards >= policy.minFeeBps && afterwards <= policy.maxFeeBps, "fee in [min, max]");
            uint256 change = afterwards > before ? afterwards - before : before - afterwards;
            assertLe(change, policy.maxStepBps, "|change| <= maxStep");
            _nextEpoch();
        }
    }

    // --- configuration ---------------------------------------------------------------------------

    function testFuzz_Constructor_RefusesContradictoryPolicies(uint8 flaw, uint256 amount) public {
        AdaptiveFeePool.FeePolicy memory policy = FeePools.defaultPolicy();
        (uint8 inputScale, uint8 outputScale) = (FeePools.INPUT_SCALE, FeePools.OUTPUT_SCALE);
        flaw = uint8(bound(flaw, 0, 7));
        if (flaw == 0) {
            inputScale = uint8(bound(amount, 65, 255));
        } else if (flaw == 1) {
            outputScale = uint8(bound(amount, 65, 255));
        } else if (flaw == 2) {
            policy.minFeeBps = uint16(bound(amount, policy.initialFeeBps + 1, type(uint16).max));
        } else if (flaw == 3) {
            policy.initialFeeBps = uint16(bound(amount, policy.maxFeeBps + 1, type(uint16).max));
        } else if (flaw == 4) {
            (policy.maxFeeBps, policy.initialFeeBps) = (uint16(bound(amount, 10_001, type(uint16).max)), 10_001);
        } else if (flaw == 5) {
            policy.maxStepBps = 0;
        } else if (flaw == 6) {
            policy.thresholdsMicroPct[1] = bound(amount, 0, policy.thresholdsMicroPct[0]);
        } else {
            policy.thresholdsMicroPct[2] = bound(amount, 0, policy.thresholdsMicroPct[1]);
        }
        vm.expectRevert(AdaptiveFeePool.InvalidConfig.selector);
        new AdaptiveFeePool(mock, IModelRegistry(address(0)), 0, inputScale, outputScale, policy, address(this));
    }

    function test_Constructor_RefusesNoOwner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        FeePools.deploy(mock, FeePools.defaultPolicy(), address(0));
    }

    // --- prices and windows ------------------------------------------------------------------------

    function test_RecordPrice_RefusesZeroAndHugePrices() public {
        vm.expectRevert(AdaptiveFeePool.InvalidPrice.selector);
        pool.recordPrice(0);
        vm.expectRevert(AdaptiveFeePool.InvalidPrice.selector);
        pool.recordPrice(2 ** 128);
        pool.recordPrice(2 ** 128 - 1);
        assertEq(pool.observationCount(), 1, "largest price recorded");
    }

    function test_Observations_AreTheLastWindowOldestFirst() public {
        for (uint256 i = 1; i <= 12; ++i) {
            pool.recordPrice(i);
        }
        uint256[9] memory window = pool.observations();
        for (uint256 k = 0; k < 9; ++k) {
            assertEq(window[k], k + 4, "prices 4..12");
        }
    }

    /// @notice Features saturate at +-100 % of the latest price (the circuit's input domain).
    function test_Features_SaturateToTheInputDomain() public view {
        uint256[9] memory window = [uint256(3e18), 1, 1e18, 1e18, 1e18, 1e18, 1e18, 15e17, 1e18];
        uint256[] memory felts = pool.featuresOf(window);
        int256 limit = 100 * 2 ** 10;
        assertEq(felts[0], Felt.encode(limit), "+200 % saturates to +100 %");
        assertEq(felts[1], Felt.encode(-limit + 1), "-100 % (truncated toward zero)");
        assertEq(felts[2], 0, "no change");
        assertEq(felts[7], Felt.encode(50 * 2 ** 10), "+50 %");
    }

    function test_Features_RefuseInvalidPrices() public {
        uint256[9] memory window;
        vm.expectRevert(AdaptiveFeePool.InvalidPrice.selector);
        pool.featuresOf(window);
    }

    // --- when an update is refused -------------------------------------------------------------------

    function test_Update_RefusesBeforeAFullWindow() public {
        for (uint256 i = 0; i < 8; ++i) {
            pool.recordPrice(1e18);
        }
        vm.expectRevert(abi.encodeWithSelector(AdaptiveFeePool.NotEnoughObservations.selector, 8, 9));
        pool.updateFee(8, PROOF, new uint256[](9));
    }

    function testFuzz_Update_RefusesAnyOtherEpoch(uint64 epoch) public {
        FeePools.fillWindow(pool);
        vm.assume(epoch != 9);
        uint256[] memory instances = FeePools.instancesFor(pool, 0);
        vm.expectRevert(abi.encodeWithSelector(AdaptiveFeePool.StaleEpoch.selector, epoch, 9));
        pool.updateFee(epoch, PROOF, instances);
    }

    function test_Update_RefusesASecondUpdateInOneEpoch() public {
        FeePools.fillWindow(pool);
        _update(0);
        vm.warp(block.timestamp + 1 days);
        uint256[] memory instances = FeePools.instancesFor(pool, 0);
        vm.expectRevert(abi.encodeWithSelector(AdaptiveFeePool.AlreadyUpdated.selector, 9));
        pool.updateFee(9, PROOF, instances);
    }

    function testFuzz_Update_RefusesBeforeTheInterval(uint256 wait) public {
        FeePools.fillWindow(pool);
        _update(0);
        uint256 next = block.timestamp + 60;
        pool.recordPrice(2010e18);
        vm.warp(block.timestamp + bound(wait, 0, 59));
        uint256[] memory instances = FeePools.instancesFor(pool, 0);
        vm.expectRevert(abi.encodeWithSelector(AdaptiveFeePool.TooEarly.selector, next));
        pool.updateFee(10, PROOF, instances);
        vm.warp(next);
        pool.updateFee(10, PROOF, instances);
    }

    function test_Update_RefusesInputsThatAreNotThePoolsPrices() public {
        FeePools.fillWindow(pool);
        uint256[] memory instances = FeePools.instancesFor(pool, 0);
        uint256 expected = instances[3];
        instances[3] += 1;
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InputMismatch.selector, 3, expected, expected + 1));
        pool.updateFee(9, PROOF, instances);
    }

    function test_Update_RefusesWrongShapesAndRejectedProofs() public {
        FeePools.fillWindow(pool);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.WrongInstanceCount.selector, 8, 9));
        pool.updateFee(9, PROOF, new uint256[](8));
        uint256[] memory instances = FeePools.instancesFor(pool, 0);
        mock.setAccepts(false);
        vm.expectRevert(ZkmlConsumer.ProofRejected.selector);
        pool.updateFee(9, PROOF, instances);
        assertEq(pool.lastUpdateEpoch(), pool.NEVER_UPDATED(), "a refused proof changes nothing");
    }

    // --- the owner: pause, prices, two-step ownership, never renounced ----------------------------------

    function test_Pause_StopsUpdatesNotPrices() public {
        FeePools.fillWindow(pool);
        pool.pause();
        uint256[] memory instances = FeePools.instancesFor(pool, 0);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        pool.updateFee(9, PROOF, instances);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        pool.pause();
        pool.recordPrice(2020e18);
        pool.unpause();
        vm.expectRevert(Pausable.ExpectedPause.selector);
        pool.unpause();
        _update(0);
        assertEq(pool.lastUpdateEpoch(), 10, "updates resume");
    }

    function test_Owner_AloneRecordsPricesAndPauses() public {
        bytes memory refused = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger);
        vm.startPrank(stranger);
        vm.expectRevert(refused);
        pool.recordPrice(1e18);
        vm.expectRevert(refused);
        pool.pause();
        vm.expectRevert(refused);
        pool.unpause();
        vm.expectRevert(refused);
        pool.transferOwnership(stranger);
        vm.stopPrank();
    }

    function test_Owner_HandsOverInTwoSteps() public {
        address next = makeAddr("next");
        pool.transferOwnership(next);
        assertEq(pool.owner(), address(this), "still the owner until accepted");
        assertEq(pool.pendingOwner(), next, "offer pending");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        pool.acceptOwnership();
        vm.prank(next);
        pool.acceptOwnership();
        assertEq(pool.owner(), next, "handed over");
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        pool.pause();
    }

    function test_Owner_CannotRenounce() public {
        vm.expectRevert(OwnableNoRenounce.RenounceDisabled.selector);
        pool.renounceOwnership();
        assertEq(pool.owner(), address(this), "owner kept");
    }
}
