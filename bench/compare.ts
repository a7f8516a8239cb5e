/**
 * Polis side by side with anvil (Foundry's dev node, the real binary from the npm package
 * `@foundry-rs/anvil-linux-amd64`) on the same ERC-20 workload, alternating runs so that both
 * see the same machine: `bench/erc20.ts` against a fresh anvil (1 s blocks, a 1,000,000,000 block
 * gas limit, base fee 0) and against a fresh `polis dev --nodes N`. It prints one JSON line with
 * each run and the ratio Polis/anvil of the medians. See bench/README.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round } from './devnet.js';
import { benchArgs, machine, positive, sleep } from './load.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const require = createRequire(import.meta.url);
const ANVIL = join(dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');

const args = benchArgs('compare', {
  options: {
    runs: { type: 'string', default: '2' },
    transfers: { type: 'string', default: '10000' },
    nodes: { type: 'string', default: '1' },
  },
});
const RUNS = positive(args.runs, '--runs');
const TRANSFERS = positive(args.transfers, '--transfers');
const NODES = positive(args.nodes, '--nodes');

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => done(port));
    });
  });
}

/** Runs `bench/erc20.js` with `extra` arguments and returns its JSON line. */
function erc20(extra: string[]): Promise<{ transfersPerSecond: number; latencyMs: { p50: number; p99: number } }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [resolve(HERE, 'erc20.js'), '--transfers', String(TRANSFERS), ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      process.stderr.write(c);
    });
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        // The first line of the error says what happened (for example, how many committed in time).
        const reason = err.split('\n').find((l) => l.startsWith('Error')) ?? `${out.slice(-300)}${err.slice(-300)}`;
        fail(new Error(`bench/erc20 exited ${code}: ${reason.trim()}`));
      } else done(JSON.parse(line));
    });
  });
}

async function withAnvil<T>(run: (url: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const anvil: ChildProcess = spawn(
    ANVIL,
    [
      '--port',
      String(port),
      '--block-time',
      '1',
      '--gas-limit',
      '1000000000',
      '--base-fee',
      '0',
      '--no-priority-fee',
      '--silent',
    ],
    { stdio: 'ignore' },
  );
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 100) throw new Error('anvil did not answer within 10 s');
      await sleep(100);
    }
    return await run(url);
  } finally {
    anvil.kill('SIGTERM');
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number;

async function main(): Promise<void> {
  type Run = { run: number; target: 'anvil' | 'polis' } & (
    | { transfersPerSecond: number; p50: number; p99: number }
    | { failed: string }
  );
  const runs: Run[] = [];
  // A run that fails (anvil sometimes commits almost nothing of a large burst within the
  // generator's 120 s) is reported with its reason, and the medians use the runs that finished.
  const attempt = async (run: number, target: 'anvil' | 'polis', go: () => Promise<Awaited<ReturnType<typeof erc20>>>) => {
    try {
      const r = await go();
      runs.push({ run, target, transfersPerSecond: r.transfersPerSecond, p50: r.latencyMs.p50, p99: r.latencyMs.p99 });
    } catch (err) {
      runs.push({ run, target, failed: err instanceof Error ? err.message : String(err) });
    }
  };
  for (let run = 1; run <= RUNS; run++) {
    await attempt(run, 'anvil', () => withAnvil((url) => erc20(['--url', url])));
    await attempt(run, 'polis', () => erc20(['--nodes', String(NODES)]));
  }
  const rates = (target: Run['target']) =>
    runs.flatMap((r) => (r.target === target && 'transfersPerSecond' in r ? [r.transfersPerSecond] : []));
  const anvil = rates('anvil').length > 0 ? median(rates('anvil')) : null;
  const polis = rates('polis').length > 0 ? median(rates('polis')) : null;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'compare',
      workload: `bench/erc20 --transfers ${TRANSFERS} (defaults otherwise), alternating runs`,
      polis: `polis dev --nodes ${NODES}`,
      anvil: 'anvil --block-time 1 --gas-limit 1000000000 --base-fee 0 --no-priority-fee',
      runs,
      medianTransfersPerSecond: { anvil, polis },
      ratioPolisToAnvil: anvil !== null && polis !== null ? round(polis / anvil, 2) : null,
      machine: machine(),
    })}\n`,
  );
  if (polis === null) process.exitCode = 1;
}

await main();
