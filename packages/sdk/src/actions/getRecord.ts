/** A record of the records service, read from its storage words and proven with `verify`. */
import type { Hex } from '@polis/core';
import { decodeRecordWords, RECORDS_ADDRESS, recordSlots } from '../records.js';
import { VerificationError } from '../verify/errors.js';
import { getAccount } from './getAccount.js';
import type { ActionContext } from './types.js';

export type GetRecordParameters = { hash: Hex };
export type GetRecordReturnType = {
  hash: Hex;
  submitter: Hex;
  blockNumber: number;
  timestampMs: number;
  metaHash: Hex;
  tag: Hex;
  verified: boolean;
} | null;
export type GetRecordErrorType = VerificationError | Error;

export async function getRecord(ctx: ActionContext, p: GetRecordParameters): Promise<GetRecordReturnType> {
  const slots = recordSlots(p.hash);
  let account: Awaited<ReturnType<typeof getAccount>>;
  try {
    account = await getAccount(ctx, { address: RECORDS_ADDRESS, slots });
  } catch (err) {
    if (err instanceof VerificationError && err.reason === 'bad-state-proof') {
      throw new VerificationError('bad-record-proof', err.message);
    }
    throw err;
  }
  const bySlot = new Map(Object.entries(account.storage).map(([k, v]) => [BigInt(k), v]));
  const words = slots.map((s) => bySlot.get(BigInt(s)) ?? 0n);
  const record = decodeRecordWords(words);
  if (!record) return null;
  return { hash: p.hash.toLowerCase() as Hex, ...record, verified: account.verified };
}
