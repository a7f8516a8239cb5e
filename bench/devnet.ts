/** What the benchmarks share: starting and stopping `polis dev` (the built CLI) and summarising latencies. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const BIN = join(ROOT, 'packages/cli/bin/polis.js');
const READY_TIMEOUT_MS = 60_000;

/** The ready line of `polis dev --json` (the fields the benchmarks use). */
export type Ready = {
  nodes: { pid: number; rpcBase: string }[];
  apps: { id: string; plan: string; apiKey: string; rpcUrl: string }[];
  accounts: { address: string; privateKey: string }[];
};

/** Starts `polis dev` with `nodes` city nodes on free ports (and the apps' block gas limit, if given) and resolves with its ready line. */
export function startDev(dataDir: string, nodes: number, gasLimit?: number): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = spawn(
    process.execPath,
    // No portal: benchmarks measure the nodes, and the portal's usage collector would share their cores.
    [
      BIN,
      'dev',
      '--nodes',
      String(nodes),
      '--json',
      '--base-port',
      '0',
      '--data',
      dataDir,
      '--heartbeat-ms',
      '1000',
      '--no-portal',
      ...(gasLimit === undefined ? [] : ['--gas-limit', String(gasLimit)]),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, POLIS_LOG_LEVEL: process.env.POLIS_LOG_LEVEL ?? 'warn' },
    },
  );
  return new Promise((done, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`polis dev was not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      done({ child, ready: JSON.parse(out.slice(0, newline)) as Ready });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`polis dev exited (${signal ?? code}) before it was ready`));
    });
  });
}

/** Stops `polis dev` (SIGTERM, then SIGKILL after 15 s). */
export async function stopDev(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** The p-th percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
