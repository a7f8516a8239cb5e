/**
 * REST routes defined once, with zod schemas that both validate requests and describe them in the
 * OpenAPI 3 document at `/api/v1/openapi.json`: a route cannot drift from its documentation.
 *
 * Every app route takes the app id as `{id}` and an API key as `Authorization: Bearer <key>` (or
 * `X-Api-Key`); the key is checked, and the request charged, before the handler runs. Errors have
 * one shape: `{"error": {"code": "...", "message": "...", "issues"?: [...]}}`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Scope } from '../access.js';
import { hasScope } from '../access.js';
import { type Authorized, type GatewayContext, type GatewayLedger, retryAfterSeconds, suspendedMessage } from '../context.js';
import { bodyOf } from '../http.js';

/** A REST error the handler throws; it becomes `status` with the error body. */
export class RestError extends Error {
  readonly status: number;
  readonly code: string;
  readonly issues: string[] | undefined;
  constructor(status: number, code: string, message: string, issues?: string[]) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

/** What a handler gets: validated input, the caller and its ledger. */
export type RouteInput<P, Q, B> = {
  params: P;
  query: Q;
  body: B;
  auth: Authorized;
  ledger: GatewayLedger;
  req: FastifyRequest;
  reply: FastifyReply;
};

/** A REST route under `/api/v1/apps/{id}`. */
export type RouteDef<P = unknown, Q = unknown, B = unknown> = {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT';
  /** OpenAPI-style path, e.g. `/api/v1/apps/{id}/blocks/{number}`; `{id}` is the app. */
  path: string;
  summary: string;
  tag: string;
  /** The scope the key needs. */
  scope: Scope;
  /** Path parameters other than `id`. */
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The success answer's schema (for the document) and status. */
  response: z.ZodType;
  status?: number;
  /** Other answers the route gives, by status, with a description. */
  errors?: Record<number, string>;
  /** Transactions a request sends, charged against the transactions-per-second limit. */
  txs?: number;
  /** How long the route may wait on purpose (submit-and-wait); its timeout is this plus `requestTimeoutMs`. */
  maxWaitMs?: number;
  handler(input: RouteInput<P, Q, B>): Promise<unknown> | unknown;
};

/** A route of any input types, as lists of routes hold them. */
// biome-ignore lint/suspicious/noExplicitAny: a list holds routes whose inputs differ; each is checked where it is defined
export type AnyRoute = RouteDef<any, any, any>;

/** Keeps the generic types of a route definition. */
export function defineRoute<P, Q, B>(def: RouteDef<P, Q, B>): RouteDef<P, Q, B> {
  return def;
}

export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string().describe('A stable, machine-readable code, e.g. INVALID_REQUEST'),
    message: z.string().describe('What went wrong and what to do about it'),
    issues: z.array(z.string()).optional(),
  }),
});

export function sendError(reply: FastifyReply, status: number, code: string, message: string, issues?: string[]): FastifyReply {
  return reply.code(status).send({ error: issues ? { code, message, issues } : { code, message } });
}

const STATUS_CODES: Record<number, string> = {
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  429: 'RATE_LIMITED',
};

function issuesOf(err: z.ZodError, where: string): string[] {
  return err.issues.map((i) => `${where}${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`);
}

/** The key a REST request presents. */
export function restKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const x = req.headers['x-api-key'];
  return typeof x === 'string' ? x : undefined;
}

/** Registers routes on the server. */
export function registerRoutes(app: FastifyInstance, ctx: GatewayContext, routes: AnyRoute[]): void {
  for (const def of routes) {
    const url = def.path.replace(/\{(\w+)\}/g, ':$1');
    app.route({
      method: def.method,
      url,
      handler: async (req, reply) => {
        const rawParams = req.params as Record<string, string>;
        const appId = rawParams.id ?? '';
        const body = bodyOf(req);
        const auth = ctx.authorize(
          appId,
          restKey(req),
          { ip: req.ip, origin: req.headers.origin },
          {
            requests: 1,
            txs: def.txs ?? 0,
            bytesIn: body.bytes,
          },
        );
        if (!auth.ok) {
          if (auth.retryAfterMs !== undefined) reply.header('retry-after', String(retryAfterSeconds(auth.retryAfterMs)));
          return sendError(reply, auth.status, STATUS_CODES[auth.status] ?? 'ERROR', auth.message);
        }
        (req as { polisAuth?: Authorized }).polisAuth = auth;
        ctx.meter.request(appId, auth.principal.key.id, 1, body.bytes, 'rest');
        if (!hasScope(auth.principal.key, def.scope)) {
          return sendError(
            reply,
            403,
            'FORBIDDEN',
            `the API key ${auth.principal.key.id} has scopes [${auth.principal.key.scopes.join(', ')}]; this needs "${def.scope}"`,
          );
        }
        const ledger = ctx.ledgers.get(appId) as GatewayLedger;
        if ((def.txs ?? 0) > 0 && ledger.suspended?.()) return sendError(reply, 403, 'APP_SUSPENDED', suspendedMessage(appId));
        const { id: _id, ...restParams } = rawParams;
        const p = def.params ? def.params.safeParse(restParams) : { success: true as const, data: {} };
        if (!p.success) return sendError(reply, 400, 'INVALID_REQUEST', 'invalid path parameters', issuesOf(p.error, 'path'));
        const q = def.query ? def.query.safeParse(req.query ?? {}) : { success: true as const, data: {} };
        if (!q.success) return sendError(reply, 400, 'INVALID_REQUEST', 'invalid query parameters', issuesOf(q.error, 'query'));
        let parsedBody: unknown;
        if (def.body) {
          if (!body.ok) return sendError(reply, 400, 'INVALID_JSON', body.message);
          const b = def.body.safeParse(body.value);
          if (!b.success) return sendError(reply, 400, 'INVALID_REQUEST', 'invalid request body', issuesOf(b.error, 'body'));
          parsedBody = b.data;
        }
        try {
          const timeoutMs = ctx.config.requestTimeoutMs + (def.maxWaitMs ?? 0);
          let timer: NodeJS.Timeout | undefined;
          const result = await Promise.race([
            Promise.resolve().then(() =>
              def.handler({ params: p.data, query: q.data, body: parsedBody, auth, ledger, req, reply }),
            ),
            new Promise<never>((_, reject) => {
              timer = setTimeout(
                () =>
                  reject(
                    new RestError(
                      504,
                      'TIMEOUT',
                      `the node did not answer within ${timeoutMs} ms; if this request sent a transaction, look it up by hash (or retry with the same Idempotency-Key) before sending it again`,
                    ),
                  ),
                timeoutMs,
              );
            }),
          ]).finally(() => clearTimeout(timer));
          if (reply.sent) return reply;
          const text = JSON.stringify(result);
          ctx.chargeOut(auth, Buffer.byteLength(text));
          return reply
            .code(reply.statusCode !== 200 ? reply.statusCode : (def.status ?? 200))
            .header('content-type', 'application/json; charset=utf-8')
            .send(text);
        } catch (err) {
          if (err instanceof RestError) return sendError(reply, err.status, err.code, err.message, err.issues);
          throw err;
        }
      },
    });
  }
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<string, unknown>;
}

/** The OpenAPI 3 document of the routes. */
export function openApiDocument(routes: AnyRoute[], info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const def of routes) {
    const parameters: unknown[] = [
      { name: 'id', in: 'path', required: true, description: 'The app id', schema: { type: 'string' } },
    ];
    for (const [where, schema] of [
      ['path', def.params],
      ['query', def.query],
    ] as const) {
      if (!schema) continue;
      const js = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(js.properties ?? {})) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (js.required ?? []).includes(name),
          schema: s,
          ...((s as { description?: string }).description ? { description: (s as { description: string }).description } : {}),
        });
      }
    }
    const responses: Record<string, unknown> = {
      [String(def.status ?? 200)]: {
        description: 'Success',
        content: { 'application/json': { schema: jsonSchema(def.response, 'output') } },
      },
      400: {
        description: 'The request is malformed',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
      401: {
        description: 'No valid API key',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
      403: {
        description: 'The key may not do this',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
      429: {
        description: 'Over a rate limit; see Retry-After',
        headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait' } },
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    };
    for (const [status, description] of Object.entries(def.errors ?? {})) {
      responses[status] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    const op: Record<string, unknown> = {
      summary: def.summary,
      tags: [def.tag],
      operationId: `${def.method.toLowerCase()}${def.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string) => (c ? c.toUpperCase() : ''))}`,
      parameters,
      responses,
      security: [{ bearer: [] }, { apiKeyHeader: [] }],
      'x-polis-scope': def.scope,
    };
    if (def.body) {
      op.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(def.body, 'input') } } };
    }
    paths[def.path] = { ...(paths[def.path] ?? {}), [def.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Polis gateway REST API',
      version: info.version,
      description:
        'Per-app REST access to Polis ledgers. JSON-RPC is at POST /v1/{appId}/{apiKey}. Every route needs an API key with the scope named in x-polis-scope.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer pk_...' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
      },
      schemas: { Error: jsonSchema(ErrorBodySchema, 'output') },
    },
    paths,
  };
}
