/** A transaction's receipt (Ethereum encoding), proven against its block's verified header with `verify`. */
import type { Hex } from '@polis/core';
import { type ReceiptProofAnswer, verifyReceiptProof } from '../proofs.js';
import { VerificationError } from '../verify/errors.js';
import { type ActionContext, verifiedAt } from './types.js';

export type GetTransactionReceiptParameters = { hash: Hex };
export type GetTransactionReceiptReturnType = ReceiptProofAnswer | null;
export type GetTransactionReceiptErrorType = VerificationError | Error;

export async function getTransactionReceipt(
  ctx: ActionContext,
  p: GetTransactionReceiptParameters,
): Promise<GetTransactionReceiptReturnType> {
  const proof = await ctx.request<ReceiptProofAnswer | null>('polis_getReceiptProof', [p.hash]);
  if (!proof || !ctx.chain) return proof;
  if (proof.transactionHash.toLowerCase() !== p.hash.toLowerCase()) {
    throw new VerificationError('bad-receipt-proof', `the proof is of ${proof.transactionHash}, not ${p.hash}`);
  }
  // A receipt stays provable in its own block: it is checked against that block's verified header.
  const height = Number(BigInt(proof.blockNumber));
  const v = height <= ctx.chain.height ? await ctx.chain.header(height) : await verifiedAt({ ...ctx, chain: ctx.chain }, height);
  if (proof.blockHash.toLowerCase() !== v.hash) {
    throw new VerificationError('bad-receipt-proof', `the receipt claims block ${proof.blockHash}, not the verified ${v.hash}`);
  }
  const r = verifyReceiptProof(proof);
  if (!r.valid) throw new VerificationError('bad-receipt-proof', r.reason);
  return proof;
}
