/**
 * The admin and operator API against a real node that hosts a system ledger (3 admins, 2 of them
 * approve an action, app requests wait for approval): the overview lists a pending app, a
 * transaction signed outside the portal is relayed and its outcome said in plain words, the
 * second admin's approval executes it, and bad input (a malformed transaction, a key that is not
 * an admin's, a used nonce), other kinds of users and signed-out visitors are refused.
 */
import { randomBytes } from 'node:crypto';
import { bytesToHex, ed25519PublicKey, generateSecp256k1PrivateKey, hexToBytes, privateKeyToAddress } from '@polis/core';
import {
  type Action,
  type AppRecord,
  encodeGovTx,
  type GovBody,
  type NodeRecord,
  signGovTxEd25519,
  signGovTxSecp256k1,
} from '@polis/governance';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, rpcCall, startDevNode } from '../../node/test/devNode.js';
import { createApps } from '../src/server/apps.js';
import { buildServer, type PortalContext } from '../src/server/http.js';
import { Network } from '../src/server/network.js';
import { authRoutes } from '../src/server/routes/auth.js';
import {
  adminRoutes,
  describeAction,
  describeOutcome,
  operatorRoutes,
  type ProposalView,
} from '../src/server/routes/governance.js';
import { createAccounts, type Db, migrate, openDb } from '../src/server/store/index.js';

const SYSTEM_CHAIN_ID = 4242;
const PASSWORD = 'correct horse battery';
const APP_ID = 'land-registry';

let dev: DevNode;
let db: Db;
let server: FastifyInstance;
let base: string;
let systemUrl: string;
let nodeKey: `0x${string}`;
const cookies: Record<'admin' | 'developer' | 'operator', string> = { admin: '', developer: '', operator: '' };
let admins: { address: string; key: Uint8Array }[];

type Json = Record<string, unknown>;

async function call(
  method: 'GET' | 'POST',
  path: string,
  cookie?: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(cookie ? { cookie } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

async function signIn(email: string): Promise<string> {
  const res = await fetch(`${base}/api/auth/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  expect(res.status, `sign-in of ${email}`).toBe(200);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
}

/** Signs `body` as the browser does: the chain id and the nonce come from the signing-info route. */
async function signed(signer: { address: string; key: Uint8Array }, body: GovBody, nonceDelta = 0): Promise<string> {
  const info = await call('GET', `/api/admin/signing-info?address=${signer.address}`, cookies.admin);
  expect(info.status).toBe(200);
  const tx = signGovTxSecp256k1(
    { chainId: info.body.chainId as number, nonce: (info.body.nonce as number) + nonceDelta, body },
    signer.key,
  );
  return bytesToHex(encodeGovTx(tx));
}

const propose = (action: Action): GovBody => ({ type: 'propose', action, expiresAt: Date.now() + 3_600_000 });

beforeAll(async () => {
  admins = [0, 1, 2].map(() => {
    const key = generateSecp256k1PrivateKey();
    return { key, address: bytesToHex(privateKeyToAddress(key)) };
  });
  dev = await startDevNode({
    system: {
      chainId: SYSTEM_CHAIN_ID,
      admins: admins.map((a) => a.address),
      threshold: 2,
      operator: admins[0]?.address as string,
    },
  });
  systemUrl = `${dev.baseUrl}/v1/system`;
  nodeKey = ((await rpcCall<NodeRecord[]>(systemUrl, 'gov_listNodes'))[0] as NodeRecord).publicKey;

  db = openDb(':memory:');
  await migrate(db);
  const accounts = createAccounts(db, { scrypt: { N: 1024 } });
  const ctx: PortalContext = {
    db,
    accounts,
    apps: createApps(db, new Uint8Array(32).fill(7)),
    network: new Network({ gateways: [dev.baseUrl] }),
    now: Date.now,
  };
  for (const kind of ['admin', 'developer', 'operator'] as const) {
    await accounts.signUp({ email: `${kind}@example.org`, name: kind, password: PASSWORD, kind });
  }
  server = await buildServer({ ctx, routes: [authRoutes, adminRoutes, operatorRoutes] });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const address = server.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  for (const kind of ['admin', 'developer', 'operator'] as const) cookies[kind] = await signIn(`${kind}@example.org`);

  // A developer's app request: it waits for the alliance.
  const owner = generateSecp256k1PrivateKey();
  await ctx.network.submit(
    {
      type: 'requestApp',
      id: APP_ID,
      chainId: 8_000_001,
      validators: [nodeKey],
      observers: [],
      plan: 'standard',
      keyMode: 'upload',
      accessPolicy: 'open',
    },
    owner,
  );
}, 60_000);

afterAll(async () => {
  await server?.close();
  await db?.close();
  await dev?.close();
});

describe('admin API', () => {
  it('default: the overview lists the alliance, the pending app with its owner, nodes and plan, and the nodes', async () => {
    const r = await call('GET', '/api/admin/overview', cookies.admin);
    expect(r.status).toBe(200);
    const alliance = r.body.alliance as { admins: string[]; threshold: number };
    expect(alliance.threshold).toBe(2);
    expect(alliance.admins.map((a) => a.toLowerCase()).sort()).toEqual(admins.map((a) => a.address).sort());
    const pending = r.body.pendingApps as (AppRecord & { validatorNames: string[] })[];
    expect(pending.map((a) => a.id)).toEqual([APP_ID]);
    expect(pending[0]?.status).toBe('pending');
    expect(pending[0]?.plan).toBe('standard');
    expect(pending[0]?.owner).toMatch(/^0x[0-9a-f]{40}$/);
    expect(pending[0]?.validatorNames).toEqual(['node-0']);
    const nodes = r.body.nodes as { publicKey: string; status: string; health: { ok: boolean } }[];
    expect(nodes.map((n) => [n.publicKey, n.status, n.health.ok])).toEqual([[nodeKey, 'active', true]]);
    expect((r.body.proposals as { open: unknown[] }).open).toEqual([]);
  });

  it('default: signing-info gives the chain id, the next nonce and whether the address is an admin', async () => {
    const admin = await call(
      'GET',
      `/api/admin/signing-info?address=${admins[2]?.address.toUpperCase().replace('0X', '0x')}`,
      cookies.admin,
    );
    expect(admin.status).toBe(200);
    expect(admin.body).toMatchObject({
      chainId: SYSTEM_CHAIN_ID,
      nonce: 0,
      isAdmin: true,
      threshold: 2,
      address: admins[2]?.address,
    });
    const outsider = await call('GET', `/api/admin/signing-info?address=0x${'ab'.repeat(20)}`, cookies.admin);
    expect(outsider.body.isAdmin).toBe(false);
    const bad = await call('GET', '/api/admin/signing-info?address=0x12', cookies.admin);
    expect(bad.status).toBe(400);
  });

  it('default: a relayed proposal has 1 of 2 approvals; the second admin’s approval executes it and the app is active', async () => {
    const first = await call('POST', '/api/admin/submit', cookies.admin, {
      raw: await signed(admins[0] as never, propose({ type: 'approveApp', appId: APP_ID })),
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect((first.body.receipt as { status: string }).status).toBe('ok');
    const proposal = first.body.proposal as { id: number; approvalsCounted: number; threshold: number; summary: string };
    expect(proposal).toMatchObject({ approvalsCounted: 1, threshold: 2, summary: `Approve app ${APP_ID}` });
    expect(first.body.outcome).toBe(`Proposal ${proposal.id} has 1 of 2 approvals: a second admin must approve it`);
    expect((await rpcCall<AppRecord>(systemUrl, 'gov_getApp', [APP_ID])).status).toBe('pending');

    const open = await call('GET', '/api/admin/overview', cookies.admin);
    expect((open.body.proposals as { open: { id: number }[] }).open.map((p) => p.id)).toEqual([proposal.id]);

    const second = await call('POST', '/api/admin/submit', cookies.admin, {
      raw: await signed(admins[1] as never, { type: 'approve', proposalId: proposal.id }),
    });
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.outcome).toBe(`Executed: app ${APP_ID} is active`);
    expect((await rpcCall<AppRecord>(systemUrl, 'gov_getApp', [APP_ID])).status).toBe('active');

    const after = await call('GET', '/api/admin/overview', cookies.admin);
    expect(after.body.pendingApps).toEqual([]);
    const closed = (after.body.proposals as { closed: { id: number; status: string }[] }).closed;
    expect(closed[0]).toMatchObject({ id: proposal.id, status: 'executed' });
  });

  it('error: a refused approval (the same admin twice) is 409 with the ledger’s reason', async () => {
    const first = await call('POST', '/api/admin/submit', cookies.admin, {
      raw: await signed(admins[0] as never, propose({ type: 'suspendApp', appId: APP_ID })),
    });
    const id = (first.body.proposal as { id: number }).id;
    const again = await call('POST', '/api/admin/submit', cookies.admin, {
      raw: await signed(admins[0] as never, { type: 'approve', proposalId: id }),
    });
    expect(again.status).toBe(409);
    expect((again.body.error as { message: string }).message).toMatch(/already approved/);
    expect((await rpcCall<AppRecord>(systemUrl, 'gov_getApp', [APP_ID])).status).toBe('active');
  });

  it('error: a malformed raw transaction is refused with 400 and a message that says so', async () => {
    for (const raw of ['0x1234', '0xc0', 'not hex', '0x123']) {
      const r = await call('POST', '/api/admin/submit', cookies.admin, { raw });
      expect(r.status, `raw ${raw}`).toBe(400);
      expect((r.body.error as { code: string }).code, `raw ${raw}`).toBe('INVALID_INPUT');
    }
    const r = await call('POST', '/api/admin/submit', cookies.admin, { raw: '0x1234' });
    expect((r.body.error as { message: string; hint: string }).message).toMatch(/not valid/);
    // The last byte is the signature's recovery id: 5 is no recovery id at all.
    const tampered = hexToBytes(await signed(admins[2] as never, { type: 'approve', proposalId: 1 }));
    tampered[tampered.length - 1] = 5;
    const bad = await call('POST', '/api/admin/submit', cookies.admin, { raw: bytesToHex(tampered) });
    expect(bad.status).toBe(400);
    expect((bad.body.error as { message: string }).message).toMatch(/signature/);
  });

  it("error: a transaction signed with a key that is not an admin's is refused with 403 before it is sent", async () => {
    const key = generateSecp256k1PrivateKey();
    const outsider = { key, address: bytesToHex(privateKeyToAddress(key)) };
    const r = await call('POST', '/api/admin/submit', cookies.admin, {
      raw: await signed(outsider, propose({ type: 'suspendApp', appId: APP_ID })),
    });
    expect(r.status).toBe(403);
    expect((r.body.error as { message: string }).message).toContain(`${outsider.address}) is not one of the alliance's 3 admins`);
    expect(await rpcCall<number>(systemUrl, 'gov_getNonce', [outsider.address])).toBe(0);
  });

  it('error: a used nonce and a body the portal does not relay are 400', async () => {
    const stale = await call('POST', '/api/admin/submit', cookies.admin, {
      raw: await signed(admins[1] as never, propose({ type: 'suspendApp', appId: APP_ID }), -1),
    });
    expect(stale.status).toBe(400);
    expect((stale.body.error as { message: string }).message).toMatch(/nonce/);
    const requestApp = await signed(admins[1] as never, {
      type: 'requestApp',
      id: 'other-app',
      chainId: 8_000_002,
      validators: [nodeKey],
      observers: [],
      plan: 'standard',
      keyMode: 'upload',
      accessPolicy: 'open',
    });
    const r = await call('POST', '/api/admin/submit', cookies.admin, { raw: requestApp });
    expect(r.status).toBe(400);
    expect((r.body.error as { message: string }).message).toMatch(/relays only/);
  });

  it('error: developers and operators get 403, signed-out visitors 401', async () => {
    for (const who of ['developer', 'operator'] as const) {
      for (const [method, path, body] of [
        ['GET', '/api/admin/overview', undefined],
        ['GET', `/api/admin/signing-info?address=${admins[0]?.address}`, undefined],
        ['POST', '/api/admin/submit', { raw: '0x1234' }],
      ] as const) {
        const r = await call(method, path, cookies[who], body);
        expect(r.status, `${who} ${method} ${path}`).toBe(403);
        expect((r.body.error as { code: string }).code).toBe('NOT_ALLOWED');
      }
    }
    for (const [method, path, body] of [
      ['GET', '/api/admin/overview', undefined],
      ['POST', '/api/admin/submit', { raw: '0x1234' }],
      ['GET', '/api/operator/nodes', undefined],
    ] as const) {
      const r = await call(method, path, undefined, body);
      expect(r.status, `${method} ${path}`).toBe(401);
      expect((r.body.error as { code: string }).code).toBe('SIGNED_OUT');
    }
  });
});

describe('operator API', () => {
  it('default: operators and admins see each node’s status and health: ledgers with heights, peers, uptime', async () => {
    for (const who of ['operator', 'admin'] as const) {
      const r = await call('GET', '/api/operator/nodes', cookies[who]);
      expect(r.status, who).toBe(200);
      const [node] = r.body.nodes as {
        publicKey: string;
        name: string;
        status: string;
        url: string;
        uptimeMs: number;
        health: { ok: boolean; latencyMs: number; ledgers: { id: string; height: number; mempool: number }[] };
      }[];
      expect(node).toMatchObject({ publicKey: nodeKey, name: 'node-0', status: 'active', url: dev.baseUrl });
      expect(node?.health.ok).toBe(true);
      expect(node?.health.latencyMs).toBeGreaterThanOrEqual(0);
      expect(node?.uptimeMs).toBeGreaterThan(0);
      expect(node?.health.ledgers.map((l) => l.id)).toContain('demo');
      expect(node?.health.ledgers.every((l) => l.height >= 0 && l.mempool >= 0)).toBe(true);
      expect(r.body.systemUrls).toEqual([systemUrl]);
    }
  });

  it('default: a node that applied waits for admission; two admins admit it and it is active', async () => {
    const seed = randomBytes(32);
    const publicKey = bytesToHex(ed25519PublicKey(seed)) as `0x${string}`;
    const apply = signGovTxEd25519(
      {
        chainId: SYSTEM_CHAIN_ID,
        nonce: 0,
        body: {
          type: 'nodeApply',
          publicKey,
          name: 'applicant',
          addrs: [],
          operator: admins[2]?.address as `0x${string}`,
          region: 'eu-north',
        },
      },
      seed,
    );
    const hash = await rpcCall<string>(systemUrl, 'gov_sendTransaction', [bytesToHex(encodeGovTx(apply))]);
    await expect
      .poll(() => rpcCall<{ status: string } | null>(systemUrl, 'gov_getReceipt', [hash]), { timeout: 10_000 })
      .toMatchObject({ status: 'ok' });

    const waiting = await call('GET', '/api/operator/nodes', cookies.operator);
    const applicant = (
      waiting.body.nodes as { publicKey: string; status: string; region: string; health: { ok: boolean } }[]
    ).find((n) => n.publicKey === publicKey);
    expect(applicant).toMatchObject({ status: 'pending', region: 'eu-north', health: { ok: false } });

    const admit: Action = { type: 'admitNode', publicKey };
    const first = await call('POST', '/api/admin/submit', cookies.admin, {
      raw: await signed(admins[0] as never, propose(admit)),
    });
    const id = (first.body.proposal as { id: number }).id;
    expect((first.body.proposal as { summary: string }).summary).toBe(`Admit node applicant (${publicKey.slice(0, 10)}…)`);
    const second = await call('POST', '/api/admin/submit', cookies.admin, {
      raw: await signed(admins[2] as never, { type: 'approve', proposalId: id }),
    });
    expect(second.body.outcome).toBe(`Executed: node applicant (${publicKey.slice(0, 10)}…) is active`);
    expect((await rpcCall<NodeRecord>(systemUrl, 'gov_getNode', [publicKey])).status).toBe('active');
  });

  it('error: developers get 403', async () => {
    const r = await call('GET', '/api/operator/nodes', cookies.developer);
    expect(r.status).toBe(403);
  });
});

describe('outcomes in plain words', () => {
  const base: ProposalView = {
    id: 7,
    proposer: `0x${'11'.repeat(20)}`,
    action: { type: 'grantRegulator', address: `0x${'22'.repeat(20)}`, apps: ['a', 'b'] },
    createdAt: { height: 1, time: 1 },
    expiresAt: 10,
    approvals: [{ address: `0x${'11'.repeat(20)}`, height: 1 }],
    status: 'open',
    effectiveStatus: 'open',
    summary: '',
    approvalsCounted: 1,
    threshold: 3,
  };

  it('default: each state of a proposal reads as what happened and what comes next', () => {
    const cases: [Partial<ProposalView>, string][] = [
      [{}, 'Proposal 7 has 1 of 3 approvals: 2 more admins must approve it'],
      [{ approvalsCounted: 2 }, 'Proposal 7 has 2 of 3 approvals: a third admin must approve it'],
      [{ status: 'executed', effectiveStatus: 'executed' }, `Executed: regulator 0x${'22'.repeat(20)} may read a, b`],
      [
        { status: 'failed', effectiveStatus: 'failed', error: { code: 'UNKNOWN_APP', message: 'no app has the id "a"' } },
        'Proposal 7 reached 3 approvals but its action failed: no app has the id "a"',
      ],
      [{ effectiveStatus: 'expired' }, 'Proposal 7 expired before it had 3 approvals: propose it again'],
    ];
    for (const [change, want] of cases) expect(describeOutcome({ ...base, ...change }), JSON.stringify(change)).toBe(want);
  });

  it('default: actions name their target, nodes by name and key', () => {
    const key = `0x${'ab'.repeat(32)}` as `0x${string}`;
    const names = new Map([[key, { name: 'node-9' }]]);
    expect(describeAction({ type: 'grantRegulator', address: `0x${'22'.repeat(20)}`, apps: 'all' })).toBe(
      `Let regulator 0x${'22'.repeat(20)} read every app`,
    );
    expect(describeAction({ type: 'revokeRegulator', address: `0x${'22'.repeat(20)}` })).toBe(
      `Revoke regulator 0x${'22'.repeat(20)}`,
    );
    expect(describeAction({ type: 'suspendNode', publicKey: key }, names)).toBe('Suspend node node-9 (0xabababab…)');
    expect(describeAction({ type: 'admitNode', publicKey: key })).toBe('Admit node 0xabababab…');
    expect(describeAction({ type: 'resumeApp', appId: 'shop' })).toBe('Resume app shop');
  });
});
