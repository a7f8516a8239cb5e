/**
 * The pure verifier of EIP-1186 (`eth_getProof`) proofs. It rebuilds the proven paths in an
 * in-memory trie (@ethereumjs/mpt `verifyMerkleProof`) and touches no storage, so a client can
 * run it against the state root of a certified header.
 */
import { verifyMerkleProof } from '@ethereumjs/mpt';
import { ValueEncoding } from '@ethereumjs/util';
import { bytesToHex, equalsBytes, hexToBytes, keccak256, readBigUint, rlpDecode } from '@polis/core';
import { EMPTY_TRIE_ROOT, KECCAK256_NULL } from './params.js';
import { fromQuantity } from './smtProof.js';
import type { EthAccountProof, ProofVerification } from './types.js';

/** The options every trie of the MPT commitment shares: secure (hashed keys), keccak-256, byte values, no pruning. */
export function trieOptions() {
  return {
    useKeyHashing: true,
    useKeyHashingFunction: keccak256,
    valueEncoding: ValueEncoding.Bytes,
    useNodePruning: false,
  } as const;
}

/** The value the proof shows at `key` (null when absent); throws when the proof does not hash to `root`. */
async function provenValue(root: Uint8Array, key: Uint8Array, nodes: string[]): Promise<Uint8Array | null> {
  // The empty trie proves every key absent with no nodes; @ethereumjs/mpt cannot look up a key
  // under a root it holds no node for, so this case is decided here.
  if (equalsBytes(root, EMPTY_TRIE_ROOT) && nodes.length === 0) return null;
  // The proof trie is in memory (no `db`), and @ethereumjs/mpt refuses a value encoding without one.
  const { valueEncoding: _, ...options } = trieOptions();
  return verifyMerkleProof(
    key,
    nodes.map((n) => hexToBytes(n)),
    { ...options, root },
  );
}

/** Checks an `eth_getProof` result against a state root: the account fields, then every storage slot against `storageHash`. */
export async function verifyEthAccountProof(stateRoot: Uint8Array, proof: EthAccountProof): Promise<ProofVerification> {
  try {
    const address = hexToBytes(proof.address);
    const nonce = fromQuantity(proof.nonce, 'nonce');
    const balance = fromQuantity(proof.balance, 'balance');
    const codeHash = hexToBytes(proof.codeHash);
    const storageHash = hexToBytes(proof.storageHash);
    let leaf: Uint8Array | null;
    try {
      leaf = await provenValue(stateRoot, address, proof.accountProof);
    } catch {
      return { valid: false, reason: 'account: the proof does not hash to the state root' };
    }
    if (leaf === null) {
      // EIP-1186 has no absence flag; an absent account is reported with the fields of an empty one.
      const empty =
        nonce === 0n && balance === 0n && equalsBytes(codeHash, KECCAK256_NULL) && equalsBytes(storageHash, EMPTY_TRIE_ROOT);
      if (!empty) return { valid: false, reason: 'account: absent, but non-default fields were claimed' };
    } else {
      const fields = rlpDecode(leaf);
      const expected = [nonce, balance, storageHash, codeHash];
      if (!Array.isArray(fields) || fields.length !== 4) return { valid: false, reason: 'account: the leaf is not an account' };
      const [n, b, s, c] = fields;
      if (
        readBigUint(n, 'nonce') !== expected[0] ||
        readBigUint(b, 'balance') !== expected[1] ||
        !(s instanceof Uint8Array && equalsBytes(s, storageHash)) ||
        !(c instanceof Uint8Array && equalsBytes(c, codeHash))
      ) {
        return { valid: false, reason: 'account: the proven fields differ from the claimed fields' };
      }
    }
    for (const [i, slotProof] of proof.storageProof.entries()) {
      const slot = hexToBytes(slotProof.key);
      const value = fromQuantity(slotProof.value, `storageProof[${i}].value`);
      let stored: Uint8Array | null;
      try {
        stored = await provenValue(storageHash, slot, slotProof.proof);
      } catch {
        return { valid: false, reason: `storage ${i} (${bytesToHex(slot)}): the proof does not hash to the storage root` };
      }
      const proven = stored === null ? 0n : readBigUint(rlpDecode(stored), 'storage value');
      if (proven !== value)
        return { valid: false, reason: `storage ${i} (${bytesToHex(slot)}): the proven value differs from the claimed value` };
    }
  } catch (err) {
    return { valid: false, reason: `malformed proof: ${err instanceof Error ? err.message : String(err)}` };
  }
  return { valid: true };
}
