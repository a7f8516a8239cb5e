/**
 * The regulator view (issue P9, ADR 0010): the apps the alliance granted a regulator, search,
 * the app's audit log, and exports.
 *
 * - A regulator is a portal user with a linked secp256k1 address (they prove they hold its key by
 *   signing a message); the system ledger's registry grants that address apps, or every app.
 * - Every read of a regulator goes to the gateway with a `regulator`-scope API key that the portal
 *   issues for that regulator and app with the app's owner key (label `regulator:<userId>`), so
 *   the node's audit log records each read under that key and the app's owner sees it. The grant is
 *   checked on every request: once the alliance revokes it, the portal revokes the key in the
 *   registry and refuses.
 * - The audit log needs the owner's `admin` scope, which a regulator key never has: the portal
 *   reads it with an `admin` key of its own for the app (holder `audit`) and shows it read-only.
 * - A regulator never writes: the gateway refuses writes with a regulator key anyway, and here a
 *   regulator user may call nothing but the routes below, sign-in and sign-out (403 otherwise).
 */
import { createHash, hkdfSync } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RegulatorGrant } from '@polis/governance';
import { createApiKey } from '@polis/node';
import type { FastifyRequest } from 'fastify';
import { type Hex, recoverMessageAddress } from 'viem';
import { z } from 'zod';
import type { PortalApp } from '../apps.js';
import { type RouteModule, requireKind, requireUser, SESSION_COOKIE } from '../http.js';
import { NetworkError, NetworkErrorCode } from '../network.js';
import {
  invalidInput,
  isUniqueViolation,
  limitReached,
  notFound,
  openSecret,
  PortalError,
  PortalErrorCode,
  sealSecret,
  type User,
} from '../store/index.js';

/** How old a signed address proof may be. */
export const ADDRESS_PROOF_MAX_AGE_MS = 10 * 60_000;
/** Rows one export file holds at most; the NDJSON file ends with the cursor to go on from. */
export const EXPORT_ROWS_MAX = 100_000;
/** Bytes one export file holds at most (checked between the gateway's pages). */
export const EXPORT_BYTES_MAX = 64 * 1024 * 1024;
/** Gateway pages one export follows at most (a sparse range answers pages of few rows). */
export const EXPORT_PAGES_MAX = 1_000;
/** Rows asked of the gateway per page: its maximum. */
const EXPORT_PAGE_ROWS = 10_000;
/** Audit entries per page by default, and at most (the gateway's page limit). */
const AUDIT_PAGE_DEFAULT = 100;
const AUDIT_PAGE_MAX = 1_000;
/** A key the registry took in a block may reach the other nodes a moment later: 401s are retried this long. */
const KEY_PROPAGATION_WAIT_MS = 5_000;
/** Time limit of one gateway request (an export page streams under the gateway's own limit). */
const GATEWAY_TIMEOUT_MS = 15_000;
/** Characters of a search query. */
const SEARCH_CHARS_MAX = 100;

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const HASH32 = /^0x[0-9a-fA-F]{64}$/;
/** The export kinds of the gateway (packages/node/src/gateway/rest/export.ts). */
const EXPORT_KINDS = ['transactions', 'events', 'records', 'governance'] as const;

/** Who holds an oversight key: a regulator user, or the portal's audit reader. */
type Holder = `regulator:${string}` | 'audit';
/** A valid key the portal holds, with its secret. */
type HeldKey = { keyId: string; key: string };
/** An app with the network's view of it, as the regulator pages list it. */
type GrantedApp = {
  appId: string;
  name: string;
  status: string;
  plan: string;
  chainId: number;
  createdAt: number;
  nodes: { name: string; region: string; ok: boolean; serving: boolean; height?: number }[];
};

const LinkAddress = z.object({
  address: z.string().regex(ADDRESS, 'must be 0x and 40 hex digits'),
  time: z.number().int().positive(),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte signature in 0x hex'),
});
const Challenge = z.object({ address: z.string().regex(ADDRESS, 'must be 0x and 40 hex digits') });
const Search = z.object({ q: z.string().trim().min(1, 'type a hash, an address or a block number').max(SEARCH_CHARS_MAX) });
const Audit = z.object({
  node: z.string().max(100).optional(),
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(AUDIT_PAGE_MAX).default(AUDIT_PAGE_DEFAULT),
});
const Export = z
  .object({
    kind: z.enum(EXPORT_KINDS, { error: `must be one of ${EXPORT_KINDS.join(', ')}` }),
    from: z.coerce.number().int('must be a time in ms').min(0),
    to: z.coerce.number().int('must be a time in ms').min(1),
    format: z.enum(['csv', 'ndjson'], { error: 'must be csv or ndjson' }).default('csv'),
    cursor: z
      .string()
      .max(512)
      .regex(/^[A-Za-z0-9_-]+$/, 'must be a cursor of an earlier export')
      .optional(),
  })
  .refine((q) => q.from < q.to, { message: 'must be after from: the range is [from, to)', path: ['to'] });

/** The message a regulator signs (EIP-191 personal_sign) to link `address` to their account. */
export function addressProofMessage(user: Pick<User, 'id' | 'email'>, address: string, time: number): string {
  return [
    'Polis portal: link this address to my regulator account.',
    `Address: ${address.toLowerCase()}`,
    `Account: ${user.email} (${user.id})`,
    `Time: ${time}`,
  ].join('\n');
}

/** Whether `grant` covers `appId`. */
function covers(grant: RegulatorGrant | null, appId: string): boolean {
  return grant !== null && (grant.apps === 'all' || grant.apps.includes(appId));
}

function notGranted(appId: string, hadKey: boolean): PortalError {
  return new PortalError(
    { code: PortalErrorCode.NOT_ALLOWED, action: `read the app ${appId}`, reason: 'no grant' },
    hadKey
      ? `the alliance no longer grants you the app ${appId}: its regulator key is revoked`
      : `the alliance has not granted you the app ${appId}`,
    { hint: 'Ask the alliance admins for a grant (grantRegulator) naming your address and this app' },
  );
}

function regulatorOnly(action: string): PortalError {
  return new PortalError(
    { code: PortalErrorCode.NOT_ALLOWED, action, reason: 'regulator account' },
    `regulator accounts read through the regulator view and never write, so they may not ${action}`,
    { hint: 'Use the Oversight pages; changes to an app are made by its owner or the alliance admins' },
  );
}

/** An error answer of the gateway, in the portal's terms. */
async function gatewayError(res: Response, what: string): Promise<Error> {
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  const message = body.error?.message ?? `the node answered ${res.status}`;
  if (res.status === 404) return notFound(what, message);
  if (res.status === 400) return invalidInput('query', message);
  if (res.status === 401) {
    return new NetworkError(
      { code: NetworkErrorCode.RPC_ERROR, method: what, rpcCode: 401 },
      `${what}: the node does not take the portal's key (${message})`,
      { hint: 'Try again in a few seconds; if it persists, the key may have been revoked in the registry' },
    );
  }
  if (res.status === 403) {
    return new PortalError({ code: PortalErrorCode.NOT_ALLOWED, action: what, reason: 'gateway' }, message, {
      hint: 'The node refused the regulator key; ask the alliance admins to check the grant',
    });
  }
  return new NetworkError({ code: NetworkErrorCode.RPC_ERROR, method: what, rpcCode: res.status }, `${what}: ${message}`);
}

/** `sha256` of an audit entry's canonical form (ADR 0008), to check each entry's own hash. */
function auditEntryHash(e: {
  seq: number;
  at: number;
  actor: string;
  scope: string;
  app: string;
  action: string;
  detail: string;
  prevHash: string;
}): string {
  const canonical = JSON.stringify([1, e.seq, e.at, e.actor, e.scope, e.app, e.action, e.detail, e.prevHash]);
  return `0x${createHash('sha256').update(canonical, 'utf8').digest('hex')}`;
}

/** A file-name-safe UTC time: 20250102T030405Z. */
function fileTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** The regulator routes. */
export const regulatorRoutes: RouteModule = (app, ctx) => {
  // One issue at a time per app and holder, so two concurrent first reads make one key, not two.
  const issuing = new Map<string, Promise<HeldKey>>();

  // A regulator account reads through this view only, where the grant applies and every read is
  // recorded under its key; and it never writes. Sign-in, sign-out and linking its own address are
  // its only state-changing calls.
  const open = new Set(['GET /api/me', 'POST /api/auth/signin', 'POST /api/auth/signout', 'POST /api/regulator/address']);
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/api/')) return;
    const token = req.cookies[SESSION_COOKIE];
    if (!token || open.has(`${req.method} ${path}`) || (req.method === 'GET' && path.startsWith('/api/regulator/'))) return;
    const user = await ctx.accounts.session(token);
    if (user?.kind !== 'regulator') return;
    throw regulatorOnly(
      req.method === 'GET' || req.method === 'HEAD' ? `open ${path} outside the regulator view` : `${req.method} ${path}`,
    );
  });

  // --- Oversight keys -------------------------------------------------------------------------

  // The route modules are not handed the master key, so these secrets are sealed under a key
  // derived from the app's owner key, which is itself sealed under the master key: opening one
  // takes the master key all the same, and the owner key is the authority that issued them.
  async function sealingKey(appId: string): Promise<Uint8Array> {
    return new Uint8Array(hkdfSync('sha256', await ctx.apps.ownerKey(appId), 'polis-portal', `oversight-keys:${appId}`, 32));
  }

  async function heldKey(appId: string, holder: Holder): Promise<HeldKey | undefined> {
    const row = await ctx.db.one<{ key_id: string; key_enc: string }>(
      'SELECT key_id, key_enc FROM oversight_keys WHERE app_id = $1 AND holder = $2 AND revoked_at IS NULL',
      [appId, holder],
    );
    if (!row) return undefined;
    const key = openSecret(await sealingKey(appId), row.key_enc, `oversight:${appId}:${holder}:${row.key_id}`);
    return { keyId: row.key_id, key: new TextDecoder().decode(key) };
  }

  /**
   * Puts a new key in the registry, signed by the app's owner key, and keeps it sealed. The row
   * comes first: a key the registry holds is always one the portal can revoke, and the unique
   * index on valid keys lets one of two racing issues win (the other takes the winner's key).
   */
  async function issueKey(appId: string, holder: Holder, scopes: ['regulator'] | ['admin']): Promise<HeldKey> {
    const { key, record } = createApiKey({ appId, scopes, label: holder, now: ctx.now() });
    const sealed = sealSecret(
      await sealingKey(appId),
      new TextEncoder().encode(key),
      `oversight:${appId}:${holder}:${record.id}`,
    );
    try {
      await ctx.db.run(
        'INSERT INTO oversight_keys (key_id, app_id, holder, scopes, key_enc, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [record.id, appId, holder, JSON.stringify(scopes), sealed, record.createdAt],
      );
    } catch (err) {
      const winner = isUniqueViolation(err) ? await heldKey(appId, holder) : undefined;
      if (winner) return winner;
      throw err;
    }
    try {
      await ctx.network.submit({ type: 'putApiKey', appId, key: { ...record, contracts: [] } }, await ctx.apps.ownerKey(appId));
    } catch (err) {
      await ctx.db.run('DELETE FROM oversight_keys WHERE key_id = $1', [record.id]);
      throw err;
    }
    return { keyId: record.id, key };
  }

  /** The holder's valid key for the app, issued when it has none. */
  async function keyFor(appId: string, holder: Holder): Promise<HeldKey> {
    const held = await heldKey(appId, holder);
    if (held) return held;
    const slot = `${appId} ${holder}`;
    let pending = issuing.get(slot);
    if (!pending) {
      pending = issueKey(appId, holder, holder === 'audit' ? ['admin'] : ['regulator']).finally(() => issuing.delete(slot));
      issuing.set(slot, pending);
    }
    return pending;
  }

  /** Marks a key revoked here, and first in the registry when `inRegistry` (its owner may have revoked it there already). */
  async function revokeHeld(appId: string, keyId: string, inRegistry: boolean): Promise<void> {
    const at = ctx.now();
    if (inRegistry) {
      try {
        await ctx.network.submit({ type: 'revokeApiKey', appId, keyId, at }, await ctx.apps.ownerKey(appId));
      } catch (err) {
        // Revoked or removed in the registry already (by the owner): what matters is that it is.
        const reason = err instanceof NetworkError && err.type.code === NetworkErrorCode.REFUSED ? err.type.reason : undefined;
        if (reason !== 'KEY_REVOKED' && reason !== 'UNKNOWN_KEY') throw err;
      }
    }
    await ctx.db.run('UPDATE oversight_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL', [at, keyId]);
  }

  // --- Grants ---------------------------------------------------------------------------------

  async function regulator(req: FastifyRequest): Promise<{ user: User; address: string | undefined }> {
    const user = await requireUser(ctx, req);
    requireKind(user, ['regulator'], 'use the regulator view');
    return { user, address: await ctx.accounts.addressOf(user.id) };
  }

  async function grantOf(address: string | undefined): Promise<RegulatorGrant | null> {
    if (!address) return null;
    return ctx.network.gov<RegulatorGrant | null>('gov_getRegulator', [address]);
  }

  /**
   * The app if the alliance grants it to the regulator now, with their key for it. Without a
   * grant, a key they held is revoked in the registry first, then the request is refused.
   */
  async function granted(req: FastifyRequest): Promise<{ user: User; app: PortalApp; holder: Holder }> {
    const { user, address } = await regulator(req);
    const appId = (req.params as { id: string }).id;
    if (!address) {
      throw new PortalError(
        { code: PortalErrorCode.NOT_ALLOWED, action: `read the app ${appId}`, reason: 'no address' },
        'your account has no linked address yet',
        {
          hint: 'Link your address on the Oversight page, then ask the alliance admins to grant it the app',
        },
      );
    }
    const holder: Holder = `regulator:${user.id}`;
    if (!covers(await grantOf(address), appId)) {
      const held = await ctx.db.one<{ key_id: string }>(
        'SELECT key_id FROM oversight_keys WHERE app_id = $1 AND holder = $2 AND revoked_at IS NULL',
        [appId, holder],
      );
      if (held) await revokeHeld(appId, held.key_id, true);
      throw notGranted(appId, held !== undefined);
    }
    const found = await ctx.apps.get(appId);
    if (!found)
      throw notFound(
        `app ${appId} in this portal`,
        'The alliance granted it, but this portal does not manage it; read it at a node with a key from its owner',
      );
    return { user, app: found, holder };
  }

  // --- The gateway ----------------------------------------------------------------------------

  /**
   * A GET of `/api/v1/apps/{appId}{path}` with the holder's key, on the first gateway that
   * answers. A key the node does not take yet (its block has not reached that node) is retried for
   * a few seconds; a key revoked in the registry by someone else is replaced once.
   */
  async function gatewayGet(
    appId: string,
    holder: Holder,
    path: string,
    options: { gateway?: string; signal?: AbortSignal } = {},
  ): Promise<Response> {
    let key = await keyFor(appId, holder);
    const urls = options.gateway ? [options.gateway] : await ctx.network.gatewaysFor(appId);
    let replaced = false;
    const started = Date.now();
    for (;;) {
      let res: Response | undefined;
      let lastError: unknown;
      for (const base of urls) {
        try {
          res = await fetch(`${base}/api/v1/apps/${encodeURIComponent(appId)}${path}`, {
            headers: { authorization: `Bearer ${key.key}` },
            signal: options.signal ?? AbortSignal.timeout(GATEWAY_TIMEOUT_MS),
          });
          break;
        } catch (err) {
          if (options.signal?.aborted) throw err;
          lastError = err;
        }
      }
      if (!res) {
        throw new NetworkError(
          { code: NetworkErrorCode.UNREACHABLE, urls },
          `no node serving the app ${appId} answered (${(lastError as Error | undefined)?.message ?? 'no answer'}): try again shortly`,
        );
      }
      if (res.status !== 401) return res;
      await res.body?.cancel();
      const records = await ctx.network.gov<{ id: string; revokedAt?: number }[]>('gov_listApiKeys', [appId]);
      const record = records.find((k) => k.id === key.keyId);
      if (record?.revokedAt === undefined) {
        if (Date.now() - started < KEY_PROPAGATION_WAIT_MS) {
          await new Promise((done) => setTimeout(done, 200));
          continue;
        }
        return res;
      }
      if (replaced) return res;
      // Its owner revoked the key in the registry. It is replaced: the alliance's grant, not the
      // owner, decides whether a regulator reads, and the new key is as visible to the owner.
      await revokeHeld(appId, key.keyId, false);
      key = await keyFor(appId, holder);
      replaced = true;
    }
  }

  async function gatewayJson<T>(appId: string, holder: Holder, path: string, what: string, gateway?: string): Promise<T> {
    const res = await gatewayGet(appId, holder, path, gateway ? { gateway } : {});
    if (!res.ok) throw await gatewayError(res, what);
    return (await res.json()) as T;
  }

  /** The app with its status from the network and its nodes' health. */
  async function withNetwork(found: PortalApp): Promise<GrantedApp> {
    const [record, nodes] = await Promise.all([ctx.network.app(found.appId).catch(() => undefined), ctx.network.nodes()]);
    const validators = record ? [...record.validators] : found.validators;
    return {
      appId: found.appId,
      name: found.name,
      status: record?.status ?? found.status,
      plan: record?.plan ?? found.plan,
      chainId: found.chainId,
      createdAt: found.createdAt,
      nodes: nodes
        .filter((n) => validators.includes(n.publicKey))
        .map((n) => {
          const height = n.health.ledgers?.find((l) => l.id === found.appId)?.height;
          return {
            name: n.name,
            region: n.region,
            ok: n.health.ok,
            serving: n.health.apps?.includes(found.appId) ?? false,
            ...(height !== undefined ? { height } : {}),
          };
        }),
    };
  }

  // --- Routes ---------------------------------------------------------------------------------

  app.get('/api/regulator/me', async (req) => {
    const { address } = await regulator(req);
    return { address: address ?? null, grant: await grantOf(address) };
  });

  app.get('/api/regulator/address/challenge', async (req) => {
    const { user } = await regulator(req);
    const { address } = Challenge.parse(req.query);
    const time = ctx.now();
    return { message: addressProofMessage(user, address, time), time };
  });

  app.post('/api/regulator/address', async (req) => {
    const { user } = await regulator(req);
    const body = LinkAddress.parse(req.body);
    const age = ctx.now() - body.time;
    if (age < -60_000 || age > ADDRESS_PROOF_MAX_AGE_MS) {
      throw invalidInput('time', 'is too old or in the future: ask for a new message and sign it again');
    }
    const signer = await recoverMessageAddress({
      message: addressProofMessage(user, body.address, body.time),
      signature: body.signature as Hex,
    }).catch(() => undefined);
    if (signer?.toLowerCase() !== body.address.toLowerCase()) {
      throw invalidInput('signature', `was not made with the key of ${body.address}: sign the message with that address's key`);
    }
    const address = await ctx.accounts.linkAddress(user.id, body.address);
    return { address, grant: await grantOf(address) };
  });

  app.get('/api/regulator/apps', async (req) => {
    const { user, address } = await regulator(req);
    const grant = await grantOf(address);
    // Keys for apps the grant no longer names are revoked here too, not only when next used.
    const live = await ctx.db.all<{ key_id: string; app_id: string }>(
      'SELECT key_id, app_id FROM oversight_keys WHERE holder = $1 AND revoked_at IS NULL',
      [`regulator:${user.id}`],
    );
    for (const k of live) if (!covers(grant, k.app_id)) await revokeHeld(k.app_id, k.key_id, true);
    if (!grant) return { address: address ?? null, grant: null, apps: [], unmanaged: [] };
    const managed =
      grant.apps === 'all'
        ? await ctx.apps.all()
        : (await Promise.all(grant.apps.map((id) => ctx.apps.get(id)))).filter((a) => a !== undefined);
    const unmanaged = grant.apps === 'all' ? [] : grant.apps.filter((id) => !managed.some((a) => a.appId === id));
    return { address, grant, apps: await Promise.all(managed.map(withNetwork)), unmanaged };
  });

  app.get('/api/regulator/apps/:id', async (req) => {
    const { app: found, holder } = await granted(req);
    const [described, head, latest] = await Promise.all([
      withNetwork(found),
      gatewayJson<{ height: number }>(found.appId, holder, '', 'the app'),
      gatewayJson<{ number: number; hash: string; timestampMs: number; transactionCount: number }>(
        found.appId,
        holder,
        '/blocks/latest',
        'the latest block',
      ),
    ]);
    return {
      app: described,
      height: head.height,
      latest: { number: latest.number, hash: latest.hash, time: latest.timestampMs, transactions: latest.transactionCount },
      // The key the reads above used (a key revoked by its owner was replaced on the way).
      keyId: (await keyFor(found.appId, holder)).keyId,
    };
  });

  app.get('/api/regulator/apps/:id/search', async (req) => {
    const { app: found, holder } = await granted(req);
    const { q } = Search.parse(req.query);
    const get = (path: string) => gatewayGet(found.appId, holder, path);
    if (/^\d{1,15}$/.test(q) || q === 'latest') {
      const res = await get(q === 'latest' ? '/blocks/latest' : `/blocks/${q}`);
      if (!res.ok) throw await gatewayError(res, `block ${q}`);
      return { kind: 'block', block: await res.json() };
    }
    if (ADDRESS.test(q)) {
      const res = await get(`/accounts/${q}`);
      if (!res.ok) throw await gatewayError(res, `account ${q}`);
      return { kind: 'account', account: await res.json() };
    }
    if (HASH32.test(q)) {
      const tx = await get(`/transactions/${q}`);
      if (tx.ok) {
        const answer = (await tx.json()) as { status: string };
        const receipt = answer.status === 'committed' ? await get(`/receipts/${q}`) : undefined;
        return { kind: 'transaction', ...answer, receipt: receipt?.ok ? await receipt.json() : null };
      }
      if (tx.status !== 404) throw await gatewayError(tx, `transaction ${q}`);
      await tx.body?.cancel();
      const block = await get(`/blocks/${q}`);
      if (block.ok) return { kind: 'block', block: await block.json() };
      if (block.status !== 404) throw await gatewayError(block, `block ${q}`);
      await block.body?.cancel();
      throw notFound(`transaction or block ${q}`, 'Check the hash and that it belongs to this app');
    }
    throw invalidInput(
      'q',
      'is not a transaction or block hash (0x and 64 hex digits), an address (0x and 40) or a block number',
    );
  });

  app.get('/api/regulator/apps/:id/audit', async (req) => {
    const { app: found, holder } = await granted(req);
    const query = Audit.parse(req.query);
    const [urls, nodes] = await Promise.all([ctx.network.gatewaysFor(found.appId), ctx.network.nodes()]);
    const nameOf = (url: string) => nodes.find((n) => n.url === url)?.name ?? url;
    const gateway = query.node ? urls.find((u) => nameOf(u) === query.node) : urls[0];
    if (!gateway) throw notFound(`node ${query.node} serving ${found.appId}`, 'Pick one of the nodes listed');
    const page = await gatewayJson<{
      entries: {
        seq: number;
        at: number;
        actor: string;
        scope: string;
        app: string;
        action: string;
        detail: string;
        prevHash: string;
        hash: string;
      }[];
      next: number | null;
      head: { seq: number; hash: string };
      anchor: { seq: number; hash: string } | null;
    }>(found.appId, 'audit', `/audit?after=${query.after}&limit=${query.limit}`, 'the audit log', gateway);
    return {
      node: nameOf(gateway),
      nodes: urls.map(nameOf),
      keyId: (await keyFor(found.appId, holder)).keyId,
      entries: page.entries.map((e) => ({ ...e, hashOk: auditEntryHash(e) === e.hash })),
      next: page.next,
      head: page.head,
      anchor: page.anchor,
    };
  });

  app.get('/api/regulator/apps/:id/export', async (req, reply) => {
    const { app: found, holder } = await granted(req);
    const query = Export.parse(req.query);
    const gatewayFormat = query.format === 'csv' ? 'csv' : 'json';
    const abort = new AbortController();
    const page = (cursor: string | undefined, limit: number) => {
      const params = new URLSearchParams({
        kind: query.kind,
        from: String(query.from),
        to: String(query.to),
        format: gatewayFormat,
        limit: String(limit),
      });
      if (cursor) params.set('cursor', cursor);
      return gatewayGet(found.appId, holder, `/export?${params}`, { signal: abort.signal });
    };
    const first = await page(query.cursor, EXPORT_PAGE_ROWS);
    if (!first.ok) throw await gatewayError(first, 'the export');
    const file = `${found.appId}-${query.kind}-${fileTime(query.from)}-${fileTime(query.to)}.${query.format === 'csv' ? 'csv' : 'ndjson'}`;
    const stream = Readable.from(joinExportPages(first, page, query.format, abort));
    stream.on('error', (err) => req.log.warn({ err, app: found.appId }, 'an export stopped'));
    return reply
      .header(
        'content-type',
        query.format === 'csv' ? 'text/csv; charset=utf-8; header=present' : 'application/x-ndjson; charset=utf-8',
      )
      .header('content-disposition', `attachment; filename="${file}"`)
      .header('x-polis-export-rows-max', String(EXPORT_ROWS_MAX))
      .header('cache-control', 'no-store')
      .send(stream);
  });
};

/**
 * The gateway's export pages joined into one file, streamed as they arrive: CSV keeps the first
 * page's header row only; NDJSON keeps the rows and ends with one `{"next": ...}` line (the
 * gateway's cursor when a bound stopped the export, else null). Bounded by EXPORT_ROWS_MAX,
 * EXPORT_BYTES_MAX and EXPORT_PAGES_MAX.
 */
export async function* joinExportPages(
  first: Response,
  page: (cursor: string, limit: number) => Promise<Response>,
  format: 'csv' | 'ndjson',
  abort: AbortController,
): AsyncGenerator<Uint8Array | string> {
  let res = first;
  let rows = 0;
  let bytes = 0;
  let note: string | undefined;
  try {
    for (let pages = 1; ; pages++) {
      rows += Number(res.headers.get('x-polis-export-rows') ?? 0);
      note ??= res.headers.get('x-polis-export-note') ?? undefined;
      const next = res.headers.get('x-polis-next-cursor');
      const body = res.body ? (format === 'csv' ? csvBody(res.body, pages > 1) : ndjsonRows(res.body)) : [];
      for await (const chunk of body) {
        bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
        yield chunk;
      }
      if (!next) break;
      if (rows >= EXPORT_ROWS_MAX || bytes >= EXPORT_BYTES_MAX || pages >= EXPORT_PAGES_MAX) {
        if (format === 'ndjson') {
          yield `${JSON.stringify({ next, note: `the file stops at ${rows} rows, a bound of the portal: export again with this cursor for the rest` })}\n`;
          return;
        }
        // A CSV file has no place to say it stops short, so its download fails rather than end unnoticed.
        throw limitReached(
          'rows (or 64 MiB) per export file',
          EXPORT_ROWS_MAX,
          'Choose a shorter time range, or export NDJSON, which ends with a cursor to go on from',
        );
      }
      res = await page(next, Math.min(EXPORT_PAGE_ROWS, EXPORT_ROWS_MAX - rows));
      if (!res.ok) throw await gatewayError(res, 'a page of the export');
    }
    if (format === 'ndjson') yield `${JSON.stringify(note ? { next: null, note } : { next: null })}\n`;
  } finally {
    // The client went away (or a page failed): the gateway's answer in flight is dropped.
    abort.abort();
  }
}

/** The chunks of a response body; leaving early cancels the rest of it. */
async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let done = false;
  try {
    for (;;) {
      const read = await reader.read();
      if (read.done) {
        done = true;
        return;
      }
      yield read.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
  }
}

/** A CSV page's bytes, without its header row when `skipHeader` (pages after the first). */
async function* csvBody(body: ReadableStream<Uint8Array>, skipHeader: boolean): AsyncGenerator<Uint8Array> {
  let skipping = skipHeader;
  for await (const chunk of chunksOf(body)) {
    if (!skipping) {
      yield chunk;
      continue;
    }
    // The header row is short and has no quoted line breaks; it ends at the first CRLF (RFC 4180).
    const end = chunk.indexOf(0x0a);
    if (end < 0) continue;
    skipping = false;
    if (end + 1 < chunk.length) yield chunk.subarray(end + 1);
  }
}

/** An NDJSON page's row lines, without its last line (the gateway's `{"next": ...}`). */
async function* ndjsonRows(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = '';
  let held: string | undefined;
  for await (const chunk of chunksOf(body)) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    let out = '';
    for (const line of lines) {
      if (line === '') continue;
      if (held !== undefined) out += `${held}\n`;
      held = line;
    }
    if (out) yield out;
  }
  pending += decoder.decode();
  if (pending.trim() !== '') {
    if (held !== undefined) yield `${held}\n`;
    held = pending;
  }
  // `held` is now the page's last line, the cursor line, which the joined file replaces.
}
