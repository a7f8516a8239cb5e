/**
 * The records (notary) service through ethers against a real node: record, record with a tag,
 * batches, reading by hash (block, time, submitter), the refusals (a second record of a hash, a
 * batch that is too big or malformed, a write in a static call), a contract as the submitter,
 * lookup by submitter and tag through logs, and the published Solidity interface matching the ABI.
 * The same through REST (`/api/v1/apps/{id}/records`), and a record's inclusion proof checked
 * offline with only the SDK, the certified header and the validator set.
 */
import { randomBytes } from 'node:crypto';
import { bytesToHex, keccak256, utf8ToBytes } from '@polis/core';
import { RECORD_BATCH_MAX, RECORDS_ABI, RECORDS_ADDRESS, recordSlots } from '@polis/execution';
import { type RecordProof, recordSlots as sdkRecordSlots, verifyRecordProof } from '@polis/sdk';
import { Contract, ContractFactory, type InterfaceAbi, JsonRpcProvider, type Log, Wallet, zeroPadValue } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, newCustodialAccount, restCall, startDevNode } from './devNode.js';
import { compileFixture } from './fixtures/compile.js';

const address = bytesToHex(RECORDS_ADDRESS);
const h = (s: string) => bytesToHex(keccak256(utf8ToBytes(s)));
const TAG = zeroPadValue('0x5348495050494e47', 32); // "SHIPPING"

let dev: DevNode;
let provider: JsonRpcProvider;
let alice: Wallet;
let bob: Wallet;
let records: Contract;

beforeAll(async () => {
  dev = await startDevNode({ heartbeatMs: 200, keyTrust: true });
  provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  alice = new Wallet(dev.accounts[0]?.privateKey as string, provider);
  bob = new Wallet(dev.accounts[1]?.privateKey as string, provider);
  records = new Contract(address, RECORDS_ABI as InterfaceAbi, alice);
});

afterAll(async () => {
  await dev?.close();
});

const rest = (path: string, init: { method?: string; body?: unknown } = {}) => restCall(dev, path, init);

describe('records service', () => {
  it('default: a record gives back its block, time and submitter, and logs Recorded with the metadata', async () => {
    const hash = h('contract #1');
    const receipt = await (await records.getFunction('record')(hash, '0xc0ffee')).wait();
    expect(receipt?.status).toBe(1);
    const block = await provider.getBlock(receipt?.blockNumber as number);
    const [exists, submitter, blockNumber, timestampMs, metaHash, tag] = await records.getFunction('getRecord')(hash);
    expect(exists).toBe(true);
    expect(submitter).toBe(alice.address);
    expect(blockNumber).toBe(BigInt(receipt?.blockNumber as number));
    expect(timestampMs / 1000n).toBe(BigInt(block?.timestamp as number));
    expect(metaHash).toBe(bytesToHex(keccak256(new Uint8Array([0xc0, 0xff, 0xee]))));
    expect(tag).toBe(zeroPadValue('0x', 32));
    const parsed = ((receipt?.logs ?? []) as Log[]).map((l) => records.interface.parseLog(l));
    expect(parsed?.map((p) => [p?.name, p?.args.hash, p?.args.submitter, p?.args.meta])).toEqual([
      ['Recorded', hash, alice.address, '0xc0ffee'],
    ]);
    // Unknown hashes read as absent.
    expect((await records.getFunction('getRecord')(h('never')))[0]).toBe(false);
  });

  it('error: a hash is recorded once; the second attempt reverts with the block of the first', async () => {
    const hash = h('once');
    const first = await (await records.getFunction('record')(hash, '0x')).wait();
    await expect((records.connect(bob) as Contract).getFunction('record').staticCall(hash, '0x')).rejects.toThrow(
      new RegExp(`already recorded in block ${first?.blockNumber}`),
    );
    await expect(records.getFunction('record').staticCall(zeroPadValue('0x', 32), '0x')).rejects.toThrow(/zero hash/);
  });

  it('default: a batch records every hash under one tag, and logs find them by submitter and by tag', async () => {
    const hashes = Array.from({ length: 50 }, (_, i) => h(`batch ${i}`));
    const receipt = await (await (records.connect(bob) as Contract).getFunction('recordBatch')(hashes, TAG, [])).wait();
    expect(receipt?.logs).toHaveLength(50);
    for (const hash of [hashes[0], hashes[49]]) {
      const r = await records.getFunction('getRecord')(hash);
      expect([r[0], r[1], r[5]]).toEqual([true, bob.address, TAG]);
    }
    const byTag = await records.queryFilter(records.filters.Recorded?.(null, null, TAG) as never, 0);
    expect(byTag.map((l) => (l as unknown as { args: { hash: string } }).args.hash)).toEqual(hashes);
    const byBob = await provider.getLogs({ address, topics: [null, null, zeroPadValue(bob.address, 32)], fromBlock: 0 });
    expect(byBob.length).toBeGreaterThanOrEqual(50);
  });

  it('error: a batch that is empty, too big, has duplicate hashes or mismatched metadata reverts saying so, and records nothing', async () => {
    const call = (hashes: string[], metas: string[]) => records.getFunction('recordBatch').staticCall(hashes, TAG, metas);
    await expect(call([], [])).rejects.toThrow(/1 to 1000 records, not 0/);
    const many = Array.from({ length: RECORD_BATCH_MAX + 1 }, (_, i) => h(`many ${i}`));
    await expect(call(many, [])).rejects.toThrow(/not 1001/);
    await expect(call([h('dup'), h('dup')], [])).rejects.toThrow(/appears twice/);
    await expect(call([h('a'), h('b')], ['0x01'])).rejects.toThrow(/one metadata per hash \(2\) or none, not 1/);
    // A batch that fails half-way leaves nothing behind: the earlier hash of it is not recorded.
    await (await records.getFunction('record')(h('taken'), '0x')).wait();
    const tx = await records.getFunction('recordBatch')([h('fresh'), h('taken')], TAG, [], { gasLimit: 1_000_000n });
    await expect(tx.wait()).rejects.toThrow();
    expect((await records.getFunction('getRecord')(h('fresh')))[0]).toBe(false);
  });

  it('behavior: a contract records through the interface and is the submitter; a static call cannot write', async () => {
    const { abi, bytecode } = await compileFixture('Notary.sol', 'Notary');
    const notary = (await new ContractFactory(abi, bytecode, alice).deploy()) as Contract;
    await notary.waitForDeployment();
    const hash = h('from a contract');
    await (await notary.getFunction('notarize')(hash)).wait();
    expect(await notary.getFunction('submitterOf')(hash)).toBe(await notary.getAddress());
    expect(await notary.getFunction('recordInView')(h('static'))).toBe(false);
    expect((await records.getFunction('getRecord')(h('static')))[0]).toBe(false);
  });

  it('behavior: running out of gas reverts the record; the published interface has the same ABI', async () => {
    const tx = await records.getFunction('record')(h('starved'), '0x', { gasLimit: 30_000n });
    await expect(tx.wait()).rejects.toThrow();
    expect((await records.getFunction('getRecord')(h('starved')))[0]).toBe(false);
    const { abi } = await compileFixture('IPolisRecords.sol', 'IPolisRecords');
    const canonical = (a: readonly unknown[]) =>
      (a as Array<Record<string, unknown>>)
        .map((x) => new Contract(address, [x as never]).interface.fragments[0]?.format('full'))
        .sort();
    expect(canonical(abi)).toEqual(canonical(RECORDS_ABI as unknown as unknown[]));
  });

  it('default: REST records from a custodial account, reads by hash, lists by submitter and tag, and refuses bad calls', async () => {
    const from = await newCustodialAccount(dev);
    const hash = h('rest record');
    const sent = await rest('/records', {
      method: 'POST',
      body: { from, functionName: 'recordWithTag', args: [hash, TAG, '0x01'] },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.receipt.status).toBe(1);
    const read = await rest(`/records/getRecord?args=${encodeURIComponent(JSON.stringify([hash]))}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ exists: true, submitter: expect.stringMatching(new RegExp(from.slice(2), 'i')), tag: TAG });
    expect(read.body.blockNumber).toBe(String(sent.body.receipt.blockNumber));
    const byTag = await rest(`/records?tag=${TAG}&submitter=${from}`);
    expect(byTag.status, JSON.stringify(byTag.body)).toBe(200);
    expect(byTag.body.records.map((r: { hash: string }) => r.hash)).toEqual([hash]);
    expect(byTag.body.records[0]).toMatchObject({ submitter: from.toLowerCase(), meta: '0x01' });
    // Refusals: the same hash again (the reason comes back), an unknown function, bad arguments.
    const again = await rest('/records', { method: 'POST', body: { from, functionName: 'record', args: [hash, '0x'] } });
    expect(again.status).toBe(422);
    expect(again.body.error.message).toMatch(/already recorded/);
    const unknown = await rest('/records/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toMatch(/no view function "nope": use one of getRecord, recordSlot/);
    const writeAsView = await rest('/records', { method: 'POST', body: { from, functionName: 'getRecord', args: [hash] } });
    expect(writeAsView.status).toBe(404);
    const badArgs = await rest(`/records/getRecord?args=${encodeURIComponent('["0x12"]')}`);
    expect(badArgs.status).toBe(400);
    expect((await rest('/records/getRecord?args=nope')).body.error.message).toMatch(/JSON array/);
    expect((await rest(`/records/${h('absent')}/proof`)).status).toBe(404);
  });

  it('default: a record proof verifies offline with the SDK and the validator set, and fails when the record is altered', async () => {
    const hash = h('provable');
    await (await records.getFunction('recordWithTag')(hash, TAG, '0xbeef')).wait();
    const answer = await rest(`/records/${hash}/proof`);
    expect(answer.status).toBe(200);
    const bundle = structuredClone(answer.body) as RecordProof;
    // From here on: no network, only the SDK, the bundle and the validators of the header's height.
    const validators = [{ publicKey: dev.node.publicKey as `0x${string}`, power: 1 }];
    const ok = verifyRecordProof(bundle, validators);
    expect(ok.valid, JSON.stringify(ok)).toBe(true);
    if (ok.valid) {
      expect(ok.record).toMatchObject({ hash, submitter: alice.address.toLowerCase(), tag: TAG });
      expect(ok.record.metaHash).toBe(bytesToHex(keccak256(new Uint8Array([0xbe, 0xef]))));
    }
    // The SDK's slots are the service's.
    expect(sdkRecordSlots(hash)).toEqual(recordSlots(keccak256(utf8ToBytes('provable'))).map(bytesToHex));

    const altered: Array<[string, (b: RecordProof) => void, RegExp]> = [
      [
        'another submitter in the stored word',
        (b) => {
          const word = b.proof.storageProof[0] as { value: string };
          word.value = `0x${'ab'.repeat(20)}${word.value.slice(-24)}`;
        },
        /storage 0/,
      ],
      [
        'another metadata hash',
        (b) => {
          (b.proof.storageProof[1] as { value: string }).value = `0x${'11'.repeat(32)}` as never;
        },
        /storage 1/,
      ],
      [
        'another document (its hash)',
        (b) => {
          b.hash = h('provable, altered') as never;
        },
        /not of this record's slots/,
      ],
      [
        'another state root',
        (b) => {
          (b.header as { stateRoot: string }).stateRoot = `0x${'22'.repeat(32)}`;
        },
        /certifies another block|does not hash/,
      ],
      [
        'a forged certificate',
        (b) => {
          b.commit = `${b.commit.slice(0, -4)}0000` as never;
        },
        /signature does not verify|malformed commit/,
      ],
    ];
    for (const [what, alter, reason] of altered) {
      const copy = structuredClone(answer.body) as RecordProof;
      alter(copy);
      const r = verifyRecordProof(copy, validators);
      expect(r.valid, what).toBe(false);
      if (!r.valid) expect(r.reason, what).toMatch(reason);
    }
    // Another validator set (the wrong keys) does not certify the header.
    const strangers = validators.map(() => ({ publicKey: bytesToHex(randomBytes(32)) as `0x${string}`, power: 1 }));
    expect(verifyRecordProof(structuredClone(answer.body), strangers).valid).toBe(false);
  });
});
