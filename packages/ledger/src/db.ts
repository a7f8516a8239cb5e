/**
 * The ledger database: one LMDB environment per node (DESIGN.md, "Storage and durability"),
 * holding blocks, state, indexes and the consensus WAL in named tables (LMDB sub-databases).
 *
 * Reads are synchronous and see the latest committed transaction. Writes happen only inside
 * `write()`, which runs one LMDB write transaction: everything written in its callback commits
 * together or not at all, and the promise resolves only once the transaction is flushed to disk,
 * so a caller may tell clients a block is committed as soon as it resolves.
 */
import { type Database, open, type RootDatabase } from 'lmdb';
import { assertBound, LedgerError, LedgerErrorCode } from './errors.js';

/** Options for `openLedgerDatabase`. */
export type OpenLedgerDatabaseOptions = {
  /** The directory of the LMDB environment; it is created if missing. */
  path: string;
  /**
   * The most tables the environment can hold. LMDB fixes this when the environment opens, and
   * each slot costs a little on every transaction, so it is a bound rather than unlimited.
   */
  maxTables?: number;
};

const MAX_TABLES_DEFAULT = 32;
const MAX_TABLES_LIMIT = 256;
const TABLE_NAME_RE = /^[a-z][a-z0-9]*(\.[a-z][a-zA-Z0-9]*)*$/;

/** A named table of binary keys and values; read it any time, write it inside `LedgerDatabase.write`. */
export class LedgerTable {
  /** The table's name, for example `state.accounts`. */
  readonly name: string;
  /** @internal The LMDB sub-database; only `LedgerWriteTxn` writes to it. */
  readonly lmdb: Database<Uint8Array, Uint8Array>;
  readonly #owner: LedgerDatabase;

  /** @internal Use `LedgerDatabase.table()`. */
  constructor(owner: LedgerDatabase, name: string, lmdb: Database<Uint8Array, Uint8Array>) {
    this.#owner = owner;
    this.name = name;
    this.lmdb = lmdb;
  }

  /** The value at `key` in the latest committed state (or in the open transaction, inside `write`). */
  get(key: Uint8Array): Uint8Array | undefined {
    this.#owner.assertOpen();
    const value = this.lmdb.getBinary(key);
    return value === undefined ? undefined : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }

  /** @internal Called by `LedgerWriteTxn.drop`: the owner opens the name afresh next time. */
  dropped(): void {
    this.#owner.forget(this.name);
  }

  /** The keys in [start, end) in ascending byte order, at most `limit` of them. */
  *keys(start: Uint8Array, end: Uint8Array, limit = Number.MAX_SAFE_INTEGER): Generator<Uint8Array> {
    this.#owner.assertOpen();
    for (const key of this.lmdb.getKeys({ start, end, limit })) {
      const bytes = key as Uint8Array;
      yield new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
  }
}

/** The writes of one transaction; valid only inside the `write()` callback that received it. */
export class LedgerWriteTxn {
  #open = true;

  /** Sets `key` to `value` in `table`. */
  put(table: LedgerTable, key: Uint8Array, value: Uint8Array): void {
    this.#assertOpen();
    table.lmdb.putSync(key, value);
  }

  /** Removes `key` from `table`; returns whether it was there. */
  remove(table: LedgerTable, key: Uint8Array): boolean {
    this.#assertOpen();
    return table.lmdb.removeSync(key);
  }

  /** Deletes `table` and everything in it from the environment (for a migration that replaces a table). */
  drop(table: LedgerTable): void {
    this.#assertOpen();
    table.lmdb.dropSync();
    table.dropped();
  }

  /** @internal Ends the transaction's lifetime; later writes through this object throw. */
  close(): void {
    this.#open = false;
  }

  #assertOpen(): void {
    if (!this.#open) {
      throw new LedgerError({ code: LedgerErrorCode.NO_TRANSACTION }, 'a write was attempted outside its transaction', {
        hint: 'Write only inside the callback given to LedgerDatabase.write (or StateStore.commitBlock)',
      });
    }
  }
}

/** The node's one LMDB environment and its named tables. */
export class LedgerDatabase {
  readonly path: string;
  readonly #root: RootDatabase;
  readonly #tables = new Map<string, LedgerTable>();
  readonly #maxTables: number;
  #closed = false;
  #version = 0;
  #writing = false;

  /** @internal Use `openLedgerDatabase`. */
  constructor(path: string, root: RootDatabase, maxTables: number) {
    this.path = path;
    this.#root = root;
    this.#maxTables = maxTables;
  }

  /** Whether the environment holds a table named `name` (without creating it). */
  hasTable(name: string): boolean {
    this.assertOpen();
    return this.#tables.has(name) || this.#storedTableNames().includes(name);
  }

  /** The names of the tables in the environment's file, opened or not. */
  #storedTableNames(): string[] {
    const names: string[] = [];
    for (const key of this.#root.getKeys({})) {
      // LMDB keeps each named table as a key of the main table; lmdb-js ends the name with a NUL
      // (the migration test in commitment.test.ts would notice a change).
      const name = Buffer.from(key as Uint8Array)
        .toString('utf8')
        .replace(/\0$/, '');
      if (TABLE_NAME_RE.test(name)) names.push(name);
    }
    return names;
  }

  /** @internal Forgets a table `LedgerWriteTxn.drop` deleted. */
  forget(name: string): void {
    this.#tables.delete(name);
  }

  /** Opens (or creates) the table `name`; the same name always returns the same table. */
  table(name: string): LedgerTable {
    this.assertOpen();
    const existing = this.#tables.get(name);
    if (existing) return existing;
    if (!TABLE_NAME_RE.test(name) || name.length > 64) {
      throw new LedgerError({ code: LedgerErrorCode.INVALID_TABLE, name }, `"${name}" is not a valid table name`, {
        hint: 'Use lower-case dotted names such as "blocks.headers"',
      });
    }
    // LMDB would fail later and less clearly when the environment runs out of table slots.
    assertBound('the number of tables', this.#tables.size + 1, 1, this.#maxTables);
    const db = this.#root.openDB<Uint8Array, Uint8Array>({ name, keyEncoding: 'binary', encoding: 'binary' });
    const table = new LedgerTable(this, name, db);
    this.#tables.set(name, table);
    return table;
  }

  /**
   * Runs `fn` in one LMDB write transaction and resolves once it is durable. If `fn` throws, the
   * transaction is aborted, nothing it wrote is kept, and the error is rethrown.
   */
  async write<T>(fn: (txn: LedgerWriteTxn) => T): Promise<T> {
    this.assertOpen();
    const txn = new LedgerWriteTxn();
    let result: T;
    this.#writing = true;
    try {
      result = this.#root.transactionSync(() => fn(txn));
    } finally {
      txn.close();
      this.#writing = false;
      // Committed or aborted, what a cache decoded before this write may be stale.
      this.#version++;
    }
    // With overlappingSync (lmdb's default on Linux) the commit is visible before it is on disk;
    // DESIGN.md requires a block to be on disk before any client hears it is committed.
    await this.#root.flushed;
    return result;
  }

  /**
   * A number that changes with every write transaction, or `undefined` while one is open (its
   * reads see its own writes). A cache of decoded reads tagged with it holds while it is the same.
   */
  readVersion(): number | undefined {
    return this.#writing ? undefined : this.#version;
  }

  /**
   * What the data file holds, for diagnostics and the storage benchmark: each table's entries and
   * the bytes of its LMDB pages (branch, leaf and overflow), and the file's bytes in use. The rest
   * of the file (`fileBytes` minus the tables' bytes) is LMDB's own: its free pages, kept for
   * reuse, and its meta pages. Opens every table of the environment.
   */
  stats(): { fileBytes: number; tables: Record<string, { entries: number; bytes: number }> } {
    this.assertOpen();
    const root = this.#root.getStats() as { pageSize: number; lastPageNumber: number };
    const tables: Record<string, { entries: number; bytes: number }> = {};
    for (const name of this.#storedTableNames()) {
      const s = this.table(name).lmdb.getStats() as {
        entryCount: number;
        treeBranchPageCount: number;
        treeLeafPageCount: number;
        overflowPages: number;
      };
      tables[name] = {
        entries: s.entryCount,
        bytes: (s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages) * root.pageSize,
      };
    }
    return { fileBytes: (root.lastPageNumber + 1) * root.pageSize, tables };
  }

  /** The bytes of the environment's data file in use (every page up to the last one written, free ones included). */
  storageBytes(): number {
    this.assertOpen();
    const stats = this.#root.getStats() as { pageSize: number; lastPageNumber: number };
    return (stats.lastPageNumber + 1) * stats.pageSize;
  }

  /** Closes the environment; reads and writes afterwards throw. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#root.close();
  }

  /** @internal Throws `CLOSED` after `close()`. */
  assertOpen(): void {
    if (this.#closed) {
      throw new LedgerError({ code: LedgerErrorCode.CLOSED }, 'the ledger database is closed', {
        hint: 'Open it again with openLedgerDatabase',
      });
    }
  }
}

/** Opens the LMDB environment at `options.path`, creating it if missing. */
export function openLedgerDatabase(options: OpenLedgerDatabaseOptions): LedgerDatabase {
  const maxTables = options.maxTables ?? MAX_TABLES_DEFAULT;
  assertBound('maxTables', maxTables, 1, MAX_TABLES_LIMIT);
  let root: RootDatabase;
  try {
    root = open({ path: options.path, maxDbs: maxTables, keyEncoding: 'binary', encoding: 'binary' });
  } catch (cause) {
    throw new LedgerError(
      { code: LedgerErrorCode.OPEN_FAILED, path: options.path },
      `cannot open the ledger database at ${options.path}`,
      {
        hint: 'Check that the directory is writable and that no other process has it open',
        cause,
      },
    );
  }
  return new LedgerDatabase(options.path, root, maxTables);
}
