// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {InferenceMarket} from "../../src/InferenceMarket.sol";
import {Shape} from "../../src/IInferenceMarket.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {MockToken} from "../MarketMocks.sol";
import {MockVerifier} from "../MockVerifier.sol";
import {Felt} from "./Felt.sol";
import {Test} from "./Test.sol";
import {Versions} from "./Versions.sol";

/// @title An inference market ready to trade, for tests
/// @notice A real ModelRegistry and InferenceMarket; one model owned by `modelOwner` whose
/// version 1 (an accepting MockVerifier) serves a batch-4 circuit of 2 inputs and 1 output
/// per inference, with an open offer in `token`; a funded requester and prover who approved
/// the market; helpers to request, lock and build the instances of a proof for any batch.
/// @dev TEST ONLY. The test contract is the market's owner. Inputs of each request are kept
/// (`inputsOf`), and a proof's outputs are `outputFor(id, j)`, so a test states only ids.
abstract contract MarketFixture is Test {
    bytes internal constant PROOF = hex"c0ffee";
    uint128 internal constant PRICE = 1000;
    uint128 internal constant STAKE = 300;
    uint128 internal constant PROVER_FEE = 70;
    uint32 internal constant WINDOW = 60;
    uint64 internal constant TTL = 1 hours;
    uint256 internal constant FUNDS = 1e30;
    uint32 internal constant NO_GAS = 0;

    ModelRegistry internal registry;
    InferenceMarket internal market;
    MockToken internal token;
    MockVerifier internal verifier;
    address internal modelOwner;
    address internal payee;
    address internal feeRecipient;
    address internal requester;
    address internal prover;
    address internal stranger;
    uint256 internal modelId;
    uint32 internal version;

    /// @dev The inputs each request was made with.
    mapping(uint256 requestId => int256[]) internal inputsOf;
    /// @dev The shape each request's version serves with (what its proof looks like).
    mapping(uint256 requestId => Shape) internal shapeOfRequest;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        modelOwner = makeAddr("modelOwner");
        payee = makeAddr("payee");
        feeRecipient = makeAddr("feeRecipient");
        requester = makeAddr("requester");
        prover = makeAddr("prover");
        stranger = makeAddr("stranger");
        registry = new ModelRegistry();
        market = new InferenceMarket(registry, address(this), feeRecipient);
        token = new MockToken("TKN");
        verifier = new MockVerifier(true);
        vm.startPrank(modelOwner);
        modelId = registry.createModel("fee");
        version = uint32(registry.addVersion(modelId, Versions.plain(address(verifier))));
        market.setOffer(modelId, token, payee, PRICE, STAKE, WINDOW);
        market.serveVersion(modelId, version, defaultShape());
        vm.stopPrank();
        _fund(requester);
        _fund(prover);
        _fund(stranger);
    }

    /// @dev Batch 4, no leading instance, 2 inputs and 1 output per inference.
    function defaultShape() internal pure returns (Shape memory) {
        return Shape({batchSize: 4, leadingInstances: 0, inputsPerInference: 2, outputsPerInference: 1});
    }

    function _fund(address account) internal {
        token.mint(account, FUNDS);
        vm.prank(account);
        token.approve(address(market), type(uint256).max);
    }

    /// @dev A model of `modelOwner` with one version verified by a fresh accepting mock,
    /// served with `shape`, offered in `token_`.
    function _newModel(Shape memory shape, bytes32 paramsCommitment, IERC20 token_)
        internal
        returns (uint256 id, uint32 v)
    {
        vm.startPrank(modelOwner);
        id = registry.createModel("another");
        address mock = address(new MockVerifier(true));
        v = uint32(registry.addVersion(id, Versions.input(mock, 0, paramsCommitment, 0)));
        market.setOffer(id, token_, payee, PRICE, STAKE, WINDOW);
        market.serveVersion(id, v, shape);
        vm.stopPrank();
    }

    /// @dev Inputs for the n-th request of a test: small, signed, distinct.
    function _inputs(uint256 count, int256 seed) internal pure returns (int256[] memory inputs) {
        inputs = new int256[](count);
        for (uint256 i = 0; i < count; ++i) {
            inputs[i] = (seed + int256(i)) * (i % 2 == 0 ? int256(1) : -1);
        }
    }

    /// @dev A request of `model` by `who`, no callback, deadline in TTL.
    function _requestAs(address who, uint256 model, int256[] memory inputs) internal returns (uint256 id) {
        vm.prank(who);
        id = market.request(model, inputs, address(0), NO_GAS, uint64(block.timestamp + TTL), PROVER_FEE);
        _remember(id, model, inputs);
    }

    /// @dev A request of the default model by `requester`.
    function _request() internal returns (uint256 id) {
        return _requestAs(requester, modelId, _inputs(2, int256(market.requestCount() + 1)));
    }

    /// @dev A request with a callback.
    function _requestWithCallback(address callback, uint32 gasLimit) internal returns (uint256 id) {
        int256[] memory inputs = _inputs(2, int256(market.requestCount() + 1));
        vm.prank(requester);
        id = market.request(modelId, inputs, callback, gasLimit, uint64(block.timestamp + TTL), PROVER_FEE);
        _remember(id, modelId, inputs);
    }

    function _remember(uint256 id, uint256 model, int256[] memory inputs) internal {
        inputsOf[id] = inputs;
        (Shape memory shape,) = market.shapeOf(model, market.getOffer(model).version);
        shapeOfRequest[id] = shape;
    }

    function _lockAs(address who, uint256[] memory ids) internal {
        vm.prank(who);
        market.lock(ids);
    }

    function _fulfilAs(address who, uint256[] memory ids) internal {
        uint256[] memory instances = _instancesFor(ids);
        vm.prank(who);
        market.fulfil(ids, PROOF, instances);
    }

    /// @dev Request, lock by the prover, fulfil by the prover.
    function _settled() internal returns (uint256 id) {
        id = _request();
        _lockAs(prover, _ids(id));
        _fulfilAs(prover, _ids(id));
    }

    function _ids(uint256 a) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](1);
        ids[0] = a;
    }

    function _ids(uint256 a, uint256 b) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](2);
        (ids[0], ids[1]) = (a, b);
    }

    /// @dev The proven output j of request `id` (signed, distinct per request and output).
    function outputFor(uint256 id, uint256 j) internal pure returns (int256) {
        int256 value = int256(id * 1000 + j * 17 + 1);
        return j % 2 == 0 ? value : -value;
    }

    /// @dev The instances of a proof of `ids` in that order: params commitment (if the shape
    /// has a leading instance: `bytes32(uint256(7))` unless the test overrides it), each
    /// request's input felts in its slot, zero padding, then `outputFor` per slot (padding
    /// slots' outputs are the model's output on zeros: 5 here).
    function _instancesFor(uint256[] memory ids) internal view returns (uint256[] memory instances) {
        Shape memory shape = shapeOfRequest[ids[0]];
        uint256 perSlot = shape.inputsPerInference;
        uint256 outputs = shape.outputsPerInference;
        uint256 leading = shape.leadingInstances;
        uint256 batch = shape.batchSize;
        instances = new uint256[](leading + batch * (perSlot + outputs));
        if (leading != 0) instances[0] = 7;
        uint256 firstOutput = leading + batch * perSlot;
        for (uint256 k = 0; k < batch; ++k) {
            for (uint256 j = 0; j < outputs; ++j) {
                instances[firstOutput + k * outputs + j] = 5;
            }
        }
        for (uint256 k = 0; k < ids.length && k < batch; ++k) {
            int256[] storage inputs = inputsOf[ids[k]];
            for (uint256 i = 0; i < inputs.length && i < perSlot; ++i) {
                instances[leading + k * perSlot + i] = Felt.encode(inputs[i]);
            }
            for (uint256 j = 0; j < outputs; ++j) {
                instances[firstOutput + k * outputs + j] = Felt.encode(outputFor(ids[k], j));
            }
        }
    }
}
