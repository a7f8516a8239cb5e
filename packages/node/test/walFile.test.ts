/**
 * The consensus WAL on disk (two files used in turn): what a reopened WAL reads after appends,
 * resets, torn writes, a crash in the middle of a reset, and a log in the earlier one-file format.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileWal } from '../src/walFile.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function walPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'polis-wal-'));
  dirs.push(dir);
  return join(dir, 'consensus.wal');
}

const bytes = (...xs: number[]) => new Uint8Array(xs);

async function reopen(path: string): Promise<{ wal: FileWal; log: Uint8Array }> {
  const wal = new FileWal(path);
  return { wal, log: await wal.read() };
}

describe('FileWal', () => {
  it('default: a new WAL is empty; a reset and synced appends are read back after reopening, in order', async () => {
    const path = walPath();
    const wal = new FileWal(path);
    expect(await wal.read()).toEqual(new Uint8Array(0));
    await wal.reset(bytes(1, 2));
    wal.append(bytes(3));
    wal.append(bytes(4, 5));
    await wal.sync();
    expect(await wal.read()).toEqual(bytes(1, 2, 3, 4, 5));
    await wal.close();
    const { wal: again, log } = await reopen(path);
    expect(log).toEqual(bytes(1, 2, 3, 4, 5));
    // Appends after reopening continue the same log.
    again.append(bytes(6));
    await again.sync();
    await again.close();
    expect((await reopen(path)).log).toEqual(bytes(1, 2, 3, 4, 5, 6));
  });

  it('behavior: a reset replaces the log, pending appends included, and the files are used in turn', async () => {
    const path = walPath();
    const wal = new FileWal(path);
    await wal.reset(bytes(1));
    wal.append(new Uint8Array(100).fill(7));
    await wal.sync();
    wal.append(bytes(8)); // not synced: belongs to the log being replaced
    await wal.reset(bytes(2));
    expect(wal.generation).toBe(2);
    wal.append(bytes(9));
    await wal.sync();
    // Generation 3 goes back into the first file, over generation 1's longer log: its old appends
    // are left in the file but are not part of the new log.
    await wal.reset(bytes(3));
    await wal.sync();
    await wal.close();
    expect(statSync(`${path}.1`).size).toBeGreaterThan(100);
    const { wal: again, log } = await reopen(path);
    expect(again.generation).toBe(3);
    expect(log).toEqual(bytes(3));
    await again.close();
  });

  it('behavior: unsynced appends are dropped by a crash (close), synced ones are kept', async () => {
    const path = walPath();
    const wal = new FileWal(path);
    await wal.reset(bytes(1));
    wal.append(bytes(2));
    await wal.sync();
    wal.append(bytes(3));
    await wal.close();
    const { wal: again, log } = await reopen(path);
    expect(log).toEqual(bytes(1, 2));
    await again.close();
  });

  it('error: a torn append ends the log there, and the next append overwrites it', async () => {
    const path = walPath();
    const wal = new FileWal(path);
    await wal.reset(bytes(1));
    wal.append(bytes(2));
    await wal.sync();
    await wal.close();
    // A frame header that promises 50 bytes, and 3 of them.
    const file = `${path}.${1}`;
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, bytes(0, 0, 0, 50, 0, 0, 0, 1, 9, 9, 9), 0, 11, size);
    closeSync(fd);
    const { wal: again, log } = await reopen(path);
    expect(log).toEqual(bytes(1, 2));
    again.append(bytes(4));
    await again.sync();
    await again.close();
    expect((await reopen(path)).log).toEqual(bytes(1, 2, 4));
  });

  it('error: a crash in the middle of a reset leaves the old log', async () => {
    const path = walPath();
    const wal = new FileWal(path);
    await wal.reset(bytes(1, 1, 1, 1));
    wal.append(bytes(2));
    await wal.sync();
    await wal.reset(new Uint8Array(64).fill(5)); // generation 2, in file .0
    await wal.close();
    // The reset to generation 3 (file .1) reached the disk only in part: its header, not all its bytes.
    const whole = readFileSync(`${path}.0`);
    const torn = Buffer.from(whole.subarray(0, 40));
    torn.writeUInt32BE(3, 8); // generation 3
    const fd = openSync(`${path}.1`, 'r+');
    writeSync(fd, torn, 0, torn.length, 0);
    closeSync(fd);
    const { wal: again, log } = await reopen(path);
    expect(again.generation).toBe(2);
    expect(log).toEqual(new Uint8Array(64).fill(5));
    await again.close();
  });

  it('behavior: appends before any reset make a log of their own; calls not awaited still land in call order', async () => {
    const path = walPath();
    const wal = new FileWal(path);
    wal.append(bytes(1));
    const first = wal.sync();
    // Asked for before the first sync reached the disk: a reset, then an append and a sync.
    const replaced = wal.reset(bytes(2));
    wal.append(bytes(3));
    const last = wal.sync();
    await Promise.all([first, replaced, last]);
    expect(wal.generation).toBe(2);
    expect(await wal.read()).toEqual(bytes(2, 3));
    await wal.close();
    const { wal: again, log } = await reopen(path);
    expect(log).toEqual(bytes(2, 3));
    await again.close();
    const lone = walPath();
    const fresh = new FileWal(lone);
    fresh.append(bytes(9));
    await fresh.sync();
    await fresh.close();
    expect((await reopen(lone)).log).toEqual(bytes(9));
  });

  it('behavior: a log in the one-file format is moved into the new files, then removed', async () => {
    const path = walPath();
    writeFileSync(path, bytes(7, 7, 7));
    const wal = new FileWal(path);
    expect(existsSync(path)).toBe(false);
    expect(await wal.read()).toEqual(bytes(7, 7, 7));
    wal.append(bytes(8));
    await wal.sync();
    await wal.close();
    expect((await reopen(path)).log).toEqual(bytes(7, 7, 7, 8));
  });
});
