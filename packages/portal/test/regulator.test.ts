/**
 * The portal's regulator view (issue P9, ADR 0010) against a real node with a system ledger, on
 * SQLite and on PostgreSQL: a regulator links their address by signing a message; once the
 * alliance grants it an app (a proposal approved by 2 of 3 admins), the regulator lists the app,
 * searches it and exports CSV whose rows are the ledger's transactions; each of those reads is in
 * the node's audit log under the regulator's key, as the app's owner reads it; an app the grant
 * does not name is refused; a regulator never writes; and once the grant is revoked, reads are
 * refused and the key is revoked in the registry. The joining of the gateway's export pages is
 * tested on its own, with pages cut at awkward places.
 */
import { randomBytes } from 'node:crypto';
import { hexToBytes } from '@polis/core';
import type { Action } from '@polis/governance';
import { devAccount } from '@polis/node';
import { Wallet } from 'ethers';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, rpcCall } from '../../node/test/devNode.js';
import { type Portal, startPortal } from '../src/index.js';
import { EXPORT_ROWS_MAX, joinExportPages } from '../src/server/routes/regulator.js';
import { isPortalError, PortalErrorCode } from '../src/server/store/index.js';
import { portalClient, startGovernedNode } from './portalClient.js';
import { ENGINES, type Engine } from './storeFixture.js';

const ADMINS = [0, 1, 2].map((i) => devAccount(i));
const PASSWORD = 'correct horse battery';
const TRANSFERS = 3;

let dev: DevNode;

beforeAll(async () => {
  dev = await startGovernedNode({ chainId: 42_000, heartbeatMs: 200, admins: ADMINS });
}, 60_000);

afterAll(async () => {
  await dev?.close();
});

const client = portalClient;

/** An action enacted by the alliance: admin 0 proposes, admin 1 approves (threshold 2 of 3). */
async function enact(portal: Portal, action: Action): Promise<void> {
  const proposed = await portal.ctx.network.submit(
    { type: 'propose', action, expiresAt: Date.now() + 600_000 },
    hexToBytes(ADMINS[0]?.privateKey as string),
  );
  const created = proposed.events.find((e) => e.type === 'proposal-created');
  if (created?.type !== 'proposal-created') throw new Error(`no proposal was created for ${action.type}`);
  const approved = await portal.ctx.network.submit(
    { type: 'approve', proposalId: created.proposalId },
    hexToBytes(ADMINS[1]?.privateKey as string),
  );
  expect(
    approved.events.some((e) => e.type === 'proposal-executed'),
    action.type,
  ).toBe(true);
}

/** The rows of a CSV export (no field of these kinds holds a comma or a line break). */
function csvRows(text: string): { header: string; rows: Record<string, string>[] } {
  expect(text.endsWith('\r\n')).toBe(true);
  const [header = '', ...lines] = text.slice(0, -2).split('\r\n');
  const columns = header.split(',');
  return { header, rows: lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [columns[i], v]))) };
}

describe.each(ENGINES)('regulator view on $name', ({ make }) => {
  let engine: Engine;
  let portal: Portal;
  const suffix = randomBytes(3).toString('hex');
  const granted = `watched-${suffix}`;
  const other = `private-${suffix}`;
  const regulatorEmail = `regulator-${suffix}@example.com`;
  const regulatorKey = generatePrivateKey();
  const regulatorAddress = privateKeyToAccount(regulatorKey).address.toLowerCase();
  const developer = { email: `dev-${suffix}@example.com`, call: undefined as unknown as ReturnType<typeof client> };
  let regulatorCall: ReturnType<typeof client>;
  let createdAt = 0;
  const sent: { hash: string; block: number; from: string; to: string }[] = [];
  let ownerAdminKey = '';

  beforeAll(async () => {
    engine = make();
    portal = await startPortal({
      db: (await engine.fresh()).open(),
      gateways: [dev.baseUrl],
      masterKey: randomBytes(32),
      port: 0,
      accounts: { scrypt: { N: 1024 } },
      seedUsers: [{ email: regulatorEmail, name: 'Regulator', password: PASSWORD, kind: 'regulator' }],
    });
    regulatorCall = client(portal.url);
    developer.call = client(portal.url);
    expect(
      (await developer.call('POST', '/api/auth/signup', { email: developer.email, name: 'Dev', password: PASSWORD })).status,
    ).toBe(201);
    createdAt = Date.now();
    for (const id of [granted, other]) {
      const made = await developer.call<{ endpoints: { rpcUrl: string }[]; app: { chainId: number } }>('POST', '/api/apps', {
        id,
        validators: [dev.node.publicKey],
        plan: 'standard',
        keyMode: 'upload',
        accessPolicy: 'open',
      });
      expect(made.status, id).toBe(201);
      if (id !== granted) continue;
      // A few zero-fee transfers on the granted app, as its users would send them.
      const url = made.body.endpoints[0]?.rpcUrl as string;
      for (let i = 0; i < 50; i++) {
        if (
          await rpcCall(url, 'eth_chainId').then(
            () => true,
            () => false,
          )
        )
          break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const wallet = new Wallet(dev.accounts[5]?.privateKey as string);
      const to = dev.accounts[6]?.address.toLowerCase() as string;
      for (let nonce = 0; nonce < TRANSFERS; nonce++) {
        const raw = await wallet.signTransaction({
          type: 2,
          chainId: made.body.app.chainId,
          nonce,
          to,
          gasLimit: 21_000n,
          maxFeePerGas: 0n,
          maxPriorityFeePerGas: 0n,
        });
        const hash = await rpcCall<string>(url, 'eth_sendRawTransaction', [raw]);
        let receipt: { blockNumber: string; status: string } | null = null;
        for (let i = 0; i < 100 && !receipt; i++) {
          receipt = await rpcCall(url, 'eth_getTransactionReceipt', [hash]);
          if (!receipt) await new Promise((r) => setTimeout(r, 100));
        }
        expect(receipt?.status).toBe('0x1');
        sent.push({ hash, block: Number(receipt?.blockNumber), from: wallet.address.toLowerCase(), to });
      }
    }
    // The owner's own admin key, to read the audit log at the gateway as the owner does.
    const key = await developer.call<{ apiKey: string }>('POST', `/api/apps/${granted}/keys`, {
      label: 'owner audit',
      scopes: ['admin'],
    });
    expect(key.status).toBe(201);
    ownerAdminKey = key.body.apiKey;
    expect((await regulatorCall('POST', '/api/auth/signin', { email: regulatorEmail, password: PASSWORD })).status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await portal?.close();
    await engine?.cleanup();
  });

  it('default: a regulator links their address by signing a message; a signature of another key is refused', async () => {
    expect((await regulatorCall('GET', '/api/regulator/me')).body).toEqual({ address: null, grant: null });
    const challenge = await regulatorCall<{ message: string; time: number }>(
      'GET',
      `/api/regulator/address/challenge?address=${regulatorAddress}`,
    );
    expect(challenge.status).toBe(200);
    expect(challenge.body.message).toContain(regulatorAddress);
    expect(challenge.body.message).toContain(regulatorEmail);

    const forged = await privateKeyToAccount(generatePrivateKey()).signMessage({ message: challenge.body.message });
    const refused = await regulatorCall('POST', '/api/regulator/address', {
      address: regulatorAddress,
      time: challenge.body.time,
      signature: forged,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error?.message).toMatch(/^signature was not made with the key of/);

    const signature = await privateKeyToAccount(regulatorKey).signMessage({ message: challenge.body.message });
    const linked = await regulatorCall('POST', '/api/regulator/address', {
      address: regulatorAddress,
      time: challenge.body.time,
      signature,
    });
    expect(linked.status).toBe(200);
    expect(linked.body).toEqual({ address: regulatorAddress, grant: null });
    expect((await regulatorCall('GET', '/api/regulator/me')).body).toEqual({ address: regulatorAddress, grant: null });
  });

  it('error: before any grant the regulator sees no apps, and the app is refused with 403', async () => {
    expect((await regulatorCall('GET', '/api/regulator/apps')).body).toMatchObject({ grant: null, apps: [] });
    const refused = await regulatorCall('GET', `/api/regulator/apps/${granted}`);
    expect(refused.status).toBe(403);
    expect(refused.body.error?.message).toBe(`the alliance has not granted you the app ${granted}`);
    expect(refused.body.error?.hint).toMatch(/grantRegulator/);
  });

  it('default: once the alliance grants the app, the regulator lists it and exports CSV whose rows are the ledger’s transactions', async () => {
    await enact(portal, { type: 'grantRegulator', address: regulatorAddress as `0x${string}`, apps: [granted] });
    const list = await regulatorCall<{ apps: { appId: string; status: string; nodes: { name: string; serving: boolean }[] }[] }>(
      'GET',
      '/api/regulator/apps',
    );
    expect(list.status).toBe(200);
    expect(list.body.apps).toEqual([
      expect.objectContaining({
        appId: granted,
        status: 'active',
        nodes: [expect.objectContaining({ name: 'node-0', serving: true })],
      }),
    ]);
    const detail = await regulatorCall<{ height: number; keyId: string }>('GET', `/api/regulator/apps/${granted}`);
    expect(detail.status).toBe(200);
    expect(detail.body.height).toBeGreaterThanOrEqual(Math.max(...sent.map((s) => s.block)));
    // The portal issued a regulator-scope key in the registry, labelled for this regulator.
    const keys = await rpcCall<{ id: string; label: string; scopes: string[]; revokedAt?: number }[]>(
      `${dev.baseUrl}/v1/system`,
      'gov_listApiKeys',
      [granted],
    );
    expect(keys.find((k) => k.id === detail.body.keyId)).toMatchObject({
      scopes: ['regulator'],
      label: expect.stringMatching(/^regulator:/),
    });

    const from = createdAt - 60_000;
    const to = Date.now() + 60_000;
    const csv = await regulatorCall(
      'GET',
      `/api/regulator/apps/${granted}/export?kind=transactions&from=${from}&to=${to}&format=csv`,
    );
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(
      new RegExp(`^attachment; filename="${granted}-transactions-\\d{8}T\\d{6}Z-\\d{8}T\\d{6}Z\\.csv"$`),
    );
    const { header, rows } = csvRows(csv.text);
    expect(header).toBe('block,time,index,hash,from,to,status,gasUsed');
    expect(rows.map((r) => r.hash)).toEqual(sent.map((s) => s.hash));
    for (const [i, row] of rows.entries()) {
      const tx = sent[i];
      expect({ block: Number(row.block), from: row.from, to: row.to, gasUsed: row.gasUsed }, `row ${i}`).toEqual({
        block: tx?.block,
        from: tx?.from,
        to: tx?.to,
        gasUsed: '21000',
      });
      expect(Number(row.time), `row ${i}`).toBeGreaterThanOrEqual(from);
      expect(Number(row.time), `row ${i}`).toBeLessThan(to);
    }
    // A range before the transactions holds none of them: the header row only.
    const early = await regulatorCall(
      'GET',
      `/api/regulator/apps/${granted}/export?kind=transactions&from=1&to=${from}&format=csv`,
    );
    expect(early.text).toBe('block,time,index,hash,from,to,status,gasUsed\r\n');
  }, 60_000);

  it('default: NDJSON has one object per row and ends with {"next": null}', async () => {
    const res = await regulatorCall(
      'GET',
      `/api/regulator/apps/${granted}/export?kind=transactions&from=0&to=${Date.now() + 60_000}&format=ndjson`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = res.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toEqual({ next: null });
    expect(lines.slice(0, -1).map((l: { hash: string }) => l.hash)).toEqual(sent.map((s) => s.hash));
    const bad = await regulatorCall('GET', `/api/regulator/apps/${granted}/export?kind=transactions&from=10&to=5`);
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/^to: must be after from/);
  });

  it('default: search finds a transaction with its receipt, a block and an account', async () => {
    const tx = sent[1] as (typeof sent)[number];
    const byHash = await regulatorCall<{ kind: string; status: string; receipt: { status: string } }>(
      'GET',
      `/api/regulator/apps/${granted}/search?q=${tx.hash}`,
    );
    expect(byHash.body).toMatchObject({
      kind: 'transaction',
      status: 'committed',
      transaction: { hash: tx.hash, blockNumber: tx.block },
    });
    expect(byHash.body.receipt).not.toBeNull();
    const block = await regulatorCall<{ block: { number: number; transactions: string[] } }>(
      'GET',
      `/api/regulator/apps/${granted}/search?q=${tx.block}`,
    );
    expect(block.body).toMatchObject({ kind: 'block', block: { number: tx.block } });
    expect(block.body.block.transactions).toContain(tx.hash);
    const account = await regulatorCall('GET', `/api/regulator/apps/${granted}/search?q=${tx.from}`);
    expect(account.body).toMatchObject({ kind: 'account', account: { nonce: TRANSFERS } });
    const missing = await regulatorCall('GET', `/api/regulator/apps/${granted}/search?q=0x${'ab'.repeat(32)}`);
    expect(missing.status).toBe(404);
    const nonsense = await regulatorCall('GET', `/api/regulator/apps/${granted}/search?q=hello`);
    expect(nonsense.status).toBe(400);
    expect(nonsense.body.error?.hint).toBe('Correct q and try again');
  });

  it('default: the regulator’s reads are in the app’s audit log as its owner reads it, and the audit page shows them with checked hashes', async () => {
    const keyId = (await regulatorCall<{ keyId: string }>('GET', `/api/regulator/apps/${granted}`)).body.keyId;
    // As the owner: the app's admin key, at the gateway.
    const res = await fetch(`${dev.baseUrl}/api/v1/apps/${granted}/audit?limit=1000`, {
      headers: { authorization: `Bearer ${ownerAdminKey}` },
    });
    expect(res.status).toBe(200);
    const owner = (await res.json()) as { entries: { actor: string; scope: string; action: string; detail: string }[] };
    const reads = owner.entries.filter((e) => e.actor === keyId);
    for (const e of reads) expect(e.scope, e.action).toBe('regulator');
    const actions = new Set(reads.map((e) => e.action));
    for (const action of [
      'GET /api/v1/apps/{id}',
      'GET /api/v1/apps/{id}/blocks/latest',
      'GET /api/v1/apps/{id}/export',
      'GET /api/v1/apps/{id}/transactions/{hash}',
      'GET /api/v1/apps/{id}/receipts/{hash}',
      'GET /api/v1/apps/{id}/blocks/{number}',
      'GET /api/v1/apps/{id}/accounts/{address}',
    ]) {
      expect(actions.has(action), action).toBe(true);
    }
    const exports = reads.filter((e) => e.action === 'GET /api/v1/apps/{id}/export').map((e) => JSON.parse(e.detail).query);
    expect(exports).toContainEqual(expect.objectContaining({ kind: 'transactions', format: 'csv' }));
    // The owner also sees the regulator's key being issued: a governance entry naming its scope.
    expect(
      owner.entries.some((e) => e.scope === 'governance' && e.detail.includes(keyId) && e.detail.includes('regulator')),
    ).toBe(true);

    // The same log on the regulator's audit page, read with the portal's own admin key.
    const page = await regulatorCall<{
      node: string;
      keyId: string;
      entries: { actor: string; hashOk: boolean }[];
      head: { seq: number };
    }>('GET', `/api/regulator/apps/${granted}/audit?limit=1000`);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ node: 'node-0', keyId });
    expect(page.body.entries.filter((e) => e.actor === keyId).length).toBeGreaterThanOrEqual(reads.length);
    for (const e of page.body.entries) expect(e.hashOk, e.actor).toBe(true);
  });

  it('error: an app the grant does not name is refused with 403, and no key is issued for it', async () => {
    for (const path of [
      `/api/regulator/apps/${other}`,
      `/api/regulator/apps/${other}/export?kind=transactions&from=0&to=1`,
      `/api/regulator/apps/${other}/audit`,
    ]) {
      const res = await regulatorCall('GET', path);
      expect(res.status, path).toBe(403);
      expect(res.body.error?.code, path).toBe('NOT_ALLOWED');
    }
    const list = await regulatorCall<{ apps: { appId: string }[] }>('GET', '/api/regulator/apps');
    expect(list.body.apps.map((a) => a.appId)).toEqual([granted]);
    const keys = await rpcCall<{ label: string }[]>(`${dev.baseUrl}/v1/system`, 'gov_listApiKeys', [other]);
    expect(keys.map((k) => k.label).filter((l) => l.startsWith('regulator:'))).toEqual([]);
  });

  it('error: a regulator’s write attempts are refused with 403, and so are pages outside the regulator view', async () => {
    const writes: [string, string, unknown][] = [
      [
        'POST',
        '/api/apps',
        { id: `mine-${suffix}`, validators: [dev.node.publicKey], plan: 'standard', keyMode: 'upload', accessPolicy: 'open' },
      ],
      ['POST', `/api/apps/${granted}/keys`, { label: 'x' }],
      ['POST', `/api/apps/${granted}/participants`, { address: regulatorAddress, role: 'auditor' }],
      ['DELETE', `/api/apps/${granted}/keys/0000000000000000`, undefined],
      ['POST', `/api/apps/${granted}/contracts`, { abi: [], bytecode: '0x00' }],
    ];
    for (const [method, path, body] of writes) {
      const res = await regulatorCall(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error?.message, `${method} ${path}`).toMatch(
        /^regulator accounts read through the regulator view and never write/,
      );
    }
    const outside = await regulatorCall('GET', `/api/apps/${granted}`);
    expect(outside.status).toBe(403);
    // Nothing was written: no app, no key, no participant.
    expect(await rpcCall(`${dev.baseUrl}/v1/system`, 'gov_getApp', [`mine-${suffix}`])).toBeNull();
    expect(await rpcCall<unknown[]>(`${dev.baseUrl}/v1/system`, 'gov_listParticipants', [granted])).toEqual([]);
    expect(
      (await developer.call<{ keys: { label: string }[] }>('GET', `/api/apps/${granted}/keys`)).body.keys
        .map((k) => k.label)
        .sort(),
    ).toEqual(['default', 'owner audit']);
  });

  it('behavior: a regulator key its owner revokes in the registry is replaced at the next read', async () => {
    const before = (await regulatorCall<{ keyId: string }>('GET', `/api/regulator/apps/${granted}`)).body.keyId;
    await portal.ctx.network.submit(
      { type: 'revokeApiKey', appId: granted, keyId: before, at: Date.now() },
      await portal.ctx.apps.ownerKey(granted),
    );
    const after = await regulatorCall<{ keyId: string }>('GET', `/api/regulator/apps/${granted}`);
    expect(after.status).toBe(200);
    expect(after.body.keyId).not.toBe(before);
  });

  it('error: once the alliance revokes the grant, reads are refused with 403 and the key is revoked in the registry', async () => {
    const keyId = (await regulatorCall<{ keyId: string }>('GET', `/api/regulator/apps/${granted}`)).body.keyId;
    await enact(portal, { type: 'revokeRegulator', address: regulatorAddress as `0x${string}` });
    const refused = await regulatorCall('GET', `/api/regulator/apps/${granted}/export?kind=transactions&from=0&to=${Date.now()}`);
    expect(refused.status).toBe(403);
    expect(refused.body.error?.message).toBe(
      `the alliance no longer grants you the app ${granted}: its regulator key is revoked`,
    );
    const keys = await rpcCall<{ id: string; revokedAt?: number }[]>(`${dev.baseUrl}/v1/system`, 'gov_listApiKeys', [granted]);
    expect(keys.find((k) => k.id === keyId)?.revokedAt).toBeGreaterThan(0);
    // Every key of the regulator for the app is revoked now, the replaced one too.
    expect(keys.filter((k) => k.revokedAt === undefined).map((k) => k.id)).not.toContain(keyId);
    const again = await regulatorCall('GET', `/api/regulator/apps/${granted}`);
    expect(again.status).toBe(403);
    expect(again.body.error?.message).toBe(`the alliance has not granted you the app ${granted}`);
    expect((await regulatorCall('GET', '/api/regulator/apps')).body).toMatchObject({ grant: null, apps: [] });
  }, 30_000);
});

/** A gateway export page: `chunks` of its body, with the headers the gateway sets. */
function page(chunks: string[], headers: { rows: number; next?: string }): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
      controller.close();
    },
  });
  return new Response(body, {
    headers: { 'x-polis-export-rows': String(headers.rows), ...(headers.next ? { 'x-polis-next-cursor': headers.next } : {}) },
  });
}

async function joined(gen: AsyncGenerator<Uint8Array | string>): Promise<string> {
  const decoder = new TextDecoder();
  let out = '';
  for await (const c of gen) out += typeof c === 'string' ? c : decoder.decode(c, { stream: true });
  return out + decoder.decode();
}

describe('joining export pages', () => {
  it('default: CSV pages keep the first header row only, whatever the chunks', async () => {
    const asked: [string, number][] = [];
    const second = page(['blo', 'ck,ti', 'me\r', '\n3,30\r\n', '4,40\r\n'], { rows: 2 });
    const text = await joined(
      joinExportPages(
        page(['block,time\r\n1,10\r\n', '2,20\r\n'], { rows: 2, next: 'c1' }),
        async (cursor, limit) => {
          asked.push([cursor, limit]);
          return second;
        },
        'csv',
        new AbortController(),
      ),
    );
    expect(text).toBe('block,time\r\n1,10\r\n2,20\r\n3,30\r\n4,40\r\n');
    expect(asked).toEqual([['c1', 10_000]]);
  });

  it('default: NDJSON pages drop their cursor lines and the file ends with {"next": null}', async () => {
    const text = await joined(
      joinExportPages(
        page(['{"a":1}\n{"a', '":2}\n{"next":"c1"}\n'], { rows: 2, next: 'c1' }),
        async () => page(['{"a":3}\n{"next":null}', '\n'], { rows: 1 }),
        'ndjson',
        new AbortController(),
      ),
    );
    expect(text).toBe('{"a":1}\n{"a":2}\n{"a":3}\n{"next":null}\n');
  });

  it('error: at the row bound, NDJSON ends with the cursor to go on from and CSV fails with LIMIT_REACHED', async () => {
    const full = () => page(['{"a":1}\n{"next":"c9"}\n'], { rows: EXPORT_ROWS_MAX, next: 'c9' });
    const never = async (): Promise<Response> => expect.fail('no page past the bound is asked for');
    const ndjson = await joined(joinExportPages(full(), never, 'ndjson', new AbortController()));
    const last = JSON.parse(ndjson.trimEnd().split('\n').at(-1) as string);
    expect(last).toMatchObject({ next: 'c9', note: expect.stringMatching(/export again with this cursor/) });
    const abort = new AbortController();
    const csv = joined(joinExportPages(page(['h\r\n1\r\n'], { rows: EXPORT_ROWS_MAX, next: 'c9' }), never, 'csv', abort));
    const err = await csv.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPortalError(err, PortalErrorCode.LIMIT_REACHED), String(err)).toBe(true);
    expect(abort.signal.aborted).toBe(true);
  });
});
