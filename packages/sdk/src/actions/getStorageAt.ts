/** A storage slot's value at the latest block, proven with `verify`. */
import type { Hex } from '@polis/core';
import type { VerificationError } from '../verify/errors.js';
import { getAccount } from './getAccount.js';
import type { ActionContext } from './types.js';

export type GetStorageAtParameters = { address: Hex; slot: Hex };
export type GetStorageAtReturnType = bigint;
export type GetStorageAtErrorType = VerificationError | Error;

export async function getStorageAt(ctx: ActionContext, p: GetStorageAtParameters): Promise<GetStorageAtReturnType> {
  const a = await getAccount(ctx, { address: p.address, slots: [p.slot] });
  return Object.values(a.storage)[0] ?? 0n;
}
