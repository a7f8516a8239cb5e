/**
 * Regulator access (ADR 0008): a key with the `regulator` scope reads its app over REST and
 * JSON-RPC, every one of its requests lands in the audit log that the app owner's admin key reads
 * (key id, route or method), and every write it tries is refused with 403 and recorded as refused.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantAppKey } from '../src/index.js';
import { type DevNode, type Json, restCall, startDevNode, TEST_APP } from './devNode.js';

let dev: DevNode;
let regulator: string;
let regulatorId: string;
let reader: string;

async function rpc(key: string, body: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${dev.baseUrl}/v1/${TEST_APP.id}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function auditOf(after = 0): Promise<Json[]> {
  const r = await restCall(dev, `/audit?after=${after}&limit=1000`);
  expect(r.status).toBe(200);
  return r.body.entries;
}

beforeAll(async () => {
  dev = await startDevNode({ gateway: { reloadMs: 50 } });
  regulator = grantAppKey(dev.accessFile, { appId: TEST_APP.id, plan: 'dedicated', scopes: ['regulator'], label: 'regulator' });
  reader = grantAppKey(dev.accessFile, { appId: TEST_APP.id, plan: 'dedicated', scopes: ['read'], label: 'reader' });
  regulatorId = regulator.split('_')[1] as string;
  // The gateway re-reads the access file every 50 ms.
  for (let i = 0; i < 100; i++) {
    if ((await restCall(dev, '', { key: regulator })).status === 200) return;
    await sleep(50);
  }
  throw new Error('the regulator key never became valid');
});

afterAll(async () => {
  await dev?.close();
});

describe('regulator access', () => {
  it('default: REST and JSON-RPC reads are served and recorded with key id and route or method', async () => {
    const before = (await auditOf()).length;
    const block = await restCall(dev, '/blocks/latest', { key: regulator });
    expect(block.status).toBe(200);
    const account = await restCall(dev, `/accounts/${dev.accounts[0]?.address}`, { key: regulator });
    expect(account.status).toBe(200);
    const balance = await rpc(regulator, {
      jsonrpc: '2.0',
      id: 1,
      method: 'eth_getBalance',
      params: [dev.accounts[0]?.address, 'latest'],
    });
    expect(balance.status).toBe(200);
    expect(balance.body.result).toMatch(/^0x[0-9a-f]+$/);

    const entries = (await auditOf()).slice(before);
    const mine = entries.filter((e) => e.actor === regulatorId);
    expect(mine.map((e) => e.action)).toEqual([
      'GET /api/v1/apps/{id}/blocks/latest',
      'GET /api/v1/apps/{id}/accounts/{address}',
      'rpc eth_getBalance',
    ]);
    for (const e of mine) {
      expect(e.scope, e.action).toBe('regulator');
      expect(e.app, e.action).toBe(TEST_APP.id);
      expect(e.hash, e.action).toMatch(/^0x[0-9a-f]{64}$/);
      expect(typeof e.at, e.action).toBe('number');
    }
    expect(JSON.parse(mine[1].detail).params.address).toBe(dev.accounts[0]?.address);
  });

  it('error: every write is refused with 403, and recorded as refused', async () => {
    const before = (await auditOf()).length;
    const send = await rpc(regulator, { jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: ['0x02'] });
    expect(send.status).toBe(403);
    expect(send.body.error.code).toBe(-32043);
    expect(send.body.error.message).toMatch(/regulator key.*never write/);
    // A batch that hides a write among reads is refused whole.
    const batch = await rpc(regulator, [
      { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] },
      { jsonrpc: '2.0', id: 2, method: 'eth_sendRawTransaction', params: ['0x02'] },
    ]);
    expect(batch.status).toBe(403);
    for (const [path, body] of [
      ['/transactions', { raw: '0x02' }],
      ['/webhooks', { notifyUrl: 'https://example.com/hook', events: { type: 'blocks' } }],
      ['/tx', { from: dev.accounts[0]?.address }],
      ['/accounts/custodial', undefined],
    ] as const) {
      const r = await restCall(dev, path, { method: 'POST', key: regulator, ...(body ? { body } : {}) });
      expect(r.status, path).toBe(403);
      expect(r.body.error.code, path).toBe('FORBIDDEN');
      expect(r.body.error.message, path).toMatch(/regulator key/);
    }
    const refused = (await auditOf())
      .slice(before)
      .filter((e) => e.actor === regulatorId && JSON.parse(e.detail).outcome === 'refused');
    expect(refused.map((e) => e.action)).toEqual([
      'rpc eth_sendRawTransaction',
      'rpc eth_blockNumber,eth_sendRawTransaction',
      'POST /api/v1/apps/{id}/transactions',
      'POST /api/v1/apps/{id}/webhooks',
      'POST /api/v1/apps/{id}/tx',
      'POST /api/v1/apps/{id}/accounts/custodial',
    ]);
  });

  it('behavior: a regulator cannot read the audit log, and other keys are not recorded', async () => {
    const before = (await auditOf()).length;
    expect((await restCall(dev, '/audit', { key: regulator })).status).toBe(403);
    expect((await restCall(dev, '/audit', { key: reader })).status).toBe(403);
    expect((await restCall(dev, '/blocks/latest', { key: reader })).status).toBe(200);
    const added = (await auditOf()).slice(before);
    // The regulator's attempt is recorded; the reader's requests are not.
    expect(added.map((e) => [e.actor, e.action])).toEqual([[regulatorId, 'GET /api/v1/apps/{id}/audit']]);
  });

  it('behavior: admin writes at the gateway are recorded with their status', async () => {
    const before = (await auditOf()).length;
    const hook = await restCall(dev, '/webhooks', {
      method: 'POST',
      body: { notifyUrl: 'https://example.com/hook', events: { type: 'blocks' } },
    });
    expect(hook.status).toBe(201);
    const del = await restCall(dev, `/webhooks/${hook.body.id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const added = (await auditOf()).slice(before).filter((e) => e.scope === 'admin');
    expect(added.map((e) => [e.action, JSON.parse(e.detail).status])).toEqual([
      ['POST /api/v1/apps/{id}/webhooks', 201],
      ['DELETE /api/v1/apps/{id}/webhooks/{hookId}', 200],
    ]);
    expect(added[1].actor).toBe(dev.apiKey.split('_')[1]);
  });
});
