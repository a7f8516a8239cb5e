/**
 * A unique certificate (kind 0) of the certificates service: its holder, whether it was issued and
 * whether it is frozen, and its content hash, read from the service's storage words and proven with
 * `verify`. The slot layout is the service's (packages/execution/src/services/certificates.ts
 * `tokenSlot`); a test keeps the two in step.
 */
import { bytesToHex, concatBytes, type Hex, hexToBytes, keccak256, utf8ToBytes } from '@polis/core';
import { VerificationError } from '../verify/errors.js';
import { getAccount } from './getAccount.js';
import type { ActionContext } from './types.js';

/** The certificates service's address on every app ledger. */
export const CERTIFICATES_ADDRESS: Hex = '0x00000000000000000000000000000000504c0003';

const word = (n: bigint) => hexToBytes(`0x${n.toString(16).padStart(64, '0')}`);

/** The first two storage slots of token `tokenId` of collection `collectionId`: its head word and content hash. */
export function certificateSlots(collectionId: bigint, tokenId: bigint): [Hex, Hex] {
  const base = BigInt(bytesToHex(keccak256(concatBytes(utf8ToBytes('token'), word(collectionId), word(tokenId)))));
  return [bytesToHex(word(base)), bytesToHex(word((base + 1n) % (1n << 256n)))];
}

export type GetCertificateParameters = { collectionId: bigint | number; tokenId: bigint | number };
export type GetCertificateReturnType = {
  /** The holder; the zero address once burned. */
  owner: Hex;
  frozen: boolean;
  contentHash: Hex;
  verified: boolean;
} | null;
export type GetCertificateErrorType = VerificationError | Error;

export async function getCertificate(ctx: ActionContext, p: GetCertificateParameters): Promise<GetCertificateReturnType> {
  const slots = certificateSlots(BigInt(p.collectionId), BigInt(p.tokenId));
  let account: Awaited<ReturnType<typeof getAccount>>;
  try {
    account = await getAccount(ctx, { address: CERTIFICATES_ADDRESS, slots });
  } catch (err) {
    if (err instanceof VerificationError && err.reason === 'bad-state-proof')
      throw new VerificationError('bad-certificate-proof', err.message);
    throw err;
  }
  const bySlot = new Map(Object.entries(account.storage).map(([k, v]) => [BigInt(k), v]));
  const head = word(bySlot.get(BigInt(slots[0])) ?? 0n);
  const flags = head[20] ?? 0;
  if ((flags & 1) === 0) return null; // never issued
  return {
    owner: bytesToHex(head.subarray(0, 20)),
    frozen: (flags & 2) !== 0,
    contentHash: bytesToHex(word(bySlot.get(BigInt(slots[1])) ?? 0n)),
    verified: account.verified,
  };
}
