/**
 * The consensus WAL's cost per height on this machine's disk: a reset (the start of every height)
 * followed by `--appends` synced appends (a height's votes), through `FileWal`. It prints one
 * JSON line: µs of wall time per reset and per synced append, and the event loop's share (the
 * calls are synchronous, so they block the node for as long as they take).
 *
 *   node bench/dist/wal.js [--heights 500] [--appends 4]
 *
 * The justification of the two-file WAL (ADR 0013) in docs/performance.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileWal } from '@polis/node';
import { round } from './devnet.js';
import { benchArgs, isEntryPoint, positive } from './load.js';

type Wal = {
  reset(b: Uint8Array): Promise<void>;
  append(b: Uint8Array): void;
  sync(): Promise<void>;
  close(): void | Promise<void>;
};

/** Times `heights` heights on a WAL made by `open` (another implementation may be passed to compare). */
export async function runWal(o: { heights: number; appends: number; open?: (path: string) => Wal }) {
  const dir = mkdtempSync(join(tmpdir(), 'polis-bench-wal-'));
  try {
    const wal = (o.open ?? ((p) => new FileWal(p)))(join(dir, 'consensus.wal'));
    const start = new Uint8Array(120).fill(1);
    const vote = new Uint8Array(180).fill(2);
    let resetMs = 0;
    let appendMs = 0;
    for (let h = 0; h < o.heights; h++) {
      let t = performance.now();
      await wal.reset(start);
      resetMs += performance.now() - t;
      for (let a = 0; a < o.appends; a++) {
        t = performance.now();
        wal.append(vote);
        await wal.sync();
        appendMs += performance.now() - t;
      }
    }
    await wal.close();
    return {
      bench: 'wal',
      heights: o.heights,
      appendsPerHeight: o.appends,
      resetUs: round((resetMs * 1000) / o.heights),
      syncedAppendUs: round((appendMs * 1000) / (o.heights * o.appends)),
      perHeightMs: round((resetMs + appendMs) / o.heights, 3),
      machine: { cpus: cpus().length, node: process.version, loadavg: loadavg().map((l) => round(l, 2)) },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isEntryPoint(import.meta.url)) {
  const args = benchArgs('wal', {
    options: { heights: { type: 'string', default: '500' }, appends: { type: 'string', default: '4' } },
  });
  const result = await runWal({ heights: positive(args.heights, '--heights'), appends: positive(args.appends, '--appends') });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
