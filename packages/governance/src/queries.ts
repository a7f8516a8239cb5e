/**
 * Read helpers over a governance state. Lists come back sorted by id, so two nodes reading the
 * same state see the same order.
 */
import { sortedEntries } from './state.js';
import type {
  Address,
  ApiKeyRecord,
  AppRecord,
  AppStatus,
  AuditAnchor,
  EffectiveProposalStatus,
  GovState,
  Limits,
  NodeKey,
  NodeRecord,
  NodeStatus,
  Proposal,
  RegulatorGrant,
} from './types.js';

/** Whether `address` is an admin. */
export function isAdmin(state: GovState, address: string): boolean {
  return state.alliance.admins.includes(address.toLowerCase() as Address);
}

/** A node by public key. */
export function getNode(state: GovState, publicKey: string): NodeRecord | undefined {
  return state.nodes.get(publicKey.toLowerCase() as NodeKey);
}

/** The nodes, optionally of one status, sorted by public key. */
export function listNodes(state: GovState, status?: NodeStatus): NodeRecord[] {
  return sortedEntries(state.nodes)
    .map(([, n]) => n)
    .filter((n) => status === undefined || n.status === status);
}

/** The active nodes, sorted by public key. */
export function activeNodes(state: GovState): NodeRecord[] {
  return listNodes(state, 'active');
}

/** An app by id. */
export function getApp(state: GovState, appId: string): AppRecord | undefined {
  return state.apps.get(appId);
}

/** The apps, optionally filtered by status and owner, sorted by id. */
export function listApps(state: GovState, filter: { status?: AppStatus; owner?: string } = {}): AppRecord[] {
  const owner = filter.owner?.toLowerCase();
  return sortedEntries(state.apps)
    .map(([, a]) => a)
    .filter((a) => (filter.status === undefined || a.status === filter.status) && (owner === undefined || a.owner === owner));
}

/** The apps a node validates or observes (archived ones left out), sorted by id. */
export function appsOfNode(state: GovState, publicKey: string): Array<{ app: AppRecord; role: 'validator' | 'observer' }> {
  const key = publicKey.toLowerCase() as NodeKey;
  const out: Array<{ app: AppRecord; role: 'validator' | 'observer' }> = [];
  for (const app of listApps(state)) {
    if (app.status === 'archived') continue;
    if (app.validators.includes(key)) out.push({ app, role: 'validator' });
    else if (app.observers.includes(key)) out.push({ app, role: 'observer' });
  }
  return out;
}

/** An app's participants and their roles, sorted by address. */
export function participantsOf(state: GovState, appId: string): Array<{ address: Address; role: string }> {
  const roles = state.participants.get(appId);
  if (!roles) return [];
  return sortedEntries(roles).map(([address, role]) => ({ address: address as Address, role }));
}

/** A participant's role in an app, if it has one. */
export function roleOf(state: GovState, appId: string, address: string): string | undefined {
  return state.participants.get(appId)?.get(address.toLowerCase() as Address);
}

/** An app's API keys (revoked ones included), sorted by id. */
export function apiKeysOf(state: GovState, appId: string): ApiKeyRecord[] {
  return sortedEntries(state.apiKeys)
    .map(([, k]) => k)
    .filter((k) => k.appId === appId);
}

/** An API key by id, whatever its app. */
export function getApiKey(state: GovState, keyId: string): ApiKeyRecord | undefined {
  return state.apiKeys.get(keyId.toLowerCase());
}

/** A plan's limits. */
export function getPlan(state: GovState, name: string): Limits | undefined {
  return state.plans.get(name);
}

/** The plans, sorted by name. */
export function listPlans(state: GovState): Array<{ name: string; limits: Limits }> {
  return sortedEntries(state.plans).map(([name, limits]) => ({ name, limits }));
}

/** A regulator's grant. */
export function getRegulator(state: GovState, address: string): RegulatorGrant | undefined {
  return state.regulators.get(address.toLowerCase() as Address);
}

/** Whether `address` may read `appId` as a regulator. */
export function canRegulate(state: GovState, address: string, appId: string): boolean {
  const grant = getRegulator(state, address);
  if (!grant) return false;
  return grant.apps === 'all' || grant.apps.includes(appId);
}

/** The next nonce of a signer (an address or a node key). */
export function nonceOf(state: GovState, signer: string): number {
  return state.nonces.get(signer.toLowerCase() as `0x${string}`) ?? 0;
}

/** A proposal by id. */
export function getProposal(state: GovState, id: number): Proposal | undefined {
  return state.proposals.get(id);
}

/** A proposal's status at `time`: an open proposal whose `expiresAt` has passed is `expired`. */
export function proposalStatusAt(proposal: Proposal, time: number): EffectiveProposalStatus {
  return proposal.status === 'open' && time > proposal.expiresAt ? 'expired' : proposal.status;
}

/** The proposals, optionally of one effective status at `time`, by id. */
export function listProposals(state: GovState, time: number, status?: EffectiveProposalStatus): Proposal[] {
  return [...state.proposals.values()]
    .filter((p) => status === undefined || proposalStatusAt(p, time) === status)
    .sort((a, b) => a.id - b.id);
}

/** The approvals that count now: those of current admins (an approval by a removed admin no longer counts). */
export function countedApprovals(state: GovState, proposal: Proposal): number {
  return proposal.approvals.filter((a) => state.alliance.admins.includes(a.address)).length;
}

/** How many proposals are open (neither closed nor expired) at `time`. */
export function openProposalCount(state: GovState, time: number): number {
  let n = 0;
  for (const p of state.proposals.values()) if (proposalStatusAt(p, time) === 'open') n++;
  return n;
}

/** The latest audit-log digest `node` anchored (ADR 0008), if it anchored one. */
export function getAuditAnchor(state: GovState, node: string): AuditAnchor | undefined {
  return state.auditAnchors.get(node.toLowerCase() as NodeKey);
}
