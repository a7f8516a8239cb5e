/**
 * The system ledger hosted in a node (ADR 0006), driven from outside over `POST /v1/system` with
 * signed governance transactions: an action with k-1 approvals does nothing and the k-th executes
 * it, with every approval kept; a non-admin's proposal is included but refused; a replayed
 * transaction never gets in; and the state survives a restart.
 */
import { bytesToHex, keccak256, privateKeyToAddress, utf8ToBytes } from '@polis/core';
import { type Action, encodeGovTx, type GovBody, signGovTxSecp256k1 } from '@polis/governance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, rpcCall, startDevNode } from './devNode.js';

const SYSTEM_CHAIN_ID = 77;
const keyOf = (name: string) => keccak256(utf8ToBytes(`polis test admin ${name}`));
const admins = ['a', 'b', 'c'].map((n) => ({ key: keyOf(n), address: bytesToHex(privateKeyToAddress(keyOf(n))) }));
const outsider = { key: keyOf('outsider'), address: bytesToHex(privateKeyToAddress(keyOf('outsider'))) };

let dev: DevNode;
let url: string;
let firstHash: string;

async function send(signer: { key: Uint8Array; address: string }, body: GovBody, nonce?: number): Promise<string> {
  const n = nonce ?? (await rpcCall<number>(url, 'gov_getNonce', [signer.address]));
  const tx = signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce: n, body }, signer.key);
  return rpcCall<string>(url, 'gov_sendTransaction', [bytesToHex(encodeGovTx(tx))]);
}

type Receipt = { status: 'ok' | 'failed'; error?: { code: string; message: string }; blockNumber: number };

async function receipt(hash: string): Promise<Receipt> {
  for (let i = 0; i < 400; i++) {
    const r = await rpcCall<Receipt | null>(url, 'gov_getReceipt', [hash]);
    if (r) return r;
    await new Promise((done) => setTimeout(done, 25));
  }
  throw new Error(`no receipt for ${hash}`);
}

const gold = { requestsPerSec: 5_000, txPerSec: 500, bytesInPerSec: 50_000_000, bytesOutPerSec: 100_000_000 };

beforeAll(async () => {
  dev = await startDevNode({
    system: {
      chainId: SYSTEM_CHAIN_ID,
      admins: admins.map((a) => a.address),
      threshold: 2,
      operator: admins[0]?.address as string,
    },
  });
  url = `${dev.baseUrl}/v1/system`;
});

afterAll(async () => {
  await dev?.close();
});

describe('system ledger', () => {
  it('default: the alliance and policy of the genesis are served', async () => {
    expect(await rpcCall(url, 'gov_chainId')).toBe(SYSTEM_CHAIN_ID);
    const alliance = await rpcCall<{ admins: string[]; threshold: number }>(url, 'gov_getAlliance');
    expect(alliance.threshold).toBe(2);
    expect(alliance.admins.map((a) => a.toLowerCase()).sort()).toEqual(admins.map((a) => a.address).sort());
    const nodes = await rpcCall<{ status: string }[]>(url, 'gov_listNodes');
    expect(nodes.map((n) => n.status)).toEqual(['active']);
  });

  it('default: k-1 approvals do nothing; the k-th executes the action, and every approval is kept', async () => {
    const expiresAt = Date.now() + 600_000;
    firstHash = await send(admins[0] as never, {
      type: 'propose',
      action: { type: 'setPlan', name: 'gold', limits: gold },
      expiresAt,
    });
    const proposed = await receipt(firstHash);
    expect(proposed.status).toBe('ok');
    const open = await rpcCall<{ id: number; effectiveStatus: string }[]>(url, 'gov_listProposals');
    const id = open.find((p) => p.effectiveStatus === 'open')?.id as number;
    expect(id).toBeGreaterThan(0);
    let plans = await rpcCall<{ name: string }[]>(url, 'gov_listPlans');
    expect(plans.map((p) => p.name)).not.toContain('gold');

    expect((await receipt(await send(admins[1] as never, { type: 'approve', proposalId: id }))).status).toBe('ok');
    plans = await rpcCall<{ name: string }[]>(url, 'gov_listPlans');
    expect(plans.map((p) => p.name)).toContain('gold');
    const proposal = await rpcCall<{ status: string; approvals: { address: string }[] }>(url, 'gov_getProposal', [id]);
    expect(proposal.status).toBe('executed');
    expect(proposal.approvals.map((a) => a.address.toLowerCase())).toEqual([admins[0]?.address, admins[1]?.address]);

    // A third approval of an executed proposal is included, refused, and changes nothing.
    const late = await receipt(await send(admins[2] as never, { type: 'approve', proposalId: id }));
    expect(late.status).toBe('failed');
    expect(late.error?.code).toMatch(/EXECUTED/);
  });

  it("error: a non-admin's proposal is included with a failed receipt that says why", async () => {
    const r = await receipt(
      await send(outsider, { type: 'propose', action: { type: 'setThreshold', threshold: 1 }, expiresAt: Date.now() + 60_000 }),
    );
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('NOT_ADMIN');
    expect(r.error?.message).toMatch(/admin/);
    expect((await rpcCall<{ threshold: number }>(url, 'gov_getAlliance')).threshold).toBe(2);
  });

  it('error: a replayed transaction and a wrong chain id are refused before they reach a block', async () => {
    const nonce = await rpcCall<number>(url, 'gov_getNonce', [admins[2]?.address]);
    await expect(send(admins[2] as never, { type: 'approve', proposalId: 1 }, nonce - 1)).rejects.toThrow(/nonce/);
    const tx = signGovTxSecp256k1(
      { chainId: SYSTEM_CHAIN_ID + 1, nonce, body: { type: 'approve', proposalId: 1 } },
      admins[2]?.key as Uint8Array,
    );
    await expect(rpcCall(url, 'gov_sendTransaction', [bytesToHex(encodeGovTx(tx))])).rejects.toThrow(/chain/);
    await expect(rpcCall(url, 'gov_sendTransaction', ['0x1234'])).rejects.toThrow();
  });

  it('default: a regulator grant executed by the alliance is read with gov_getRegulator and gov_listRegulators, until revoked', async () => {
    const regulator = bytesToHex(privateKeyToAddress(keyOf('regulator')));
    const enact = async (action: Action) => {
      const proposed = await receipt(await send(admins[0] as never, { type: 'propose', action, expiresAt: Date.now() + 60_000 }));
      expect(proposed.status, action.type).toBe('ok');
      const open = await rpcCall<{ id: number; action: Action; effectiveStatus: string }[]>(url, 'gov_listProposals');
      const id = open.filter((p) => p.effectiveStatus === 'open' && p.action.type === action.type).at(-1)?.id as number;
      expect((await receipt(await send(admins[1] as never, { type: 'approve', proposalId: id }))).status, action.type).toBe('ok');
    };
    expect(await rpcCall(url, 'gov_getRegulator', [regulator])).toBeNull();
    await enact({ type: 'grantRegulator', address: regulator, apps: 'all' });
    // An address is looked up whatever its case, as addresses are compared lower-cased.
    expect(await rpcCall(url, 'gov_getRegulator', [regulator.toUpperCase().replace('0X', '0x')])).toEqual({
      address: regulator,
      apps: 'all',
    });
    expect(await rpcCall(url, 'gov_listRegulators')).toEqual([{ address: regulator, apps: 'all' }]);
    await enact({ type: 'revokeRegulator', address: regulator });
    expect(await rpcCall(url, 'gov_getRegulator', [regulator])).toBeNull();
    expect(await rpcCall(url, 'gov_listRegulators')).toEqual([]);
    await expect(rpcCall(url, 'gov_getRegulator', [])).rejects.toThrow(/address must be a non-empty string/);
  });

  it('behavior: the governance state and its receipts survive a restart', async () => {
    const before = await rpcCall<{ name: string }[]>(url, 'gov_listPlans');
    const head = await rpcCall<number>(url, 'gov_blockNumber');
    await dev.restart();
    url = `${dev.baseUrl}/v1/system`;
    expect(await rpcCall(url, 'gov_listPlans')).toEqual(before);
    expect(await rpcCall<number>(url, 'gov_blockNumber')).toBeGreaterThanOrEqual(head);
    expect((await rpcCall<Receipt>(url, 'gov_getReceipt', [firstHash])).status).toBe('ok');
    const r = await receipt(
      await send(admins[0] as never, {
        type: 'propose',
        action: { type: 'setPlan', name: 'gold', limits: null },
        expiresAt: Date.now() + 60_000,
      }),
    );
    expect(r.status).toBe('ok');
  });

  it('error: the system endpoint limits each client and answers 429 with Retry-After and a message naming the limit', async () => {
    const tight = await startDevNode({
      system: {
        chainId: SYSTEM_CHAIN_ID,
        admins: [admins[0]?.address as string],
        threshold: 1,
        operator: admins[0]?.address as string,
      },
      gateway: {
        systemLimits: {
          perClient: { requestsPerSec: 10, txPerSec: 2, bytesInPerSec: 1_000_000, bytesOutPerSec: 10_000_000 },
          total: { requestsPerSec: 1_000, txPerSec: 100, bytesInPerSec: 10_000_000, bytesOutPerSec: 100_000_000 },
        },
      },
    });
    try {
      const post = (body: unknown) =>
        fetch(`${tight.baseUrl}/v1/system`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const call = { jsonrpc: '2.0', id: 1, method: 'gov_chainId', params: [] };
      const started = performance.now();
      const answers = await Promise.all(Array.from({ length: 30 }, () => post(call)));
      // The bucket holds 10 and refills 10 per second while the burst is served.
      const refill = Math.ceil(((performance.now() - started) / 1000) * 10);
      const ok = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status === 429);
      expect(ok.length).toBeGreaterThanOrEqual(10);
      expect(ok.length).toBeLessThanOrEqual(10 + refill);
      expect(ok.length).toBeLessThan(30);
      expect(ok.length + refused.length).toBe(30);
      expect(Number(refused[0]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const error = ((await (refused[0] as Response).json()) as { error: { code: number; message: string } }).error;
      expect(error.code).toBe(-32005);
      expect(error.message).toMatch(/system ledger endpoint: this client .* over 10 requests per second/);
      // Governance transactions have a budget of their own: two sends use this second's, a third is refused.
      await new Promise((done) => setTimeout(done, 1_100));
      const sends = Array.from({ length: 2 }, (_, i) => ({
        jsonrpc: '2.0',
        id: i,
        method: 'gov_sendTransaction',
        params: ['0x00'],
      }));
      expect((await post(sends)).status).toBe(200);
      const batch = await post([sends[0]]);
      expect(batch.status).toBe(429);
      expect(((await batch.json()) as { error: { message: string } }).error.message).toMatch(
        /over 2 governance transactions per second/,
      );
      // After the refill the endpoint serves again.
      await new Promise((done) => setTimeout(done, 1_100));
      expect((await post(call)).status).toBe(200);
    } finally {
      await tight.close();
    }
  });
});
