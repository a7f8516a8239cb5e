/**
 * Governance transactions: their wire format, signing and signature verification.
 *
 * Wire format (canonical RLP): `[version = 1, chainId, signerKind, nonce, body, signature]`, where
 * signerKind is 0 for secp256k1 and 1 for Ed25519. The signed hash is
 * `keccak256(rlp(["polis-governance-v1", chainId, signerKind, nonce, body]))`: the domain tag keeps
 * it apart from every other signature in Polis, the chain id from other networks.
 *
 * secp256k1 (accounts): the signature is 65 bytes `r || s || v` with v the recovery id (0 or 1)
 * and s in the lower half of the curve order, so a signature has one form (EIP-2); the signer is
 * the recovered address. Ed25519 (nodes): only `nodeApply` may be signed this way, by the key its
 * body names; the 64-byte signature is verified against that key.
 */
import {
  bytesToBigInt,
  bytesToHex,
  concatBytes,
  createEd25519Signer,
  ed25519Verify,
  hexToBytes,
  KeyError,
  keccak256,
  publicKeyToAddress,
  type RLPInput,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  rlpEncode,
  secp256k1Recover,
  secp256k1Sign,
  utf8ToBytes,
} from '@polis/core';
import { bodyCodec, chainIdCodec, heightCodec } from './codec.js';
import { GovernanceTxError, GovernanceTxErrorCode, wrapCodecErrors } from './errors.js';
import { GOV_SIGNING_DOMAIN, GOV_TX_BYTES_MAX, GOV_TX_VERSION } from './params.js';
import type { GovTx, Signer, SignerKind, UnsignedGovTx } from './types.js';

const DOMAIN = utf8ToBytes(GOV_SIGNING_DOMAIN);
const KIND_TO_BYTE: Record<SignerKind, number> = { secp256k1: 0, ed25519: 1 };
const SIGNATURE_LENGTH: Record<SignerKind, number> = { secp256k1: 65, ed25519: 64 };
// Half the order of secp256k1's group: EIP-2 signatures have s at or below it.
const SECP256K1_N_HALF = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

function malformed(details: { field: string; reason: string }, cause?: unknown): GovernanceTxError {
  return new GovernanceTxError(
    { code: GovernanceTxErrorCode.MALFORMED, field: details.field, reason: details.reason },
    `malformed governance transaction: "${details.field}" ${details.reason}`,
    { hint: 'Build it with signGovTxSecp256k1 or signGovTxEd25519 and send the bytes encodeGovTx returns', cause },
  );
}

function badSignature(reason: string, cause?: unknown): GovernanceTxError {
  return new GovernanceTxError({ code: GovernanceTxErrorCode.BAD_SIGNATURE, reason }, `bad governance signature: ${reason}`, {
    hint: 'Sign the transaction exactly as sent, for this chain id and nonce, with the key of its signer',
    cause,
  });
}

function checkSignerKind(kind: unknown): SignerKind {
  if (kind !== 'secp256k1' && kind !== 'ed25519')
    throw malformed({ field: 'tx.signerKind', reason: 'should be secp256k1 or ed25519' });
  return kind;
}

/** The RLP of the fields every signature covers, validated; throws MALFORMED naming the bad field. */
function signedFields(tx: UnsignedGovTx, kind: SignerKind): RLPInput[] {
  return wrapCodecErrors(
    () => [
      chainIdCodec.encode(tx.chainId, 'tx.chainId'),
      KIND_TO_BYTE[kind],
      heightCodec.encode(tx.nonce, 'tx.nonce'),
      bodyCodec.encode(tx.body, 'tx.body'),
    ],
    malformed,
  );
}

/** The 32-byte hash a signer of kind `signerKind` signs for `tx`. */
export function govTxSigningHash(tx: UnsignedGovTx, signerKind: SignerKind): Uint8Array {
  const kind = checkSignerKind(signerKind);
  return keccak256(rlpEncode([DOMAIN, ...signedFields(tx, kind)]));
}

/** The canonical form of an unsigned transaction (addresses lower-case, absent fields left out). */
function canonicalUnsigned(tx: UnsignedGovTx, kind: SignerKind): UnsignedGovTx {
  const body = signedFields(tx, kind)[3] as RLPInput;
  return wrapCodecErrors(
    () => ({ chainId: tx.chainId, nonce: tx.nonce, body: bodyCodec.decode(rlpDecode(rlpEncode(body)), 'tx.body') }),
    malformed,
  );
}

/** Signs a transaction with an account's secp256k1 private key (admins, app owners). */
export function signGovTxSecp256k1(tx: UnsignedGovTx, privateKey: Uint8Array): GovTx {
  const canonical = canonicalUnsigned(tx, 'secp256k1');
  checkKindFitsBody(canonical, 'secp256k1');
  const sig = secp256k1Sign(govTxSigningHash(canonical, 'secp256k1'), privateKey);
  // libsecp256k1 gives recovery ids 2 and 3 only when r overflows the order (probability ~2^-127).
  if (sig.recovery > 1) throw badSignature('the signature has a recovery id above 1; sign again with another nonce');
  return { ...canonical, signerKind: 'secp256k1', signature: concatBytes(sig.bytes, Uint8Array.of(sig.recovery)) };
}

/**
 * Signs a node's body (`nodeApply`, `anchorAudit`) with the node's Ed25519 seed; the node the body
 * names must be the seed's.
 */
export function signGovTxEd25519(tx: UnsignedGovTx, seed: Uint8Array): GovTx {
  const canonical = canonicalUnsigned(tx, 'ed25519');
  checkKindFitsBody(canonical, 'ed25519');
  const signer = createEd25519Signer(seed);
  const named = nodeOfBody(canonical.body);
  if (named !== bytesToHex(signer.publicKey)) {
    throw badSignature(`the seed's public key is not the node the body names (${named})`);
  }
  return { ...canonical, signerKind: 'ed25519', signature: signer.sign(govTxSigningHash(canonical, 'ed25519')) };
}

/** The node a node-signed body names: the key its Ed25519 signature must verify against. */
function nodeOfBody(body: UnsignedGovTx['body']): string | undefined {
  if (body.type === 'nodeApply') return body.publicKey;
  if (body.type === 'anchorAudit') return body.node;
  return undefined;
}

function checkKindFitsBody(tx: UnsignedGovTx, kind: SignerKind): void {
  const byNode = nodeOfBody(tx.body) !== undefined;
  if (byNode !== (kind === 'ed25519')) {
    throw new GovernanceTxError(
      { code: GovernanceTxErrorCode.WRONG_SIGNER_KIND, body: tx.body.type, signerKind: kind },
      byNode
        ? `a ${tx.body.type} must be signed with the Ed25519 key of the node it names`
        : `a ${tx.body.type} must be signed with an account's secp256k1 key, not Ed25519`,
      { hint: byNode ? 'Sign it with signGovTxEd25519 and the node key' : 'Sign it with signGovTxSecp256k1' },
    );
  }
}

/** Encodes a signed transaction for the wire; throws MALFORMED naming the first bad field. */
export function encodeGovTx(tx: GovTx): Uint8Array {
  const kind = checkSignerKind(tx.signerKind);
  const fields = signedFields(tx, kind);
  const length = SIGNATURE_LENGTH[kind];
  if (!(tx.signature instanceof Uint8Array) || tx.signature.length !== length) {
    throw malformed({ field: 'tx.signature', reason: `should be ${length} bytes for ${kind}` });
  }
  const bytes = rlpEncode([GOV_TX_VERSION, ...fields, tx.signature]);
  if (bytes.length > GOV_TX_BYTES_MAX) {
    throw malformed({ field: 'tx', reason: `is ${bytes.length} bytes, over the ${GOV_TX_BYTES_MAX}-byte limit` });
  }
  return bytes;
}

/**
 * Decodes a transaction from the wire. Every malformed input throws a `GovernanceTxError`
 * (MALFORMED naming the field, or UNSUPPORTED_VERSION), never anything else. Decoding does not
 * check the signature: `verifyGovTxSignature` does.
 */
export function decodeGovTx(bytes: Uint8Array): GovTx {
  if (!(bytes instanceof Uint8Array)) throw malformed({ field: 'tx', reason: 'should be bytes' });
  return wrapCodecErrors(() => {
    const fields = readList(rlpDecode(bytes, GOV_TX_BYTES_MAX), 'tx');
    const version = readUint(fields[0], 'tx.version');
    if (version !== GOV_TX_VERSION) {
      throw new GovernanceTxError(
        { code: GovernanceTxErrorCode.UNSUPPORTED_VERSION, version },
        `governance transaction version ${version} is not supported (this node reads version ${GOV_TX_VERSION})`,
        { hint: 'Upgrade the node, or send a version 1 transaction' },
      );
    }
    readList(fields, 'tx', 6);
    const chainId = chainIdCodec.decode(fields[1], 'tx.chainId');
    const kindByte = readUint(fields[2], 'tx.signerKind');
    if (kindByte !== 0 && kindByte !== 1)
      throw malformed({ field: 'tx.signerKind', reason: 'should be 0 (secp256k1) or 1 (ed25519)' });
    const signerKind: SignerKind = kindByte === 0 ? 'secp256k1' : 'ed25519';
    const nonce = heightCodec.decode(fields[3], 'tx.nonce');
    const body = bodyCodec.decode(fields[4], 'tx.body');
    const signature = readBytes(fields[5], 'tx.signature', SIGNATURE_LENGTH[signerKind]);
    return { chainId, signerKind, nonce, body, signature };
  }, malformed);
}

/** The transaction's id: keccak-256 of its wire bytes. */
export function govTxHash(tx: GovTx | Uint8Array): Uint8Array {
  return keccak256(tx instanceof Uint8Array ? tx : encodeGovTx(tx));
}

/**
 * Checks a transaction's signature and returns its signer. Throws WRONG_SIGNER_KIND when the
 * signer kind does not fit the body, BAD_SIGNATURE when the signature does not verify.
 */
export function verifyGovTxSignature(tx: GovTx): Signer {
  const kind = checkSignerKind(tx.signerKind);
  checkKindFitsBody(tx, kind);
  const hash = govTxSigningHash(tx, kind);
  const sig = tx.signature;
  if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_LENGTH[kind]) {
    throw malformed({ field: 'tx.signature', reason: `should be ${SIGNATURE_LENGTH[kind]} bytes for ${kind}` });
  }
  if (kind === 'ed25519') {
    const node = nodeOfBody(tx.body) as string;
    if (!ed25519Verify(hexToBytes(node), hash, sig)) {
      throw badSignature(`the Ed25519 signature does not verify against ${node}`);
    }
    return { kind, id: node.toLowerCase() as Signer['id'] };
  }
  const v = sig[64] as number;
  if (v > 1) throw badSignature(`the recovery id (last byte) is ${v}; it should be 0 or 1`);
  if (bytesToBigInt(sig.subarray(32, 64)) > SECP256K1_N_HALF) {
    throw badSignature('s is in the upper half of the curve order; use the low-s form (EIP-2)');
  }
  let publicKey: Uint8Array;
  try {
    publicKey = secp256k1Recover(hash, sig.subarray(0, 64), v);
  } catch (cause) {
    if (cause instanceof KeyError) throw badSignature('no public key recovers from the signature', cause);
    throw cause;
  }
  return { kind, id: bytesToHex(publicKeyToAddress(publicKey)) as Signer['id'] };
}
