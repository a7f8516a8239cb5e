/**
 * The ledger's error codes. Each code has a typed payload; the message says what went wrong and
 * the hint what to do. Corruption and broken invariants are errors too: the process should stop
 * rather than commit a block on top of state it cannot trust.
 */
import { PolisError } from '@polis/core';

/** Codes for errors of the ledger database and the state store. */
export enum LedgerErrorCode {
  /** The LMDB environment could not be opened (path, permissions, or a second writer). */
  OPEN_FAILED = 'LEDGER_ERROR_OPEN_FAILED',
  /** The database or store was used after `close()`. */
  CLOSED = 'LEDGER_ERROR_CLOSED',
  /** A table name is reserved for the ledger's own data or is not a valid name. */
  INVALID_TABLE = 'LEDGER_ERROR_INVALID_TABLE',
  /** A write was attempted outside the transaction it belongs to. */
  NO_TRANSACTION = 'LEDGER_ERROR_NO_TRANSACTION',
  /** The database was created with a different state commitment than the one asked for. */
  COMMITMENT_MISMATCH = 'LEDGER_ERROR_COMMITMENT_MISMATCH',
  /** A block's height does not follow the committed head. */
  HEIGHT_MISMATCH = 'LEDGER_ERROR_HEIGHT_MISMATCH',
  /** A write set is malformed: unsorted or duplicate keys, wrong lengths, or storage of a missing account. */
  INVALID_WRITE_SET = 'LEDGER_ERROR_INVALID_WRITE_SET',
  /** A second block commit started before the previous one finished. */
  CONCURRENT_COMMIT = 'LEDGER_ERROR_CONCURRENT_COMMIT',
  /** Stored data the state refers to is missing or malformed. */
  CORRUPT = 'LEDGER_ERROR_CORRUPT',
  /** The configured state commitment cannot produce proofs (the `none` commitment). */
  NOT_PROVABLE = 'LEDGER_ERROR_NOT_PROVABLE',
  /** A configured bound is out of its allowed range, or a bounded structure would grow past it. */
  LIMIT_EXCEEDED = 'LEDGER_ERROR_LIMIT_EXCEEDED',
}

/** The payload of a `LedgerError`. */
export type LedgerErrorType =
  | { code: LedgerErrorCode.OPEN_FAILED; path: string }
  | { code: LedgerErrorCode.CLOSED }
  | { code: LedgerErrorCode.INVALID_TABLE; name: string }
  | { code: LedgerErrorCode.NO_TRANSACTION }
  | { code: LedgerErrorCode.COMMITMENT_MISMATCH; stored: string; requested: string }
  | { code: LedgerErrorCode.HEIGHT_MISMATCH; expected: number; got: number }
  | { code: LedgerErrorCode.INVALID_WRITE_SET; field: string; reason: string }
  | { code: LedgerErrorCode.CONCURRENT_COMMIT }
  | { code: LedgerErrorCode.CORRUPT; what: string }
  | { code: LedgerErrorCode.NOT_PROVABLE; commitment: string }
  | { code: LedgerErrorCode.LIMIT_EXCEEDED; what: string; limit: number; value: number };

/** An error of the ledger database or the state store. */
export class LedgerError extends PolisError<LedgerErrorType> {
  override name = 'LedgerError';
}

/** Throws `LIMIT_EXCEEDED` unless `value` is an integer in [min, max]; used to assert every configured bound. */
export function assertBound(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LedgerError(
      { code: LedgerErrorCode.LIMIT_EXCEEDED, what, limit: max, value },
      `${what} is ${value}, outside the allowed range ${min}..${max}`,
      { hint: `Configure ${what} between ${min} and ${max}` },
    );
  }
}

/** The error for stored data that the state refers to but that is missing or malformed. */
export function corrupt(what: string, cause?: unknown): LedgerError {
  return new LedgerError({ code: LedgerErrorCode.CORRUPT, what }, `the ledger database is corrupt: ${what}`, {
    hint: 'Stop the node and restore its data directory from a backup or resync it from peers',
    cause,
  });
}
