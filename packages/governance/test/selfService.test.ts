/**
 * Self-service without a vote: app requests, participants and API keys (owner only), and node
 * applications (signed by the node's own key).
 */
import { describe, expect, it } from 'vitest';
import {
  type ApiKeyRecord,
  apiKeysOf,
  type GovBody,
  GovernanceTxErrorCode,
  type GovReceipt,
  getApiKey,
  getApp,
  getNode,
  listApps,
  PENDING_APPS_MAX,
  PENDING_NODES_MAX,
  participantsOf,
  ReceiptErrorCode,
  roleOf,
} from '../src/index.js';
import {
  ADMINS,
  account,
  appRequest,
  Chain,
  DAY_MS,
  expectOk,
  NODES,
  nodeId,
  OWNER,
  STRANGER,
  SYSTEM_CHAIN_ID,
  T0,
  thrownCode,
} from './helpers.js';

const [N0, N1, N2, N3] = NODES;

function refusedWith(receipt: GovReceipt, code: ReceiptErrorCode): void {
  expect(receipt.status, JSON.stringify(receipt)).toBe('failed');
  expect(receipt.error?.code).toBe(code);
  expect(receipt.events).toEqual([]);
}

/** A chain (k = 1) with the active app "shop" owned by OWNER. */
function withApp(): Chain {
  const chain = Chain.genesis({ threshold: 1 });
  expectOk(chain.send(OWNER, appRequest('shop', 100)).receipt);
  expectOk(
    chain.send(ADMINS[0], { type: 'propose', action: { type: 'approveApp', appId: 'shop' }, expiresAt: chain.time + DAY_MS })
      .receipt,
  );
  return chain;
}

/** A key record with the gateway's field names. */
function keyRecord(id: string, appId = 'shop', extra: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id,
    appId,
    label: 'ci',
    salt: '00112233445566778899aabbccddeeff',
    hash: 'ab'.repeat(32),
    scopes: ['read', 'write'],
    origins: ['https://shop.example'],
    ips: [],
    methods: [],
    contracts: [],
    limits: { requestsPerSec: 5 },
    createdAt: T0,
    ...extra,
  };
}

describe('requestApp', () => {
  it('default: anyone requests an app, becomes its owner, and it waits for approval (app-requested)', () => {
    const chain = Chain.genesis();
    const sent = chain.send(
      OWNER,
      appRequest('shop', 100, { observers: [N2.publicKey], keyMode: 'trust', accessPolicy: 'allowlist' }),
    );
    expect(sent.receipt).toEqual({ status: 'ok', events: [{ type: 'app-requested', appId: 'shop' }] });
    expect(getApp(chain.state, 'shop')).toEqual({
      id: 'shop',
      chainId: 100,
      owner: OWNER.address,
      validators: [N0.publicKey, N1.publicKey],
      observers: [N2.publicKey],
      plan: 'free',
      keyMode: 'trust',
      accessPolicy: 'allowlist',
      status: 'pending',
      validatorsFrom: 1,
      genesisValidators: [N0.publicKey, N1.publicKey],
    });
    expect(listApps(chain.state, { owner: OWNER.address }).map((a) => a.id)).toEqual(['shop']);
  });

  it('behavior: with autoApproveApps the app is active at once (app-activated)', () => {
    const chain = Chain.genesis({ policy: { autoApproveApps: true } });
    const sent = chain.send(OWNER, appRequest('shop', 100));
    expect(sent.receipt.events).toEqual([
      { type: 'app-requested', appId: 'shop' },
      { type: 'app-activated', appId: 'shop' },
    ]);
    expect(getApp(chain.state, 'shop')?.status).toBe('active');
  });

  it('error: a taken id (DUPLICATE_APP), a taken chain id or the system one (DUPLICATE_CHAIN_ID)', () => {
    const chain = Chain.genesis();
    expectOk(chain.send(OWNER, appRequest('shop', 100)).receipt);
    refusedWith(chain.send(STRANGER, appRequest('shop', 101)).receipt, ReceiptErrorCode.DUPLICATE_APP);
    const dup = chain.send(STRANGER, appRequest('other', 100)).receipt;
    refusedWith(dup, ReceiptErrorCode.DUPLICATE_CHAIN_ID);
    expect(dup.error?.message).toMatch(/used by app "shop"/);
    refusedWith(chain.send(STRANGER, appRequest('other', SYSTEM_CHAIN_ID)).receipt, ReceiptErrorCode.DUPLICATE_CHAIN_ID);
  });

  it('error: an unknown plan (UNKNOWN_PLAN), validators or observers that are not active nodes', () => {
    const chain = Chain.genesis({ threshold: 1 });
    const noPlan = chain.send(OWNER, appRequest('shop', 100, { plan: 'platinum' })).receipt;
    refusedWith(noPlan, ReceiptErrorCode.UNKNOWN_PLAN);
    expect(noPlan.error?.message).toMatch(/\[free, standard\]/);
    const ghost = nodeId('ghost').publicKey;
    refusedWith(chain.send(OWNER, appRequest('shop', 100, { validators: [ghost] })).receipt, ReceiptErrorCode.UNKNOWN_NODE);
    chain.send(ADMINS[0], {
      type: 'propose',
      action: { type: 'suspendNode', publicKey: N3.publicKey },
      expiresAt: chain.time + DAY_MS,
    });
    refusedWith(
      chain.send(OWNER, appRequest('shop', 100, { validators: [N3.publicKey] })).receipt,
      ReceiptErrorCode.NODE_NOT_ACTIVE,
    );
    refusedWith(
      chain.send(OWNER, appRequest('shop', 100, { observers: [N3.publicKey] })).receipt,
      ReceiptErrorCode.NODE_NOT_ACTIVE,
    );
    expect(chain.state.apps.size).toBe(0);
  });

  it('error: a node both validator and observer, a bad id, no validators (MALFORMED, never included)', () => {
    const chain = Chain.genesis();
    const bad: Array<[string, GovBody]> = [
      ['validator and observer', appRequest('shop', 100, { observers: [N0.publicKey] })],
      [
        'validator and observer, in another case',
        appRequest('shop', 100, { observers: [`0x${N0.publicKey.slice(2).toUpperCase()}`] }),
      ],
      ['upper-case id', appRequest('Shop', 100)],
      ['id starting with a digit', appRequest('1shop', 100)],
      ['64-character id', appRequest(`a${'b'.repeat(63)}`, 100)],
      ['no validators', appRequest('shop', 100, { validators: [] })],
      ['chain id 0', appRequest('shop', 0)],
      ['unknown key mode', appRequest('shop', 100, { keyMode: 'magic' as never })],
    ];
    for (const [name, body] of bad)
      expect(
        thrownCode(() => chain.send(OWNER, body)),
        name,
      ).toBe(GovernanceTxErrorCode.MALFORMED);
  });

  it(`error: at most ${PENDING_APPS_MAX} requests wait for approval (LIMIT_REACHED)`, () => {
    const chain = Chain.genesis();
    for (let i = 0; i < PENDING_APPS_MAX; i++) expectOk(chain.send(OWNER, appRequest(`app-${i}`, 1000 + i)).receipt);
    refusedWith(chain.send(OWNER, appRequest('one-more', 999)).receipt, ReceiptErrorCode.LIMIT_REACHED);
  });
});

describe('participants', () => {
  it('default: the owner puts, changes and removes participants (participants-changed)', () => {
    const chain = withApp();
    const alice = account('alice');
    const put = chain.send(OWNER, { type: 'putParticipant', appId: 'shop', address: alice.address, role: 'user' });
    expect(put.receipt.events).toEqual([{ type: 'participants-changed', appId: 'shop' }]);
    expect(roleOf(chain.state, 'shop', alice.address)).toBe('user');
    chain.send(OWNER, { type: 'putParticipant', appId: 'shop', address: alice.address, role: 'operator' });
    expect(participantsOf(chain.state, 'shop')).toEqual([{ address: alice.address, role: 'operator' }]);
    const removed = chain.send(OWNER, { type: 'removeParticipant', appId: 'shop', address: alice.address });
    expect(removed.receipt.events).toEqual([{ type: 'participants-changed', appId: 'shop' }]);
    expect(participantsOf(chain.state, 'shop')).toEqual([]);
    expect(chain.state.participants.has('shop'), 'an app without participants has no entry').toBe(false);
  });

  it('error: only the owner (NOT_OWNER), of a known (UNKNOWN_APP), non-archived (APP_ARCHIVED) app', () => {
    const chain = withApp();
    const alice = account('alice').address;
    const notOwner = chain.send(STRANGER, { type: 'putParticipant', appId: 'shop', address: alice, role: 'user' }).receipt;
    refusedWith(notOwner, ReceiptErrorCode.NOT_OWNER);
    expect(notOwner.error?.message).toMatch(/sign with the owner's key/);
    refusedWith(
      chain.send(OWNER, { type: 'putParticipant', appId: 'nope', address: alice, role: 'user' }).receipt,
      ReceiptErrorCode.UNKNOWN_APP,
    );
    refusedWith(
      chain.send(OWNER, { type: 'removeParticipant', appId: 'shop', address: alice }).receipt,
      ReceiptErrorCode.UNKNOWN_PARTICIPANT,
    );
    chain.send(ADMINS[0], { type: 'propose', action: { type: 'archiveApp', appId: 'shop' }, expiresAt: chain.time + DAY_MS });
    refusedWith(
      chain.send(OWNER, { type: 'putParticipant', appId: 'shop', address: alice, role: 'user' }).receipt,
      ReceiptErrorCode.APP_ARCHIVED,
    );
  });

  it('error: a role must be a short lower-case word (MALFORMED)', () => {
    const chain = withApp();
    for (const role of ['', 'Admin', 'a'.repeat(33), 'has space']) {
      expect(
        thrownCode(() => chain.send(OWNER, { type: 'putParticipant', appId: 'shop', address: STRANGER.address, role })),
        role,
      ).toBe(GovernanceTxErrorCode.MALFORMED);
    }
  });
});

describe('API keys', () => {
  it('default: the owner puts a key, replaces it, and revokes it (keys-changed)', () => {
    const chain = withApp();
    const put = chain.send(OWNER, { type: 'putApiKey', appId: 'shop', key: keyRecord('0123456789abcdef') });
    expect(put.receipt.events).toEqual([{ type: 'keys-changed', appId: 'shop' }]);
    expect(apiKeysOf(chain.state, 'shop')).toEqual([keyRecord('0123456789abcdef')]);
    chain.send(OWNER, { type: 'putApiKey', appId: 'shop', key: keyRecord('0123456789abcdef', 'shop', { label: 'renamed' }) });
    expect(getApiKey(chain.state, '0123456789abcdef')?.label).toBe('renamed');
    const revokedAt = chain.time;
    const revoke = chain.send(OWNER, { type: 'revokeApiKey', appId: 'shop', keyId: '0123456789abcdef', at: revokedAt });
    expect(revoke.receipt.events).toEqual([{ type: 'keys-changed', appId: 'shop' }]);
    expect(getApiKey(chain.state, '0123456789abcdef')?.revokedAt).toBe(revokedAt);
  });

  it('error: a revoked key stays revoked (KEY_REVOKED); unknown keys (UNKNOWN_KEY); not the owner (NOT_OWNER)', () => {
    const chain = withApp();
    chain.send(OWNER, { type: 'putApiKey', appId: 'shop', key: keyRecord('0123456789abcdef') });
    refusedWith(
      chain.send(STRANGER, { type: 'putApiKey', appId: 'shop', key: keyRecord('fedcba9876543210') }).receipt,
      ReceiptErrorCode.NOT_OWNER,
    );
    refusedWith(
      chain.send(STRANGER, { type: 'revokeApiKey', appId: 'shop', keyId: '0123456789abcdef', at: T0 }).receipt,
      ReceiptErrorCode.NOT_OWNER,
    );
    refusedWith(
      chain.send(OWNER, { type: 'revokeApiKey', appId: 'shop', keyId: 'fedcba9876543210', at: T0 }).receipt,
      ReceiptErrorCode.UNKNOWN_KEY,
    );
    expectOk(chain.send(OWNER, { type: 'revokeApiKey', appId: 'shop', keyId: '0123456789abcdef', at: T0 }).receipt);
    refusedWith(
      chain.send(OWNER, { type: 'revokeApiKey', appId: 'shop', keyId: '0123456789abcdef', at: T0 }).receipt,
      ReceiptErrorCode.KEY_REVOKED,
    );
    refusedWith(
      chain.send(OWNER, { type: 'putApiKey', appId: 'shop', key: keyRecord('0123456789abcdef') }).receipt,
      ReceiptErrorCode.KEY_REVOKED,
    );
  });

  it('error: a key id of another app (DUPLICATE_KEY), revoking it through this app (UNKNOWN_KEY)', () => {
    const chain = withApp();
    const other = account('other-owner');
    expectOk(chain.send(other, appRequest('other', 101)).receipt);
    chain.send(OWNER, { type: 'putApiKey', appId: 'shop', key: keyRecord('0123456789abcdef') });
    refusedWith(
      chain.send(other, { type: 'putApiKey', appId: 'other', key: keyRecord('0123456789abcdef', 'other') }).receipt,
      ReceiptErrorCode.DUPLICATE_KEY,
    );
    refusedWith(
      chain.send(other, { type: 'revokeApiKey', appId: 'other', keyId: '0123456789abcdef', at: T0 }).receipt,
      ReceiptErrorCode.UNKNOWN_KEY,
    );
  });

  it('behavior: on an archived app keys cannot be added (APP_ARCHIVED) but can still be revoked', () => {
    const chain = withApp();
    chain.send(OWNER, { type: 'putApiKey', appId: 'shop', key: keyRecord('0123456789abcdef') });
    chain.send(ADMINS[0], { type: 'propose', action: { type: 'archiveApp', appId: 'shop' }, expiresAt: chain.time + DAY_MS });
    refusedWith(
      chain.send(OWNER, { type: 'putApiKey', appId: 'shop', key: keyRecord('fedcba9876543210') }).receipt,
      ReceiptErrorCode.APP_ARCHIVED,
    );
    expectOk(chain.send(OWNER, { type: 'revokeApiKey', appId: 'shop', keyId: '0123456789abcdef', at: T0 }).receipt);
  });

  it('error: malformed key records are never included (MALFORMED)', () => {
    const chain = withApp();
    const bad: Array<[string, ApiKeyRecord, string?]> = [
      ['appId of another app', keyRecord('0123456789abcdef', 'other')],
      ['revokedAt set', keyRecord('0123456789abcdef', 'shop', { revokedAt: T0 })],
      ['short id', keyRecord('0123')],
      ['no scopes', keyRecord('0123456789abcdef', 'shop', { scopes: [] })],
      ['unknown scope', keyRecord('0123456789abcdef', 'shop', { scopes: ['root' as never] })],
      ['duplicate scope', keyRecord('0123456789abcdef', 'shop', { scopes: ['read', 'read'] })],
      ['bad contract', keyRecord('0123456789abcdef', 'shop', { contracts: ['0x12' as never] })],
      ['zero limit', keyRecord('0123456789abcdef', 'shop', { limits: { txPerSec: 0 } })],
      ['salt too short', keyRecord('0123456789abcdef', 'shop', { salt: '00' })],
    ];
    for (const [name, key] of bad) {
      expect(
        thrownCode(() => chain.send(OWNER, { type: 'putApiKey', appId: 'shop', key })),
        name,
      ).toBe(GovernanceTxErrorCode.MALFORMED);
    }
  });
});

describe('nodeApply', () => {
  const applyBody = (node: { publicKey: `0x${string}` }, name = 'newcomer'): GovBody => ({
    type: 'nodeApply',
    publicKey: node.publicKey,
    name,
    addrs: ['/ip4/192.0.2.1/tcp/4001'],
    operator: OWNER.address,
    region: 'ap-south',
  });

  it('default: a node applies with its own key and waits (pending, node-applied)', () => {
    const chain = Chain.genesis();
    const node = nodeId('newcomer');
    const sent = chain.sendNode(node, applyBody(node));
    expect(sent.receipt).toEqual({ status: 'ok', events: [{ type: 'node-applied', publicKey: node.publicKey }] });
    expect(getNode(chain.state, node.publicKey)).toEqual({
      publicKey: node.publicKey,
      name: 'newcomer',
      addrs: ['/ip4/192.0.2.1/tcp/4001'],
      operator: OWNER.address,
      region: 'ap-south',
      status: 'pending',
      since: 1,
    });
    expect(chain.state.nonces.get(node.publicKey)).toBe(1);
  });

  it('error: a registered node applies again (DUPLICATE_NODE); a removed one may', () => {
    const chain = Chain.genesis({ threshold: 1 });
    refusedWith(chain.sendNode(N3, applyBody(N3)).receipt, ReceiptErrorCode.DUPLICATE_NODE);
    chain.send(ADMINS[0], {
      type: 'propose',
      action: { type: 'removeNode', publicKey: N3.publicKey },
      expiresAt: chain.time + DAY_MS,
    });
    expectOk(chain.sendNode(N3, applyBody(N3, 'back')).receipt);
    expect(getNode(chain.state, N3.publicKey)).toMatchObject({ status: 'pending', name: 'back' });
  });

  it(`error: at most ${PENDING_NODES_MAX} nodes wait for admission (LIMIT_REACHED)`, () => {
    const chain = Chain.genesis();
    for (let i = 0; i < PENDING_NODES_MAX; i++) {
      const node = nodeId(`spam-${i}`);
      expectOk(chain.sendNode(node, applyBody(node)).receipt);
    }
    const late = nodeId('late');
    refusedWith(chain.sendNode(late, applyBody(late)).receipt, ReceiptErrorCode.LIMIT_REACHED);
  });

  it('error: names and addresses are bounded and printable (MALFORMED)', () => {
    const chain = Chain.genesis();
    const node = nodeId('newcomer');
    const cases: Array<[string, GovBody]> = [
      ['empty name', applyBody(node, '')],
      ['long name', applyBody(node, 'n'.repeat(65))],
      ['control character', applyBody(node, 'bad\nname')],
      ['lone surrogate', applyBody(node, 'bad\ud800')],
      [
        'too many addrs',
        { ...applyBody(node), addrs: Array.from({ length: 17 }, (_, i) => `/ip4/10.0.0.${i}/tcp/1`) } as GovBody,
      ],
    ];
    for (const [name, body] of cases)
      expect(
        thrownCode(() => chain.sendNode(node, body)),
        name,
      ).toBe(GovernanceTxErrorCode.MALFORMED);
  });
});
