/**
 * The cost of idle ledgers: CPU time and memory of one city node that hosts N app ledgers with
 * nothing to do but their heartbeat blocks, measured from outside on the node's own process.
 *
 * It builds a node directory with one validator and a genesis of `--ledgers` app ledgers
 * (app-0.., chain ids 40000+i, the dev accounts funded), one API key per app, starts the node
 * with the built CLI (`polis node start`) as a child process, waits for its ready line, lets it
 * settle, then reads the child's CPU time (/proc/<pid>/stat) and RSS (/proc/<pid>/status) across
 * `--seconds` of idleness. Afterwards it checks that every ledger is alive (its head advanced by
 * the heartbeats due during the window) and that one ledger commits a transaction. It prints one
 * JSON line and exits non-zero if a ledger fell behind its heartbeats. See bench/README.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hexToBytes, secp256k1Sign } from '@polis/core';
import { buildGenesis, devAccount, devAlloc, grantAppKey, initNode, NODE_FILES, writeGenesis } from '@polis/node';
import { Signature, Transaction } from 'ethers';
import { round, stopDev } from './devnet.js';
import { benchArgs } from './load.js';
import { clockTicks, cpuTicks, memoryMB } from './proc.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const BIN = join(ROOT, 'packages/cli/bin/polis.js');
const CHAIN_ID_BASE = 40_000;
const READY_TIMEOUT_MS = 300_000;
const TX_TIMEOUT_MS = 30_000;
/** How often RSS is sampled during the window (its peak is reported beside its last value). */
const RSS_SAMPLE_MS = 1_000;
/** Requests in flight while reading the ledgers' heads. */
const HEAD_CONCURRENCY = 16;
/** Node's timers take at most 2^31 - 1 ms; a longer one fires after 1 ms instead. */
const TIMER_MS_MAX = 2 ** 31 - 1;

const args = benchArgs('idle', {
  options: {
    ledgers: { type: 'string', default: '50' },
    'heartbeat-ms': { type: 'string', default: '10000' },
    /** The slowest idle heartbeat (genesis consensus.idleHeartbeatMaxMs; 60 s is a new network's default). */
    'idle-heartbeat-max-ms': { type: 'string', default: '60000' },
    /** The engines' gossip interval (the genesis default when absent). */
    'gossip-ms': { type: 'string' },
    'settle-seconds': { type: 'string', default: '10' },
    seconds: { type: 'string', default: '60' },
    /** Run the node under `node --cpu-prof` and write its profile into this directory (at exit). */
    'cpu-prof-dir': { type: 'string' },
    /** Keep the node's directory (its data and its log) instead of deleting it. */
    keep: { type: 'boolean', default: false },
  },
});

function positive(value: string | undefined, name: string, integer = true): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  }
  return n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * How often the node's main thread (its event loop) has gone to sleep and been woken: each timer
 * that fires, each socket that becomes readable, wakes it once (or shares one wake-up).
 */
function wakeups(pid: number): number {
  const m = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/task/${pid}/status has no voluntary_ctxt_switches line`);
  return Number(m[1]);
}

/** The process's threads and open file descriptors (each ledger holds a few of the latter). */
function threadsAndFds(pid: number): { threads: number; fds: number } {
  const m = /^Threads:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { threads: Number(m?.[1]), fds: readdirSync(`/proc/${pid}/fd`).length };
}

type Ready = { pid: number; rpcBase: string; ledgers: { id: string }[] };

/** Starts `polis node start` and resolves with its ready line and the time it took. */
function startNode(config: string, passwordFile: string, logFile: string, profDir?: string) {
  const nodeArgs = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [...nodeArgs, BIN, 'node', 'start', '--config', config, '--password-file', passwordFile],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, POLIS_LOG_LEVEL: process.env.POLIS_LOG_LEVEL ?? 'warn' },
    },
  );
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stderr?.pipe(log);
  return new Promise<{ child: ChildProcess; ready: Ready; startupMs: number }>((done, fail) => {
    let out = '';
    const timer = setTimeout(
      () => fail(new Error(`the node was not ready within ${READY_TIMEOUT_MS} ms; see ${logFile}`)),
      READY_TIMEOUT_MS,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      done({ child, ready: JSON.parse(out.slice(0, newline)) as Ready, startupMs: performance.now() - started });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`the node exited (${signal ?? code}) before it was ready; see ${logFile}`));
    });
  });
}

/** One JSON-RPC call; throws on an HTTP or JSON-RPC error. */
async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

/** Every ledger's head height, a few requests at a time. */
async function heads(urls: string[]): Promise<number[]> {
  const out = new Array<number>(urls.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < urls.length; i = next++) out[i] = Number(await rpc(urls[i] as string, 'eth_blockNumber'));
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, urls.length) }, worker));
  return out;
}

/** A zero-fee value transfer from dev account 0 to dev account 1, signed with the native binding. */
function signTransfer(chainId: number, nonce: number): string {
  const from = devAccount(0);
  const tx = Transaction.from({
    type: 2,
    chainId: BigInt(chainId),
    nonce,
    to: devAccount(1).address,
    value: 1n,
    gasLimit: 21_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
  const sig = secp256k1Sign(hexToBytes(tx.unsignedHash), hexToBytes(from.privateKey));
  tx.signature = Signature.from({
    r: `0x${Buffer.from(sig.r).toString('hex')}`,
    s: `0x${Buffer.from(sig.s).toString('hex')}`,
    yParity: sig.recovery as 0 | 1,
  });
  return tx.serialized;
}

/** Sends one transfer and resolves with the time until its receipt can be read. */
async function commitOne(url: string, chainId: number): Promise<number> {
  const nonce = Number(await rpc(url, 'eth_getTransactionCount', [devAccount(0).address, 'pending']));
  const started = performance.now();
  const hash = await rpc(url, 'eth_sendRawTransaction', [signTransfer(chainId, nonce)]);
  while (performance.now() - started < TX_TIMEOUT_MS) {
    const receipt = (await rpc(url, 'eth_getTransactionReceipt', [hash])) as { status?: string } | null;
    if (receipt) {
      if (receipt.status !== '0x1') throw new Error(`the transfer ${String(hash)} failed: status ${receipt.status}`);
      return performance.now() - started;
    }
    await sleep(20);
  }
  throw new Error(`the transfer ${String(hash)} was not committed within ${TX_TIMEOUT_MS} ms`);
}

async function main(): Promise<void> {
  const ledgers = positive(args.ledgers, '--ledgers');
  const heartbeatMs = positive(args['heartbeat-ms'], '--heartbeat-ms');
  if (heartbeatMs > TIMER_MS_MAX) {
    throw new Error(
      `--heartbeat-ms must be at most ${TIMER_MS_MAX} (a longer timer fires at once); use 1000000000 for no heartbeat`,
    );
  }
  const idleHeartbeatMaxMs = positive(args['idle-heartbeat-max-ms'], '--idle-heartbeat-max-ms');
  if (idleHeartbeatMaxMs > TIMER_MS_MAX) throw new Error(`--idle-heartbeat-max-ms must be at most ${TIMER_MS_MAX}`);
  const gossipMs = args['gossip-ms'] === undefined ? undefined : positive(args['gossip-ms'], '--gossip-ms');
  if (gossipMs !== undefined && gossipMs > TIMER_MS_MAX) throw new Error(`--gossip-ms must be at most ${TIMER_MS_MAX}`);
  const settleSeconds = positive(args['settle-seconds'], '--settle-seconds', false);
  const seconds = positive(args.seconds, '--seconds', false);
  const profDir = args['cpu-prof-dir'] ? resolve(args['cpu-prof-dir']) : undefined;

  const dir = mkdtempSync(join(tmpdir(), 'polis-bench-idle-'));
  const password = 'bench-idle';
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const nodeDir = join(dir, 'node-0');
  const identity = initNode({ dir: nodeDir, name: 'node-0', password, rpcPort: 0, lightKdf: true });
  const apps = Array.from({ length: ledgers }, (_, i) => ({ id: `app-${i}`, chainId: CHAIN_ID_BASE + i }));
  writeGenesis(
    join(nodeDir, NODE_FILES.genesis),
    buildGenesis({
      validators: [identity],
      ledgers: apps.map((a) => ({ ...a, alloc: devAlloc() })),
      consensus: { heartbeatMs, idleHeartbeatMaxMs, ...(gossipMs === undefined ? {} : { gossipMs }) },
    }),
  );
  const accessFile = join(nodeDir, NODE_FILES.access);
  const keys = apps.map((a) => grantAppKey(accessFile, { appId: a.id, plan: 'dedicated', scopes: ['read', 'write'] }));

  const logFile = join(dir, 'node.log');
  const { child, ready, startupMs } = await startNode(join(nodeDir, NODE_FILES.config), passwordFile, logFile, profDir);
  const stopOnSignal = () => void stopDev(child).then(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  // The node's directory (its log) is kept when something went wrong.
  let ok = false;
  try {
    const pid = ready.pid;
    const urls = apps.map((a, i) => `${ready.rpcBase}/v1/${a.id}/${keys[i]}`);
    await sleep(settleSeconds * 1000);

    const before = await heads(urls);
    const ticks = clockTicks();
    const cpu0 = cpuTicks(pid);
    const wake0 = wakeups(pid);
    const t0 = performance.now();
    let rssPeak = 0;
    while (performance.now() - t0 < seconds * 1000) {
      rssPeak = Math.max(rssPeak, memoryMB(pid).rss);
      await sleep(Math.min(RSS_SAMPLE_MS, seconds * 1000 - (performance.now() - t0)));
    }
    const cpu1 = cpuTicks(pid);
    const wake1 = wakeups(pid);
    const wall = (performance.now() - t0) / 1000;
    const rss = memoryMB(pid).rss;
    const { threads, fds } = threadsAndFds(pid);
    rssPeak = Math.max(rssPeak, rss);
    const after = await heads(urls);

    const advanced = after.map((h, i) => h - (before[i] as number));
    // A heartbeat is due heartbeatMs after the last block, so a window of k heartbeats holds
    // nearly k - 1 of them whatever its phase (less the blocks' own time); a ledger with fewer than
    // half of those fell behind. A window under two heartbeats checks nothing (a long
    // --heartbeat-ms measures the timers alone). An idle ledger's heartbeat slows down to
    // --idle-heartbeat-max-ms, so the check counts at that pace: use a window of several of them.
    const beats = Math.floor((wall * 1000) / Math.max(heartbeatMs, idleHeartbeatMaxMs));
    const blocksRequired = beats >= 2 ? Math.floor((beats - 1) / 2) : 0;
    const stalled = apps.filter((_, i) => (advanced[i] as number) < blocksRequired).map((a) => a.id);
    const txApp = apps[Math.floor(ledgers / 2)] as { id: string; chainId: number };
    const txCommitMs = await commitOne(urls[apps.indexOf(txApp)] as string, txApp.chainId);

    const userS = (cpu1.user - cpu0.user) / ticks;
    const systemS = (cpu1.system - cpu0.system) / ticks;
    const cpuPercent = ((userS + systemS) / wall) * 100;
    ok = stalled.length === 0;
    process.stdout.write(
      `${JSON.stringify({
        bench: 'idle',
        ledgers,
        heartbeatMs,
        idleHeartbeatMaxMs,
        startupMs: Math.round(startupMs),
        seconds: round(wall, 1),
        cpuPercent: round(cpuPercent, 2),
        cpuUserPercent: round((userS / wall) * 100, 2),
        cpuSystemPercent: round((systemS / wall) * 100, 2),
        cpuMsPerLedgerPerSec: round(((userS + systemS) * 1000) / wall / ledgers, 3),
        wakeupsPerSec: round((wake1 - wake0) / wall),
        rssMB: round(rss),
        rssPeakMB: round(rssPeak),
        threads,
        fds,
        blocksPerLedger: round(advanced.reduce((a, b) => a + b, 0) / ledgers, 2),
        blocksPerLedgerMin: Math.min(...advanced),
        blocksRequired,
        stalled,
        txApp: txApp.id,
        txCommitMs: Math.round(txCommitMs),
        load: loadavg().map((x) => round(x, 2)),
        cpus: cpus().length,
      })}\n`,
    );
  } finally {
    await stopDev(child);
    if (args.keep || !ok) process.stderr.write(`node directory kept: ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
  if (!ok) process.exit(1);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
