/**
 * `eth_call` in process: `balanceOf` of the test ERC-20 through `BlockExecutor.call` on a real LMDB
 * state store, without the gateway. It prints one JSON line: µs per call (wall and CPU) for calls
 * that never repeat (every one runs the EVM) and for one call repeated in a block context (the
 * per-block cache of ADR 0012), and how often the interpreter's code analysis ran.
 *
 *   node packages/execution/dist/bench/calls.js [--calls 5000] [--rounds 3]
 *
 * The justification of the read-path caches in docs/performance.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hexToBytes } from '@polis/core';
import { BlockExecutor, commitBlockState, jumpAnalysisStats } from '@polis/execution';
import { createLedgerCommon, createStateWriteSet, decodeTx, openLedgerDatabase, openStateStore } from '@polis/ledger';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { compileContract, ERC20_SOURCE, encodeArgs, encodeCall } from './erc20.js';

const { values: args } = parseArgs({
  options: { calls: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '3' } },
});
const CALLS = Number(args.calls);
const ROUNDS = Number(args.rounds);

const common = createLedgerCommon(31337n);
const dir = mkdtempSync(join(tmpdir(), 'polis-bench-calls-'));
const db = openLedgerDatabase({ path: dir });
try {
  const store = await openStateStore({ db, commitment: 'smt' });
  await store.commitBlock({ height: 0, writes: createStateWriteSet({}) });
  const executor = await BlockExecutor.create({ common, committed: store });
  const owner = privateKeyToAccount(`0x${'11'.repeat(32)}` as Hex);
  const token = compileContract(ERC20_SOURCE, 'Token');
  const deploy = await owner.signTransaction({
    chainId: 31337,
    type: 'eip1559',
    data: `0x${Buffer.from([...token.bytecode, ...encodeArgs([1_000n])]).toString('hex')}` as Hex,
    nonce: 0,
    gas: 3_000_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
  const env = { height: 1, timeMs: 1_700_000_000_000, gasLimit: 30_000_000n, coinbase: new Uint8Array(20) };
  const exec = await executor.executeBlock(env, [decodeTx(hexToBytes(deploy), common)], 'build');
  if ('invalid' in exec) throw new Error(exec.invalid);
  await commitBlockState(store, executor.state, { height: 1 });
  const to = exec.receipts[0]?.contractAddress as Uint8Array;
  const holder = (n: number) => {
    const who = new Uint8Array(20);
    new DataView(who.buffer).setUint32(16, n);
    return encodeCall('balanceOf(address)', [who]);
  };
  const measure = async (data: (i: number, round: number) => Uint8Array) => {
    const rounds: { wallUs: number; cpuUs: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // A fresh block context per round, so that the repeated call runs once per round.
      const context = { ...env, height: 2, timeMs: env.timeMs + round * 1000 };
      const t = performance.now();
      const c = process.cpuUsage();
      for (let i = 0; i < CALLS; i++) await executor.call(context, { to, data: data(i, round) });
      const cpu = process.cpuUsage(c);
      rounds.push({
        wallUs: Math.round(((performance.now() - t) * 1000) / CALLS),
        cpuUs: Math.round((cpu.user + cpu.system) / CALLS),
      });
    }
    // The first round warms the JIT; the last is the steady state.
    return { rounds, steady: rounds[rounds.length - 1] };
  };
  const analysedBefore = jumpAnalysisStats.analysed;
  const distinct = await measure((i, round) => holder(1 + round * CALLS + i));
  const repeated = await measure(() => holder(1));
  process.stdout.write(
    `${JSON.stringify({
      bench: 'calls',
      what: 'balanceOf of the test ERC-20 through BlockExecutor.call, in process',
      calls: CALLS,
      distinct,
      repeated,
      codeAnalyses: jumpAnalysisStats.analysed - analysedBefore,
      codeAnalysesReused: jumpAnalysisStats.reused,
      machine: { cpus: cpus().length, node: process.version },
    })}\n`,
  );
} finally {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
