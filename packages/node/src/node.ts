/**
 * The composition root of a city node. `startNode` builds, in order: for each hosted ledger its
 * database, state and chain stores, mempool, executors, application and consensus engine; then
 * the JSON-RPC server. `close` tears them down in reverse. Ordering constraints are noted where
 * they apply.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { type Clock, ConsensusEngine, createValidatorSet, type EngineEvent, indexOfValidator } from '@polis/consensus';
import { bytesToHex, createEd25519Signer, decryptKeystore, hexToBytes, keccak256, utf8ToBytes } from '@polis/core';
import { BlockExecutor, IDENTITY_ADDRESS, senderPolicyRefusal } from '@polis/execution';
import { activeNodes, encodeGovTx, type GovState, getApp, getAuditAnchor, nonceOf, signGovTxEd25519 } from '@polis/governance';
import {
  ChainStore,
  createLedgerCommon,
  decodeTx,
  Mempool,
  openLedgerDatabase,
  openStateStore,
  type StateStore,
} from '@polis/ledger';
import { destination, type Logger, pino } from 'pino';
import { Closers } from './closers.js';
import { ConfigError, ConfigErrorCode, GenesisSchema, type LedgerGenesis, NodeConfigSchema, readJsonFile } from './config.js';
import type { GatewayLedger } from './gateway/context.js';
import { LedgerFeed } from './gateway/feed.js';
import { createGateway, type Gateway } from './gateway/gateway.js';
import { LedgerApp, type WantedValidators, writeLedgerGenesis } from './ledgerApp.js';
import { type AdmittedPeer, P2PHost } from './p2p/index.js';
import { createEthMethods } from './rpc/eth.js';
import { SystemAccessSource } from './system/access.js';
import { SystemFollower } from './system/follower.js';
import { type HostedSystem, hostSystemLedger } from './system/host.js';
import { FileWal } from './walFile.js';

/** How often pending transactions are sent to the peers again, and how many at a time. */
const TX_RESEND_INTERVAL_MS = 3_000;
const TX_RESEND_MAX = 256;

/** System-ledger events that change which nodes are admitted. */
const NODE_EVENTS = new Set(['node-admitted', 'node-suspended', 'node-removed']);

/** The peers of a system-governed network: the active nodes of the registry. */
function admittedPeers(state: GovState): AdmittedPeer[] {
  return activeNodes(state).map((n) => ({ publicKey: n.publicKey, addrs: [...n.addrs] }));
}

/** The version `web3_clientVersion` reports. */
export const NODE_VERSION = 'polis/0.1.0';

/** Options of `startNode`. */
export type StartNodeOptions = {
  configPath: string;
  /** Opens the node's key file. */
  password: string;
  logger?: Logger;
  /** Overrides the configuration's gateway TLS files (absolute paths). */
  tls?: { cert: string; key: string };
  /** Overrides the configuration's gateway HTTP/2 switch. */
  http2?: boolean;
};

/** A hosted ledger, as the node exposes it to its owner (tests, the dev command). */
export type HostedLedger = {
  id: string;
  chainId: number;
  app: LedgerApp;
  engine: ConsensusEngine;
  state: StateStore;
  chain: ChainStore;
};

/** A running node. */
export type RunningNode = {
  name: string;
  /** The base URL of the gateway, e.g. http://127.0.0.1:8545. */
  rpcBase: string;
  /** The JSON-RPC endpoint of a ledger for an API key: `<rpcBase>/v1/<ledgerId>/<apiKey>`. */
  rpcUrl(ledgerId: string, apiKey: string): string;
  ledgers: HostedLedger[];
  /** The system ledger, when the genesis has one. */
  system?: HostedSystem;
  /** Follows the system ledger's app assignments, when there is one. */
  follower?: SystemFollower;
  /** The node's Ed25519 public key (0x hex). */
  publicKey: `0x${string}`;
  gateway: Gateway;
  p2p: P2PHost;
  close(): Promise<void>;
};

/** The system clock, for engines outside the simulator. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => setTimeout(fn, ms),
  cancel: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

function resolvePath(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}

/** Starts a node from its configuration file. */
export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  const configDir = dirname(resolve(options.configPath));
  const config = readJsonFile(options.configPath, NodeConfigSchema, 'node configuration');
  const genesisPath = resolvePath(configDir, config.genesisFile);
  const genesis = readJsonFile(genesisPath, GenesisSchema, 'genesis');
  const dataDir = resolvePath(configDir, config.dataDir);
  const logger = options.logger ?? pino({ name: config.name, level: process.env.POLIS_LOG_LEVEL ?? 'info' }, destination(2));
  const { secret, keyType } = decryptKeystore(readFileSync(resolvePath(configDir, config.keyFile), 'utf8'), options.password);
  if (keyType !== 'ed25519') {
    const keyFile = resolvePath(configDir, config.keyFile);
    throw new ConfigError(
      { code: ConfigErrorCode.INVALID, path: keyFile, issues: [`keyType: ${keyType}`] },
      `the node key in ${keyFile} is a ${keyType} key`,
      {
        hint: 'A node key is Ed25519: create one with `polis key new --type ed25519`',
      },
    );
  }
  const signer = createEd25519Signer(secret);
  logger.info({ publicKey: bytesToHex(signer.publicKey) }, 'node key loaded');

  // Teardown runs in reverse order of construction.
  const closers = new Closers(logger, 'node');
  const close = () => closers.close();

  try {
    // The admitted set: every node of the genesis, and every validator even if unlisted there.
    const admitted = new Map<string, AdmittedPeer>();
    for (const n of genesis.nodes) admitted.set(n.publicKey.toLowerCase(), { publicKey: n.publicKey, addrs: n.addrs });
    for (const v of genesis.system?.validators ?? []) {
      if (!admitted.has(v.toLowerCase())) admitted.set(v.toLowerCase(), { publicKey: v, addrs: [] });
    }
    for (const g of genesis.ledgers) {
      for (const v of g.validators) {
        if (!admitted.has(v.publicKey.toLowerCase()))
          admitted.set(v.publicKey.toLowerCase(), { publicKey: v.publicKey, addrs: [] });
      }
    }
    const p2p = await P2PHost.create({
      seed: secret,
      listen: config.p2p.listen,
      admitted: [...admitted.values()],
      logger: logger.child({ module: 'p2p' }),
    });
    closers.push(() => p2p.close());

    // The system ledger first: the app ledgers will follow its configuration (ADR 0006).
    const system = await hostSystemLedger({ genesis, dataDir, signer, p2p, clock: systemClock, logger, closers });
    if (system) {
      // With a system ledger, the peers are the nodes its registry says are active: a node is
      // admitted, suspended or removed there, and its connections follow within one block.
      const admit = () => p2p.setAdmitted(admittedPeers(system.app.state));
      await admit();
      closers.push(
        system.app.onBlock((e) => {
          if (e.receipts.some((r) => r.events.some((ev) => NODE_EVENTS.has(ev.type)))) {
            admit().catch((err) => logger.error({ err }, 'updating the admitted peers failed'));
          }
        }),
      );
    }

    /**
     * Opens one app ledger: its database, state, mempool, executors, application and engine,
     * and its p2p channels. Used for the genesis ledgers and for the ones the system ledger
     * assigns later (ADR 0006); `close` undoes it in reverse.
     */
    const openLedger = async (g: LedgerGenesis, genesisTime: number, wantedValidators?: () => WantedValidators | undefined) => {
      const own = new Closers(logger, `ledger ${g.id}`);
      try {
        const dir = join(dataDir, 'ledgers', g.id);
        mkdirSync(dir, { recursive: true });
        const db = openLedgerDatabase({ path: join(dir, 'db') });
        own.push(() => db.close());
        const state = await openStateStore({ db, commitment: config.commitment });
        const chain = new ChainStore(db);
        const validators = createValidatorSet(g.validators.map((v) => ({ publicKey: hexToBytes(v.publicKey), power: v.power })));
        await writeLedgerGenesis(state, chain, g, genesisTime, validators);

        const chainId = BigInt(g.chainId);
        const common = createLedgerCommon(chainId);
        const allow = new Set(g.allowlist.map((a) => a.toLowerCase()));
        const mempool = new Mempool({
          common,
          nonceOf: (a) => state.committedNonceAndBalance(a).nonce,
          balanceOf: (a) => state.committedNonceAndBalance(a).balance,
          blockGasLimit: BigInt(g.gasLimit),
          // The app's access policy, then its identity service's account policy (a required role
          // or attestation), read from the committed state; block validation checks the latter again.
          isPermitted: (a, t) => {
            if (g.accessPolicy === 'allowlist' && !allow.has(bytesToHex(a))) return false;
            // The node's clock stands in for the next block's time (it is only compared with expiries).
            return senderPolicyRefusal((slot) => state.getStorage(IDENTITY_ADDRESS, slot), a, Date.now(), t.tx.to?.bytes) ?? true;
          },
        });
        // Two executors: blocks and calls never share an overlay.
        const executor = await BlockExecutor.create({ common, committed: state });
        const calls = await BlockExecutor.create({ common, committed: state });
        const params = {
          ledgerId: utf8ToBytes(g.id),
          chainId,
          gasLimit: BigInt(g.gasLimit),
          maxBlockTxs: g.maxBlockTxs,
          maxBlockBytes: g.maxBlockBytes,
        };
        const app = new LedgerApp({
          params,
          state,
          chain,
          mempool,
          executor,
          validators,
          ...(wantedValidators ? { wantedValidators } : {}),
        });
        const wal = new FileWal(join(dir, 'consensus.wal'));
        own.push(() => wal.close());
        const log = logger.child({ ledger: g.id });
        const feed = new LedgerFeed((err) => log.error({ err }, 'a subscriber failed and was removed'));
        own.push(
          app.onBlock((block, receipts) =>
            feed.emitBlock({ height: block.header.height, block, receipts, txHashes: receipts.map((r) => r.txHash) }),
          ),
        );
        const c = genesis.consensus;
        const engine = await ConsensusEngine.open({
          ctx: {
            ledgerId: params.ledgerId,
            timeouts: {
              proposeMs: c.proposeMs,
              proposeDeltaMs: c.proposeDeltaMs,
              prevoteMs: c.prevoteMs,
              prevoteDeltaMs: c.prevoteDeltaMs,
              precommitMs: c.precommitMs,
              precommitDeltaMs: c.precommitDeltaMs,
            },
            valueIdOf: (v) => app.valueIdOf(v),
            signer,
          },
          validators,
          app,
          wal,
          blocks: app,
          network: p2p.channel(g.id),
          clock: systemClock,
          heartbeatMs: c.heartbeatMs,
          ...(c.idleHeartbeatMaxMs !== undefined ? { idleHeartbeatMaxMs: c.idleHeartbeatMaxMs } : {}),
          gossipMs: c.gossipMs,
          onEvent: (e: EngineEvent) => {
            if (e.type === 'decided') log.debug({ height: e.height, round: e.round }, 'block committed');
            else if (e.type === 'evidence' || e.type === 'app-error' || e.type === 'invalid-message')
              log.warn({ event: e.type }, 'consensus event');
            else if (e.type === 'recovered')
              log.info({ height: e.height, replayed: e.replayed, tornTail: e.tornTail }, 'consensus recovered');
          },
        });
        // The engine stops before the stores it writes to close (closers run in reverse), and
        // stops receiving before it stops.
        own.push(() => engine.close());
        own.push(p2p.channel(g.id).onMessage((peer, bytes) => engine.receive(peer, bytes)));
        // Transactions travel on their own channel: a client may submit to any node, and the
        // proposer of the next block must see the transaction. Every admitted node is a direct
        // peer, so one hop reaches all of them and nothing is relayed.
        const txChannel = p2p.channel(`${g.id}#tx`);
        own.push(
          txChannel.onMessage((_peer, raw) => {
            // Peers resend pooled transactions: one known here costs a hash, not a decode.
            if (mempool.knows(keccak256(raw))) return;
            try {
              const d = mempool.add(raw);
              engine.notifyWork();
              feed.emitPending(d.hash);
            } catch {
              // Already known, or invalid here: the submitting node already answered its client.
            }
          }),
        );
        const submit = (raw: Uint8Array) => {
          const d = mempool.add(raw);
          txChannel.broadcast(raw);
          engine.notifyWork();
          feed.emitPending(d.hash);
          return d.hash;
        };
        // A transaction is sent to the peers once, when it arrives; one that a peer missed (it was
        // down, partitioned or paused) would wait until this node proposes. So the transactions
        // that could go in the next block are sent again now and then, a bounded number at a time;
        // peers that have them answer nothing (already known).
        const resend = setInterval(() => {
          for (const tx of mempool.select({ maxTxs: TX_RESEND_MAX, maxBytes: 4 * 1024 * 1024, maxGas: params.gasLimit * 4n })) {
            txChannel.broadcast(tx.raw);
          }
        }, TX_RESEND_INTERVAL_MS);
        resend.unref();
        own.push(() => clearInterval(resend));
        const gatewayLedger: GatewayLedger = {
          id: g.id,
          chainId: g.chainId,
          params,
          methods: createEthMethods({ params, chain, state, mempool, calls, submit, clientVersion: NODE_VERSION }),
          feed,
          chain,
          state,
          mempool,
          calls,
          decode: (raw) => decodeTx(raw, common),
          submit,
          storageBytes: () => db.storageBytes(),
          ...(system ? { suspended: () => getApp(system.app.state, g.id)?.status === 'suspended' } : {}),
        };
        return {
          hosted: { id: g.id, chainId: g.chainId, app, engine, state, chain } as HostedLedger,
          gatewayLedger,
          close: () => own.close(),
        };
      } catch (err) {
        await own.close();
        throw err;
      }
    };

    const ledgers: HostedLedger[] = [];
    const gatewayLedgers = new Map<string, GatewayLedger>();
    for (const g of genesis.ledgers) {
      const l = await openLedger(g, genesis.genesisTime);
      closers.push(l.close);
      ledgers.push(l.hosted);
      gatewayLedgers.set(g.id, l.gatewayLedger);
    }

    const gateway = await createGateway({
      ledgers: gatewayLedgers,
      config: {
        ...config.gateway,
        ...(options.tls ? { tls: options.tls } : {}),
        ...(options.http2 !== undefined ? { http2: options.http2 } : {}),
      },
      configDir,
      dataDir,
      logger,
      version: NODE_VERSION,
      identity: { publicKey: bytesToHex(signer.publicKey), name: config.name, peers: () => p2p.connectedPeers() },
      ...(system
        ? {
            system: system.methods,
            systemApp: system.app,
            wrapAccess: (file) => new SystemAccessSource(file, system.app),
            // The audit log's head is anchored on the system ledger, signed with the node key (ADR 0008).
            audit: {
              anchorEvery: config.gateway.audit.anchorEvery,
              anchorIntervalMs: config.gateway.audit.anchorIntervalMs,
              anchor: {
                latest: () => getAuditAnchor(system.app.state, bytesToHex(signer.publicKey)),
                submit: async (seq: number, hash: string) => {
                  const node = bytesToHex(signer.publicKey);
                  const tx = signGovTxEd25519(
                    {
                      chainId: system.app.chainId,
                      nonce: nonceOf(system.app.state, node),
                      body: { type: 'anchorAudit', node, seq, hash: hash as `0x${string}` },
                    },
                    secret,
                  );
                  await (system.methods.gov_sendTransaction as (p: unknown[]) => unknown)([bytesToHex(encodeGovTx(tx))]);
                },
              },
            },
          }
        : {}),
    });
    // The gateway closes first, so no request reaches a closed ledger.
    closers.push(() => gateway.close());
    const rpc = gateway.app;
    if (config.testControls) {
      // Dev and test networks only: the e2e runner cuts a node off from some peers (a partition
      // made by the node's own network filter, so no root is needed) and heals it.
      const all = [...admitted.values()];
      rpc.post('/test/partition', async (req, reply) => {
        // The gateway parses every body itself, into { ok, value } (gateway/http.ts).
        const body = req.body as { ok?: boolean; value?: unknown } | undefined;
        const value = body?.ok ? body.value : undefined;
        const peers = value && typeof value === 'object' ? (value as { peers?: unknown }).peers : undefined;
        if (!Array.isArray(peers) || !peers.every((x) => typeof x === 'string')) {
          return reply.code(400).send({ error: 'body must be {"peers": ["0x<ed25519 public key>", ...]}' });
        }
        const cut = new Set(peers.map((x) => x.toLowerCase()));
        await p2p.setAdmitted(all.filter((a) => !cut.has(a.publicKey.toLowerCase())));
        return { ok: true, cut: [...cut] };
      });
      rpc.post('/test/heal', async () => {
        await p2p.setAdmitted(all);
        return { ok: true };
      });
    }
    // The app ledgers the system ledger assigns to this node, now and as it changes (ADR 0006).
    const follower = system
      ? await SystemFollower.start({
          system: system.app,
          self: bytesToHex(signer.publicKey),
          reserved: new Set(genesis.ledgers.map((g) => g.id)),
          open: async (g, hooks) => {
            const l = await openLedger(g, 0, hooks.wanted);
            const detach = await gateway.attach(l.gatewayLedger);
            ledgers.push(l.hosted);
            const app = l.hosted.app;
            const stopWatching = app.onBlock((block) => {
              if (block.validatorUpdate) hooks.changed();
            });
            return {
              validating: () => indexOfValidator(app.currentValidators.set, signer.publicKey) >= 0,
              close: async () => {
                stopWatching();
                await detach();
                ledgers.splice(ledgers.indexOf(l.hosted), 1);
                await l.close();
              },
            };
          },
          logger: logger.child({ module: 'follower' }),
        })
      : undefined;
    // It stops (and closes what it opened) before the gateway and the system ledger close.
    if (follower) closers.push(() => follower.close());
    const rpcBase = await gateway.listen(config.rpc.host, config.rpc.port);
    logger.info({ rpc: rpcBase, p2p: p2p.addrs, ledgers: ledgers.map((l) => l.id) }, 'node started');
    return {
      name: config.name,
      rpcBase,
      rpcUrl: (id, key) => `${rpcBase}/v1/${id}/${key}`,
      ledgers,
      ...(system ? { system } : {}),
      ...(follower ? { follower } : {}),
      publicKey: bytesToHex(signer.publicKey),
      gateway,
      p2p,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
