// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IModelRegistry} from "zkml-prover/IModelRegistry.sol";
import {ZkmlConsumer} from "zkml-prover/ZkmlConsumer.sol";
import {MockVerifier} from "zkml-prover-test/MockVerifier.sol";
import {Felt} from "zkml-prover-test/utils/Felt.sol";
import {Test} from "zkml-prover-test/utils/Test.sol";
import {ScoreBook} from "../src/ScoreBook.sol";

/// @notice ScoreBook's policy against the mock verifier (which accepts any proof): no proving.
contract ScoreBookTest is Test {
    bytes internal constant PROOF = hex"c0ffee";

    MockVerifier internal mock;
    ScoreBook internal book;

    function setUp() public {
        mock = new MockVerifier(true);
        book = new ScoreBook(mock, IModelRegistry(address(0)), 0);
    }

    /// @dev A proof's instances for `features` and `score`: 4 input felts, then the output felt.
    function _instances(int256[4] memory features, int256 score) internal pure returns (uint256[] memory instances) {
        instances = new uint256[](5);
        for (uint256 i = 0; i < 4; ++i) {
            instances[i] = Felt.encode(features[i]);
        }
        instances[4] = Felt.encode(score);
    }

    function testFuzz_RecordsTheScoreOncePerVector(int256[4] memory features, int256 score) public {
        for (uint256 i = 0; i < 4; ++i) {
            features[i] = boundInt(features[i], -1e30, 1e30);
        }
        score = boundInt(score, -1e30, 1e30);
        uint256[] memory instances = _instances(features, score);
        assertEq(book.record(features, PROOF, instances), score, "decoded score");
        assertEq(book.scoreOf(book.keyOf(features)), score, "stored");
        vm.expectRevert(abi.encodeWithSelector(ScoreBook.AlreadyScored.selector, book.keyOf(features)));
        book.record(features, hex"beef", instances);
    }

    function testFuzz_RefusesAProofAboutOtherFeatures(int256[4] memory features, uint256 index) public {
        for (uint256 i = 0; i < 4; ++i) {
            features[i] = boundInt(features[i], -1e30, 1e30);
        }
        index = bound(index, 0, 3);
        uint256[] memory instances = _instances(features, 1);
        features[index] += 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                ZkmlConsumer.InputMismatch.selector, index, Felt.encode(features[index]), instances[index]
            )
        );
        book.record(features, PROOF, instances);
    }

    function test_RefusesWhatTheVerifierRejects() public {
        int256[4] memory features;
        mock.setAccepts(false);
        vm.expectRevert(ZkmlConsumer.ProofRejected.selector);
        book.record(features, PROOF, _instances(features, 1));
    }
}
