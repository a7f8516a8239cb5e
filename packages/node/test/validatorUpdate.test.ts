/**
 * Validator updates in app ledger blocks (ADR 0006), on `LedgerApp` over real LMDB:
 * - a proposer includes the set the system ledger wants when it is newer and different;
 * - a validator accepts the update only when its own view of the system ledger agrees, and only
 *   a well-formed one (the header's `nextValidatorsHash`, a later epoch);
 * - a decided block's update is applied even if this node's view has moved on (the certificate
 *   is the proof), it takes effect at the next height, and it survives a restart;
 * - a ledger that no system ledger governs refuses every update.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommittedBlock, createValidatorSet, type Validator, type ValidatorSet } from '@polis/consensus';
import { bytesToHex, createEd25519Signer, sha256, utf8ToBytes } from '@polis/core';
import { BlockExecutor } from '@polis/execution';
import {
  ChainStore,
  createLedgerCommon,
  decodeBlock,
  encodeBlock,
  type LedgerDatabase,
  Mempool,
  openLedgerDatabase,
  openStateStore,
} from '@polis/ledger';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerGenesisSchema } from '../src/config.js';
import { LedgerApp, type WantedValidators, writeLedgerGenesis } from '../src/ledgerApp.js';

const keys = [0, 1, 2, 3, 4].map((i) => createEd25519Signer(sha256(utf8ToBytes(`validator-update-test-${i}`))).publicKey);
const member = (i: number): Validator => ({ publicKey: keys[i] as Uint8Array, power: 1 });
const GENESIS_SET = createValidatorSet([0, 1, 2, 3].map(member));
const SWAPPED = [0, 1, 2, 4].map(member);
const GENESIS = LedgerGenesisSchema.parse({
  id: 'vset',
  chainId: 7100,
  validators: [0, 1, 2, 3].map((i) => ({ name: `n${i}`, publicKey: bytesToHex(keys[i] as Uint8Array) })),
});

const dirs: string[] = [];
const dbs: LedgerDatabase[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A LedgerApp on its own database; `wanted` is read on every call, so tests can move the system's view. */
async function openApp(view: { wanted?: WantedValidators | undefined } | null, dir?: string) {
  const path = dir ?? mkdtempSync(join(tmpdir(), 'polis-vset-'));
  if (!dir) dirs.push(path);
  const db = openLedgerDatabase({ path: join(path, 'db') });
  dbs.push(db);
  const state = await openStateStore({ db, commitment: 'smt' });
  const chain = new ChainStore(db);
  await writeLedgerGenesis(state, chain, GENESIS, 0, GENESIS_SET);
  const common = createLedgerCommon(BigInt(GENESIS.chainId));
  const mempool = new Mempool({
    common,
    nonceOf: (a) => state.getAccount(a)?.nonce ?? 0n,
    balanceOf: (a) => state.getAccount(a)?.balance ?? 0n,
    blockGasLimit: BigInt(GENESIS.gasLimit),
  });
  const app = new LedgerApp({
    params: {
      ledgerId: utf8ToBytes(GENESIS.id),
      chainId: BigInt(GENESIS.chainId),
      gasLimit: BigInt(GENESIS.gasLimit),
      maxBlockTxs: GENESIS.maxBlockTxs,
      maxBlockBytes: GENESIS.maxBlockBytes,
    },
    state,
    chain,
    mempool,
    executor: await BlockExecutor.create({ common, committed: state }),
    validators: GENESIS_SET,
    ...(view ? { wantedValidators: () => view.wanted } : {}),
  });
  return { app, dir: path, db };
}

/** A decided block as consensus hands it over; `save` stores the commit as given. */
function decided(app: LedgerApp, height: number, value: Uint8Array): CommittedBlock {
  const valueId = app.valueIdOf(value);
  return {
    height,
    value,
    proposal: { height, round: 0, polRound: -1, value, valueId, validator: 0, signature: new Uint8Array(64) },
    certificate: { height, round: 0, valueId, signatures: [] },
  };
}

const propose = (app: LedgerApp, height: number, time = height * 1000) =>
  app.prepareProposal({ height, round: 0, time, proposer: height % 4 });
const valid = (app: LedgerApp, height: number, value: Uint8Array) => app.processProposal({ height, round: 0, value });
const hex = (s: ValidatorSet) => bytesToHex(s.hash);

describe('validator updates in app ledger blocks', () => {
  it('default: without a change the block keeps its set; with one, the proposer includes it and it applies from the next height', async () => {
    const view: { wanted?: WantedValidators } = { wanted: { epoch: 3, validators: [0, 1, 2, 3].map(member) } };
    const { app: a } = await openApp(view);
    const { app: b } = await openApp(view);

    // The record names the genesis set (a newer epoch, the same members): nothing to change.
    const plain = await propose(a, 1);
    expect(decodeBlock(plain).validatorUpdate).toBeUndefined();
    expect(bytesToHex(decodeBlock(plain).header.nextValidatorsHash)).toBe(hex(GENESIS_SET));
    expect(await valid(b, 1, plain)).toBe(true);
    await a.save(decided(a, 1, plain));
    await b.save(decided(b, 1, plain));

    view.wanted = { epoch: 9, validators: SWAPPED };
    const value = await propose(a, 2);
    const block = decodeBlock(value);
    const next = createValidatorSet(SWAPPED);
    expect(block.validatorUpdate).toEqual({ epoch: 9, validators: SWAPPED });
    expect(bytesToHex(block.header.validatorsHash)).toBe(hex(GENESIS_SET));
    expect(bytesToHex(block.header.nextValidatorsHash)).toBe(hex(next));
    expect(await valid(b, 2, value)).toBe(true);
    await a.save(decided(a, 2, value));
    await b.save(decided(b, 2, value));

    for (const app of [a, b]) {
      expect(hex(app.validatorSet(2))).toBe(hex(GENESIS_SET));
      expect(hex(app.validatorSet(3))).toBe(hex(next));
      expect(app.currentValidators.epoch).toBe(9);
    }
    // Applied: the next block has no update, is certified by the new set, and the new member may propose it.
    const after = decodeBlock(await a.prepareProposal({ height: 3, round: 0, time: 3000, proposer: 3 }));
    expect(after.validatorUpdate).toBeUndefined();
    expect(bytesToHex(after.header.validatorsHash)).toBe(hex(next));
    expect(bytesToHex(after.header.proposer)).toBe(bytesToHex(keys[4] as Uint8Array));
    expect(await valid(b, 3, encodeBlock(after))).toBe(true);
  });

  it('error: a validator refuses an update its view of the system ledger does not want, or a malformed one', async () => {
    const proposerView: { wanted?: WantedValidators } = { wanted: { epoch: 9, validators: SWAPPED } };
    const validatorView: { wanted?: WantedValidators } = { wanted: { epoch: 0, validators: [0, 1, 2, 3].map(member) } };
    const { app: a } = await openApp(proposerView);
    const { app: b } = await openApp(validatorView);
    const value = await propose(a, 1);
    expect(decodeBlock(value).validatorUpdate?.epoch).toBe(9);

    // The validator has not seen the change yet (or saw another one): nil, until its view agrees.
    expect(await valid(b, 1, value)).toBe(false);
    validatorView.wanted = { epoch: 9, validators: [0, 1, 4, 2].map(member) };
    expect(await valid(b, 1, value)).toBe(false);
    validatorView.wanted = { epoch: 10, validators: SWAPPED };
    expect(await valid(b, 1, value)).toBe(false);

    // Forged blocks: the header's next hash does not match the update; an update without its hash.
    validatorView.wanted = { epoch: 9, validators: SWAPPED };
    const block = decodeBlock(value);
    const wrongHash = encodeBlock({ ...block, header: { ...block.header, nextValidatorsHash: block.header.validatorsHash } });
    const { app: c } = await openApp(validatorView);
    expect(await valid(c, 1, wrongHash)).toBe(false);
    const hidden = encodeBlock({ header: block.header, txs: block.txs });
    expect(await valid(c, 1, hidden)).toBe(false);
    // The honest block passes once the view agrees.
    expect(await valid(c, 1, value)).toBe(true);
  });

  it('behavior: a decided update applies even when this node already saw a later change; an old epoch is never applied again', async () => {
    const proposerView: { wanted?: WantedValidators } = { wanted: { epoch: 9, validators: SWAPPED } };
    const { app: a } = await openApp(proposerView);
    const laterView: { wanted?: WantedValidators } = { wanted: { epoch: 12, validators: [0, 1, 3, 4].map(member) } };
    const { app: b, dir, db } = await openApp(laterView);
    const value = await propose(a, 1);
    await a.save(decided(a, 1, value));
    // b never validated it and its view disagrees, but the block is certified: it is applied.
    await b.save(decided(b, 1, value));
    expect(hex(b.validatorSet(2))).toBe(hex(createValidatorSet(SWAPPED)));

    // Once epoch 9 is applied, it is not news: no proposer brings it again, and a block that does is refused.
    proposerView.wanted = { epoch: 9, validators: [0, 1, 2, 3].map(member) };
    const next = decodeBlock(await propose(a, 2));
    expect(next.validatorUpdate).toBeUndefined();
    const back = [0, 1, 2, 3].map(member);
    const replayed = encodeBlock({
      ...next,
      header: { ...next.header, nextValidatorsHash: GENESIS_SET.hash },
      validatorUpdate: { epoch: 9, validators: back },
    });
    expect(await valid(a, 2, replayed)).toBe(false);
    proposerView.wanted = { epoch: 11, validators: back };
    const forward = encodeBlock({
      ...next,
      header: { ...next.header, nextValidatorsHash: GENESIS_SET.hash },
      validatorUpdate: { epoch: 11, validators: back },
    });
    expect(await valid(a, 2, forward), 'the same block with the epoch the view wants passes').toBe(true);

    // After a restart the set history comes back from the chain.
    dbs.splice(dbs.indexOf(db), 1);
    db.close();
    const reopened = await openApp(laterView, dir);
    expect(hex(reopened.app.validatorSet(1))).toBe(hex(GENESIS_SET));
    expect(hex(reopened.app.validatorSet(2))).toBe(hex(createValidatorSet(SWAPPED)));
    expect(reopened.app.currentValidators.epoch).toBe(9);
    expect(
      decodeBlock(await reopened.app.prepareProposal({ height: 2, round: 0, time: 5000, proposer: 0 })).validatorUpdate,
    ).toEqual({
      epoch: 12,
      validators: [0, 1, 3, 4].map(member),
    });
  });

  it('error: a ledger no system ledger governs never changes its set', async () => {
    const { app: a } = await openApp({ wanted: { epoch: 9, validators: SWAPPED } });
    const { app: fixed } = await openApp(null);
    const value = await propose(a, 1);
    expect(decodeBlock(value).validatorUpdate).toBeDefined();
    expect(await valid(fixed, 1, value)).toBe(false);
    expect(decodeBlock(await propose(fixed, 1)).validatorUpdate).toBeUndefined();
  });
});
