/**
 * The admin view's and the operator view's backend. Admins read the system ledger's proposals,
 * pending app requests and nodes, and relay governance transactions they signed in their browser:
 * the admin key never reaches this server, which only checks the transaction (it decodes, it is
 * for this network, it is a `propose` or `approve` signed by an admin) before sending it through a
 * gateway and answering with its receipt in plain words. Operators read every node's health and
 * the nodes waiting for admission.
 */
import { hexToBytes, PolisError } from '@polis/core';
import {
  type Action,
  type Alliance,
  type AppRecord,
  decodeGovTx,
  GovernanceTxError,
  type GovReceipt,
  type GovTx,
  type NodeRecord,
  type Policy,
  type Proposal,
  verifyGovTxSignature,
} from '@polis/governance';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type PortalContext, type RouteModule, requireKind, requireUser } from '../http.js';
import { NetworkError, NetworkErrorCode, type NodeView } from '../network.js';

/** Closed (executed, failed or expired) proposals the overview lists, newest first. */
export const CLOSED_PROPOSALS_SHOWN_MAX = 100;

/** Apps the overview lists besides the pending ones. */
export const APPS_SHOWN_MAX = 500;

/** The node's JSON-RPC error code for an input it refuses before any block (`RpcCode.INVALID_INPUT`). */
const RPC_INVALID_INPUT = -32000;

/** Codes of `AdminError`; each value is the portal API's error code, which fixes the HTTP status. */
export enum AdminErrorCode {
  /** The raw transaction does not decode, is for another network, or is not an admin's body (400). */
  BAD_TX = 'INVALID_INPUT',
  /** The transaction is signed by a key that is not one of the alliance's admins (403). */
  NOT_ADMIN = 'NOT_ALLOWED',
}

/** The payload of an `AdminError`. */
export type AdminErrorType =
  | { code: AdminErrorCode.BAD_TX; reason: string; field?: string }
  | { code: AdminErrorCode.NOT_ADMIN; signer: string; admins: readonly string[] };

/** A governance transaction the portal refuses to relay. */
export class AdminError extends PolisError<AdminErrorType> {
  override name = 'AdminError';
}

const HEX_TX = /^0x(?:[0-9a-fA-F]{2})+$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

// 64 KiB of bytes is 128 Ki hex digits: the system ledger's own limit (GOV_TX_BYTES_MAX) plus the prefix.
const Submit = z.object({
  raw: z
    .string()
    .max(2 + 2 * 64 * 1024)
    .regex(HEX_TX, 'must be the signed transaction as 0x-prefixed hex'),
});
const SigningInfo = z.object({ address: z.string().regex(ADDRESS, 'must be a 0x address of 40 hex digits') });

/** A proposal as the gov_* methods answer it. */
type ProposalJson = Proposal & { effectiveStatus: 'open' | 'executed' | 'failed' | 'expired' };

/** A proposal as the admin view shows it. */
export type ProposalView = ProposalJson & {
  /** The action in plain words. */
  summary: string;
  /** Approvals of current admins: the ones that count towards the threshold. */
  approvalsCounted: number;
  threshold: number;
};

/** The receipt of a relayed transaction, with what it did in plain words. */
export type RelayResult = {
  hash: string;
  receipt: GovReceipt;
  /** The proposal the transaction created or approved. */
  proposal?: ProposalView;
  /** What happened, in one sentence a person can act on. */
  outcome: string;
};

/** How to name a node in a sentence: its name and the start of its key. */
function nodeName(nodes: ReadonlyMap<string, { name: string }>, key: string): string {
  const found = nodes.get(key.toLowerCase());
  return found ? `${found.name} (${key.slice(0, 10)}…)` : `${key.slice(0, 10)}…`;
}

/** The action in plain words, as a request: "Approve app land-registry". */
export function describeAction(action: Action, nodes: ReadonlyMap<string, { name: string }> = new Map()): string {
  switch (action.type) {
    case 'admitNode':
      return `Admit node ${nodeName(nodes, action.publicKey)}`;
    case 'suspendNode':
      return `Suspend node ${nodeName(nodes, action.publicKey)}`;
    case 'removeNode':
      return `Remove node ${nodeName(nodes, action.publicKey)}`;
    case 'approveApp':
      return `Approve app ${action.appId}`;
    case 'suspendApp':
      return `Suspend app ${action.appId}`;
    case 'resumeApp':
      return `Resume app ${action.appId}`;
    case 'archiveApp':
      return `Archive app ${action.appId}`;
    case 'setAppValidators':
      return `Run app ${action.appId} on ${action.validators.map((v) => nodeName(nodes, v)).join(', ')}`;
    case 'setPlan':
      return action.limits
        ? `Set plan ${action.name} to ${action.limits.requestsPerSec} requests/s, ${action.limits.txPerSec} transactions/s`
        : `Delete plan ${action.name}`;
    case 'addAdmin':
      return `Add admin ${action.address}`;
    case 'removeAdmin':
      return `Remove admin ${action.address}`;
    case 'setThreshold':
      return `Require ${action.threshold} approvals per action`;
    case 'grantRegulator':
      return `Let regulator ${action.address} read ${action.apps === 'all' ? 'every app' : `app${action.apps.length === 1 ? '' : 's'} ${action.apps.join(', ')}`}`;
    case 'revokeRegulator':
      return `Revoke regulator ${action.address}`;
  }
}

/** What an executed action did, in plain words: "app land-registry is active". */
export function describeDone(action: Action, nodes: ReadonlyMap<string, { name: string }> = new Map()): string {
  switch (action.type) {
    case 'admitNode':
      return `node ${nodeName(nodes, action.publicKey)} is active`;
    case 'suspendNode':
      return `node ${nodeName(nodes, action.publicKey)} is suspended`;
    case 'removeNode':
      return `node ${nodeName(nodes, action.publicKey)} is removed`;
    case 'approveApp':
      return `app ${action.appId} is active`;
    case 'suspendApp':
      return `app ${action.appId} is suspended`;
    case 'resumeApp':
      return `app ${action.appId} is active again`;
    case 'archiveApp':
      return `app ${action.appId} is archived`;
    case 'setAppValidators':
      return `app ${action.appId} runs on ${action.validators.length} node${action.validators.length === 1 ? '' : 's'}`;
    case 'setPlan':
      return action.limits ? `plan ${action.name} is set` : `plan ${action.name} is deleted`;
    case 'addAdmin':
      return `${action.address} is an admin`;
    case 'removeAdmin':
      return `${action.address} is no longer an admin`;
    case 'setThreshold':
      return `each action now needs ${action.threshold} approvals`;
    case 'grantRegulator':
      return `regulator ${action.address} may read ${action.apps === 'all' ? 'every app' : action.apps.join(', ')}`;
    case 'revokeRegulator':
      return `${action.address} is no longer a regulator`;
  }
}

const ORDINALS = ['first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth'];

/** The outcome of a transaction on `proposal`, in one sentence. */
export function describeOutcome(proposal: ProposalView, nodes: ReadonlyMap<string, { name: string }> = new Map()): string {
  const { id, approvalsCounted: have, threshold } = proposal;
  if (proposal.status === 'executed') return `Executed: ${describeDone(proposal.action, nodes)}`;
  if (proposal.status === 'failed') {
    return `Proposal ${id} reached ${threshold} approvals but its action failed: ${proposal.error?.message ?? 'no reason given'}`;
  }
  if (proposal.effectiveStatus === 'expired')
    return `Proposal ${id} expired before it had ${threshold} approvals: propose it again`;
  const missing = threshold - have;
  const next =
    missing === 1 ? `a ${ORDINALS[have] ?? `${have + 1}th`} admin must approve it` : `${missing} more admins must approve it`;
  return `Proposal ${id} has ${have} of ${threshold} approvals: ${next}`;
}

function proposalView(p: ProposalJson, alliance: Alliance, nodes: ReadonlyMap<string, { name: string }>): ProposalView {
  const admins = new Set(alliance.admins.map((a) => a.toLowerCase()));
  return {
    ...p,
    summary: describeAction(p.action, nodes),
    approvalsCounted: p.approvals.filter((a) => admins.has(a.address.toLowerCase())).length,
    threshold: alliance.threshold,
  };
}

/** An admin account of the portal, or 401/403. */
async function requireAdmin(ctx: PortalContext, req: FastifyRequest) {
  const user = await requireUser(ctx, req);
  requireKind(user, ['admin'], 'govern the network');
  return user;
}

/** Every node's health with its gateway's uptime; the system ledger's registry is the list. */
async function nodesWithHealth(ctx: PortalContext): Promise<Array<NodeView & { uptimeMs?: number }>> {
  const [nodes, health] = await Promise.all([ctx.network.nodes(), ctx.network.health()]);
  return nodes.map((n) => {
    const raw = n.url ? (health.get(n.url)?.health as { uptimeMs?: unknown } | undefined) : undefined;
    return typeof raw?.uptimeMs === 'number' ? { ...n, uptimeMs: raw.uptimeMs } : n;
  });
}

function byKey(nodes: readonly NodeRecord[]): Map<string, NodeRecord> {
  return new Map(nodes.map((n) => [n.publicKey.toLowerCase(), n]));
}

function badTx(reason: string, hint: string, field?: string, cause?: unknown): AdminError {
  return new AdminError({ code: AdminErrorCode.BAD_TX, reason, ...(field ? { field } : {}) }, reason, { hint, cause });
}

/** Decodes and checks a transaction an admin signed; throws `AdminError` for anything the portal will not relay. */
async function checkAdminTx(ctx: PortalContext, raw: string): Promise<{ tx: GovTx; signer: string; alliance: Alliance }> {
  let tx: GovTx;
  let signer: string;
  try {
    tx = decodeGovTx(hexToBytes(raw));
    signer = verifyGovTxSignature(tx).id;
  } catch (err) {
    if (!(err instanceof GovernanceTxError)) throw err;
    const field = 'field' in err.type ? String(err.type.field) : undefined;
    throw badTx(
      `the signed transaction is not valid: ${err.shortMessage}`,
      'Sign it again from the admin page; if you built it yourself, use signGovTxSecp256k1 and encodeGovTx from @polis/governance',
      field,
      err,
    );
  }
  if (tx.body.type !== 'propose' && tx.body.type !== 'approve') {
    throw badTx(
      `the portal relays only admins' propose and approve transactions, not ${tx.body.type}`,
      'Send other transactions to a gateway yourself (POST /v1/system, gov_sendTransaction)',
      'tx.body',
    );
  }
  const [chainId, alliance] = await Promise.all([
    ctx.network.gov<number>('gov_chainId'),
    ctx.network.gov<Alliance>('gov_getAlliance'),
  ]);
  if (tx.chainId !== chainId) {
    throw badTx(
      `the transaction is for chain ${tx.chainId}, but this network's system ledger is chain ${chainId}`,
      'Sign it again on this portal',
      'tx.chainId',
    );
  }
  const admins = alliance.admins.map((a) => a.toLowerCase());
  if (!admins.includes(signer.toLowerCase())) {
    throw new AdminError(
      { code: AdminErrorCode.NOT_ADMIN, signer, admins },
      `the key that signed it (${signer}) is not one of the alliance's ${admins.length} admins`,
      { hint: "Sign with an admin's key; the admin page lists the admins' addresses" },
    );
  }
  return { tx, signer, alliance };
}

/** The admin view's routes (`/api/admin/*`, admins only). */
export const adminRoutes: RouteModule = (app, ctx) => {
  app.get('/api/admin/overview', async (req) => {
    await requireAdmin(ctx, req);
    const [alliance, proposals, apps, nodes, height] = await Promise.all([
      ctx.network.gov<Alliance & { policy: Policy }>('gov_getAlliance'),
      ctx.network.gov<ProposalJson[]>('gov_listProposals'),
      ctx.network.gov<AppRecord[]>('gov_listApps'),
      nodesWithHealth(ctx),
      ctx.network.gov<number>('gov_blockNumber'),
    ]);
    const names = byKey(nodes);
    const views = proposals.map((p) => proposalView(p, alliance, names));
    const closed = views.filter((p) => p.effectiveStatus !== 'open').reverse();
    const pending = apps.filter((a) => a.status === 'pending');
    const others = apps.filter((a) => a.status !== 'pending');
    const requested = await Promise.all(
      pending.map(async (a) => {
        const mine = await ctx.apps.get(a.id);
        return {
          ...a,
          validatorNames: a.validators.map((v) => names.get(v.toLowerCase())?.name ?? `${v.slice(0, 10)}…`),
          ...(mine ? { requestedAt: mine.createdAt, name: mine.name } : {}),
        };
      }),
    );
    return {
      alliance,
      height,
      proposals: {
        open: views.filter((p) => p.effectiveStatus === 'open'),
        closed: closed.slice(0, CLOSED_PROPOSALS_SHOWN_MAX),
        closedTotal: closed.length,
      },
      pendingApps: requested,
      apps: others.slice(0, APPS_SHOWN_MAX),
      appsTotal: others.length,
      nodes,
    };
  });

  app.get('/api/admin/signing-info', async (req) => {
    await requireAdmin(ctx, req);
    const { address } = SigningInfo.parse(req.query);
    const [chainId, nonce, alliance] = await Promise.all([
      ctx.network.gov<number>('gov_chainId'),
      ctx.network.gov<number>('gov_getNonce', [address.toLowerCase()]),
      ctx.network.gov<Alliance>('gov_getAlliance'),
    ]);
    const admins = alliance.admins.map((a) => a.toLowerCase());
    return {
      address: address.toLowerCase(),
      chainId,
      nonce,
      isAdmin: admins.includes(address.toLowerCase()),
      admins,
      threshold: alliance.threshold,
    };
  });

  app.post('/api/admin/submit', async (req): Promise<RelayResult> => {
    await requireAdmin(ctx, req);
    const { raw } = Submit.parse(req.body);
    const { tx, alliance } = await checkAdminTx(ctx, raw);
    let receipt: GovReceipt & { hash: string };
    try {
      receipt = await ctx.network.submitSigned(raw.toLowerCase());
    } catch (err) {
      // A transaction the node cannot include (a used nonce, a bad signature) is the sender's to fix.
      if (err instanceof NetworkError && err.type.code === NetworkErrorCode.RPC_ERROR && err.type.rpcCode === RPC_INVALID_INPUT) {
        throw badTx(
          `the network did not take the transaction: ${err.shortMessage}`,
          'Sign it again: the page fetches the next nonce each time',
          undefined,
          err,
        );
      }
      throw err;
    }
    ctx.network.refresh();
    const { hash, ...rest } = receipt;
    const proposalId =
      tx.body.type === 'approve'
        ? tx.body.proposalId
        : rest.events.find((e): e is Extract<typeof e, { type: 'proposal-created' }> => e.type === 'proposal-created')
            ?.proposalId;
    if (proposalId === undefined) return { hash, receipt: rest, outcome: 'The system ledger took the transaction' };
    const [proposal, nodes] = await Promise.all([
      ctx.network.gov<ProposalJson | null>('gov_getProposal', [proposalId]),
      ctx.network.gov<NodeRecord[]>('gov_listNodes'),
    ]);
    if (!proposal) return { hash, receipt: rest, outcome: `The system ledger took the transaction for proposal ${proposalId}` };
    const names = byKey(nodes);
    const view = proposalView(proposal, alliance, names);
    if (view.status === 'executed') await syncApp(ctx, view.action);
    return { hash, receipt: rest, proposal: view, outcome: describeOutcome(view, names) };
  });
};

/** After an app action ran, the portal's copy of the app follows the network's record. */
async function syncApp(ctx: PortalContext, action: Action): Promise<void> {
  if (!('appId' in action)) return;
  const [mine, record] = await Promise.all([ctx.apps.get(action.appId), ctx.network.app(action.appId)]);
  if (mine && record)
    await ctx.apps.sync(action.appId, { status: record.status, plan: record.plan, validators: [...record.validators] });
}

/** The operator view's routes (`/api/operator/*`, operators and admins). */
export const operatorRoutes: RouteModule = (app, ctx) => {
  app.get('/api/operator/nodes', async (req) => {
    const user = await requireUser(ctx, req);
    requireKind(user, ['operator', 'admin'], 'see the nodes’ health');
    const nodes = await nodesWithHealth(ctx);
    return {
      nodes,
      // Any gateway serves the system ledger; `polis node apply --url` takes one of these.
      systemUrls: ctx.network.gateways.map((g) => `${g}/v1/system`),
      checkedAt: ctx.now(),
    };
  });
};
