/**
 * One node's work per ERC-20 transfer, phase by phase, in process on a real LMDB state store:
 * decoding and signature recovery (`decodeTx`), EVM execution of a block (`executeBlock`), the
 * state commitment (`stage`), and the LMDB commit of the block's state (`commitBlock`). It prints
 * one JSON line with the CPU µs per transfer of each phase, over the blocks after the warm-up.
 *
 *   node packages/execution/dist/bench/block.js [--blocks 8] [--block-txs 500] [--senders 200] [--profile out.cpuprofile]
 *
 * The per-transfer budget in docs/performance.md: a validator does all of it for every
 * transaction, so four validators on two cores do it four times over.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hexToBytes } from '@polis/core';
import { BlockExecutor } from '@polis/execution';
import {
  createLedgerCommon,
  createStateWriteSet,
  type DecodedTx,
  decodeTx,
  openLedgerDatabase,
  openStateStore,
} from '@polis/ledger';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { compileContract, ERC20_SOURCE, encodeArgs, encodeCall } from './erc20.js';

const { values: args } = parseArgs({
  options: {
    blocks: { type: 'string', default: '8' },
    'block-txs': { type: 'string', default: '500' },
    senders: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '2' },
    // A V8 CPU profile of the measured blocks' execution, stage and commit (not of signing or decoding).
    profile: { type: 'string' },
  },
});
const BLOCKS = Number(args.blocks);
const BLOCK_TXS = Number(args['block-txs']);
const SENDERS = Number(args.senders);
const WARMUP = Number(args.warmup);
for (const [name, v] of [
  ['--blocks', BLOCKS],
  ['--block-txs', BLOCK_TXS],
  ['--senders', SENDERS],
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, not ${v}`);
}
if (!Number.isInteger(WARMUP) || WARMUP < 0 || WARMUP >= BLOCKS)
  throw new Error(`--warmup must be an integer from 0 to --blocks - 1`);

const CHAIN_ID = 31337;
const common = createLedgerCommon(BigInt(CHAIN_ID));
const owner = privateKeyToAccount(`0x${'11'.repeat(32)}` as Hex);
const senders = Array.from({ length: SENDERS }, (_, i) =>
  privateKeyToAccount(`0x${(i + 1000).toString(16).padStart(64, '0')}` as Hex),
);
const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}` as Hex;
const sign = async (from: (typeof senders)[number], nonce: number, to: Hex, data: Uint8Array, gas = 100_000n) =>
  hexToBytes(
    await from.signTransaction({
      chainId: CHAIN_ID,
      type: 'eip1559',
      nonce,
      to,
      gas,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
      data: hex(data),
    }),
  );

const dir = mkdtempSync(join(tmpdir(), 'polis-bench-block-'));
const db = openLedgerDatabase({ path: dir });
try {
  const state = await openStateStore({ db, commitment: 'smt' });
  const executor = await BlockExecutor.create({ common, committed: state });
  let height = 0;
  let time = 1_700_000_000_000;
  const run = async (txs: DecodedTx[]) => {
    height++;
    time += 1000;
    const env = { height, timeMs: time, gasLimit: 1_000_000_000n, coinbase: new Uint8Array(20) };
    let c = process.cpuUsage();
    const exec = await executor.executeBlock(env, txs, 'build');
    if ('invalid' in exec) throw new Error(exec.invalid);
    if (exec.included.length !== txs.length)
      throw new Error(`block ${height}: ${txs.length - exec.included.length} transactions left out`);
    const failed = exec.receipts.filter((r) => r.status !== 1).length;
    if (failed > 0) throw new Error(`block ${height}: ${failed} transactions reverted`);
    const executeUs = cpuUs(c);
    c = process.cpuUsage();
    const baseRoot = state.stateRoot;
    const staged = await state.commitment.stage(baseRoot, exec.writeSet, state);
    const stageUs = cpuUs(c);
    c = process.cpuUsage();
    await state.commitBlock({ height, writes: exec.writeSet, staged: { baseRoot, staged } });
    const commitUs = cpuUs(c);
    return { exec, executeUs, stageUs, commitUs };
  };
  await state.commitBlock({ height: 0, writes: createStateWriteSet({}) });

  // The token, owned by `owner`, and a balance for every sender.
  const token = compileContract(ERC20_SOURCE, 'Token');
  const deploy = await owner.signTransaction({
    chainId: CHAIN_ID,
    type: 'eip1559',
    nonce: 0,
    gas: 3_000_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
    data: hex(new Uint8Array([...token.bytecode, ...encodeArgs([10n ** 30n])])),
  });
  const deployed = await run([decodeTx(hexToBytes(deploy), common)]);
  const tokenAddress = hex(deployed.exec.receipts[0]?.contractAddress as Uint8Array);
  const funding: DecodedTx[] = [];
  for (const [i, s] of senders.entries()) {
    funding.push(
      decodeTx(
        await sign(owner as never, i + 1, tokenAddress, encodeCall('transfer(address,uint256)', [BigInt(s.address), 10n ** 24n])),
        common,
      ),
    );
  }
  await run(funding);

  // Transfers to fresh recipients (as a payment app sees them), signed before the clock starts.
  const nonces = new Array<number>(SENDERS).fill(0);
  const blocks: Uint8Array[][] = [];
  let recipient = 1n << 100n;
  for (let b = 0; b < BLOCKS; b++) {
    const raws: Uint8Array[] = [];
    for (let i = 0; i < BLOCK_TXS; i++) {
      const s = i % SENDERS;
      const nonce = nonces[s] ?? 0;
      nonces[s] = nonce + 1;
      raws.push(await sign(senders[s] as never, nonce, tokenAddress, encodeCall('transfer(address,uint256)', [recipient++, 1n])));
    }
    blocks.push(raws);
  }

  const decoded: { txs: DecodedTx[]; decodeUs: number }[] = [];
  for (const raws of blocks) {
    const c = process.cpuUsage();
    decoded.push({ txs: raws.map((r) => decodeTx(r, common)), decodeUs: cpuUs(c) });
  }
  const profiler = args.profile === undefined ? undefined : new Session();
  const rows: { decodeUs: number; executeUs: number; stageUs: number; commitUs: number }[] = [];
  for (const [i, { txs, decodeUs }] of decoded.entries()) {
    if (profiler && i === WARMUP) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    const { executeUs, stageUs, commitUs } = await run(txs);
    rows.push({ decodeUs, executeUs, stageUs, commitUs });
  }
  if (profiler && args.profile) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(args.profile, JSON.stringify(profile));
    profiler.disconnect();
  }
  const steady = rows.slice(WARMUP);
  const perTx = (k: keyof (typeof rows)[number]) =>
    Math.round((steady.reduce((a, r) => a + r[k], 0) / steady.length / BLOCK_TXS) * 10) / 10;
  const phases = { decode: perTx('decodeUs'), execute: perTx('executeUs'), stage: perTx('stageUs'), commit: perTx('commitUs') };
  const total = Math.round((phases.decode + phases.execute + phases.stage + phases.commit) * 10) / 10;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'block',
      what: 'CPU µs per ERC-20 transfer in each phase of a validator, in process (smt commitment, real LMDB)',
      blocks: BLOCKS,
      warmupBlocks: WARMUP,
      blockTxs: BLOCK_TXS,
      senders: SENDERS,
      cpuUsPerTransfer: { ...phases, total },
      transfersPerCpuSecond: Math.round(1e6 / total),
      machine: { cpus: cpus().length, node: process.version, loadavg: loadavg().map((l) => Math.round(l * 100) / 100) },
    })}\n`,
  );
} finally {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}

function cpuUs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}
