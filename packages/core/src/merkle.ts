/**
 * Binary Merkle trees over ordered lists, as in RFC 6962 (Certificate Transparency) section 2.1,
 * with keccak-256: a leaf hashes as H(0x00 || data), an inner node as H(0x01 || left || right),
 * the empty tree as H(""), and a tree of n > 1 leaves splits at the largest power of two below n.
 * The domain bytes make a leaf impossible to pass off as an inner node.
 *
 * Blocks use it for their transactions and receipts roots, so that one receipt can be proven
 * against a certified header with log2(n) hashes.
 */
import { concatBytes, equalsBytes } from './bytes.js';
import { keccak256 } from './hash.js';

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

/** H(0x00 || data). */
export function merkleLeafHash(data: Uint8Array): Uint8Array {
  return keccak256(concatBytes(LEAF, data));
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return keccak256(concatBytes(NODE, left, right));
}

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function rootOfHashes(hashes: Uint8Array[], lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 1) return hashes[lo] as Uint8Array;
  const k = split(n);
  return nodeHash(rootOfHashes(hashes, lo, lo + k), rootOfHashes(hashes, lo + k, hi));
}

/** The Merkle root of `leaves` (their data, not their hashes). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return keccak256(new Uint8Array(0));
  return rootOfHashes(leaves.map(merkleLeafHash), 0, leaves.length);
}

/** The audit path of leaf `index`: sibling hashes from the leaf up to the root. */
export function merkleProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) throw new RangeError(`leaf ${index} of ${leaves.length}`);
  const hashes = leaves.map(merkleLeafHash);
  const path: Uint8Array[] = [];
  const walk = (lo: number, hi: number): void => {
    if (hi - lo === 1) return;
    const k = split(hi - lo);
    if (index < lo + k) {
      walk(lo, lo + k);
      path.push(rootOfHashes(hashes, lo + k, hi));
    } else {
      walk(lo + k, hi);
      path.push(rootOfHashes(hashes, lo, lo + k));
    }
  };
  walk(0, leaves.length);
  return path;
}

/** Whether `leaf` is at `index` of a `count`-leaf tree with `root`, given its audit path. */
export function verifyMerkleProof(
  root: Uint8Array,
  leaf: Uint8Array,
  index: number,
  count: number,
  path: readonly Uint8Array[],
): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(count) || index < 0 || index >= count) return false;
  // RFC 9162 section 2.1.3.2: recompute the root from the leaf and the path.
  let fn = index;
  let sn = count - 1;
  let r = merkleLeafHash(leaf);
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && equalsBytes(r, root);
}
