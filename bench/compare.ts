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
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) fail(new Error(`bench/erc20 exited ${code}: ${out.slice(-500)}`));
      else done(JSON.parse(line));
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
  const runs: Array<{ run: number; target: 'anvil' | 'polis'; transfersPerSecond: number; p50: number; p99: number }> = [];
  for (let run = 1; run <= RUNS; run++) {
    const a = await withAnvil((url) => erc20(['--url', url]));
    runs.push({ run, target: 'anvil', transfersPerSecond: a.transfersPerSecond, p50: a.latencyMs.p50, p99: a.latencyMs.p99 });
    const p = await erc20(['--nodes', String(NODES)]);
    runs.push({ run, target: 'polis', transfersPerSecond: p.transfersPerSecond, p50: p.latencyMs.p50, p99: p.latencyMs.p99 });
  }
  const anvil = median(runs.filter((r) => r.target === 'anvil').map((r) => r.transfersPerSecond));
  const polis = median(runs.filter((r) => r.target === 'polis').map((r) => r.transfersPerSecond));
  process.stdout.write(
    `${JSON.stringify({
      bench: 'compare',
      workload: `bench/erc20 --transfers ${TRANSFERS} (defaults otherwise), alternating runs`,
      polis: `polis dev --nodes ${NODES}`,
      anvil: 'anvil --block-time 1 --gas-limit 1000000000 --base-fee 0 --no-priority-fee',
      runs,
      medianTransfersPerSecond: { anvil, polis },
      ratioPolisToAnvil: round(polis / anvil, 2),
      machine: machine(),
    })}\n`,
  );
}

await main();
