/**
 * The SDK's commit check against certificates made by the consensus package itself: the signing
 * bytes are the same (so the two cannot drift apart), a quorum verifies, and every way a commit can
 * be wrong is caught with its own reason.
 */
import { createCertificate, equalPowerSet, voteSignBytes } from '@polis/consensus';
import { bytesToHex, createEd25519Signer, hexToBytes, sha256, utf8ToBytes } from '@polis/core';
import { encodeCommit } from '@polis/node';
import { describe, expect, it } from 'vitest';
import { type HeaderJson, headerHash, precommitSignBytes, validatorSetHash, verifyCommit } from '../src/index.js';

const signers = [0, 1, 2, 3].map((i) => createEd25519Signer(sha256(utf8ToBytes(`sdk commit test ${i}`))));
const set = equalPowerSet(signers.map((s) => s.publicKey));
const validators = signers.map((s) => ({ publicKey: bytesToHex(s.publicKey), power: 1 }));
const ledgerId = utf8ToBytes('demo');

const header: HeaderJson = {
  ledgerId: bytesToHex(ledgerId),
  chainId: '0x7a69',
  height: '0x7',
  time: '0x3e8',
  parentHash: `0x${'11'.repeat(32)}`,
  proposer: bytesToHex(signers[0]?.publicKey as Uint8Array),
  validatorsHash: bytesToHex(set.hash),
  nextValidatorsHash: bytesToHex(set.hash),
  txRoot: `0x${'22'.repeat(32)}`,
  receiptsRoot: `0x${'33'.repeat(32)}`,
  stateRoot: `0x${'44'.repeat(32)}`,
  logsBloom: `0x${'00'.repeat(256)}`,
  gasUsed: '0x0',
  gasLimit: '0x1c9c380',
};

/** A commit as a node stores it, signed by `by` (validator indices). */
function commitOf(h: HeaderJson, by: number[], round = 0): `0x${string}` {
  const valueId = headerHash(h);
  const height = Number(BigInt(h.height));
  const votes = by.map((i) => ({
    type: 'precommit' as const,
    height,
    round,
    valueId,
    validator: i,
    signature: (signers[i] as (typeof signers)[number]).sign(
      voteSignBytes(ledgerId, { type: 'precommit', height, round, valueId }),
    ),
  }));
  const proposal = {
    height,
    round,
    polRound: -1,
    value: new Uint8Array([1]),
    valueId,
    validator: 0,
    signature: new Uint8Array(64),
  };
  return bytesToHex(encodeCommit(proposal, createCertificate(height, round, valueId, votes)));
}

describe('verifyCommit', () => {
  it("default: the SDK's precommit bytes are the consensus package's, and a 3-of-4 commit verifies", () => {
    const valueId = headerHash(header);
    expect(precommitSignBytes(ledgerId, 7, 2, valueId)).toEqual(
      voteSignBytes(ledgerId, { type: 'precommit', height: 7, round: 2, valueId }),
    );
    expect(verifyCommit(header, commitOf(header, [0, 1, 2]), validators)).toEqual({ valid: true });
    expect(verifyCommit(header, commitOf(header, [0, 1, 2, 3], 3), validators)).toEqual({ valid: true });
    // The SDK's validator-set hash is the one headers carry.
    expect(validatorSetHash(validators)).toBe(bytesToHex(set.hash));
  });

  it('error: too little power, another block, another height, another set, a bad signature and garbage are each refused with a reason', () => {
    const reasons = [
      verifyCommit(header, commitOf(header, [0, 1]), validators),
      verifyCommit({ ...header, stateRoot: `0x${'55'.repeat(32)}` }, commitOf(header, [0, 1, 2]), validators),
      verifyCommit({ ...header, height: '0x8' }, commitOf(header, [0, 1, 2]), validators),
      verifyCommit(header, commitOf(header, [0, 1, 2]), validators.slice(1).concat(validators.slice(0, 1))),
      verifyCommit(header, commitOf(header, [0, 1, 2]), validators.slice(0, 2)),
      verifyCommit(header, '0x1234', validators),
    ].map((r) => (r.valid ? 'valid' : r.reason));
    expect(reasons[0]).toMatch(/holds 2 of the 3 voting power/);
    expect(reasons[1]).toMatch(/certifies another block/);
    expect(reasons[2]).toMatch(/for block 7, not 8/);
    expect(reasons[3]).toMatch(/signature does not verify/);
    expect(reasons[4]).toMatch(/outside the set of 2/);
    expect(reasons[5]).toMatch(/malformed commit/);
    const tampered = commitOf(header, [0, 1, 2]);
    const flipped = `${tampered.slice(0, -2)}${(Number.parseInt(tampered.slice(-2), 16) ^ 1).toString(16).padStart(2, '0')}`;
    expect(verifyCommit(header, flipped as `0x${string}`, validators)).toMatchObject({ valid: false });
    expect(hexToBytes(tampered).length).toBeGreaterThan(200);
  });
});
