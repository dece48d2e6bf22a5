// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IHalo2Verifier} from "../src/IHalo2Verifier.sol";
import {IInferenceConsumer, IInferenceMarket} from "../src/IInferenceMarket.sol";

/// @title Mintable token (TEST ONLY)
/// @notice A plain ERC-20 anyone can mint: escrows, stakes and credits in unit tests.
contract MockToken is ERC20 {
    constructor(string memory symbol_) ERC20(symbol_, symbol_) {}

    /// @notice Mints `amount` to `to`; open to anyone (test only).
    /// @param to The receiver.
    /// @param amount The amount.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @title Fee-on-transfer token (TEST ONLY)
/// @notice Burns 1 % of every transfer, so the receiver gets less than was sent: the market
/// must refuse it by its balance delta (`EscrowShort`).
contract FeeOnTransferToken is ERC20 {
    constructor() ERC20("Fee on transfer", "FOT") {}

    /// @notice Mints `amount` to `to`; open to anyone (test only).
    /// @param to The receiver.
    /// @param amount The amount.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @dev Every transfer between accounts burns 1 % of it on the way.
    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) return super._update(from, to, value);
        uint256 fee = value / 100;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}

/// @title A verifier that does nothing (TEST ONLY)
/// @notice Accepts every proof at the lowest cost, so gas measurements see the market's own
/// bookkeeping. NEVER deploy it anywhere a value depends on it.
contract NoopVerifier is IHalo2Verifier {
    /// @notice TEST ONLY: returns true.
    /// @return Always true.
    function verifyProof(bytes calldata, uint256[] calldata) external pure returns (bool) {
        return true;
    }
}

/// @title A verifier with malformed answers (TEST ONLY)
/// @notice Answers `verifyProof` with nothing, a short word, or the word 2: all rejections.
contract OddVerifier {
    /// @notice How it answers: 0 empty success, 1 a 16-byte answer, 2 the word 2.
    uint256 public mode;

    /// @notice Sets the answer (test only).
    /// @param mode_ The mode.
    function setMode(uint256 mode_) external {
        mode = mode_;
    }

    /// @notice Answers any call according to `mode`.
    fallback() external {
        uint256 chosen = mode;
        assembly {
            if eq(chosen, 0) { return(0, 0) }
            mstore(0, 1)
            if eq(chosen, 1) { return(16, 16) }
            mstore(0, 2)
            return(0, 32)
        }
    }
}

/// @title A well-behaved consumer (TEST ONLY)
/// @notice Records what the market tells it and the gas it was given.
contract RecordingConsumer is IInferenceConsumer {
    /// @notice Calls received.
    uint256 public calls;
    /// @notice The last request id.
    uint256 public lastRequestId;
    /// @notice `gasleft()` at the start of the last call.
    uint256 public gasAtEntry;
    /// @notice The caller of the last call.
    address public lastSender;
    int256[] private _lastOutputs;

    /// @inheritdoc IInferenceConsumer
    function onInference(uint256 requestId, int256[] calldata outputs) external {
        gasAtEntry = gasleft();
        ++calls;
        lastRequestId = requestId;
        lastSender = msg.sender;
        _lastOutputs = outputs;
    }

    /// @notice The outputs of the last call.
    /// @return The outputs.
    function lastOutputs() external view returns (int256[] memory) {
        return _lastOutputs;
    }
}

/// @title Hostile consumers (TEST ONLY)
/// @notice One contract, several attacks on the market's callback: revert, burn every unit
/// of gas, re-enter the market, or answer with a huge return (a return bomb).
contract HostileConsumer is IInferenceConsumer {
    /// @notice What `onInference` does.
    enum Attack {
        Revert,
        BurnGas,
        Reenter,
        ReturnBomb
    }

    /// @notice The attack.
    Attack public attack;
    /// @notice The market to re-enter.
    IInferenceMarket public market;
    /// @notice How many re-entries succeeded (must stay 0).
    uint256 public reentries;
    /// @notice Attacks that ran to the point of attacking.
    uint256 public attempts;
    /// @notice The revert data of each re-entry attempt (refund, fulfil, lock), in order.
    bytes[3] public reasons;

    /// @param market_ The market it re-enters.
    /// @param attack_ The attack.
    constructor(IInferenceMarket market_, Attack attack_) {
        market = market_;
        attack = attack_;
    }

    /// @notice Changes the attack (test only).
    /// @param attack_ The attack.
    function setAttack(Attack attack_) external {
        attack = attack_;
    }

    /// @inheritdoc IInferenceConsumer
    function onInference(uint256 requestId, int256[] calldata) external {
        Attack chosen = attack;
        if (chosen == Attack.Revert) revert("no");
        if (chosen == Attack.BurnGas) {
            while (true) {
                ++attempts;
            }
        }
        if (chosen == Attack.Reenter) {
            uint256[] memory ids = new uint256[](1);
            ids[0] = requestId;
            try market.refund(requestId) {
                ++reentries;
            } catch (bytes memory reason) {
                reasons[0] = reason;
            }
            try market.fulfil(ids, hex"00", new uint256[](0)) {
                ++reentries;
            } catch (bytes memory reason) {
                reasons[1] = reason;
            }
            try market.lock(ids) {
                ++reentries;
            } catch (bytes memory reason) {
                reasons[2] = reason;
            }
            ++attempts;
            return;
        }
        assembly {
            // 900 kB of return data (about 1.6M gas of memory here): a caller that copies
            // it pays that again
            return(0, 900000)
        }
    }
}
