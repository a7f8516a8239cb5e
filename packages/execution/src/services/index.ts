/**
 * The built-in services every app ledger has (issue P7), each a native contract at a reserved
 * address with a published ABI (`docs/services/`).
 */
import { keccak256 } from '@polis/core';
import type { AccountWrite, CodeWrite } from '@polis/ledger';
import { certificatesService } from './certificates.js';
import type { ServiceDefinition } from './host.js';
import { identityService } from './identity.js';
import { recordsService } from './records.js';

export * from './certificates.js';
export * from './host.js';
export * from './identity.js';
export * from './records.js';

/** Every built-in service, in address order. */
export const BUILTIN_SERVICES: readonly ServiceDefinition[] = [identityService, recordsService, certificatesService];

/**
 * A service account's code: one INVALID opcode. The precompile runs instead of it, but Solidity
 * checks that a callee has code before a call that returns nothing, so the account needs some.
 */
export const SERVICE_CODE = new Uint8Array([0xfe]);

/** The genesis writes of the service accounts: nonce 1 (never cleaned up as empty) and `SERVICE_CODE`. */
export function serviceGenesisWrites(): { accounts: AccountWrite[]; code: CodeWrite[] } {
  const codeHash = keccak256(SERVICE_CODE);
  return {
    accounts: BUILTIN_SERVICES.map((s) => ({ address: s.address, account: { nonce: 1n, balance: 0n, codeHash } })),
    code: [{ codeHash, code: SERVICE_CODE }],
  };
}
