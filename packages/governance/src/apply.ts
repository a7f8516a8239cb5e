/**
 * The state transition of the system ledger: `applyGovTx(state, tx, ctx)`.
 *
 * A transaction that can never be included (malformed, another chain, a bad signature, a wrong
 * nonce) throws a `GovernanceTxError`, and the state is untouched. Any other transaction is
 * included: it consumes the signer's nonce and returns a receipt. A refused request (not an
 * admin, not the owner, an unknown app...) gives a failed receipt and changes nothing else.
 *
 * Admins govern through proposals: `propose` records an action with the proposer's approval,
 * `approve` adds one; when the approvals of current admins reach the threshold at that moment,
 * the action runs. An action that fails then marks the proposal failed, with the reason. App
 * owners and nodes use the self-service bodies directly.
 *
 * Pure: no clock, no I/O, no randomness. Time and height come from `ctx`; the input state is
 * never mutated.
 */
import { runAction } from './actions.js';
import { GovernanceError, GovernanceErrorCode, GovernanceTxError, GovernanceTxErrorCode, ReceiptErrorCode } from './errors.js';
import {
  API_KEYS_PER_APP_MAX,
  APPROVALS_MAX,
  APPS_MAX,
  NODES_MAX,
  OPEN_PROPOSALS_MAX,
  PARTICIPANTS_PER_APP_MAX,
  PENDING_APPS_MAX,
  PENDING_NODES_MAX,
  PROPOSAL_TTL_MS_MAX,
} from './params.js';
import { countedApprovals, isAdmin, openProposalCount } from './queries.js';
import { checkAppIdentity, checkNodesActive, checkPlan, fail, type Outcome, ok, ownedApp } from './rules.js';
import { deleteIn, setIn } from './state.js';
import { decodeGovTx, encodeGovTx, verifyGovTxSignature } from './tx.js';
import type {
  Address,
  ApplyContext,
  AppRecord,
  GovBody,
  GovEvent,
  GovReceipt,
  GovState,
  GovTx,
  NodeKey,
  Proposal,
  Signer,
} from './types.js';

/** The outcome of `applyGovTx`. */
export type ApplyResult = { state: GovState; receipt: GovReceipt };

/** A transaction that passed every stateless check and the nonce check. */
export type CheckedGovTx = { tx: GovTx; signer: Signer };

type Body<T extends GovBody['type']> = Extract<GovBody, { type: T }>;

function checkContext(state: GovState, ctx: ApplyContext): void {
  const bad = (reason: string) =>
    new GovernanceError({ code: GovernanceErrorCode.INVALID_CONTEXT, reason }, `invalid apply context: ${reason}`, {
      hint: 'Pass the height and time of the block that includes the transaction, and the chain id of this state',
    });
  if (!Number.isSafeInteger(ctx.height) || ctx.height < 0) throw bad(`height ${ctx.height} is not a non-negative integer`);
  if (!Number.isSafeInteger(ctx.time) || ctx.time < 0) throw bad(`time ${ctx.time} is not a non-negative integer`);
  if (ctx.chainId !== state.chainId) throw bad(`chain id ${ctx.chainId} is not the state's (${state.chainId})`);
}

/**
 * Checks everything that makes a transaction includable in `state`: its form, chain id,
 * signature and nonce. Returns it in canonical form with its signer, or throws a
 * `GovernanceTxError`. The mempool can call this alone.
 */
export function checkGovTx(state: GovState, tx: GovTx | Uint8Array, ctx: ApplyContext): CheckedGovTx {
  checkContext(state, ctx);
  // Re-decoding the encoding gives the canonical form (lower-case hex, absent fields left out),
  // which is what the signature covers and what the state stores.
  const canonical = decodeGovTx(tx instanceof Uint8Array ? tx : encodeGovTx(tx));
  if (canonical.chainId !== ctx.chainId) {
    throw new GovernanceTxError(
      { code: GovernanceTxErrorCode.WRONG_CHAIN, expected: ctx.chainId, got: canonical.chainId },
      `the transaction is for chain ${canonical.chainId}, but this system ledger is chain ${ctx.chainId}`,
      { hint: "Sign it again with this network's system chain id" },
    );
  }
  const signer = verifyGovTxSignature(canonical);
  const expected = state.nonces.get(signer.id) ?? 0;
  if (canonical.nonce !== expected) {
    throw new GovernanceTxError(
      { code: GovernanceTxErrorCode.BAD_NONCE, signer: signer.id, expected, got: canonical.nonce },
      `nonce ${canonical.nonce} is not the next nonce of ${signer.id}, which is ${expected}`,
      {
        hint:
          canonical.nonce < expected
            ? 'The transaction (or another with this nonce) was already included; sign a new one with the next nonce'
            : 'Send the transactions with the lower nonces first',
      },
    );
  }
  return { tx: canonical, signer };
}

/**
 * Applies one governance transaction at the block context `ctx`. Returns the new state (the
 * input is not changed) and the receipt, or throws a `GovernanceTxError` for a transaction that
 * can never be included.
 */
export function applyGovTx(state: GovState, tx: GovTx | Uint8Array, ctx: ApplyContext): ApplyResult {
  const { tx: checked, signer } = checkGovTx(state, tx, ctx);
  const nonces = setIn(state.nonces, signer.id, checked.nonce + 1);
  const outcome = runBody(state, signer, checked.body, ctx);
  if (!outcome.ok) {
    return { state: { ...state, nonces }, receipt: { status: 'failed', error: outcome.error, events: [] } };
  }
  return { state: { ...outcome.state, nonces }, receipt: { status: 'ok', events: outcome.events } };
}

function runBody(state: GovState, signer: Signer, body: GovBody, ctx: ApplyContext): Outcome {
  // verifyGovTxSignature pairs nodeApply with Ed25519 and everything else with secp256k1.
  if (body.type === 'nodeApply') return nodeApply(state, body, ctx);
  if (body.type === 'anchorAudit') return anchorAudit(state, body, ctx);
  const account = signer.id as Address;
  switch (body.type) {
    case 'propose':
      return propose(state, account, body, ctx);
    case 'approve':
      return approve(state, account, body, ctx);
    case 'requestApp':
      return requestApp(state, account, body, ctx);
    case 'putParticipant':
      return putParticipant(state, account, body);
    case 'removeParticipant':
      return removeParticipant(state, account, body);
    case 'putApiKey':
      return putApiKey(state, account, body);
    case 'revokeApiKey':
      return revokeApiKey(state, account, body);
  }
}

// --- Proposals ---------------------------------------------------------------------------------

function notAdmin(state: GovState, who: Address, what: string): Outcome {
  return fail(
    ReceiptErrorCode.NOT_ADMIN,
    `only admins may ${what}; ${who} is not one of the ${state.alliance.admins.length} admins: sign with an admin's key`,
  );
}

function withProposal(state: GovState, p: Proposal): GovState {
  return { ...state, proposals: setIn(state.proposals, p.id, p) };
}

function propose(state: GovState, proposer: Address, body: Body<'propose'>, ctx: ApplyContext): Outcome {
  if (!isAdmin(state, proposer)) return notAdmin(state, proposer, 'propose');
  if (body.expiresAt <= ctx.time || body.expiresAt > ctx.time + PROPOSAL_TTL_MS_MAX) {
    return fail(
      ReceiptErrorCode.INVALID_EXPIRY,
      `expiresAt ${body.expiresAt} should be after the block time ${ctx.time} and at most ${PROPOSAL_TTL_MS_MAX} ms later`,
    );
  }
  if (openProposalCount(state, ctx.time) >= OPEN_PROPOSALS_MAX) {
    return fail(
      ReceiptErrorCode.LIMIT_REACHED,
      `${OPEN_PROPOSALS_MAX} proposals are open: approve them or let them expire before proposing more`,
    );
  }
  // The action must be valid now; it is checked again when it runs, as the state may change.
  const now = runAction(state, body.action, ctx);
  if (!now.ok) return now;
  const id = state.nextProposalId;
  const proposal: Proposal = {
    id,
    proposer,
    action: body.action,
    createdAt: { height: ctx.height, time: ctx.time },
    expiresAt: body.expiresAt,
    approvals: [{ address: proposer, height: ctx.height }],
    status: 'open',
  };
  const events: GovEvent[] = [{ type: 'proposal-created', proposalId: id, action: body.action.type }];
  const { threshold } = state.alliance;
  events.push({ type: 'proposal-approved', proposalId: id, approvals: 1, threshold });
  if (threshold > 1) return ok(withProposal({ ...state, nextProposalId: id + 1 }, proposal), ...events);
  // k = 1: the proposer's approval is enough, and the action's outcome is the one just computed.
  const executed: Proposal = { ...proposal, status: 'executed', closedAt: ctx.height };
  events.push(...now.events, { type: 'proposal-executed', proposalId: id });
  return ok(withProposal({ ...now.state, nextProposalId: id + 1 }, executed), ...events);
}

function approve(state: GovState, admin: Address, body: Body<'approve'>, ctx: ApplyContext): Outcome {
  if (!isAdmin(state, admin)) return notAdmin(state, admin, 'approve');
  const id = body.proposalId;
  const p = state.proposals.get(id);
  if (!p) {
    return fail(ReceiptErrorCode.UNKNOWN_PROPOSAL, `no proposal has id ${id} (the last one is ${state.nextProposalId - 1})`);
  }
  if (p.status === 'executed') {
    return fail(ReceiptErrorCode.ALREADY_EXECUTED, `proposal ${id} was already executed at height ${p.closedAt}`);
  }
  if (p.status === 'failed') {
    return fail(
      ReceiptErrorCode.ALREADY_EXECUTED,
      `proposal ${id} already ran at height ${p.closedAt} and failed (${p.error?.code}): propose the action again once it can succeed`,
    );
  }
  if (ctx.time > p.expiresAt) {
    return fail(ReceiptErrorCode.EXPIRED, `proposal ${id} expired at ${p.expiresAt} (block time ${ctx.time}): propose it again`);
  }
  if (p.approvals.some((a) => a.address === admin)) {
    return fail(ReceiptErrorCode.ALREADY_APPROVED, `${admin} already approved proposal ${id}: each admin approves once`);
  }
  if (p.approvals.length >= APPROVALS_MAX) {
    return fail(ReceiptErrorCode.LIMIT_REACHED, `proposal ${id} already holds ${APPROVALS_MAX} approvals: propose it again`);
  }
  const approved: Proposal = { ...p, approvals: [...p.approvals, { address: admin, height: ctx.height }] };
  const count = countedApprovals(state, approved);
  const { threshold } = state.alliance;
  const events: GovEvent[] = [{ type: 'proposal-approved', proposalId: id, approvals: count, threshold }];
  if (count < threshold) return ok(withProposal(state, approved), ...events);
  const result = runAction(state, p.action, ctx);
  if (!result.ok) {
    const failed: Proposal = { ...approved, status: 'failed', error: result.error, closedAt: ctx.height };
    events.push({ type: 'proposal-failed', proposalId: id, error: result.error });
    return ok(withProposal(state, failed), ...events);
  }
  events.push(...result.events, { type: 'proposal-executed', proposalId: id });
  return ok(withProposal(result.state, { ...approved, status: 'executed', closedAt: ctx.height }), ...events);
}

// --- Self-service ------------------------------------------------------------------------------

function requestApp(state: GovState, owner: Address, body: Body<'requestApp'>, ctx: ApplyContext): Outcome {
  const refused =
    checkAppIdentity(state, body.id, body.chainId) ??
    checkPlan(state, body.plan) ??
    checkNodesActive(state, body.validators, 'validator') ??
    checkNodesActive(state, body.observers, 'observer');
  if (refused) return refused;
  if (state.apps.size >= APPS_MAX) return fail(ReceiptErrorCode.LIMIT_REACHED, `the network already has ${APPS_MAX} apps`);
  const auto = state.policy.autoApproveApps;
  if (!auto) {
    let pending = 0;
    for (const a of state.apps.values()) if (a.status === 'pending') pending++;
    if (pending >= PENDING_APPS_MAX) {
      return fail(ReceiptErrorCode.LIMIT_REACHED, `${PENDING_APPS_MAX} app requests are waiting for approval: try again later`);
    }
  }
  const app: AppRecord = {
    id: body.id,
    chainId: body.chainId,
    owner,
    validators: [...body.validators],
    observers: [...body.observers],
    plan: body.plan,
    keyMode: body.keyMode,
    accessPolicy: body.accessPolicy,
    status: auto ? 'active' : 'pending',
    validatorsFrom: ctx.height,
    genesisValidators: [...body.validators],
  };
  const events: GovEvent[] = [{ type: 'app-requested', appId: app.id }];
  if (auto) events.push({ type: 'app-activated', appId: app.id });
  return ok({ ...state, apps: setIn(state.apps, app.id, app) }, ...events);
}

function putParticipant(state: GovState, owner: Address, body: Body<'putParticipant'>): Outcome {
  const owned = ownedApp(state, owner, body.appId, 'change its participants');
  if ('refused' in owned) return owned.refused;
  const roles = state.participants.get(body.appId) ?? new Map<Address, string>();
  if (!roles.has(body.address) && roles.size >= PARTICIPANTS_PER_APP_MAX) {
    return fail(
      ReceiptErrorCode.LIMIT_REACHED,
      `app "${body.appId}" already has ${PARTICIPANTS_PER_APP_MAX} participants: remove some first`,
    );
  }
  const participants = setIn(state.participants, body.appId, setIn(roles, body.address, body.role));
  return ok({ ...state, participants }, { type: 'participants-changed', appId: body.appId });
}

function removeParticipant(state: GovState, owner: Address, body: Body<'removeParticipant'>): Outcome {
  const owned = ownedApp(state, owner, body.appId, 'change its participants');
  if ('refused' in owned) return owned.refused;
  const roles = state.participants.get(body.appId);
  if (!roles?.has(body.address)) {
    return fail(ReceiptErrorCode.UNKNOWN_PARTICIPANT, `${body.address} is not a participant of app "${body.appId}"`);
  }
  const rest = deleteIn(roles, body.address);
  // An app without participants has no entry, so the encoded state has one form.
  const participants = rest.size === 0 ? deleteIn(state.participants, body.appId) : setIn(state.participants, body.appId, rest);
  return ok({ ...state, participants }, { type: 'participants-changed', appId: body.appId });
}

function putApiKey(state: GovState, owner: Address, body: Body<'putApiKey'>): Outcome {
  const owned = ownedApp(state, owner, body.appId, 'manage its API keys');
  if ('refused' in owned) return owned.refused;
  const existing = state.apiKeys.get(body.key.id);
  if (existing && existing.appId !== body.appId) {
    return fail(
      ReceiptErrorCode.DUPLICATE_KEY,
      `the key id ${body.key.id} belongs to another app: create the key with a new random id`,
    );
  }
  if (existing?.revokedAt !== undefined) {
    return fail(
      ReceiptErrorCode.KEY_REVOKED,
      `key ${body.key.id} was revoked at ${existing.revokedAt}; revocation is final: create a new key`,
    );
  }
  if (!existing) {
    let count = 0;
    for (const k of state.apiKeys.values()) if (k.appId === body.appId) count++;
    if (count >= API_KEYS_PER_APP_MAX) {
      return fail(ReceiptErrorCode.LIMIT_REACHED, `app "${body.appId}" already has ${API_KEYS_PER_APP_MAX} API keys`);
    }
  }
  return ok({ ...state, apiKeys: setIn(state.apiKeys, body.key.id, body.key) }, { type: 'keys-changed', appId: body.appId });
}

function revokeApiKey(state: GovState, owner: Address, body: Body<'revokeApiKey'>): Outcome {
  // Revoking is allowed on an archived app: taking a key away is always safe.
  const owned = ownedApp(state, owner, body.appId, 'manage its API keys', true);
  if ('refused' in owned) return owned.refused;
  const key = state.apiKeys.get(body.keyId);
  if (!key || key.appId !== body.appId) {
    return fail(ReceiptErrorCode.UNKNOWN_KEY, `app "${body.appId}" has no API key with id ${body.keyId}`);
  }
  if (key.revokedAt !== undefined)
    return fail(ReceiptErrorCode.KEY_REVOKED, `key ${body.keyId} was already revoked at ${key.revokedAt}`);
  return ok(
    { ...state, apiKeys: setIn(state.apiKeys, key.id, { ...key, revokedAt: body.at }) },
    { type: 'keys-changed', appId: body.appId },
  );
}

function nodeApply(state: GovState, body: Body<'nodeApply'>, ctx: ApplyContext): Outcome {
  const key: NodeKey = body.publicKey;
  const existing = state.nodes.get(key);
  if (existing && existing.status !== 'removed') {
    return fail(
      ReceiptErrorCode.DUPLICATE_NODE,
      `node ${key} is already registered (${existing.status}): it need not apply again`,
    );
  }
  if (!existing && state.nodes.size >= NODES_MAX) {
    return fail(ReceiptErrorCode.LIMIT_REACHED, `the registry already holds ${NODES_MAX} nodes`);
  }
  let pending = 0;
  for (const n of state.nodes.values()) if (n.status === 'pending') pending++;
  if (pending >= PENDING_NODES_MAX) {
    return fail(ReceiptErrorCode.LIMIT_REACHED, `${PENDING_NODES_MAX} nodes are waiting for admission: try again later`);
  }
  const node = {
    publicKey: key,
    name: body.name,
    addrs: [...body.addrs],
    operator: body.operator,
    region: body.region,
    status: 'pending' as const,
    since: ctx.height,
  };
  return ok({ ...state, nodes: setIn(state.nodes, key, node) }, { type: 'node-applied', publicKey: key });
}

// An active node records the head of its gateway's audit log (ADR 0008). The seq only moves
// forward: the log is append-only, so an anchor behind the last one means a replaced log.
function anchorAudit(state: GovState, body: Body<'anchorAudit'>, ctx: ApplyContext): Outcome {
  const node = state.nodes.get(body.node);
  if (!node) {
    return fail(ReceiptErrorCode.UNKNOWN_NODE, `no node has the public key ${body.node}: the node must apply first (nodeApply)`);
  }
  if (node.status !== 'active') {
    return fail(
      ReceiptErrorCode.NODE_NOT_ACTIVE,
      `node ${body.node} (${node.name}) is ${node.status}: only an active node anchors its audit log`,
    );
  }
  const last = state.auditAnchors.get(body.node);
  if (last && body.seq <= last.seq) {
    return fail(
      ReceiptErrorCode.STALE_ANCHOR,
      `node ${body.node} already anchored its audit log at seq ${last.seq}; an anchor must name a later entry (got ${body.seq})`,
    );
  }
  const anchor = { node: body.node, seq: body.seq, hash: body.hash, height: ctx.height, time: ctx.time };
  return ok(
    { ...state, auditAnchors: setIn(state.auditAnchors, body.node, anchor) },
    { type: 'audit-anchored', node: body.node, seq: body.seq },
  );
}
