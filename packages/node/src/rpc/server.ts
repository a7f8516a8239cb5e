/**
 * The JSON-RPC transport over HTTP (fastify): `POST /v1/{ledgerId}` takes a request or a batch
 * and answers per JSON-RPC 2.0. Malformed JSON, wrong shapes, oversized bodies, too-large batches
 * and unknown methods all get their standard error codes; a handler's unexpected failure is
 * logged and answered with -32603, never with a crash or a hang.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { RpcCode, RpcError } from './errors.js';

/** A method implementation: takes the `params` array, returns the JSON result. */
export type RpcMethod = (params: unknown[]) => unknown | Promise<unknown>;

/** The methods of one ledger. */
export type RpcMethods = Record<string, RpcMethod>;

/** Limits of the server. */
export type RpcServerOptions = {
  /** Methods per ledger id. */
  ledgers: Map<string, RpcMethods>;
  logger: Logger;
  bodyLimitBytes?: number;
  batchMax?: number;
  /** Time a single request may take before it is answered with an error. */
  requestTimeoutMs?: number;
};

type JsonRpcId = string | number | null;
type JsonRpcResponse = {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
};

const BODY_LIMIT_DEFAULT = 5 * 1024 * 1024;
const BATCH_MAX_DEFAULT = 1000;
const REQUEST_TIMEOUT_DEFAULT_MS = 30_000;

function errorResponse(id: JsonRpcId, code: number, message: string, data?: unknown): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

function validId(id: unknown): id is JsonRpcId {
  return id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
}

/** Answers one request object (of a batch or alone); undefined for a notification. */
async function handleOne(
  methods: RpcMethods,
  req: unknown,
  logger: Logger,
  timeoutMs: number,
): Promise<JsonRpcResponse | undefined> {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) {
    return errorResponse(null, RpcCode.INVALID_REQUEST, 'invalid request: expected an object with jsonrpc, method and id');
  }
  const r = req as Record<string, unknown>;
  const id = validId(r.id) ? r.id : null;
  if (r.jsonrpc !== '2.0') return errorResponse(id, RpcCode.INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"');
  if (typeof r.method !== 'string')
    return errorResponse(id, RpcCode.INVALID_REQUEST, 'invalid request: "method" must be a string');
  if ('id' in r && !validId(r.id))
    return errorResponse(null, RpcCode.INVALID_REQUEST, 'invalid request: "id" must be a string, number or null');
  // JSON-RPC 2.0: the server must not reply to a notification (a valid request without an id),
  // not even with an error.
  const notification = !('id' in r);
  const params = r.params === undefined ? [] : r.params;
  if (!Array.isArray(params))
    return notification ? undefined : errorResponse(id, RpcCode.INVALID_PARAMS, 'invalid params: "params" must be an array');
  const method = Object.hasOwn(methods, r.method) ? methods[r.method] : undefined;
  if (!method) {
    return notification
      ? undefined
      : errorResponse(id, RpcCode.METHOD_NOT_FOUND, `the method ${r.method} does not exist or is not available`);
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      Promise.resolve().then(() => method(params)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new RpcError(RpcCode.LIMIT_EXCEEDED, `request timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    if (notification) return undefined;
    return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
  } catch (err) {
    if (err instanceof RpcError) return notification ? undefined : errorResponse(id, err.code, err.message, err.data);
    logger.error({ err, method: r.method }, 'rpc method failed');
    return notification
      ? undefined
      : errorResponse(id, RpcCode.INTERNAL_ERROR, 'internal error: the node failed to answer; see its log');
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Builds the HTTP server; call `listen` on it. */
export function createRpcServer(options: RpcServerOptions): FastifyInstance {
  const bodyLimit = options.bodyLimitBytes ?? BODY_LIMIT_DEFAULT;
  const batchMax = options.batchMax ?? BATCH_MAX_DEFAULT;
  const timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_DEFAULT_MS;
  const app = Fastify({ bodyLimit, logger: false, return503OnClosing: true });

  // Parse JSON ourselves so that a parse error becomes a JSON-RPC -32700, not fastify's 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    try {
      done(null, { ok: true, value: JSON.parse(body as string) });
    } catch {
      done(null, { ok: false });
    }
  });

  app.setErrorHandler((err: { statusCode?: number; code?: string }, _req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
      return reply.code(413).send(errorResponse(null, RpcCode.LIMIT_EXCEEDED, `request body is larger than ${bodyLimit} bytes`));
    }
    options.logger.error({ err }, 'http error');
    return reply
      .code(err.statusCode && err.statusCode < 500 ? err.statusCode : 500)
      .send(errorResponse(null, RpcCode.INTERNAL_ERROR, 'internal error'));
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `no route ${req.method} ${req.url}: send JSON-RPC requests with POST to /v1/{ledgerId}` });
  });

  app.post<{ Params: { ledger: string } }>('/v1/:ledger', async (req, reply) => {
    const methods = options.ledgers.get(req.params.ledger);
    if (!methods) {
      return reply
        .code(404)
        .send(errorResponse(null, RpcCode.RESOURCE_NOT_FOUND, `this node serves no ledger "${req.params.ledger}"`));
    }
    const body = req.body as { ok: boolean; value?: unknown } | undefined;
    if (!body?.ok) return errorResponse(null, RpcCode.PARSE_ERROR, 'parse error: the request body is not valid JSON');
    const payload = body.value;
    if (Array.isArray(payload)) {
      if (payload.length === 0) return errorResponse(null, RpcCode.INVALID_REQUEST, 'invalid request: empty batch');
      if (payload.length > batchMax) {
        return errorResponse(
          null,
          RpcCode.LIMIT_EXCEEDED,
          `batch of ${payload.length} requests is over the limit of ${batchMax}`,
        );
      }
      const responses: JsonRpcResponse[] = [];
      // Requests of a batch run in order: a batch that sends a transaction and then asks for its
      // receipt sees its own transaction.
      for (const item of payload) {
        const res = await handleOne(methods, item, options.logger, timeoutMs);
        if (res) responses.push(res);
      }
      if (responses.length === 0) return reply.code(204).send();
      return responses;
    }
    const res = await handleOne(methods, payload, options.logger, timeoutMs);
    if (!res) return reply.code(204).send();
    return res;
  });

  return app;
}
