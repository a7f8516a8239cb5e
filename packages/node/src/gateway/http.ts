/**
 * The gateway's HTTP server (fastify): TLS and HTTP/2 when configured, our own JSON parsing (a
 * parse error must become JSON-RPC -32700, and nesting is bounded), CORS, structured access logs
 * without key material, and the JSON-RPC routes `POST /v1/{appId}/{apiKey}` and `POST /v1/{appId}`
 * with `Authorization: Bearer <apiKey>`.
 */
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { RpcCode } from '../rpc/errors.js';
import { WRITE_METHODS } from './access.js';
import { auditRpc } from './audit.js';
import type { GatewayContext } from './context.js';
import { retryAfterSeconds } from './context.js';
import { dispatch, errorResponse, type RpcMethods, requestCount, tooDeep } from './jsonrpc.js';
import type { Throttle } from './limits.js';

/** The longest path parameter the router accepts (a key is 64 characters). */
export const PATH_PARAM_MAX = 256;

/** A parsed request body. */
export type ParsedBody = { ok: true; value: unknown; bytes: number } | { ok: false; message: string; bytes: number };

/** The parsed body of a request (no body: an empty, failed parse). */
export function bodyOf(req: FastifyRequest): ParsedBody {
  const b = req.body as ParsedBody | undefined;
  return b && typeof b === 'object' && 'ok' in b ? b : { ok: false, message: 'the request has no body', bytes: 0 };
}

/** Builds the server; the caller registers the other routes and listens. */
export function createHttpServer(ctx: GatewayContext, configDir: string): FastifyInstance {
  const { config, logger } = ctx;
  const bodyLimit = config.bodyLimitBytes;
  const tls = config.tls
    ? {
        cert: readFileSync(resolvePath(configDir, config.tls.cert)),
        key: readFileSync(resolvePath(configDir, config.tls.key)),
      }
    : undefined;
  const base = {
    bodyLimit,
    logger: false,
    return503OnClosing: true,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    // Longer than any key, hash or app id; longer path parameters get a 414 in our error shape.
    maxParamLength: PATH_PARAM_MAX,
    // Errors fastify's router raises before a route runs (bad URL encoding, over-long parameters),
    // in our error shape, and without echoing the URL: it may hold a key.
    frameworkErrors: (err: { code?: string }, _req: unknown, reply: { code(n: number): { send(body: unknown): unknown } }) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      reply.code(tooLong ? 414 : 400).send({
        error: {
          code: tooLong ? 'URI_TOO_LONG' : 'BAD_URL',
          message: tooLong
            ? `a path segment is longer than ${PATH_PARAM_MAX} characters: check the app id, key or hash in the URL`
            : 'the URL is malformed (bad percent-encoding): encode path segments with encodeURIComponent',
        },
      });
    },
  } as const;
  // One server type for the three transports: the routes never depend on which one serves them.
  const createServer = Fastify as unknown as (options: Record<string, unknown>) => FastifyInstance;
  const app = createServer(
    tls && config.http2 ? { ...base, http2: true, https: { ...tls, allowHTTP1: true } } : tls ? { ...base, https: tls } : base,
  );

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    const text = body as string;
    const bytes = Buffer.byteLength(text);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return done(null, { ok: false, message: 'parse error: the request body is not valid JSON', bytes });
    }
    if (tooDeep(value, config.jsonDepthMax)) {
      return done(null, { ok: false, message: `the request body nests deeper than ${config.jsonDepthMax} levels`, bytes });
    }
    done(null, { ok: true, value, bytes });
  });

  // CORS: any origin may ask (the preflight carries no key); the answer to the real request is
  // allowed for the origin only when the key's origin allowlist admits it (checked in authorize).
  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (typeof origin === 'string') {
      reply.header('access-control-allow-origin', origin);
      reply.header('vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      reply
        .header('access-control-allow-methods', 'GET, POST, PUT, DELETE, OPTIONS')
        .header('access-control-allow-headers', 'content-type, authorization, x-api-key, idempotency-key')
        .header('access-control-max-age', '600')
        .code(204)
        .send();
    }
  });

  // Access log: the route pattern, never the URL (it may hold a key), and the key's id only.
  app.addHook('onResponse', async (req, reply) => {
    const auth = (req as { polisAuth?: { principal: { key: { id: string; appId: string } } } }).polisAuth;
    logger.info(
      {
        method: req.method,
        route: req.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        ip: req.ip,
        app: auth?.principal.key.appId,
        key: auth?.principal.key.id,
      },
      'request',
    );
  });

  app.setErrorHandler((err: { statusCode?: number; code?: string }, req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
      return reply.code(413).send(errorResponse(null, RpcCode.LIMIT_EXCEEDED, `request body is larger than ${bodyLimit} bytes`));
    }
    if (err.statusCode && err.statusCode < 500) {
      return reply
        .code(err.statusCode)
        .send({ error: { code: 'BAD_REQUEST', message: `the request was refused (${err.code ?? err.statusCode})` } });
    }
    logger.error({ err, route: req.routeOptions.url }, 'http error');
    return reply.code(500).send(errorResponse(null, RpcCode.INTERNAL_ERROR, 'internal error: see the node log'));
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `no route ${req.method} ${req.url.replace(/\/pk_[^/?]*/g, '/pk_…')}: send JSON-RPC with POST to /v1/{appId}/{apiKey}; the REST API is described at /api/v1/openapi.json`,
      },
    });
  });

  const jsonRpc = async (req: FastifyRequest<{ Params: { app: string; key?: string } }>, reply: FastifyReply) => {
    const appId = req.params.app;
    const presented = req.params.key ?? bearer(req);
    const body = bodyOf(req);
    const auth = ctx.authorize(
      appId,
      presented,
      { ip: req.ip, origin: req.headers.origin },
      {
        requests: body.ok ? requestCount(body.value) : 1,
        txs: 0,
        bytesIn: body.bytes,
      },
    );
    if (!auth.ok) {
      if (auth.retryAfterMs !== undefined) reply.header('retry-after', String(retryAfterSeconds(auth.retryAfterMs)));
      return reply.code(auth.status).send(errorResponse(null, auth.code, auth.message));
    }
    (req as { polisAuth?: unknown }).polisAuth = auth;
    ctx.meter.request(appId, auth.principal.key.id, body.ok ? requestCount(body.value) : 1, body.bytes, 'http');
    if (!body.ok) return reply.send(errorResponse(null, RpcCode.PARSE_ERROR, body.message));
    // A regulator's request is recorded before it is served; one holding a write is refused whole.
    const audited = await auditRpc(ctx.audit, auth.principal.key, appId, body.value, 'http', WRITE_METHODS);
    if (!audited.ok) {
      return reply
        .code(audited.status)
        .send(errorResponse(null, audited.status === 403 ? RpcCode.FORBIDDEN : RpcCode.INTERNAL_ERROR, audited.message));
    }
    let throttle: Throttle | undefined;
    const ledger = ctx.ledgers.get(appId);
    if (!ledger)
      return reply.code(404).send(errorResponse(null, RpcCode.RESOURCE_NOT_FOUND, `this node serves no app "${appId}"`));
    const resolver = ctx.methodsFor(ledger, auth, 'http', (t) => {
      throttle = t;
    });
    const answer = await dispatch(resolver, body.value, logger, {
      timeoutMs: config.requestTimeoutMs,
      batchMax: config.batchMax,
    });
    if (throttle) reply.header('retry-after', String(retryAfterSeconds(throttle.retryAfterMs)));
    if (answer === undefined) return reply.code(204).send();
    const text = JSON.stringify(answer);
    ctx.chargeOut(auth, Buffer.byteLength(text));
    // A lone request refused for its transaction rate is a 429 like any other limit.
    const status = throttle && !Array.isArray(answer) ? 429 : 200;
    return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(text);
  };

  app.post('/v1/:app/:key', jsonRpc);
  app.post('/v1/:app', jsonRpc);
  return app;
}

/** The key of `Authorization: Bearer <key>`. */
export function bearer(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  return typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
}

function resolvePath(base: string, p: string): string {
  return p.startsWith('/') ? p : `${base}/${p}`;
}

/**
 * `POST /v1/system`: the system ledger's `gov_*` methods. Governance transactions carry their own
 * signatures and the registries are public configuration, so this route takes no API key
 * (ADR 0006); the body, depth, batch and time limits are the same as for app ledgers.
 */
export function registerSystemRoute(app: FastifyInstance, ctx: GatewayContext, methods: RpcMethods): void {
  const { perClient, total } = ctx.config.systemLimits;
  app.post('/v1/system', async (req, reply) => {
    const body = bodyOf(req);
    // No key: the client's address is the principal, and all clients share one overall budget.
    const client = `ip:${req.ip}`;
    const calls = body.ok ? (Array.isArray(body.value) ? body.value : [body.value]) : [];
    const txs = calls.filter((c) => (c as { method?: unknown } | null)?.method === 'gov_sendTransaction').length;
    const throttle = ctx.limiter.admit(SYSTEM_PRINCIPAL, total, client, perClient, {
      requests: body.ok ? requestCount(body.value) : 1,
      txs,
      bytesIn: body.bytes,
    });
    if (throttle) {
      const who = throttle.scope === 'app' ? 'all clients together are' : `this client (${req.ip}) is`;
      const limits = throttle.scope === 'app' ? total : perClient;
      const seconds = retryAfterSeconds(throttle.retryAfterMs);
      return reply
        .code(429)
        .header('retry-after', String(seconds))
        .send(
          errorResponse(
            null,
            RpcCode.LIMIT_EXCEEDED,
            `rate limit exceeded on the system ledger endpoint: ${who} over ${limits[throttle.limit]} ${SYSTEM_LIMIT_NAMES[throttle.limit]}; retry after ${seconds} s`,
          ),
        );
    }
    if (!body.ok) return reply.send(errorResponse(null, RpcCode.PARSE_ERROR, body.message));
    const resolve = (name: string) => (Object.hasOwn(methods, name) ? methods[name] : undefined);
    const answer = await dispatch(resolve, body.value, ctx.logger, {
      timeoutMs: ctx.config.requestTimeoutMs,
      batchMax: ctx.config.batchMax,
    });
    if (answer === undefined) return reply.code(204).send();
    const text = JSON.stringify(answer);
    ctx.limiter.chargeBytesOut(SYSTEM_PRINCIPAL, total, client, perClient, Buffer.byteLength(text));
    return reply.header('content-type', 'application/json; charset=utf-8').send(text);
  });
}

// Not an app id (those start with a letter), so it cannot share buckets with an app.
const SYSTEM_PRINCIPAL = '#system';
const SYSTEM_LIMIT_NAMES = {
  requestsPerSec: 'requests per second',
  txPerSec: 'governance transactions per second',
  bytesInPerSec: 'request bytes per second',
  bytesOutPerSec: 'response bytes per second',
} as const;
