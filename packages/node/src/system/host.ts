/**
 * Hosting the system ledger in a city node (ADR 0006): its database, its application, its
 * consensus engine on the `system` p2p channel (transactions on `system#tx`), and its JSON-RPC
 * methods (`gov_*`), served at `POST /v1/system`. Governance transactions authenticate
 * themselves by their signatures, and the registries are the network's public configuration
 * (API keys appear only as salted hashes), so this endpoint takes no API key.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Clock, ConsensusEngine, createValidatorSet, type EngineEvent } from '@polis/consensus';
import { bytesToHex, type Ed25519Signer, hexToBytes, utf8ToBytes } from '@polis/core';
import {
  apiKeysOf,
  createGenesisState,
  GovernanceTxError,
  getApp,
  getNode,
  getProposal,
  getRegulator,
  listApps,
  listNodes,
  listPlans,
  listProposals,
  nonceOf,
  proposalStatusAt,
} from '@polis/governance';
import { ChainStore, openLedgerDatabase } from '@polis/ledger';
import type { Logger } from 'pino';
import type { Genesis, SystemGenesis } from '../config.js';
import { DEFAULT_PLANS } from '../gateway/access.js';
import type { RpcMethods } from '../gateway/jsonrpc.js';
import type { P2PHost } from '../p2p/index.js';
import { invalidParams, RpcCode, RpcError } from '../rpc/errors.js';
import { parseData } from '../rpc/hex.js';
import { FileWal } from '../walFile.js';
import { SYSTEM_LEDGER_ID, SystemApp } from './systemApp.js';

/** The system ledger as a node hosts it. */
export type HostedSystem = { app: SystemApp; engine: ConsensusEngine; methods: RpcMethods };

/** Converts records to JSON: maps become objects, bytes hex, bigints decimal strings. */
export function toJson(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toJson(v)]));
  if (value instanceof Uint8Array) return bytesToHex(value);
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(toJson);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  return value;
}

function str(p: unknown[], i: number, name: string): string {
  const v = p[i];
  if (typeof v !== 'string' || v === '') throw invalidParams(`${name} must be a non-empty string`);
  return v;
}

/** The `gov_*` JSON-RPC methods over a system ledger. */
export function createGovMethods(app: SystemApp, submit: (raw: Uint8Array) => Uint8Array): RpcMethods {
  const now = () => app.chain.header(app.chain.head())?.time ?? 0;
  return {
    gov_chainId: () => app.chainId,
    gov_blockNumber: () => app.chain.head(),
    gov_sendTransaction: (p) => {
      const raw = parseData(p[0], 'transaction');
      try {
        return bytesToHex(submit(raw));
      } catch (err) {
        if (err instanceof GovernanceTxError) throw new RpcError(RpcCode.INVALID_INPUT, err.message, { code: err.type.code });
        throw err;
      }
    },
    gov_getReceipt: (p) => {
      const hash = parseData(p[0], 'hash', 32);
      const r = app.receipt(hash);
      const where = app.chain.txLocation(hash);
      return r ? toJson({ ...r, hash: bytesToHex(hash), blockNumber: where?.height ?? null }) : null;
    },
    gov_getNonce: (p) => nonceOf(app.state, str(p, 0, 'signer').toLowerCase()),
    gov_getAlliance: () => toJson({ ...app.state.alliance, policy: app.state.policy }),
    gov_getApp: (p) => toJson(getApp(app.state, str(p, 0, 'appId')) ?? null),
    gov_listApps: (p) => {
      const f = (p[0] ?? {}) as { status?: never; owner?: string };
      return toJson(listApps(app.state, f));
    },
    gov_getNode: (p) => toJson(getNode(app.state, str(p, 0, 'publicKey').toLowerCase()) ?? null),
    gov_listNodes: (p) => toJson(listNodes(app.state, p[0] as never)),
    gov_listPlans: () => toJson(listPlans(app.state)),
    gov_listParticipants: (p) =>
      toJson(
        [...(app.state.participants.get(str(p, 0, 'appId')) ?? new Map<string, string>())].map(([address, role]) => ({
          address,
          role,
        })),
      ),
    // The registry is public configuration, but salted hashes are still no one's business.
    gov_listApiKeys: (p) =>
      toJson(apiKeysOf(app.state, str(p, 0, 'appId')).map(({ salt: _salt, hash: _hash, ...shown }) => shown)),
    // Grants are public like the rest of the registries: the portal checks one before every
    // regulator read, so a revocation takes effect at the next request.
    gov_getRegulator: (p) => toJson(getRegulator(app.state, str(p, 0, 'address')) ?? null),
    gov_listRegulators: () =>
      toJson([...app.state.regulators.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))),
    gov_getProposal: (p) => {
      const id = p[0];
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1)
        throw invalidParams('proposal id must be a positive integer');
      const proposal = getProposal(app.state, id);
      return proposal ? toJson({ ...proposal, effectiveStatus: proposalStatusAt(proposal, now()) }) : null;
    },
    gov_listProposals: (p) =>
      toJson(listProposals(app.state, now(), p[0] as never).map((x) => ({ ...x, effectiveStatus: proposalStatusAt(x, now()) }))),
  };
}

/** Opens the system ledger of `genesis` on this node, or returns undefined when it has none. */
export async function hostSystemLedger(o: {
  genesis: Genesis;
  dataDir: string;
  signer: Ed25519Signer;
  p2p: P2PHost;
  clock: Clock;
  logger: Logger;
  closers: { push(fn: () => Promise<void> | void): void };
}): Promise<HostedSystem | undefined> {
  const sys: SystemGenesis | undefined = o.genesis.system;
  if (!sys) return undefined;
  const dir = join(o.dataDir, 'ledgers', SYSTEM_LEDGER_ID);
  mkdirSync(dir, { recursive: true });
  const db = openLedgerDatabase({ path: join(dir, 'db') });
  o.closers.push(() => db.close());
  const chain = new ChainStore(db);
  const validators = createValidatorSet(sys.validators.map((v) => ({ publicKey: hexToBytes(v), power: 1 })));
  const nodes = o.genesis.nodes.map((n) => ({
    publicKey: n.publicKey,
    name: n.name,
    addrs: n.addrs,
    operator: sys.operator,
    ...(n.region ? { region: n.region } : {}),
  }));
  const genesisState = createGenesisState({
    chainId: sys.chainId,
    admins: sys.admins,
    threshold: sys.threshold,
    nodes,
    plans: sys.plans ?? DEFAULT_PLANS,
    policy: { autoApproveApps: sys.autoApproveApps },
  });
  const app = await SystemApp.open({ db, chain, validators, genesis: genesisState, genesisTime: o.genesis.genesisTime });
  const wal = new FileWal(join(dir, 'consensus.wal'));
  o.closers.push(() => wal.close());
  const log = o.logger.child({ ledger: SYSTEM_LEDGER_ID });
  const c = o.genesis.consensus;
  const engine = await ConsensusEngine.open({
    ctx: {
      ledgerId: utf8ToBytes(SYSTEM_LEDGER_ID),
      timeouts: {
        proposeMs: c.proposeMs,
        proposeDeltaMs: c.proposeDeltaMs,
        prevoteMs: c.prevoteMs,
        prevoteDeltaMs: c.prevoteDeltaMs,
        precommitMs: c.precommitMs,
        precommitDeltaMs: c.precommitDeltaMs,
      },
      valueIdOf: (v) => app.valueIdOf(v),
      signer: o.signer,
    },
    validators,
    app,
    wal,
    blocks: app,
    network: o.p2p.channel(SYSTEM_LEDGER_ID),
    clock: o.clock,
    heartbeatMs: c.heartbeatMs,
    ...(c.idleHeartbeatMaxMs !== undefined ? { idleHeartbeatMaxMs: c.idleHeartbeatMaxMs } : {}),
    gossipMs: c.gossipMs,
    onEvent: (e: EngineEvent) => {
      if (e.type === 'evidence' || e.type === 'app-error' || e.type === 'invalid-message')
        log.warn({ event: e.type }, 'consensus event');
    },
  });
  o.closers.push(() => engine.close());
  o.closers.push(o.p2p.channel(SYSTEM_LEDGER_ID).onMessage((peer, bytes) => engine.receive(peer, bytes)));
  const txChannel = o.p2p.channel(`${SYSTEM_LEDGER_ID}#tx`);
  o.closers.push(
    txChannel.onMessage((_peer, raw) => {
      try {
        app.submit(raw);
        engine.notifyWork();
      } catch {
        // Known already, or not includable here: the node that took it answered its client.
      }
    }),
  );
  const submit = (raw: Uint8Array) => {
    const hash = app.submit(raw);
    txChannel.broadcast(raw);
    engine.notifyWork();
    return hash;
  };
  app.onBlock((e) => {
    const failed = e.receipts.filter((r) => r.status === 'failed').length;
    if (e.txHashes.length > 0) log.info({ height: e.height, txs: e.txHashes.length, failed }, 'system block committed');
  });
  return { app, engine, methods: createGovMethods(app, submit) };
}
