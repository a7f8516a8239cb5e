/**
 * The identity and certificates services through REST against a real node (key trust mode): the
 * writes from custodial accounts (`POST /api/v1/apps/{id}/identity|certificates`) with their
 * refusals (422 with the service's reason, or the mempool's for the account policy), the generic
 * view route, and the two read routes: `GET /identity/dids/{address}` (a W3C DID Core resolution:
 * 404 unknown, 410 deactivated) and `GET /certificates/{collectionId}/holders/{address}` (what a
 * holder has, a bounded page at a time). The app owner (dev account 0, the admin from genesis) is
 * not custodial, so it acts through ethers.
 */
import { bytesToHex, keccak256, utf8ToBytes } from '@polis/core';
import { CERTIFICATES_ABI, CERTIFICATES_ADDRESS, IDENTITY_ABI, IDENTITY_ADDRESS, identityRoleId } from '@polis/execution';
import {
  Contract,
  hexlify,
  type InterfaceAbi,
  JsonRpcProvider,
  type TransactionReceipt,
  toUtf8Bytes,
  Wallet,
  ZeroHash,
} from 'ethers';
import { decodeEventLog, type Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOLDINGS_ENTRIES_PER_YIELD, HOLDINGS_PAGE_DEFAULT, HOLDINGS_PAGE_MAX } from '../src/gateway/rest/services.js';
import { type DevNode, type Json, newCustodialAccount, restCall, startDevNode, TEST_APP } from './devNode.js';

const KYC = identityRoleId('kyc');
const ISSUER = identityRoleId('issuer');
const h = (s: string) => bytesToHex(keccak256(utf8ToBytes(s)));
const json = (value: unknown) => hexlify(toUtf8Bytes(JSON.stringify(value)));
const did = (address: string) => `did:polis:${TEST_APP.id}:${address.toLowerCase()}`;
const CONTEXT = 'https://www.w3.org/ns/did/v1';
/** Tokens the consistency test mints to one holder and moves while reading. */
const MOVING_TOKENS = 60;
/** Of them, moved away one block at a time while the pages are read. */
const MOVES = 8;

let dev: DevNode;
let owner: Wallet;
let identity: Contract;
/** Custodial accounts of the test app; none is an admin. */
let alice: string;
let bob: string;
let carol: string;
let issuer: string;

const rest = (path: string, init: { method?: string; body?: unknown } = {}) => restCall(dev, path, init);

/** Calls a writing function of `service` from the custodial account `from` through REST. */
function call(service: 'identity' | 'certificates' | 'records', from: string, functionName: string, args: unknown[]) {
  return rest(`/${service}`, { method: 'POST', body: { from, functionName, args } });
}

/** The same, and expects it committed and successful; returns the receipt. */
async function send(service: 'identity' | 'certificates' | 'records', from: string, functionName: string, args: unknown[]) {
  const r = await call(service, from, functionName, args);
  expect(r.status, `${functionName}: ${JSON.stringify(r.body)}`).toBe(200);
  expect(r.body.receipt.status, functionName).toBe(1);
  return r.body.receipt;
}

/** Runs a view function through `GET /{service}/{function}?args=`. */
async function view(service: 'identity' | 'certificates', fn: string, args: unknown[]): Promise<Json> {
  const r = await rest(`/${service}/${fn}?args=${encodeURIComponent(JSON.stringify(args))}`);
  expect(r.status, `${fn}: ${JSON.stringify(r.body)}`).toBe(200);
  return r.body;
}

/** `GET /certificates/{collectionId}/holders/{address}` with an optional query. */
const holders = (collectionId: string | number, address: string, query = '') =>
  rest(`/certificates/${collectionId}/holders/${address}${query}`);

/** The holdings of `address`, expected to answer 200: token id -> [amount, uri, contentHash, frozen]. */
async function holdingsOf(collectionId: string, address: string): Promise<Record<string, [string, string, string, boolean]>> {
  const r = await holders(collectionId, address);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.total, 'total counts every listed token').toBe(r.body.tokens.length);
  return Object.fromEntries(
    r.body.tokens.map((t: Json) => [t.tokenId, [t.amount, t.uri, t.contentHash, t.frozen]] as const),
  ) as Record<string, [string, string, string, boolean]>;
}

/** The id of the collection a createCollection receipt created, from its CollectionCreated log. */
function collectionIdOf(receipt: Json): string {
  const log = receipt.logs.find((l: Json) => l.address === bytesToHex(CERTIFICATES_ADDRESS));
  const e = decodeEventLog({ abi: CERTIFICATES_ABI, eventName: 'CollectionCreated', topics: log.topics, data: log.data as Hex });
  return e.args.collectionId.toString();
}

beforeAll(async () => {
  dev = await startDevNode({ heartbeatMs: 200, keyTrust: true });
  const provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  owner = new Wallet(dev.accounts[0]?.privateKey as string, provider);
  identity = new Contract(bytesToHex(IDENTITY_ADDRESS), IDENTITY_ABI as InterfaceAbi, owner);
  const custodial = () => newCustodialAccount(dev);
  [alice, bob, carol, issuer] = [await custodial(), await custodial(), await custodial(), await custodial()];
});

afterAll(async () => {
  await dev?.close();
});

describe('identity over REST', () => {
  it('default: a DID resolves to its W3C document through its life: created, updated, rotated, then deactivated (410)', async () => {
    const unknown = await rest(`/identity/dids/${alice}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toMatch(new RegExp(`${did(alice)} does not exist: .*createDid`));

    const created = await send('identity', alice, 'createDid', [json({ '@context': CONTEXT, service: [] })]);
    const first = await rest(`/identity/dids/${alice}`);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.didDocument).toEqual({ '@context': CONTEXT, service: [], id: did(alice) });
    expect(first.body.controller).toBe(alice);
    const meta = first.body.didDocumentMetadata;
    expect(meta).toMatchObject({ deactivated: false, updatedMs: meta.createdMs });
    expect(meta.rawDocument).toBeUndefined();
    // The block's time; `created` is it to the second, as DID Core's XML datetime.
    const block = await rest(`/blocks/${created.blockNumber}`);
    expect(meta.createdMs).toBe(block.body.timestampMs);
    expect(meta.created).toBe(new Date(meta.createdMs).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    expect(meta.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The DID itself names the same resolution; a DID of another app is refused here.
    expect((await rest(`/identity/dids/${did(alice)}`)).body).toEqual(first.body);
    const foreign = await rest(`/identity/dids/did:polis:other:${alice}`);
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.message).toMatch(/is a DID of the app "other", not "demo"/);

    // A document whose id is the DID (in any case) is kept; bytes that are no JSON object come back raw.
    await send('identity', alice, 'updateDid', [
      alice,
      json({ id: `did:polis:demo:${alice.toUpperCase().replace('0X', '0x')}`, v: 2 }),
    ]);
    const second = await rest(`/identity/dids/${alice}`);
    expect(second.body.didDocument).toEqual({ id: did(alice), v: 2 });
    expect(second.body.didDocumentMetadata.updatedMs).toBeGreaterThan(meta.createdMs);
    expect(second.body.didDocumentMetadata.createdMs).toBe(meta.createdMs);
    const notJson: Array<[string, RegExp]> = [
      ['0xdeadbeef', /not a JSON object/],
      [json([1, 2]), /not a JSON object/],
      [json({ id: did(bob), v: 3 }), new RegExp(`its id is "${did(bob)}", not ${did(alice)}`)],
      ['0x', /empty document/],
    ];
    for (const [bytes, reason] of notJson) {
      await send('identity', alice, 'updateDid', [alice, bytes]);
      const r = await rest(`/identity/dids/${alice}`);
      expect(r.body.didDocument, bytes).toEqual({ id: did(alice), controller: did(alice) });
      expect(r.body.didDocumentMetadata.rawDocument, bytes).toBe(bytes);
      expect(r.body.didDocumentMetadata.rawDocumentReason, bytes).toMatch(reason);
    }

    // Only the controller changes the DID; rotation hands control to bob.
    const stolen = await call('identity', bob, 'updateDid', [alice, json({})]);
    expect(stolen.status).toBe(422);
    expect(stolen.body.error.message).toMatch(/only the controller of the DID/);
    await send('identity', alice, 'rotateDidController', [alice, bob]);
    const rotated = await rest(`/identity/dids/${alice}`);
    expect(rotated.body.controller).toBe(bob);
    expect(rotated.body.didDocument).toEqual({ id: did(alice), controller: did(bob) });
    expect((await call('identity', alice, 'updateDid', [alice, json({})])).status).toBe(422);
    await send('identity', bob, 'updateDid', [alice, json({ '@context': CONTEXT })]);

    await send('identity', bob, 'deactivateDid', [alice]);
    const gone = await rest(`/identity/dids/${alice}`);
    expect(gone.status).toBe(410);
    expect(gone.body.error).toMatchObject({
      code: 'DID_DEACTIVATED',
      message: expect.stringMatching(/deactivated at .*permanent/),
    });
    expect(gone.body.didDocumentMetadata).toMatchObject({ deactivated: true, createdMs: meta.createdMs });
    expect(gone.body.didDocument).toEqual({ '@context': CONTEXT, id: did(alice) });
    expect(gone.body.controller).toBe(bob);
    const again = await call('identity', bob, 'updateDid', [alice, json({})]);
    expect(again.status).toBe(422);
    expect(again.body.error.message).toMatch(/deactivated, which is permanent/);

    // Bad input: not an address.
    const bad = await rest('/identity/dids/0x1234');
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues).toEqual([expect.stringMatching(/^path\.address: must be an address/)]);
  });

  it('error: roles and attestations are refused to accounts without the role, with the reason; an attestation is valid, then revoked', async () => {
    const grant = await call('identity', alice, 'grantRole', [bob, ISSUER]);
    expect(grant.status).toBe(422);
    expect(grant.body.error.message).toMatch(/only an app admin can grant roles/);
    const early = await call('identity', issuer, 'attest', [bob, KYC, 0, h('evidence')]);
    expect(early.status).toBe(422);
    expect(early.body.error.message).toMatch(/only a registered issuer can attest/);

    await (await identity.getFunction('grantRole')(issuer, ISSUER)).wait();
    expect(await view('identity', 'hasRole', [issuer, ISSUER])).toEqual({ result: true });
    expect(await view('identity', 'hasRole', [alice, ISSUER])).toEqual({ result: false });

    await send('identity', issuer, 'attest', [bob, KYC, '0', h('evidence')]);
    expect(await view('identity', 'attestation', [bob, KYC])).toMatchObject({
      valid: true,
      issuer: expect.stringMatching(new RegExp(`^${issuer}$`, 'i')),
      expiresAtMs: '0',
      dataHash: h('evidence'),
      revoked: false,
    });
    // Only its issuer (or an admin) revokes it.
    const other = await call('identity', alice, 'revokeAttestation', [bob, KYC]);
    expect(other.status).toBe(422);
    expect(other.body.error.message).toMatch(/only its issuer .* or an app admin can revoke/);
    await send('identity', issuer, 'revokeAttestation', [bob, KYC]);
    expect(await view('identity', 'attestation', [bob, KYC])).toMatchObject({ valid: false, revoked: true });
  });

  it('behavior: under a policy requiring an attestation, the mempool refuses a sender without it (422, its reason), then takes it once attested', async () => {
    await (await identity.getFunction('setPolicy')(ZeroHash, KYC)).wait();
    try {
      expect(await view('identity', 'policy', [])).toEqual({ requiredRole: ZeroHash, requiredAttestation: KYC });
      const refused = await call('records', carol, 'record', [h('carol, unattested'), '0x']);
      expect(refused.status, JSON.stringify(refused.body)).toBe(422);
      expect(refused.body.error.code).toBe('TX_ERROR_NOT_PERMITTED');
      expect(refused.body.error.message).toMatch(
        new RegExp(`policy requires a valid 'kyc' attestation of every sender, and ${carol} has none`),
      );
      expect((await view('identity', 'checkPolicy', [carol])).allowed).toBe(false);
      // The issuer has no attestation either, but transactions to the identity service always pass.
      await send('identity', issuer, 'attest', [carol, KYC, 0, h('carol kyc')]);
      expect(await view('identity', 'checkPolicy', [carol])).toEqual({ allowed: true, reason: '' });
      await send('records', carol, 'record', [h('carol, attested'), '0x']);
    } finally {
      await (await identity.getFunction('setPolicy')(ZeroHash, ZeroHash)).wait();
    }
  });
});

describe('certificates over REST', () => {
  it('default: unique certificates are minted, transferred, frozen and burned, and the holders route follows each step', async () => {
    const id = collectionIdOf(await send('certificates', issuer, 'createCollection', ['Diplomas', 'DIP', 0, true]));
    const empty = await holders(id, alice);
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({
      collectionId: id,
      kind: 0,
      holder: alice,
      total: 0,
      offset: 0,
      limit: HOLDINGS_PAGE_DEFAULT,
      tokens: [],
    });
    expect(empty.body.collectionAddress).toMatch(/^0x[0-9a-f]{40}$/);
    expect(empty.body.blockNumber).toBeGreaterThan(0);

    await send('certificates', issuer, 'mint', [id, alice, 7, 1, 'ipfs://diploma-7', h('diploma 7')]);
    await send('certificates', issuer, 'mint', [id, alice, '8', '1', 'ipfs://diploma-8', h('diploma 8')]);
    expect(await holdingsOf(id, alice)).toEqual({
      '7': ['1', 'ipfs://diploma-7', h('diploma 7'), false],
      '8': ['1', 'ipfs://diploma-8', h('diploma 8'), false],
    });

    await send('certificates', alice, 'transfer', [id, bob, 7, 1]);
    expect(Object.keys(await holdingsOf(id, alice))).toEqual(['8']);
    expect(await holdingsOf(id, bob)).toEqual({ '7': ['1', 'ipfs://diploma-7', h('diploma 7'), false] });

    // A frozen certificate cannot move; the answer carries the reason.
    await send('certificates', issuer, 'freeze', [id, 8]);
    expect((await holdingsOf(id, alice))['8']?.[3]).toBe(true);
    const frozen = await call('certificates', alice, 'transfer', [id, bob, 8, 1]);
    expect(frozen.status).toBe(422);
    expect(frozen.body.error.message).toMatch(/token 8 of collection \d+ is frozen by its issuer; it cannot move until unfrozen/);
    expect(Object.keys(await holdingsOf(id, alice))).toEqual(['8']);

    // Only the holder transfers; burning removes the certificate from the holder's list.
    const notHeld = await call('certificates', alice, 'transfer', [id, carol, 7, 1]);
    expect(notHeld.status).toBe(422);
    expect(notHeld.body.error.message).toMatch(/does not hold token 7/);
    await send('certificates', bob, 'burn', [id, 7, 1]);
    expect(await holdingsOf(id, bob)).toEqual({});
    expect(await view('certificates', 'collection', [id])).toMatchObject({ name: 'Diplomas', supply: '1' });
  });

  it('default: amounts in a non-transferable collection: the holder keeps them (transfers refused) and burns part, then all', async () => {
    const id = collectionIdOf(await send('certificates', issuer, 'createCollection', ['Credits', 'CR', 1, false]));
    await send('certificates', issuer, 'mint', [id, carol, 1, 5, 'https://example.org/credit', h('credit')]);
    await send('certificates', issuer, 'mint', [id, carol, 2, 1, '', ZeroHash]);
    const held = await holders(id, carol);
    expect(held.body).toMatchObject({ kind: 1, total: 2 });
    expect(await holdingsOf(id, carol)).toEqual({
      '1': ['5', 'https://example.org/credit', h('credit'), false],
      '2': ['1', '', ZeroHash, false],
    });
    const moved = await call('certificates', carol, 'transfer', [id, bob, 1, 2]);
    expect(moved.status).toBe(422);
    expect(moved.body.error.message).toMatch(/collection \d+ is not transferable/);
    await send('certificates', carol, 'burn', [id, 1, 2]);
    expect((await holdingsOf(id, carol))['1']?.[0]).toBe('3');
    await send('certificates', carol, 'burn', [id, 1, 3]);
    expect(await holdingsOf(id, carol)).toEqual({ '2': ['1', '', ZeroHash, false] });
  });

  it('behavior: the holders route pages with offset and limit, bounded at HOLDINGS_PAGE_MAX, and says what is wrong with bad input', async () => {
    expect(HOLDINGS_PAGE_MAX).toBe(1_000);
    const id = collectionIdOf(await send('certificates', issuer, 'createCollection', ['Badges', 'BDG', 0, true]));
    for (const tokenId of [1, 2, 3, 4])
      await send('certificates', issuer, 'mint', [id, bob, tokenId, 1, `b${tokenId}`, ZeroHash]);
    const all = (await holders(id, bob)).body.tokens.map((t: Json) => t.tokenId);
    expect([...all].sort()).toEqual(['1', '2', '3', '4']);
    const page = await holders(id, bob, '?offset=1&limit=2');
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ total: 4, offset: 1, limit: 2 });
    expect(page.body.tokens.map((t: Json) => t.tokenId)).toEqual(all.slice(1, 3));
    expect((await holders(id, bob, '?offset=3&limit=5')).body.tokens.map((t: Json) => t.tokenId)).toEqual(all.slice(3));
    expect((await holders(id, bob, '?offset=10')).body).toMatchObject({ total: 4, tokens: [] });
    expect((await holders(id, bob, `?limit=${HOLDINGS_PAGE_MAX}`)).body.tokens).toHaveLength(4);

    const bad: Array<[string, number, RegExp]> = [
      [
        `/certificates/999/holders/${bob}`,
        404,
        /there is no collection 999 \(ids run from 1 to \d+\); create one with createCollection/,
      ],
      [`/certificates/${id}/holders/0x12`, 400, /path\.address: must be 0x and 40 hex digits/],
      [`/certificates/1${'0'.repeat(76)}/holders/${bob}`, 404, /there is no collection 1000/],
      [`/certificates/${'9'.repeat(78)}/holders/${bob}`, 400, /path\.collectionId: must be a collection id.*at most 77 digits/],
      [`/certificates/abc/holders/${bob}`, 400, /path\.collectionId: must be a collection id/],
      [`/certificates/0/holders/${bob}`, 400, /path\.collectionId: must be a collection id/],
      [`/certificates/${id}/holders/${bob}?limit=${HOLDINGS_PAGE_MAX + 1}`, 400, /query\.limit: .*1000/],
      [`/certificates/${id}/holders/${bob}?limit=0`, 400, /query\.limit/],
      [`/certificates/${id}/holders/${bob}?offset=-1`, 400, /query\.offset/],
    ];
    for (const [path, status, message] of bad) {
      const r = await rest(path);
      expect(r.status, path).toBe(status);
      expect([r.body.error.message, ...(r.body.error.issues ?? [])].join('; '), path).toMatch(message);
    }
  });

  it('behavior: a page read while blocks move tokens is read from one state: no token twice, none missing, total matches', async () => {
    // The owner issues through ethers (not custodial): many mints without waiting land in few blocks.
    const certificates = new Contract(bytesToHex(CERTIFICATES_ADDRESS), CERTIFICATES_ABI as InterfaceAbi, owner);
    const created: TransactionReceipt | null = await (
      await certificates.getFunction('createCollection')('Tickets', 'TKT', 0, true)
    ).wait();
    const id = collectionIdOf({
      logs: created?.logs.map((l) => ({ address: l.address.toLowerCase(), topics: l.topics, data: l.data })),
    });
    const nonce = await owner.getNonce();
    const ids = Array.from({ length: MOVING_TOKENS }, (_, i) => i + 1);
    const mints = await Promise.all(
      ids.map((t, i) =>
        certificates.getFunction('mint')(id, owner.address, t, 1, '', ZeroHash, { nonce: nonce + i, gasLimit: 500_000 }),
      ),
    );
    await Promise.all(mints.map((tx) => tx.wait()));
    expect((await holders(id, owner.address, `?limit=${HOLDINGS_PAGE_MAX}`)).body.total).toBe(MOVING_TOKENS);

    // Move tokens away (each a block of its own) while the full page is read again and again.
    expect(HOLDINGS_ENTRIES_PER_YIELD, 'a page yields mid-read, so blocks land inside it').toBeLessThan(MOVING_TOKENS);
    let done = false;
    const moving = (async () => {
      try {
        for (const t of ids.slice(0, MOVES)) await (await certificates.getFunction('transfer')(id, bob, t, 1)).wait();
      } finally {
        done = true;
      }
    })();
    const pages: Json[] = [];
    while (!done) pages.push(await holders(id, owner.address, `?limit=${HOLDINGS_PAGE_MAX}`));
    await moving;
    expect(pages.length).toBeGreaterThan(1);
    for (const [i, page] of pages.entries()) {
      // 503 is the honest answer when every attempt saw the state change; anything else must be whole.
      if (page.status === 503) continue;
      expect(page.status, `page ${i}: ${JSON.stringify(page.body).slice(0, 300)}`).toBe(200);
      const got = page.body.tokens.map((t: Json) => Number(t.tokenId));
      expect(new Set(got).size, `page ${i}: no token twice`).toBe(got.length);
      expect(got.length, `page ${i}: total`).toBe(page.body.total);
      // The holder had every token but the first k moved ones, for some k.
      const k = MOVING_TOKENS - got.length;
      expect(
        [...got].sort((a, b) => a - b),
        `page ${i}`,
      ).toEqual(ids.slice(k));
    }
    expect(pages.filter((p) => p.status === 200).length, 'most pages answer').toBeGreaterThan(pages.length / 2);
  });

  it('default: the OpenAPI document lists the DID and holders routes with their parameters', async () => {
    const doc = (await (await fetch(`${dev.baseUrl}/api/v1/openapi.json`)).json()) as Json;
    const dids = doc.paths['/api/v1/apps/{id}/identity/dids/{address}']?.get;
    expect(dids?.['x-polis-scope']).toBe('read');
    expect(Object.keys(dids.responses)).toEqual(expect.arrayContaining(['200', '404', '410']));
    const holding = doc.paths['/api/v1/apps/{id}/certificates/{collectionId}/holders/{address}']?.get;
    expect(holding.parameters.map((p: Json) => p.name)).toEqual(['id', 'collectionId', 'address', 'offset', 'limit']);
    expect(holding.parameters.find((p: Json) => p.name === 'limit').schema.maximum).toBe(HOLDINGS_PAGE_MAX);
  });
});
