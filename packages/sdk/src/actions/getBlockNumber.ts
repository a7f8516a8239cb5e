/** The latest block number; with `verify`, of a header verified from the trust anchor. */
import type { CertifiedHeaderJson } from '../verify/chain.js';
import type { VerificationError } from '../verify/errors.js';
import { type ActionContext, verifiedAt } from './types.js';

export type GetBlockNumberParameters = Record<string, never>;
export type GetBlockNumberReturnType = bigint;
export type GetBlockNumberErrorType = VerificationError | Error;

export async function getBlockNumber(ctx: ActionContext, _p: GetBlockNumberParameters = {}): Promise<GetBlockNumberReturnType> {
  const head = await ctx.request<CertifiedHeaderJson | null>('polis_getHeader', ['latest']);
  if (!head) throw new Error('the gateway has no latest block');
  const height = Number(BigInt(head.height));
  if (ctx.chain) await verifiedAt({ ...ctx, chain: ctx.chain }, height);
  return BigInt(height);
}
