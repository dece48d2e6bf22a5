// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IHalo2Verifier} from "../IHalo2Verifier.sol";
import {IModelRegistry} from "../IModelRegistry.sol";
import {OwnableNoRenounce} from "../OwnableNoRenounce.sol";
import {ZkmlConsumer} from "../ZkmlConsumer.sol";

/// @title Digit Labels (example consumer)
/// @notice Records the digit the `digits` model sees in an 8x8 image, once per image. The
/// caller submits the image's pixels with a proof of the model run on exactly those pixels;
/// the contract recomputes the input instances from the pixels, checks the proof through
/// the `ZkmlConsumer` template, and stores the argmax of the 10 proven logits.
/// @dev An example to copy: everything model-specific is in the four template hooks
/// (`_instanceCount`, `_outputCount`, `_expectedInputs`, `_recordUse`). The digits circuit
/// has 64 public input instances (pixels, row-major), 10 public output instances (logits,
/// signed fixed point) and fixed params: 74 instances. Freshness is keyed on the image
/// hash (rule 4), never on proof bytes: a re-randomised proof of a labelled image is
/// refused like the original.
contract DigitLabels is ZkmlConsumer, OwnableNoRenounce, Pausable {
    /// @notice Pixels per image (8 x 8, row-major).
    uint256 public constant PIXELS = 64;
    /// @notice Digit classes, one logit each.
    uint256 public constant CLASSES = 10;
    /// @notice The largest pixel value (the sklearn digits range is 0..16).
    uint8 public constant PIXEL_MAX = 16;

    /// @notice Fixed-point scale (bits) of the circuit's input instances.
    uint8 public immutable inputScale;

    /// @dev A recorded label; both fields share one slot.
    struct Label {
        bool labelled;
        uint8 digit;
    }

    /// @dev Labels by image hash.
    mapping(bytes32 imageHash => Label) private _labels;

    /// @notice A pixel is above `PIXEL_MAX`.
    /// @param index The pixel's position (row-major).
    /// @param value The rejected value.
    error InvalidPixel(uint256 index, uint8 value);
    /// @notice The image already has a label; it is never overwritten.
    /// @param imageHash The image.
    /// @param digit The recorded label.
    error AlreadyLabelled(bytes32 imageHash, uint8 digit);
    /// @notice A constructor parameter is out of range.
    error InvalidConfig();

    /// @notice Emitted when an image gets its label.
    /// @param imageHash The image (`imageHash(pixels)`).
    /// @param digit The label: the argmax of the proven logits.
    /// @param labeller The account that submitted the proof.
    event Labelled(bytes32 indexed imageHash, uint8 digit, address indexed labeller);

    /// @param verifier_ The ezkl verifier of the digits circuit.
    /// @param registry_ The model registry to consult, or the zero address for none.
    /// @param modelId_ The digits model's id in `registry_` (0 without a registry).
    /// @param inputScale_ Fixed-point bits of the circuit's inputs (<= 64).
    /// @param initialOwner The account that may pause (not zero: `OwnableInvalidOwner`).
    constructor(
        IHalo2Verifier verifier_,
        IModelRegistry registry_,
        uint256 modelId_,
        uint8 inputScale_,
        address initialOwner
    ) ZkmlConsumer(verifier_, registry_, modelId_) Ownable(initialOwner) {
        if (inputScale_ > 64) revert InvalidConfig();
        inputScale = inputScale_;
    }

    /// @notice Stops labelling; owner only (`EnforcedPause` when already paused).
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Resumes labelling; owner only (`ExpectedPause` when not paused).
    function unpause() external onlyOwner {
        _unpause();
    }

    /// @notice Labels an image with the digit a proof of the model says it shows.
    /// @dev Checks, in order: paused; then `_acceptProof`: instance count, registry,
    /// pixels in range, instances equal the pixels' felts, image not yet labelled, instances
    /// in the field, proof valid, logits decodable. Ties go to the lowest digit, like
    /// numpy's argmax.
    /// @param pixels The image, row-major, each 0..16.
    /// @param proof The proof bytes.
    /// @param instances 64 pixel felts, then 10 logit felts.
    /// @return digit The recorded label.
    function label(uint8[64] calldata pixels, bytes calldata proof, uint256[] calldata instances)
        external
        whenNotPaused
        returns (uint8 digit)
    {
        bytes memory context = abi.encode(pixels);
        int256[] memory logits = _acceptProof(proof, instances, context);
        digit = _argmax(logits);
        bytes32 hash = keccak256(context);
        _labels[hash].digit = digit;
        emit Labelled(hash, digit, msg.sender);
    }

    /// @notice The key of an image: keccak256 of its 64 pixels, each as a 32-byte word
    /// (`abi.encode(pixels)`, which for uint8[64] equals `abi.encodePacked(pixels)`).
    /// @param pixels The image.
    /// @return The hash.
    function imageHash(uint8[64] calldata pixels) public pure returns (bytes32) {
        return keccak256(abi.encode(pixels));
    }

    /// @notice The label of an image, if it has one.
    /// @param imageHash_ The image (`imageHash(pixels)`).
    /// @return labelled Whether the image has a label.
    /// @return digit The label (0 when not labelled).
    function labelOf(bytes32 imageHash_) external view returns (bool labelled, uint8 digit) {
        Label memory entry = _labels[imageHash_];
        return (entry.labelled, entry.digit);
    }

    /// @notice The input instances a proof for this image must carry.
    /// @dev Pixel v becomes (v * 2**inputScale + 8) / 16: v/16 rounded half up on the
    /// circuit's grid, as `models/digits.py` (`_quantize_pixels`) encodes it.
    /// @param pixels The image.
    /// @return inputs The 64 felts, row-major.
    function expectedInputs(uint8[64] calldata pixels) external view returns (uint256[64] memory inputs) {
        uint256[] memory felts = _pixelFelts(pixels);
        for (uint256 i = 0; i < PIXELS; ++i) {
            inputs[i] = felts[i];
        }
    }

    /// @inheritdoc ZkmlConsumer
    function _instanceCount() internal pure override returns (uint256) {
        return PIXELS + CLASSES;
    }

    /// @inheritdoc ZkmlConsumer
    function _outputCount() internal pure override returns (uint256) {
        return CLASSES;
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev `context` is `abi.encode(pixels)`; the inputs are bound to the caller's image.
    function _expectedInputs(bytes memory context) internal view override returns (uint256[] memory) {
        return _pixelFelts(abi.decode(context, (uint8[64])));
    }

    /// @inheritdoc ZkmlConsumer
    /// @dev Keyed on the image hash: one label per image, whatever the proof bytes.
    function _recordUse(bytes memory context) internal override {
        bytes32 hash = keccak256(context);
        Label storage entry = _labels[hash];
        if (entry.labelled) revert AlreadyLabelled(hash, entry.digit);
        entry.labelled = true;
    }

    /// @notice The felts of an image's pixels at `inputScale`.
    /// @param pixels The image.
    /// @return felts 64 felts (all small and non-negative).
    function _pixelFelts(uint8[64] memory pixels) internal view returns (uint256[] memory felts) {
        uint256 unit = uint256(1) << inputScale;
        felts = new uint256[](PIXELS);
        for (uint256 i = 0; i < PIXELS; ++i) {
            uint8 value = pixels[i];
            if (value > PIXEL_MAX) revert InvalidPixel(i, value);
            felts[i] = (uint256(value) * unit + PIXEL_MAX / 2) / PIXEL_MAX;
        }
    }

    /// @notice The index of the largest logit; the lowest index among equals.
    /// @param logits The decoded logits.
    /// @return best The digit.
    function _argmax(int256[] memory logits) internal pure returns (uint8 best) {
        for (uint256 k = 1; k < logits.length; ++k) {
            if (logits[k] > logits[best]) best = uint8(k);
        }
    }
}
