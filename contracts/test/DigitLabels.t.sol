// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {DigitLabels} from "../src/examples/DigitLabels.sol";
import {IModelRegistry} from "../src/IModelRegistry.sol";
import {ZkmlConsumer} from "../src/ZkmlConsumer.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {Felt} from "./utils/Felt.sol";
import {Test} from "./utils/Test.sol";

/// @title DigitLabels (the example consumer): inputs bound to the caller's pixels, one label per image
contract DigitLabelsTest is Test {
    uint8 internal constant INPUT_SCALE = 5; // the digits circuit's
    bytes internal constant PROOF = hex"c0ffee";

    MockVerifier internal mock;
    DigitLabels internal labels;

    function setUp() public {
        mock = new MockVerifier(true);
        labels = new DigitLabels(mock, IModelRegistry(address(0)), 0, INPUT_SCALE, address(this));
    }

    function _image(uint256 seed) internal pure returns (uint8[64] memory pixels) {
        for (uint256 i = 0; i < 64; ++i) {
            pixels[i] = uint8(uint256(keccak256(abi.encode(seed, i))) % 17);
        }
    }

    /// @dev The pixels' felts (v/16 on the 2**INPUT_SCALE grid, rounded half up), then the logits.
    function _instances(uint8[64] memory pixels, int256[10] memory logits)
        internal
        pure
        returns (uint256[] memory instances)
    {
        instances = new uint256[](74);
        for (uint256 i = 0; i < 64; ++i) {
            instances[i] = (uint256(pixels[i]) * 2 ** INPUT_SCALE + 8) / 16;
        }
        for (uint256 k = 0; k < 10; ++k) {
            instances[64 + k] = Felt.encode(logits[k]);
        }
    }

    function testFuzz_Label_IsTheArgmaxOfTheProvenLogits(uint256 seed, int256[10] memory logits) public {
        uint8 best;
        for (uint256 k = 0; k < 10; ++k) {
            logits[k] = boundInt(logits[k], -1e30, 1e30);
            if (logits[k] > logits[best]) best = uint8(k);
        }
        uint8[64] memory pixels = _image(seed);
        assertEq(labels.label(pixels, PROOF, _instances(pixels, logits)), best, "argmax, lowest on ties");
        (bool labelled, uint8 digit) = labels.labelOf(labels.imageHash(pixels));
        assertTrue(labelled && digit == best, "recorded");
    }

    function test_Label_OncePerImageWhateverTheProofBytes() public {
        uint8[64] memory pixels = _image(1);
        int256[10] memory logits;
        logits[3] = 1;
        uint256[] memory instances = _instances(pixels, logits);
        labels.label(pixels, PROOF, instances);
        bytes32 hash = labels.imageHash(pixels);
        vm.expectRevert(abi.encodeWithSelector(DigitLabels.AlreadyLabelled.selector, hash, 3));
        labels.label(pixels, hex"beef", instances);
    }

    function testFuzz_Label_RefusesPixelsAbove16(uint256 index, uint8 value) public {
        index = bound(index, 0, 63);
        value = uint8(bound(value, 17, 255));
        uint8[64] memory pixels = _image(2);
        int256[10] memory logits;
        uint256[] memory instances = _instances(pixels, logits);
        pixels[index] = value;
        vm.expectRevert(abi.encodeWithSelector(DigitLabels.InvalidPixel.selector, index, value));
        labels.label(pixels, PROOF, instances);
    }

    function test_Label_RefusesAProofAboutAnotherImage() public {
        uint8[64] memory pixels = _image(3);
        int256[10] memory logits;
        uint256[] memory instances = _instances(_image(4), logits);
        vm.expectPartialRevert(ZkmlConsumer.InputMismatch.selector);
        labels.label(pixels, PROOF, instances);
    }

    function test_Pause_StopsLabelling() public {
        labels.pause();
        uint8[64] memory pixels = _image(5);
        int256[10] memory logits;
        uint256[] memory instances = _instances(pixels, logits);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        labels.label(pixels, PROOF, instances);
    }

    function test_Constructor_RefusesScalesAbove64() public {
        vm.expectRevert(DigitLabels.InvalidConfig.selector);
        new DigitLabels(mock, IModelRegistry(address(0)), 0, 65, address(this));
    }
}
