/**
 * Records (notary) throughput and latency, measured from outside over JSON-RPC: the built-in
 * records service's high-volume path (issue P7), to compare with the ERC-20 transfer rate of the
 * same network (`bench/erc20.ts`).
 *
 * It starts `polis dev --nodes N` as child processes, pre-signs transactions that each record
 * `--per-tx` fresh hashes (`recordBatch`, or `record` when it is 1) from `--senders` accounts,
 * submits them at full speed (or `--rate` transactions per second) and watches blocks until every
 * transaction has a receipt. It prints one JSON line. See bench/README.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex, keccak256 as keccak256Bytes, utf8ToBytes } from '@polis/core';
import { RECORD_BATCH_MAX, RECORDS_ABI, RECORDS_ADDRESS } from '@polis/execution';
import { Interface, keccak256 } from 'ethers';
import { round, startDev, stopDev } from './devnet.js';
import { benchArgs, isEntryPoint, keyOf, machine, positive, rpcClient, runLoad, signTx } from './load.js';

const CHAIN_ID = 31337n;
const RUN_TIMEOUT_MS = 180_000;
/**
 * Gas each record is declared with: it uses about 43,000 with a tag (two new storage words, the
 * log and the call), and a block's gas limit counts declared gas, so this sets records per block.
 */
const GAS_PER_RECORD = 45_000n;
const GAS_PER_TX = 60_000n;

/** Options of one records run: the CLI flags of the same names. */
export type RecordsOptions = {
  records: number;
  /** Records per transaction: `recordBatch` of this many, or `record` when 1. */
  perTx: number;
  senders: number;
  /** Transactions per JSON-RPC batch request. */
  batch: number;
  concurrency: number;
  /** Submit at most this many transactions per second (0: as fast as the node takes them). */
  rate: number;
  url?: string | undefined;
  nodes: number;
  /** The dev apps' block gas limit (`polis dev --gas-limit`); the genesis default when absent. */
  gasLimit?: number | undefined;
};

/** Runs the records benchmark once and returns the object the CLI prints as its JSON line. */
export async function runRecords(o: RecordsOptions) {
  // The names of the module constants these options replaced, so that the body reads as before.
  const { records: RECORDS, perTx: PER_TX, senders: SENDERS, batch: BATCH, concurrency: CONCURRENCY } = o;
  const { rate: RATE, nodes: NODES } = o;
  if (PER_TX > RECORD_BATCH_MAX) throw new Error(`--per-tx must be at most ${RECORD_BATCH_MAX}`);
  const iface = new Interface(RECORDS_ABI as never);
  const dataDir = mkdtempSync(join(tmpdir(), 'polis-bench-records-'));
  const dev = o.url === undefined ? await startDev(dataDir, NODES, o.gasLimit) : undefined;
  const stopOnSignal = () => void (dev ? stopDev(dev.child) : Promise.resolve()).then(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const url = o.url ?? (dev?.ready.apps[0]?.rpcUrl as string);
    const client = rpcClient(url);
    const to = bytesToHex(RECORDS_ADDRESS);
    const tag = bytesToHex(keccak256Bytes(utf8ToBytes('bench')));
    // A fresh run namespace, so that hashes never collide with an earlier run on the same ledger.
    const run = `${Date.now()}-${process.pid}`;

    // Pre-sign (not timed): transactions of PER_TX fresh hashes, senders in turn.
    const signStart = performance.now();
    const senderKeys = Array.from({ length: SENDERS }, (_, i) => keyOf(0x5ec0000 + i));
    const nonces = new Array<number>(SENDERS).fill(0);
    const raws: string[] = [];
    const hashes: string[] = [];
    const txCount = Math.ceil(RECORDS / PER_TX);
    let next = 0;
    for (let t = 0; t < txCount; t++) {
      const n = Math.min(PER_TX, RECORDS - next);
      const recordHashes = Array.from({ length: n }, (_, k) => bytesToHex(keccak256Bytes(utf8ToBytes(`${run}/${next + k}`))));
      next += n;
      const data =
        PER_TX === 1
          ? iface.encodeFunctionData('record', [recordHashes[0], '0x'])
          : iface.encodeFunctionData('recordBatch', [recordHashes, tag, []]);
      const s = t % SENDERS;
      const nonce = nonces[s] as number;
      nonces[s] = nonce + 1;
      const raw = signTx(CHAIN_ID, senderKeys[s] as Uint8Array, {
        nonce,
        to,
        data,
        gasLimit: GAS_PER_TX + GAS_PER_RECORD * BigInt(n),
      });
      raws.push(raw);
      hashes.push(keccak256(raw));
    }
    const signMs = performance.now() - signStart;

    const result = await runLoad({
      client,
      raws,
      hashes,
      batch: BATCH,
      concurrency: CONCURRENCY,
      rate: RATE,
      timeoutMs: RUN_TIMEOUT_MS,
      pids: dev?.ready.nodes.map((n) => n.pid) ?? [],
    });
    // Every record is checked to exist once the run is over: a sample of them, by hash.
    const sample = [0, Math.floor(RECORDS / 2), RECORDS - 1].map((i) => bytesToHex(keccak256Bytes(utf8ToBytes(`${run}/${i}`))));
    for (const h of sample) {
      const out = (await client.call('eth_call', [{ to, data: iface.encodeFunctionData('getRecord', [h]) }, 'latest'])) as string;
      if (!iface.decodeFunctionResult('getRecord', out)[0]) throw new Error(`record ${h} is missing after the run`);
    }
    return {
      bench: 'records',
      setup: dev
        ? `polis dev --nodes ${NODES}${o.gasLimit === undefined ? '' : ` --gas-limit ${o.gasLimit}`} (child processes, all validators); client in this process over HTTP JSON-RPC to node 0`
        : `the ledger at ${url}`,
      records: RECORDS,
      recordsPerTx: PER_TX,
      transactions: txCount,
      senders: SENDERS,
      rate: RATE === 0 ? 'full speed' : RATE,
      committedTransactions: result.committed,
      failedTransactions: result.failed,
      recordsPerSecond: round((RECORDS / result.durationMs) * 1000),
      transactionsPerSecond: round((result.committed / result.durationMs) * 1000),
      durationMs: result.durationMs,
      submitMs: result.submitMs,
      latencyMs: result.latencyMs,
      blocks: result.blocks,
      cpu: result.cpu,
      rejectedThenResubmitted: result.rejectedThenResubmitted,
      presignMs: round(signMs),
      machine: machine(),
    };
  } finally {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    if (dev) await stopDev(dev.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (isEntryPoint(import.meta.url)) {
  const args = benchArgs('records', {
    options: {
      records: { type: 'string', default: '20000' },
      'per-tx': { type: 'string', default: '100' },
      senders: { type: 'string', default: '20' },
      batch: { type: 'string', default: '20' },
      concurrency: { type: 'string', default: '4' },
      rate: { type: 'string', default: '0' },
      url: { type: 'string' },
      nodes: { type: 'string', default: '1' },
      'gas-limit': { type: 'string' },
    },
  });
  const result = await runRecords({
    records: positive(args.records, '--records'),
    perTx: positive(args['per-tx'], '--per-tx'),
    senders: positive(args.senders, '--senders'),
    batch: positive(args.batch, '--batch'),
    concurrency: positive(args.concurrency, '--concurrency'),
    rate: args.rate === '0' ? 0 : positive(args.rate, '--rate'),
    url: args.url,
    nodes: positive(args.nodes, '--nodes'),
    gasLimit: args['gas-limit'] === undefined ? undefined : positive(args['gas-limit'], '--gas-limit'),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
