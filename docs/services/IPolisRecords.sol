// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Polis records (notary) service, at 0x00000000000000000000000000000000504c0002 on every app ledger.
/// @notice A record proves that a hash existed, unaltered, at a block and time. It is written once.
///         Reading it gives the submitter (the immediate caller: an account or a contract), the block
///         and the time. Lookup by submitter or tag: the indexed topics of `Recorded`.
interface IPolisRecords {
    event Recorded(bytes32 indexed hash, address indexed submitter, bytes32 indexed tag, bytes meta);

    /// Records `hash`; `meta` is logged and its keccak-256 stored. Reverts if `hash` is already recorded.
    function record(bytes32 hash, bytes calldata meta) external;

    /// Records `hash` under `tag`.
    function recordWithTag(bytes32 hash, bytes32 tag, bytes calldata meta) external;

    /// Records up to 1,000 hashes under one tag; `metas` is empty or holds one entry per hash.
    function recordBatch(bytes32[] calldata hashes, bytes32 tag, bytes[] calldata metas) external;

    function getRecord(bytes32 hash)
        external
        view
        returns (bool exists, address submitter, uint64 blockNumber, uint64 timestampMs, bytes32 metaHash, bytes32 tag);

    /// The first of the record's three storage slots (for `polis_getProof`).
    function recordSlot(bytes32 hash) external pure returns (bytes32);
}
