/**
 * One small async database interface over two engines: SQLite through better-sqlite3 (the
 * embedded default) and PostgreSQL through pg (`--db postgres://...`). The store writes its SQL
 * once, in the subset both engines accept, with pg's `$1, $2...` placeholders.
 *
 * Conventions both engines follow, so that a row reads the same from either:
 * - Integers come back as JS numbers. pg returns BIGINT as a string and better-sqlite3 can return
 *   bigint; both are turned into numbers here, and a value outside Number.MAX_SAFE_INTEGER throws
 *   a RangeError instead of losing digits. Timestamps (ms) and amounts stay far below 2^53.
 * - NUMERIC is not converted (pg returns it as a string): a query that sums BIGINTs, whose sum pg
 *   types as NUMERIC, casts the sum back with `CAST(... AS BIGINT)`.
 * - Booleans are INTEGER 0/1 on both engines, so one SQL text serves both.
 * - After a failed statement inside `tx`, PostgreSQL refuses every later statement of that
 *   transaction while SQLite does not; code must let the error end the transaction on both.
 */
import Database from 'better-sqlite3';
import pg from 'pg';

/** A value that can be bound to a placeholder. Booleans are not: store them as 0/1. */
export type SqlValue = string | number | bigint | null | Uint8Array;

/** The engine behind a `Db`. */
export type DbKind = 'sqlite' | 'postgres';

/** What `run` reports. */
export type RunResult = { changes: number };

/** The store's view of a database: async, placeholder `$n`, one dialect. */
export interface Db {
  readonly kind: DbKind;
  /** Every row of a query. */
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row of a query, or undefined when it has none. */
  one<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Runs a statement and reports how many rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. `fn` must
   * use the `Db` it is given, not the outer one (on SQLite the outer one waits for the
   * transaction to end, so using it inside would never finish). Nested calls use savepoints.
   */
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /** Closes the connection or pool; ends a pg pool so that the process can exit. */
  close(): Promise<void>;
}

/** Options for `openDb`. */
export type OpenDbOptions = {
  /** PostgreSQL: the schema search path of every pooled connection (tests use one schema each). */
  searchPath?: string;
  /** PostgreSQL: the pool's size. */
  poolMax?: number;
  /** SQLite: how long a statement waits for another process's write lock. */
  busyTimeoutMs?: number;
  /** PostgreSQL: errors of idle pooled connections (the pool drops the connection itself). */
  onPoolError?: (err: Error) => void;
};

const POOL_MAX_DEFAULT = 10;
const BUSY_TIMEOUT_MS_DEFAULT = 5_000;
// Prepared statements are cached by SQL text; the store has a few dozen, so this bound is never
// reached unless a caller builds SQL dynamically.
const STATEMENT_CACHE_MAX = 256;
const SEARCH_PATH_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;
const PG_INT8_OID = 20;

/** Opens `url`: `postgres://` or `postgresql://` is a pg pool, anything else a SQLite file path or `:memory:`. */
export function openDb(url: string, options: OpenDbOptions = {}): Db {
  if (/^postgres(ql)?:\/\//i.test(url)) return openPostgres(url, options);
  return openSqlite(url, options);
}

/** Whether `err` is a unique or primary-key violation, on either engine. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** An integer read from the database as a number; refuses values that a double cannot hold exactly. */
export function intToNumber(value: bigint | string, column: string): number {
  const n = typeof value === 'bigint' ? Number(value) : Number.parseInt(value, 10);
  if (!Number.isSafeInteger(n) || BigInt(n) !== BigInt(value)) {
    throw new RangeError(`column ${column}: integer ${value} is outside the safe range of a JS number`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// SQLite

type SqliteStatement = { stmt: Database.Statement; paramCount: number };

/** Rewrites `$n` placeholders as better-sqlite3 named parameters `@pn`, outside quotes and comments. */
export function sqlToSqlite(sql: string): { sql: string; paramCount: number } {
  let out = '';
  let paramCount = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      let j = i + 1;
      while (j < sql.length && /[0-9]/.test(sql[j] as string)) j++;
      const n = Number(sql.slice(i + 1, j));
      paramCount = Math.max(paramCount, n);
      out += `@p${n}`;
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return { sql: out, paramCount };
}

function sqliteRow(row: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(row)) {
    const v = row[key];
    if (typeof v === 'bigint') row[key] = intToNumber(v, key);
  }
  return row;
}

function sqliteParams(params: readonly SqlValue[], expected: number): Record<string, unknown> {
  // pg refuses a parameter count that differs from the placeholders; SQLite is made as strict so
  // that a mistake shows on the embedded engine too.
  if (params.length !== expected) {
    throw new RangeError(`the statement has ${expected} placeholders but ${params.length} parameters were given`);
  }
  const bound: Record<string, unknown> = {};
  params.forEach((v, i) => {
    bound[`p${i + 1}`] = v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
  });
  return bound;
}

class SqliteConnection {
  readonly raw: Database.Database;
  readonly #statements = new Map<string, SqliteStatement>();
  /** The transaction in progress; other callers wait for it, since the connection is shared. */
  active: Promise<unknown> | undefined;

  constructor(path: string, busyTimeoutMs: number) {
    this.raw = new Database(path, { timeout: busyTimeoutMs });
    // WAL lets readers in other processes go on while the portal writes; NORMAL sync is durable
    // across application crashes in WAL mode, and only an OS crash can lose the last commits.
    this.raw.pragma('journal_mode = WAL');
    this.raw.pragma('synchronous = NORMAL');
    this.raw.pragma('foreign_keys = ON');
    this.raw.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    // Integers are read as bigint and converted with a range check (see intToNumber).
    this.raw.defaultSafeIntegers(true);
  }

  prepare(sql: string): SqliteStatement {
    const cached = this.#statements.get(sql);
    if (cached) {
      this.#statements.delete(sql);
      this.#statements.set(sql, cached);
      return cached;
    }
    const translated = sqlToSqlite(sql);
    const entry = { stmt: this.raw.prepare(translated.sql), paramCount: translated.paramCount };
    if (this.#statements.size >= STATEMENT_CACHE_MAX) {
      const oldest = this.#statements.keys().next().value;
      if (oldest !== undefined) this.#statements.delete(oldest);
    }
    this.#statements.set(sql, entry);
    return entry;
  }

  all<T>(sql: string, params: readonly SqlValue[]): T[] {
    const { stmt, paramCount } = this.prepare(sql);
    const bound = sqliteParams(params, paramCount);
    if (!stmt.reader) {
      stmt.run(bound);
      return [];
    }
    return (stmt.all(bound) as Record<string, unknown>[]).map(sqliteRow) as T[];
  }

  run(sql: string, params: readonly SqlValue[]): RunResult {
    const { stmt, paramCount } = this.prepare(sql);
    const bound = sqliteParams(params, paramCount);
    if (stmt.reader) {
      // A statement with RETURNING: the rows are its result, their count its changes.
      return { changes: stmt.all(bound).length };
    }
    return { changes: stmt.run(bound).changes };
  }
}

class SqliteDb implements Db {
  readonly kind = 'sqlite' as const;
  readonly #conn: SqliteConnection;
  #closed = false;

  constructor(conn: SqliteConnection) {
    this.#conn = conn;
  }

  async #idle(): Promise<void> {
    if (this.#closed) throw new Error('the database is closed');
    while (this.#conn.active) await this.#conn.active.catch(() => undefined);
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    await this.#idle();
    return this.#conn.all<T>(sql, params);
  }

  async one<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    await this.#idle();
    return this.#conn.all<T>(sql, params)[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    await this.#idle();
    return this.#conn.run(sql, params);
  }

  async exec(sql: string): Promise<void> {
    await this.#idle();
    this.#conn.raw.exec(sql);
  }

  async tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('the database is closed');
    // The wait and the claim must happen in one synchronous step, or two waiters could both
    // see the connection idle; so the loop is here and not behind another await.
    while (this.#conn.active) await this.#conn.active.catch(() => undefined);
    const conn = this.#conn;
    const run = (async () => {
      // IMMEDIATE takes the write lock at BEGIN: a deferred transaction that reads and then
      // writes can fail with SQLITE_BUSY when another process wrote in between.
      conn.raw.exec('BEGIN IMMEDIATE');
      const scope = new SqliteTxDb(conn, 0);
      try {
        const result = await fn(scope);
        conn.raw.exec('COMMIT');
        return result;
      } catch (err) {
        if (conn.raw.inTransaction) conn.raw.exec('ROLLBACK');
        throw err;
      } finally {
        scope.end();
      }
    })();
    conn.active = run;
    try {
      return await run;
    } finally {
      if (conn.active === run) conn.active = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#idle();
    this.#closed = true;
    this.#conn.raw.close();
  }
}

/** The `Db` handed to a SQLite transaction: runs at once on the connection the transaction holds. */
class SqliteTxDb implements Db {
  readonly kind = 'sqlite' as const;
  readonly #conn: SqliteConnection;
  readonly #depth: number;
  #ended = false;

  constructor(conn: SqliteConnection, depth: number) {
    this.#conn = conn;
    this.#depth = depth;
  }

  end(): void {
    this.#ended = true;
  }

  #check(): void {
    if (this.#ended) throw new Error('this transaction has ended: use the Db its callback was given only inside it');
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    this.#check();
    return this.#conn.all<T>(sql, params);
  }

  async one<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    this.#check();
    return this.#conn.all<T>(sql, params)[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    this.#check();
    return this.#conn.run(sql, params);
  }

  async exec(sql: string): Promise<void> {
    this.#check();
    this.#conn.raw.exec(sql);
  }

  async tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    this.#check();
    const name = `sp_${this.#depth + 1}`;
    this.#conn.raw.exec(`SAVEPOINT ${name}`);
    const scope = new SqliteTxDb(this.#conn, this.#depth + 1);
    try {
      const result = await fn(scope);
      this.#conn.raw.exec(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      this.#conn.raw.exec(`ROLLBACK TO SAVEPOINT ${name}`);
      this.#conn.raw.exec(`RELEASE SAVEPOINT ${name}`);
      throw err;
    } finally {
      scope.end();
    }
  }

  async close(): Promise<void> {
    throw new Error('close the outer Db, not the one a transaction was given');
  }
}

function openSqlite(path: string, options: OpenDbOptions): Db {
  return new SqliteDb(new SqliteConnection(path, options.busyTimeoutMs ?? BUSY_TIMEOUT_MS_DEFAULT));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

// BIGINT (int8) arrives as a string because it can exceed 2^53; the store's BIGINTs are
// timestamps in ms and amounts, so they are numbers here, with a range check instead of silent
// rounding. The parser is set on this pool only, not globally through pg.types, so that other pg
// users in the same process keep pg's default.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): unknown {
    if (oid === PG_INT8_OID && format !== 'binary') return (value: string) => intToNumber(value, 'int8');
    return pg.types.getTypeParser(oid, format);
  },
};

function pgParams(params: readonly SqlValue[]): unknown[] {
  return params.map((v) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return v;
  });
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

async function pgAll<T>(q: Queryable, sql: string, params: readonly SqlValue[]): Promise<T[]> {
  const result = await q.query(sql, pgParams(params));
  return result.rows as T[];
}

async function pgRun(q: Queryable, sql: string, params: readonly SqlValue[]): Promise<RunResult> {
  const result = await q.query(sql, pgParams(params));
  return { changes: result.rowCount ?? 0 };
}

class PgDb implements Db {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  #closed = false;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return pgAll<T>(this.#pool, sql, params);
  }

  async one<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await pgAll<T>(this.#pool, sql, params))[0];
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return pgRun(this.#pool, sql, params);
  }

  async exec(sql: string): Promise<void> {
    // Without parameters pg uses the simple query protocol, which accepts several statements.
    await this.#pool.query(sql);
  }

  async tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    // One client for the whole transaction: statements on other pooled clients would not see it.
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const scope = new PgTxDb(client, 0);
      try {
        const result = await fn(scope);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          // A client that cannot roll back is in an unknown state: release(err) destroys it.
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        }
        throw err;
      } finally {
        scope.end();
      }
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/** The `Db` handed to a pg transaction: every statement goes to the transaction's client. */
class PgTxDb implements Db {
  readonly kind = 'postgres' as const;
  readonly #client: pg.PoolClient;
  readonly #depth: number;
  #ended = false;

  constructor(client: pg.PoolClient, depth: number) {
    this.#client = client;
    this.#depth = depth;
  }

  end(): void {
    this.#ended = true;
  }

  #check(): void {
    if (this.#ended) throw new Error('this transaction has ended: use the Db its callback was given only inside it');
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    this.#check();
    return pgAll<T>(this.#client, sql, params);
  }

  async one<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    this.#check();
    return (await pgAll<T>(this.#client, sql, params))[0];
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    this.#check();
    return pgRun(this.#client, sql, params);
  }

  async exec(sql: string): Promise<void> {
    this.#check();
    await this.#client.query(sql);
  }

  async tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    this.#check();
    const name = `sp_${this.#depth + 1}`;
    await this.#client.query(`SAVEPOINT ${name}`);
    const scope = new PgTxDb(this.#client, this.#depth + 1);
    try {
      const result = await fn(scope);
      await this.#client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      await this.#client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      await this.#client.query(`RELEASE SAVEPOINT ${name}`);
      throw err;
    } finally {
      scope.end();
    }
  }

  async close(): Promise<void> {
    throw new Error('close the outer Db, not the one a transaction was given');
  }
}

function openPostgres(url: string, options: OpenDbOptions): Db {
  const config: pg.PoolConfig = {
    connectionString: url,
    max: options.poolMax ?? POOL_MAX_DEFAULT,
    types: pgTypes,
    application_name: 'polis-portal',
  };
  if (options.searchPath !== undefined) {
    if (!SEARCH_PATH_PATTERN.test(options.searchPath)) {
      throw new RangeError(`searchPath "${options.searchPath}" is not a plain lower-case schema name`);
    }
    config.options = `-c search_path=${options.searchPath}`;
  }
  const pool = new pg.Pool(config);
  // An idle client's error (the server restarted, a network cut) is emitted on the pool; without
  // a listener it would crash the process. The pool has already dropped that client.
  pool.on('error', options.onPoolError ?? (() => undefined));
  return new PgDb(pool);
}
