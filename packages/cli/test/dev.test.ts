/**
 * `polis dev` as a newcomer meets it, and `polis app keys` as an app owner uses it, against a
 * real two-node network (separate processes sharing one access file):
 * - the ready line lists each app's API key, JSON-RPC and WebSocket URLs and plan;
 * - the `sandbox` app's free plan answers a burst with 429;
 * - a key created with `polis app keys create` works on every node, and `revoke` and `rotate`
 *   take effect on every node within seconds.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../bin/polis.js');

type App = { id: string; chainId: number; plan: string; apiKey: string; rpcUrl: string; wsUrl: string };
type Ready = {
  ready: true;
  dataDir: string;
  nodes: { name: string; pid: number; rpcBase: string; rpcUrl: string }[];
  apps: App[];
  system: { chainId: number; rpcUrl: string; admins: string[]; threshold: number };
  accounts: { address: string; privateKey: string }[];
  portal: { url: string; logins: Record<'admin' | 'developer' | 'operator' | 'regulator', { email: string; password: string }> };
};

const dataDir = mkdtempSync(join(tmpdir(), 'polis-dev-test-'));
let child: ChildProcess;
let ready: Ready;

function polis(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
}

async function rpc(
  url: string,
  method: string,
  params: unknown[] = [],
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls until every node answers `url` (on that node) with `status`; returns how long it took. */
async function untilStatus(key: string, status: number, limitMs: number): Promise<number> {
  const t = performance.now();
  for (;;) {
    const codes = await Promise.all(
      // A connection the server closes between polls is not an answer: count it as none (0) and poll again.
      ready.nodes.map((n) =>
        rpc(`${n.rpcBase}/v1/demo/${key}`, 'eth_chainId').then(
          (r) => r.status,
          () => 0,
        ),
      ),
    );
    if (codes.every((c) => c === status)) return performance.now() - t;
    if (performance.now() - t > limitMs)
      throw new Error(`nodes answered ${codes.join(', ')}, not all ${status}, after ${limitMs} ms`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

beforeAll(async () => {
  child = spawn(
    process.execPath,
    [
      BIN,
      'dev',
      '--nodes',
      '2',
      '--json',
      '--base-port',
      '0',
      '--data',
      dataDir,
      '--heartbeat-ms',
      '500',
      '--gas-limit',
      '60000000',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  ready = await new Promise<Ready>((done, fail) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`polis dev was not ready within 60 s: ${err}`)), 60_000);
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      done(JSON.parse(out.slice(0, newline)) as Ready);
    });
    child.once('exit', (code) => fail(new Error(`polis dev exited (${code}) before it was ready: ${err}`)));
  });
}, 90_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    await new Promise((done) => {
      child.once('exit', done);
      child.kill('SIGTERM');
    });
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('polis dev', () => {
  it('default: the portal answers at the printed URL, and each printed dev login signs in as its kind', async () => {
    expect(ready.portal.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await fetch(ready.portal.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    for (const kind of ['admin', 'developer', 'operator', 'regulator'] as const) {
      const res = await fetch(`${ready.portal.url}/api/auth/signin`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(ready.portal.logins[kind]),
      });
      expect(res.status, kind).toBe(200);
      expect(((await res.json()) as { user: { kind: string } }).user.kind).toBe(kind);
    }
    // The portal sees the dev network's nodes through their gateways.
    const signin = await fetch(`${ready.portal.url}/api/auth/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ready.portal.logins.developer),
    });
    const cookie = (signin.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const nodes = (await (await fetch(`${ready.portal.url}/api/nodes`, { headers: { cookie } })).json()) as {
      nodes: { name: string; region: string; health: { ok: boolean } }[];
    };
    expect(nodes.nodes.map((n) => [n.name, n.region, n.health.ok]).sort()).toEqual([
      ['node-0', 'eu-west (Paris)', true],
      ['node-1', 'eu-central (Frankfurt)', true],
    ]);
  });

  it('default: the ready line lists each app with its key, URLs and plan, and the URLs work', async () => {
    expect(ready.apps.map((a) => [a.id, a.chainId, a.plan])).toEqual([
      ['demo', 31337, 'dedicated'],
      ['sandbox', 31338, 'free'],
    ]);
    for (const app of ready.apps) {
      expect(app.apiKey, app.id).toMatch(/^pk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      expect(app.rpcUrl, app.id).toBe(`${ready.nodes[0]?.rpcBase}/v1/${app.id}/${app.apiKey}`);
      expect(app.wsUrl, app.id).toBe(app.rpcUrl.replace(/^http/, 'ws'));
      expect((await rpc(app.rpcUrl, 'eth_chainId')).body.result, app.id).toBe(`0x${app.chainId.toString(16)}`);
      // The development accounts are funded on every app, as anvil's are.
      const balance = await rpc(app.rpcUrl, 'eth_getBalance', [ready.accounts[0]?.address, 'latest']);
      expect(BigInt(balance.body.result as string), app.id).toBe(10n ** 24n);
      // --gas-limit set the apps' block gas limit.
      const block = await rpc(app.rpcUrl, 'eth_getBlockByNumber', ['latest', false]);
      expect(BigInt((block.body.result as { gasLimit: string }).gasLimit), app.id).toBe(60_000_000n);
    }
    // The system ledger runs on every node, governed by accounts 0-2, two of them per action.
    expect(ready.system).toMatchObject({ chainId: 31336, threshold: 2, rpcUrl: `${ready.nodes[0]?.rpcBase}/v1/system` });
    expect(ready.system.admins).toEqual(ready.accounts.slice(0, 3).map((a) => a.address));
    for (const n of ready.nodes) {
      const alliance = await rpc(`${n.rpcBase}/v1/system`, 'gov_getAlliance');
      expect((alliance.body.result as { threshold: number }).threshold, n.name).toBe(2);
      let head = 0;
      for (let i = 0; i < 100 && head === 0; i++) {
        head = (await rpc(`${n.rpcBase}/v1/system`, 'gov_blockNumber')).body.result as number;
        if (head === 0) await new Promise((done) => setTimeout(done, 100));
      }
      expect(head, `${n.name} makes system blocks`).toBeGreaterThan(0);
    }
    // The key of one app does not open the other.
    const [demo, sandbox] = ready.apps as [App, App];
    expect((await rpc(`${ready.nodes[1]?.rpcBase}/v1/demo/${sandbox.apiKey}`, 'eth_chainId')).status).toBe(403);
    expect((await rpc(`${ready.nodes[1]?.rpcBase}/v1/sandbox/${demo.apiKey}`, 'eth_chainId')).status).toBe(403);
  });

  it('behavior: a burst on the sandbox app shows a 429 with Retry-After, as the free plan promises', async () => {
    const sandbox = ready.apps[1] as App;
    const answers = await Promise.all(
      Array.from({ length: 120 }, () =>
        fetch(sandbox.rpcUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
        }),
      ),
    );
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(50);
    expect(Number(limited[0]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});

describe('key trust mode', () => {
  it('default: the dev network keeps custodial keys: an account is created and the gateway signs for it', async () => {
    const demo = ready.apps[0] as App;
    const headers = { authorization: `Bearer ${demo.apiKey}`, 'content-type': 'application/json' };
    const base = `${ready.nodes[0]?.rpcBase}/api/v1/apps/demo`;
    const created = await fetch(`${base}/accounts/custodial`, { method: 'POST', headers, body: '{}' });
    expect(created.status, await created.clone().text()).toBe(201);
    const { address } = (await created.json()) as { address: string };
    const sent = await fetch(`${base}/tx`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ from: address, to: ready.accounts[1]?.address, waitMs: 20_000 }),
    });
    expect(sent.status, await sent.clone().text()).toBe(200);
    const body = (await sent.json()) as { status: string; receipt: { from: string; status: string } };
    expect(body.status).toBe('committed');
    expect(body.receipt.from.toLowerCase()).toBe(address.toLowerCase());
  });
});

describe('polis admin', () => {
  it('default: an action proposed by one admin runs once a second admin signs it, on every node', async () => {
    const url = ready.system.rpcUrl;
    const limits = { requestsPerSec: 5000, txPerSec: 500, bytesInPerSec: 50000000, bytesOutPerSec: 100000000 };
    const action = JSON.stringify({ type: 'setPlan', name: 'gold', limits });
    const proposed = polis('admin', 'propose', '--url', url, '--dev-account', '0', '--action', action);
    expect(proposed.status, proposed.stderr).toBe(0);
    expect(JSON.parse(proposed.stdout)).toMatchObject({ status: 'ok' });
    const open = polis('admin', 'list', '--url', url, '--status', 'open');
    const proposal = JSON.parse(open.stdout.trim().split('\n').at(-1) as string) as { id: number; action: { name: string } };
    expect(proposal.action.name).toBe('gold');
    const plansOf = async (base: string) =>
      ((await rpc(`${base}/v1/system`, 'gov_listPlans')).body.result as { name: string }[]).map((p) => p.name);
    expect(await plansOf(ready.nodes[1]?.rpcBase as string)).not.toContain('gold');

    const signed = polis('admin', 'sign', '--url', url, '--dev-account', '1', '--proposal', String(proposal.id));
    expect(signed.status, signed.stderr).toBe(0);
    expect(JSON.parse(signed.stdout)).toMatchObject({ status: 'ok' });
    for (const n of ready.nodes) {
      for (let i = 0; i < 50 && !(await plansOf(n.rpcBase)).includes('gold'); i++)
        await new Promise((done) => setTimeout(done, 100));
      expect(await plansOf(n.rpcBase), n.name).toContain('gold');
    }
  });

  it("error: a non-admin's proposal fails with NOT_ADMIN and exit code 1; a bad action is explained", () => {
    const url = ready.system.rpcUrl;
    const r = polis('admin', 'propose', '--url', url, '--dev-account', '5', '--action', '{"type":"setThreshold","threshold":1}');
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'failed', error: { code: 'NOT_ADMIN' } });
    expect(r.stderr).toMatch(/refused it: NOT_ADMIN/);
    const bad = polis('admin', 'propose', '--url', url, '--dev-account', '0', '--action', '{"type":"explode"}');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/invalid/);
    const json = polis('admin', 'propose', '--url', url, '--dev-account', '0', '--action', '{nope');
    expect(json.stderr).toMatch(/--action is not valid JSON/);
  });
});

describe('polis app', () => {
  it('default: create an app on the chosen nodes; every one of them serves it within seconds; suspend it through the alliance', async () => {
    const url = ready.system.rpcUrl;
    const nodes = (await rpc(url, 'gov_listNodes', ['active'])).body.result as { publicKey: string }[];
    expect(nodes).toHaveLength(2);
    const created = polis(
      'app',
      'create',
      '--url',
      url,
      '--dev-account',
      '3',
      '--id',
      'shop',
      '--chain-id',
      '5000',
      '--validators',
      nodes.map((n) => n.publicKey).join(','),
      '--plan',
      'standard',
    );
    expect(created.status, created.stderr).toBe(0);
    const [receipt, record] = created.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(receipt).toMatchObject({ status: 'ok' });
    expect(record).toMatchObject({ id: 'shop', chainId: 5000, status: 'active', plan: 'standard' });
    const key = JSON.parse(
      polis('app', 'keys', 'create', '--access-file', join(ready.dataDir, 'access.json'), '--app', 'shop', '--scopes', 'read')
        .stdout,
    ).key as string;
    for (const n of ready.nodes) {
      let answer: { status: number; body: Record<string, unknown> } = { status: 0, body: {} };
      for (let i = 0; i < 100 && answer.status !== 200; i++) {
        answer = await rpc(`${n.rpcBase}/v1/shop/${key}`, 'eth_chainId');
        if (answer.status !== 200) await new Promise((done) => setTimeout(done, 100));
      }
      expect(answer.body.result, n.name).toBe('0x1388');
    }
    const listed = polis('app', 'list', '--url', url, '--owner', ready.accounts[3]?.address as string);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['shop']);

    // A key put in the registry by the owner works on every node, and its revocation there stops it everywhere.
    const made = polis('app', 'keys', 'create', '--url', url, '--dev-account', '3', '--app', 'shop', '--scopes', 'read');
    expect(made.status, made.stderr).toBe(0);
    const registryKey = JSON.parse(made.stdout) as { id: string; key: string };
    for (const n of ready.nodes)
      expect((await rpc(`${n.rpcBase}/v1/shop/${registryKey.key}`, 'eth_chainId')).status, n.name).toBe(200);
    const revoked = polis('app', 'keys', 'revoke', '--url', url, '--dev-account', '3', '--app', 'shop', '--id', registryKey.id);
    expect(revoked.status, revoked.stderr).toBe(0);
    for (const n of ready.nodes) {
      let status = 0;
      for (let i = 0; i < 50 && status !== 401; i++) {
        status = (await rpc(`${n.rpcBase}/v1/shop/${registryKey.key}`, 'eth_chainId')).status;
        if (status !== 401) await new Promise((done) => setTimeout(done, 100));
      }
      expect(status, n.name).toBe(401);
    }
    // Listed from the registry without secrets or hashes; rotated: the new key works everywhere, the old one stops.
    const kept = polis(
      'app',
      'keys',
      'create',
      '--url',
      url,
      '--dev-account',
      '3',
      '--app',
      'shop',
      '--scopes',
      'read',
      '--label',
      'ci',
    );
    expect(kept.status, kept.stderr).toBe(0);
    const keptKey = JSON.parse(kept.stdout) as { id: string; key: string };
    const listedKeys = polis('app', 'keys', 'list', '--url', url, '--app', 'shop')
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(listedKeys.map((k) => k.id)).toEqual(expect.arrayContaining([registryKey.id, keptKey.id]));
    expect(listedKeys.find((k) => k.id === keptKey.id)).toMatchObject({ label: 'ci', scopes: ['read'] });
    expect(JSON.stringify(listedKeys)).not.toMatch(/"(salt|hash)"/);
    const rotated = polis('app', 'keys', 'rotate', '--url', url, '--dev-account', '3', '--app', 'shop', '--id', keptKey.id);
    expect(rotated.status, rotated.stderr).toBe(0);
    const fresh = JSON.parse(rotated.stdout) as { id: string; key: string; replaces: string; scopes: string[] };
    expect(fresh).toMatchObject({ replaces: keptKey.id, scopes: ['read'] });
    for (const n of ready.nodes) {
      let statuses: number[] = [];
      for (let i = 0; i < 50; i++) {
        statuses = [
          (await rpc(`${n.rpcBase}/v1/shop/${fresh.key}`, 'eth_chainId')).status,
          (await rpc(`${n.rpcBase}/v1/shop/${keptKey.key}`, 'eth_chainId')).status,
        ];
        if (statuses[0] === 200 && statuses[1] === 401) break;
        await new Promise((done) => setTimeout(done, 100));
      }
      expect(statuses, n.name).toEqual([200, 401]);
    }
    const missing = polis(
      'app',
      'keys',
      'rotate',
      '--url',
      url,
      '--dev-account',
      '3',
      '--app',
      'shop',
      '--id',
      '00000000000000ff',
    );
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/app "shop" has no key 00000000000000ff in the registry/);
    expect(polis('app', 'keys', 'list', '--url', url).stderr).toMatch(/--url needs --app/);

    // Only the owner may put keys; and one of --url or --access-file is needed.
    const stranger = polis('app', 'keys', 'create', '--url', url, '--dev-account', '5', '--app', 'shop');
    expect(stranger.status).toBe(1);
    expect(stranger.stderr).toMatch(/NOT_OWNER/);
    expect(polis('app', 'keys', 'create', '--app', 'shop').stderr).toMatch(/either --url .* or --access-file/);

    const proposed = polis('app', 'suspend', '--url', url, '--dev-account', '0', '--id', 'shop');
    expect(proposed.status, proposed.stderr).toBe(0);
    const open = polis('admin', 'list', '--url', url, '--status', 'open')
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const id = open.find((p) => p.action.type === 'suspendApp').id as number;
    expect(JSON.parse(polis('app', 'show', '--url', url, '--id', 'shop').stdout).status).toBe('active');
    expect(polis('admin', 'sign', '--url', url, '--dev-account', '1', '--proposal', String(id)).status).toBe(0);
    expect(JSON.parse(polis('app', 'show', '--url', url, '--id', 'shop').stdout).status).toBe('suspended');
    expect(polis('app', 'show', '--url', url, '--id', 'nope').stderr).toMatch(/no app "nope"/);
  }, 90_000);
});

describe('polis records', () => {
  it('default: add, get, list and call through the gateway; a saved proof verifies offline, and an altered one does not', async () => {
    const demo = ready.apps.find((a) => a.id === 'demo') as App;
    const api = ready.nodes[0]?.rpcBase as string;
    const gw = ['--api', api, '--app', 'demo', '--api-key', demo.apiKey];
    const made = await fetch(`${api}/api/v1/apps/demo/accounts/custodial`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demo.apiKey}` },
    });
    const from = ((await made.json()) as { address: string }).address;
    const hash = `0x${'5e'.repeat(32)}`;
    const tag = `0x${'7a'.repeat(32)}`;
    const added = polis('records', 'add', hash, '--from', from, '--tag', tag, '--meta', '0x0102', ...gw);
    expect(added.status, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ status: 'committed', receipt: { status: 1 } });
    expect(JSON.parse(polis('records', 'get', hash, ...gw).stdout)).toMatchObject({ exists: true, tag });
    expect(JSON.parse(polis('records', 'call', 'getRecord', hash, ...gw).stdout)).toMatchObject({ exists: true });
    const listed = polis('records', 'list', '--tag', tag, ...gw)
      .stdout.trim()
      .split('\n');
    expect(listed.map((l) => JSON.parse(l).hash)).toEqual([hash]);
    const again = polis('records', 'add', hash, '--from', from, ...gw);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already recorded/);

    // The proof, saved and checked offline against the demo ledger's validators (genesis order).
    const registry = (await rpc(ready.system.rpcUrl, 'gov_listNodes', ['active'])).body.result as {
      publicKey: string;
      name: string;
    }[];
    const validators = ready.nodes.map((n) => registry.find((r) => r.name === n.name)?.publicKey).join(',');
    const bundleFile = join(dataDir, 'record-proof.json');
    writeFileSync(bundleFile, polis('records', 'proof', hash, ...gw).stdout);
    const verified = polis('records', 'verify', '--file', bundleFile, '--validators', validators);
    expect(verified.status, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ valid: true, record: { hash, tag } });
    const bundle = JSON.parse(readFileSync(bundleFile, 'utf8'));
    bundle.proof.storageProof[2].value = `0x${'7b'.repeat(32)}`;
    writeFileSync(bundleFile, JSON.stringify(bundle));
    const altered = polis('records', 'verify', '--file', bundleFile, '--validators', validators);
    expect(altered.status).toBe(1);
    expect(altered.stderr).toMatch(/the proof does not hold: storage 2/);
    expect(polis('records', 'verify', '--file', bundleFile, '--validators', 'nope').stderr).toMatch(/--validators must list/);
  }, 60_000);
});

describe('polis node apply', () => {
  it('default: a new node applies with its own key and the registry lists it as pending', async () => {
    const nodeDir = join(dataDir, 'applicant');
    const env = { ...process.env, POLIS_PASSWORD: 'pw' };
    const init = spawnSync(process.execPath, [BIN, 'node', 'init', '--dir', nodeDir, '--name', 'applicant', '--light'], {
      encoding: 'utf8',
      env,
    });
    expect(init.status, init.stderr).toBe(0);
    const { publicKey } = JSON.parse(init.stdout) as { publicKey: string };
    const args = [
      'node',
      'apply',
      '--config',
      join(nodeDir, 'config.json'),
      '--url',
      ready.system.rpcUrl,
      '--operator',
      ready.accounts[4]?.address as string,
      '--region',
      'eu',
    ];
    const applied = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 30_000 });
    expect(applied.status, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ status: 'ok', signer: publicKey });
    const node = (await rpc(ready.system.rpcUrl, 'gov_getNode', [publicKey])).body.result as {
      status: string;
      name: string;
      region: string;
    };
    expect(node).toMatchObject({ status: 'pending', name: 'applicant', region: 'eu' });
    // Applying again is refused: the node is already registered.
    const again = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 30_000 });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/refused it/);
  });
});

describe('polis app keys', () => {
  it('default: create, list, revoke and rotate take effect on every node within seconds', async () => {
    const accessFile = join(ready.dataDir, 'access.json');
    const created = polis(
      'app',
      'keys',
      'create',
      '--access-file',
      accessFile,
      '--app',
      'demo',
      '--scopes',
      'read',
      '--label',
      'ci',
    );
    expect(created.status, created.stderr).toBe(0);
    const made = JSON.parse(created.stdout) as { id: string; key: string; scopes: string[] };
    expect(made.scopes).toEqual(['read']);
    // Only the salted hash is stored.
    // The secret is the key after `pk_<16 hex digits>_` (it may itself hold '_').
    const secret = made.key.slice('pk_'.length + 16 + 1);
    expect(secret).toHaveLength(43);
    expect(readFileSync(accessFile, 'utf8')).not.toContain(secret);
    const listed = polis('app', 'keys', 'list', '--access-file', accessFile, '--app', 'demo');
    expect(listed.stdout).toContain(made.id);
    expect(listed.stdout).not.toMatch(/"hash"|"salt"/);

    const upMs = await untilStatus(made.key, 200, 5_000);
    const revoked = polis('app', 'keys', 'revoke', '--access-file', accessFile, '--id', made.id);
    expect(revoked.status, revoked.stderr).toBe(0);
    const downMs = await untilStatus(made.key, 401, 5_000);
    // The nodes re-read the access file every second (gateway.reloadMs).
    expect(downMs).toBeLessThan(3_000);

    const again = polis('app', 'keys', 'create', '--access-file', accessFile, '--app', 'demo', '--scopes', 'read');
    const old = JSON.parse(again.stdout) as { id: string; key: string };
    await untilStatus(old.key, 200, 5_000);
    const rotated = polis('app', 'keys', 'rotate', '--access-file', accessFile, '--id', old.id);
    expect(rotated.status, rotated.stderr).toBe(0);
    const fresh = JSON.parse(rotated.stdout) as { key: string; replaces: string; scopes: string[] };
    expect(fresh.replaces).toBe(old.id);
    expect(fresh.scopes).toEqual(['read']);
    await untilStatus(fresh.key, 200, 5_000);
    await untilStatus(old.key, 401, 5_000);
    expect(upMs).toBeLessThan(3_000);
  });

  it('error: bad scopes, an unknown plan and an unknown key id are refused with what to do', () => {
    const accessFile = join(ready.dataDir, 'access.json');
    const scopes = polis('app', 'keys', 'create', '--access-file', accessFile, '--app', 'demo', '--scopes', 'root');
    expect(scopes.status).toBe(1);
    expect(scopes.stderr).toMatch(/--scopes must list some of: read, write, admin, regulator/);
    const plan = polis('app', 'keys', 'create', '--access-file', accessFile, '--app', 'demo', '--plan', 'gold');
    expect(plan.status).toBe(1);
    expect(plan.stderr).toMatch(/no plan "gold".*free, standard, dedicated/s);
    const unknown = polis('app', 'keys', 'revoke', '--access-file', accessFile, '--id', '0123456789abcdef');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/no key 0123456789abcdef.*keys list/s);
  });
});
