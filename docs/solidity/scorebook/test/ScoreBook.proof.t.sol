// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IHalo2Verifier} from "zkml-prover/IHalo2Verifier.sol";
import {IModelRegistry} from "zkml-prover/IModelRegistry.sol";
import {ZkmlConsumer} from "zkml-prover/ZkmlConsumer.sol";
import {Felt} from "zkml-prover-test/utils/Felt.sol";
import {Test} from "zkml-prover-test/utils/Test.sol";
import {Halo2Verifier} from "../src/Halo2Verifier.sol";
import {ScoreBook} from "../src/ScoreBook.sol";

/// @notice ScoreBook with the model's real verifier and a real proof (`prover calldata`).
contract ScoreBookProofTest is Test {
    string internal constant FIXTURE = "test/fixtures/scorer.json";

    ScoreBook internal book;
    int256[4] internal features;
    bytes internal proof;
    uint256[] internal instances;

    function setUp() public {
        // ezkl's rendered verifier does not inherit IHalo2Verifier; its verifyProof has the same signature
        book = new ScoreBook(IHalo2Verifier(address(new Halo2Verifier())), IModelRegistry(address(0)), 0);
        string memory json = vm.readFile(FIXTURE);
        proof = vm.parseJsonBytes(json, ".proof");
        instances = vm.parseJsonUintArray(json, ".instances");
        for (uint256 i = 0; i < 4; ++i) {
            features[i] = Felt.decode(instances[i]); // the features the proof is about
        }
    }

    function test_RecordsTheProvenScore() public {
        int256[] memory score = vm.parseJsonIntArray(vm.readFile(FIXTURE), ".outputs[0].values");
        assertEq(book.record(features, proof, instances), score[0], "the score prover decoded");
    }

    function test_RefusesTheProofForOtherFeatures() public {
        int256[4] memory other = features;
        other[0] += 1;
        vm.expectRevert(
            abi.encodeWithSelector(ZkmlConsumer.InputMismatch.selector, 0, Felt.encode(other[0]), instances[0])
        );
        book.record(other, proof, instances);
    }

    function test_RefusesAProofWithOneByteChanged() public {
        bytes memory tampered = proof;
        tampered[100] ^= 0x01;
        vm.expectRevert(ZkmlConsumer.ProofRejected.selector);
        book.record(features, tampered, instances);
    }
}
