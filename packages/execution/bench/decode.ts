/**
 * Transaction entry in process: `decodeTx` (RLP, the library's transaction object, sender
 * recovery) of signed ERC-20 transfers, and `Mempool.add` of transactions the pool already
 * holds, as a peer's resend delivers them. It prints one JSON line: µs per decode, and µs per
 * refused duplicate, through `add` (which throws "already known") and through `knows` (which a
 * node asks before `add` for a transaction a peer sent).
 *
 *   node packages/execution/dist/bench/decode.js [--txs 5000] [--rounds 3]
 *
 * The justification of the shared transaction parameters and the early duplicate check in
 * docs/performance.md.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { hexToBytes, keccak256 } from '@polis/core';
import { createLedgerCommon, decodeTx, Mempool } from '@polis/ledger';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { encodeCall } from './erc20.js';

const { values: args } = parseArgs({
  options: { txs: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '3' } },
});
const TXS = Number(args.txs);
const ROUNDS = Number(args.rounds);

const common = createLedgerCommon(31337n);
const senders = Array.from({ length: 50 }, (_, i) => privateKeyToAccount(`0x${(i + 1).toString(16).padStart(64, '0')}` as Hex));
const token = `0x${'42'.repeat(20)}` as Hex;
const raws: Uint8Array[] = [];
for (let i = 0; i < TXS; i++) {
  const from = senders[i % senders.length];
  if (!from) throw new Error('unreachable');
  const signed = await from.signTransaction({
    chainId: 31337,
    type: 'eip1559',
    nonce: Math.floor(i / senders.length),
    to: token,
    gas: 60_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
    data: `0x${Buffer.from(encodeCall('transfer(address,uint256)', [BigInt(senders[(i + 1) % senders.length]?.address ?? 0), 1n])).toString('hex')}` as Hex,
  });
  raws.push(hexToBytes(signed));
}

function time(run: () => void): { wallUs: number; cpuUs: number } {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  run();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallUs: (wall * 1000) / TXS, cpuUs: (cpu.user + cpu.system) / TXS };
}

const decode: { wallUs: number; cpuUs: number }[] = [];
const duplicateAdd: { wallUs: number; cpuUs: number }[] = [];
const duplicateKnows: { wallUs: number; cpuUs: number }[] = [];
for (let r = 0; r < ROUNDS; r++) {
  decode.push(
    time(() => {
      for (const raw of raws) decodeTx(raw, common);
    }),
  );
  const pool = new Mempool({ common, nonceOf: () => 0n, blockGasLimit: 30_000_000n, maxTxs: TXS, maxPerSender: TXS });
  for (const raw of raws) pool.add(raw);
  duplicateAdd.push(
    time(() => {
      for (const raw of raws) {
        try {
          pool.add(raw);
        } catch {
          // already known: what is measured
        }
      }
    }),
  );
  duplicateKnows.push(
    time(() => {
      for (const raw of raws) if (!pool.knows(keccak256(raw))) pool.add(raw);
    }),
  );
}
const best = (xs: { wallUs: number; cpuUs: number }[]) => {
  const b = xs.reduce((a, x) => (x.wallUs < a.wallUs ? x : a));
  return { wallUs: Math.round(b.wallUs * 10) / 10, cpuUs: Math.round(b.cpuUs * 10) / 10 };
};
process.stdout.write(
  `${JSON.stringify({
    bench: 'decode',
    txs: TXS,
    rounds: ROUNDS,
    decodeTx: best(decode),
    duplicateAdd: best(duplicateAdd),
    duplicateKnows: best(duplicateKnows),
    machine: { cpus: cpus().length, node: process.version },
  })}\n`,
);
