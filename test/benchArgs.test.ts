/**
 * The benchmarks' command lines (`bench/load.ts` `benchArgs`): `--help`, an unknown option and a
 * bad value, through the built scripts as a user runs them; and the WAL benchmark's JSON line.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = join(import.meta.dirname, '../bench/dist');
const run = (script: string, args: string[]) =>
  spawnSync(process.execPath, [join(DIST, script), ...args], { encoding: 'utf8', timeout: 60_000 });

describe('benchmark command lines', () => {
  it('default: --help lists the options with their defaults and exits 0', () => {
    const r = run('erc20.js', ['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('usage: node bench/dist/erc20.js [options]');
    expect(r.stdout).toContain('--transfers <value> (default: 10000)');
    expect(r.stdout).toContain('--nodes <value> (default: 1)');
  });

  it('error: an unknown option or a bad value says what is wrong, lists the options and exits 2, without a stack trace', () => {
    const unknown = run('records.js', ['--bogus']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("bench records: Unknown option '--bogus'");
    expect(unknown.stderr).toContain('--records <value> (default: 20000)');
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
    const bad = run('wal.js', ['--heights', '0']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('bench wal: --heights must be a positive integer, got 0');
    const remote = run('erc20.js', ['--storage', '--url', 'http://127.0.0.1:1/v1/demo/x']);
    expect(remote.status).toBe(2);
    expect(remote.stderr).toContain(
      'bench erc20: --storage reads the ledger files of the network this bench starts; leave out --url',
    );
  });

  it('behavior: erc20 --storage reports what the ledger file holds per committed transfer, table by table', () => {
    const r = spawnSync(
      process.execPath,
      [join(DIST, 'erc20.js'), '--storage', '--transfers', '400', '--senders', '10', '--recipients', '400', '--batch', '100'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    type Table = { entries: number; bytes: number; bytesPerTransfer: number };
    const line = JSON.parse(r.stdout.trim()) as {
      committed: number;
      storage: { fileBytes: number; fileBytesPerTransfer: number; otherBytesPerTransfer: number; tables: Record<string, Table> };
    };
    expect(line.committed).toBe(400);
    const { storage } = line;
    // Every transfer is indexed; the deployment and the funding add a few more.
    expect(storage.tables['chain.txindex']?.entries).toBeGreaterThanOrEqual(400);
    expect(storage.tables['smt.pages']?.entries).toBeGreaterThan(0);
    expect(storage.tables['chain.receipts']?.bytes).toBeGreaterThan(0);
    const inTables = Object.values(storage.tables).reduce((n, t) => n + t.bytes, 0);
    expect(storage.fileBytes).toBeGreaterThan(inTables);
    expect(storage.fileBytesPerTransfer).toBeCloseTo(storage.fileBytes / 400, 0);
  });

  it('behavior: the WAL benchmark prints one JSON line with the cost of a reset and of a synced append', () => {
    const r = run('wal.js', ['--heights', '20', '--appends', '2']);
    expect(r.status, r.stderr).toBe(0);
    const line = JSON.parse(r.stdout.trim()) as { bench: string; heights: number; resetUs: number; syncedAppendUs: number };
    expect(line).toMatchObject({ bench: 'wal', heights: 20 });
    expect(line.resetUs).toBeGreaterThan(0);
    expect(line.syncedAppendUs).toBeGreaterThan(0);
  });
});
