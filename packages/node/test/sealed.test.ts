/**
 * Sealed payloads on a real ledger (issue P8, data protection): a participant seals a payload for
 * another participant and the regulator and records it with the records service: the commitment
 * as the record's hash, the envelope as its metadata. Read back from the chain with eth_getLogs,
 * the envelope opens for each recipient and matches the on-chain commitment, and a participant of
 * the same ledger who is not a recipient cannot open it.
 */
import { bytesToHex, hexToBytes, keccak256, utf8ToBytes } from '@polis/core';
import { RECORD_META_BYTES_MAX, RECORDS_ABI, RECORDS_ADDRESS } from '@polis/execution';
import {
  decodeEnvelope,
  encodeEnvelope,
  generateRecipientKey,
  openPayload,
  openPayloadWithOpening,
  recipientKeyFromSeed,
  SealedError,
  SealedErrorCode,
  sealPayload,
  verifyCommitment,
} from '@polis/sdk';
import { Contract, type InterfaceAbi, JsonRpcProvider, Wallet, zeroPadValue } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode } from './devNode.js';

const address = bytesToHex(RECORDS_ADDRESS);
const TAG = zeroPadValue('0x5345414c4544', 32); // "SEALED"
// Each participant derives its sealing key from its wallet's secret, under an app context, so it
// has nothing new to keep; the regulator has a key of its own.
const CONTEXT = 'polis/demo/sealed';
const sealingKeyOf = (wallet: Wallet) => recipientKeyFromSeed(hexToBytes(wallet.privateKey), CONTEXT);

let dev: DevNode;
let provider: JsonRpcProvider;
let alice: Wallet;
let bob: Wallet;
let carol: Wallet;

beforeAll(async () => {
  dev = await startDevNode({ heartbeatMs: 200 });
  provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  [alice, bob, carol] = [0, 1, 2].map((i) => new Wallet(dev.accounts[i]?.privateKey as string, provider)) as [
    Wallet,
    Wallet,
    Wallet,
  ];
});

afterAll(async () => {
  await dev?.close();
});

describe('sealed payloads on the ledger', () => {
  it('default: an envelope recorded on the ledger opens for its recipients and not for another participant', async () => {
    const regulator = generateRecipientKey();
    const plaintext = utf8ToBytes(JSON.stringify({ order: 'PO-7781', buyer: 'bob', unitPriceEur: '9.81', units: 1200 }));
    const envelope = sealPayload(plaintext, [sealingKeyOf(alice).publicKey, sealingKeyOf(bob).publicKey, regulator.publicKey]);
    const envelopeBytes = encodeEnvelope(envelope);
    expect(envelopeBytes.length).toBeLessThanOrEqual(RECORD_META_BYTES_MAX);

    // Alice records it: the commitment is the record's hash, the envelope its metadata.
    const commitment = bytesToHex(envelope.commitment);
    const records = new Contract(address, RECORDS_ABI as InterfaceAbi, alice);
    const receipt = await (await records.getFunction('recordWithTag')(commitment, TAG, bytesToHex(envelopeBytes))).wait();
    expect(receipt?.status).toBe(1);
    const [exists, submitter, , , metaHash] = await records.getFunction('getRecord')(commitment);
    expect([exists, submitter, metaHash]).toEqual([true, alice.address, bytesToHex(keccak256(envelopeBytes))]);

    // Anyone on the ledger reads it back from the chain, by commitment and tag, through eth_getLogs.
    const logs = await provider.getLogs({ address, topics: [null, commitment, null, TAG], fromBlock: 0 });
    expect(logs).toHaveLength(1);
    const parsed = records.interface.parseLog(logs[0] as never);
    expect([parsed?.name, parsed?.args.hash, parsed?.args.submitter]).toEqual(['Recorded', commitment, alice.address]);
    // The plaintext is not on the chain; only the envelope and the commitment are.
    const meta = parsed?.args.meta as string;
    expect(meta).toBe(bytesToHex(envelopeBytes));
    expect(meta.includes(bytesToHex(plaintext).slice(2, 34))).toBe(false);
    const fromChain = decodeEnvelope(hexToBytes(meta));
    expect(bytesToHex(fromChain.commitment)).toBe(parsed?.args.hash);

    // Bob and the regulator open it, and what they read is what the ledger committed to.
    const bobs = openPayloadWithOpening(fromChain, sealingKeyOf(bob).privateKey);
    expect(bobs.plaintext).toEqual(plaintext);
    expect(verifyCommitment(hexToBytes(parsed?.args.hash as string), bobs.plaintext, bobs.salt)).toBe(true);
    expect(openPayload(fromChain, regulator.privateKey)).toEqual(plaintext);
    expect(openPayload(fromChain, sealingKeyOf(alice).privateKey)).toEqual(plaintext);

    // Carol is a participant of the same ledger, funded and able to read every log, but not a
    // recipient: neither her sealing key nor her wallet secret itself opens the envelope.
    expect(await provider.getBalance(carol.address)).toBeGreaterThan(0n);
    for (const [what, key] of [
      ['sealing key', sealingKeyOf(carol).privateKey],
      ['wallet secret', hexToBytes(carol.privateKey)],
    ] as const) {
      let err: unknown;
      try {
        openPayload(fromChain, key);
      } catch (e) {
        err = e;
      }
      expect(err, `carol's ${what}`).toBeInstanceOf(SealedError);
      expect((err as SealedError).code, `carol's ${what}`).toBe(SealedErrorCode.NOT_A_RECIPIENT);
    }
  });

  it('error: a copy of the envelope altered off the chain does not open, and its commitment no longer matches the record', async () => {
    const envelope = sealPayload(utf8ToBytes('invoice 9.81 EUR/unit'), [sealingKeyOf(bob).publicKey]);
    const commitment = bytesToHex(envelope.commitment);
    const records = new Contract(address, RECORDS_ABI as InterfaceAbi, alice);
    await (await records.getFunction('recordWithTag')(commitment, TAG, bytesToHex(encodeEnvelope(envelope)))).wait();
    const [log] = await provider.getLogs({ address, topics: [null, commitment], fromBlock: 0 });
    const meta = hexToBytes(records.interface.parseLog(log as never)?.args.meta as string);
    // A gateway or a copy in transit flips one byte of the ciphertext (the last field).
    meta[meta.length - 1] = (meta[meta.length - 1] as number) ^ 0x01;
    expect(() => openPayload(decodeEnvelope(meta), sealingKeyOf(bob).privateKey)).toThrow(
      expect.objectContaining({ type: { code: SealedErrorCode.TAMPERED, part: 'ciphertext' } }),
    );
    // The record's metadata hash, proven on the ledger, tells the copy apart before decrypting.
    const [, , , , metaHash] = await records.getFunction('getRecord')(commitment);
    expect(bytesToHex(keccak256(meta))).not.toBe(metaHash);
  });
});
