/**
 * The SDK's typed functions for the built-in services, against a real node in key trust mode:
 * identity (DIDs, roles, attestations), certificates (collections, mint, lookup by owner, freeze)
 * and records (add, read, list, proven read), with the gateway's refusals surfacing as
 * `ServiceCallError` with their reasons.
 */
import { randomBytes } from 'node:crypto';
import { bytesToHex, keccak256, utf8ToBytes } from '@polis/core';
import { IDENTITY_ABI, IDENTITY_ADDRESS } from '@polis/execution';
import { Contract, type InterfaceAbi, JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, newCustodialAccount, startDevNode, TEST_APP } from '../../node/test/devNode.js';
import { createServicesClient, roleId, ServiceCallError, type ServicesClient } from '../src/index.js';

type Hex = `0x${string}`;
let dev: DevNode;
let sdk: ServicesClient;
let issuer: Hex;
let holder: Hex;

beforeAll(async () => {
  dev = await startDevNode({ heartbeatMs: 200, keyTrust: true });
  sdk = createServicesClient({ baseUrl: dev.baseUrl, appId: TEST_APP.id, apiKey: dev.apiKey });
  issuer = await newCustodialAccount(dev);
  holder = await newCustodialAccount(dev);
  // The app's owner (dev account 0, an identity admin from genesis) makes the first account an issuer.
  const provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  const owner = new Wallet(dev.accounts[0]?.privateKey as string, provider);
  const identity = new Contract(bytesToHex(IDENTITY_ADDRESS), IDENTITY_ABI as InterfaceAbi, owner);
  await (await identity.getFunction('grantRole')(issuer, roleId('issuer'))).wait();
});

afterAll(async () => {
  await dev?.close();
});

describe('services client', () => {
  it('default: identity: a DID is created and resolved, an issuer attests, and a non-issuer is refused with the reason', async () => {
    const doc = bytesToHex(utf8ToBytes('{"service":[]}'));
    expect((await sdk.identity.createDid({ from: issuer, document: doc })).status).toBe('committed');
    expect(await sdk.identity.resolveDid(issuer)).toMatchObject({ exists: true, controller: expect.any(String), document: doc });
    expect(await sdk.identity.hasRole(issuer, 'issuer')).toBe(true);
    expect(await sdk.identity.hasRole(holder, 'issuer')).toBe(false);
    const kyc = bytesToHex(keccak256(utf8ToBytes('kyc')));
    await sdk.identity.attest({ from: issuer, subject: holder, kind: kyc });
    expect(await sdk.identity.attestation(holder, kyc)).toMatchObject({ valid: true, revoked: false });
    const refused = await sdk.identity.attest({ from: holder, subject: issuer, kind: kyc }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ServiceCallError);
    expect((refused as ServiceCallError).status).toBe(422);
    expect((refused as ServiceCallError).message).toMatch(/issuer/);
  });

  it('default: certificates: a collection is created and minted into, found by owner, and a frozen certificate cannot move', async () => {
    await sdk.certificates.createCollection({ from: issuer, name: 'Diplomas', symbol: 'DIP', kind: 0, transferable: true });
    const count = BigInt((await sdk.call<{ result: string }>('certificates', 'collectionCount')).result);
    expect((await sdk.certificates.collection(count)).issuer.toLowerCase()).toBe(issuer.toLowerCase());
    await sdk.certificates.mint({ from: issuer, collectionId: count, to: holder, tokenId: 7, uri: 'ipfs://diploma-7' });
    expect(await sdk.certificates.tokensOf(count, holder)).toEqual([7n]);
    expect((await sdk.certificates.ownerOf(count, 7)).toLowerCase()).toBe(holder.toLowerCase());
    expect(await sdk.certificates.tokenURI(count, 7)).toBe('ipfs://diploma-7');
    await sdk.certificates.freeze({ from: issuer, collectionId: count, tokenId: 7 });
    expect(await sdk.certificates.isFrozen(count, 7)).toBe(true);
    const moved = await sdk.certificates
      .transfer({ from: holder, collectionId: count, to: issuer, tokenId: 7 })
      .catch((e: unknown) => e);
    expect((moved as ServiceCallError).message).toMatch(/frozen/);
    await sdk.certificates.unfreeze({ from: issuer, collectionId: count, tokenId: 7 });
    await sdk.certificates.transfer({ from: holder, collectionId: count, to: issuer, tokenId: 7 });
    expect(await sdk.certificates.tokensOf(count, holder)).toEqual([]);
    expect(await sdk.certificates.tokensOf(count, issuer)).toEqual([7n]);
  });

  it('default: records: add, get, list and a proven read against the validator set', async () => {
    const hash = bytesToHex(keccak256(utf8ToBytes('sdk record')));
    const tag = roleId('invoices');
    await sdk.records.add({ from: holder, hash, tag });
    expect(await sdk.records.get(hash)).toMatchObject({ exists: true, tag });
    expect((await sdk.records.list({ tag })).map((r) => r.hash)).toEqual([hash]);
    const proven = await sdk.records.prove(hash, [{ publicKey: dev.node.publicKey, power: 1 }]);
    expect(proven).toMatchObject({ hash, submitter: holder.toLowerCase(), tag });
    await expect(sdk.records.prove(hash, [{ publicKey: bytesToHex(randomBytes(32)), power: 1 }])).rejects.toThrow(
      /does not verify/,
    );
    expect(() => roleId('')).toThrow(/1 to 32 bytes/);
  });
});
