/**
 * The developer's apps: the network's nodes and plans to choose from, creating an app (a
 * `requestApp` transaction signed with a new owner key the portal keeps sealed), its endpoints and
 * snippets, its API keys (created, rotated and revoked in the system ledger's registry) and its
 * participants.
 */
import { bytesToHex, generateSecp256k1PrivateKey, privateKeyToAddress } from '@polis/core';
import type { AppRecord } from '@polis/governance';
import { createApiKey } from '@polis/node';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { PortalApp } from '../apps.js';
import { type PortalContext, type RouteModule, requireUser } from '../http.js';
import { snippetsFor } from '../snippets.js';
import { notAllowed, type User } from '../store/index.js';

const APP_ID = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;
const NODE_KEY = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const KEY_SCOPES = ['read', 'write', 'admin'] as const;

const CreateApp = z.object({
  id: z.string().regex(APP_ID, 'must be 3-32 lower-case letters, digits or dashes, starting with a letter'),
  name: z.string().min(1).max(80).optional(),
  orgId: z.string().max(64).optional(),
  validators: z
    .array(z.string().toLowerCase().regex(NODE_KEY, 'must be node public keys'))
    .min(1, 'choose at least one node')
    .max(100),
  plan: z.string().min(1).max(32),
  keyMode: z.enum(['upload', 'trust']),
  accessPolicy: z.enum(['open', 'allowlist']),
});
const CreateKey = z.object({
  label: z.string().max(64).default(''),
  scopes: z.array(z.enum(KEY_SCOPES)).min(1).default(['read', 'write']),
});
const Participant = z.object({
  address: z.string().regex(ADDRESS, 'must be a 0x address of 40 hex digits'),
  role: z.string().min(1).max(32),
});

/** The app if the user is a member of its organisation (admins may read every app). */
export async function appFor(ctx: PortalContext, user: User, appId: string, write = false): Promise<PortalApp> {
  const app = await ctx.apps.need(appId);
  const role = await ctx.accounts.roleIn(app.orgId, user.id);
  // Admins read every app; regulators read only what the alliance grants them, through their own
  // routes and keys (routes/regulator.ts), so that every read of theirs is audited.
  if (role === undefined && !(user.kind === 'admin' && !write)) {
    throw notAllowed(`open the app ${appId}`, 'it belongs to an organisation you are not a member of');
  }
  if (write && role === undefined) throw notAllowed(`change the app ${appId}`, 'you are not a member of its organisation');
  return app;
}

async function userAndApp(ctx: PortalContext, req: FastifyRequest, write = false) {
  const user = await requireUser(ctx, req);
  const app = await appFor(ctx, user, (req.params as { id: string }).id, write);
  return { user, app };
}

/** Creates an API key in the registry, signed by the app's owner key; the secret is returned once. */
async function newKey(ctx: PortalContext, appId: string, label: string, scopes: ('read' | 'write' | 'admin')[]): Promise<string> {
  const { key, record } = createApiKey({ appId, scopes, label, now: ctx.now() });
  await ctx.network.submit(
    { type: 'putApiKey', appId, key: { ...record, contracts: record.contracts as `0x${string}`[] } },
    await ctx.apps.ownerKey(appId),
  );
  await ctx.apps.addKey({ keyId: record.id, appId, label, scopes, createdAt: record.createdAt });
  return key;
}

/** Endpoints of the app at each node that serves it; `key` fills the key's place when given. */
async function endpoints(ctx: PortalContext, app: PortalApp, key?: string) {
  const nodes = await ctx.network.nodes();
  const keyPart = key ?? '<API key>';
  return nodes
    .filter((n) => n.url && app.validators.includes(n.publicKey))
    .map((n) => ({
      node: n.name,
      region: n.region,
      serving: n.health.apps?.includes(app.appId) ?? false,
      rpcUrl: `${n.url}/v1/${app.appId}/${keyPart}`,
      wsUrl: `${n.url?.replace(/^http/, 'ws')}/v1/${app.appId}/${keyPart}`,
      restUrl: `${n.url}/api/v1/apps/${app.appId}`,
    }));
}

/** Refreshes the portal's copy from the network's record. */
async function synced(ctx: PortalContext, app: PortalApp): Promise<PortalApp & { record?: AppRecord }> {
  const record = await ctx.network.app(app.appId).catch(() => undefined);
  if (!record) return app;
  if (record.status !== app.status || record.plan !== app.plan || record.validators.join() !== app.validators.join()) {
    await ctx.apps.sync(app.appId, { status: record.status, plan: record.plan, validators: [...record.validators] });
  }
  return { ...app, status: record.status, plan: record.plan, validators: [...record.validators], record };
}

/** The app routes. */
export const appRoutes: RouteModule = (app, ctx) => {
  app.get('/api/nodes', async (req) => {
    await requireUser(ctx, req);
    return { nodes: await ctx.network.nodes() };
  });

  app.get('/api/plans', async (req) => {
    await requireUser(ctx, req);
    return { plans: await ctx.network.gov('gov_listPlans') };
  });

  app.get('/api/apps', async (req) => {
    const user = await requireUser(ctx, req);
    const orgs = await ctx.accounts.orgsOf(user.id);
    const apps = await ctx.apps.ofOrgs(orgs.map((o) => o.id));
    return { apps: await Promise.all(apps.map((a) => synced(ctx, a))) };
  });

  app.post('/api/apps', async (req, reply) => {
    const user = await requireUser(ctx, req);
    const body = CreateApp.parse(req.body);
    const orgs = await ctx.accounts.orgsOf(user.id);
    const org = body.orgId ? orgs.find((o) => o.id === body.orgId) : orgs[0];
    if (!org) throw notAllowed('create an app in this organisation', 'you are not a member of it');
    if (org.role === 'member') throw notAllowed('create an app in this organisation', 'members cannot; owners and admins can');
    if (await ctx.apps.get(body.id)) {
      throw Object.assign(new Error(`an app called "${body.id}" exists already`), {
        statusCode: 409,
        code: 'APP_ID_TAKEN',
        hint: 'Choose another id',
      });
    }
    const ownerKey = generateSecp256k1PrivateKey();
    const ownerAddress = bytesToHex(privateKeyToAddress(ownerKey));
    // Chain ids must be unique across the network; a random one in a range wallets do not use.
    const chainId = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
    await ctx.network.submit(
      {
        type: 'requestApp',
        id: body.id,
        chainId,
        validators: body.validators as `0x${string}`[],
        observers: [],
        plan: body.plan,
        keyMode: body.keyMode,
        accessPolicy: body.accessPolicy,
      },
      ownerKey,
    );
    const record = await ctx.network.app(body.id);
    // The portal's own key (for its reads and deployments) is made first, so it exists before the
    // app row that would need it.
    const { key: portalKey, record: portalRecord } = createApiKey({
      appId: body.id,
      // admin: the portal reads the app's usage meters and audit log for its owner.
      scopes: ['read', 'write', 'admin'],
      label: 'portal',
      now: ctx.now(),
    });
    await ctx.network.submit({ type: 'putApiKey', appId: body.id, key: { ...portalRecord, contracts: [] } }, ownerKey);
    const created: PortalApp = {
      appId: body.id,
      orgId: org.id,
      name: body.name ?? body.id,
      plan: body.plan,
      chainId,
      keyMode: body.keyMode,
      accessPolicy: body.accessPolicy,
      validators: body.validators,
      ownerAddress,
      status: record?.status ?? 'pending',
      createdAt: ctx.now(),
    };
    await ctx.apps.create(created, { ownerKey, portalKey });
    const apiKey = await newKey(ctx, body.id, 'default', ['read', 'write']);
    ctx.network.refresh();
    return reply.code(201).send({ app: created, apiKey, endpoints: await endpoints(ctx, created, apiKey) });
  });

  app.get('/api/apps/:id', async (req) => {
    const { app: found } = await userAndApp(ctx, req);
    const current = await synced(ctx, found);
    const list = await endpoints(ctx, current);
    const first = list[0];
    return {
      app: current,
      endpoints: list,
      snippets: first ? snippetsFor(current.appId, current.chainId, first.rpcUrl) : undefined,
    };
  });

  app.get('/api/apps/:id/keys', async (req) => {
    const { app: found } = await userAndApp(ctx, req);
    return { keys: (await ctx.apps.keys(found.appId)).filter((k) => k.label !== 'portal') };
  });

  app.post('/api/apps/:id/keys', async (req, reply) => {
    const { app: found } = await userAndApp(ctx, req, true);
    const body = CreateKey.parse(req.body ?? {});
    const apiKey = await newKey(ctx, found.appId, body.label, body.scopes);
    return reply.code(201).send({ apiKey, endpoints: await endpoints(ctx, found, apiKey) });
  });

  app.post('/api/apps/:id/keys/:keyId/rotate', async (req, reply) => {
    const { app: found } = await userAndApp(ctx, req, true);
    const keyId = (req.params as { keyId: string }).keyId;
    const old = (await ctx.apps.keys(found.appId)).find((k) => k.keyId === keyId && k.revokedAt === undefined);
    if (!old || old.label === 'portal')
      throw Object.assign(new Error(`no valid key ${keyId}`), {
        statusCode: 404,
        code: 'NOT_FOUND',
        hint: 'Reload the list of keys',
      });
    const apiKey = await newKey(ctx, found.appId, old.label, old.scopes as ('read' | 'write' | 'admin')[]);
    const at = ctx.now();
    await ctx.network.submit({ type: 'revokeApiKey', appId: found.appId, keyId, at }, await ctx.apps.ownerKey(found.appId));
    await ctx.apps.revokeKey(found.appId, keyId, at);
    return reply.code(201).send({ apiKey, revoked: keyId, endpoints: await endpoints(ctx, found, apiKey) });
  });

  app.delete('/api/apps/:id/keys/:keyId', async (req) => {
    const { app: found } = await userAndApp(ctx, req, true);
    const keyId = (req.params as { keyId: string }).keyId;
    const known = (await ctx.apps.keys(found.appId)).find((k) => k.keyId === keyId);
    if (!known || known.label === 'portal')
      throw Object.assign(new Error(`no key ${keyId}`), { statusCode: 404, code: 'NOT_FOUND', hint: 'Reload the list of keys' });
    const at = ctx.now();
    await ctx.network.submit({ type: 'revokeApiKey', appId: found.appId, keyId, at }, await ctx.apps.ownerKey(found.appId));
    await ctx.apps.revokeKey(found.appId, keyId, at);
    return { revoked: keyId };
  });

  app.get('/api/apps/:id/participants', async (req) => {
    const { app: found } = await userAndApp(ctx, req);
    return { participants: await ctx.network.gov('gov_listParticipants', [found.appId]) };
  });

  app.post('/api/apps/:id/participants', async (req, reply) => {
    const { app: found } = await userAndApp(ctx, req, true);
    const body = Participant.parse(req.body);
    await ctx.network.submit(
      { type: 'putParticipant', appId: found.appId, address: body.address.toLowerCase() as `0x${string}`, role: body.role },
      await ctx.apps.ownerKey(found.appId),
    );
    return reply.code(201).send({ address: body.address.toLowerCase(), role: body.role });
  });

  app.delete('/api/apps/:id/participants/:address', async (req) => {
    const { app: found } = await userAndApp(ctx, req, true);
    const address = (req.params as { address: string }).address.toLowerCase();
    if (!ADDRESS.test(address)) throw Object.assign(new Error('not an address'), { statusCode: 400, code: 'INVALID_INPUT' });
    await ctx.network.submit(
      { type: 'removeParticipant', appId: found.appId, address: address as `0x${string}` },
      await ctx.apps.ownerKey(found.appId),
    );
    return { removed: address };
  });
};
