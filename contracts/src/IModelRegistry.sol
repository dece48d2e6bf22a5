// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @dev What the owner supplies for a new model version: how it is verified on chain, where
/// it comes from, and the hashes of every artifact of its ezkl build. The `*Hash` fields
/// are digests the owner computed off chain (the registry cannot check them); storing them
/// makes a later dispute about "which model was this" decidable from the chain alone.
struct VersionInput {
    /// The ezkl verifier contract (rendered for this circuit, or the reusable verifier).
    address verifier;
    /// Digest of the verifying-key artifact registered with ezkl's reusable verifier, or 0
    /// when `verifier` was rendered for this one circuit.
    bytes32 vkaDigest;
    /// Commitment to the weights when they are `hashed` public instances, or 0 when they
    /// are `fixed` in the verifying key.
    bytes32 paramsCommitment;
    /// An existing earlier version of the same model this one derives from, or 0.
    uint256 parent;
    /// Hash of the exported network.onnx.
    bytes32 onnxHash;
    /// Hash of the training (or calibration) data set.
    bytes32 datasetHash;
    /// Hash of ezkl's settings.json.
    bytes32 settingsHash;
    /// Hash of the compiled circuit.
    bytes32 circuitHash;
    /// Hash of the verifying key.
    bytes32 vkHash;
    /// Hash of the structured reference string the keys were made with.
    bytes32 srsHash;
    /// Hash of the provenance (lineage) file that explains how the artifacts were made.
    bytes32 lineageHash;
    /// The ezkl version that built the circuit, e.g. "23.0.5".
    string ezklVersion;
}

/// @dev A registered version: the owner's `VersionInput` plus what the registry records.
/// The field order keeps `verifier`, `registeredAt` and `revoked` in one storage slot.
struct Version {
    /// See `VersionInput.verifier`.
    address verifier;
    /// `block.timestamp` of the registration.
    uint64 registeredAt;
    /// Whether the owner revoked this version; revocation is permanent.
    bool revoked;
    /// See `VersionInput.vkaDigest`.
    bytes32 vkaDigest;
    /// See `VersionInput.paramsCommitment`.
    bytes32 paramsCommitment;
    /// See `VersionInput.parent`.
    uint256 parent;
    /// See `VersionInput.onnxHash`.
    bytes32 onnxHash;
    /// See `VersionInput.datasetHash`.
    bytes32 datasetHash;
    /// See `VersionInput.settingsHash`.
    bytes32 settingsHash;
    /// See `VersionInput.circuitHash`.
    bytes32 circuitHash;
    /// See `VersionInput.vkHash`.
    bytes32 vkHash;
    /// See `VersionInput.srsHash`.
    bytes32 srsHash;
    /// See `VersionInput.lineageHash`.
    bytes32 lineageHash;
    /// See `VersionInput.ezklVersion`.
    string ezklVersion;
}

/// @title Model Registry Events
/// @notice One event for every change of the registry's state, so that its history can be
/// rebuilt from logs alone.
interface IModelRegistryEvents {
    /// @notice Emitted when a model is created.
    /// @param modelId The new model's id (ids start at 1).
    /// @param owner The creator, who owns the model.
    /// @param name The model's name (names are labels, not unique).
    event ModelCreated(uint256 indexed modelId, address indexed owner, string name);

    /// @notice Emitted when a version is registered; the full record is `getVersion`.
    /// @param modelId The model.
    /// @param version The new version's number (numbers start at 1 per model).
    /// @param parent The version it derives from, or 0.
    /// @param verifier The verifier contract.
    /// @param vkaDigest The reusable-verifier VKA digest, or 0.
    /// @param paramsCommitment The weights commitment, or 0.
    event VersionAdded(
        uint256 indexed modelId,
        uint256 indexed version,
        uint256 parent,
        address indexed verifier,
        bytes32 vkaDigest,
        bytes32 paramsCommitment
    );

    /// @notice Emitted when the owner revokes a version.
    /// @param modelId The model.
    /// @param version The revoked version.
    event VersionRevoked(uint256 indexed modelId, uint256 indexed version);

    /// @notice Emitted when the owner offers the model to a new owner, or withdraws the offer.
    /// @param modelId The model.
    /// @param owner The current owner, who stays owner until the offer is accepted.
    /// @param pendingOwner The account that may accept, or 0 when the offer is withdrawn.
    event OwnershipTransferStarted(uint256 indexed modelId, address indexed owner, address indexed pendingOwner);

    /// @notice Emitted when the pending owner accepts the model.
    /// @param modelId The model.
    /// @param previousOwner The owner until now.
    /// @param newOwner The new owner.
    event OwnershipTransferred(uint256 indexed modelId, address indexed previousOwner, address indexed newOwner);

    /// @notice Emitted when the owner turns the allowlist on or off.
    /// @param modelId The model.
    /// @param restricted True when only allowlisted callers may use the model.
    event AccessRestrictionChanged(uint256 indexed modelId, bool restricted);

    /// @notice Emitted when an account is added to or removed from a model's allowlist.
    /// @param modelId The model.
    /// @param account The account.
    /// @param allowed Whether it is on the allowlist now.
    event AllowedChanged(uint256 indexed modelId, address indexed account, bool allowed);
}

/// @title Model Registry Check Errors
/// @notice What `checkUsable` reverts with. A consumer contract inherits this interface so
/// the errors are in its own ABI and a caller decodes them by name when they bubble up.
interface IModelRegistryCheckErrors {
    /// @notice No model has this id.
    /// @param modelId The unknown id.
    error UnknownModel(uint256 modelId);

    /// @notice The model has no version verified by this verifier, VKA digest and weights
    /// commitment (another model's versions do not count).
    /// @param modelId The model.
    /// @param verifier The verifier.
    /// @param vkaDigest The VKA digest.
    /// @param paramsCommitment The weights commitment.
    error UnregisteredArtifact(uint256 modelId, address verifier, bytes32 vkaDigest, bytes32 paramsCommitment);

    /// @notice The version was revoked by its owner.
    /// @param modelId The model.
    /// @param version The version.
    error VersionIsRevoked(uint256 modelId, uint256 version);

    /// @notice The model is restricted and the caller is not on its allowlist.
    /// @param modelId The model.
    /// @param caller The refused account.
    error CallerNotAllowed(uint256 modelId, address caller);
}

/// @title Model Registry Errors
/// @notice Every rejection of the registry, by name: what consumers see from `checkUsable`,
/// and the refusals of owners' mistakes and strangers.
interface IModelRegistryErrors is IModelRegistryCheckErrors {
    /// @notice The model has no version with this number.
    /// @param modelId The model.
    /// @param version The unknown version.
    error UnknownVersion(uint256 modelId, uint256 version);

    /// @notice Only the model's owner may do this.
    /// @param modelId The model.
    /// @param caller The refused account.
    error NotModelOwner(uint256 modelId, address caller);

    /// @notice Only the model's pending owner may accept it.
    /// @param modelId The model.
    /// @param caller The refused account.
    error NotPendingOwner(uint256 modelId, address caller);

    /// @notice A model needs a non-empty name.
    error EmptyName();

    /// @notice The verifier is the zero address or has no code.
    /// @param verifier The rejected address.
    error InvalidVerifier(address verifier);

    /// @notice The parent is not an existing version of the same model.
    /// @param modelId The model.
    /// @param parent The rejected parent.
    error UnknownParent(uint256 modelId, uint256 parent);

    /// @notice Another version of this model is already verified by the same verifier, VKA
    /// digest and weights commitment; within a model, one artifact is only ever one version.
    /// @param modelId The model.
    /// @param version The existing version.
    error DuplicateArtifact(uint256 modelId, uint256 version);

    /// @notice The version is already revoked.
    /// @param modelId The model.
    /// @param version The version.
    error AlreadyRevoked(uint256 modelId, uint256 version);
}

/// @title Model Registry Interface
/// @notice An on-chain audit trail of models proven with ezkl (their versions, lineage and
/// artifact hashes) and the access control consumers check before trusting a proof.
/// @dev Within a model, a version is identified by what verifies it: the key
/// keccak256(abi.encode(verifier, vkaDigest, paramsCommitment)), unique per model (other
/// models may register the same key; that never affects this one). A consumer pins a
/// registry and a model id, and calls `checkUsable` with them and its pinned verifier
/// before acting on a proof.
interface IModelRegistry is IModelRegistryEvents, IModelRegistryErrors {
    /// @notice Creates a model owned by the caller.
    /// @param name A non-empty label.
    /// @return modelId The new model's id.
    function createModel(string calldata name) external returns (uint256 modelId);

    /// @notice Registers the next version of a model (owner only).
    /// @param modelId The model.
    /// @param v The version's verifier, lineage and artifact hashes.
    /// @return version The new version's number.
    function addVersion(uint256 modelId, VersionInput calldata v) external returns (uint256 version);

    /// @notice Revokes a version for good (owner only): `checkUsable` refuses it from now on.
    /// @param modelId The model.
    /// @param version The version.
    function revokeVersion(uint256 modelId, uint256 version) external;

    /// @notice Offers the model to `newOwner` (owner only), who must accept; 0 withdraws the offer.
    /// @param modelId The model.
    /// @param newOwner The proposed owner, or 0.
    function transferOwnership(uint256 modelId, address newOwner) external;

    /// @notice Accepts a model offered to the caller.
    /// @param modelId The model.
    function acceptOwnership(uint256 modelId) external;

    /// @notice Turns the model's allowlist on or off (owner only).
    /// @param modelId The model.
    /// @param restricted True: only allowlisted callers may use it.
    function setAccessRestricted(uint256 modelId, bool restricted) external;

    /// @notice Adds accounts to or removes them from the model's allowlist (owner only).
    /// @param modelId The model.
    /// @param accounts The accounts.
    /// @param allowed True to add, false to remove.
    function setAllowed(uint256 modelId, address[] calldata accounts, bool allowed) external;

    /// @notice The version of model `modelId` a consumer may act on for this verifier,
    /// weights and caller.
    /// @dev Reverts with `UnknownModel`, `UnregisteredArtifact` (not a version of this
    /// model, whatever other models registered), `VersionIsRevoked` or `CallerNotAllowed`.
    /// @param modelId The model the consumer pinned.
    /// @param verifier The consumer's pinned verifier.
    /// @param vkaDigest The VKA digest the consumer uses with it, or 0.
    /// @param paramsCommitment The weights commitment the proof carries, or 0.
    /// @param caller The account the consumer acts for (usually its `msg.sender`).
    /// @return version The version.
    function checkUsable(
        uint256 modelId,
        address verifier,
        bytes32 vkaDigest,
        bytes32 paramsCommitment,
        address caller
    ) external view returns (uint256 version);

    /// @notice The version of model `modelId` registered for an artifact, without any
    /// other check (`UnknownModel` for an id never handed out).
    /// @param modelId The model.
    /// @param verifier The verifier.
    /// @param vkaDigest The VKA digest, or 0.
    /// @param paramsCommitment The weights commitment, or 0.
    /// @return The version, or 0 when the model has none for this artifact.
    function versionOf(uint256 modelId, address verifier, bytes32 vkaDigest, bytes32 paramsCommitment)
        external
        view
        returns (uint256);

    /// @notice Whether `account` may use the model: it is open, or `account` is allowlisted.
    /// @param modelId The model.
    /// @param account The account.
    /// @return True if allowed.
    function isAllowed(uint256 modelId, address account) external view returns (bool);

    /// @notice A model's owner, access state and size.
    /// @param modelId The model.
    /// @return owner The owner.
    /// @return pendingOwner The account that may accept the model, or 0.
    /// @return restricted Whether the allowlist applies.
    /// @return versionCount The number of versions (the newest version's number).
    /// @return name The model's name.
    function getModel(uint256 modelId)
        external
        view
        returns (address owner, address pendingOwner, bool restricted, uint256 versionCount, string memory name);

    /// @notice The full record of a version.
    /// @param modelId The model.
    /// @param version The version.
    /// @return The record.
    function getVersion(uint256 modelId, uint256 version) external view returns (Version memory);

    /// @notice The number of models created (the newest model's id).
    /// @return The count.
    function modelCount() external view returns (uint256);

    /// @notice The key that identifies a version within its model.
    /// @param verifier The verifier.
    /// @param vkaDigest The VKA digest, or 0.
    /// @param paramsCommitment The weights commitment, or 0.
    /// @return keccak256(abi.encode(verifier, vkaDigest, paramsCommitment)).
    function artifactKey(address verifier, bytes32 vkaDigest, bytes32 paramsCommitment)
        external
        pure
        returns (bytes32);
}
