// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {RequestInfo, RequestStatus, Shape} from "../src/IInferenceMarket.sol";
import {InferenceMarket} from "../src/InferenceMarket.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {HostileConsumer, MockToken, RecordingConsumer} from "./MarketMocks.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {Felt} from "./utils/Felt.sol";
import {Cheats, Test} from "./utils/Test.sol";
import {Versions} from "./utils/Versions.sol";

/// @title What forge may do to an inference market in an invariant run
/// @notice TEST ONLY: three actors request, lock, fulfil (with proofs the mock verifier
/// accepts, for well-formed batches of their own locks), refund, withdraw; time passes; the
/// model owner retires and serves again; the registry revokes; the market's owner moves the
/// protocol fee. Two models in two tokens: A (batch 4, 2 inputs, 1 output) and B (batch 2,
/// weights committed, 1 input, 2 outputs). Ghost records keep every amount that entered and
/// left, and how each request ended.
contract MarketHandler is Cheats {
    uint128 internal constant STAKE = 300;
    bytes32 internal constant COMMITMENT = bytes32(uint256(7));

    ModelRegistry public immutable registry = new ModelRegistry();
    InferenceMarket public immutable market;
    MockToken[2] public tokens;
    uint256[2] public models;
    uint32[2] public versions;
    address[3] public actors = [address(0xA11CE), address(0xB0B), address(0xCA401)];
    address public constant PAYEE = address(0xBEEF);
    address public constant FEE_RECIPIENT = address(0xFEE);
    address public callback;

    /// @dev Every request made: its model index (0 A, 1 B) and inputs.
    uint256[] public ids;
    mapping(uint256 id => uint256) public modelOf;
    mapping(uint256 id => int256[]) internal _inputs;
    mapping(uint256 id => uint256) public escrowOf;
    /// @dev The stake the request's current lock holds (0 once released).
    mapping(uint256 id => uint256) public heldStake;
    mapping(uint256 id => uint256) public fulfilments;
    mapping(uint256 id => uint256) public refunds;

    /// @notice Per token: what came in (escrows and stakes) and what went out (withdrawals).
    uint256[2] public deposited;
    uint256[2] public withdrawn;
    /// @notice Successful calls, for the run's coverage.
    uint256 public fulfilCalls;
    uint256 public refundCalls;

    constructor() {
        market = new InferenceMarket(registry, address(this), FEE_RECIPIENT);
        callback = address(new RecordingConsumer());
        Shape[2] memory shapes = [Shape(4, 0, 2, 1), Shape(2, 1, 1, 2)];
        for (uint256 m = 0; m < 2; ++m) {
            tokens[m] = new MockToken(m == 0 ? "A" : "B");
            models[m] = registry.createModel("model");
            bytes32 commitment = m == 0 ? bytes32(0) : COMMITMENT;
            address verifier = address(new MockVerifier(true));
            versions[m] = uint32(registry.addVersion(models[m], Versions.input(verifier, 0, commitment, 0)));
            market.setOffer(models[m], tokens[m], PAYEE, uint128(1000 * (m + 1)), STAKE, 20 minutes);
            market.serveVersion(models[m], versions[m], shapes[m]);
            for (uint256 a = 0; a < 3; ++a) {
                tokens[m].mint(actors[a], 1e30);
                vm.prank(actors[a]);
                tokens[m].approve(address(market), type(uint256).max);
            }
        }
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    // --- actions ---------------------------------------------------------------------------------

    /// @notice An actor requests an inference of A or B, sometimes with a callback.
    function request(uint256 actor, uint256 model, int256 seed, uint128 proverFee, uint256 ttl, bool told) external {
        uint256 m = model % 2;
        int256[] memory inputs = new int256[](m == 0 ? 2 : 1);
        for (uint256 i = 0; i < inputs.length; ++i) {
            inputs[i] = boundInt(seed, -1e30, 1e30) - int256(i);
        }
        proverFee = uint128(bound(proverFee, 0, 1e6));
        uint64 deadline = uint64(block.timestamp + bound(ttl, 1, 2 hours));
        uint256 before = tokens[m].balanceOf(address(market));
        vm.prank(_actor(actor));
        try market.request(
            models[m], inputs, told ? callback : address(0), told ? 200_000 : 0, deadline, proverFee
        ) returns (
            uint256 id
        ) {
            ids.push(id);
            modelOf[id] = m;
            _inputs[id] = inputs;
            escrowOf[id] = tokens[m].balanceOf(address(market)) - before;
            deposited[m] += escrowOf[id];
        } catch {}
    }

    /// @notice An actor locks one or two requests.
    function lock(uint256 actor, uint256 pick, bool two) external {
        if (ids.length == 0) return;
        uint256[] memory chosen = new uint256[](two && ids.length > 1 ? 2 : 1);
        for (uint256 k = 0; k < chosen.length; ++k) {
            chosen[k] = ids[(pick + k) % ids.length];
        }
        uint256[2] memory before = [_balance(0), _balance(1)];
        vm.prank(_actor(actor));
        try market.lock(chosen) {
            for (uint256 k = 0; k < chosen.length; ++k) {
                heldStake[chosen[k]] = market.getRequest(chosen[k]).stake; // the old one is released
            }
            for (uint256 m = 0; m < 2; ++m) {
                deposited[m] += _balance(m) - before[m];
            }
        } catch {}
    }

    /// @notice The holder of the first live lock from `start` on settles up to a batch of the
    /// open requests of that model it holds live locks on, with a proof the mock accepts (or,
    /// when `tamper`, with an input changed).
    function fulfil(uint256 model, uint256 start, bool tamper) external {
        address prover;
        uint256 m = model % 2;
        uint256 batch = m == 0 ? 4 : 2;
        uint256[] memory chosen = new uint256[](batch);
        uint256 n;
        for (uint256 k = 0; k < ids.length && n < batch; ++k) {
            uint256 id = ids[(start + k) % ids.length];
            if (modelOf[id] != m) continue;
            RequestInfo memory info = market.getRequest(id);
            if (info.status != RequestStatus.Open || info.lockedUntil < block.timestamp || info.locker == address(0)) {
                continue;
            }
            if (prover == address(0)) prover = info.locker;
            if (info.locker == prover) chosen[n++] = id;
        }
        if (n == 0) return;
        assembly ("memory-safe") {
            mstore(chosen, n)
        }
        uint256[] memory instances = _instances(m, chosen);
        if (tamper) instances[m == 0 ? 0 : 1] += 1;
        vm.prank(prover);
        try market.fulfil(chosen, hex"c0ffee", instances) {
            ++fulfilCalls;
            for (uint256 k = 0; k < n; ++k) {
                ++fulfilments[chosen[k]];
                heldStake[chosen[k]] = 0;
            }
        } catch {}
    }

    /// @notice Anyone asks for a refund.
    function refund(uint256 pick) external {
        if (ids.length == 0) return;
        uint256 id = ids[pick % ids.length];
        try market.refund(id) {
            ++refundCalls;
            ++refunds[id];
            heldStake[id] = 0;
        } catch {}
    }

    /// @notice An account withdraws its credit in one token.
    function withdraw(uint256 account, uint256 token) external {
        address who = _account(account);
        uint256 m = token % 2;
        uint256 before = tokens[m].balanceOf(who);
        vm.prank(who);
        try market.withdraw(tokens[m]) {
            withdrawn[m] += tokens[m].balanceOf(who) - before;
        } catch {}
    }

    /// @notice Up to half an hour passes (locks last 20 minutes, deadlines up to 2 hours).
    function wait(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 30 minutes));
    }

    /// @notice The owner of A retires its version, or serves it again.
    function toggleServing() external {
        (, bool serving) = market.shapeOf(models[0], versions[0]);
        vm.prank(address(this));
        if (serving) market.retireVersion(models[0], versions[0]);
        else market.serveVersion(models[0], versions[0], Shape(4, 0, 2, 1));
    }

    /// @notice The owner of B revokes its version for good (rarely: one seed in 16).
    function revokeB(uint256 seed) external {
        if (seed % 16 != 0 || registry.getVersion(models[1], versions[1]).revoked) return;
        registry.revokeVersion(models[1], versions[1]);
    }

    /// @notice The market's owner moves the protocol fee (new requests pin it).
    function setFee(uint16 bps) external {
        market.setProtocolFee(uint16(bound(bps, 0, 1000)));
    }

    // --- views for the invariants ----------------------------------------------------------------

    /// @notice Open escrows and held stakes in token `m`, by the ghost records.
    function inFlight(uint256 m) external view returns (uint256 escrows, uint256 stakes) {
        for (uint256 k = 0; k < ids.length; ++k) {
            uint256 id = ids[k];
            if (modelOf[id] != m) continue;
            if (fulfilments[id] == 0 && refunds[id] == 0) escrows += escrowOf[id];
            stakes += heldStake[id];
        }
    }

    /// @notice Every credit in token `m`.
    function credits(uint256 m) external view returns (uint256 sum) {
        for (uint256 a = 0; a < 5; ++a) {
            sum += market.creditOf(_account(a), tokens[m]);
        }
    }

    function _balance(uint256 m) internal view returns (uint256) {
        return tokens[m].balanceOf(address(market));
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % 3];
    }

    /// @dev The actors, then the payee and the fee recipient: everyone who can be credited.
    function _account(uint256 seed) internal view returns (address) {
        uint256 i = seed % 5;
        return i < 3 ? actors[i] : (i == 3 ? PAYEE : FEE_RECIPIENT);
    }

    function _instances(uint256 m, uint256[] memory chosen) internal view returns (uint256[] memory instances) {
        (uint256 batch, uint256 leading, uint256 perSlot, uint256 outputs) = m == 0 ? (4, 0, 2, 1) : (2, 1, 1, 2);
        instances = new uint256[](leading + batch * (perSlot + outputs));
        if (leading != 0) instances[0] = uint256(COMMITMENT);
        for (uint256 k = 0; k < chosen.length; ++k) {
            int256[] storage inputs = _inputs[chosen[k]];
            for (uint256 i = 0; i < perSlot; ++i) {
                instances[leading + k * perSlot + i] = Felt.encode(inputs[i]);
            }
            for (uint256 j = 0; j < outputs; ++j) {
                instances[leading + batch * perSlot + k * outputs + j] = Felt.encode(inputs[0] / 3 - int256(j));
            }
        }
    }
}

/// @title InferenceMarket invariants
/// @notice Whatever forge does, per token: the market holds exactly what it owes, and what
/// it owes is the open escrows, the held stakes and the credits; every unit that came in is
/// still in flight, credited or withdrawn once; no request is both refunded and fulfilled,
/// or settled twice.
contract InferenceMarketInvariantTest is Test {
    MarketHandler internal handler;
    InferenceMarket internal market;

    function setUp() public {
        vm.warp(1_700_000_000);
        handler = new MarketHandler();
        market = handler.market();
        _targetContract(address(handler));
    }

    /// @notice The handler's actions reach the market (a sanity check of the harness itself).
    function test_Handler_TradesThroughTheMarket() public {
        handler.request(0, 0, 5, 10, 1 hours, true);
        handler.request(1, 0, 6, 10, 1 hours, false);
        handler.request(2, 1, 7, 10, 1 hours, false);
        handler.lock(1, 0, true);
        handler.lock(2, 2, false);
        handler.fulfil(0, 0, true); // tampered: refused
        assertEq(handler.fulfilCalls(), 0, "a tampered proof settles nothing");
        handler.fulfil(0, 0, false);
        handler.fulfil(1, 0, false);
        assertEq(handler.fulfilCalls(), 2, "both batches settled");
        handler.wait(30 minutes);
        handler.refund(0);
        assertEq(handler.refundCalls(), 0, "settled requests are not refundable");
        handler.withdraw(1, 0);
        handler.withdraw(3, 1);
        assertEq(RecordingConsumer(handler.callback()).calls(), 1, "told");
        invariant_BalanceEqualsLiabilities();
        invariant_LiabilitiesAreEscrowsStakesAndCredits();
        invariant_NothingPaidTwice();
    }

    function invariant_BalanceEqualsLiabilities() public view {
        for (uint256 m = 0; m < 2; ++m) {
            IERC20 token = handler.tokens(m);
            assertEq(token.balanceOf(address(market)), market.liabilities(token), "balance == liabilities");
        }
    }

    function invariant_LiabilitiesAreEscrowsStakesAndCredits() public view {
        for (uint256 m = 0; m < 2; ++m) {
            (uint256 escrows, uint256 stakes) = handler.inFlight(m);
            assertEq(
                market.liabilities(handler.tokens(m)), escrows + stakes + handler.credits(m), "open + held + credited"
            );
        }
    }

    /// @notice In = in flight + credited + withdrawn: a unit paid out twice would break it.
    function invariant_NothingPaidTwice() public view {
        for (uint256 m = 0; m < 2; ++m) {
            (uint256 escrows, uint256 stakes) = handler.inFlight(m);
            assertEq(handler.deposited(m), escrows + stakes + handler.credits(m) + handler.withdrawn(m), "conservation");
        }
    }

    function invariant_EachRequestEndsOnceAtMost() public view {
        for (uint256 k = 0; k < handler.idCount(); ++k) {
            uint256 id = handler.ids(k);
            uint256 fulfilled = handler.fulfilments(id);
            uint256 refunded = handler.refunds(id);
            assertLe(fulfilled + refunded, 1, "fulfilled or refunded, once");
            RequestStatus status = market.getRequest(id).status;
            if (fulfilled == 1) assertEq(uint256(status), uint256(RequestStatus.Fulfilled), "status: fulfilled");
            else if (refunded == 1) assertEq(uint256(status), uint256(RequestStatus.Refunded), "status: refunded");
            else assertEq(uint256(status), uint256(RequestStatus.Open), "status: open");
        }
    }
}
