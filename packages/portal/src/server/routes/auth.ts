/**
 * Sign-up, sign-in, sign-out and the signed-in user (`/api/auth/*`, `/api/me`). Wrong passwords
 * are answered after a throttle check (429 with Retry-After), duplicate emails with a clear 409.
 */
import { z } from 'zod';
import { type RouteModule, requireUser, SESSION_COOKIE } from '../http.js';

const SignUp = z.object({ email: z.string().max(254), name: z.string().max(200), password: z.string().max(1024) });
const SignIn = z.object({ email: z.string().max(254), password: z.string().max(1024) });

/** The auth routes. */
export const authRoutes: RouteModule = (app, ctx) => {
  const cookie = (expiresAt: number, secure: boolean) => ({
    path: '/',
    httpOnly: true,
    sameSite: 'lax' as const,
    secure,
    expires: new Date(expiresAt),
  });

  app.post('/api/auth/signup', async (req, reply) => {
    const body = SignUp.parse(req.body);
    await ctx.accounts.signUp({ ...body, kind: 'developer' });
    const session = await ctx.accounts.signIn({ email: body.email, password: body.password, ip: req.ip });
    reply.setCookie(SESSION_COOKIE, session.token, cookie(session.expiresAt, req.protocol === 'https'));
    return reply.code(201).send({ user: session.user, orgs: await ctx.accounts.orgsOf(session.user.id) });
  });

  app.post('/api/auth/signin', async (req, reply) => {
    const body = SignIn.parse(req.body);
    const session = await ctx.accounts.signIn({ ...body, ip: req.ip });
    reply.setCookie(SESSION_COOKIE, session.token, cookie(session.expiresAt, req.protocol === 'https'));
    return { user: session.user, orgs: await ctx.accounts.orgsOf(session.user.id) };
  });

  app.post('/api/auth/signout', async (req, reply) => {
    const token = req.cookies[SESSION_COOKIE];
    if (token) await ctx.accounts.signOut(token);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });

  app.get('/api/me', async (req) => {
    const user = await requireUser(ctx, req);
    return { user, orgs: await ctx.accounts.orgsOf(user.id) };
  });
};
