/** Why a verified read failed: each forgery a lying gateway can make has its own reason. */
import { PolisError } from '@polis/core';

/** The reasons a `VerificationError` gives. */
export type VerificationReason =
  /** A header's fields do not hash to the hash the gateway gave with them. */
  | 'header-mismatch'
  /** A header is not the next one of the verified chain (wrong height, or another parent). */
  | 'broken-chain'
  /** A header names a validator set other than the one in force. */
  | 'wrong-validator-set'
  /** A header's commit is not signed by more than two thirds of the set in force. */
  | 'bad-commit'
  /** A validator update does not match the `nextValidatorsHash` its header commits to. */
  | 'bad-validator-update'
  /** The gateway stopped short of a block it had claimed. */
  | 'missing-header'
  /** The block asked for is at or before the trust anchor. */
  | 'before-trust-anchor'
  /** The gateway answered from a block older than one this client already verified, or too old. */
  | 'stale-block'
  /** An account or storage proof does not hold against the verified header's state root. */
  | 'bad-state-proof'
  /** A receipt proof does not hold against the verified header's receipts root. */
  | 'bad-receipt-proof'
  /** A record proof does not hold: not the record's slots, or no record under them. */
  | 'bad-record-proof'
  /** A certificate proof does not hold against the verified state root. */
  | 'bad-certificate-proof';

/** The payload of a `VerificationError`. */
export type VerificationErrorType = { code: 'SDK_VERIFICATION_FAILED'; reason: VerificationReason };

/** A gateway's answer did not verify; the client returns nothing unverified while `verify` is on. */
export class VerificationError extends PolisError<VerificationErrorType> {
  override name = 'VerificationError';
  readonly reason: VerificationReason;

  constructor(reason: VerificationReason, detail: string) {
    super({ code: 'SDK_VERIFICATION_FAILED', reason }, `verification failed (${reason}): ${detail}`, {
      hint: 'Do not trust this gateway for this answer; ask another one',
    });
    this.reason = reason;
  }
}
