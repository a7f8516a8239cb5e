/**
 * The actions only the alliance may take, each run when its proposal reaches the threshold.
 *
 * An action checks itself against the state at that moment: the state may have changed since it
 * was proposed. A refused action returns a refusal and leaves the state as it was; the caller
 * marks the proposal failed. Actions never touch proposals or nonces.
 */
import { ReceiptErrorCode } from './errors.js';
import { ADMINS_MAX, PLANS_MAX, REGULATORS_MAX } from './params.js';
import { checkNodesActive, checkPlan, fail, type Outcome, ok } from './rules.js';
import { deleteIn, setIn, sortedEntries } from './state.js';
import type {
  Action,
  Address,
  ApplyContext,
  AppRecord,
  GovEvent,
  GovState,
  Limits,
  NodeKey,
  NodeRecord,
  NodeStatus,
  RegulatorApps,
} from './types.js';

/** Runs `action` on `state` at `ctx`; pure: `state` is not changed. */
export function runAction(state: GovState, action: Action, ctx: ApplyContext): Outcome {
  switch (action.type) {
    case 'admitNode':
      return setNodeStatus(state, action.publicKey, 'active', ctx);
    case 'suspendNode':
      return setNodeStatus(state, action.publicKey, 'suspended', ctx);
    case 'removeNode':
      return removeNode(state, action.publicKey, ctx);
    case 'approveApp':
      return approveApp(state, action.appId);
    case 'suspendApp':
      return moveApp(state, action.appId, 'active', 'suspended', 'app-suspended');
    case 'resumeApp':
      return moveApp(state, action.appId, 'suspended', 'active', 'app-resumed');
    case 'archiveApp':
      return archiveApp(state, action.appId);
    case 'setAppValidators':
      return setAppValidators(state, action.appId, action.validators, ctx);
    case 'setPlan':
      return setPlan(state, action.name, action.limits);
    case 'addAdmin':
      return addAdmin(state, action.address);
    case 'removeAdmin':
      return removeAdmin(state, action.address);
    case 'setThreshold':
      return setThreshold(state, action.threshold);
    case 'grantRegulator':
      return grantRegulator(state, action.address, action.apps);
    case 'revokeRegulator':
      return revokeRegulator(state, action.address);
  }
}

function unknownNode(key: NodeKey): Outcome {
  return fail(ReceiptErrorCode.UNKNOWN_NODE, `no node has the public key ${key}: the node must apply first (nodeApply)`);
}

function unknownApp(appId: string): Outcome {
  return fail(ReceiptErrorCode.UNKNOWN_APP, `no app has the id "${appId}": check the id`);
}

function withNode(state: GovState, node: NodeRecord): GovState {
  return { ...state, nodes: setIn(state.nodes, node.publicKey, node) };
}

function withApp(state: GovState, app: AppRecord): GovState {
  return { ...state, apps: setIn(state.apps, app.id, app) };
}

// admitNode: pending or suspended -> active. suspendNode: active -> suspended.
function setNodeStatus(state: GovState, key: NodeKey, to: 'active' | 'suspended', ctx: ApplyContext): Outcome {
  const node = state.nodes.get(key);
  if (!node) return unknownNode(key);
  const from: readonly NodeStatus[] = to === 'active' ? ['pending', 'suspended'] : ['active'];
  if (!from.includes(node.status)) {
    const hint =
      node.status === 'removed' ? 'a removed node must apply again (nodeApply)' : `only a ${from.join(' or ')} node can be`;
    return fail(
      ReceiptErrorCode.INVALID_ACTION,
      `node ${key} (${node.name}) is ${node.status}: ${hint} ${to === 'active' ? 'admitted' : 'suspended'}`,
    );
  }
  const next = withNode(state, { ...node, status: to, since: ctx.height });
  return ok(next, { type: to === 'active' ? 'node-admitted' : 'node-suspended', publicKey: key });
}

// removeNode: any status but removed -> removed. A node that validates an app cannot go: the app
// would lose a validator without a validator-set change. It leaves every app it observes.
function removeNode(state: GovState, key: NodeKey, ctx: ApplyContext): Outcome {
  const node = state.nodes.get(key);
  if (!node) return unknownNode(key);
  if (node.status === 'removed') return fail(ReceiptErrorCode.INVALID_ACTION, `node ${key} (${node.name}) is already removed`);
  const live = sortedEntries(state.apps)
    .map(([, a]) => a)
    .filter((a) => a.status !== 'archived');
  const validated = live.filter((a) => a.validators.includes(key)).map((a) => a.id);
  if (validated.length > 0) {
    return fail(
      ReceiptErrorCode.NODE_IN_USE,
      `node ${key} (${node.name}) validates ${validated.map((id) => `"${id}"`).join(', ')}: set those apps' validators without it first (setAppValidators)`,
    );
  }
  let next = withNode(state, { ...node, status: 'removed', since: ctx.height });
  const events: GovEvent[] = [];
  for (const app of live) {
    if (!app.observers.includes(key)) continue;
    const observers = app.observers.filter((o) => o !== key);
    next = withApp(next, { ...app, observers });
    events.push({ type: 'observers-changed', appId: app.id, observers });
  }
  events.push({ type: 'node-removed', publicKey: key });
  return ok(next, ...events);
}

function approveApp(state: GovState, appId: string): Outcome {
  const app = state.apps.get(appId);
  if (!app) return unknownApp(appId);
  if (app.status !== 'pending') {
    return fail(ReceiptErrorCode.INVALID_ACTION, `app "${appId}" is ${app.status}: only a pending app can be approved`);
  }
  const refused = checkPlan(state, app.plan) ?? checkNodesActive(state, app.validators, 'validator');
  if (refused) return refused;
  return ok(withApp(state, { ...app, status: 'active', genesisValidators: app.validators }), { type: 'app-activated', appId });
}

function moveApp(
  state: GovState,
  appId: string,
  from: 'active' | 'suspended',
  to: 'active' | 'suspended',
  event: 'app-suspended' | 'app-resumed',
): Outcome {
  const app = state.apps.get(appId);
  if (!app) return unknownApp(appId);
  if (app.status !== from) {
    const verb = event === 'app-suspended' ? 'suspended' : 'resumed';
    return fail(ReceiptErrorCode.INVALID_ACTION, `app "${appId}" is ${app.status}: only a ${from} app can be ${verb}`);
  }
  return ok(withApp(state, { ...app, status: to }), { type: event, appId });
}

function archiveApp(state: GovState, appId: string): Outcome {
  const app = state.apps.get(appId);
  if (!app) return unknownApp(appId);
  if (app.status === 'archived') return fail(ReceiptErrorCode.INVALID_ACTION, `app "${appId}" is already archived`);
  return ok(withApp(state, { ...app, status: 'archived' }), { type: 'app-archived', appId });
}

// The new set takes effect at the next height, so every node switches at the same block. A node
// promoted from observer to validator stops being an observer.
function setAppValidators(state: GovState, appId: string, validators: readonly NodeKey[], ctx: ApplyContext): Outcome {
  const app = state.apps.get(appId);
  if (!app) return unknownApp(appId);
  if (app.status === 'archived')
    return fail(ReceiptErrorCode.APP_ARCHIVED, `app "${appId}" is archived: its validators no longer change`);
  const refused = checkNodesActive(state, validators, 'validator');
  if (refused) return refused;
  const fromHeight = ctx.height + 1;
  const observers = app.observers.filter((o) => !validators.includes(o));
  // A pending app has no ledger yet: its genesis will name the set it has when approved.
  const genesisValidators = app.status === 'pending' ? [...validators] : app.genesisValidators;
  const next = withApp(state, { ...app, validators: [...validators], observers, validatorsFrom: fromHeight, genesisValidators });
  const events: GovEvent[] = [{ type: 'validators-changed', appId, validators: [...validators], fromHeight }];
  if (observers.length !== app.observers.length) events.push({ type: 'observers-changed', appId, observers });
  return ok(next, ...events);
}

function setPlan(state: GovState, name: string, limits: Limits | null): Outcome {
  if (limits === null) {
    if (!state.plans.has(name))
      return fail(ReceiptErrorCode.UNKNOWN_PLAN, `plan "${name}" does not exist, so it cannot be deleted`);
    const users = sortedEntries(state.apps)
      .map(([, a]) => a)
      .filter((a) => a.status !== 'archived' && a.plan === name)
      .map((a) => `"${a.id}"`);
    if (users.length > 0) {
      return fail(
        ReceiptErrorCode.PLAN_IN_USE,
        `plan "${name}" is used by ${users.length} app(s) (${users.slice(0, 5).join(', ')}): archive them or keep the plan`,
      );
    }
    return ok({ ...state, plans: deleteIn(state.plans, name) }, { type: 'plans-changed', name });
  }
  if (!state.plans.has(name) && state.plans.size >= PLANS_MAX) {
    return fail(ReceiptErrorCode.LIMIT_REACHED, `there are already ${PLANS_MAX} plans: delete one first`);
  }
  return ok({ ...state, plans: setIn(state.plans, name, { ...limits }) }, { type: 'plans-changed', name });
}

function withAlliance(state: GovState, admins: readonly Address[], threshold: number): Outcome {
  return ok({ ...state, alliance: { admins, threshold } }, { type: 'admins-changed', admins, threshold });
}

function addAdmin(state: GovState, address: Address): Outcome {
  const { admins, threshold } = state.alliance;
  if (admins.includes(address)) return fail(ReceiptErrorCode.DUPLICATE_ADMIN, `${address} is already an admin`);
  if (admins.length >= ADMINS_MAX) {
    return fail(ReceiptErrorCode.LIMIT_REACHED, `the alliance already has ${ADMINS_MAX} admins: remove one first`);
  }
  return withAlliance(state, [...admins, address], threshold);
}

function removeAdmin(state: GovState, address: Address): Outcome {
  const { admins, threshold } = state.alliance;
  if (!admins.includes(address)) return fail(ReceiptErrorCode.NOT_ADMIN, `${address} is not an admin, so it cannot be removed`);
  if (admins.length - 1 < threshold) {
    return fail(
      ReceiptErrorCode.INVALID_THRESHOLD,
      `removing ${address} would leave ${admins.length - 1} admin(s) with a threshold of ${threshold}: lower the threshold first (setThreshold)`,
    );
  }
  return withAlliance(
    state,
    admins.filter((a) => a !== address),
    threshold,
  );
}

function setThreshold(state: GovState, threshold: number): Outcome {
  const { admins } = state.alliance;
  if (threshold > admins.length) {
    return fail(
      ReceiptErrorCode.INVALID_THRESHOLD,
      `a threshold of ${threshold} is above the ${admins.length} admin(s): add admins first, or choose at most ${admins.length}`,
    );
  }
  return withAlliance(state, admins, threshold);
}

function grantRegulator(state: GovState, address: Address, apps: RegulatorApps): Outcome {
  if (apps !== 'all') {
    const missing = apps.find((id) => !state.apps.has(id));
    if (missing !== undefined) return unknownApp(missing);
  }
  if (!state.regulators.has(address) && state.regulators.size >= REGULATORS_MAX) {
    return fail(ReceiptErrorCode.LIMIT_REACHED, `there are already ${REGULATORS_MAX} regulators: revoke one first`);
  }
  const granted = apps === 'all' ? 'all' : [...apps];
  return ok(
    { ...state, regulators: setIn(state.regulators, address, { address, apps: granted }) },
    { type: 'regulator-changed', address, apps: granted },
  );
}

function revokeRegulator(state: GovState, address: Address): Outcome {
  if (!state.regulators.has(address)) return fail(ReceiptErrorCode.UNKNOWN_REGULATOR, `${address} is not a regulator`);
  return ok({ ...state, regulators: deleteIn(state.regulators, address) }, { type: 'regulator-changed', address, apps: null });
}
