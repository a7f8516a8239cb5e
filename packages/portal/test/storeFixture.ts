/**
 * The two engines the store tests run on: SQLite in a temporary directory, and PostgreSQL at
 * POLIS_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test, trust auth) in schemas
 * named `portal_t_<random>` that are dropped afterwards. Every test file makes its own engines, so
 * files running in parallel never share a database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import { type Db, isPortalError, migrate, openDb, type PortalError, type PortalErrorCode } from '../src/server/store/index.js';

/** The PostgreSQL server the tests use. */
export const PG_URL = process.env.POLIS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A place for one empty database, which can be opened several times. */
export type Target = { open(): Db };

/** One engine under test. */
export type Engine = {
  readonly name: 'sqlite' | 'postgres';
  /** A new empty database (a file or a schema); removed by `cleanup`. */
  fresh(): Promise<Target>;
  /** Closes every Db opened here and removes every database made here. */
  cleanup(): Promise<void>;
};

function sqliteEngine(): Engine {
  const dir = mkdtempSync(join(tmpdir(), 'polis-portal-store-'));
  const opened: Db[] = [];
  let n = 0;
  return {
    name: 'sqlite',
    async fresh() {
      const path = join(dir, `db-${n++}.sqlite`);
      return {
        open() {
          const db = openDb(path);
          opened.push(db);
          return db;
        },
      };
    },
    async cleanup() {
      for (const db of opened) await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresEngine(): Engine {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  const schemas: string[] = [];
  const opened: Db[] = [];
  return {
    name: 'postgres',
    async fresh() {
      const schema = `portal_t_${randomBytes(6).toString('hex')}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      schemas.push(schema);
      return {
        open() {
          const db = openDb(PG_URL, { searchPath: schema });
          opened.push(db);
          return db;
        },
      };
    },
    async cleanup() {
      for (const db of opened) await db.close();
      for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/** Fresh engine factories, for `describe.each`. */
export const ENGINES = [
  { name: 'sqlite', make: sqliteEngine },
  { name: 'postgres', make: postgresEngine },
] as const;

/** Opens a fresh, migrated database on `engine`. */
export async function migratedDb(engine: Engine): Promise<Db> {
  const db = (await engine.fresh()).open();
  await migrate(db);
  return db;
}

/** Every table of the schema, children before parents. */
export const TABLES = [
  'contracts',
  'api_keys',
  'apps',
  'bills',
  'usage',
  'invitations',
  'memberships',
  'sessions',
  'login_attempts',
  'organisations',
  'users',
] as const;

/** Empties every table, so that each test starts from nothing. */
export async function clearAll(db: Db): Promise<void> {
  for (const table of TABLES) await db.run(`DELETE FROM ${table}`);
}

/** Awaits `promise`, expects a PortalError with `code`, and returns it. */
export async function expectCode(promise: Promise<unknown>, code: PortalErrorCode): Promise<PortalError> {
  try {
    await promise;
  } catch (err) {
    expect(isPortalError(err), `expected a PortalError ${code}, got ${String(err)}`).toBe(true);
    expect((err as PortalError).code).toBe(code);
    return err as PortalError;
  }
  return expect.fail(`expected a PortalError ${code}, but the call succeeded`);
}

/** The number of rows of `table` that match `where` (a trusted SQL fragment). */
export async function countRows(db: Db, table: string, where = '1 = 1', params: (string | number)[] = []): Promise<number> {
  const row = await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params);
  return row?.n ?? -1;
}
