import { bytesToHex, hexToBytes, keccak256, rlpDecode, rlpEncode } from '@polis/core';
import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  blockHash,
  bloomMayContain,
  createLedgerCommon,
  decodeBlock,
  decodeReceipt,
  decodeTx,
  decodeValidatorUpdate,
  encodeBlock,
  encodeHeader,
  encodeReceipt,
  encodeValidatorUpdate,
  isPolisErrorOf,
  logsBloom,
  Mempool,
  type Receipt,
  TxErrorCode,
} from './chainHelpers.js';

const CHAIN_ID = 31337n;
const common = createLedgerCommon(CHAIN_ID);
const alice = new Wallet(`0x${'11'.repeat(32)}`);
const bob = new Wallet(`0x${'22'.repeat(32)}`);

async function sign(w: Wallet, fields: Record<string, unknown>): Promise<Uint8Array> {
  const base = { to: bob.address, value: 0n, gasLimit: 21000n, chainId: CHAIN_ID, nonce: 0, ...fields };
  return hexToBytes(await w.signTransaction(base));
}

describe('transactions', () => {
  it.each([
    ['legacy (EIP-155)', { type: 0, gasPrice: 0n }],
    ['EIP-2930', { type: 1, gasPrice: 0n, accessList: [] }],
    ['EIP-1559', { type: 2, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }],
  ])('default: decodes %s with zero fees and recovers the sender natively', async (_name, fields) => {
    const raw = await sign(alice, fields);
    const d = decodeTx(raw, common);
    expect(bytesToHex(d.sender)).toBe(alice.address.toLowerCase());
    expect(d.tx.type).toBe(fields.type);
  });

  it('error: a transaction for another chain names both chain ids', async () => {
    const raw = await sign(alice, { type: 2, chainId: 1n, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
    expect(() => decodeTx(raw, common)).toThrow(/signed for chain 1, this ledger is 31337/);
  });

  it('error: garbage is malformed, not a crash', () => {
    for (const raw of [new Uint8Array([0xf8]), new Uint8Array([2, 0xc0]), new Uint8Array([0x05, 1]), new Uint8Array()]) {
      try {
        decodeTx(raw, common);
        expect.fail(`accepted ${bytesToHex(raw)}`);
      } catch (err) {
        expect(isPolisErrorOf(err, [TxErrorCode.MALFORMED, TxErrorCode.UNSUPPORTED_TYPE]), `${bytesToHex(raw)}: ${err}`).toBe(
          true,
        );
      }
    }
  });
});

describe('mempool', () => {
  const nonces = new Map<string, bigint>();
  const pool = () =>
    new Mempool({
      common,
      nonceOf: (a) => nonces.get(bytesToHex(a)) ?? 0n,
      blockGasLimit: 30_000_000n,
      maxTxs: 5,
      maxPerSender: 3,
      maxNonceAhead: 4,
    });
  const tx = (w: Wallet, nonce: number) => sign(w, { type: 2, nonce, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });

  it('default: orders by nonce, holds gaps, and tracks the pending nonce', async () => {
    const p = pool();
    p.add(await tx(alice, 1));
    expect(p.select({ maxTxs: 10, maxBytes: 1e6, maxGas: 10n ** 9n })).toEqual([]);
    expect(p.pendingNonce(hexToBytes(alice.address))).toBe(0n);
    p.add(await tx(alice, 0));
    expect(p.select({ maxTxs: 10, maxBytes: 1e6, maxGas: 10n ** 9n }).map((t) => t.nonce)).toEqual([0n, 1n]);
    expect(p.pendingNonce(hexToBytes(alice.address))).toBe(2n);
  });

  it('error: already known, nonce too low, nonce too high, too many per sender, full', async () => {
    const p = pool();
    const first = await tx(alice, 0);
    p.add(first);
    expect(() => p.add(first)).toThrow(/already known/);
    nonces.set(alice.address.toLowerCase(), 1n);
    expect(() => p.add(first)).toThrow(/already known/);
    const q = pool();
    await expect(tx(alice, 0).then((r) => q.add(r))).rejects.toThrow(/nonce too low/);
    expect(() => q.add(first)).toThrow(/nonce too low/);
    await expect(tx(alice, 6).then((r) => q.add(r))).rejects.toThrow(/nonce too high/);
    for (const n of [1, 2, 3]) q.add(await tx(alice, n));
    await expect(tx(alice, 4).then((r) => q.add(r))).rejects.toThrow(/mempool full/);
    for (const n of [0, 1]) q.add(await tx(bob, n));
    await expect(tx(bob, 2).then((r) => q.add(r))).rejects.toThrow(/mempool full: it holds at most 5 transactions/);
    nonces.clear();
  });

  it('error: a value the sender cannot pay is refused on entry, when balances are known', async () => {
    const p = new Mempool({ common, nonceOf: () => 0n, balanceOf: () => 5n, blockGasLimit: 30_000_000n });
    const pays = await sign(alice, { type: 2, value: 5n, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
    expect(p.add(pays).nonce).toBe(0n);
    const overspends = await sign(bob, { type: 2, value: 6n, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
    expect(() => p.add(overspends)).toThrow(
      /insufficient funds for transfer: the account holds 5 wei and the transaction needs 6/,
    );
    expect(p.size).toBe(1);
  });

  it('behavior: prune drops what the state has passed', async () => {
    const p = pool();
    for (const n of [0, 1, 2]) p.add(await tx(bob, n));
    nonces.set(bob.address.toLowerCase(), 2n);
    p.prune([hexToBytes(bob.address)]);
    expect(p.size).toBe(1);
    expect(p.select({ maxTxs: 10, maxBytes: 1e6, maxGas: 10n ** 9n }).map((t) => t.nonce)).toEqual([2n]);
    nonces.clear();
  });

  it('behavior: knows pooled and lately pruned transactions by hash, and remembers a bounded number', async () => {
    const p = new Mempool({
      common,
      nonceOf: (a) => nonces.get(bytesToHex(a)) ?? 0n,
      blockGasLimit: 30_000_000n,
      maxPrunedRemembered: 2,
    });
    const raws: Uint8Array[] = [];
    for (const n of [0, 1, 2, 3]) raws.push(await tx(bob, n));
    const hashes = raws.map((r) => keccak256(r));
    expect(hashes.map((h) => p.knows(h))).toEqual([false, false, false, false]);
    for (const r of raws) p.add(r);
    expect(hashes.map((h) => p.knows(h))).toEqual([true, true, true, true]);
    // Nonces 0..2 used: pruned, and the newest two are remembered; the oldest is forgotten.
    nonces.set(bob.address.toLowerCase(), 3n);
    p.prune([hexToBytes(bob.address)]);
    expect(p.size).toBe(1);
    expect(p.prunedRemembered).toBe(2);
    expect(hashes.map((h) => p.knows(h))).toEqual([false, true, true, true]);
    // A client that sends a pruned transaction again still hears why it cannot enter.
    expect(() => p.add(raws[1] as Uint8Array)).toThrow(/nonce too low: the account's next nonce is 3/);
    expect(() => p.add(raws[3] as Uint8Array)).toThrow(/already known: this transaction is in the mempool/);
    nonces.clear();
  });
});

describe('ledger Common', () => {
  it('behavior: a decoded transaction carries the transaction parameters, and other parameter sets still merge', async () => {
    const plain = decodeTx(await sign(alice, { type: 2, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }), common);
    expect(plain.tx.common.param('txGas')).toBe(21000n);
    expect(plain.tx.getMinimumGasLimit()).toBe(21000n);
    // 4 non-zero calldata bytes cost 21,000 + 4 * 16 = 21,064, but Prague's calldata floor (EIP-7623:
    // 21,000 + 10 per token, 4 tokens a non-zero byte) is 21,160, and the higher one counts.
    const withData = decodeTx(
      await sign(alice, { type: 2, data: '0x01020304', maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }),
      common,
    );
    expect(withData.tx.getMinimumGasLimit()).toBe(21160n);
    // A set merged once is merged for every copy that asks for it, made before or after.
    const ledger = createLedgerCommon(CHAIN_ID);
    const before = ledger.copy();
    const extra = { 1: { polisTestParam: 7 } };
    const first = ledger.copy();
    first.updateParams(extra);
    expect(first.param('polisTestParam')).toBe(7n);
    before.updateParams(extra);
    expect(before.param('polisTestParam')).toBe(7n);
    const after = ledger.copy();
    after.updateParams(extra);
    expect(after.param('polisTestParam')).toBe(7n);
    expect(after.param('txGas')).toBe(21000n);
  });
});

describe('blocks and receipts', () => {
  const receipt: Receipt = {
    type: 2,
    status: 1,
    cumulativeGasUsed: 50_000n,
    gasUsed: 50_000n,
    logsBloom: logsBloom([
      { address: new Uint8Array(20).fill(1), topics: [new Uint8Array(32).fill(2)], data: new Uint8Array([3]) },
    ]),
    logs: [{ address: new Uint8Array(20).fill(1), topics: [new Uint8Array(32).fill(2)], data: new Uint8Array([3]) }],
    txHash: new Uint8Array(32).fill(4),
    from: new Uint8Array(20).fill(5),
    to: null,
    contractAddress: new Uint8Array(20).fill(6),
    revertData: new Uint8Array(),
  };

  it('default: headers, blocks and receipts round-trip, and the bloom finds the log', () => {
    const header = {
      ledgerId: new Uint8Array([1]),
      chainId: CHAIN_ID,
      height: 7,
      time: 1_700_000_000_000,
      parentHash: new Uint8Array(32),
      proposer: new Uint8Array(32).fill(9),
      validatorsHash: new Uint8Array(32),
      nextValidatorsHash: new Uint8Array(32),
      txRoot: new Uint8Array(32),
      receiptsRoot: new Uint8Array(32),
      stateRoot: new Uint8Array(32),
      logsBloom: receipt.logsBloom,
      gasUsed: 1n,
      gasLimit: 30_000_000n,
    };
    const block = { header, txs: [new Uint8Array([1, 2, 3])] };
    const back = decodeBlock(encodeBlock(block));
    expect(back).toEqual(block);
    expect(blockHash(back.header)).toEqual(blockHash(header));
    expect(decodeReceipt(encodeReceipt(receipt))).toEqual(receipt);
    expect(bloomMayContain(header.logsBloom, new Uint8Array(20).fill(1))).toBe(true);
    expect(bloomMayContain(header.logsBloom, new Uint8Array(20).fill(7))).toBe(false);
  });

  it('behavior: a stored receipt leaves out its bloom, which its logs determine; one stored with it (before) decodes as it was', () => {
    const stored = encodeReceipt(receipt);
    const fields = rlpDecode(stored) as Uint8Array[];
    expect(fields[4]).toEqual(new Uint8Array(0));
    const back = decodeReceipt(stored);
    expect(back.logsBloom).toEqual(receipt.logsBloom);
    expect(back).toEqual(receipt);
    // The layout before: the 256-byte bloom in field 4, taken as stored.
    const old = rlpEncode(fields.map((f, i) => (i === 4 ? receipt.logsBloom : f)) as never);
    expect(old.length - stored.length).toBeGreaterThanOrEqual(256);
    expect(decodeReceipt(old)).toEqual(receipt);
    const noLogs = decodeReceipt(encodeReceipt({ ...receipt, logs: [], logsBloom: new Uint8Array(256) }));
    expect(noLogs.logsBloom).toEqual(new Uint8Array(256));
    // A decoded receipt's bloom can still be replaced, as any field.
    back.logsBloom = new Uint8Array(256).fill(1);
    expect(back.logsBloom).toEqual(new Uint8Array(256).fill(1));
  });

  it('error: a stored bloom that is neither empty nor 256 bytes is refused naming the field', () => {
    const fields = rlpDecode(encodeReceipt(receipt)) as Uint8Array[];
    const bad = rlpEncode(fields.map((f, i) => (i === 4 ? new Uint8Array(255) : f)) as never);
    expect(() => decodeReceipt(bad)).toThrow(/"receipt\.logsBloom" should be empty or 256 bytes, got 255/);
  });

  it('default: a block with a validator update round-trips, and the update changes the encoding but not the header', () => {
    const block = decodeBlock(encodeBlock({ header: sampleHeader(), txs: [] }));
    expect(block.validatorUpdate).toBeUndefined();
    const update = { epoch: 42, validators: [{ publicKey: new Uint8Array(32).fill(3), power: 1 }] };
    const withUpdate = { header: sampleHeader(), txs: [], validatorUpdate: update };
    const back = decodeBlock(encodeBlock(withUpdate));
    expect(back).toEqual(withUpdate);
    expect(encodeBlock(withUpdate)).not.toEqual(encodeBlock({ header: sampleHeader(), txs: [] }));
    expect(decodeValidatorUpdate(encodeValidatorUpdate(update))).toEqual(update);
  });

  it('error: a malformed validator update is refused naming the field', () => {
    const header = sampleHeader();
    const raw = (update: unknown) => rlpEncode([decodeRlpHeader(header), [], update as never]);
    expect(() => decodeBlock(raw([1]))).toThrow(/block\.validatorUpdate/);
    expect(() => decodeBlock(raw([1, []]))).toThrow(/block\.validatorUpdate\.validators.*1 to/);
    expect(() => decodeBlock(raw([1, [[new Uint8Array(31), 1]]]))).toThrow(/block\.validatorUpdate\.validators\[0\]\.publicKey/);
    expect(() => decodeBlock(raw([1, [[new Uint8Array(32), 1]], 3]))).toThrow(/block\.validatorUpdate/);
    expect(() => decodeBlock(rlpEncode([decodeRlpHeader(header), []]))).toThrow(/block/);
    expect(() => decodeBlock(raw([1, [[new Uint8Array(32), 1]]]))).not.toThrow();
  });
});

function sampleHeader() {
  return {
    ledgerId: new Uint8Array([1]),
    chainId: 1n,
    height: 3,
    time: 5,
    parentHash: new Uint8Array(32),
    proposer: new Uint8Array(32).fill(9),
    validatorsHash: new Uint8Array(32).fill(1),
    nextValidatorsHash: new Uint8Array(32).fill(2),
    txRoot: new Uint8Array(32),
    receiptsRoot: new Uint8Array(32),
    stateRoot: new Uint8Array(32),
    logsBloom: new Uint8Array(256),
    gasUsed: 0n,
    gasLimit: 1n,
  };
}

/** The header as the RLP item a block embeds. */
function decodeRlpHeader(h: ReturnType<typeof sampleHeader>) {
  return rlpDecode(encodeHeader(h)) as never;
}
