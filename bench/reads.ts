/**
 * Reads through one gateway: `eth_call` of an ERC-20's `balanceOf` and `eth_getBalance`, with
 * `--concurrency` requests in flight for `--seconds`, against `polis dev --nodes 1` (or `--url`).
 * It prints one JSON line per method: requests per second, p50/p99/max latency, errors, and the
 * CPU the load generator itself used (so a saturated client is visible). See bench/README.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexToBytes, privateKeyToAddress, toChecksumAddress } from '@polis/core';
import { Interface } from 'ethers';
import { percentile, round, startDev, stopDev } from './devnet.js';
import { driveHttp } from './http.js';
import { benchArgs, compileToken, isEntryPoint, machine, positive, rpcClient, signTx } from './load.js';

const CHAIN_ID = 31337n;

/** The read methods the benchmark measures, in the order it runs them. */
export type ReadMethod = 'eth_call' | 'eth_getBalance';

/** Options of one reads run: the CLI flags of the same names. */
export type ReadsOptions = {
  seconds: number;
  /** Seconds of the same load, not timed, before each method's timed window (the CLI uses none). */
  warmupSeconds?: number;
  concurrency: number;
  /** The accounts the requests ask about, in rotation (1: the same request every time). */
  holders?: number;
  url?: string | undefined;
  /** The methods to measure (the CLI measures both). */
  methods?: ReadMethod[];
  /** Called with each method's result as soon as it is measured. */
  onResult?: (result: ReadsResult) => void;
};

/** What one method's run measured: the CLI prints it as one JSON line. */
export type ReadsResult = {
  bench: 'reads';
  method: ReadMethod;
  what: string;
  concurrency: number;
  holders: number;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  generatorCpuPercent: number;
  machine: ReturnType<typeof machine>;
};

/** Runs the reads benchmark once and returns one result per method. */
export async function runReads(o: ReadsOptions): Promise<ReadsResult[]> {
  // The names of the module constants these options replaced, so that the body reads as before.
  const { seconds: SECONDS, concurrency: CONCURRENCY } = o;
  const WARMUP_SECONDS = o.warmupSeconds ?? 0;
  const HOLDERS = o.holders ?? 1;
  const methods = o.methods ?? ['eth_call', 'eth_getBalance'];
  const results: ReadsResult[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'polis-bench-reads-'));
  const dev = o.url === undefined ? await startDev(dataDir, 1) : undefined;
  try {
    const url = o.url ?? (dev?.ready.apps[0]?.rpcUrl as string);
    const client = rpcClient(url);
    // Setup (not timed): deploy the test token from dev account 0.
    const token = compileToken();
    const iface = new Interface(token.abi as never);
    const owner = hexToBytes(dev?.ready.accounts[0]?.privateKey ?? `0x${'01'.repeat(32)}`);
    // The deployer holds the whole supply; with --url it is the key 0x0101…01 (a funded dev key there).
    const holder = toChecksumAddress(privateKeyToAddress(owner));
    const nonce = Number(await client.call('eth_getTransactionCount', [holder, 'pending']));
    const deploy = signTx(CHAIN_ID, owner, {
      nonce,
      data: `${token.bytecode}${iface.encodeDeploy([10n ** 24n]).slice(2)}`,
      gasLimit: 3_000_000n,
    });
    const hash = (await client.call('eth_sendRawTransaction', [deploy])) as string;
    const receipt = await client.receiptOf(hash);
    if (!receipt.contractAddress) throw new Error('the token deployment failed');
    // Request i asks about holder i mod --holders: the deployer first, then addresses that hold
    // nothing (a full call all the same). More holders than requests per block means no two
    // requests in a block are the same call.
    const holders = [holder, ...Array.from({ length: HOLDERS - 1 }, (_, k) => `0x${(k + 1).toString(16).padStart(40, '0')}`)];
    const who = (i: number) => holders[i % holders.length] as string;
    const to = receipt.contractAddress;
    const balanceOf = iface.getFunction('balanceOf')?.selector as string;
    const workloads: Array<[ReadMethod, (i: number) => unknown[]]> = [
      // balanceOf(address): its selector, then the address as a word (ethers' encoder is slow at 100,000).
      ['eth_call', (i) => [{ to, data: `${balanceOf}${who(i).slice(2).toLowerCase().padStart(64, '0')}` }, 'latest']],
      ['eth_getBalance', (i) => [who(i), 'latest']],
    ];
    for (const [method, params] of workloads.filter(([m]) => methods.includes(m))) {
      // Encoded before the clock starts: the generator's CPU is the gateway's too on a shared machine.
      const bodies = holders.map((_, i) => JSON.stringify({ jsonrpc: '2.0', id: i, method, params: params(i) }));
      const latencies: number[] = [];
      let errors = 0;
      const drive = (ms: number, record: boolean) =>
        driveHttp({
          url,
          connections: CONCURRENCY,
          durationMs: ms,
          body: (i) => bodies[i % bodies.length] as string,
          onAnswer: (a) => {
            if (!record) return;
            if (a.status !== 200 || a.body.indexOf('"result"') < 0) errors++;
            latencies.push(a.latencyMs);
          },
        });
      // A fresh node serves its first seconds of reads at a third of its speed (the JIT has not
      // compiled the gateway path yet): the warm-up keeps that out of the timed window.
      if (WARMUP_SECONDS > 0) await drive(WARMUP_SECONDS * 1000, false);
      const cpu0 = process.cpuUsage();
      const start = performance.now();
      await drive(SECONDS * 1000, true);
      const elapsed = performance.now() - start;
      const cpu = process.cpuUsage(cpu0);
      latencies.sort((a, b) => a - b);
      const result: ReadsResult = {
        bench: 'reads',
        method,
        what: method === 'eth_call' ? 'balanceOf of the test ERC-20' : 'an account balance',
        concurrency: CONCURRENCY,
        holders: HOLDERS,
        requests: latencies.length,
        errors,
        requestsPerSecond: round((latencies.length / elapsed) * 1000),
        latencyMs: {
          p50: round(percentile(latencies, 50), 2),
          p99: round(percentile(latencies, 99), 2),
          max: round(latencies[latencies.length - 1] ?? Number.NaN, 2),
        },
        generatorCpuPercent: round(((cpu.user + cpu.system) / 1000 / elapsed) * 100),
        machine: machine(),
      };
      results.push(result);
      o.onResult?.(result);
    }
  } finally {
    if (dev) await stopDev(dev.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
  return results;
}

if (isEntryPoint(import.meta.url)) {
  const args = benchArgs('reads', {
    options: {
      seconds: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '32' },
      holders: { type: 'string', default: '1' },
      url: { type: 'string' },
    },
  });
  await runReads({
    seconds: positive(args.seconds, '--seconds'),
    concurrency: positive(args.concurrency, '--concurrency'),
    holders: positive(args.holders, '--holders'),
    url: args.url,
    onResult: (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  });
}
