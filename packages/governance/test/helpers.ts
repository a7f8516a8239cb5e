/**
 * Test fixtures for the governance state machine: deterministic accounts and node keys, a
 * genesis, and a small chain driver that signs each body with the signer's next nonce and
 * applies it at the next height, the way a node would.
 */
import { bytesToHex, ed25519PublicKey, isPolisError, keccak256, privateKeyToAddress, utf8ToBytes } from '@polis/core';
import {
  type Action,
  type Address,
  type ApplyContext,
  applyGovTx,
  createGenesisState,
  encodeGovTx,
  type GenesisOptions,
  type GovBody,
  type GovReceipt,
  type GovState,
  type GovTx,
  type Limits,
  type NodeKey,
  nonceOf,
  signGovTxEd25519,
  signGovTxSecp256k1,
} from '../src/index.js';

/** The system ledger's chain id in tests. */
export const SYSTEM_CHAIN_ID = 7000;
/** The block time of height 1 (2025-01-01). */
export const T0 = 1_735_689_600_000;
/** Milliseconds between blocks. */
export const BLOCK_MS = 1000;
/** An expiry far enough ahead for any test. */
export const DAY_MS = 24 * 60 * 60 * 1000;

/** An account with a deterministic key. */
export type Account = { name: string; privateKey: Uint8Array; address: Address };
/** A node with a deterministic Ed25519 seed. */
export type NodeId = { name: string; seed: Uint8Array; publicKey: NodeKey };

/** A deterministic account: its key is keccak256 of its name. */
export function account(name: string): Account {
  const privateKey = keccak256(utf8ToBytes(`account:${name}`));
  return { name, privateKey, address: bytesToHex(privateKeyToAddress(privateKey)) };
}

/** A deterministic node: its seed is keccak256 of its name. */
export function nodeId(name: string): NodeId {
  const seed = keccak256(utf8ToBytes(`node:${name}`));
  return { name, seed, publicKey: bytesToHex(ed25519PublicKey(seed)) };
}

export const FREE: Limits = { requestsPerSec: 50, txPerSec: 10, bytesInPerSec: 1_000_000, bytesOutPerSec: 5_000_000 };
export const STANDARD: Limits = { requestsPerSec: 1000, txPerSec: 200, bytesInPerSec: 20_000_000, bytesOutPerSec: 100_000_000 };

export const ADMINS = [
  account('admin-0'),
  account('admin-1'),
  account('admin-2'),
  account('admin-3'),
  account('admin-4'),
] as const;
export const NODES = [nodeId('node-0'), nodeId('node-1'), nodeId('node-2'), nodeId('node-3')] as const;
export const OWNER = account('owner');
export const STRANGER = account('stranger');

/** Options of `genesis`: the first `admins` of ADMINS with threshold k; all of NODES active. */
export function genesisOptions(overrides: Partial<GenesisOptions> & { adminCount?: number } = {}): GenesisOptions {
  const { adminCount = 3, ...rest } = overrides;
  return {
    chainId: SYSTEM_CHAIN_ID,
    admins: ADMINS.slice(0, adminCount).map((a) => a.address),
    threshold: 2,
    nodes: NODES.map((n, i) => ({
      publicKey: n.publicKey,
      name: n.name,
      addrs: [`/ip4/10.0.0.${i + 1}/tcp/4001`],
      operator: account(`operator-${i}`).address,
      region: 'eu-west',
    })),
    plans: { free: FREE, standard: STANDARD },
    policy: { autoApproveApps: false },
    ...rest,
  };
}

/** The outcome of one transaction in a `Chain`. */
export type Sent = { receipt: GovReceipt; state: GovState; tx: GovTx };

/** Drives a state through transactions, one block per transaction. */
export class Chain {
  state: GovState;
  height = 1;
  time = T0;
  /** Every transaction applied, with its block context, so a test can replay the chain. */
  readonly log: Array<{ tx: Uint8Array; ctx: ApplyContext }> = [];

  constructor(state: GovState) {
    this.state = state;
  }

  static genesis(overrides: Parameters<typeof genesisOptions>[0] = {}): Chain {
    return new Chain(createGenesisState(genesisOptions(overrides)));
  }

  ctx(): ApplyContext {
    return { height: this.height, time: this.time, chainId: SYSTEM_CHAIN_ID };
  }

  /** Moves the clock forward without a transaction (empty blocks). */
  advance(ms: number, blocks = 1): void {
    this.time += ms;
    this.height += blocks;
  }

  /** Signs `body` with the account's next nonce. */
  sign(from: Account, body: GovBody): GovTx {
    return signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce: nonceOf(this.state, from.address), body }, from.privateKey);
  }

  /** Applies a signed transaction (through its wire bytes) in the next block. */
  apply(tx: GovTx): Sent {
    const bytes = encodeGovTx(tx);
    const ctx = this.ctx();
    const { state, receipt } = applyGovTx(this.state, bytes, ctx);
    this.log.push({ tx: bytes, ctx });
    this.state = state;
    this.advance(BLOCK_MS);
    return { receipt, state, tx };
  }

  send(from: Account, body: GovBody): Sent {
    return this.apply(this.sign(from, body));
  }

  sendNode(node: NodeId, body: GovBody): Sent {
    const tx = signGovTxEd25519({ chainId: SYSTEM_CHAIN_ID, nonce: nonceOf(this.state, node.publicKey), body }, node.seed);
    return this.apply(tx);
  }

  /** Proposes `action` and has the next admins approve until `approvers` admins (the proposer included) signed. */
  pass(action: Action, approvers: readonly Account[] = ADMINS.slice(0, this.state.alliance.threshold)): Sent {
    const [first, ...rest] = approvers;
    if (!first) throw new Error('pass needs at least one approver');
    let last = this.send(first, { type: 'propose', action, expiresAt: this.time + DAY_MS });
    expectOk(last.receipt);
    const id = this.state.nextProposalId - 1;
    for (const admin of rest) last = this.send(admin, { type: 'approve', proposalId: id });
    return last;
  }
}

/** Throws with the receipt's error when it failed, so a test shows why. */
export function expectOk(receipt: GovReceipt): void {
  if (receipt.status !== 'ok') throw new Error(`expected an ok receipt, got ${JSON.stringify(receipt.error)}`);
}

/** The code of the Polis error `fn` throws; a non-Polis error is reported as such. */
export function thrownCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isPolisError(err) ? err.code : `non-Polis error: ${err instanceof Error ? err.stack : String(err)}`;
  }
  return undefined;
}

/** An app request body for `id` on NODES[0..1]. */
export function appRequest(id: string, chainId: number, extra: Partial<Extract<GovBody, { type: 'requestApp' }>> = {}): GovBody {
  return {
    type: 'requestApp',
    id,
    chainId,
    validators: [NODES[0].publicKey, NODES[1].publicKey],
    observers: [],
    plan: 'free',
    keyMode: 'upload',
    accessPolicy: 'open',
    ...extra,
  };
}

/**
 * A chain whose state fills every registry: apps in each status, participants, keys (one
 * revoked), plans, regulators, open, executed, failed and expired proposals, nodes in each status.
 */
export function richChain(): Chain {
  const chain = Chain.genesis({ adminCount: 4, threshold: 2 });
  const [a0, a1, a2] = ADMINS;
  const ok = (s: Sent) => expectOk(s.receipt);
  const [n0, n1, n2, n3] = NODES;
  ok(chain.send(OWNER, appRequest('shop', 100, { observers: [n2.publicKey] })));
  ok(chain.send(OWNER, appRequest('pending-app', 101)));
  ok(chain.send(STRANGER, appRequest('old-app', 102, { plan: 'standard' })));
  chain.pass({ type: 'approveApp', appId: 'shop' });
  chain.pass({ type: 'approveApp', appId: 'old-app' });
  chain.pass({ type: 'archiveApp', appId: 'old-app' });
  chain.pass({ type: 'setAppValidators', appId: 'shop', validators: [n0.publicKey, n1.publicKey, n3.publicKey] });
  chain.pass({ type: 'setPlan', name: 'gold', limits: { requestsPerSec: 7, txPerSec: 3, bytesInPerSec: 9, bytesOutPerSec: 11 } });
  chain.pass({ type: 'grantRegulator', address: account('regulator').address, apps: ['shop', 'old-app'] });
  chain.pass({ type: 'grantRegulator', address: account('auditor').address, apps: 'all' });
  ok(chain.send(OWNER, { type: 'putParticipant', appId: 'shop', address: account('alice').address, role: 'user' }));
  ok(chain.send(OWNER, { type: 'putParticipant', appId: 'shop', address: account('bob').address, role: 'operator' }));
  ok(
    chain.send(OWNER, {
      type: 'putApiKey',
      appId: 'shop',
      key: {
        id: '00000000000000aa',
        appId: 'shop',
        label: 'ünïcödé label',
        salt: '11'.repeat(16),
        hash: '22'.repeat(32),
        scopes: ['admin'],
        origins: [],
        ips: ['192.0.2.7'],
        methods: ['eth_call'],
        contracts: [account('contract').address],
        limits: {},
        createdAt: T0,
      },
    }),
  );
  ok(
    chain.send(OWNER, {
      type: 'putApiKey',
      appId: 'shop',
      key: {
        id: '00000000000000bb',
        appId: 'shop',
        label: '',
        salt: '33'.repeat(16),
        hash: '44'.repeat(32),
        scopes: ['read', 'regulator'],
        origins: ['https://a.example', 'https://b.example'],
        ips: [],
        methods: [],
        contracts: [],
        limits: { requestsPerSec: 1, bytesOutPerSec: 2 },
        createdAt: T0 + 1,
      },
    }),
  );
  ok(chain.send(OWNER, { type: 'revokeApiKey', appId: 'shop', keyId: '00000000000000bb', at: T0 + 5 }));
  const newcomer = nodeId('newcomer');
  ok(
    chain.sendNode(newcomer, {
      type: 'nodeApply',
      publicKey: newcomer.publicKey,
      name: 'newcomer',
      addrs: [],
      operator: OWNER.address,
      region: '',
    }),
  );
  chain.pass({ type: 'suspendNode', publicKey: n2.publicKey });
  // An open proposal, an expired one, and a failed one.
  ok(
    chain.send(a2, {
      type: 'propose',
      action: { type: 'addAdmin', address: account('candidate').address },
      expiresAt: chain.time + DAY_MS,
    }),
  );
  ok(chain.send(a0, { type: 'propose', action: { type: 'setThreshold', threshold: 3 }, expiresAt: chain.time + 2 * BLOCK_MS }));
  chain.pass({ type: 'suspendApp', appId: 'shop' });
  ok(chain.send(a0, { type: 'propose', action: { type: 'resumeApp', appId: 'shop' }, expiresAt: chain.time + DAY_MS }));
  const failing = chain.state.nextProposalId - 1;
  chain.pass({ type: 'resumeApp', appId: 'shop' });
  ok(chain.send(a1, { type: 'approve', proposalId: failing }));
  chain.advance(DAY_MS / 2);
  return chain;
}
