// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IModelRegistry, Version, VersionInput} from "./IModelRegistry.sol";

/// @title Model Registry
/// @notice An on-chain audit trail and access control for models proven with ezkl. Anyone
/// may create a model and owns it; the owner registers its versions (verifier, lineage,
/// artifact hashes), revokes them, hands the model over in two steps, and may restrict its
/// use to an allowlist. A consumer contract pins a model id and calls `checkUsable` with
/// that id and its pinned verifier.
/// @dev Records are append-only: a version's fields never change after registration,
/// except `revoked`, which only ever goes from false to true. Artifact keys are unique per
/// model, not registry-wide: anyone may register any verifier under a model of their own,
/// and that changes nothing for any other model (a squatter cannot block, restrict or
/// revoke someone else's model by registering its verifier first). A key stays bound to its
/// version after revocation, so a revoked verifier cannot come back to life in its model.
contract ModelRegistry is IModelRegistry {
    /// @dev A model: the first slot packs owner, restricted and versionCount.
    struct Model {
        address owner;
        bool restricted;
        uint64 versionCount;
        address pendingOwner;
        string name;
        mapping(uint256 version => Version) versions;
        mapping(address account => bool) allowed;
        mapping(bytes32 key => uint256 version) versionOfKey;
    }

    /// @dev Models created so far; ids are 1 .. _modelCount.
    uint256 private _modelCount;
    /// @dev Every model by id.
    mapping(uint256 modelId => Model) private _models;

    /// @dev Reverts with `UnknownModel` for an id never handed out.
    /// @param modelId The model.
    modifier knownModel(uint256 modelId) {
        if (modelId == 0 || modelId > _modelCount) revert UnknownModel(modelId);
        _;
    }

    /// @dev Reverts with `UnknownModel`, then `NotModelOwner` unless the caller owns the model.
    /// @param modelId The model.
    modifier onlyModelOwner(uint256 modelId) {
        if (modelId == 0 || modelId > _modelCount) revert UnknownModel(modelId);
        if (msg.sender != _models[modelId].owner) revert NotModelOwner(modelId, msg.sender);
        _;
    }

    /// @inheritdoc IModelRegistry
    function createModel(string calldata name) external returns (uint256 modelId) {
        if (bytes(name).length == 0) revert EmptyName();
        modelId = ++_modelCount;
        Model storage model = _models[modelId];
        model.owner = msg.sender;
        model.name = name;
        emit ModelCreated(modelId, msg.sender, name);
    }

    /// @inheritdoc IModelRegistry
    /// @dev The verifier must have code, as in `ZkmlConsumer`: registering an empty address
    /// (a typo, an undeployed contract) would vouch for nothing.
    function addVersion(uint256 modelId, VersionInput calldata v)
        external
        onlyModelOwner(modelId)
        returns (uint256 version)
    {
        if (v.verifier.code.length == 0) revert InvalidVerifier(v.verifier);
        Model storage model = _models[modelId];
        if (v.parent > model.versionCount) revert UnknownParent(modelId, v.parent);
        bytes32 key = _artifactKey(v.verifier, v.vkaDigest, v.paramsCommitment);
        uint256 existing = model.versionOfKey[key];
        if (existing != 0) revert DuplicateArtifact(modelId, existing);

        version = ++model.versionCount;
        model.versionOfKey[key] = version;
        Version storage record = model.versions[version];
        record.verifier = v.verifier;
        record.registeredAt = uint64(block.timestamp);
        record.vkaDigest = v.vkaDigest;
        record.paramsCommitment = v.paramsCommitment;
        record.parent = v.parent;
        record.onnxHash = v.onnxHash;
        record.datasetHash = v.datasetHash;
        record.settingsHash = v.settingsHash;
        record.circuitHash = v.circuitHash;
        record.vkHash = v.vkHash;
        record.srsHash = v.srsHash;
        record.lineageHash = v.lineageHash;
        record.ezklVersion = v.ezklVersion;
        emit VersionAdded(modelId, version, v.parent, v.verifier, v.vkaDigest, v.paramsCommitment);
    }

    /// @inheritdoc IModelRegistry
    function revokeVersion(uint256 modelId, uint256 version) external onlyModelOwner(modelId) {
        Version storage record = _version(modelId, version);
        if (record.revoked) revert AlreadyRevoked(modelId, version);
        record.revoked = true;
        emit VersionRevoked(modelId, version);
    }

    /// @inheritdoc IModelRegistry
    /// @dev The owner keeps every right until the offer is accepted; a new offer replaces
    /// the previous one.
    function transferOwnership(uint256 modelId, address newOwner) external onlyModelOwner(modelId) {
        _models[modelId].pendingOwner = newOwner;
        emit OwnershipTransferStarted(modelId, msg.sender, newOwner);
    }

    /// @inheritdoc IModelRegistry
    /// @dev The allowlist and the restriction stay with the model.
    function acceptOwnership(uint256 modelId) external knownModel(modelId) {
        Model storage model = _models[modelId];
        if (msg.sender != model.pendingOwner) revert NotPendingOwner(modelId, msg.sender);
        address previousOwner = model.owner;
        model.owner = msg.sender;
        model.pendingOwner = address(0);
        emit OwnershipTransferred(modelId, previousOwner, msg.sender);
    }

    /// @inheritdoc IModelRegistry
    /// @dev Idempotent: setting the current value changes nothing and emits nothing.
    function setAccessRestricted(uint256 modelId, bool restricted) external onlyModelOwner(modelId) {
        Model storage model = _models[modelId];
        if (model.restricted == restricted) return;
        model.restricted = restricted;
        emit AccessRestrictionChanged(modelId, restricted);
    }

    /// @inheritdoc IModelRegistry
    /// @dev Idempotent per account: `AllowedChanged` is emitted only for accounts whose
    /// entry actually changed, so the logs list exactly the allowlist's history.
    function setAllowed(uint256 modelId, address[] calldata accounts, bool allowed)
        external
        onlyModelOwner(modelId)
    {
        mapping(address => bool) storage allowlist = _models[modelId].allowed;
        for (uint256 i = 0; i < accounts.length; ++i) {
            address account = accounts[i];
            if (allowlist[account] == allowed) continue;
            allowlist[account] = allowed;
            emit AllowedChanged(modelId, account, allowed);
        }
    }

    /// @inheritdoc IModelRegistry
    /// @dev Checks in order: known model, artifact registered under it, not revoked, caller
    /// allowed. A consumer calls it with its own pinned model id and verifier (never ones
    /// taken from its caller, DESIGN.md rule 2).
    function checkUsable(
        uint256 modelId,
        address verifier,
        bytes32 vkaDigest,
        bytes32 paramsCommitment,
        address caller
    ) external view knownModel(modelId) returns (uint256 version) {
        Model storage model = _models[modelId];
        version = model.versionOfKey[_artifactKey(verifier, vkaDigest, paramsCommitment)];
        if (version == 0) revert UnregisteredArtifact(modelId, verifier, vkaDigest, paramsCommitment);
        if (model.versions[version].revoked) revert VersionIsRevoked(modelId, version);
        if (model.restricted && !model.allowed[caller]) revert CallerNotAllowed(modelId, caller);
    }

    /// @inheritdoc IModelRegistry
    function versionOf(uint256 modelId, address verifier, bytes32 vkaDigest, bytes32 paramsCommitment)
        external
        view
        knownModel(modelId)
        returns (uint256)
    {
        return _models[modelId].versionOfKey[_artifactKey(verifier, vkaDigest, paramsCommitment)];
    }

    /// @inheritdoc IModelRegistry
    function isAllowed(uint256 modelId, address account) external view knownModel(modelId) returns (bool) {
        Model storage model = _models[modelId];
        return !model.restricted || model.allowed[account];
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId)
        external
        view
        knownModel(modelId)
        returns (address owner, address pendingOwner, bool restricted, uint256 versionCount, string memory name)
    {
        Model storage model = _models[modelId];
        return (model.owner, model.pendingOwner, model.restricted, model.versionCount, model.name);
    }

    /// @inheritdoc IModelRegistry
    function getVersion(uint256 modelId, uint256 version) external view knownModel(modelId) returns (Version memory) {
        return _version(modelId, version);
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    /// @inheritdoc IModelRegistry
    function artifactKey(address verifier, bytes32 vkaDigest, bytes32 paramsCommitment)
        external
        pure
        returns (bytes32)
    {
        return _artifactKey(verifier, vkaDigest, paramsCommitment);
    }

    /// @dev The artifact key: keccak256(abi.encode(verifier, vkaDigest, paramsCommitment)).
    /// @param verifier The verifier.
    /// @param vkaDigest The VKA digest, or 0.
    /// @param paramsCommitment The weights commitment, or 0.
    /// @return The key.
    function _artifactKey(address verifier, bytes32 vkaDigest, bytes32 paramsCommitment)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(verifier, vkaDigest, paramsCommitment));
    }

    /// @dev A version of a known model; reverts with `UnknownVersion` for a number the
    /// model never handed out.
    /// @param modelId A known model.
    /// @param version The version number.
    /// @return The stored record.
    function _version(uint256 modelId, uint256 version) internal view returns (Version storage) {
        if (version == 0 || version > _models[modelId].versionCount) revert UnknownVersion(modelId, version);
        return _models[modelId].versions[version];
    }
}
