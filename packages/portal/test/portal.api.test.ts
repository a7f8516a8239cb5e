/**
 * The portal's API against a real node with a system ledger, on SQLite and on PostgreSQL: sign-up
 * and sign-in (throttled wrong passwords, duplicate emails), creating an app on the network (its
 * record on the system ledger, a working endpoint), API keys (created, rotated, revoked: the
 * gateway accepts and refuses them), contracts (compiler errors with lines, a deployment job,
 * reads and transactions with decoded logs), and the access rules (signed out, another
 * organisation's app, JSON only).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, rpcCall } from '../../node/test/devNode.js';
import { type Portal, startPortal } from '../src/index.js';
import { portalClient, startGovernedNode } from './portalClient.js';
import { ENGINES, type Engine } from './storeFixture.js';

let dev: DevNode;

beforeAll(async () => {
  dev = await startGovernedNode({ chainId: 41_000, heartbeatMs: 200 });
}, 60_000);

afterAll(async () => {
  await dev?.close();
});

const client = portalClient;

const GREETER = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Greeter {
    string public greeting;
    event Greeted(address indexed by, string greeting);
    constructor(string memory g) { greeting = g; }
    function greet(string calldata t) external { greeting = t; emit Greeted(msg.sender, t); }
}`;

describe.each(ENGINES)('portal API on $name', ({ make }) => {
  let engine: Engine;
  let portal: Portal;
  const suffix = randomBytes(3).toString('hex');
  const appId = `app-${suffix}`;

  beforeAll(async () => {
    engine = make();
    const target = await engine.fresh();
    portal = await startPortal({
      db: target.open(),
      gateways: [dev.baseUrl],
      masterKey: randomBytes(32),
      port: 0,
      accounts: { scrypt: { N: 1024 }, throttle: { maxPerEmail: 3 } },
    });
  }, 60_000);

  afterAll(async () => {
    await portal?.close();
    await engine?.cleanup();
  });

  it('default: a developer signs up, creates an app on the network, and its endpoint answers', async () => {
    const call = client(portal.url);
    const signUp = await call('POST', '/api/auth/signup', {
      email: `dev-${suffix}@example.com`,
      name: 'Dev',
      password: 'correct horse battery',
    });
    expect(signUp.status).toBe(201);
    expect((await call('GET', '/api/me')).body).toMatchObject({
      user: { email: `dev-${suffix}@example.com`, kind: 'developer' },
    });
    const nodes = await call<{ nodes: { publicKey: string; health: { ok: boolean }; status: string }[] }>('GET', '/api/nodes');
    expect(nodes.body.nodes).toEqual([
      expect.objectContaining({ publicKey: dev.node.publicKey, status: 'active', health: expect.objectContaining({ ok: true }) }),
    ]);

    const created = await call<{ app: { chainId: number; status: string }; apiKey: string; endpoints: { rpcUrl: string }[] }>(
      'POST',
      '/api/apps',
      {
        id: appId,
        validators: [dev.node.publicKey],
        plan: 'standard',
        keyMode: 'upload',
        accessPolicy: 'open',
      },
    );
    expect(created.status).toBe(201);
    expect(created.body.app.status).toBe('active');
    // The network's record is the truth: the system ledger holds the app with the portal's owner key.
    const record = await rpcCall<{ chainId: number; validators: string[]; owner: string }>(
      `${dev.baseUrl}/v1/system`,
      'gov_getApp',
      [appId],
    );
    expect(record).toMatchObject({ chainId: created.body.app.chainId, validators: [dev.node.publicKey] });
    // The node starts the ledger within moments; the endpoint (key in the URL) then answers.
    const url = created.body.endpoints[0]?.rpcUrl as string;
    expect(url).toContain(created.body.apiKey);
    let chainId: string | undefined;
    for (let i = 0; i < 50 && chainId === undefined; i++) {
      chainId = await rpcCall<string>(url, 'eth_chainId').catch(() => undefined);
      if (chainId === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    expect(Number(chainId)).toBe(created.body.app.chainId);

    const detail = await call<{ snippets: Record<string, string> }>('GET', `/api/apps/${appId}`);
    expect(Object.keys(detail.body.snippets).sort()).toEqual(['curl', 'ethers', 'foundry', 'hardhat', 'viem']);
    expect(detail.body.snippets.ethers).toContain(String(created.body.app.chainId));
  }, 60_000);

  it('default: keys are created, rotated and revoked in the registry, and gateways follow', async () => {
    const call = client(portal.url);
    await call('POST', '/api/auth/signin', { email: `dev-${suffix}@example.com`, password: 'correct horse battery' });
    const made = await call<{ apiKey: string; endpoints: { rpcUrl: string }[] }>('POST', `/api/apps/${appId}/keys`, {
      label: 'ci',
    });
    expect(made.status).toBe(201);
    const keyId = made.body.apiKey.split('_')[1] as string;
    const eventually = async (url: string, ok: boolean) => {
      for (let i = 0; i < 50; i++) {
        const answered = await rpcCall(url, 'eth_blockNumber').then(
          () => true,
          () => false,
        );
        if (answered === ok) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`${url} never ${ok ? 'accepted' : 'refused'} the key`);
    };
    await eventually(made.body.endpoints[0]?.rpcUrl as string, true);
    const keys = await call<{ keys: { keyId: string; label: string; revokedAt?: number }[] }>('GET', `/api/apps/${appId}/keys`);
    expect(keys.body.keys.map((k) => k.label).sort()).toEqual(['ci', 'default']);

    const rotated = await call<{ apiKey: string; revoked: string; endpoints: { rpcUrl: string }[] }>(
      'POST',
      `/api/apps/${appId}/keys/${keyId}/rotate`,
      {},
    );
    expect(rotated.status).toBe(201);
    expect(rotated.body.revoked).toBe(keyId);
    await eventually(made.body.endpoints[0]?.rpcUrl as string, false);
    await eventually(rotated.body.endpoints[0]?.rpcUrl as string, true);

    const newId = rotated.body.apiKey.split('_')[1] as string;
    expect((await call('DELETE', `/api/apps/${appId}/keys/${newId}`)).status).toBe(200);
    await eventually(rotated.body.endpoints[0]?.rpcUrl as string, false);
    const again = await call('DELETE', `/api/apps/${appId}/keys/${newId}`);
    expect(again.status).toBe(409);
  }, 60_000);

  it('default: a contract compiles, deploys as a job, and its functions are read and sent with decoded logs', async () => {
    const call = client(portal.url);
    await call('POST', '/api/auth/signin', { email: `dev-${suffix}@example.com`, password: 'correct horse battery' });
    const started = await call<{ job: { id: string; steps: string[] } }>('POST', `/api/apps/${appId}/contracts`, {
      source: GREETER,
      args: ['Hello'],
    });
    expect(started.status).toBe(202);
    expect(started.body.job.steps).toEqual(['compiling', 'sending', 'waiting for the block', 'done']);
    let job: { status: string; result?: { contract: { address: string } }; error?: unknown } = { status: 'running' };
    for (let i = 0; i < 100 && job.status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      job = (await call<{ job: typeof job }>('GET', `/api/jobs/${started.body.job.id}`)).body.job;
    }
    expect(job.error).toBeUndefined();
    expect(job.status).toBe('done');
    const address = job.result?.contract.address as string;
    const sent = await call<{ status: string; logs: { event: string; args: { greeting: string } }[] }>(
      'POST',
      `/api/apps/${appId}/contracts/${address}/call`,
      {
        function: 'greet',
        args: ['from the portal'],
      },
    );
    expect(sent.body).toMatchObject({ kind: 'transaction', status: 'success' });
    expect(sent.body.logs).toEqual([
      expect.objectContaining({ event: 'Greeted', args: expect.objectContaining({ greeting: 'from the portal' }) }),
    ]);
    const read = await call('POST', `/api/apps/${appId}/contracts/${address}/call`, { function: 'greeting', args: [] });
    expect(read.body).toEqual({ kind: 'read', result: 'from the portal' });
    // Someone else's job is not theirs to read.
    const other = client(portal.url);
    await other('POST', '/api/auth/signup', {
      email: `other-${suffix}@example.com`,
      name: 'Other',
      password: 'correct horse battery',
    });
    expect((await other('GET', `/api/jobs/${started.body.job.id}`)).status).toBe(404);
  }, 60_000);

  it('error: malformed Solidity answers 422 with the compiler’s messages and their lines', async () => {
    const call = client(portal.url);
    await call('POST', '/api/auth/signin', { email: `dev-${suffix}@example.com`, password: 'correct horse battery' });
    const res = await call<{ error: { details: { errors: { line: number; message: string }[] } } }>(
      'POST',
      `/api/apps/${appId}/compile`,
      {
        source: 'pragma solidity ^0.8.20;\ncontract Broken {\n  function f( public {}\n}',
      },
    );
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('COMPILE_FAILED');
    expect(res.body.error.details.errors[0]).toMatchObject({ line: 3 });
    expect((await call('POST', `/api/apps/${appId}/compile`, { source: '   ' })).status).toBe(400);
  });

  it('error: wrong passwords are throttled with Retry-After, and a duplicate sign-up is told to sign in', async () => {
    const call = client(portal.url);
    const email = `throttle-${suffix}@example.com`;
    await call('POST', '/api/auth/signup', { email, name: 'T', password: 'correct horse battery' });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await call('POST', '/api/auth/signin', { email, password: 'not the password' })).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const throttled = await call('POST', '/api/auth/signin', { email, password: 'correct horse battery' });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    const dup = await call('POST', '/api/auth/signup', {
      email: email.toUpperCase(),
      name: 'T2',
      password: 'correct horse battery',
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'EMAIL_TAKEN', message: expect.stringMatching(/sign in instead/) });
  });

  it('default: an owner invites a teammate by link, who joins with the invited email; roles follow the rules', async () => {
    const owner = client(portal.url);
    await owner('POST', '/api/auth/signin', { email: `dev-${suffix}@example.com`, password: 'correct horse battery' });
    const me = await owner<{ orgs: { id: string }[] }>('GET', '/api/me');
    const orgId = me.body.orgs[0]?.id as string;
    const invited = await owner<{ token: string; path: string }>('POST', `/api/orgs/${orgId}/invitations`, {
      email: `mate-${suffix}@example.com`,
      role: 'member',
    });
    expect(invited.status).toBe(201);
    expect(invited.body.path).toBe(`/invite/${invited.body.token}`);

    const wrong = client(portal.url);
    await wrong('POST', '/api/auth/signup', {
      email: `wrong-${suffix}@example.com`,
      name: 'W',
      password: 'correct horse battery',
    });
    expect((await wrong('POST', '/api/invitations/accept', { token: invited.body.token })).status).toBe(403);

    const mate = client(portal.url);
    await mate('POST', '/api/auth/signup', {
      email: `mate-${suffix}@example.com`,
      name: 'Mate',
      password: 'correct horse battery',
    });
    const joined = await mate<{ role: string }>('POST', '/api/invitations/accept', { token: invited.body.token });
    expect(joined.body.role).toBe('member');
    expect((await mate('POST', '/api/invitations/accept', { token: invited.body.token })).status).toBe(410);
    // The member sees the organisation's apps, but members may not invite or create apps there.
    expect((await mate('GET', `/api/apps/${appId}`)).status).toBe(200);
    expect((await mate('POST', `/api/orgs/${orgId}/invitations`, { email: `x-${suffix}@example.com` })).status).toBe(403);
    const members = await owner<{ members: { email: string; role: string }[] }>('GET', `/api/orgs/${orgId}/members`);
    expect(members.body.members.map((m) => [m.email, m.role]).sort()).toEqual(
      [
        [`dev-${suffix}@example.com`, 'owner'],
        [`mate-${suffix}@example.com`, 'member'],
      ].sort(),
    );
    const ownerId = (await owner<{ user: { id: string } }>('GET', '/api/me')).body.user.id;
    const demote = await owner('POST', `/api/orgs/${orgId}/members/${ownerId}/role`, { role: 'member' });
    expect(demote.status).toBe(409);
    expect(demote.body.error?.code).toBe('LAST_OWNER');
  });

  it('error: signed out is 401, another organisation’s app is 403, and mutations must be JSON', async () => {
    const anon = client(portal.url);
    expect((await anon('GET', '/api/apps')).body.error?.code).toBe('SIGNED_OUT');
    expect((await anon('GET', '/api/apps')).status).toBe(401);
    const stranger = client(portal.url);
    await stranger('POST', '/api/auth/signup', {
      email: `stranger-${suffix}@example.com`,
      name: 'S',
      password: 'correct horse battery',
    });
    const peek = await stranger('GET', `/api/apps/${appId}`);
    expect(peek.status).toBe(403);
    expect(peek.body.error?.message).toMatch(/not a member/);
    expect((await stranger('POST', `/api/apps/${appId}/keys`, {})).status).toBe(403);
    const form = await stranger('POST', '/api/apps', 'id=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    const bad = await stranger('POST', '/api/apps', {
      id: 'Bad Id!',
      validators: [],
      plan: 'standard',
      keyMode: 'upload',
      accessPolicy: 'open',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/^id: /);
    const taken = await stranger('POST', '/api/apps', {
      id: appId,
      validators: [dev.node.publicKey],
      plan: 'standard',
      keyMode: 'upload',
      accessPolicy: 'open',
    });
    expect(taken.status).toBe(409);
  });
});
