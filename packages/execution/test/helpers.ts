/** Test helpers: a real LMDB state store in a temporary directory, and a journaled overlay over it. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommitmentKind, type LedgerDatabase, openLedgerDatabase, openStateStore, type StateStore } from '@polis/ledger';
import { JournaledStateManager, type JournaledStateManagerOptions } from '../src/index.js';

/** A state store and an overlay over it; `close()` closes the database and removes the directory. */
export type Fixture = {
  db: LedgerDatabase;
  store: StateStore;
  state: JournaledStateManager;
  path: string;
  close: () => Promise<void>;
};

/** Opens a fresh store with `commitment` and an overlay over it. */
export async function openFixture(
  commitment: CommitmentKind = 'smt',
  options: Omit<JournaledStateManagerOptions, 'state'> = {},
): Promise<Fixture> {
  const path = mkdtempSync(join(tmpdir(), 'polis-execution-'));
  const db = openLedgerDatabase({ path });
  const store = await openStateStore({ db, commitment });
  const state = new JournaledStateManager({ state: store, ...options });
  return {
    db,
    store,
    state,
    path,
    close: async () => {
      await db.close();
      rmSync(path, { recursive: true, force: true });
    },
  };
}
