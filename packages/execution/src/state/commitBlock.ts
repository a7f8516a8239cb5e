/** Ending a block: handing the overlay's writes to the ledger's state store in one commit. */
import type { CommitBlockResult, LedgerWriteTxn, StateStore } from '@polis/ledger';
import type { JournaledStateManager } from './journaledState.js';

/** Options for `commitBlockState`. */
export type CommitBlockStateOptions = {
  /** The block's height. */
  height: number;
  /** Writes the block's other data (header, receipts) in the same LMDB transaction. */
  write?: (txn: LedgerWriteTxn) => void;
};

/**
 * Commits the block `state` executed: the store computes the state root from the block's write
 * set and writes everything in one transaction. The overlay is reset only once that succeeded;
 * if it throws, the overlay still holds the block, and the caller retries or calls `reset()`.
 */
export async function commitBlockState(
  store: StateStore,
  state: JournaledStateManager,
  options: CommitBlockStateOptions,
): Promise<CommitBlockResult> {
  const result = await store.commitBlock({
    height: options.height,
    writes: state.writeSet(),
    ...(options.write ? { write: options.write } : {}),
  });
  state.reset();
  return result;
}
