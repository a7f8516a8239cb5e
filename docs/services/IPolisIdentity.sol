// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Polis identity service, at 0x00000000000000000000000000000000504c0001 on every app ledger.
/// @notice DIDs (`did:polis:<app>:<address>`), roles, attestations by registered issuers, and the
///         app's account policy.
///
///         Roles and attestation kinds are bytes32 ids: a short name right-padded with zeros, as
///         `bytes32("issuer")` (see `PolisRoles`). `admin` grants and revokes roles and sets the
///         policy; `issuer` attests; `member`, `auditor` and custom roles carry no power here. The
///         app's owner is an admin from genesis; the last admin cannot be revoked.
///
///         The account policy (a required role and a required attestation kind, zero for none) is
///         enforced before a transaction runs, by the mempool and by block validation: a sender
///         without the role or without a valid attestation cannot transact. Admins always can, and
///         transactions to this service always can (a newcomer creates a DID). `eth_call` is not
///         affected. Times are block times in milliseconds.
interface IPolisIdentity {
    event DidCreated(address indexed id, address indexed controller, bytes document);
    event DidUpdated(address indexed id, bytes document);
    event DidControllerRotated(address indexed id, address indexed previousController, address indexed newController);
    event DidDeactivated(address indexed id, address indexed by);
    event RoleGranted(address indexed account, bytes32 indexed role, address indexed by);
    event RoleRevoked(address indexed account, bytes32 indexed role, address indexed by);
    event Attested(address indexed subject, bytes32 indexed kind, address indexed issuer, uint64 expiresAtMs, bytes32 dataHash);
    event AttestationRevoked(address indexed subject, bytes32 indexed kind, address indexed by);
    event PolicySet(bytes32 requiredRole, bytes32 requiredAttestation, address indexed by);

    /// Creates the DID of the caller's address (at most 8 KiB of document); the caller controls it.
    function createDid(bytes calldata document) external;

    /// Replaces the document. Only the controller, and not once deactivated.
    function updateDid(address id, bytes calldata document) external;

    /// Hands control of the DID to `newController` (key rotation). Only the controller.
    function rotateDidController(address id, address newController) external;

    /// Deactivates the DID for good. Only the controller.
    function deactivateDid(address id) external;

    function resolveDid(address id)
        external
        view
        returns (bool exists, address controller, bytes memory document, uint64 created, uint64 updated, bool deactivated);

    /// Admins only. Granting a held role or revoking a missing one reverts.
    function grantRole(address account, bytes32 role) external;

    /// Admins only. The last admin cannot be revoked.
    function revokeRole(address account, bytes32 role) external;

    function hasRole(address account, bytes32 role) external view returns (bool);

    /// Registered issuers only: states `kind` about `subject` until `expiresAtMs` (0: no expiry),
    /// with the hash of the evidence. Replaces an earlier attestation of the same kind.
    function attest(address subject, bytes32 kind, uint64 expiresAtMs, bytes32 dataHash) external;

    /// The attestation's issuer or an admin.
    function revokeAttestation(address subject, bytes32 kind) external;

    /// `valid`: present, not revoked and not expired at the current block time.
    function attestation(address subject, bytes32 kind)
        external
        view
        returns (bool valid, address issuer, uint64 issuedAt, uint64 expiresAtMs, bytes32 dataHash, bool revoked);

    /// Admins only. Zero means none.
    function setPolicy(bytes32 requiredRole, bytes32 requiredAttestation) external;

    function policy() external view returns (bytes32 requiredRole, bytes32 requiredAttestation);

    /// Whether `account` may send transactions (other than to this service) now, and if not, why.
    function checkPolicy(address account) external view returns (bool allowed, string memory reason);

    /// The first of the DID's three storage slots (for `polis_getProof`).
    function didSlot(address id) external pure returns (bytes32);

    /// The first of the attestation's three storage slots (for `polis_getProof`).
    function attestationSlot(address subject, bytes32 kind) external pure returns (bytes32);
}

/// @notice The built-in role ids: the name right-padded with zeros to 32 bytes.
library PolisRoles {
    bytes32 internal constant ADMIN = "admin";
    bytes32 internal constant MEMBER = "member";
    bytes32 internal constant ISSUER = "issuer";
    bytes32 internal constant AUDITOR = "auditor";
}
