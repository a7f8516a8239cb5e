/**
 * Transactions: signing, verification, replay protection and the errors of transactions that
 * can never be included (they throw, and the state is untouched).
 */
import { bytesToHex, concatBytes, hexToBytes, keccak256, rlpDecode, rlpEncode, utf8ToBytes } from '@polis/core';
import { describe, expect, it } from 'vitest';
import {
  applyGovTx,
  checkGovTx,
  decodeGovTx,
  encodeGovTx,
  type GovBody,
  GovernanceErrorCode,
  GovernanceTxErrorCode,
  type GovTx,
  govTxHash,
  govTxSigningHash,
  nonceOf,
  ReceiptErrorCode,
  signGovTxEd25519,
  signGovTxSecp256k1,
  verifyGovTxSignature,
} from '../src/index.js';
import {
  ADMINS,
  Chain,
  DAY_MS,
  expectOk,
  NODES,
  nodeId,
  STANDARD,
  STRANGER,
  SYSTEM_CHAIN_ID,
  T0,
  thrownCode,
} from './helpers.js';

const plan: GovBody = { type: 'propose', action: { type: 'setPlan', name: 'gold', limits: STANDARD }, expiresAt: T0 + DAY_MS };
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

describe('signing', () => {
  it('default: a secp256k1 signature recovers the signer address', () => {
    const tx = signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body: plan }, ADMINS[0].privateKey);
    expect(tx.signature).toHaveLength(65);
    expect(verifyGovTxSignature(tx)).toEqual({ kind: 'secp256k1', id: ADMINS[0].address });
    expect(verifyGovTxSignature(decodeGovTx(encodeGovTx(tx)))).toEqual({ kind: 'secp256k1', id: ADMINS[0].address });
  });

  it('default: the signed hash is keccak256(rlp(["polis-governance-v1", chainId, signerKind, nonce, body]))', () => {
    const tx = signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce: 5, body: plan }, ADMINS[0].privateKey);
    const wire = rlpDecode(encodeGovTx(tx)) as Uint8Array[];
    const expected = keccak256(rlpEncode([utf8ToBytes('polis-governance-v1'), SYSTEM_CHAIN_ID, 0, 5, wire[4] as Uint8Array]));
    expect(bytesToHex(govTxSigningHash(tx, 'secp256k1'))).toBe(bytesToHex(expected));
    expect(wire[0]).toEqual(Uint8Array.of(1));
  });

  it('default: a node signs its own nodeApply with Ed25519', () => {
    const node = nodeId('newcomer');
    const body: GovBody = {
      type: 'nodeApply',
      publicKey: node.publicKey,
      name: 'newcomer',
      addrs: [],
      operator: STRANGER.address,
      region: '',
    };
    const tx = signGovTxEd25519({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body }, node.seed);
    expect(tx.signature).toHaveLength(64);
    expect(verifyGovTxSignature(tx)).toEqual({ kind: 'ed25519', id: node.publicKey });
  });

  it('behavior: signing canonicalizes hex to lower case, so either case gives the same transaction', () => {
    const upper = {
      ...plan,
      action: { type: 'addAdmin' as const, address: STRANGER.address.toUpperCase().replace('0X', '0x') as `0x${string}` },
    };
    const a = signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body: upper }, ADMINS[0].privateKey);
    const b = signGovTxSecp256k1(
      { chainId: SYSTEM_CHAIN_ID, nonce: 0, body: { ...plan, action: { type: 'addAdmin', address: STRANGER.address } } },
      ADMINS[0].privateKey,
    );
    expect(a).toEqual(b);
    expect(bytesToHex(govTxHash(a))).toBe(bytesToHex(keccak256(encodeGovTx(a))));
  });

  it('error: Ed25519 may only sign nodeApply, and nodeApply only with Ed25519 (WRONG_SIGNER_KIND)', () => {
    const node = NODES[0];
    expect(thrownCode(() => signGovTxEd25519({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body: plan }, node.seed))).toBe(
      GovernanceTxErrorCode.WRONG_SIGNER_KIND,
    );
    const apply: GovBody = {
      type: 'nodeApply',
      publicKey: node.publicKey,
      name: 'n',
      addrs: [],
      operator: STRANGER.address,
      region: '',
    };
    expect(thrownCode(() => signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body: apply }, STRANGER.privateKey))).toBe(
      GovernanceTxErrorCode.WRONG_SIGNER_KIND,
    );
    // Built by hand: a secp256k1-signed transaction whose body is a nodeApply.
    const bySecp: GovTx = {
      ...signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body: plan }, STRANGER.privateKey),
      body: apply,
    };
    expect(thrownCode(() => verifyGovTxSignature(bySecp))).toBe(GovernanceTxErrorCode.WRONG_SIGNER_KIND);
    const chain = Chain.genesis();
    expect(thrownCode(() => chain.apply(bySecp))).toBe(GovernanceTxErrorCode.WRONG_SIGNER_KIND);
  });

  it("error: a nodeApply signed by another node's key (BAD_SIGNATURE)", () => {
    const [a, b] = NODES;
    const body: GovBody = {
      type: 'nodeApply',
      publicKey: a.publicKey,
      name: 'n',
      addrs: [],
      operator: STRANGER.address,
      region: '',
    };
    expect(thrownCode(() => signGovTxEd25519({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body }, b.seed))).toBe(
      GovernanceTxErrorCode.BAD_SIGNATURE,
    );
    const signedByB = signGovTxEd25519({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body: { ...body, publicKey: b.publicKey } }, b.seed);
    const forged: GovTx = { ...signedByB, body };
    expect(thrownCode(() => verifyGovTxSignature(forged))).toBe(GovernanceTxErrorCode.BAD_SIGNATURE);
  });
});

describe('inclusion', () => {
  it('error: a whole transaction replayed is refused (BAD_NONCE) and the state is untouched', () => {
    const chain = Chain.genesis();
    const tx = chain.sign(ADMINS[0], plan);
    expectOk(chain.apply(tx).receipt);
    const before = chain.state;
    expect(thrownCode(() => chain.apply(tx))).toBe(GovernanceTxErrorCode.BAD_NONCE);
    expect(chain.state).toBe(before);
  });

  it('error: a nonce ahead of the next one is refused (BAD_NONCE) with the expected nonce', () => {
    const chain = Chain.genesis();
    const tx = signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce: 1, body: plan }, ADMINS[0].privateKey);
    try {
      checkGovTx(chain.state, tx, chain.ctx());
      expect.unreachable('a future nonce must be refused');
    } catch (err) {
      expect((err as { type: unknown }).type).toEqual({
        code: GovernanceTxErrorCode.BAD_NONCE,
        signer: ADMINS[0].address,
        expected: 0,
        got: 1,
      });
      expect((err as Error).message).toMatch(/lower nonces first/);
    }
  });

  it('error: a signature taken from one transaction and put on another body (BAD_SIGNATURE)', () => {
    const chain = Chain.genesis();
    const honest = chain.sign(ADMINS[0], plan);
    const other: GovBody = { type: 'approve', proposalId: 1 };
    const transplanted: GovTx = { ...honest, body: other };
    // secp256k1 recovers *some* address from any valid signature: it is not the admin's, and
    // that stranger has nonce 0 and is not an admin. Either way the admin's approval cannot be forged.
    let code: string | undefined;
    let signer: string | undefined;
    try {
      signer = checkGovTx(chain.state, transplanted, chain.ctx()).signer.id;
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    if (code === undefined) {
      expect(signer).not.toBe(ADMINS[0].address);
      const { receipt } = applyGovTx(chain.state, transplanted, chain.ctx());
      expect(receipt.error?.code).toBe(ReceiptErrorCode.NOT_ADMIN);
    } else {
      expect(code).toBe(GovernanceTxErrorCode.BAD_SIGNATURE);
    }
    // With Ed25519 the transplant always fails outright.
    const node = NODES[0];
    const apply: GovBody = {
      type: 'nodeApply',
      publicKey: node.publicKey,
      name: 'n',
      addrs: [],
      operator: STRANGER.address,
      region: '',
    };
    const signed = signGovTxEd25519({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body: apply }, node.seed);
    const moved: GovTx = { ...signed, body: { ...apply, name: 'renamed' } };
    expect(thrownCode(() => applyGovTx(chain.state, moved, chain.ctx()))).toBe(GovernanceTxErrorCode.BAD_SIGNATURE);
  });

  it('error: a signature over another nonce or chain does not verify as the signer (BAD_SIGNATURE or another signer)', () => {
    const chain = Chain.genesis();
    const tx = chain.sign(ADMINS[0], plan);
    const renonced: GovTx = { ...tx, nonce: 1 };
    let recovered: string | undefined;
    try {
      recovered = verifyGovTxSignature(renonced).id;
    } catch (err) {
      expect((err as { code?: string }).code).toBe(GovernanceTxErrorCode.BAD_SIGNATURE);
    }
    expect(recovered).not.toBe(ADMINS[0].address);
  });

  it('error: wrong chain id (WRONG_CHAIN)', () => {
    const chain = Chain.genesis();
    const tx = signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID + 1, nonce: 0, body: plan }, ADMINS[0].privateKey);
    expect(thrownCode(() => chain.apply(tx))).toBe(GovernanceTxErrorCode.WRONG_CHAIN);
    expect(nonceOf(chain.state, ADMINS[0].address)).toBe(0);
  });

  it('error: a high-s signature (malleated) is refused (BAD_SIGNATURE)', () => {
    const chain = Chain.genesis();
    const tx = chain.sign(ADMINS[0], plan);
    const s = BigInt(bytesToHex(tx.signature.subarray(32, 64)));
    const highS = hexToBytes(`0x${(SECP256K1_N - s).toString(16).padStart(64, '0')}`);
    const v = (tx.signature[64] as number) ^ 1;
    const malleated: GovTx = { ...tx, signature: concatBytes(tx.signature.subarray(0, 32), highS, Uint8Array.of(v)) };
    expect(thrownCode(() => chain.apply(malleated))).toBe(GovernanceTxErrorCode.BAD_SIGNATURE);
  });

  it('error: a recovery id other than 0 or 1, or an r that recovers nothing (BAD_SIGNATURE)', () => {
    const chain = Chain.genesis();
    const tx = chain.sign(ADMINS[0], plan);
    const v2: GovTx = { ...tx, signature: concatBytes(tx.signature.subarray(0, 64), Uint8Array.of(2)) };
    expect(thrownCode(() => chain.apply(v2))).toBe(GovernanceTxErrorCode.BAD_SIGNATURE);
    const zero: GovTx = { ...tx, signature: new Uint8Array(65) };
    expect(thrownCode(() => chain.apply(zero))).toBe(GovernanceTxErrorCode.BAD_SIGNATURE);
  });

  it('behavior: a failed receipt consumes the nonce, so the same transaction cannot be replayed either', () => {
    const chain = Chain.genesis();
    const tx = chain.sign(STRANGER, plan);
    expect(chain.apply(tx).receipt.error?.code).toBe(ReceiptErrorCode.NOT_ADMIN);
    expect(nonceOf(chain.state, STRANGER.address)).toBe(1);
    expect(thrownCode(() => chain.apply(tx))).toBe(GovernanceTxErrorCode.BAD_NONCE);
  });

  it('behavior: applying the object or its wire bytes gives the same result', () => {
    const chain = Chain.genesis();
    const tx = chain.sign(ADMINS[0], plan);
    const a = applyGovTx(chain.state, tx, chain.ctx());
    const b = applyGovTx(chain.state, encodeGovTx(tx), chain.ctx());
    expect(a).toEqual(b);
  });

  it('error: a context that does not fit the state throws INVALID_CONTEXT', () => {
    const chain = Chain.genesis();
    const tx = chain.sign(ADMINS[0], plan);
    expect(thrownCode(() => applyGovTx(chain.state, tx, { ...chain.ctx(), chainId: 1 }))).toBe(
      GovernanceErrorCode.INVALID_CONTEXT,
    );
    expect(thrownCode(() => applyGovTx(chain.state, tx, { ...chain.ctx(), height: -1 }))).toBe(
      GovernanceErrorCode.INVALID_CONTEXT,
    );
    expect(thrownCode(() => applyGovTx(chain.state, tx, { ...chain.ctx(), time: 1.5 }))).toBe(
      GovernanceErrorCode.INVALID_CONTEXT,
    );
  });

  it('behavior: nonces are per signer', () => {
    const chain = Chain.genesis();
    chain.send(ADMINS[0], { ...plan, expiresAt: chain.time + DAY_MS });
    chain.send(ADMINS[1], { type: 'approve', proposalId: 1 });
    expect(nonceOf(chain.state, ADMINS[0].address)).toBe(1);
    expect(nonceOf(chain.state, ADMINS[1].address)).toBe(1);
    expect(nonceOf(chain.state, ADMINS[2].address)).toBe(0);
  });
});
