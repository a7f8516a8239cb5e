/**
 * What the transaction benchmarks share: signing zero-fee transactions with the native binding,
 * JSON-RPC over HTTP, the test ERC-20 (compiling, deploying and funding it, signing its transfers),
 * and the timed run (submit pre-signed transactions in batches, watch blocks until each has a
 * receipt, time each from its submission to its receipt).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { hexToBytes, privateKeyToAddress, secp256k1Sign, toChecksumAddress } from '@polis/core';
import { getAddress, Interface, keccak256, Signature, Transaction } from 'ethers';
import solc from 'solc';
import { percentile, round } from './devnet.js';
import { clockTicks, cpuTicks } from './proc.js';

type RpcAnswer = { id: number; result?: unknown; error?: { code: number; message: string } };

/**
 * Whether the module at `moduleUrl` is the script node was started with: a benchmark runs its CLI
 * only then, so that `bench/ci.ts` can import its `run` function without starting it.
 */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === moduleUrl;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** A command-line option a benchmark cannot run with: printed without a stack trace, exit code 2. */
export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

export function positive(value: string | undefined, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new BenchUsageError(`${name} must be a positive integer, got ${value}`);
  return n;
}

/**
 * The options of a benchmark's command line. `--help` lists them with their defaults; an unknown
 * or malformed option, and any `BenchUsageError` thrown later, print what is wrong and the
 * options, and exit with code 2 instead of a stack trace.
 */
export function benchArgs<T extends ParseArgsConfig & { options: NonNullable<ParseArgsConfig['options']> }>(
  name: string,
  config: T,
): ReturnType<typeof parseArgs<T>>['values'] {
  const usage = () =>
    `usage: node bench/dist/${name}.js [options] (or: npx polis bench ${name} -- [options])\noptions:\n${Object.entries(
      config.options,
    )
      .map(
        ([k, o]) =>
          `  --${k}${o.type === 'string' ? ' <value>' : ''}${o.default === undefined ? '' : ` (default: ${String(o.default)})`}`,
      )
      .join('\n')}\n`;
  process.on('uncaughtException', (err) => {
    if (err instanceof BenchUsageError) {
      process.stderr.write(`bench ${name}: ${err.message}\n${usage()}`);
      process.exit(2);
    }
    // Anything else fails as it would without this handler.
    process.stderr.write(`${err.stack ?? String(err)}\n`);
    process.exit(1);
  });
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(usage());
    process.exit(0);
  }
  try {
    return parseArgs(config).values;
  } catch (cause) {
    throw new BenchUsageError((cause as Error).message);
  }
}

/** A private key from a seed: fees are zero, so no account needs funding. */
export function keyOf(seed: number): Uint8Array {
  return hexToBytes(`0x${seed.toString(16).padStart(64, '0')}`);
}

/** Signs a zero-fee EIP-1559 transaction with the native secp256k1 binding (ethers' pure-JS signer is ~20x slower). */
export function signTx(
  chainId: bigint,
  key: Uint8Array,
  fields: { nonce: number; to?: string; data: string; gasLimit: bigint },
): string {
  const tx = Transaction.from({
    type: 2,
    chainId,
    nonce: fields.nonce,
    to: fields.to ?? null,
    data: fields.data,
    gasLimit: fields.gasLimit,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
  const sig = secp256k1Sign(hexToBytes(tx.unsignedHash), key);
  tx.signature = Signature.from({
    r: `0x${Buffer.from(sig.r).toString('hex')}`,
    s: `0x${Buffer.from(sig.s).toString('hex')}`,
    yParity: sig.recovery as 0 | 1,
  });
  return tx.serialized;
}

/** JSON-RPC against one endpoint. */
export function rpcClient(url: string) {
  let id = 0;
  const rpc = async (body: unknown): Promise<unknown> => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return res.json();
  };
  const call = async (method: string, params: unknown[] = []): Promise<unknown> => {
    const a = (await rpc({ jsonrpc: '2.0', id: ++id, method, params })) as RpcAnswer;
    if (a.error) throw new Error(`${method}: ${a.error.message}`);
    return a.result;
  };
  const sendBatch = async (raws: string[]): Promise<RpcAnswer[]> => {
    const answers = await rpc(raws.map((raw, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_sendRawTransaction', params: [raw] })));
    if (!Array.isArray(answers) || answers.length !== raws.length) {
      throw new Error(`a batch of ${raws.length} got ${JSON.stringify(answers).slice(0, 200)}`);
    }
    return answers as RpcAnswer[];
  };
  const receiptOf = async (hash: string): Promise<{ status: string; contractAddress: string | null }> => {
    for (let i = 0; i < 3000; i++) {
      const r = (await call('eth_getTransactionReceipt', [hash])) as { status: string; contractAddress: string | null } | null;
      if (r) return r;
      await sleep(10);
    }
    throw new Error(`no receipt for ${hash}`);
  };
  return { call, sendBatch, receiptOf };
}

export type RpcClient = ReturnType<typeof rpcClient>;

/** What a timed run measured. */
export type LoadResult = {
  committed: number;
  failed: number;
  rejectedThenResubmitted: number;
  resubmitted: number;
  durationMs: number;
  submitMs: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  blocks: { count: number; txsMean: number; txsMax: number };
  /**
   * CPU over the timed run, in percent of one core: the load generator (this process: submitting,
   * watching blocks) and each node whose pid was given (read from /proc). `nodesMsPerTx` is the
   * nodes' CPU time together per committed transaction, the work the network does for one.
   */
  cpu: { generatorPercent: number; nodesPercent: number[]; nodesMsPerTx: number | null };
};

/**
 * Submits pre-signed transactions (`concurrency` requests in flight, `batch` each, at most `rate`
 * per second when non-zero) and watches blocks until every one has a receipt. A transaction the
 * pool turns away ("mempool full") goes back in the queue and is sent again.
 */
export async function runLoad(o: {
  client: RpcClient;
  raws: string[];
  hashes: string[];
  batch: number;
  concurrency: number;
  rate: number;
  timeoutMs: number;
  /** The node processes whose CPU time the result reports (none for a ledger given by URL). */
  pids?: readonly number[];
}): Promise<LoadResult> {
  const { client, raws, hashes } = o;
  const total = raws.length;
  const index = new Map(hashes.map((h, i) => [h, i]));
  const submittedAt = new Float64Array(total).fill(Number.NaN);
  const committedAt = new Float64Array(total).fill(Number.NaN);
  let committed = 0;
  let failed = 0;
  let rejected = 0;
  let resubmitted = 0;
  const blockSizes: number[] = [];
  const startHeight = Number(await client.call('eth_blockNumber'));
  // Node CPU comes from Linux's /proc; elsewhere only the generator's is reported.
  const pids = existsSync('/proc/self/stat') ? (o.pids ?? []) : [];
  const ticks = clockTicks();
  const nodeTicks = () => pids.map((pid) => cpuTicks(pid)).map((t) => t.user + t.system);
  const nodeTicks0 = nodeTicks();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let watching = true;
  const watch = async () => {
    let next = startHeight + 1;
    while (watching) {
      const head = Number(await client.call('eth_blockNumber'));
      for (; next <= head; next++) {
        const receipts = (await client.call('eth_getBlockReceipts', [`0x${next.toString(16)}`])) as {
          transactionHash: string;
          status: string;
        }[];
        const now = performance.now();
        blockSizes.push(receipts.length);
        for (const r of receipts) {
          const i = index.get(r.transactionHash);
          if (i === undefined || !Number.isNaN(committedAt[i] as number)) continue;
          committedAt[i] = now;
          committed++;
          if (r.status !== '0x1') failed++;
        }
      }
      if (committed === total) return;
      await sleep(5);
    }
  };
  const watcher = watch();
  // A watcher that fails (the node is gone) is awaited after the submission; until then its
  // rejection must not count as unhandled, which solc's handler turns into a crash that skips the
  // caller's cleanup (stopping the node, removing its data directory).
  watcher.catch(() => {});
  const queue: number[] = Array.from({ length: total }, (_, i) => i);
  let scheduled = 0;
  const submit = async () => {
    while (queue.length > 0) {
      if (o.rate > 0 && scheduled >= total + resubmitted) return;
      if (o.rate > 0) {
        // Open-loop pacing: batch k leaves at start + k * batch / rate seconds.
        const due = start + (scheduled / o.rate) * 1000;
        scheduled += o.batch;
        if (due > performance.now()) await sleep(due - performance.now());
      }
      // Another submitter may have taken the last batch while this one slept.
      const batch = queue.splice(0, o.batch);
      if (batch.length === 0) return;
      const t = performance.now();
      for (const i of batch) if (Number.isNaN(submittedAt[i] as number)) submittedAt[i] = t;
      const answers = await client.sendBatch(batch.map((i) => raws[i] as string));
      const retry: number[] = [];
      answers.forEach((a, k) => {
        if (!a.error) return;
        const i = batch[k] as number;
        // A nonce the pool already holds or passed means an earlier send of it arrived.
        if (/already known|nonce too low/.test(a.error.message)) return;
        if (!/mempool full|nonce too high/.test(a.error.message))
          throw new Error(`transaction ${i} rejected: ${a.error.message}`);
        rejected++;
        retry.push(i);
      });
      if (retry.length > 0) {
        resubmitted += retry.length;
        queue.push(...retry);
        await sleep(20);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, submit));
  const submitMs = performance.now() - start;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(
      () => fail(new Error(`only ${committed} of ${total} transactions committed within ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
  });
  try {
    await Promise.race([watcher, timeout]);
  } finally {
    clearTimeout(timer);
    watching = false;
  }
  const end = Math.max(...committedAt);
  const wallMs = performance.now() - start;
  const generator = process.cpuUsage(cpu0);
  const nodesMs = nodeTicks().map((t, i) => ((t - (nodeTicks0[i] as number)) * 1000) / ticks);
  const latencies = Array.from(committedAt, (c, i) => c - (submittedAt[i] as number)).sort((a, b) => a - b);
  const nonEmpty = blockSizes.filter((n) => n > 0);
  return {
    committed,
    failed,
    rejectedThenResubmitted: rejected,
    resubmitted,
    durationMs: round(end - start),
    submitMs: round(submitMs),
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p90: round(percentile(latencies, 90)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies[latencies.length - 1] ?? Number.NaN),
    },
    blocks: {
      count: nonEmpty.length,
      txsMean: round(committed / Math.max(1, nonEmpty.length)),
      txsMax: Math.max(0, ...nonEmpty),
    },
    cpu: {
      generatorPercent: round(((generator.user + generator.system) / 1000 / wallMs) * 100),
      nodesPercent: nodesMs.map((ms) => round((ms / wallMs) * 100)),
      nodesMsPerTx: pids.length === 0 ? null : round(nodesMs.reduce((a, b) => a + b, 0) / Math.max(1, committed), 3),
    },
  };
}

/** The machine a run was measured on: compare runs only at similar load averages. */
export function machine() {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model,
    memoryGB: round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${platform()} ${release()} ${arch()}`,
    loadavg: loadavg().map((l) => round(l, 2)),
  };
}

const TOKEN_SOURCE = join(
  resolve(fileURLToPath(new URL('.', import.meta.url)), '../..'),
  'packages/node/test/fixtures/TestToken.sol',
);

/** The test ERC-20 (`packages/node/test/fixtures/TestToken.sol`), compiled with solc. */
export function compileToken(): { abi: unknown[]; bytecode: string } {
  const input = {
    language: 'Solidity',
    sources: { 'TestToken.sol': { content: readFileSync(TOKEN_SOURCE, 'utf8') } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { TestToken: ['abi', 'evm.bytecode.object'] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const c = out.contracts['TestToken.sol']?.TestToken;
  if (!c) throw new Error('solc produced no TestToken');
  return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
}

/** The test ERC-20 once deployed, and the funded accounts that send its transfers. */
export type TokenSetup = { iface: Interface; tokenAddress: string; senderKeys: Uint8Array[] };

/**
 * Deploys the compiled test ERC-20 from `owner` with nonce 0 (dev account 0 of a fresh ledger)
 * and gives 10^24 tokens to each of `senders` accounts (keys `keyOf(0xbe0000 + i)`), `batch`
 * funding transfers per request; resolves once the last of them has committed. Not timed.
 */
export async function deployAndFundToken(o: {
  client: RpcClient;
  chainId: bigint;
  token: { abi: unknown[]; bytecode: string };
  owner: Uint8Array;
  senders: number;
  batch: number;
}): Promise<TokenSetup> {
  const { client, chainId, owner } = o;
  const iface = new Interface(o.token.abi as never);
  const deployData = `${o.token.bytecode}${iface.encodeDeploy([10n ** 30n]).slice(2)}`;
  const deployHash = (await client.call('eth_sendRawTransaction', [
    signTx(chainId, owner, { nonce: 0, data: deployData, gasLimit: 3_000_000n }),
  ])) as string;
  const deployed = await client.receiptOf(deployHash);
  if (deployed.status !== '0x1' || !deployed.contractAddress) throw new Error('the token deployment failed');
  const tokenAddress = getAddress(deployed.contractAddress);
  const senderKeys = Array.from({ length: o.senders }, (_, i) => keyOf(0xbe0000 + i));
  const senderAddresses = senderKeys.map((k) => toChecksumAddress(privateKeyToAddress(k)));
  const funding = senderAddresses.map((to, i) =>
    signTx(chainId, owner, {
      nonce: 1 + i,
      to: tokenAddress,
      data: iface.encodeFunctionData('transfer', [to, 10n ** 24n]),
      gasLimit: 100_000n,
    }),
  );
  for (let i = 0; i < funding.length; i += o.batch) {
    const answers = await client.sendBatch(funding.slice(i, i + o.batch));
    for (const a of answers) if (a.error) throw new Error(`funding: ${a.error.message}`);
  }
  const lastFunding = await client.receiptOf(keccak256(funding[funding.length - 1] as string));
  if (lastFunding.status !== '0x1') throw new Error('funding failed');
  return { iface, tokenAddress, senderKeys };
}

/**
 * Signs the benchmark's ERC-20 transfers one after another: the i-th call signs transfer i, from
 * sender i mod senders (with that sender's next nonce, counted here from 0) to recipient
 * (i * 7919) mod `recipients` of a pool of fresh addresses, for 1 + i mod 1000 tokens.
 */
export function transferSigner(chainId: bigint, setup: TokenSetup, recipients: number): () => { raw: string; hash: string } {
  const { iface, tokenAddress, senderKeys } = setup;
  const nonces = new Array<number>(senderKeys.length).fill(0);
  let i = 0;
  return () => {
    const s = i % senderKeys.length;
    const nonce = nonces[s] as number;
    nonces[s] = nonce + 1;
    const recipient = `0x${(0xa000000 + ((i * 7919) % recipients)).toString(16).padStart(40, '0')}`;
    const raw = signTx(chainId, senderKeys[s] as Uint8Array, {
      nonce,
      to: tokenAddress,
      data: iface.encodeFunctionData('transfer', [recipient, 1n + BigInt(i % 1000)]),
      // About what eth_estimateGas answers for a transfer to a new holder (51,500), with a margin:
      // a block's gas limit (30M) counts declared limits, so this sets how many fit in a block.
      gasLimit: 60_000n,
    });
    i++;
    return { raw, hash: keccak256(raw) };
  };
}
