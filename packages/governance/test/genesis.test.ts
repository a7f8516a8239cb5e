/**
 * The genesis: a valid one gives the state at height 0; each invalid field throws INVALID_GENESIS
 * naming it. Also the read helpers over a fresh state.
 */
import { describe, expect, it } from 'vitest';
import {
  activeNodes,
  createGenesisState,
  type GenesisOptions,
  GovernanceError,
  GovernanceErrorCode,
  getApp,
  getNode,
  isAdmin,
  listApps,
  listPlans,
  nonceOf,
} from '../src/index.js';
import { ADMINS, account, FREE, genesisOptions, NODES, OWNER, SYSTEM_CHAIN_ID } from './helpers.js';

const [N0, N1, N2] = NODES;

function genesisError(options: GenesisOptions, what: string): GovernanceError {
  try {
    createGenesisState(options);
  } catch (err) {
    if (err instanceof GovernanceError && err.code === GovernanceErrorCode.INVALID_GENESIS) return err;
    throw new Error(`${what}: expected INVALID_GENESIS, got ${err instanceof Error ? err.stack : String(err)}`);
  }
  throw new Error(`${what}: the genesis was accepted`);
}

const app = {
  id: 'shop',
  chainId: 100,
  owner: OWNER.address,
  validators: [N0.publicKey, N1.publicKey],
  observers: [N2.publicKey],
  plan: 'free',
  keyMode: 'upload' as const,
  accessPolicy: 'open' as const,
};

describe('genesis', () => {
  it('default: admins, active nodes since 0, plans, active apps, policy; hex in any case is stored lower-case', () => {
    const options = genesisOptions({ apps: [app] });
    const state = createGenesisState({
      ...options,
      admins: options.admins.map((a, i) => (i === 0 ? `0x${a.slice(2).toUpperCase()}` : a)),
    });
    expect(state.chainId).toBe(SYSTEM_CHAIN_ID);
    expect(state.alliance).toEqual({ admins: ADMINS.slice(0, 3).map((a) => a.address), threshold: 2 });
    expect(isAdmin(state, ADMINS[0].address)).toBe(true);
    expect(isAdmin(state, OWNER.address)).toBe(false);
    expect(activeNodes(state).map((n) => n.publicKey)).toEqual(NODES.map((n) => n.publicKey).sort());
    expect(getNode(state, N0.publicKey)).toMatchObject({ status: 'active', since: 0, name: 'node-0', region: 'eu-west' });
    expect(getApp(state, 'shop')).toEqual({ ...app, status: 'active', validatorsFrom: 0, genesisValidators: app.validators });
    expect(listApps(state, { status: 'active' }).map((a) => a.id)).toEqual(['shop']);
    expect(listPlans(state).map((p) => p.name)).toEqual(['free', 'standard']);
    expect(state.policy).toEqual({ autoApproveApps: false });
    expect(state.nextProposalId).toBe(1);
    expect(nonceOf(state, ADMINS[0].address)).toBe(0);
  });

  it('behavior: optional node fields default (no addrs, empty region)', () => {
    const state = createGenesisState(
      genesisOptions({ nodes: [{ publicKey: N0.publicKey, name: 'bare', operator: OWNER.address }] }),
    );
    expect(getNode(state, N0.publicKey)).toEqual({
      publicKey: N0.publicKey,
      name: 'bare',
      addrs: [],
      operator: OWNER.address,
      region: '',
      status: 'active',
      since: 0,
    });
  });

  it('error: each invalid field throws INVALID_GENESIS naming it', () => {
    const base = genesisOptions();
    const nodes = base.nodes;
    const first = nodes[0] as GenesisOptions['nodes'][number];
    const cases: Array<[string, Partial<GenesisOptions>, string | RegExp]> = [
      ['chain id 0', { chainId: 0 }, 'genesis.chainId'],
      ['no admins', { admins: [] }, 'genesis.admins'],
      [
        'duplicate admin',
        { admins: [ADMINS[0].address, ADMINS[0].address.toUpperCase().replace('0X', '0x')] },
        'genesis.admins[1]',
      ],
      ['bad admin address', { admins: ['0x1234'] }, 'genesis.admins[0]'],
      ['threshold 0', { threshold: 0 }, 'genesis.threshold'],
      ['threshold above n', { threshold: 4 }, 'genesis.threshold'],
      ['duplicate node', { nodes: [...nodes, first] }, 'genesis.nodes[4].publicKey'],
      ['node without name', { nodes: [{ ...first, name: '' }] }, 'genesis.nodes[0].name'],
      ['bad plan name', { plans: { 'Not A Name': FREE } }, /genesis\.plans/],
      ['bad plan limits', { plans: { free: { ...FREE, txPerSec: 0 } } }, 'genesis.plans.free.txPerSec'],
      ['policy missing', { policy: undefined as never }, 'genesis.policy'],
      ['app on the system chain id', { apps: [{ ...app, chainId: SYSTEM_CHAIN_ID }] }, 'genesis.apps[0]'],
      ['two apps on one chain id', { apps: [app, { ...app, id: 'other' }] }, 'genesis.apps[1]'],
      ['two apps with one id', { apps: [app, { ...app, chainId: 101 }] }, 'genesis.apps[1]'],
      ['app with an unknown plan', { apps: [{ ...app, plan: 'gold' }] }, 'genesis.apps[0]'],
      [
        'app with an unknown validator',
        { apps: [{ ...app, validators: [account('x').address.padEnd(66, '0')] }] },
        'genesis.apps[0]',
      ],
      ['app with a validator that observes', { apps: [{ ...app, observers: [N0.publicKey] }] }, 'genesis.apps[0].observers[0]'],
    ];
    for (const [name, override, field] of cases) {
      const err = genesisError({ ...base, ...override }, name);
      const got = (err.type as { field: string }).field;
      if (typeof field === 'string') expect(got, name).toBe(field);
      else expect(got, name).toMatch(field);
      expect(err.message, name).toMatch(/Fix that field/);
    }
  });

  it('error: the app messages say what to change', () => {
    const err = genesisError(genesisOptions({ apps: [app, { ...app, id: 'other' }] }), 'dup chain');
    expect(err.message).toMatch(/chain id 100 is used by app "shop"/);
  });
});
