/** An account's balance at the latest block, proven with `verify`. */
import type { Hex } from '@polis/core';
import type { VerificationError } from '../verify/errors.js';
import { getAccount } from './getAccount.js';
import type { ActionContext } from './types.js';

export type GetBalanceParameters = { address: Hex };
export type GetBalanceReturnType = bigint;
export type GetBalanceErrorType = VerificationError | Error;

export async function getBalance(ctx: ActionContext, p: GetBalanceParameters): Promise<GetBalanceReturnType> {
  return (await getAccount(ctx, { address: p.address })).balance;
}
