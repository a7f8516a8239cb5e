/**
 * The identity service through ethers against a real node: DIDs (create, resolve, update, rotate,
 * deactivate, and the refusals: only the controller, nothing changes a deactivated DID), roles
 * (the owner is admin from genesis, only admins grant and revoke, the last admin stays),
 * attestations (only an issuer attests; expired and revoked ones no longer count), the account
 * policy (the mempool refuses a sender without the required attestation or role, with the reason;
 * admins and transactions to the identity service pass; `eth_call` is not affected), a contract
 * using the service through the published interface, and that interface matching the ABI.
 * The executor-level proof that a block holding a refused transaction is invalid is in
 * packages/execution/test/identity.test.ts.
 */

import { bytesToHex, keccak256, utf8ToBytes } from '@polis/core';
import {
  DID_DOCUMENT_BYTES_MAX,
  didOf,
  IDENTITY_ABI,
  IDENTITY_ADDRESS,
  IDENTITY_ROLES,
  identityRoleId,
  parseDid,
  RECORDS_ABI,
  RECORDS_ADDRESS,
} from '@polis/execution';
import {
  Contract,
  ContractFactory,
  hexlify,
  type InterfaceAbi,
  JsonRpcProvider,
  type TransactionReceipt,
  toUtf8Bytes,
  Wallet,
  ZeroAddress,
  ZeroHash,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode, TEST_APP } from './devNode.js';
import { compileFixture } from './fixtures/compile.js';

const address = bytesToHex(IDENTITY_ADDRESS);
const KYC = identityRoleId('kyc');
const h = (s: string) => bytesToHex(keccak256(utf8ToBytes(s)));
const doc = (s: string) => hexlify(toUtf8Bytes(JSON.stringify({ '@context': 'https://www.w3.org/ns/did/v1', note: s })));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dev: DevNode;
let provider: JsonRpcProvider;
let owner: Wallet;
let issuer: Wallet;
let alice: Wallet;
let bob: Wallet;
let mallory: Wallet;
let newcomer: Wallet;
let carol: Wallet;
let identity: Contract;

/** The identity service as `wallet` sees it. */
const as = (wallet: Wallet) => identity.connect(wallet) as Contract;

/** Sends `fn(...args)` from `wallet` and waits for a successful receipt. */
async function send(wallet: Wallet, fn: string, ...args: unknown[]): Promise<TransactionReceipt | null> {
  const receipt: TransactionReceipt | null = await (await as(wallet).getFunction(fn)(...args)).wait();
  expect(receipt?.status, `${fn} succeeds`).toBe(1);
  return receipt;
}

/** The names and arguments of the identity events in a receipt. */
function eventsOf(receipt: TransactionReceipt | null): Array<[string | undefined, unknown[]]> {
  return (receipt?.logs ?? []).map((l) => {
    const p = identity.interface.parseLog(l);
    return [p?.name, p ? [...p.args] : []];
  });
}

beforeAll(async () => {
  dev = await startDevNode({ heartbeatMs: 200 });
  provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  const wallet = (i: number) => new Wallet(dev.accounts[i]?.privateKey as string, provider);
  owner = wallet(0);
  issuer = wallet(1);
  alice = wallet(2);
  bob = wallet(3);
  mallory = wallet(4);
  newcomer = wallet(5);
  carol = wallet(6);
  identity = new Contract(address, IDENTITY_ABI as InterfaceAbi, owner);
});

afterAll(async () => {
  await dev?.close();
});

describe('identity service', () => {
  it('default: a DID is created, resolved, updated, rotated and deactivated, with an event for each change', async () => {
    expect(didOf(TEST_APP.id, IDENTITY_ADDRESS)).toBe(`did:polis:demo:${address}`);
    expect(parseDid(didOf(TEST_APP.id, IDENTITY_ADDRESS))).toEqual({ appId: 'demo', address: IDENTITY_ADDRESS });
    expect(parseDid('did:web:example.com')).toBeUndefined();

    const created = await send(alice, 'createDid', doc('v1'));
    const block = await provider.getBlock(created?.blockNumber as number);
    expect(eventsOf(created)).toEqual([['DidCreated', [alice.address, alice.address, doc('v1')]]]);
    const [exists, controller, document, createdMs, updatedMs, deactivated] = await identity.getFunction('resolveDid')(
      alice.address,
    );
    expect([exists, controller, document, deactivated]).toEqual([true, alice.address, doc('v1'), false]);
    expect(createdMs / 1000n).toBe(BigInt(block?.timestamp as number));
    expect(updatedMs).toBe(createdMs);
    expect((await identity.getFunction('resolveDid')(bob.address))[0]).toBe(false);
    await expect(as(alice).getFunction('createDid').staticCall(doc('again'))).rejects.toThrow(/already has a DID/);

    // A long document is stored in chunks and read back whole; one over the bound is refused.
    const long = hexlify(new Uint8Array(DID_DOCUMENT_BYTES_MAX).fill(0x61));
    expect(eventsOf(await send(alice, 'updateDid', alice.address, long))).toEqual([['DidUpdated', [alice.address, long]]]);
    expect((await identity.getFunction('resolveDid')(alice.address))[2]).toBe(long);
    await expect(
      as(alice)
        .getFunction('updateDid')
        .staticCall(alice.address, hexlify(new Uint8Array(DID_DOCUMENT_BYTES_MAX + 1))),
    ).rejects.toThrow(/8193 bytes is over the 8192-byte limit/);
    const updated = await send(alice, 'updateDid', alice.address, doc('v2'));
    const afterUpdate = await identity.getFunction('resolveDid')(alice.address);
    expect([afterUpdate[2], afterUpdate[3]]).toEqual([doc('v2'), createdMs]);
    expect(afterUpdate[4] / 1000n).toBe(BigInt((await provider.getBlock(updated?.blockNumber as number))?.timestamp as number));

    // Key rotation: bob controls alice's DID from now on, and alice no longer does.
    const rotated = await send(alice, 'rotateDidController', alice.address, bob.address);
    expect(eventsOf(rotated)).toEqual([['DidControllerRotated', [alice.address, alice.address, bob.address]]]);
    expect((await identity.getFunction('resolveDid')(alice.address))[1]).toBe(bob.address);
    await send(bob, 'updateDid', alice.address, doc('v3'));
    expect((await identity.getFunction('resolveDid')(alice.address))[2]).toBe(doc('v3'));

    expect(eventsOf(await send(bob, 'deactivateDid', alice.address))).toEqual([['DidDeactivated', [alice.address, bob.address]]]);
    const gone = await identity.getFunction('resolveDid')(alice.address);
    expect([gone[0], gone[1], gone[2], gone[5]]).toEqual([true, bob.address, doc('v3'), true]);
  });

  it('error: only the controller updates, rotates or deactivates a DID, and a deactivated DID cannot change', async () => {
    await send(carol, 'createDid', doc('carol'));
    const fn = (w: Wallet, name: string) => as(w).getFunction(name);
    const onlyController = /only the controller of the DID of 0x[0-9a-fA-F]{40} \(0x[0-9a-fA-F]{40}\) can/;
    await expect(fn(mallory, 'updateDid').staticCall(carol.address, doc('forged'))).rejects.toThrow(onlyController);
    await expect(fn(mallory, 'rotateDidController').staticCall(carol.address, mallory.address)).rejects.toThrow(onlyController);
    await expect(fn(mallory, 'deactivateDid').staticCall(carol.address)).rejects.toThrow(onlyController);
    await expect(fn(carol, 'rotateDidController').staticCall(carol.address, ZeroAddress)).rejects.toThrow(/zero address/);
    await expect(fn(mallory, 'updateDid').staticCall(newcomer.address, doc('x'))).rejects.toThrow(/has no DID/);
    // On chain too: the forged update is mined as a failure and changes nothing.
    const forged = await fn(mallory, 'updateDid')(carol.address, doc('forged'), { gasLimit: 500_000n });
    await expect(forged.wait()).rejects.toThrow();
    expect((await identity.getFunction('resolveDid')(carol.address))[2]).toBe(doc('carol'));

    // alice's DID (deactivated above, controlled by bob): nothing changes it, and it cannot be created again.
    const permanent = /deactivated, which is permanent/;
    await expect(fn(bob, 'updateDid').staticCall(alice.address, doc('v4'))).rejects.toThrow(permanent);
    await expect(fn(bob, 'rotateDidController').staticCall(alice.address, carol.address)).rejects.toThrow(permanent);
    await expect(fn(bob, 'deactivateDid').staticCall(alice.address)).rejects.toThrow(permanent);
    await expect(fn(alice, 'createDid').staticCall(doc('new'))).rejects.toThrow(
      /was deactivated, which is permanent; it cannot be created again/,
    );
  });

  it('default: the owner is admin from genesis and grants and revokes roles; others cannot; the last admin stays', async () => {
    const hasRole = (w: Wallet, role: string) => identity.getFunction('hasRole')(w.address, role);
    expect(await hasRole(owner, IDENTITY_ROLES.admin)).toBe(true);
    expect(await hasRole(mallory, IDENTITY_ROLES.admin)).toBe(false);
    expect(IDENTITY_ROLES.issuer).toBe(hexlify(new Uint8Array([...toUtf8Bytes('issuer'), ...new Uint8Array(26)])));

    const granted = await send(owner, 'grantRole', issuer.address, IDENTITY_ROLES.issuer);
    expect(eventsOf(granted)).toEqual([['RoleGranted', [issuer.address, IDENTITY_ROLES.issuer, owner.address]]]);
    expect(await hasRole(issuer, IDENTITY_ROLES.issuer)).toBe(true);
    await expect(as(owner).getFunction('grantRole').staticCall(issuer.address, IDENTITY_ROLES.issuer)).rejects.toThrow(
      /already has the role 'issuer'/,
    );
    await expect(as(mallory).getFunction('grantRole').staticCall(mallory.address, IDENTITY_ROLES.issuer)).rejects.toThrow(
      /only an app admin can grant roles, and 0x[0-9a-fA-F]{40} does not have the role 'admin'/,
    );
    await expect(as(issuer).getFunction('revokeRole').staticCall(issuer.address, IDENTITY_ROLES.issuer)).rejects.toThrow(
      /only an app admin can revoke roles/,
    );
    await expect(as(owner).getFunction('grantRole').staticCall(bob.address, ZeroHash)).rejects.toThrow(/role cannot be zero/);

    // A custom role, granted and revoked.
    const clerk = identityRoleId('shipping-clerk');
    await send(owner, 'grantRole', bob.address, clerk);
    expect(await hasRole(bob, clerk)).toBe(true);
    expect(eventsOf(await send(owner, 'revokeRole', bob.address, clerk))).toEqual([
      ['RoleRevoked', [bob.address, clerk, owner.address]],
    ]);
    expect(await hasRole(bob, clerk)).toBe(false);
    await expect(as(owner).getFunction('revokeRole').staticCall(bob.address, clerk)).rejects.toThrow(
      /does not have the role 'shipping-clerk'/,
    );

    // A second admin can act, and be revoked; the last admin cannot be.
    await send(owner, 'grantRole', bob.address, IDENTITY_ROLES.admin);
    await send(bob, 'grantRole', bob.address, IDENTITY_ROLES.auditor);
    await send(bob, 'revokeRole', bob.address, IDENTITY_ROLES.admin);
    expect(await hasRole(bob, IDENTITY_ROLES.admin)).toBe(false);
    expect(await hasRole(bob, IDENTITY_ROLES.auditor)).toBe(true);
    await expect(as(owner).getFunction('revokeRole').staticCall(owner.address, IDENTITY_ROLES.admin)).rejects.toThrow(
      /is the last admin and cannot be revoked/,
    );
  });

  it('error: only an issuer attests; an attestation counts until it expires or is revoked', async () => {
    // A non-issuer is refused, in a simulation and on chain.
    const notIssuer = /only a registered issuer can attest, and 0x[0-9a-fA-F]{40} does not have the role 'issuer'/;
    await expect(as(mallory).getFunction('attest').staticCall(mallory.address, KYC, 0n, h('self'))).rejects.toThrow(notIssuer);
    const forged = await as(mallory).getFunction('attest')(mallory.address, KYC, 0n, h('self'), { gasLimit: 500_000n });
    await expect(forged.wait()).rejects.toThrow();
    expect((await identity.getFunction('attestation')(mallory.address, KYC))[1]).toBe(ZeroAddress);

    const until = BigInt(Date.now() + 3_600_000);
    const attested = await send(issuer, 'attest', alice.address, KYC, until, h('passport #1'));
    expect(eventsOf(attested)).toEqual([['Attested', [alice.address, KYC, issuer.address, until, h('passport #1')]]]);
    const block = await provider.getBlock(attested?.blockNumber as number);
    const [valid, by, issuedAt, expiresAtMs, dataHash, revoked] = await identity.getFunction('attestation')(alice.address, KYC);
    expect([valid, by, expiresAtMs, dataHash, revoked]).toEqual([true, issuer.address, until, h('passport #1'), false]);
    expect(issuedAt / 1000n).toBe(BigInt(block?.timestamp as number));
    await expect(
      as(issuer)
        .getFunction('attest')
        .staticCall(bob.address, KYC, BigInt(Date.now() - 1_000), ZeroHash),
    ).rejects.toThrow(/give a later expiry, or 0 for none/);

    // Expiry: valid until the block time passes it.
    const soon = BigInt(Date.now() + 3_000);
    await send(issuer, 'attest', carol.address, KYC, soon, h('short'));
    expect((await identity.getFunction('attestation')(carol.address, KYC))[0]).toBe(true);
    await sleep(Number(soon) - Date.now() + 50);
    const expired = await identity.getFunction('attestation')(carol.address, KYC);
    expect([expired[0], expired[3], expired[5]]).toEqual([false, soon, false]);

    // Revocation: by its issuer or an admin only.
    await expect(as(mallory).getFunction('revokeAttestation').staticCall(alice.address, KYC)).rejects.toThrow(
      /only its issuer \(0x[0-9a-fA-F]{40}\) or an app admin can revoke the 'kyc' attestation/,
    );
    expect(eventsOf(await send(issuer, 'revokeAttestation', alice.address, KYC))).toEqual([
      ['AttestationRevoked', [alice.address, KYC, issuer.address]],
    ]);
    const gone = await identity.getFunction('attestation')(alice.address, KYC);
    expect([gone[0], gone[5]]).toEqual([false, true]);
    await expect(as(issuer).getFunction('revokeAttestation').staticCall(alice.address, KYC)).rejects.toThrow(/already revoked/);
    // A new attestation replaces a revoked one; an admin may revoke an issuer's attestation.
    await send(issuer, 'attest', alice.address, KYC, 0n, h('passport #2'));
    expect((await identity.getFunction('attestation')(alice.address, KYC))[0]).toBe(true);
    await send(owner, 'revokeAttestation', alice.address, KYC);
    expect((await identity.getFunction('attestation')(alice.address, KYC))[0]).toBe(false);
  });

  it('behavior: a contract reads roles and attestations through the interface and holds its own DID', async () => {
    const { abi, bytecode } = await compileFixture('IdentityGate.sol', 'IdentityGate');
    const gate = (await new ContractFactory(abi, bytecode, owner).deploy(KYC)) as Contract;
    await gate.waitForDeployment();
    const gateAddress = await gate.getAddress();
    expect(await gate.getFunction('isIssuer')(issuer.address)).toBe(true);
    expect(await gate.getFunction('isIssuer')(mallory.address)).toBe(false);
    await expect((gate.connect(bob) as Contract).getFunction('enter').staticCall()).rejects.toThrow(
      /IdentityGate: no valid attestation/,
    );
    await send(issuer, 'attest', bob.address, KYC, 0n, h('bob'));
    await (await (gate.connect(bob) as Contract).getFunction('enter')()).wait();
    expect(await gate.getFunction('entries')(bob.address)).toBe(1n);
    await (await gate.getFunction('createOwnDid')(doc('gate'))).wait();
    const [exists, controller] = await identity.getFunction('resolveDid')(gateAddress);
    expect([exists, controller]).toEqual([true, gateAddress]);
  });

  it('error: the account policy refuses senders without the required attestation or role in the mempool; admins and the identity service pass; eth_call does not', async () => {
    const records = new Contract(bytesToHex(RECORDS_ADDRESS), RECORDS_ABI as InterfaceAbi, provider);
    const record = (w: Wallet, what: string) =>
      (records.connect(w) as Contract).getFunction('record')(h(what), '0x', { gasLimit: 200_000n });
    await expect(as(mallory).getFunction('setPolicy').staticCall(ZeroHash, KYC)).rejects.toThrow(
      /only an app admin can set the account policy/,
    );
    const set = await send(owner, 'setPolicy', ZeroHash, KYC);
    expect(eventsOf(set)).toEqual([['PolicySet', [ZeroHash, KYC, owner.address]]]);
    expect([...(await identity.getFunction('policy')())]).toEqual([ZeroHash, KYC]);

    // The newcomer has no attestation: the mempool refuses it, saying what is missing.
    await expect(record(newcomer, 'refused')).rejects.toThrow(
      /not permitted to transact on this ledger: the app's policy requires a valid 'kyc' attestation of every sender, and 0x[0-9a-f]{40} has none; a registered issuer attests it/,
    );
    expect([...(await identity.getFunction('checkPolicy')(newcomer.address))]).toEqual([
      false,
      expect.stringMatching(/requires a valid 'kyc' attestation .* has none/),
    ]);
    // eth_call is not affected.
    expect(await (records.connect(newcomer) as Contract).getFunction('record').staticCall(h('call'), '0x')).toEqual([]);
    // A transaction to the identity service passes: the newcomer creates a DID.
    await send(newcomer, 'createDid', doc('newcomer'));
    // The owner is an admin and needs no attestation.
    expect((await (await record(owner, 'by the owner')).wait())?.status).toBe(1);

    // Attested, the newcomer transacts; once the attestation is revoked, it no longer can.
    await send(issuer, 'attest', newcomer.address, KYC, 0n, h('newcomer'));
    expect([...(await identity.getFunction('checkPolicy')(newcomer.address))]).toEqual([true, '']);
    expect((await (await record(newcomer, 'attested')).wait())?.status).toBe(1);
    await send(issuer, 'revokeAttestation', newcomer.address, KYC);
    await expect(record(newcomer, 'revoked')).rejects.toThrow(
      /'kyc' attestation of every sender, and 0x[0-9a-f]{40} has one that was revoked/,
    );
    // carol's attestation expired above.
    await expect(record(carol, 'expired')).rejects.toThrow(
      /'kyc' attestation of every sender, and 0x[0-9a-f]{40} has one that expired at/,
    );

    // A required role: bob (attested above) lacks 'member' until an admin grants it.
    await send(owner, 'setPolicy', IDENTITY_ROLES.member, KYC);
    await expect(record(bob, 'no member')).rejects.toThrow(
      /requires the role 'member' of every sender, and 0x[0-9a-f]{40} does not have it/,
    );
    await send(owner, 'grantRole', bob.address, IDENTITY_ROLES.member);
    expect((await (await record(bob, 'member')).wait())?.status).toBe(1);

    // No policy: everyone transacts again.
    await send(owner, 'setPolicy', ZeroHash, ZeroHash);
    expect((await (await record(mallory, 'open again')).wait())?.status).toBe(1);
  });

  it('behavior: the published interface has the same ABI', async () => {
    const { abi } = await compileFixture('IPolisIdentity.sol', 'IPolisIdentity');
    const canonical = (a: readonly unknown[]) =>
      (a as Array<Record<string, unknown>>)
        .map((x) => new Contract(address, [x as never]).interface.fragments[0]?.format('full'))
        .sort();
    expect(canonical(abi)).toEqual(canonical(IDENTITY_ABI as unknown as unknown[]));
  });
});
