/**
 * The binary sparse Merkle tree behind `polis_getProof`: its hashing rules and the pure proof
 * verifier. Nothing here touches storage, so a client (or the SDK) can check a proof against
 * the state root of a certified header with this file and SHA-256 alone.
 *
 * The tree has 2^256 leaf positions. Keys and hashes:
 * - an account's key is sha256(address); its value hash is sha256(RLP [nonce, balance, codeHash]);
 * - a storage slot's key is sha256(address || slot); its value hash is sha256(value), the value
 *   being the canonical unsigned integer (no leading zero bytes). Zero slots are absent.
 * - a leaf hashes as sha256(0x00 || key || valueHash); an inner node as sha256(0x01 || left || right);
 *   an empty subtree is 32 zero bytes.
 * - the tree is compressed: a subtree that holds one leaf is that leaf, so a leaf sits at the
 *   shallowest depth where it is alone, and the tree for a set of keys is unique whatever order
 *   they were written in.
 *
 * Bit i of a key (0 = most significant bit of byte 0) picks the child at depth i: 0 left, 1 right.
 */
import { allocUnsafe } from '#platform';
import { bigIntToBytes, bytesToHex, concatBytes, equalsBytes, type Hex, hexToBytes } from './bytes.js';
import { rlpEncode } from './codec.js';
import { sha256 } from './hash.js';

const WORD_LENGTH = 32;
/** keccak-256 of the empty string: the code hash of an account without code. */
const KECCAK256_NULL = hexToBytes('0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');

/** The account record a leaf commits to: RLP [nonce, balance, codeHash]. */
export function encodeSMTAccount(account: { nonce: bigint; balance: bigint; codeHash: Uint8Array }): Uint8Array {
  return rlpEncode([account.nonce, account.balance, account.codeHash]);
}

/**
 * A path in the binary sparse Merkle tree: the sibling hashes from the root down to where the
 * path ends, and what it ends at: a leaf (the proven key's, or another key's for an absence
 * proof) or nothing (an empty subtree, also an absence proof).
 */
export type SMTPath = { siblings: Hex[]; leaf: { key: Hex; valueHash: Hex } | null };

/** One storage slot in a `polis_getProof` proof; the path proves it against the state root directly. */
export type PolisStorageProof = { key: Hex; value: Hex; proof: SMTPath };

/** A `polis_getProof` account proof; see docs/adr/0003-state-commitment.md for the format. */
export type PolisAccountProof = {
  address: Hex;
  balance: Hex;
  codeHash: Hex;
  nonce: Hex;
  accountProof: SMTPath;
  storageProof: PolisStorageProof[];
};

/** The outcome of checking a proof: expected failures are values, not exceptions. */
export type ProofVerification = { valid: true } | { valid: false; reason: string };

/** The node-type prefix of a leaf. */
export const SMT_LEAF_PREFIX = 0x00;
/** The node-type prefix of an inner node. */
export const SMT_INNER_PREFIX = 0x01;
/** The deepest a path can go: one level per key bit. */
export const SMT_MAX_DEPTH = 256;
const ZERO = new Uint8Array(WORD_LENGTH);

/** The tree key of an account: sha256(address). */
export function smtAccountKey(address: Uint8Array): Uint8Array {
  return sha256(address);
}

/** The tree key of a storage slot: sha256(address || slot). */
export function smtStorageKey(address: Uint8Array, slot: Uint8Array): Uint8Array {
  return sha256(concatBytes(address, slot));
}

/** Bit `depth` of `key`, counting from the most significant bit of the first byte. */
export function smtKeyBit(key: Uint8Array, depth: number): number {
  return ((key[depth >> 3] as number) >> (7 - (depth & 7))) & 1;
}

// Pooled in Node.js (see allocUnsafe); every byte is written by the caller.
function allocNode(): Uint8Array {
  return allocUnsafe(1 + 2 * WORD_LENGTH);
}

/** The 65-byte encoding of a leaf, which is also what its hash is taken over. */
export function smtLeafNode(key: Uint8Array, valueHash: Uint8Array): Uint8Array {
  const node = allocNode();
  node[0] = SMT_LEAF_PREFIX;
  node.set(key, 1);
  node.set(valueHash, 1 + WORD_LENGTH);
  return node;
}

/** The 65-byte encoding of an inner node, which is also what its hash is taken over. */
export function smtInnerNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  const node = allocNode();
  node[0] = SMT_INNER_PREFIX;
  node.set(left, 1);
  node.set(right, 1 + WORD_LENGTH);
  return node;
}

/** Whether `hash` is the empty subtree (32 zero bytes). */
export function isEmptySubtree(hash: Uint8Array): boolean {
  return equalsBytes(hash, ZERO);
}

/**
 * Checks that `path` proves `key` holds `valueHash` (or, when `valueHash` is null, that `key` is
 * absent) in the tree with root `root`.
 */
export function verifySMTPath(root: Uint8Array, key: Uint8Array, valueHash: Uint8Array | null, path: SMTPath): ProofVerification {
  if (path.siblings.length > SMT_MAX_DEPTH) return { valid: false, reason: `the path has more than ${SMT_MAX_DEPTH} siblings` };
  let hash: Uint8Array;
  try {
    const depth = path.siblings.length;
    if (path.leaf) {
      const leafKey = hexToBytes(path.leaf.key);
      const leafValueHash = hexToBytes(path.leaf.valueHash);
      if (leafKey.length !== WORD_LENGTH || leafValueHash.length !== WORD_LENGTH)
        return { valid: false, reason: 'the leaf is malformed' };
      if (valueHash) {
        if (!equalsBytes(leafKey, key)) return { valid: false, reason: 'the path ends at another key' };
        if (!equalsBytes(leafValueHash, valueHash))
          return { valid: false, reason: 'the proven value differs from the claimed value' };
      } else {
        if (equalsBytes(leafKey, key)) return { valid: false, reason: 'the key is present, but absence was claimed' };
        // Another key's leaf proves absence only where our key's path would have to pass through it.
        for (let i = 0; i < depth; i++) {
          if (smtKeyBit(leafKey, i) !== smtKeyBit(key, i)) return { valid: false, reason: 'the leaf is not on the key path' };
        }
      }
      hash = sha256(smtLeafNode(leafKey, leafValueHash));
    } else {
      if (valueHash) return { valid: false, reason: 'the path ends in an empty subtree, but a value was claimed' };
      hash = ZERO;
    }
    for (let i = depth - 1; i >= 0; i--) {
      const sibling = hexToBytes(path.siblings[i] as string);
      if (sibling.length !== WORD_LENGTH) return { valid: false, reason: `sibling ${i} is not 32 bytes` };
      hash = sha256(smtKeyBit(key, i) === 0 ? smtInnerNode(hash, sibling) : smtInnerNode(sibling, hash));
    }
  } catch (err) {
    return { valid: false, reason: err instanceof Error ? err.message : String(err) };
  }
  return equalsBytes(hash, root) ? { valid: true } : { valid: false, reason: 'the path does not hash to the state root' };
}

/** A quantity as JSON-RPC writes it: `0x` and hex digits without leading zeros (`0x0` for zero). */
export function toQuantity(value: bigint): Hex {
  return `0x${value.toString(16)}`;
}

/** Reads a JSON-RPC quantity; throws on anything else. */
export function fromQuantity(value: string, field: string): bigint {
  if (!/^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$/.test(value)) throw new Error(`${field} is not a canonical quantity`);
  return BigInt(value);
}

/** Encodes a path for the wire, to measure proof size: RLP-free, 32 bytes per sibling plus the leaf. */
export function smtPathBytes(path: SMTPath): number {
  return path.siblings.length * WORD_LENGTH + (path.leaf ? 2 * WORD_LENGTH : 0);
}

/**
 * Checks a `polis_getProof` result against a state root: the account fields, and every storage
 * slot, each of which is proven against the state root directly (there are no storage roots).
 */
export function verifyPolisAccountProof(stateRoot: Uint8Array, proof: PolisAccountProof): ProofVerification {
  let address: Uint8Array;
  let nonce: bigint;
  let balance: bigint;
  let codeHash: Uint8Array;
  try {
    address = hexToBytes(proof.address);
    nonce = fromQuantity(proof.nonce, 'nonce');
    balance = fromQuantity(proof.balance, 'balance');
    codeHash = hexToBytes(proof.codeHash);
  } catch (err) {
    return { valid: false, reason: `malformed proof: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (address.length !== 20 || codeHash.length !== WORD_LENGTH) return { valid: false, reason: 'malformed address or code hash' };
  const accountKey = smtAccountKey(address);
  const leafKey = proof.accountProof.leaf?.key;
  const present = leafKey !== undefined && leafKey.toLowerCase() === bytesToHex(accountKey);
  if (!present && (nonce !== 0n || balance !== 0n || !equalsBytes(codeHash, KECCAK256_NULL))) {
    return { valid: false, reason: 'the account is absent, but non-default fields were claimed' };
  }
  const accountValueHash = present ? sha256(encodeSMTAccount({ nonce, balance, codeHash })) : null;
  const account = verifySMTPath(stateRoot, accountKey, accountValueHash, proof.accountProof);
  if (!account.valid) return { valid: false, reason: `account: ${account.reason}` };
  for (const [i, slotProof] of proof.storageProof.entries()) {
    let slot: Uint8Array;
    let value: bigint;
    try {
      slot = hexToBytes(slotProof.key);
      value = fromQuantity(slotProof.value, `storageProof[${i}].value`);
    } catch (err) {
      return { valid: false, reason: `storage ${i}: malformed: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (slot.length !== WORD_LENGTH) return { valid: false, reason: `storage ${i}: the key is not 32 bytes` };
    const valueHash = value === 0n ? null : sha256(bigIntToBytes(value));
    const result = verifySMTPath(stateRoot, smtStorageKey(address, slot), valueHash, slotProof.proof);
    if (!result.valid) return { valid: false, reason: `storage ${i} (${bytesToHex(slot)}): ${result.reason}` };
  }
  return { valid: true };
}
