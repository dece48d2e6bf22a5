// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Felt} from "zkml-prover-test/utils/Felt.sol";
import {Cheats} from "zkml-prover-test/utils/Test.sol";
import {ScoreBook} from "../src/ScoreBook.sol";

/// @notice Sends the proof `prover calldata` wrote to the ScoreBook at $BOOK.
contract Record is Cheats {
    function run() external returns (int256 score) {
        string memory json = vm.readFile("test/fixtures/scorer.json");
        bytes memory proof = vm.parseJsonBytes(json, ".proof");
        uint256[] memory instances = vm.parseJsonUintArray(json, ".instances");
        int256[4] memory features;
        for (uint256 i = 0; i < 4; ++i) {
            features[i] = Felt.decode(instances[i]);
        }
        vm.startBroadcast();
        score = ScoreBook(vm.envAddress("BOOK")).record(features, proof, instances);
        vm.stopBroadcast();
    }
}
