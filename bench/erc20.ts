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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexToBytes, keccak256 as keccak256Bytes, utf8ToBytes } from '@polis/core';
import { openLedgerDatabase } from '@polis/ledger';
import { round, startDev, stopDev } from './devnet.js';
import {
  BenchUsageError,
  benchArgs,
  compileToken,
  deployAndFundToken,
  isEntryPoint,
  machine,
  positive,
  rpcClient,
  runLoad,
  transferSigner,
} from './load.js';

const CHAIN_ID = 31337n;
const RUN_TIMEOUT_MS = 120_000;

/** Options of one ERC-20 run: the CLI flags of the same names. */
export type Erc20Options = {
  transfers: number;
  senders: number;
  recipients: number;
  batch: number;
  concurrency: number;
  /** Submit at most this many transfers per second (0: as fast as the node takes them). */
  rate: number;
  /** Use a running ledger's endpoint (with the dev accounts) instead of starting `polis dev`. */
  url?: string | undefined;
  /** City nodes of the dev network the bench starts (all validators). */
  nodes: number;
  /** After the run, stop the network and report what node 0's ledger file holds, per table. */
  storage?: boolean | undefined;
};

/** What the ledger's data file holds after `transfers` committed transfers (from `LedgerDatabase.stats`). */
async function storageReport(path: string, transfers: number) {
  const db = openLedgerDatabase({ path });
  try {
    const { fileBytes, tables } = db.stats();
    const used = Object.values(tables).reduce((n, t) => n + t.bytes, 0);
    const perTransfer = (bytes: number) => round(bytes / transfers);
    return {
      fileBytes,
      fileBytesPerTransfer: perTransfer(fileBytes),
      // Free pages LMDB keeps for reuse, and its meta pages.
      otherBytesPerTransfer: perTransfer(fileBytes - used),
      tables: Object.fromEntries(
        Object.entries(tables)
          .filter(([, t]) => t.entries > 0)
          .sort((a, b) => b[1].bytes - a[1].bytes)
          .map(([name, t]) => [name, { entries: t.entries, bytes: t.bytes, bytesPerTransfer: perTransfer(t.bytes) }]),
      ),
    };
  } finally {
    await db.close();
  }
}

/** Runs the ERC-20 benchmark once and returns the object the CLI prints as its JSON line. */
export async function runErc20(o: Erc20Options) {
  // The names of the module constants these options replaced, so that the body reads as before.
  const { transfers: TRANSFERS, senders: SENDERS, recipients: RECIPIENTS, batch: BATCH, concurrency: CONCURRENCY } = o;
  const { rate: RATE, nodes: NODES } = o;
  const token = compileToken();
  const dataDir = mkdtempSync(join(tmpdir(), 'polis-bench-erc20-'));
  const dev = o.url === undefined ? await startDev(dataDir, NODES) : undefined;
  const stopOnSignal = () => void (dev ? stopDev(dev.child) : Promise.resolve()).then(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const url = o.url ?? (dev?.ready.apps[0]?.rpcUrl as string);
    const client = rpcClient(url);

    // Setup (not timed): deploy, then fund every sender.
    // Dev account 0 (polis dev prints it; it is derived the same way in @polis/node's devAccount).
    const owner = dev
      ? hexToBytes(dev.ready.accounts[0]?.privateKey as string)
      : keccak256Bytes(utf8ToBytes('polis dev account 0'));
    const setup = await deployAndFundToken({ client, chainId: CHAIN_ID, token, owner, senders: SENDERS, batch: BATCH });

    // Pre-sign the load: senders in turn, recipients from a pool of fresh addresses.
    const signStart = performance.now();
    const nextTransfer = transferSigner(CHAIN_ID, setup, RECIPIENTS);
    const raws: string[] = [];
    const hashes: string[] = [];
    for (let i = 0; i < TRANSFERS; i++) {
      const { raw, hash } = nextTransfer();
      raws.push(raw);
      hashes.push(hash);
    }
    const signMs = performance.now() - signStart;

    // The timed run: submit everything, watch blocks until every transfer has a receipt.
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
    let storage: Awaited<ReturnType<typeof storageReport>> | undefined;
    if (o.storage && dev) {
      await stopDev(dev.child);
      const app = dev.ready.apps[0]?.id as string;
      storage = await storageReport(join(dataDir, 'node-0', 'data', 'ledgers', app, 'db'), result.committed);
    }
    return {
      bench: 'erc20',
      setup: dev
        ? `polis dev --nodes ${NODES} (child processes); client in this process over HTTP JSON-RPC to node 0`
        : `the ledger at ${url}`,
      transfers: TRANSFERS,
      senders: SENDERS,
      rate: RATE === 0 ? 'full speed' : RATE,
      committed: result.committed,
      failed: result.failed,
      rejectedThenResubmitted: result.rejectedThenResubmitted,
      resubmitted: result.resubmitted,
      transfersPerSecond: round((result.committed / result.durationMs) * 1000),
      durationMs: result.durationMs,
      submitMs: result.submitMs,
      latencyMs: result.latencyMs,
      blocks: result.blocks,
      cpu: result.cpu,
      presignMs: round(signMs),
      ...(storage ? { storage } : {}),
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
  const args = benchArgs('erc20', {
    options: {
      transfers: { type: 'string', default: '10000' },
      senders: { type: 'string', default: '100' },
      recipients: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '250' },
      concurrency: { type: 'string', default: '4' },
      rate: { type: 'string', default: '0' },
      url: { type: 'string' },
      nodes: { type: 'string', default: '1' },
      storage: { type: 'boolean', default: false },
    },
  });
  if (args.storage && args.url !== undefined) {
    throw new BenchUsageError('--storage reads the ledger files of the network this bench starts; leave out --url');
  }
  const result = await runErc20({
    transfers: positive(args.transfers, '--transfers'),
    senders: positive(args.senders, '--senders'),
    recipients: positive(args.recipients, '--recipients'),
    batch: positive(args.batch, '--batch'),
    concurrency: positive(args.concurrency, '--concurrency'),
    rate: args.rate === '0' ? 0 : positive(args.rate, '--rate'),
    url: args.url,
    storage: args.storage,
    nodes: positive(args.nodes, '--nodes'),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
