/**
 * The portal's HTTP server: its JSON API under `/api` and the built front end (`dist/web`) for
 * every other path. Sessions are an HttpOnly, SameSite=Lax cookie; every state-changing call
 * must be JSON, which a cross-site form cannot send without a preflight.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import { isPolisError, type PolisError } from '@polis/core';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import type { Apps } from './apps.js';
import type { Network } from './network.js';
import type { Accounts, Db, User } from './store/index.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'polis_session';

/** What every route module gets. */
export type PortalContext = {
  db: Db;
  accounts: Accounts;
  apps: Apps;
  network: Network;
  /** The portal's own URL, for links it prints. */
  now: () => number;
};

/** A route module: registers its routes on the server. */
export type RouteModule = (app: FastifyInstance, ctx: PortalContext) => void;

const STATUS_BY_CODE: Record<string, number> = {
  SIGNED_OUT: 401,
  EMAIL_TAKEN: 409,
  BAD_CREDENTIALS: 401,
  THROTTLED: 429,
  INVALID_INPUT: 400,
  NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  INVITATION_EXPIRED: 410,
  INVITATION_USED: 410,
  INVITATION_WRONG_EMAIL: 403,
  ALREADY_MEMBER: 409,
  LAST_OWNER: 409,
  LIMIT_REACHED: 409,
  SECRET_TAMPERED: 500,
  SCHEMA_TOO_NEW: 500,
  COMPILE_FAILED: 422,
  COMPILE_INVALID_SOURCE: 400,
  NETWORK_UNREACHABLE: 502,
  NETWORK_RPC_ERROR: 502,
  NETWORK_REFUSED: 409,
  NETWORK_TIMEOUT: 504,
  NETWORK_NOT_HOSTED: 503,
};

/** The HTTP status of a typed error. */
export function statusOf(err: PolisError<{ code: string }>): number {
  return STATUS_BY_CODE[err.code] ?? 500;
}

/** The user of the request's session, or a 401 SIGNED_OUT answer (the front end sends the user to sign-in, keeping the form). */
export async function requireUser(ctx: PortalContext, req: FastifyRequest): Promise<User> {
  const token = req.cookies[SESSION_COOKIE];
  const user = token ? await ctx.accounts.session(token) : undefined;
  if (!user) {
    throw Object.assign(new Error('you are signed out: sign in again to continue'), {
      statusCode: 401,
      code: 'SIGNED_OUT',
      hint: 'Sign in again; what you typed is kept',
    });
  }
  return user;
}

/** A 403 unless the user is of one of `kinds`. */
export function requireKind(user: User, kinds: readonly User['kind'][], what: string): void {
  if (!kinds.includes(user.kind)) {
    throw Object.assign(new Error(`only ${kinds.join(' or ')} accounts can ${what}`), {
      statusCode: 403,
      code: 'NOT_ALLOWED',
      hint: 'Sign in with an account of that kind',
    });
  }
}

function errorBody(code: string, message: string, hint?: string, details?: unknown) {
  return { error: { code, message, ...(hint ? { hint } : {}), ...(details !== undefined ? { details } : {}) } };
}

function sendError(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const field = issue?.path.join('.') || 'body';
    return reply
      .code(400)
      .send(errorBody('INVALID_INPUT', `${field}: ${issue?.message ?? 'invalid'}`, `Correct ${field} and try again`, { field }));
  }
  if (isPolisError(err)) {
    const e = err as PolisError<{ code: string; retryAfterSeconds?: number }>;
    const status = statusOf(e);
    if (e.code === 'THROTTLED' && e.type.retryAfterSeconds !== undefined) {
      reply.header('retry-after', String(e.type.retryAfterSeconds));
    }
    if (status >= 500) req.log.error({ err }, 'request failed');
    const json = e.toJSON();
    return reply.code(status).send(errorBody(e.code, e.shortMessage, e.hint, json.details));
  }
  const plain = err as { statusCode?: number; code?: string; message?: string; hint?: string; validation?: unknown };
  if (plain.statusCode && plain.statusCode < 500) {
    const code = plain.code && !plain.code.startsWith('FST_') ? plain.code : plain.validation ? 'INVALID_INPUT' : 'BAD_REQUEST';
    return reply.code(plain.statusCode).send(errorBody(code, plain.message ?? 'bad request', plain.hint));
  }
  req.log.error({ err }, 'request failed');
  return reply
    .code(500)
    .send(
      errorBody(
        'INTERNAL',
        'the portal failed to answer',
        'Try again; if it keeps failing, the operator can read the portal log',
      ),
    );
}

/** Options of `buildServer`. */
export type ServerOptions = {
  ctx: PortalContext;
  routes: RouteModule[];
  /** The built front end; the server answers API calls only when it is missing. */
  webDir?: string;
  logger?: boolean | object;
};

/** Builds the portal's fastify server (not listening yet). */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 1024 * 1024, trustProxy: false });
  await app.register(fastifyCookie);
  app.setErrorHandler((err, req, reply) => sendError(err, req, reply));

  // Mutations must be JSON: a cross-site HTML form cannot send it without a CORS preflight, which
  // this server never grants; with the SameSite=Lax cookie this is the CSRF defence.
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/') || req.method === 'GET' || req.method === 'HEAD') return;
    const type = req.headers['content-type'] ?? '';
    if (req.method !== 'DELETE' && !type.startsWith('application/json')) {
      return reply
        .code(415)
        .send(errorBody('INVALID_INPUT', 'send the request body as JSON', 'Set content-type: application/json'));
    }
  });

  for (const register of options.routes) register(app, options.ctx);

  const webDir = options.webDir;
  if (webDir && existsSync(join(webDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: webDir, wildcard: false, index: ['index.html'] });
    app.get('/*', async (req, reply) => {
      const path = (req.params as { '*': string })['*'];
      if (path && existsSync(join(webDir, path)) && !path.includes('..')) return reply.sendFile(path);
      return reply.type('text/html').sendFile('index.html');
    });
  }
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(errorBody('NOT_FOUND', `no such path: ${req.method} ${req.url.split('?')[0]}`, 'Check the URL')),
  );
  return app;
}
