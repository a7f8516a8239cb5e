/** What every action gets: the transport, and the verifying state when `verify` is on. */
import type { HeaderChain, VerifiedHeader } from '../verify/chain.js';

/** The client side every action runs on. */
export type ActionContext = {
  request<T>(method: string, params?: unknown[]): Promise<T>;
  /** Present when the client verifies: the chain of verified headers. */
  chain: HeaderChain | undefined;
  /** With `verify`: answers from a block older than this (by its time) are refused as stale. */
  maxAgeMs: number | undefined;
  now(): number;
};

/** The verified header of `height`, refusing it as stale when older than `maxAgeMs`. */
export async function verifiedAt(ctx: ActionContext & { chain: HeaderChain }, height: number): Promise<VerifiedHeader> {
  const { VerificationError } = await import('../verify/errors.js');
  if (height < ctx.chain.height) {
    // Only the latest state is provable (ADR 0003): an answer from below what this client already
    // verified is a gateway serving an old block.
    throw new VerificationError(
      'stale-block',
      `the gateway answered from block ${height}, but block ${ctx.chain.height} is already verified`,
    );
  }
  const v = await ctx.chain.header(height);
  if (ctx.maxAgeMs !== undefined && ctx.now() - Number(BigInt(v.header.time)) > ctx.maxAgeMs) {
    throw new VerificationError(
      'stale-block',
      `block ${height} is ${ctx.now() - Number(BigInt(v.header.time))} ms old, over the ${ctx.maxAgeMs} ms allowed`,
    );
  }
  return v;
}
