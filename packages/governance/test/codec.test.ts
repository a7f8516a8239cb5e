/**
 * Codecs: every body and action round-trips, the state round-trips, and malformed bytes
 * (truncated, extra fields, wrong lengths, random) throw typed errors naming the field, never
 * anything else. Random inputs come from a seeded PRNG, so a failure replays from its seed.
 */
import { bytesToHex, concatBytes, type RLPItem, rlpDecode, rlpEncode, seededRandom, utf8ToBytes } from '@polis/core';
import { describe, expect, it } from 'vitest';
import { refusal } from '../src/errors.js';
import {
  type Action,
  decodeGovTx,
  decodeState,
  encodeGovTx,
  encodeState,
  type GovBody,
  GovernanceError,
  GovernanceErrorCode,
  GovernanceTxError,
  GovernanceTxErrorCode,
  type GovTx,
  ReceiptErrorCode,
  type StatePair,
  signGovTxEd25519,
  signGovTxSecp256k1,
  stateRoot,
} from '../src/index.js';
import { ADMINS, account, Chain, DAY_MS, NODES, nodeId, richChain, STANDARD, SYSTEM_CHAIN_ID, T0 } from './helpers.js';

const [N0, N1] = NODES;
const someone = account('someone').address;

const ACTIONS: Action[] = [
  { type: 'admitNode', publicKey: N0.publicKey },
  { type: 'suspendNode', publicKey: N0.publicKey },
  { type: 'removeNode', publicKey: N0.publicKey },
  { type: 'approveApp', appId: 'shop' },
  { type: 'suspendApp', appId: 'shop' },
  { type: 'resumeApp', appId: 'shop' },
  { type: 'archiveApp', appId: 'shop' },
  { type: 'setAppValidators', appId: 'shop', validators: [N0.publicKey, N1.publicKey] },
  { type: 'setPlan', name: 'gold', limits: STANDARD },
  { type: 'setPlan', name: 'gold', limits: null },
  { type: 'addAdmin', address: someone },
  { type: 'removeAdmin', address: someone },
  { type: 'setThreshold', threshold: 3 },
  { type: 'grantRegulator', address: someone, apps: ['shop', 'other'] },
  { type: 'grantRegulator', address: someone, apps: 'all' },
  { type: 'revokeRegulator', address: someone },
];

const BODIES: GovBody[] = [
  ...ACTIONS.map((action): GovBody => ({ type: 'propose', action, expiresAt: T0 + DAY_MS })),
  { type: 'approve', proposalId: 1 },
  {
    type: 'requestApp',
    id: 'shop',
    chainId: 100,
    validators: [N0.publicKey],
    observers: [N1.publicKey],
    plan: 'free',
    keyMode: 'trust',
    accessPolicy: 'allowlist',
  },
  { type: 'putParticipant', appId: 'shop', address: someone, role: 'user' },
  { type: 'removeParticipant', appId: 'shop', address: someone },
  {
    type: 'putApiKey',
    appId: 'shop',
    key: {
      id: '0123456789abcdef',
      appId: 'shop',
      label: 'label ✓',
      salt: 'ab'.repeat(16),
      hash: 'cd'.repeat(32),
      scopes: ['read', 'write', 'admin', 'regulator'],
      origins: ['https://shop.example'],
      ips: ['203.0.113.9', '::1'],
      methods: ['eth_call', 'eth_sendRawTransaction'],
      contracts: [someone],
      limits: { requestsPerSec: 1, txPerSec: 2, bytesInPerSec: 3, bytesOutPerSec: 4 },
      createdAt: T0,
    },
  },
  { type: 'revokeApiKey', appId: 'shop', keyId: '0123456789abcdef', at: T0 + 1 },
];

const node = nodeId('codec-node');
const NODE_APPLY: GovBody = {
  type: 'nodeApply',
  publicKey: node.publicKey,
  name: 'codec node',
  addrs: ['/ip4/198.51.100.1/tcp/4001', '/dns4/x.example/tcp/443/wss'],
  operator: someone,
  region: 'eu-central',
};

function signAll(): GovTx[] {
  const txs = BODIES.map((body, i) => signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce: i, body }, ADMINS[0].privateKey));
  txs.push(signGovTxEd25519({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body: NODE_APPLY }, node.seed));
  return txs;
}

/** The error `fn` throws, checked to be one of ours; returns it for more checks. */
function caught(fn: () => unknown, what: string): GovernanceTxError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GovernanceTxError) return err;
    throw new Error(`${what}: expected a GovernanceTxError, got ${err instanceof Error ? err.stack : String(err)}`);
  }
  throw new Error(`${what}: decoded without an error`);
}

/** Re-encodes a transaction's RLP after `edit` changes its decoded items. */
function edited(tx: GovTx, edit: (items: RLPItem[]) => void): Uint8Array {
  const items = rlpDecode(encodeGovTx(tx)) as RLPItem[];
  edit(items);
  return rlpEncode(items as never);
}

describe('transaction codec', () => {
  it('default: every body and action round-trips, and re-encodes to the same bytes', () => {
    const txs = signAll();
    expect(new Set(txs.map((t) => (t.body.type === 'propose' ? t.body.action.type : t.body.type))).size).toBe(
      14 + BODIES.length - ACTIONS.length + 1,
    );
    for (const tx of txs) {
      const label = tx.body.type === 'propose' ? `propose ${tx.body.action.type}` : tx.body.type;
      const bytes = encodeGovTx(tx);
      const decoded = decodeGovTx(bytes);
      expect(decoded, label).toEqual(tx);
      expect(bytesToHex(encodeGovTx(decoded)), label).toBe(bytesToHex(bytes));
    }
  });

  it('error: every truncation of every transaction throws a GovernanceTxError', () => {
    for (const tx of signAll()) {
      const bytes = encodeGovTx(tx);
      for (let n = 0; n < bytes.length; n++) caught(() => decodeGovTx(bytes.subarray(0, n)), `${tx.body.type} cut at ${n}`);
      // Trailing bytes are refused too.
      expect(caught(() => decodeGovTx(concatBytes(bytes, Uint8Array.of(0))), 'trailing').code).toBe(
        GovernanceTxErrorCode.MALFORMED,
      );
    }
  });

  it('error: extra fields, at the top, in a body and in an action, name where they are', () => {
    const [proposeTx] = signAll() as [GovTx];
    const extraTop = edited(proposeTx, (items) => items.push(new Uint8Array(0)));
    expect(caught(() => decodeGovTx(extraTop), 'top').type).toMatchObject({ code: GovernanceTxErrorCode.MALFORMED, field: 'tx' });
    const extraBody = edited(proposeTx, (items) => (items[4] as RLPItem[]).push(new Uint8Array(0)));
    expect(caught(() => decodeGovTx(extraBody), 'body').type).toMatchObject({ field: 'tx.body' });
    const extraAction = edited(proposeTx, (items) => ((items[4] as RLPItem[])[1] as RLPItem[]).push(new Uint8Array(0)));
    expect(caught(() => decodeGovTx(extraAction), 'action').type).toMatchObject({ field: 'tx.body.action' });
  });

  it('error: wrong lengths and values name the field', () => {
    const tx = signGovTxSecp256k1(
      {
        chainId: SYSTEM_CHAIN_ID,
        nonce: 0,
        body: { type: 'propose', action: { type: 'addAdmin', address: someone }, expiresAt: 5 },
      },
      ADMINS[0].privateKey,
    );
    const cases: Array<[string, (items: RLPItem[]) => void, string, GovernanceTxErrorCode?]> = [
      ['19-byte address', (i) => (((i[4] as RLPItem[])[1] as RLPItem[])[1] = new Uint8Array(19)), 'tx.body.action.address'],
      ['64-byte secp256k1 signature', (i) => (i[5] = new Uint8Array(64)), 'tx.signature'],
      ['signer kind 2', (i) => (i[2] = Uint8Array.of(2)), 'tx.signerKind'],
      ['chain id 0', (i) => (i[1] = new Uint8Array(0)), 'tx.chainId'],
      ['non-canonical nonce', (i) => (i[3] = Uint8Array.of(0, 1)), 'tx.nonce'],
      ['unknown body tag', (i) => ((i[4] as RLPItem[])[0] = Uint8Array.of(99)), 'tx.body.type'],
      ['unknown action tag', (i) => (((i[4] as RLPItem[])[1] as RLPItem[])[0] = Uint8Array.of(99)), 'tx.body.action.type'],
      ['body is bytes', (i) => (i[4] = new Uint8Array(3)), 'tx.body'],
      ['version 2', (i) => (i[0] = Uint8Array.of(2)), '', GovernanceTxErrorCode.UNSUPPORTED_VERSION],
    ];
    for (const [name, edit, field, code = GovernanceTxErrorCode.MALFORMED] of cases) {
      const err = caught(() => decodeGovTx(edited(tx, edit)), name);
      expect(err.code, name).toBe(code);
      if (field) expect((err.type as { field: string }).field, name).toBe(field);
    }
  });

  it('error: strings must be valid UTF-8', () => {
    const requestTx = signAll().find((t) => t.body.type === 'requestApp') as GovTx;
    // The body is [tag, id, chainId, validators, observers, plan, keyMode, accessPolicy].
    const bad = edited(requestTx, (i) => ((i[4] as RLPItem[])[5] = Uint8Array.of(0xff, 0xfe)));
    expect(caught(() => decodeGovTx(bad), 'utf8').type).toMatchObject({ field: 'tx.body.plan' });
  });

  it('error: random bytes (seeded) throw a GovernanceTxError, never anything else', () => {
    const seed = 20250101;
    const random = seededRandom(seed);
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 160) }, () => Math.floor(random() * 256));
      // A random list header makes RLP more likely to parse, to reach the field checks.
      if (i % 2 === 0 && bytes.length > 1) bytes[0] = 0xc0 + Math.min(bytes.length - 1, 55);
      try {
        decodeGovTx(bytes);
      } catch (err) {
        if (!(err instanceof GovernanceTxError)) throw new Error(`seed=${seed} case ${i} ${bytesToHex(bytes)}: ${String(err)}`);
      }
    }
  });

  it('behavior: mutated transactions (seeded) either decode to the same bytes or throw a GovernanceTxError', () => {
    const seed = 7;
    const random = seededRandom(seed);
    const txs = signAll().map(encodeGovTx);
    let decodedCount = 0;
    for (let i = 0; i < 3000; i++) {
      const base = txs[i % txs.length] as Uint8Array;
      const bytes = Uint8Array.from(base);
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      let decoded: GovTx | undefined;
      try {
        decoded = decodeGovTx(bytes);
      } catch (err) {
        if (!(err instanceof GovernanceTxError)) throw new Error(`seed=${seed} case ${i}: ${String(err)}`);
        continue;
      }
      decodedCount++;
      // Whatever decodes is canonical: it encodes back to exactly the bytes it came from.
      expect(bytesToHex(encodeGovTx(decoded)), `seed=${seed} case ${i}`).toBe(bytesToHex(bytes));
    }
    // Flipping signature bytes leaves a decodable transaction, so some cases must reach the check above.
    expect(decodedCount).toBeGreaterThan(100);
  });

  it('error: encoding a hand-built malformed transaction throws MALFORMED naming the field', () => {
    const [tx] = signAll() as [GovTx];
    const err = caught(() => encodeGovTx({ ...tx, nonce: -1 }), 'negative nonce');
    expect(err.type).toMatchObject({ code: GovernanceTxErrorCode.MALFORMED, field: 'tx.nonce' });
    const noBody = caught(() => encodeGovTx({ ...tx, body: { type: 'fly' } as never }), 'unknown body');
    expect(noBody.type).toMatchObject({ field: 'tx.body.type' });
    const ed = caught(() => encodeGovTx({ ...tx, signerKind: 'ed25519' }), 'signature length');
    expect(ed.type).toMatchObject({ field: 'tx.signature' });
  });
});

describe('state codec', () => {
  it('default: a state with every registry filled round-trips, with the same root', () => {
    const state = richChain().state;
    expect(state.apps.size).toBeGreaterThanOrEqual(3);
    expect(state.apiKeys.size).toBe(2);
    expect([...state.proposals.values()].map((p) => p.status)).toEqual(expect.arrayContaining(['open', 'executed', 'failed']));
    const pairs = encodeState(state);
    const decoded = decodeState(pairs);
    expect(decoded).toEqual(state);
    expect(encodeState(decoded)).toEqual(pairs);
    expect(bytesToHex(stateRoot(decoded))).toBe(bytesToHex(stateRoot(state)));
  });

  it('default: the pairs are sorted by key, and each prefix is used', () => {
    const pairs = encodeState(richChain().state);
    for (let i = 1; i < pairs.length; i++) {
      expect(
        Buffer.compare(Buffer.from(pairs[i - 1]?.[0] as Uint8Array), Buffer.from(pairs[i]?.[0] as Uint8Array)),
        `pair ${i}`,
      ).toBe(-1);
    }
    expect(new Set(pairs.map(([k]) => k[0]))).toEqual(
      new Set([0x00, 0x01, 0x02, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]),
    );
  });

  function stateError(pairs: StatePair[], what: string): GovernanceError {
    try {
      decodeState(pairs);
    } catch (err) {
      if (err instanceof GovernanceError && err.code === GovernanceErrorCode.INVALID_STATE) return err;
      throw new Error(`${what}: expected INVALID_STATE, got ${err instanceof Error ? err.stack : String(err)}`);
    }
    throw new Error(`${what}: decoded without an error`);
  }

  it('error: missing, reordered, unknown and mismatched entries throw INVALID_STATE', () => {
    const pairs = encodeState(richChain().state);
    const at = (prefix: number) => pairs.findIndex(([k]) => k[0] === prefix);
    const without = (i: number) => pairs.filter((_, j) => j !== i);
    expect(stateError(without(at(0x00)), 'no meta').message).toMatch(/meta is missing/);
    stateError(without(at(0x01)), 'no alliance');
    stateError([...pairs].reverse(), 'reversed');
    stateError([...pairs, pairs.at(-1) as StatePair], 'duplicate');
    stateError([...pairs, [Uint8Array.of(0x99), new Uint8Array(1)]], 'unknown prefix');
    const nodeAt = at(0x10);
    const [nodeKey, nodeValue] = pairs[nodeAt] as StatePair;
    const otherKey = Uint8Array.from(nodeKey);
    otherKey[5] = (otherKey[5] as number) ^ 1;
    stateError(
      pairs
        .map((p, i) => (i === nodeAt ? [otherKey, nodeValue] : p))
        .sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0]))) as StatePair[],
      'node under another key',
    );
    stateError(
      pairs.map((p, i) => (i === nodeAt ? [nodeKey, concatBytes(nodeValue, Uint8Array.of(1))] : p)) as StatePair[],
      'trailing bytes',
    );
    stateError([...pairs.slice(0, 3), ['x' as never, new Uint8Array()] as never], 'not bytes');
  });

  it('error: dangling references throw INVALID_STATE (a key of an unknown app)', () => {
    const pairs = encodeState(richChain().state);
    // Drop the app "shop": its participants and keys then point nowhere.
    const shopKey = concatBytes(Uint8Array.of(0x11), utf8ToBytes('shop'));
    const err = stateError(
      pairs.filter(([k]) => bytesToHex(k) !== bytesToHex(shopKey)),
      'no shop',
    );
    expect(err.message).toMatch(/unknown/);
  });

  it('behavior: mutated state values (seeded) decode or throw INVALID_STATE, never anything else', () => {
    const seed = 99;
    const random = seededRandom(seed);
    const pairs = encodeState(richChain().state);
    for (let i = 0; i < 1500; i++) {
      const j = Math.floor(random() * pairs.length);
      const [k, v] = pairs[j] as StatePair;
      const value = Uint8Array.from(v);
      if (value.length > 0) value[Math.floor(random() * value.length)] = Math.floor(random() * 256);
      try {
        decodeState(pairs.map((p, x) => (x === j ? [k, value] : p)));
      } catch (err) {
        if (!(err instanceof GovernanceError)) throw new Error(`seed=${seed} case ${i}: ${String(err)}`);
      }
    }
  });

  it('behavior: a long refusal is cut so that it always fits in a stored proposal', () => {
    const long = refusal(ReceiptErrorCode.INVALID_ACTION, '💥'.repeat(2000));
    expect(utf8ToBytes(long.message).length).toBeLessThanOrEqual(1024);
    expect(long.message.endsWith('...')).toBe(true);
    // And the state codec accepts it inside a failed proposal.
    const chain = Chain.genesis({ threshold: 2 });
    chain.send(ADMINS[0], { type: 'propose', action: { type: 'setThreshold', threshold: 3 }, expiresAt: chain.time + DAY_MS });
    const p = chain.state.proposals.get(1);
    const failed = { ...p, status: 'failed', error: long, closedAt: 2 } as never;
    const state = { ...chain.state, proposals: new Map([[1, failed]]) };
    expect(decodeState(encodeState(state)).proposals.get(1)).toEqual(failed);
  });
});
