/**
 * The store's database layer on both engines: migrations, transactions, placeholders, and
 * integers read back as numbers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, isUniqueViolation, MIGRATIONS, migrate, PortalErrorCode, sqlToSqlite } from '../src/server/store/index.js';
import { clearAll, countRows, ENGINES, type Engine, expectCode, migratedDb, TABLES } from './storeFixture.js';

describe('sqlToSqlite', () => {
  it('default: rewrites $n placeholders and counts them', () => {
    expect(sqlToSqlite('SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1')).toEqual({
      sql: 'SELECT a FROM t WHERE b = @p1 AND c = @p2 OR d = @p1',
      paramCount: 2,
    });
  });

  it('behavior: leaves quoted text and comments alone', () => {
    const sql = `SELECT '$1', "x$2", 'it''s $3' -- $4\nFROM t WHERE a = $1`;
    expect(sqlToSqlite(sql)).toEqual({ sql: `SELECT '$1', "x$2", 'it''s $3' -- $4\nFROM t WHERE a = @p1`, paramCount: 1 });
  });
});

describe.each(ENGINES)('store db on $name', ({ make }) => {
  let engine: Engine;
  let db: Db;

  beforeAll(async () => {
    engine = make();
    db = await migratedDb(engine);
  });

  afterAll(async () => {
    await engine.cleanup();
  });

  it('default: migrations apply once, and a re-opened database needs none', async () => {
    const target = await engine.fresh();
    const first = target.open();
    expect(await migrate(first)).toEqual(MIGRATIONS.map((m) => m.id));
    expect(await migrate(first)).toEqual([]);
    const again = target.open();
    expect(await migrate(again)).toEqual([]);
    expect(await again.all('SELECT id FROM schema_migrations')).toEqual(MIGRATIONS.map((m) => ({ id: m.id })));
    for (const table of TABLES) expect(await countRows(again, table), table).toBe(0);
    await first.close();
    await again.close();
  });

  it('error: a database migrated by a newer portal is refused', async () => {
    const target = await engine.fresh();
    const fresh = target.open();
    await migrate(fresh);
    await fresh.run('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', ['9999_future', 1]);
    const err = await expectCode(migrate(target.open()), PortalErrorCode.SCHEMA_TOO_NEW);
    expect(err.type).toEqual({ code: PortalErrorCode.SCHEMA_TOO_NEW, unknownMigrations: ['9999_future'] });
  });

  it('behavior: one, all and run', async () => {
    await clearAll(db);
    expect(await db.one('SELECT id FROM organisations WHERE id = $1', ['none'])).toBeUndefined();
    expect(await db.run('INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)', ['o1', 'One', 1])).toEqual({
      changes: 1,
    });
    await db.run('INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)', ['o2', 'Two', 2]);
    expect(await db.all('SELECT id, name FROM organisations ORDER BY id')).toEqual([
      { id: 'o1', name: 'One' },
      { id: 'o2', name: 'Two' },
    ]);
    expect(await db.run('UPDATE organisations SET name = $1', ['Same'])).toEqual({ changes: 2 });
    expect(await db.run('DELETE FROM organisations WHERE id = $1', ['nothing'])).toEqual({ changes: 0 });
  });

  it('behavior: a transaction that resolves commits, one that throws rolls back', async () => {
    await clearAll(db);
    await db.tx(async (t) => {
      await t.run('INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)', ['kept', 'Kept', 1]);
    });
    await expect(
      db.tx(async (t) => {
        await t.run('INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)', ['lost', 'Lost', 1]);
        await t.run('UPDATE organisations SET name = $1 WHERE id = $2', ['Changed', 'kept']);
        expect(await t.one('SELECT id FROM organisations WHERE id = $1', ['lost'])).toEqual({ id: 'lost' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db.all('SELECT id, name FROM organisations')).toEqual([{ id: 'kept', name: 'Kept' }]);
  });

  it('behavior: a failed statement rolls the whole transaction back', async () => {
    await clearAll(db);
    const insert = 'INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)';
    await db.run(insert, ['dup', 'Dup', 1]);
    const err = await db
      .tx(async (t) => {
        await t.run(insert, ['new', 'New', 1]);
        await t.run(insert, ['dup', 'Again', 1]);
      })
      .catch((e: unknown) => e);
    expect(isUniqueViolation(err), String(err)).toBe(true);
    expect(await db.all('SELECT id FROM organisations')).toEqual([{ id: 'dup' }]);
  });

  it('behavior: a nested transaction rolls back to its savepoint only', async () => {
    await clearAll(db);
    await db.tx(async (t) => {
      await t.run('INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)', ['outer', 'Outer', 1]);
      await expect(
        t.tx(async (inner) => {
          await inner.run('INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)', ['inner', 'Inner', 1]);
          throw new Error('inner fails');
        }),
      ).rejects.toThrow('inner fails');
      await t.run('UPDATE organisations SET name = $1 WHERE id = $2', ['Outer 2', 'outer']);
    });
    expect(await db.all('SELECT id, name FROM organisations')).toEqual([{ id: 'outer', name: 'Outer 2' }]);
  });

  it('behavior: concurrent transactions each see their own writes and all commit', async () => {
    await clearAll(db);
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        db.tx(async (t) => {
          await t.run('INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)', [`c${i}`, 'C', i]);
          await new Promise((resolve) => setTimeout(resolve, 5));
          expect(await t.one('SELECT id FROM organisations WHERE id = $1', [`c${i}`])).toEqual({ id: `c${i}` });
        }),
      ),
    );
    expect(await countRows(db, 'organisations')).toBe(5);
  });

  it('error: the Db a transaction was given is unusable after it ends', async () => {
    let leaked: Db | undefined;
    await db.tx(async (t) => {
      leaked = t;
    });
    await expect((leaked as Db).one('SELECT 1 AS one')).rejects.toThrow(/transaction has ended/);
  });

  it('behavior: BIGINT values above 2^31 come back as numbers; above 2^53 they throw', async () => {
    await clearAll(db);
    const big = 2 ** 40 + 7;
    const at = 1_700_000_000_000;
    await db.run(
      'INSERT INTO usage (app_id, bucket_start, requests, transactions, gas, storage_bytes) VALUES ($1, $2, $3, $4, $5, $6)',
      ['app', at, big, 3, Number.MAX_SAFE_INTEGER, 0],
    );
    const row = await db.one<Record<string, unknown>>('SELECT bucket_start, requests, transactions, gas FROM usage');
    expect(row).toEqual({ bucket_start: at, requests: big, transactions: 3, gas: Number.MAX_SAFE_INTEGER });
    expect(typeof row?.requests).toBe('number');
    const count = await db.one<{ n: unknown }>('SELECT COUNT(*) AS n FROM usage');
    expect(count).toEqual({ n: 1 });
    await db.run('UPDATE usage SET gas = gas + 2');
    await expect(db.one('SELECT gas FROM usage')).rejects.toThrow(RangeError);
  });

  it('error: a parameter count that differs from the placeholders is refused', async () => {
    await expect(db.one('SELECT id FROM users WHERE id = $1', ['a', 'b'])).rejects.toThrow();
    await expect(db.one('SELECT id FROM users WHERE id = $1 AND email = $2', ['a'])).rejects.toThrow();
  });

  it('behavior: foreign keys are enforced', async () => {
    await clearAll(db);
    await expect(
      db.run('INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)', [
        'no-org',
        'no-user',
        'owner',
        1,
      ]),
    ).rejects.toThrow();
  });
});
