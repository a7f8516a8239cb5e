/**
 * Types of the system ledger: its registries (alliance, nodes, apps, participants, API keys,
 * plans, regulators, proposals, nonces, policy), governance transactions, their actions, and
 * the receipts and events a transaction produces.
 *
 * Addresses and keys are lower-case `0x` hex strings in memory (so they can key maps) and raw
 * bytes on the wire. Heights and times are plain numbers: heights count blocks of the system
 * ledger, times are milliseconds since the Unix epoch as agreed by consensus (the block time).
 */
import type { Hex } from '@polis/core';

/** A 20-byte Ethereum address (secp256k1 signer), lower-case `0x` hex. */
export type Address = Hex;

/** A 32-byte Ed25519 public key of a node, lower-case `0x` hex. It is the node's id. */
export type NodeKey = Hex;

/** The two kinds of signers: accounts (admins, app owners) and nodes (only for `nodeApply`). */
export const SIGNER_KINDS = ['secp256k1', 'ed25519'] as const;
export type SignerKind = (typeof SIGNER_KINDS)[number];

/** Who signed a transaction: an address for secp256k1, a node key for Ed25519. */
export type Signer = { kind: 'secp256k1'; id: Address } | { kind: 'ed25519'; id: NodeKey };

/** Rate limits per second; every field is a positive integer. */
export type Limits = {
  requestsPerSec: number;
  txPerSec: number;
  bytesInPerSec: number;
  bytesOutPerSec: number;
};

/** Lower limits one API key may set for itself; absent fields fall back to the plan. */
export type KeyLimits = Partial<Limits>;

/** The alliance of admins and how many of them (k of n) must approve an action. */
export type Alliance = {
  readonly admins: readonly Address[];
  readonly threshold: number;
};

/** Network-wide switches. */
export type Policy = {
  /** Dev networks: app requests are active at once, without a vote. */
  readonly autoApproveApps: boolean;
};

export const NODE_STATUSES = ['pending', 'active', 'suspended', 'removed'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** A city node of the network. */
export type NodeRecord = {
  readonly publicKey: NodeKey;
  readonly name: string;
  /** libp2p multiaddrs the node listens on. */
  readonly addrs: readonly string[];
  /** The account that runs the node. */
  readonly operator: Address;
  readonly region: string;
  readonly status: NodeStatus;
  /** The system-ledger height at which `status` took effect. */
  readonly since: number;
};

export const APP_STATUSES = ['pending', 'active', 'suspended', 'archived'] as const;
export type AppStatus = (typeof APP_STATUSES)[number];

/** `trust`: the gateway holds custodial keys; `upload`: clients sign their own transactions. */
export const KEY_MODES = ['trust', 'upload'] as const;
export type KeyMode = (typeof KEY_MODES)[number];

/** `open`: any account may transact; `allowlist`: only the app's participants. */
export const ACCESS_POLICIES = ['open', 'allowlist'] as const;
export type AccessPolicy = (typeof ACCESS_POLICIES)[number];

/** An app: one EVM ledger hosted by its validators. */
export type AppRecord = {
  readonly id: string;
  /** The EVM chain id, unique across apps and different from the system ledger's. */
  readonly chainId: number;
  readonly owner: Address;
  readonly validators: readonly NodeKey[];
  readonly observers: readonly NodeKey[];
  readonly plan: string;
  readonly keyMode: KeyMode;
  readonly accessPolicy: AccessPolicy;
  readonly status: AppStatus;
  /** The system-ledger height at which the current validator set took effect. */
  readonly validatorsFrom: number;
  /**
   * The validators the app's ledger started with: its genesis names them, so a node that joins
   * later derives the same genesis and follows the set's changes through the ledger's blocks.
   * Fixed once the app is activated; before that it follows `validators`.
   */
  readonly genesisValidators: readonly NodeKey[];
};

/** What an API key may do; the same scopes as the gateway's `KeyRecord`. */
export const SCOPES = ['read', 'write', 'admin', 'regulator'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * A stored API key: never the key itself. The field names are those of the gateway's
 * `KeyRecord` (packages/node/src/gateway/access.ts), so a record converts by copying.
 */
export type ApiKeyRecord = {
  /** 16 lower-case hex digits, unique across all apps. */
  readonly id: string;
  readonly appId: string;
  readonly label: string;
  /** 32 lower-case hex digits. */
  readonly salt: string;
  /** sha256(salt || secret): 64 lower-case hex digits. */
  readonly hash: string;
  readonly scopes: readonly Scope[];
  readonly origins: readonly string[];
  readonly ips: readonly string[];
  readonly methods: readonly string[];
  /** Lower-case `0x` addresses. */
  readonly contracts: readonly Address[];
  readonly limits: KeyLimits;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  /** Milliseconds since the epoch; absent while the key is valid. */
  readonly revokedAt?: number;
};

/** The apps a regulator may read: a list, or every app. */
export type RegulatorApps = readonly string[] | 'all';

/** A regulator's grant. */
export type RegulatorGrant = { readonly address: Address; readonly apps: RegulatorApps };

/** Actions change what only the alliance may change; each runs through a proposal. */
export type Action =
  | { type: 'admitNode'; publicKey: NodeKey }
  | { type: 'suspendNode'; publicKey: NodeKey }
  | { type: 'removeNode'; publicKey: NodeKey }
  | { type: 'approveApp'; appId: string }
  | { type: 'suspendApp'; appId: string }
  | { type: 'resumeApp'; appId: string }
  | { type: 'archiveApp'; appId: string }
  | { type: 'setAppValidators'; appId: string; validators: readonly NodeKey[] }
  | { type: 'setPlan'; name: string; limits: Limits | null }
  | { type: 'addAdmin'; address: Address }
  | { type: 'removeAdmin'; address: Address }
  | { type: 'setThreshold'; threshold: number }
  | { type: 'grantRegulator'; address: Address; apps: RegulatorApps }
  | { type: 'revokeRegulator'; address: Address };

export type ActionType = Action['type'];

/** The body of a governance transaction: what the signer asks for. */
export type GovBody =
  /** An admin proposes an action; it counts as the proposer's approval. */
  | { type: 'propose'; action: Action; expiresAt: number }
  /** An admin approves an open proposal. */
  | { type: 'approve'; proposalId: number }
  /** Anyone asks for an app and becomes its owner. */
  | {
      type: 'requestApp';
      id: string;
      chainId: number;
      validators: readonly NodeKey[];
      observers: readonly NodeKey[];
      plan: string;
      keyMode: KeyMode;
      accessPolicy: AccessPolicy;
    }
  /** The owner adds a participant or changes its role. */
  | { type: 'putParticipant'; appId: string; address: Address; role: string }
  /** The owner removes a participant. */
  | { type: 'removeParticipant'; appId: string; address: Address }
  /** The owner adds an API key, or replaces one of its app's valid keys (same id). */
  | { type: 'putApiKey'; appId: string; key: ApiKeyRecord }
  /** The owner revokes an API key; `at` becomes its `revokedAt`. */
  | { type: 'revokeApiKey'; appId: string; keyId: string; at: number }
  /** A node applies to join, signed with its own Ed25519 key. */
  | { type: 'nodeApply'; publicKey: NodeKey; name: string; addrs: readonly string[]; operator: Address; region: string }
  /** An active node anchors the head of its gateway's audit log (ADR 0008), signed with its own Ed25519 key. */
  | { type: 'anchorAudit'; node: NodeKey; seq: number; hash: Hex };

export type GovBodyType = GovBody['type'];

/** A governance transaction before it is signed. */
export type UnsignedGovTx = {
  /** The system ledger's chain id. */
  chainId: number;
  /** Exactly the signer's next nonce. */
  nonce: number;
  body: GovBody;
};

/** A signed governance transaction. */
export type GovTx = UnsignedGovTx & {
  signerKind: SignerKind;
  /** secp256k1: 65 bytes r || s || v (v = recovery id 0 or 1, s low); Ed25519: 64 bytes. */
  signature: Uint8Array;
};

/** Why a valid transaction was refused, or why a proposal's action failed. */
export type ReceiptError = { code: string; message: string };

export const PROPOSAL_STATUSES = ['open', 'executed', 'failed'] as const;
/** A proposal's stored status. */
export type ProposalStatus = (typeof PROPOSAL_STATUSES)[number];
/** A proposal's status at a given time: an open proposal past `expiresAt` is `expired`. */
export type EffectiveProposalStatus = ProposalStatus | 'expired';

/** One approval: who, and at which height. */
export type Approval = { readonly address: Address; readonly height: number };

/** A proposal. Executed and failed ones stay in the state for the audit trail. */
export type Proposal = {
  /** Sequential from 1. */
  readonly id: number;
  readonly proposer: Address;
  readonly action: Action;
  readonly createdAt: { readonly height: number; readonly time: number };
  /** Milliseconds since the epoch; approvals after it are refused. */
  readonly expiresAt: number;
  /** In order; the proposer's comes first. */
  readonly approvals: readonly Approval[];
  readonly status: ProposalStatus;
  /** Why the action failed (status `failed` only). */
  readonly error?: ReceiptError;
  /** The height at which it was executed or failed. */
  readonly closedAt?: number;
};

/**
 * The latest digest of a node's audit log on the system ledger: entry `seq` of the node's
 * hash-chained log has the hash `hash` (ADR 0008). Anchored at `height` and block time `time`.
 */
export type AuditAnchor = {
  readonly node: NodeKey;
  readonly seq: number;
  /** 32 bytes, lower-case `0x` hex. */
  readonly hash: Hex;
  readonly height: number;
  readonly time: number;
};

/** The whole state of the system ledger. Never mutated: a transition returns a new one. */
export type GovState = {
  readonly chainId: number;
  readonly alliance: Alliance;
  readonly policy: Policy;
  readonly nodes: ReadonlyMap<NodeKey, NodeRecord>;
  readonly apps: ReadonlyMap<string, AppRecord>;
  /** appId -> address -> role. */
  readonly participants: ReadonlyMap<string, ReadonlyMap<Address, string>>;
  /** keyId -> record; key ids are unique across apps, as the gateway looks keys up by id. */
  readonly apiKeys: ReadonlyMap<string, ApiKeyRecord>;
  readonly plans: ReadonlyMap<string, Limits>;
  readonly regulators: ReadonlyMap<Address, RegulatorGrant>;
  readonly proposals: ReadonlyMap<number, Proposal>;
  /** The id the next proposal gets. */
  readonly nextProposalId: number;
  /** Signer id (address or node key) -> its next nonce. Absent means 0. */
  readonly nonces: ReadonlyMap<Hex, number>;
  /** Node key -> the latest audit-log digest the node anchored (ADR 0008). */
  readonly auditAnchors: ReadonlyMap<NodeKey, AuditAnchor>;
};

/** What a node must do after a transaction; listed in the order they happened. */
export type GovEvent =
  | { type: 'proposal-created'; proposalId: number; action: ActionType }
  | { type: 'proposal-approved'; proposalId: number; approvals: number; threshold: number }
  | { type: 'proposal-executed'; proposalId: number }
  | { type: 'proposal-failed'; proposalId: number; error: ReceiptError }
  | { type: 'app-requested'; appId: string }
  | { type: 'app-activated'; appId: string }
  | { type: 'app-suspended'; appId: string }
  | { type: 'app-resumed'; appId: string }
  | { type: 'app-archived'; appId: string }
  | { type: 'validators-changed'; appId: string; validators: readonly NodeKey[]; fromHeight: number }
  | { type: 'observers-changed'; appId: string; observers: readonly NodeKey[] }
  | { type: 'node-applied'; publicKey: NodeKey }
  | { type: 'node-admitted'; publicKey: NodeKey }
  | { type: 'node-suspended'; publicKey: NodeKey }
  | { type: 'node-removed'; publicKey: NodeKey }
  | { type: 'participants-changed'; appId: string }
  | { type: 'keys-changed'; appId: string }
  | { type: 'plans-changed'; name: string }
  | { type: 'admins-changed'; admins: readonly Address[]; threshold: number }
  | { type: 'regulator-changed'; address: Address; apps: RegulatorApps | null }
  | { type: 'audit-anchored'; node: NodeKey; seq: number };

/** The outcome of an included transaction. A failed one changed nothing but the signer's nonce. */
export type GovReceipt = {
  status: 'ok' | 'failed';
  error?: ReceiptError;
  events: readonly GovEvent[];
};

/** The block context a transaction is applied in. */
export type ApplyContext = {
  /** The height of the block that includes the transaction. */
  height: number;
  /** The block time, milliseconds since the epoch. */
  time: number;
  /** The system ledger's chain id (must be the state's). */
  chainId: number;
};
