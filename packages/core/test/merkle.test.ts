import { describe, expect, it } from 'vitest';
import { bytesToHex, keccak256, merkleLeafHash, merkleProof, merkleRoot, utf8ToBytes, verifyMerkleProof } from '../src/index.js';

const leaves = (n: number) => Array.from({ length: n }, (_, i) => utf8ToBytes(`leaf ${i}`));
const h = (a: Uint8Array, b: Uint8Array) => keccak256(new Uint8Array([1, ...a, ...b]));

describe('merkle', () => {
  it('known shape: the RFC 6962 split for 0, 1, 2 and 3 leaves', () => {
    const [a, b, c] = leaves(3) as [Uint8Array, Uint8Array, Uint8Array];
    expect(bytesToHex(merkleRoot([]))).toBe(bytesToHex(keccak256(new Uint8Array())));
    expect(merkleRoot([a])).toEqual(merkleLeafHash(a));
    expect(merkleRoot([a, b])).toEqual(h(merkleLeafHash(a), merkleLeafHash(b)));
    expect(merkleRoot([a, b, c])).toEqual(h(h(merkleLeafHash(a), merkleLeafHash(b)), merkleLeafHash(c)));
  });

  it('behavior: every leaf of trees of 1..33 leaves proves, and nothing else does', () => {
    for (let n = 1; n <= 33; n++) {
      const ls = leaves(n);
      const root = merkleRoot(ls);
      for (let i = 0; i < n; i++) {
        const path = merkleProof(ls, i);
        const leaf = ls[i] as Uint8Array;
        expect(verifyMerkleProof(root, leaf, i, n, path), `n=${n} i=${i}`).toBe(true);
        expect(verifyMerkleProof(root, utf8ToBytes('other'), i, n, path), `n=${n} i=${i} wrong leaf`).toBe(false);
        if (n > 1) expect(verifyMerkleProof(root, leaf, (i + 1) % n, n, path), `n=${n} i=${i} wrong index`).toBe(false);
        if (path.length > 0) {
          const tampered = path.map((p) => p.slice());
          const first = tampered[0] as Uint8Array;
          first[0] = (first[0] as number) ^ 1;
          expect(verifyMerkleProof(root, leaf, i, n, tampered), `n=${n} i=${i} tampered`).toBe(false);
        }
      }
    }
  });

  it('error: out-of-range indexes are false, not exceptions', () => {
    const ls = leaves(4);
    expect(verifyMerkleProof(merkleRoot(ls), ls[0] as Uint8Array, 4, 4, [])).toBe(false);
    expect(verifyMerkleProof(merkleRoot(ls), ls[0] as Uint8Array, -1, 4, [])).toBe(false);
    expect(() => merkleProof(ls, 4)).toThrow(RangeError);
  });
});
