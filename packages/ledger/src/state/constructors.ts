/** Factories of the state layer. */
import type { LedgerDatabase } from '../db.js';
import { NoCommitment, type StateCommitment } from './commitment.js';
import { MPTCommitment } from './mpt.js';
import { SMTCommitment } from './smt.js';
import { checkMaxBlockWrites, MAX_BLOCK_WRITES_DEFAULT, StateStore } from './store.js';
import type { CommitmentKind } from './types.js';

/** Options for `openStateStore`. */
export type OpenStateStoreOptions = {
  /** The node's ledger database. */
  db: LedgerDatabase;
  /** The state commitment; a database keeps the one it was first committed with. */
  commitment: CommitmentKind;
  /** The largest block write set accepted, in entries (accounts + slots + code + wiped accounts). */
  maxBlockWrites?: number;
  /** For `mpt`: trie nodes kept in each trie's LRU cache. */
  mptNodeCacheSize?: number;
};

/** Creates the commitment of `kind` over the tables of `db`. */
export async function createStateCommitment(
  kind: CommitmentKind,
  db: LedgerDatabase,
  mptNodeCacheSize?: number,
): Promise<StateCommitment> {
  switch (kind) {
    case 'none':
      return new NoCommitment();
    case 'mpt':
      return MPTCommitment.open(db, mptNodeCacheSize === undefined ? {} : { nodeCacheSize: mptNodeCacheSize });
    case 'smt':
      return SMTCommitment.open(db);
  }
}

/** Opens the flat state store in `options.db` with its commitment. */
export async function openStateStore(options: OpenStateStoreOptions): Promise<StateStore> {
  const maxBlockWrites = checkMaxBlockWrites(options.maxBlockWrites ?? MAX_BLOCK_WRITES_DEFAULT);
  const commitment = await createStateCommitment(options.commitment, options.db, options.mptNodeCacheSize);
  return new StateStore(options.db, commitment, maxBlockWrites);
}
