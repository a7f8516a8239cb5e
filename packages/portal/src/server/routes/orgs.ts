/**
 * Organisations: their members and roles, and invitations. An invitation is a link with a token
 * (only its hash is stored); the invited person signs in or up with the invited email and opens
 * it. The portal sends no email: the inviter passes the link on.
 */
import { z } from 'zod';
import { type RouteModule, requireUser } from '../http.js';
import { notAllowed } from '../store/index.js';

const Invite = z.object({ email: z.string().max(254), role: z.enum(['owner', 'admin', 'member']).default('member') });
const Role = z.object({ role: z.enum(['owner', 'admin', 'member']) });
const Accept = z.object({ token: z.string().min(1).max(200) });

/** The organisation routes. */
export const orgRoutes: RouteModule = (app, ctx) => {
  const memberOf = async (orgId: string, userId: string) => {
    const role = await ctx.accounts.roleIn(orgId, userId);
    if (!role) throw notAllowed('see this organisation', 'you are not a member of it');
    return role;
  };

  app.get('/api/orgs/:orgId/members', async (req) => {
    const user = await requireUser(ctx, req);
    const { orgId } = req.params as { orgId: string };
    const role = await memberOf(orgId, user.id);
    return { role, members: await ctx.accounts.listMembers(orgId) };
  });

  app.post('/api/orgs/:orgId/invitations', async (req, reply) => {
    const user = await requireUser(ctx, req);
    const { orgId } = req.params as { orgId: string };
    const body = Invite.parse(req.body);
    const token = await ctx.accounts.createInvitation({ orgId, email: body.email, role: body.role, invitedBy: user.id });
    return reply.code(201).send({ token, path: `/invite/${token}` });
  });

  app.post('/api/invitations/accept', async (req) => {
    const user = await requireUser(ctx, req);
    const { token } = Accept.parse(req.body);
    const joined = await ctx.accounts.acceptInvitation({ token, userId: user.id });
    return { ...joined, orgs: await ctx.accounts.orgsOf(user.id) };
  });

  app.post('/api/orgs/:orgId/members/:userId/role', async (req) => {
    const user = await requireUser(ctx, req);
    const { orgId, userId } = req.params as { orgId: string; userId: string };
    const { role } = Role.parse(req.body);
    await ctx.accounts.setRole({ orgId, userId, role, actorId: user.id });
    return { members: await ctx.accounts.listMembers(orgId) };
  });

  app.delete('/api/orgs/:orgId/members/:userId', async (req) => {
    const user = await requireUser(ctx, req);
    const { orgId, userId } = req.params as { orgId: string; userId: string };
    await ctx.accounts.removeMember({ orgId, userId, actorId: user.id });
    return { removed: userId };
  });
};
