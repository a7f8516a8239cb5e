/**
 * JSON-RPC 2.0 dispatch, shared by HTTP and WebSocket: one request object or a batch in, the
 * answers out. Wrong shapes and unknown methods get their standard codes; a method's unexpected
 * failure is logged and answered with -32603, never with a crash or a hang; every call has a
 * timeout.
 */
import type { Logger } from 'pino';
import { RpcCode, RpcError } from '../rpc/errors.js';

/** A method implementation: takes the `params` array, returns the JSON result. */
export type RpcMethod = (params: unknown[]) => unknown | Promise<unknown>;

/** The methods of one ledger. */
export type RpcMethods = Record<string, RpcMethod>;

/** Finds the implementation of a method for this caller (undefined: no such method). */
export type MethodResolver = (method: string) => RpcMethod | undefined;

export type JsonRpcId = string | number | null;
export type JsonRpcResponse = {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
};

export function errorResponse(id: JsonRpcId, code: number, message: string, data?: unknown): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

function validId(id: unknown): id is JsonRpcId {
  return id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
}

/** Answers one request object (of a batch or alone); undefined for a notification. */
export async function handleOne(
  resolve: MethodResolver,
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
  const method = resolve(r.method);
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

/**
 * Answers a parsed payload: a request or a batch. Requests of a batch run in order, so a batch
 * that sends a transaction and then asks for its receipt sees its own transaction. Undefined when
 * nothing is to be answered (notifications only).
 */
export async function dispatch(
  resolve: MethodResolver,
  payload: unknown,
  logger: Logger,
  limits: { timeoutMs: number; batchMax: number },
): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined> {
  if (!Array.isArray(payload)) return handleOne(resolve, payload, logger, limits.timeoutMs);
  if (payload.length === 0) return errorResponse(null, RpcCode.INVALID_REQUEST, 'invalid request: empty batch');
  if (payload.length > limits.batchMax) {
    return errorResponse(
      null,
      RpcCode.LIMIT_EXCEEDED,
      `batch of ${payload.length} requests is over the limit of ${limits.batchMax}`,
    );
  }
  const responses: JsonRpcResponse[] = [];
  for (const item of payload) {
    const res = await handleOne(resolve, item, logger, limits.timeoutMs);
    if (res) responses.push(res);
  }
  return responses.length === 0 ? undefined : responses;
}

/** How many requests a payload holds (a batch counts each item). */
export function requestCount(payload: unknown): number {
  return Array.isArray(payload) ? Math.max(1, payload.length) : 1;
}

/**
 * Whether a parsed JSON value nests deeper than `max` arrays and objects. Iterative, so a hostile
 * document cannot overflow the stack here.
 */
export function tooDeep(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
