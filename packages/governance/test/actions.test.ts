/**
 * Every action of the alliance: its effect, its events, and each way it is refused. The alliance
 * here has k = 1, so a proposal runs at once and a refused action is a failed receipt.
 */
import { describe, expect, it } from 'vitest';
import {
  type Action,
  ADMINS_MAX,
  activeNodes,
  appsOfNode,
  canRegulate,
  createGenesisState,
  type GovEvent,
  GovernanceTxErrorCode,
  type GovReceipt,
  getApp,
  getNode,
  getRegulator,
  PLANS_MAX,
  REGULATORS_MAX,
  ReceiptErrorCode,
} from '../src/index.js';
import {
  ADMINS,
  account,
  appRequest,
  Chain,
  DAY_MS,
  expectOk,
  FREE,
  genesisOptions,
  NODES,
  nodeId,
  OWNER,
  STANDARD,
  thrownCode,
} from './helpers.js';

const [N0, N1, N2, N3] = NODES;

/** A chain with k = 1, and app "shop" requested by OWNER on N0 and N1 (observed by N2). */
function setup(): Chain {
  const chain = Chain.genesis({ threshold: 1 });
  expectOk(chain.send(OWNER, appRequest('shop', 100, { observers: [N2.publicKey] })).receipt);
  return chain;
}

/** Runs one action through a proposal and returns the receipt. */
function act(chain: Chain, action: Action): GovReceipt {
  return chain.send(ADMINS[0], { type: 'propose', action, expiresAt: chain.time + DAY_MS }).receipt;
}

/** The events the action itself emitted (without the proposal's own events). */
function actionEvents(receipt: GovReceipt): GovEvent[] {
  expectOk(receipt);
  return receipt.events.filter((e) => !e.type.startsWith('proposal-'));
}

function refusedWith(receipt: GovReceipt, code: ReceiptErrorCode): void {
  expect(receipt.status, JSON.stringify(receipt)).toBe('failed');
  expect(receipt.error?.code).toBe(code);
  expect(receipt.events).toEqual([]);
}

describe('node actions', () => {
  it('default: a node applies, is admitted, suspended, admitted again and removed, with an event each', () => {
    const chain = setup();
    const newcomer = nodeId('newcomer');
    const applied = chain.sendNode(newcomer, {
      type: 'nodeApply',
      publicKey: newcomer.publicKey,
      name: 'newcomer',
      addrs: ['/dns4/n.example/tcp/4001'],
      operator: OWNER.address,
      region: 'us-east',
    });
    expect(applied.receipt.events).toEqual([{ type: 'node-applied', publicKey: newcomer.publicKey }]);
    const appliedAt = chain.height - 1;
    expect(getNode(chain.state, newcomer.publicKey)).toMatchObject({ status: 'pending', since: appliedAt });

    expect(actionEvents(act(chain, { type: 'admitNode', publicKey: newcomer.publicKey }))).toEqual([
      { type: 'node-admitted', publicKey: newcomer.publicKey },
    ]);
    expect(getNode(chain.state, newcomer.publicKey)).toMatchObject({ status: 'active', since: chain.height - 1 });
    expect(activeNodes(chain.state).map((n) => n.publicKey)).toContain(newcomer.publicKey);

    expect(actionEvents(act(chain, { type: 'suspendNode', publicKey: newcomer.publicKey }))).toEqual([
      { type: 'node-suspended', publicKey: newcomer.publicKey },
    ]);
    expect(getNode(chain.state, newcomer.publicKey)?.status).toBe('suspended');
    expect(actionEvents(act(chain, { type: 'admitNode', publicKey: newcomer.publicKey }))).toEqual([
      { type: 'node-admitted', publicKey: newcomer.publicKey },
    ]);
    expect(actionEvents(act(chain, { type: 'removeNode', publicKey: newcomer.publicKey }))).toEqual([
      { type: 'node-removed', publicKey: newcomer.publicKey },
    ]);
    expect(getNode(chain.state, newcomer.publicKey)?.status).toBe('removed');
  });

  it('error: admitting an active or removed node, suspending a non-active one, removing twice (INVALID_ACTION)', () => {
    const chain = setup();
    refusedWith(act(chain, { type: 'admitNode', publicKey: N3.publicKey }), ReceiptErrorCode.INVALID_ACTION);
    expectOk(act(chain, { type: 'suspendNode', publicKey: N3.publicKey }));
    refusedWith(act(chain, { type: 'suspendNode', publicKey: N3.publicKey }), ReceiptErrorCode.INVALID_ACTION);
    expectOk(act(chain, { type: 'removeNode', publicKey: N3.publicKey }));
    refusedWith(act(chain, { type: 'removeNode', publicKey: N3.publicKey }), ReceiptErrorCode.INVALID_ACTION);
    const readmit = act(chain, { type: 'admitNode', publicKey: N3.publicKey });
    refusedWith(readmit, ReceiptErrorCode.INVALID_ACTION);
    expect(readmit.error?.message).toMatch(/must apply again/);
  });

  it('error: node actions on an unknown key (UNKNOWN_NODE)', () => {
    const chain = setup();
    const ghost = nodeId('ghost').publicKey;
    for (const type of ['admitNode', 'suspendNode', 'removeNode'] as const) {
      refusedWith(act(chain, { type, publicKey: ghost }), ReceiptErrorCode.UNKNOWN_NODE);
    }
  });

  it('error: a node that validates an app cannot be removed (NODE_IN_USE)', () => {
    const chain = setup();
    const r = act(chain, { type: 'removeNode', publicKey: N0.publicKey });
    refusedWith(r, ReceiptErrorCode.NODE_IN_USE);
    expect(r.error?.message).toMatch(/"shop".*setAppValidators/);
    expect(appsOfNode(chain.state, N0.publicKey).map((x) => [x.app.id, x.role])).toEqual([['shop', 'validator']]);
  });

  it('behavior: a removed node leaves the apps it observes (observers-changed)', () => {
    const chain = setup();
    expect(actionEvents(act(chain, { type: 'removeNode', publicKey: N2.publicKey }))).toEqual([
      { type: 'observers-changed', appId: 'shop', observers: [] },
      { type: 'node-removed', publicKey: N2.publicKey },
    ]);
    expect(getApp(chain.state, 'shop')?.observers).toEqual([]);
  });
});

describe('app actions', () => {
  it('default: approve, suspend, resume and archive an app, with an event each', () => {
    const chain = setup();
    expect(getApp(chain.state, 'shop')?.status).toBe('pending');
    expect(actionEvents(act(chain, { type: 'approveApp', appId: 'shop' }))).toEqual([{ type: 'app-activated', appId: 'shop' }]);
    expect(getApp(chain.state, 'shop')?.status).toBe('active');
    expect(actionEvents(act(chain, { type: 'suspendApp', appId: 'shop' }))).toEqual([{ type: 'app-suspended', appId: 'shop' }]);
    expect(getApp(chain.state, 'shop')?.status).toBe('suspended');
    expect(actionEvents(act(chain, { type: 'resumeApp', appId: 'shop' }))).toEqual([{ type: 'app-resumed', appId: 'shop' }]);
    expect(getApp(chain.state, 'shop')?.status).toBe('active');
    expect(actionEvents(act(chain, { type: 'archiveApp', appId: 'shop' }))).toEqual([{ type: 'app-archived', appId: 'shop' }]);
    expect(getApp(chain.state, 'shop')?.status).toBe('archived');
  });

  it('error: status changes that do not fit the current status (INVALID_ACTION)', () => {
    const chain = setup();
    refusedWith(act(chain, { type: 'suspendApp', appId: 'shop' }), ReceiptErrorCode.INVALID_ACTION);
    refusedWith(act(chain, { type: 'resumeApp', appId: 'shop' }), ReceiptErrorCode.INVALID_ACTION);
    expectOk(act(chain, { type: 'approveApp', appId: 'shop' }));
    refusedWith(act(chain, { type: 'approveApp', appId: 'shop' }), ReceiptErrorCode.INVALID_ACTION);
    refusedWith(act(chain, { type: 'resumeApp', appId: 'shop' }), ReceiptErrorCode.INVALID_ACTION);
    expectOk(act(chain, { type: 'archiveApp', appId: 'shop' }));
    refusedWith(act(chain, { type: 'archiveApp', appId: 'shop' }), ReceiptErrorCode.INVALID_ACTION);
    refusedWith(act(chain, { type: 'suspendApp', appId: 'shop' }), ReceiptErrorCode.INVALID_ACTION);
  });

  it('error: app actions on an unknown app (UNKNOWN_APP)', () => {
    const chain = setup();
    for (const type of ['approveApp', 'suspendApp', 'resumeApp', 'archiveApp'] as const) {
      refusedWith(act(chain, { type, appId: 'nope' }), ReceiptErrorCode.UNKNOWN_APP);
    }
    refusedWith(
      act(chain, { type: 'setAppValidators', appId: 'nope', validators: [N0.publicKey] }),
      ReceiptErrorCode.UNKNOWN_APP,
    );
  });

  it('error: approving an app whose validator is no longer active (NODE_NOT_ACTIVE)', () => {
    const chain = setup();
    expectOk(act(chain, { type: 'suspendNode', publicKey: N1.publicKey }));
    refusedWith(act(chain, { type: 'approveApp', appId: 'shop' }), ReceiptErrorCode.NODE_NOT_ACTIVE);
  });

  it('default: setAppValidators takes effect at the next height and records validatorsFrom', () => {
    const chain = setup();
    const at = chain.height;
    const events = actionEvents(
      act(chain, { type: 'setAppValidators', appId: 'shop', validators: [N1.publicKey, N3.publicKey] }),
    );
    expect(events).toEqual([
      { type: 'validators-changed', appId: 'shop', validators: [N1.publicKey, N3.publicKey], fromHeight: at + 1 },
    ]);
    expect(getApp(chain.state, 'shop')).toMatchObject({ validators: [N1.publicKey, N3.publicKey], validatorsFrom: at + 1 });
  });

  it('behavior: the genesis validators follow a pending app, are fixed when it is approved, and stay through later changes', () => {
    const chain = setup();
    expectOk(act(chain, { type: 'setAppValidators', appId: 'shop', validators: [N1.publicKey, N3.publicKey] }));
    expect(getApp(chain.state, 'shop')?.genesisValidators).toEqual([N1.publicKey, N3.publicKey]);
    expectOk(act(chain, { type: 'approveApp', appId: 'shop' }));
    expect(getApp(chain.state, 'shop')?.genesisValidators).toEqual([N1.publicKey, N3.publicKey]);
    expectOk(act(chain, { type: 'setAppValidators', appId: 'shop', validators: [N0.publicKey, N3.publicKey] }));
    expect(getApp(chain.state, 'shop')).toMatchObject({
      validators: [N0.publicKey, N3.publicKey],
      genesisValidators: [N1.publicKey, N3.publicKey],
    });
  });

  it('behavior: an observer promoted to validator stops observing (observers-changed)', () => {
    const chain = setup();
    const events = actionEvents(
      act(chain, { type: 'setAppValidators', appId: 'shop', validators: [N0.publicKey, N2.publicKey] }),
    );
    expect(events.map((e) => e.type)).toEqual(['validators-changed', 'observers-changed']);
    expect(getApp(chain.state, 'shop')?.observers).toEqual([]);
  });

  it('error: setAppValidators with an inactive or unknown node, on an archived app, or an empty set', () => {
    const chain = setup();
    expectOk(act(chain, { type: 'suspendNode', publicKey: N3.publicKey }));
    refusedWith(
      act(chain, { type: 'setAppValidators', appId: 'shop', validators: [N3.publicKey] }),
      ReceiptErrorCode.NODE_NOT_ACTIVE,
    );
    const ghost = nodeId('ghost').publicKey;
    refusedWith(act(chain, { type: 'setAppValidators', appId: 'shop', validators: [ghost] }), ReceiptErrorCode.UNKNOWN_NODE);
    expect(thrownCode(() => act(chain, { type: 'setAppValidators', appId: 'shop', validators: [] }))).toBe(
      GovernanceTxErrorCode.MALFORMED,
    );
    expect(
      thrownCode(() => act(chain, { type: 'setAppValidators', appId: 'shop', validators: [N0.publicKey, N0.publicKey] })),
    ).toBe(GovernanceTxErrorCode.MALFORMED);
    expectOk(act(chain, { type: 'archiveApp', appId: 'shop' }));
    refusedWith(
      act(chain, { type: 'setAppValidators', appId: 'shop', validators: [N0.publicKey] }),
      ReceiptErrorCode.APP_ARCHIVED,
    );
  });
});

describe('plans', () => {
  it('default: setPlan creates, changes and deletes a plan (plans-changed)', () => {
    const chain = setup();
    expect(actionEvents(act(chain, { type: 'setPlan', name: 'gold', limits: STANDARD }))).toEqual([
      { type: 'plans-changed', name: 'gold' },
    ]);
    expect(chain.state.plans.get('gold')).toEqual(STANDARD);
    expectOk(act(chain, { type: 'setPlan', name: 'gold', limits: FREE }));
    expect(chain.state.plans.get('gold')).toEqual(FREE);
    expect(actionEvents(act(chain, { type: 'setPlan', name: 'gold', limits: null }))).toEqual([
      { type: 'plans-changed', name: 'gold' },
    ]);
    expect(chain.state.plans.has('gold')).toBe(false);
  });

  it('error: deleting a plan an app uses (PLAN_IN_USE) or an unknown plan (UNKNOWN_PLAN); archived apps do not hold it', () => {
    const chain = setup();
    const r = act(chain, { type: 'setPlan', name: 'free', limits: null });
    refusedWith(r, ReceiptErrorCode.PLAN_IN_USE);
    expect(r.error?.message).toMatch(/"shop"/);
    refusedWith(act(chain, { type: 'setPlan', name: 'nope', limits: null }), ReceiptErrorCode.UNKNOWN_PLAN);
    expectOk(act(chain, { type: 'archiveApp', appId: 'shop' }));
    expectOk(act(chain, { type: 'setPlan', name: 'free', limits: null }));
  });

  it('error: limits must be positive integers (MALFORMED)', () => {
    const chain = setup();
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(
        thrownCode(() => act(chain, { type: 'setPlan', name: 'gold', limits: { ...STANDARD, txPerSec: bad } })),
        String(bad),
      ).toBe(GovernanceTxErrorCode.MALFORMED);
    }
  });

  it(`error: at most ${PLANS_MAX} plans (LIMIT_REACHED)`, () => {
    const plans = Object.fromEntries(Array.from({ length: PLANS_MAX }, (_, i) => [`plan-${i}`, FREE]));
    const chain = new Chain(createGenesisState(genesisOptions({ threshold: 1, plans })));
    refusedWith(act(chain, { type: 'setPlan', name: 'one-more', limits: FREE }), ReceiptErrorCode.LIMIT_REACHED);
    expectOk(act(chain, { type: 'setPlan', name: 'plan-0', limits: STANDARD }));
  });
});

describe('alliance', () => {
  it('default: addAdmin, removeAdmin and setThreshold (admins-changed)', () => {
    const chain = setup();
    const newAdmin = account('new-admin');
    const admins = chain.state.alliance.admins;
    expect(actionEvents(act(chain, { type: 'addAdmin', address: newAdmin.address }))).toEqual([
      { type: 'admins-changed', admins: [...admins, newAdmin.address], threshold: 1 },
    ]);
    expect(actionEvents(act(chain, { type: 'setThreshold', threshold: 3 }))).toEqual([
      { type: 'admins-changed', admins: [...admins, newAdmin.address], threshold: 3 },
    ]);
    // k = 3 now: the next action needs three approvals.
    chain.pass({ type: 'removeAdmin', address: ADMINS[1].address }, [ADMINS[0], ADMINS[2], newAdmin]);
    expect(chain.state.alliance).toEqual({ admins: [ADMINS[0].address, ADMINS[2].address, newAdmin.address], threshold: 3 });
  });

  it('error: adding an admin twice (DUPLICATE_ADMIN), removing a non-admin (NOT_ADMIN), k above n (INVALID_THRESHOLD)', () => {
    const chain = setup();
    refusedWith(act(chain, { type: 'addAdmin', address: ADMINS[1].address }), ReceiptErrorCode.DUPLICATE_ADMIN);
    refusedWith(act(chain, { type: 'removeAdmin', address: OWNER.address }), ReceiptErrorCode.NOT_ADMIN);
    refusedWith(act(chain, { type: 'setThreshold', threshold: 4 }), ReceiptErrorCode.INVALID_THRESHOLD);
    expect(thrownCode(() => act(chain, { type: 'setThreshold', threshold: 0 }))).toBe(GovernanceTxErrorCode.MALFORMED);
  });

  it(`error: at most ${ADMINS_MAX} admins (LIMIT_REACHED)`, () => {
    const admins = Array.from({ length: ADMINS_MAX }, (_, i) => (i === 0 ? ADMINS[0].address : account(`many-${i}`).address));
    const chain = new Chain(createGenesisState(genesisOptions({ admins, threshold: 1 })));
    refusedWith(act(chain, { type: 'addAdmin', address: OWNER.address }), ReceiptErrorCode.LIMIT_REACHED);
  });
});

describe('regulators', () => {
  it('default: grant a list of apps, widen to all, revoke (regulator-changed)', () => {
    const chain = setup();
    const reg = account('regulator');
    expect(actionEvents(act(chain, { type: 'grantRegulator', address: reg.address, apps: ['shop'] }))).toEqual([
      { type: 'regulator-changed', address: reg.address, apps: ['shop'] },
    ]);
    expect(canRegulate(chain.state, reg.address, 'shop')).toBe(true);
    expect(canRegulate(chain.state, reg.address, 'other')).toBe(false);
    expectOk(act(chain, { type: 'grantRegulator', address: reg.address, apps: 'all' }));
    expect(getRegulator(chain.state, reg.address)?.apps).toBe('all');
    expect(canRegulate(chain.state, reg.address, 'other')).toBe(true);
    expect(actionEvents(act(chain, { type: 'revokeRegulator', address: reg.address }))).toEqual([
      { type: 'regulator-changed', address: reg.address, apps: null },
    ]);
    expect(canRegulate(chain.state, reg.address, 'shop')).toBe(false);
  });

  it('error: granting an unknown app (UNKNOWN_APP), revoking a non-regulator (UNKNOWN_REGULATOR), an empty list (MALFORMED)', () => {
    const chain = setup();
    const reg = account('regulator');
    refusedWith(
      act(chain, { type: 'grantRegulator', address: reg.address, apps: ['shop', 'nope'] }),
      ReceiptErrorCode.UNKNOWN_APP,
    );
    refusedWith(act(chain, { type: 'revokeRegulator', address: reg.address }), ReceiptErrorCode.UNKNOWN_REGULATOR);
    expect(thrownCode(() => act(chain, { type: 'grantRegulator', address: reg.address, apps: [] }))).toBe(
      GovernanceTxErrorCode.MALFORMED,
    );
  });

  it(`error: at most ${REGULATORS_MAX} regulators (LIMIT_REACHED)`, () => {
    const chain = setup();
    for (let i = 0; i < REGULATORS_MAX; i++) {
      expectOk(act(chain, { type: 'grantRegulator', address: account(`reg-${i}`).address, apps: 'all' }));
    }
    refusedWith(act(chain, { type: 'grantRegulator', address: OWNER.address, apps: 'all' }), ReceiptErrorCode.LIMIT_REACHED);
    // Changing an existing grant still works at the limit.
    expectOk(act(chain, { type: 'grantRegulator', address: account('reg-0').address, apps: ['shop'] }));
  });
});
