/** An account (nonce, balance, code hash) and storage slots at the latest block, proven with `verify`. */
import type { Hex } from '@polis/core';
import { hexToBytes, verifyPolisAccountProof } from '@polis/core';
import type { PolisProofAnswer } from '../proofs.js';
import { VerificationError } from '../verify/errors.js';
import { type ActionContext, verifiedAt } from './types.js';

export type GetAccountParameters = { address: Hex; slots?: Hex[] };
export type GetAccountReturnType = {
  address: Hex;
  nonce: bigint;
  balance: bigint;
  codeHash: Hex;
  storage: Record<Hex, bigint>;
  blockNumber: bigint;
  /** Whether the answer was checked against a verified header. */
  verified: boolean;
};
export type GetAccountErrorType = VerificationError | Error;

export async function getAccount(ctx: ActionContext, p: GetAccountParameters): Promise<GetAccountReturnType> {
  const proof = await ctx.request<PolisProofAnswer>('polis_getProof', [p.address, p.slots ?? [], 'latest']);
  if (ctx.chain) {
    const v = await verifiedAt({ ...ctx, chain: ctx.chain }, Number(BigInt(proof.blockNumber)));
    if (proof.blockHash.toLowerCase() !== v.hash) {
      throw new VerificationError('bad-state-proof', `the proof claims block ${proof.blockHash}, not the verified ${v.hash}`);
    }
    if (proof.address.toLowerCase() !== p.address.toLowerCase()) {
      throw new VerificationError('bad-state-proof', `the proof is of ${proof.address}, not ${p.address}`);
    }
    const r = verifyPolisAccountProof(hexToBytes(v.header.stateRoot), proof);
    if (!r.valid) throw new VerificationError('bad-state-proof', r.reason);
    const asked = (p.slots ?? []).map((s) => BigInt(s));
    if (proof.storageProof.length !== asked.length || proof.storageProof.some((s, i) => BigInt(s.key) !== asked[i])) {
      throw new VerificationError('bad-state-proof', 'the proof is not of the storage slots asked for');
    }
  }
  return { ...accountOfProof(proof), verified: ctx.chain !== undefined };
}

/** The account fields a `polis_getProof` answer states, as numbers. */
export function accountOfProof(proof: PolisProofAnswer) {
  return {
    address: proof.address,
    nonce: BigInt(proof.nonce),
    balance: BigInt(proof.balance),
    codeHash: proof.codeHash,
    storage: Object.fromEntries(proof.storageProof.map((s) => [s.key, BigInt(s.value)])) as Record<Hex, bigint>,
    blockNumber: BigInt(proof.blockNumber),
  };
}
