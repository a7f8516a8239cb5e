/**
 * A memory soak: whether the nodes' memory stays flat under a steady load (issue P10: "RSS growth
 * under 10% over a 10-minute soak at half the peak load"), measured from outside on the nodes' own
 * processes.
 *
 * It starts `polis dev --nodes N` as child processes, deploys the test ERC-20 and funds the senders
 * as `erc20.ts` does, then for `--minutes` sends ERC-20 transfers at a fixed open-loop `--rate`
 * (batched eth_sendRawTransaction, signed batch by batch as the soak goes), counts the committed
 * ones from the blocks (eth_blockNumber polling, then eth_getBlockReceipts), and every
 * `--sample-seconds` reads each node's RSS (/proc/<pid>/status) and CPU time (/proc/<pid>/stat).
 * The growth is measured from the end of the warm-up (`--warmup-seconds`) to the end of the soak,
 * both end to end and along a least-squares line. It prints one JSON line. See bench/README.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexToBytes } from '@polis/core';
import { round, startDev, stopDev } from './devnet.js';
import {
  benchArgs,
  compileToken,
  deployAndFundToken,
  isEntryPoint,
  machine,
  positive,
  rpcClient,
  sleep,
  transferSigner,
} from './load.js';
import { clockTicks, cpuTicks, memoryMB } from './proc.js';

const CHAIN_ID = 31337n;
/** Transfers per eth_sendRawTransaction batch request. */
const BATCH = 50;
/** Batch requests in flight at most: past it the sender waits (and `sendStalls` counts it). */
const MAX_IN_FLIGHT = 16;
/** Fresh recipients the transfers go to (as `erc20.ts`: all of them hold tokens after the warm-up). */
const RECIPIENTS = 10_000;
/** How often the block watcher polls eth_blockNumber. */
const WATCH_MS = 50;
/** Growth, in percent of the RSS after the warm-up, that the target allows (issue P10). */
const TARGET_GROWTH_PERCENT = 10;
/** Error messages kept for the output (the first distinct ones). */
const ERROR_SAMPLES = 5;

/** Options of one soak: the CLI flags of the same names. */
export type SoakOptions = {
  minutes: number;
  /** Transfers offered per second, open loop (batches leave on a fixed schedule). */
  rate: number;
  /** City nodes of the dev network (all validators); each one's process is sampled. */
  nodes: number;
  senders: number;
  sampleSeconds: number;
  /** The first seconds of the soak, before the RSS the growth is measured from. */
  warmupSeconds: number;
};

/** The least-squares line y = intercept + slope * x through the points. */
function fitLine(xs: number[], ys: number[]): { slope: number; intercept: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    sxx += ((xs[i] as number) - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/** Runs the soak once and returns the object the CLI prints as its JSON line. */
export async function runSoak(o: SoakOptions) {
  const durationMs = o.minutes * 60_000;
  const warmupMs = o.warmupSeconds * 1000;
  if (warmupMs >= durationMs) throw new Error('--warmup-seconds must be shorter than the soak (--minutes)');
  const token = compileToken();
  const dataDir = mkdtempSync(join(tmpdir(), 'polis-bench-soak-'));
  const dev = await startDev(dataDir, o.nodes);
  const stopOnSignal = () =>
    void stopDev(dev.child).then(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(130);
    });
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  let stopping = false;
  const pending = new Set<Promise<void>>();
  let sender: Promise<void> = Promise.resolve();
  let watcher: Promise<void> = Promise.resolve();
  try {
    const url = dev.ready.apps[0]?.rpcUrl as string;
    const client = rpcClient(url);
    const pids = dev.ready.nodes.map((n) => n.pid);

    // Setup (not timed): deploy, then fund every sender (dev account 0 deploys, as in erc20.ts).
    const owner = hexToBytes(dev.ready.accounts[0]?.privateKey as string);
    const setup = await deployAndFundToken({ client, chainId: CHAIN_ID, token, owner, senders: o.senders, batch: BATCH });
    const nextTransfer = transferSigner(CHAIN_ID, setup, RECIPIENTS);

    // Every transfer signed and not yet seen in a block, by hash (so only the soak's are counted).
    const uncommitted = new Set<string>();
    let committed = 0;
    let failed = 0;
    let accepted = 0;
    let resubmitted = 0;
    let errors = 0;
    let sendStalls = 0;
    const errorSamples: string[] = [];
    const error = (message: string) => {
      errors++;
      if (errorSamples.length < ERROR_SAMPLES && !errorSamples.includes(message)) errorSamples.push(message);
    };

    const startHeight = Number(await client.call('eth_blockNumber'));
    const ticks = clockTicks();
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const end = start + durationMs;

    // Blocks: every receipt of a new block that is one of the soak's transfers counts as committed.
    const watch = async () => {
      let next = startHeight + 1;
      while (!stopping) {
        try {
          const head = Number(await client.call('eth_blockNumber'));
          for (; next <= head; next++) {
            const receipts = (await client.call('eth_getBlockReceipts', [`0x${next.toString(16)}`])) as {
              transactionHash: string;
              status: string;
            }[];
            for (const r of receipts) {
              if (!uncommitted.delete(r.transactionHash)) continue;
              committed++;
              if (r.status !== '0x1') failed++;
            }
          }
        } catch (err) {
          error(`watching blocks: ${err instanceof Error ? err.message : String(err)}`);
        }
        await sleep(WATCH_MS);
      }
    };

    // Transfers: batch k leaves at start + k * BATCH / rate seconds whatever the node answers (open
    // loop), with the transfers the pool turned away ("mempool full") first, then fresh ones, signed
    // while the previous batch is out.
    const retry: { raw: string; hash: string }[] = [];
    const send = async (batch: { raw: string; hash: string }[]) => {
      let answers: Awaited<ReturnType<typeof client.sendBatch>>;
      try {
        answers = await client.sendBatch(batch.map((t) => t.raw));
      } catch (err) {
        error(`sending a batch: ${err instanceof Error ? err.message : String(err)}`);
        retry.push(...batch);
        return;
      }
      answers.forEach((a, k) => {
        const t = batch[k] as { raw: string; hash: string };
        // A nonce the pool already holds or passed means an earlier send of it arrived.
        if (!a.error || /already known|nonce too low/.test(a.error.message)) {
          accepted++;
          return;
        }
        if (/mempool full|nonce too high/.test(a.error.message)) {
          resubmitted++;
          retry.push(t);
          return;
        }
        uncommitted.delete(t.hash);
        error(`transfer rejected: ${a.error.message}`);
      });
    };
    const drive = async () => {
      for (let k = 0; !stopping; k++) {
        const due = start + ((k * BATCH) / o.rate) * 1000;
        if (due >= end) return;
        const batch = retry.splice(0, BATCH);
        while (batch.length < BATCH) {
          const t = nextTransfer();
          uncommitted.add(t.hash);
          batch.push(t);
        }
        if (due > performance.now()) await sleep(due - performance.now());
        if (pending.size >= MAX_IN_FLIGHT) sendStalls++;
        while (pending.size >= MAX_IN_FLIGHT) await Promise.race(pending);
        const p: Promise<void> = send(batch).finally(() => pending.delete(p));
        pending.add(p);
      }
    };

    // Samples at 0, sampleSeconds, 2 * sampleSeconds..., and at the end of the warm-up and of the soak.
    const sampleAt = [
      ...new Set([
        ...Array.from({ length: Math.ceil(durationMs / (o.sampleSeconds * 1000)) }, (_, i) => i * o.sampleSeconds * 1000),
        warmupMs,
        durationMs,
      ]),
    ].sort((a, b) => a - b);
    type Sample = { atMs: number; t: number; rss: number[]; anon: number[]; cpu: number[]; committed: number; backlog: number };
    const samples: Sample[] = [];
    const sample = async () => {
      for (const at of sampleAt) {
        if (stopping) return;
        const wait = start + at - performance.now();
        if (wait > 0) await sleep(wait);
        const read = pids.map((pid, i) => {
          try {
            const { user, system } = cpuTicks(pid);
            return { ...memoryMB(pid), cpu: user + system };
          } catch {
            throw new Error(`node ${i} (pid ${pid}) is gone ${round(at / 1000)} s into the soak`);
          }
        });
        samples.push({
          atMs: at,
          // When the sample was read (a busy event loop may take it a little after it was due).
          t: (performance.now() - start) / 1000,
          rss: read.map((r) => r.rss),
          anon: read.map((r) => r.anon),
          cpu: read.map((r) => r.cpu),
          committed,
          backlog: uncommitted.size,
        });
      }
    };

    watcher = watch();
    // A sender that fails ends the soak; its error is thrown once the sampling has stopped.
    sender = drive().catch((err: unknown) => {
      stopping = true;
      throw err;
    });
    sender.catch(() => {});
    try {
      await sample();
    } finally {
      stopping = true;
    }
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - start;
    await sender;
    await Promise.allSettled(pending);
    await watcher;

    const warm = samples.find((s) => s.atMs === warmupMs) as Sample;
    const last = samples[samples.length - 1] as Sample;
    const measured = samples.filter((s) => s.t >= warm.t);
    const measuredSeconds = last.t - warm.t;
    const nodes = pids.map((pid, i) => {
      const rss = measured.map((s) => s.rss[i] as number);
      const afterWarmup = warm.rss[i] as number;
      const endRss = last.rss[i] as number;
      // x is the time since the warm-up, so the intercept is the fitted RSS after the warm-up.
      const xs = measured.map((s) => s.t - warm.t);
      const line = fitLine(xs, rss);
      const anonLine = fitLine(
        xs,
        measured.map((s) => s.anon[i] as number),
      );
      const growthPercent = ((endRss - afterWarmup) / afterWarmup) * 100;
      const fittedGrowthPercent = ((line.slope * measuredSeconds) / line.intercept) * 100;
      return {
        node: i,
        pid,
        rssMB: {
          afterWarmup: round(afterWarmup),
          end: round(endRss),
          max: round(Math.max(...rss)),
          min: round(Math.min(...rss)),
        },
        // The anonymous part of the RSS (the JS heap, native allocations, stacks); the rest is mostly
        // the pages of the mapped LMDB files that the node has read, which grow with the database.
        anonMB: {
          afterWarmup: round(warm.anon[i] as number),
          end: round(last.anon[i] as number),
          fittedGrowthPercent: round(((anonLine.slope * measuredSeconds) / anonLine.intercept) * 100, 2),
        },
        growthPercent: round(growthPercent, 2),
        fittedGrowthPercent: round(fittedGrowthPercent, 2),
        fittedMBPerMinute: round(line.slope * 60, 2),
        cpuPercent: round(((((last.cpu[i] as number) - (warm.cpu[i] as number)) / ticks) * 100) / measuredSeconds),
        samples: samples.map((s) => ({ t: round(s.t), rssMB: round(s.rss[i] as number), anonMB: round(s.anon[i] as number) })),
        ok: growthPercent < TARGET_GROWTH_PERCENT && fittedGrowthPercent < TARGET_GROWTH_PERCENT,
      };
    });
    return {
      bench: 'soak',
      setup: `polis dev --nodes ${o.nodes} (child processes, all validators); client in this process over HTTP JSON-RPC to node 0`,
      minutes: o.minutes,
      warmupSeconds: o.warmupSeconds,
      sampleSeconds: o.sampleSeconds,
      senders: o.senders,
      batch: BATCH,
      targetRate: o.rate,
      committedPerSecond: round(last.committed / last.t),
      committedPerSecondAfterWarmup: round((last.committed - warm.committed) / measuredSeconds),
      // Between consecutive samples: transfers committed per second, and the transfers signed but not
      // committed yet at the sample (in the pool, in flight or waiting to be resent). A steady load
      // shows as a flat series with a small, flat backlog.
      committedSeries: samples.slice(1).map((s, k) => {
        const prev = samples[k] as Sample;
        return { t: round(s.t), perSecond: round((s.committed - prev.committed) / (s.t - prev.t)), backlog: s.backlog };
      }),
      accepted,
      committed: last.committed,
      failed,
      resubmitted,
      backlogAtEnd: last.backlog,
      errors,
      errorSamples,
      sendStalls,
      met: nodes.every((n) => n.ok),
      nodes,
      generatorCpuPercent: round(((cpu.user + cpu.system) / 1000 / wallMs) * 100),
      machine: machine(),
    };
  } finally {
    stopping = true;
    await Promise.allSettled([sender, watcher, ...pending]);
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    await stopDev(dev.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (isEntryPoint(import.meta.url)) {
  const args = benchArgs('soak', {
    options: {
      minutes: { type: 'string', default: '10' },
      rate: { type: 'string', default: '250' },
      nodes: { type: 'string', default: '1' },
      senders: { type: 'string', default: '100' },
      'sample-seconds': { type: 'string', default: '10' },
      'warmup-seconds': { type: 'string', default: '60' },
    },
  });
  const result = await runSoak({
    minutes: positive(args.minutes, '--minutes'),
    rate: positive(args.rate, '--rate'),
    nodes: positive(args.nodes, '--nodes'),
    senders: positive(args.senders, '--senders'),
    sampleSeconds: positive(args['sample-seconds'], '--sample-seconds'),
    warmupSeconds: positive(args['warmup-seconds'], '--warmup-seconds'),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
