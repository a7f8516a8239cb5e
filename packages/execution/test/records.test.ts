/**
 * The records service's bulk path (`recordBatch` read straight from the calldata) against its ABI
 * path, on a real LMDB state store: the canonical encoding (which takes the raw path) and an
 * equivalent non-canonical one (which the ABI decoder reads) record the same words, emit the same
 * logs, charge the same gas, and refuse the same batches with the same reasons.
 */
import { bytesToHex, concatBytes, hexToBytes, keccak256, utf8ToBytes } from '@polis/core';
import { createLedgerCommon, createStateWriteSet, type DecodedTx, decodeTx, logsBloom, type Receipt } from '@polis/ledger';
import { encodeFunctionData, type Hex, toFunctionSelector } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BlockExecutor,
  commitBlockState,
  type RawServiceHandler,
  RECORDS_ABI,
  RECORDS_ADDRESS,
  recordsService,
  serviceGenesisWrites,
} from '../src/index.js';
import { type Fixture, openFixture } from './helpers.js';

const CHAIN_ID = 31337n;
const common = createLedgerCommon(CHAIN_ID);
const GAS_LIMIT = 30_000_000n;
const sender = privateKeyToAccount(`0x${'22'.repeat(32)}` as Hex);
const TAG = keccak256(utf8ToBytes('tag'));

let f: Fixture;
let executor: BlockExecutor;
let height = 0;
let timeMs = 1_700_000_000_000;
let nonce = 0;

const env = () => ({ height: height + 1, timeMs, gasLimit: GAS_LIMIT, coinbase: new Uint8Array(20) });
const hashes = (label: string, n: number) => Array.from({ length: n }, (_, i) => keccak256(utf8ToBytes(`${label}-${i}`)));
const word = (n: number) => {
  const w = new Uint8Array(32);
  new DataView(w.buffer).setUint32(28, n);
  return w;
};

/** The canonical ABI encoding: what every encoder produces. */
function canonical(hs: Uint8Array[], metas: Uint8Array[] = []): Uint8Array {
  return hexToBytes(
    encodeFunctionData({
      abi: RECORDS_ABI,
      functionName: 'recordBatch',
      args: [hs.map((h) => bytesToHex(h) as Hex), bytesToHex(TAG) as Hex, metas.map((m) => bytesToHex(m) as Hex)],
    }),
  );
}

/** The same call with the (empty) metas array placed before the hashes: valid ABI, not canonical. */
function reordered(hs: Uint8Array[]): Uint8Array {
  const selector = hexToBytes(toFunctionSelector('function recordBatch(bytes32[] hashes, bytes32 tag, bytes[] metas)'));
  return concatBytes(selector, word(128), TAG, word(96), word(0), word(hs.length), ...hs);
}

/** The intrinsic gas of calldata: 4 per zero byte, 16 per other byte. */
const calldataGas = (data: Uint8Array) => data.reduce((sum, byte) => sum + (byte === 0 ? 4n : 16n), 0n);

async function tx(data: Uint8Array, gas = 10_000_000n): Promise<DecodedTx> {
  const raw = await sender.signTransaction({
    chainId: Number(CHAIN_ID),
    type: 'eip1559',
    to: bytesToHex(RECORDS_ADDRESS) as Hex,
    data: bytesToHex(data) as Hex,
    nonce: nonce++,
    gas,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
  return decodeTx(hexToBytes(raw), common);
}

/** Builds and commits one block of `txs`; returns its receipts. */
async function commit(txs: DecodedTx[]): Promise<Receipt[]> {
  const exec = await executor.executeBlock(env(), txs, 'build');
  if ('invalid' in exec) throw new Error(exec.invalid);
  height += 1;
  await commitBlockState(f.store, executor.state, { height });
  timeMs += 1_000;
  return exec.receipts;
}

const revertReason = (r: Receipt) => new TextDecoder().decode(r.revertData.subarray(68)).replace(/\0+$/, '');

async function getRecord(hash: Uint8Array) {
  const result = await executor.call(env(), {
    to: RECORDS_ADDRESS,
    data: hexToBytes(encodeFunctionData({ abi: RECORDS_ABI, functionName: 'getRecord', args: [bytesToHex(hash) as Hex] })),
  });
  expect(result.success).toBe(true);
  return bytesToHex(result.returnValue);
}

/** How many calls the raw path took (it counts them around the real handler). */
let rawTaken = 0;

beforeAll(async () => {
  const raw = recordsService.raw?.recordBatch as RawServiceHandler;
  (recordsService as { raw: Record<string, RawServiceHandler> }).raw = {
    recordBatch: async (args, call) => {
      const result = await raw(args, call);
      if (result) rawTaken++;
      return result;
    },
  };
  f = await openFixture('smt');
  const services = serviceGenesisWrites();
  await f.store.commitBlock({ height: 0, writes: createStateWriteSet({ accounts: services.accounts, code: services.code }) });
  executor = await BlockExecutor.create({ common, committed: f.store });
});

afterAll(async () => {
  await f?.close();
});

describe('recordBatch: the raw path and the ABI path agree', () => {
  it('records the same words, logs the same events and charges the same gas', async () => {
    const a = hashes('a', 50);
    const b = hashes('b', 50);
    const [ra, rb] = await commit([await tx(canonical(a)), await tx(reordered(b))]);
    expect(rawTaken, 'the canonical encoding took the raw path, the other one did not').toBe(1);
    expect(ra?.status).toBe(1);
    expect(rb?.status).toBe(1);
    // The calldata differs (other hashes, other offsets), and so its intrinsic gas; the rest is equal.
    expect((ra?.gasUsed ?? 0n) - calldataGas(canonical(a))).toBe((rb?.gasUsed ?? 0n) - calldataGas(reordered(b)));
    expect(ra?.logs).toHaveLength(50);
    // The receipts' blooms (runTx's) are the blooms of their logs.
    for (const r of [ra, rb]) expect(r?.logsBloom).toEqual(logsBloom(r?.logs ?? []));
    // Same event shape: topic 0, the hash, the submitter, the tag; data: empty bytes.
    for (const [i, log] of (ra?.logs ?? []).entries()) {
      const other = rb?.logs[i];
      expect(log.topics[0]).toEqual(other?.topics[0]);
      expect(log.topics[1]).toEqual(a[i]);
      expect(other?.topics[1]).toEqual(b[i]);
      expect(log.topics.slice(2)).toEqual(other?.topics.slice(2));
      expect(log.data).toEqual(other?.data);
      expect(log.address).toEqual(RECORDS_ADDRESS);
    }
    // The stored records differ only in nothing: same submitter, block, time and tag.
    expect(await getRecord(a[7] as Uint8Array)).toBe(await getRecord(b[7] as Uint8Array));
    expect(await getRecord(a[7] as Uint8Array)).toContain(bytesToHex(TAG).slice(2));
  });

  it('refuses a hash twice in a batch, an empty batch and an already-recorded hash with the same reasons', async () => {
    const dup = hashes('dup', 3);
    dup[2] = dup[0] as Uint8Array;
    const fresh = hashes('fresh', 2);
    const taken = [hashes('a', 1)[0] as Uint8Array];
    const receipts = await commit([
      await tx(canonical(dup)),
      await tx(reordered(dup)),
      await tx(canonical([])),
      await tx(reordered([])),
      await tx(canonical([...fresh, ...taken])),
      await tx(reordered([...hashes('fresh2', 2), ...taken])),
    ]);
    const reasons = receipts.map(revertReason);
    for (const r of receipts) expect(r.status).toBe(0);
    expect(reasons[0]).toBe(`records: hash ${bytesToHex(dup[0] as Uint8Array)} appears twice in the batch`);
    expect(reasons[1]).toBe(reasons[0]);
    expect(reasons[2]).toBe('records: a batch holds 1 to 1000 records, not 0');
    expect(reasons[3]).toBe(reasons[2]);
    expect(reasons[4]).toMatch(/^records: 0x[0-9a-f]{64} was already recorded in block 1$/);
    expect(reasons[5]).toBe(reasons[4]);
    expect((receipts[0]?.gasUsed ?? 0n) - calldataGas(canonical(dup))).toBe(
      (receipts[1]?.gasUsed ?? 0n) - calldataGas(reordered(dup)),
    );
    // A reverted batch recorded nothing, not even the hashes before the bad one.
    expect(await getRecord(fresh[0] as Uint8Array)).toMatch(/^0x0{64}/);
  });

  it('takes metadata through the ABI path, unchanged', async () => {
    const hs = hashes('meta', 2);
    const [r] = await commit([await tx(canonical(hs, [utf8ToBytes('one'), utf8ToBytes('two')]))]);
    expect(r?.status).toBe(1);
    expect(r?.logs[1]?.data).toEqual(concatBytes(word(32), word(3), utf8ToBytes('two'), new Uint8Array(29)));
  });
});
