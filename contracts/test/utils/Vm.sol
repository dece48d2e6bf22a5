// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Foundry cheatcodes (the few these tests and scripts use)
/// @notice forge-std is not installable offline (npm's forge-std 1.1.2 needs `ds-test`, which the
/// registry lacks), so the tests declare the cheatcodes they call here. Forge answers every
/// call to `VM_ADDRESS`; the signatures are Foundry's own (see the Foundry book's cheatcode
/// reference), so a suite can move to forge-std's `Vm` unchanged.
/// @dev TEST ONLY: these calls exist only inside forge's EVM.
interface Vm {
    /// @notice Gas figures of the last call a test made (`lastCallGas`).
    struct Gas {
        uint64 gasLimit;
        uint64 gasTotalUsed;
        uint64 gasMemoryUsed;
        int64 gasRefunded;
        uint64 gasRemaining;
    }

    /// @notice The gas the callee of the last call used (its own frame: not the caller's
    /// encoding of the arguments).
    function lastCallGas() external view returns (Gas memory gas);

    /// @notice A log recorded after `recordLogs`.
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    /// @notice Records every log emitted from now on (read them with `getRecordedLogs`).
    function recordLogs() external;

    /// @notice The logs recorded since `recordLogs` or the last call to this, which clears them.
    function getRecordedLogs() external returns (Log[] memory logs);

    /// @notice The address of a private key.
    function addr(uint256 privateKey) external pure returns (address keyAddr);

    /// @notice Signs a digest with a private key (secp256k1, RFC 6979 nonces, low s).
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);

    /// @notice Sets `block.timestamp`.
    function warp(uint256 newTimestamp) external;

    /// @notice Makes `msg.sender` of the next call `sender`.
    function prank(address sender) external;

    /// @notice Makes `msg.sender` of every following call `sender`, until `stopPrank`.
    function startPrank(address sender) external;

    /// @notice Ends `startPrank`.
    function stopPrank() external;

    /// @notice The next call must revert with exactly `revertData`.
    function expectRevert(bytes calldata revertData) external;

    /// @notice The next call must revert with exactly this 4-byte error (an error without arguments).
    function expectRevert(bytes4 revertData) external;

    /// @notice The next call must revert with data starting with `revertData`.
    function expectPartialRevert(bytes4 revertData) external;

    /// @notice The next event must match in all topics and data (checked against the
    /// event the test emits right after this call).
    function expectEmit() external;

    /// @notice Discards the current fuzz input unless `condition` holds.
    function assume(bool condition) external pure;

    /// @notice Gives an address a name in traces.
    function label(address account, string calldata newLabel) external;

    /// @notice Sets the code at an address.
    function etch(address target, bytes calldata newRuntimeBytecode) external;

    /// @notice The project root, as forge runs it.
    function projectRoot() external view returns (string memory path);

    /// @notice Reads a file (`fs_permissions` in foundry.toml must allow it).
    function readFile(string calldata path) external view returns (string memory data);

    /// @notice Whether a file or folder exists (`fs_permissions` must allow it).
    function exists(string calldata path) external view returns (bool result);

    /// @notice A `bytes` value of a JSON document (hex string) at `key`.
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);

    /// @notice A `uint256[]` of a JSON document (numbers or decimal/hex strings) at `key`.
    function parseJsonUintArray(string calldata json, string calldata key) external pure returns (uint256[] memory);

    /// @notice An `int256[]` of a JSON document at `key`.
    function parseJsonIntArray(string calldata json, string calldata key) external pure returns (int256[] memory);

    /// @notice An address from an environment variable (scripts: what to call).
    function envAddress(string calldata name) external view returns (address value);

    /// @notice Every following call of a script becomes a transaction, signed with the
    /// `--private-key` (or `--account`) given to `forge script`.
    function startBroadcast() external;

    /// @notice Ends `startBroadcast`.
    function stopBroadcast() external;

    /// @notice Fails the test unless `condition` holds.
    function assertTrue(bool condition, string calldata error) external pure;

    /// @notice Fails the test unless `left == right`.
    function assertEq(uint256 left, uint256 right, string calldata error) external pure;

    /// @notice Fails the test unless `left == right`.
    function assertEq(int256 left, int256 right, string calldata error) external pure;

    /// @notice Fails the test unless `left == right`.
    function assertEq(address left, address right, string calldata error) external pure;

    /// @notice Fails the test unless `left == right`.
    function assertEq(bytes32 left, bytes32 right, string calldata error) external pure;

    /// @notice Fails the test unless `left == right`.
    function assertEq(bool left, bool right, string calldata error) external pure;

    /// @notice Fails the test unless `left <= right`.
    function assertLe(uint256 left, uint256 right, string calldata error) external pure;

    /// @notice Fails the test unless `left >= right`.
    function assertGe(uint256 left, uint256 right, string calldata error) external pure;
}
