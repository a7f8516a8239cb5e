/**
 * ERC-20 throughput and latency of a one-validator ledger, measured from outside over JSON-RPC.
 *
 * It starts `polis dev --nodes 1` as a child process (the built CLI, so the node runs in its own
 * process as in production), deploys the test ERC-20 (packages/node/test/fixtures/TestToken.sol,
 * compiled with solc), gives tokens to many senders, pre-signs N transfers, submits them at full
 * speed as batched eth_sendRawTransaction, and watches blocks (eth_blockNumber polling, then
 * eth_getBlockReceipts) to time each transfer from its submission to the first moment its receipt
 * can be read. It prints one JSON line. See bench/README.md.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  hexToBytes,
  keccak256 as keccak256Bytes,
  privateKeyToAddress,
  secp256k1Sign,
  toChecksumAddress,
  utf8ToBytes,
} from '@polis/core';
import { getAddress, Interface, keccak256, Signature, Transaction } from 'ethers';
import solc from 'solc';
import { percentile, round, startDev, stopDev } from './devnet.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const TOKEN_SOURCE = join(ROOT, 'packages/node/test/fixtures/TestToken.sol');
const CHAIN_ID = 31337n;
const RUN_TIMEOUT_MS = 120_000;

type RpcAnswer = { id: number; result?: unknown; error?: { code: number; message: string } };

const { values: args } = parseArgs({
  options: {
    transfers: { type: 'string', default: '10000' },
    senders: { type: 'string', default: '100' },
    recipients: { type: 'string', default: '10000' },
    batch: { type: 'string', default: '250' },
    concurrency: { type: 'string', default: '4' },
    /** Submit at most this many transfers per second (0: as fast as the node takes them). */
    rate: { type: 'string', default: '0' },
    /** Use a running ledger's endpoint (with the dev accounts) instead of starting `polis dev`. */
    url: { type: 'string' },
    /** City nodes of the dev network the bench starts (all validators). */
    nodes: { type: 'string', default: '1' },
  },
});
const TRANSFERS = positive(args.transfers, '--transfers');
const SENDERS = positive(args.senders, '--senders');
const RECIPIENTS = positive(args.recipients, '--recipients');
const BATCH = positive(args.batch, '--batch');
const CONCURRENCY = positive(args.concurrency, '--concurrency');
const RATE = args.rate === '0' ? 0 : positive(args.rate, '--rate');
const NODES = positive(args.nodes, '--nodes');

function positive(value: string | undefined, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** A private key from a seed, for the senders: fees are zero, so no account needs funding. */
function keyOf(seed: number): Uint8Array {
  return hexToBytes(`0x${seed.toString(16).padStart(64, '0')}`);
}

/** Signs a zero-fee EIP-1559 transaction with the native secp256k1 binding (ethers' pure-JS signer is ~20x slower). */
function signTx(key: Uint8Array, fields: { nonce: number; to?: string; data: string; gasLimit: bigint }): string {
  const tx = Transaction.from({
    type: 2,
    chainId: CHAIN_ID,
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

function compileToken(): { abi: unknown[]; bytecode: string } {
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

/** Starts `polis dev --nodes 1` and resolves with its ready line. */
async function main(): Promise<void> {
  const token = compileToken();
  const iface = new Interface(token.abi as never);
  const dataDir = mkdtempSync(join(tmpdir(), 'polis-bench-erc20-'));
  const dev = args.url === undefined ? await startDev(dataDir, NODES) : undefined;
  const stopOnSignal = () => void (dev ? stopDev(dev.child) : Promise.resolve()).then(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const url = args.url ?? (dev?.ready.apps[0]?.rpcUrl as string);
    let id = 0;
    const rpc = async (body: unknown): Promise<unknown> => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return res.json();
    };
    const call = async (method: string, params: unknown[] = []): Promise<unknown> => {
      const a = (await rpc({ jsonrpc: '2.0', id: ++id, method, params })) as RpcAnswer;
      if (a.error) throw new Error(`${method}: ${a.error.message}`);
      return a.result;
    };
    const sendBatch = async (raws: string[]): Promise<RpcAnswer[]> => {
      const answers = await rpc(
        raws.map((raw, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_sendRawTransaction', params: [raw] })),
      );
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

    // Setup (not timed): deploy, then fund every sender.
    // Dev account 0 (polis dev prints it; it is derived the same way in @polis/node's devAccount).
    const owner = dev
      ? hexToBytes(dev.ready.accounts[0]?.privateKey as string)
      : keccak256Bytes(utf8ToBytes('polis dev account 0'));
    const deployData = `${token.bytecode}${iface.encodeDeploy([10n ** 30n]).slice(2)}`;
    const deployHash = (await call('eth_sendRawTransaction', [
      signTx(owner, { nonce: 0, data: deployData, gasLimit: 3_000_000n }),
    ])) as string;
    const deployed = await receiptOf(deployHash);
    if (deployed.status !== '0x1' || !deployed.contractAddress) throw new Error('the token deployment failed');
    const tokenAddress = getAddress(deployed.contractAddress);
    const senderKeys = Array.from({ length: SENDERS }, (_, i) => keyOf(0xbe0000 + i));
    const senderAddresses = senderKeys.map((k) => toChecksumAddress(privateKeyToAddress(k)));
    const funding = senderAddresses.map((to, i) =>
      signTx(owner, {
        nonce: 1 + i,
        to: tokenAddress,
        data: iface.encodeFunctionData('transfer', [to, 10n ** 24n]),
        gasLimit: 100_000n,
      }),
    );
    for (let i = 0; i < funding.length; i += BATCH) {
      const answers = await sendBatch(funding.slice(i, i + BATCH));
      for (const a of answers) if (a.error) throw new Error(`funding: ${a.error.message}`);
    }
    const lastFunding = await receiptOf(keccak256(funding[funding.length - 1] as string));
    if (lastFunding.status !== '0x1') throw new Error('funding failed');

    // Pre-sign the load: senders in turn, recipients from a pool of fresh addresses.
    const signStart = performance.now();
    const recipients = Array.from({ length: RECIPIENTS }, (_, i) => `0x${(0xa000000 + i).toString(16).padStart(40, '0')}`);
    const raws: string[] = [];
    const hashes: string[] = [];
    const nonces = new Array<number>(SENDERS).fill(0);
    for (let i = 0; i < TRANSFERS; i++) {
      const s = i % SENDERS;
      const nonce = nonces[s] as number;
      nonces[s] = nonce + 1;
      const raw = signTx(senderKeys[s] as Uint8Array, {
        nonce,
        to: tokenAddress,
        data: iface.encodeFunctionData('transfer', [recipients[(i * 7919) % RECIPIENTS], 1n + BigInt(i % 1000)]),
        // About what eth_estimateGas answers for a transfer to a new holder (51,500), with a margin:
        // a block's gas limit (30M) counts declared limits, so this sets how many fit in a block.
        gasLimit: 60_000n,
      });
      raws.push(raw);
      hashes.push(keccak256(raw));
    }
    const signMs = performance.now() - signStart;
    const index = new Map(hashes.map((h, i) => [h, i]));

    // The timed run: submit everything, watch blocks until every transfer has a receipt.
    const submittedAt = new Float64Array(TRANSFERS).fill(Number.NaN);
    const committedAt = new Float64Array(TRANSFERS).fill(Number.NaN);
    let committed = 0;
    let failed = 0;
    let rejected = 0;
    let resubmitted = 0;
    const blockSizes: number[] = [];
    const startHeight = Number(await call('eth_blockNumber'));
    const start = performance.now();
    let watching = true;
    const watch = async () => {
      let next = startHeight + 1;
      while (watching) {
        const head = Number(await call('eth_blockNumber'));
        for (; next <= head; next++) {
          const receipts = (await call('eth_getBlockReceipts', [`0x${next.toString(16)}`])) as {
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
        if (committed === TRANSFERS) return;
        await sleep(5);
      }
    };
    const watcher = watch();
    // Submission: CONCURRENCY requests in flight, BATCH transactions each. A transaction the pool
    // turns away ("mempool full") goes back in the queue and is sent again.
    const queue: number[] = Array.from({ length: TRANSFERS }, (_, i) => i);
    let scheduled = 0;
    const submit = async () => {
      while (queue.length > 0) {
        if (RATE > 0 && scheduled >= TRANSFERS + resubmitted) return;
        if (RATE > 0) {
          // Open-loop pacing: batch k leaves at start + k * BATCH / RATE seconds.
          const due = start + (scheduled / RATE) * 1000;
          scheduled += BATCH;
          if (due > performance.now()) await sleep(due - performance.now());
        }
        // Another submitter may have taken the last batch while this one slept.
        const batch = queue.splice(0, BATCH);
        if (batch.length === 0) return;
        const t = performance.now();
        for (const i of batch) if (Number.isNaN(submittedAt[i] as number)) submittedAt[i] = t;
        const answers = await sendBatch(batch.map((i) => raws[i] as string));
        const retry: number[] = [];
        answers.forEach((a, k) => {
          if (!a.error) return;
          const i = batch[k] as number;
          // A nonce the pool already holds or passed means an earlier send of it arrived.
          if (/already known|nonce too low/.test(a.error.message)) return;
          if (!/mempool full|nonce too high/.test(a.error.message)) throw new Error(`transfer ${i} rejected: ${a.error.message}`);
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
    await Promise.all(Array.from({ length: CONCURRENCY }, submit));
    const submitMs = performance.now() - start;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(
        () => fail(new Error(`only ${committed} of ${TRANSFERS} transfers committed within ${RUN_TIMEOUT_MS} ms`)),
        RUN_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([watcher, timeout]);
    } finally {
      clearTimeout(timer);
      watching = false;
    }
    const end = Math.max(...committedAt);
    const latencies = Array.from(committedAt, (c, i) => c - (submittedAt[i] as number)).sort((a, b) => a - b);
    const nonEmpty = blockSizes.filter((n) => n > 0);
    const cpu = cpus();
    process.stdout.write(
      `${JSON.stringify({
        bench: 'erc20',
        setup: dev
          ? `polis dev --nodes ${NODES} (child processes); client in this process over HTTP JSON-RPC to node 0`
          : `the ledger at ${url}`,
        transfers: TRANSFERS,
        senders: SENDERS,
        rate: RATE === 0 ? 'full speed' : RATE,
        committed,
        failed,
        rejectedThenResubmitted: rejected,
        resubmitted,
        transfersPerSecond: round((committed / (end - start)) * 1000),
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
        presignMs: round(signMs),
        machine: {
          cpus: cpu.length,
          cpuModel: cpu[0]?.model,
          memoryGB: round(totalmem() / 2 ** 30),
          node: process.version,
          os: `${platform()} ${release()} ${arch()}`,
          loadavg: loadavg().map((l) => round(l, 2)),
        },
      })}\n`,
    );
  } finally {
    if (dev) await stopDev(dev.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
