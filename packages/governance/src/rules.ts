/**
 * Rules shared by the actions, the self-service bodies and the genesis: what makes a validator
 * set, an app identity or an owner's request acceptable. Each returns a refusal that says what
 * is wrong and what to do, or undefined.
 */
import { ReceiptErrorCode, type Refusal, refusal } from './errors.js';
import type { Address, AppRecord, GovEvent, GovState, NodeKey } from './types.js';

/** The result of a body or an action: the new state and its events, or a refusal. */
export type Outcome = { ok: true; state: GovState; events: GovEvent[] } | { ok: false; error: Refusal };

/** A successful outcome. */
export function ok(state: GovState, ...events: GovEvent[]): Outcome {
  return { ok: true, state, events };
}

/** A refused outcome. */
export function fail(code: ReceiptErrorCode, message: string): Outcome {
  return { ok: false, error: refusal(code, message) };
}

/** Every key must name an active node (validators and observers of a running app). */
export function checkNodesActive(state: GovState, keys: readonly NodeKey[], role: 'validator' | 'observer'): Outcome | undefined {
  for (const key of keys) {
    const node = state.nodes.get(key);
    if (!node) {
      return fail(
        ReceiptErrorCode.UNKNOWN_NODE,
        `${role} ${key} is not a registered node: the node must apply (nodeApply) and be admitted first`,
      );
    }
    if (node.status !== 'active') {
      return fail(
        ReceiptErrorCode.NODE_NOT_ACTIVE,
        `${role} ${key} (${node.name}) is ${node.status}, not active: choose active nodes, or have the alliance admit it first`,
      );
    }
  }
  return undefined;
}

/** An app's id and chain id must be new: not another app's (archived ones included) nor the system ledger's. */
export function checkAppIdentity(state: GovState, id: string, chainId: number): Outcome | undefined {
  const existing = state.apps.get(id);
  if (existing)
    return fail(ReceiptErrorCode.DUPLICATE_APP, `the app id "${id}" is taken (${existing.status}): choose another id`);
  if (chainId === state.chainId) {
    return fail(ReceiptErrorCode.DUPLICATE_CHAIN_ID, `chain id ${chainId} is the system ledger's: choose another chain id`);
  }
  for (const app of state.apps.values()) {
    if (app.chainId === chainId) {
      return fail(ReceiptErrorCode.DUPLICATE_CHAIN_ID, `chain id ${chainId} is used by app "${app.id}": choose another chain id`);
    }
  }
  return undefined;
}

/** The plan must exist. */
export function checkPlan(state: GovState, plan: string): Outcome | undefined {
  if (state.plans.has(plan)) return undefined;
  const names = [...state.plans.keys()].sort().join(', ');
  return fail(
    ReceiptErrorCode.UNKNOWN_PLAN,
    `plan "${plan}" does not exist: use one of [${names}] or have the alliance create it (setPlan)`,
  );
}

/**
 * The app a self-service body changes: it must exist and belong to `signer`; unless
 * `archivedToo`, it must not be archived.
 */
export function ownedApp(
  state: GovState,
  signer: Address,
  appId: string,
  what: string,
  archivedToo = false,
): { app: AppRecord } | { refused: Outcome } {
  const app = state.apps.get(appId);
  if (!app)
    return {
      refused: fail(ReceiptErrorCode.UNKNOWN_APP, `no app has the id "${appId}": check the id, or request the app first`),
    };
  if (app.owner !== signer) {
    return {
      refused: fail(
        ReceiptErrorCode.NOT_OWNER,
        `only the owner of app "${appId}" (${app.owner}) may ${what}; ${signer} is not: sign with the owner's key`,
      ),
    };
  }
  if (!archivedToo && app.status === 'archived') {
    return {
      refused: fail(ReceiptErrorCode.APP_ARCHIVED, `app "${appId}" is archived and no longer changes: request a new app`),
    };
  }
  return { app };
}
