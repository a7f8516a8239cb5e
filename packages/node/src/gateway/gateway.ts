/**
 * The gateway: the city node's front door for every app it hosts. `createGateway` builds, in
 * order, the access records, the limiter and meter, the HTTP server with the JSON-RPC routes, the
 * WebSocket endpoint, the REST routes and their OpenAPI document, custodial keys and webhooks;
 * `close` stops them in reverse.
 */
import { join, resolve } from 'node:path';
import { bytesToHex } from '@polis/core';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Closers } from '../closers.js';
import type { GatewayConfig } from '../config.js';
import { type AccessSource, authenticate, FileAccessSource, isDenial } from './access.js';
import { type AuditAnchorSink, type AuditedSystem, AuditLog, isRegulatorKey } from './audit.js';
import { createContext, type GatewayContext, type GatewayLedger } from './context.js';
import { Custody } from './custody.js';
import { createHttpServer, registerSystemRoute } from './http.js';
import type { RpcMethods } from './jsonrpc.js';
import { RateLimiter } from './limits.js';
import { Meter, type Usage } from './metering.js';
import { appRoutes, usageRoute } from './rest/app.js';
import { auditRoutes } from './rest/audit.js';
import { chainRoutes } from './rest/chain.js';
import { exportRoutes } from './rest/export.js';
import { type AnyRoute, openApiDocument, registerRoutes, restKey, sendError } from './rest/route.js';
import { serviceRoutes } from './rest/services.js';
import { submitSupport } from './rest/submit.js';
import { Webhooks } from './webhooks.js';
import { registerWebSocket } from './ws.js';

/** Options of `createGateway`. */
export type GatewayOptions = {
  /** The ledgers served; `attach` adds to it later. */
  ledgers: Map<string, GatewayLedger>;
  config: GatewayConfig;
  /** Relative paths in `config` are relative to this. */
  configDir: string;
  /** The node's data directory; the gateway keeps its files under `gateway/`. */
  dataDir: string;
  logger: Logger;
  version: string;
  /** Replaces the access file (tests). */
  access?: AccessSource;
  /** Overlays the access file's records (the node adds the system ledger's). */
  wrapAccess?: (file: AccessSource) => AccessSource;
  /** The system ledger's `gov_*` methods, served at `POST /v1/system`. */
  system?: RpcMethods;
  /** The system ledger itself, when this node hosts one: its governance actions are audited and exported. */
  systemApp?: AuditedSystem;
  /** The audit log's anchoring (ADR 0008): where the head goes, and how often. */
  audit?: { anchor?: AuditAnchorSink; anchorEvery?: number; anchorIntervalMs?: number };
  /** Who this node is, for `/healthz`: its public key, name and connected peers (public keys). */
  identity?: { publicKey: string; name: string; peers: () => string[] };
};

/** A running gateway. */
export type Gateway = {
  app: FastifyInstance;
  ctx: GatewayContext;
  meter: Meter;
  audit: AuditLog;
  /** Starts listening; returns the base URL. */
  listen(host: string, port: number): Promise<string>;
  /**
   * Starts serving a ledger opened after the gateway (one the system ledger assigned), its
   * webhooks included; returns the function that stops serving it.
   */
  attach(ledger: GatewayLedger): Promise<() => Promise<void>>;
  close(): Promise<void>;
};

function usageJson(u: Usage) {
  return { ...u, gasUsed: u.gasUsed.toString() };
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, logger } = options;
  const closers = new Closers(logger, 'gateway');
  const close = () => closers.close();
  try {
    const fileAccess =
      options.access ??
      new FileAccessSource(resolve(options.configDir, config.accessFile), config.reloadMs, (err) =>
        logger.error(
          { err: err instanceof Error ? err.message : String(err) },
          'the access file is invalid; keeping the last good one',
        ),
      );
    const access = options.wrapAccess ? options.wrapAccess(fileAccess) : fileAccess;
    closers.push(() => access.close());
    const meter = new Meter();
    const gatewayDir = join(options.dataDir, 'gateway');
    // The audit log outlives the server: requests still being answered may record entries.
    const audit = AuditLog.open({
      dir: join(gatewayDir, 'audit'),
      logger,
      ...(options.audit?.anchor ? { anchor: options.audit.anchor } : {}),
      ...(options.audit?.anchorEvery !== undefined ? { anchorEvery: options.audit.anchorEvery } : {}),
      ...(options.audit?.anchorIntervalMs !== undefined ? { anchorIntervalMs: options.audit.anchorIntervalMs } : {}),
    });
    closers.push(() => audit.close());
    if (options.systemApp) audit.followSystem(options.systemApp);
    const ctx = createContext({
      ledgers: options.ledgers,
      access,
      limiter: new RateLimiter(),
      meter,
      logger: logger.child({ module: 'gateway' }),
      config,
      dataDir: gatewayDir,
      audit,
      ...(options.systemApp ? { system: options.systemApp } : {}),
    });
    // Gas and storage are metered when a transaction commits.
    const meterLedger = (l: GatewayLedger) =>
      l.feed.onBlock(({ block, receipts }) => {
        receipts.forEach((r, i) => {
          const logBytes = r.logs.reduce((n, log) => n + log.data.length + 32 * log.topics.length + 20, 0);
          meter.txCommitted(l.id, bytesToHex(r.txHash), r.gasUsed, (block.txs[i]?.length ?? 0) + logBytes);
        });
      });
    for (const l of options.ledgers.values()) closers.push(meterLedger(l));
    const app = createHttpServer(ctx, options.configDir);
    if (options.system) registerSystemRoute(app, ctx, options.system);
    closers.push(() => app.close());
    registerAuditHooks(app, ctx, audit);
    // Open sockets are closed before the server, or its close would wait for them.
    closers.push(await registerWebSocket(app, ctx));
    // Requests waiting for their transaction's block are answered "pending" before the server
    // closes, or its close would wait up to a minute for them.
    closers.push(() => submitSupport(ctx).waiters.close());
    const custody = await Custody.open(ctx, { configDir: options.configDir });
    closers.push(() => custody.close());
    const webhooks = await Webhooks.open(ctx);
    closers.push(() => webhooks.close());

    const since = Date.now();
    const routes: AnyRoute[] = [
      ...appRoutes,
      ...chainRoutes(ctx),
      ...custody.routes,
      ...serviceRoutes(custody),
      ...webhooks.routes,
      ...auditRoutes(audit, () => options.audit?.anchor?.latest()),
      ...exportRoutes(ctx),
      usageRoute((appId) => {
        const keys = [...access.current().keys.values()].filter((k) => k.appId === appId).map((k) => k.id);
        const u = meter.usage(appId, keys);
        return {
          since,
          total: usageJson(u.app),
          keys: Object.fromEntries(Object.entries(u.keys).map(([id, v]) => [id, usageJson(v)])),
        };
      }),
    ];
    registerRoutes(app, ctx, routes);
    const document = openApiDocument(routes, { version: options.version });
    app.get('/api/v1/openapi.json', async () => document);
    const started = Date.now();
    // Operators and the portal read a node's health here: no key, nothing secret.
    app.get('/healthz', async () => ({
      ok: true,
      apps: [...options.ledgers.keys()],
      ...(options.identity
        ? { node: { publicKey: options.identity.publicKey, name: options.identity.name }, peers: options.identity.peers() }
        : {}),
      ledgers: [...options.ledgers.values()].map((l) => ({
        id: l.id,
        height: l.chain.head(),
        mempool: l.mempool.size,
        ...(l.storageBytes ? { storageBytes: l.storageBytes() } : {}),
      })),
      uptimeMs: Date.now() - started,
      version: options.version,
    }));
    meter.gauge('polis_ledger_height', 'Height of the latest committed block', ['app'], (g) => {
      for (const l of options.ledgers.values()) g.set({ app: l.id }, l.chain.head());
    });
    meter.gauge('polis_mempool_transactions', 'Transactions waiting in the mempool', ['app'], (g) => {
      for (const l of options.ledgers.values()) g.set({ app: l.id }, l.mempool.size);
    });
    app.get('/metrics', async (_req, reply) => {
      reply.header('content-type', meter.registry.contentType);
      return meter.registry.metrics();
    });

    return {
      app,
      ctx,
      meter,
      audit,
      async listen(host, port) {
        await app.listen({ host, port });
        const address = app.server.address();
        const p = typeof address === 'object' && address ? address.port : port;
        return `${config.tls ? 'https' : 'http'}://${host}:${p}`;
      },
      async attach(l) {
        options.ledgers.set(l.id, l);
        const unmeter = meterLedger(l);
        let unfollow: () => Promise<void>;
        try {
          unfollow = await webhooks.follow(l);
        } catch (err) {
          unmeter();
          if (options.ledgers.get(l.id) === l) options.ledgers.delete(l.id);
          throw err;
        }
        return async () => {
          await unfollow();
          unmeter();
          if (options.ledgers.get(l.id) === l) options.ledgers.delete(l.id);
        };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The REST side of the audit log (ADR 0008). Before a route runs, a regulator key's request is
 * recorded, and refused (403) when it would write. After an admin key's write (webhooks, custodial
 * accounts, key-trust sends ...) is answered, it is recorded with its status.
 */
function registerAuditHooks(app: FastifyInstance, ctx: GatewayContext, audit: AuditLog): void {
  const appRoute = (req: { routeOptions: { url?: string | undefined } }) => {
    const url = req.routeOptions.url;
    return url?.startsWith('/api/v1/apps/:id') ? url.replace(/:(\w+)/g, '{$1}') : undefined;
  };
  app.addHook('preHandler', async (req, reply) => {
    const route = appRoute(req);
    if (!route) return;
    const { id: appId = '', ...params } = (req.params ?? {}) as Record<string, string>;
    const p = authenticate(ctx.access.current(), appId, restKey(req), { ip: req.ip, origin: req.headers.origin });
    if (isDenial(p) || !isRegulatorKey(p.key)) return;
    const write = req.method !== 'GET' && req.method !== 'HEAD';
    try {
      await audit.record({
        actor: p.key.id,
        scope: 'regulator',
        app: appId,
        action: `${req.method} ${route}`,
        detail: { params, query: req.query ?? {}, outcome: write ? 'refused' : 'requested' },
      });
    } catch (err) {
      return sendError(
        reply,
        503,
        'AUDIT_UNAVAILABLE',
        `the request could not be recorded in the audit log: ${(err as Error).message}`,
      );
    }
    if (write) {
      return sendError(
        reply,
        403,
        'FORBIDDEN',
        `the API key ${p.key.id} is a regulator key: it may read and export and never write, so ${req.method} ${route} is refused`,
      );
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD') return;
    const route = appRoute(req);
    const auth = (req as { polisAuth?: { principal: { key: { id: string; appId: string; scopes: string[] } } } }).polisAuth;
    if (!route || !auth) return;
    const key = auth.principal.key;
    if (!key.scopes.includes('admin') || isRegulatorKey(key)) return;
    const { id: _id, ...params } = (req.params ?? {}) as Record<string, string>;
    try {
      await audit.record({
        actor: key.id,
        scope: 'admin',
        app: key.appId,
        action: `${req.method} ${route}`,
        detail: { params, status: reply.statusCode },
      });
    } catch (err) {
      ctx.logger.error({ err, route, key: key.id }, 'an admin action could not be recorded in the audit log');
    }
  });
}
