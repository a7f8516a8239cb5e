/**
 * The genesis of the system ledger: the first alliance, nodes, plans, apps and policy. Every
 * field is validated with the same codecs and rules as transactions, and the first problem
 * throws a `GovernanceError` (INVALID_GENESIS) naming the field and what to change.
 */
import { appRecordCodec, canonical, chainIdCodec, limitsCodec, nodeRecordCodec, planNameCodec } from './codec.js';
import { GovernanceError, GovernanceErrorCode, wrapCodecErrors } from './errors.js';
import { APPS_MAX, NODES_MAX, PLANS_MAX } from './params.js';
import { checkAppIdentity, checkNodesActive, checkPlan } from './rules.js';
import { allianceCodec, checkConsistency, policyCodec } from './state.js';
import type { AccessPolicy, AppRecord, GovState, KeyMode, Limits, NodeKey, NodeRecord, Policy } from './types.js';

/** A node of the genesis; it starts active. */
export type GenesisNode = {
  publicKey: string;
  name: string;
  addrs?: readonly string[];
  operator: string;
  region?: string;
};

/** An app of the genesis; it starts active. */
export type GenesisApp = {
  id: string;
  chainId: number;
  owner: string;
  validators: readonly string[];
  observers?: readonly string[];
  plan: string;
  keyMode: KeyMode;
  accessPolicy: AccessPolicy;
};

/** Options of `createGenesisState`. Addresses and keys may be in any case. */
export type GenesisOptions = {
  /** The system ledger's chain id. */
  chainId: number;
  admins: readonly string[];
  /** k of the k-of-n approvals; 1 <= k <= admins.length. */
  threshold: number;
  nodes: readonly GenesisNode[];
  plans: Readonly<Record<string, Limits>>;
  apps?: readonly GenesisApp[];
  policy: Policy;
};

function invalid(field: string, reason: string, cause?: unknown): GovernanceError {
  return new GovernanceError(
    { code: GovernanceErrorCode.INVALID_GENESIS, field, reason },
    `invalid system genesis: ${field} ${reason}`,
    { hint: 'Fix that field of the genesis and start again', cause },
  );
}

/** Builds and validates the state at height 0. */
export function createGenesisState(options: GenesisOptions): GovState {
  return wrapCodecErrors(
    () => build(options),
    (d, cause) => invalid(d.field, d.reason, cause),
  );
}

function build(options: GenesisOptions): GovState {
  if (typeof options !== 'object' || options === null) throw invalid('genesis', 'should be an object');
  const chainId = canonical(chainIdCodec, options.chainId, 'genesis.chainId');
  const alliance = canonical(allianceCodec, { admins: options.admins, threshold: options.threshold }, 'genesis');
  const policy = canonical(policyCodec, options.policy, 'genesis.policy');

  if (!Array.isArray(options.nodes)) throw invalid('genesis.nodes', 'should be a list');
  if (options.nodes.length > NODES_MAX) throw invalid('genesis.nodes', `has more than ${NODES_MAX} nodes`);
  const nodes = new Map<NodeKey, NodeRecord>();
  options.nodes.forEach((n, i) => {
    const field = `genesis.nodes[${i}]`;
    const node = canonical(
      nodeRecordCodec,
      { ...n, addrs: n?.addrs ?? [], region: n?.region ?? '', status: 'active', since: 0 },
      field,
    );
    if (nodes.has(node.publicKey)) throw invalid(`${field}.publicKey`, `repeats node ${node.publicKey}`);
    nodes.set(node.publicKey, node);
  });

  if (typeof options.plans !== 'object' || options.plans === null) throw invalid('genesis.plans', 'should be an object');
  const planEntries = Object.entries(options.plans);
  if (planEntries.length > PLANS_MAX) throw invalid('genesis.plans', `has more than ${PLANS_MAX} plans`);
  const plans = new Map<string, Limits>();
  for (const [name, limits] of planEntries) {
    plans.set(
      canonical(planNameCodec, name, `genesis.plans["${name}"]`),
      canonical(limitsCodec, limits, `genesis.plans.${name}`),
    );
  }

  let state: GovState = {
    chainId,
    alliance,
    policy,
    nodes,
    apps: new Map(),
    participants: new Map(),
    apiKeys: new Map(),
    plans,
    regulators: new Map(),
    proposals: new Map(),
    nextProposalId: 1,
    nonces: new Map(),
    auditAnchors: new Map(),
  };

  const apps = options.apps ?? [];
  if (!Array.isArray(apps)) throw invalid('genesis.apps', 'should be a list');
  if (apps.length > APPS_MAX) throw invalid('genesis.apps', `has more than ${APPS_MAX} apps`);
  apps.forEach((a, i) => {
    const field = `genesis.apps[${i}]`;
    const app: AppRecord = canonical(
      appRecordCodec,
      { ...a, observers: a?.observers ?? [], status: 'active', validatorsFrom: 0, genesisValidators: a?.validators },
      field,
    );
    const refused =
      checkAppIdentity(state, app.id, app.chainId) ??
      checkPlan(state, app.plan) ??
      checkNodesActive(state, app.validators, 'validator') ??
      checkNodesActive(state, app.observers, 'observer');
    if (refused && !refused.ok) throw invalid(field, refused.error.message);
    state = { ...state, apps: new Map(state.apps).set(app.id, app) };
  });

  // The checks above should imply consistency; asserting it catches a gap between the two.
  checkConsistency(state);
  return state;
}
