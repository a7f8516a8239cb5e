/**
 * The chain's data: block headers, blocks, receipts and logs. Blocks carry raw signed Ethereum
 * transactions; everything else is derived by executing them.
 */

/** A block header. Its hash (keccak-256 of its RLP encoding) is the block hash that consensus certifies. */
export type BlockHeader = {
  /** The ledger's id (the app id), so that a header of one ledger can never pass for another's. */
  ledgerId: Uint8Array;
  chainId: bigint;
  height: number;
  /** BFT time: the proposer's clock in milliseconds, strictly increasing from block to block. */
  time: number;
  parentHash: Uint8Array;
  /** The proposer's Ed25519 public key. */
  proposer: Uint8Array;
  /** Hash of the validator set that certifies this block. */
  validatorsHash: Uint8Array;
  /**
   * Hash of the validator set of the next block: `validatorsHash` unless this block carries a
   * validator update, whose set it then is. A client holding a certified header so learns the set
   * that certifies the next one.
   */
  nextValidatorsHash: Uint8Array;
  /** Merkle root (RFC 6962, keccak-256) of the raw transactions. */
  txRoot: Uint8Array;
  /** Merkle root of the receipts' Ethereum encodings. */
  receiptsRoot: Uint8Array;
  /** The state root after executing this block (same-block execution; ADR 0002). */
  stateRoot: Uint8Array;
  /** The 2048-bit bloom of all the block's logs. */
  logsBloom: Uint8Array;
  gasUsed: bigint;
  gasLimit: bigint;
};

/** A validator as a block names it: its Ed25519 public key and voting power. */
export type BlockValidator = { publicKey: Uint8Array; power: number };

/**
 * A change of the ledger's validator set, carried in a block and in force from the next height.
 * `epoch` orders the changes: it is where the change was decided (the system-ledger height of
 * the app record's `validatorsFrom`), and each update's epoch is above the last one's.
 */
export type ValidatorUpdate = { epoch: number; validators: BlockValidator[] };

/** A block: a header, the raw signed transactions it orders, and possibly a validator update. */
export type Block = { header: BlockHeader; txs: Uint8Array[]; validatorUpdate?: ValidatorUpdate | undefined };

/** An Ethereum log. */
export type Log = { address: Uint8Array; topics: Uint8Array[]; data: Uint8Array };

/** What executing one transaction produced. */
export type Receipt = {
  /** The transaction type: 0 legacy, 1 EIP-2930, 2 EIP-1559. */
  type: number;
  /** 1 for success, 0 for failure (revert, out of gas, ...). */
  status: 0 | 1;
  cumulativeGasUsed: bigint;
  gasUsed: bigint;
  logsBloom: Uint8Array;
  logs: Log[];
  txHash: Uint8Array;
  from: Uint8Array;
  /** The recipient, or null for a contract creation. */
  to: Uint8Array | null;
  /** The created contract, for a creation that succeeded. */
  contractAddress: Uint8Array | null;
  /** The revert data of a failed transaction (empty otherwise), for clients that want the reason. */
  revertData: Uint8Array;
};

/** Where a transaction is: its block height and index. */
export type TxLocation = { height: number; index: number };
