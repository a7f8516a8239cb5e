/**
 * Error codes of the execution layer's state overlay. These are programmer errors or broken
 * bounds, never expected outcomes: a reverted transaction is a value the EVM returns.
 */
import { PolisError } from '@polis/core';

/** Codes for errors of the journaled state overlay. */
export enum ExecutionStateErrorCode {
  /** `commit` or `revert` was called with no open checkpoint. */
  NO_CHECKPOINT = 'EXECUTION_STATE_ERROR_NO_CHECKPOINT',
  /** The block's write set was asked for while a checkpoint was still open. */
  OPEN_CHECKPOINT = 'EXECUTION_STATE_ERROR_OPEN_CHECKPOINT',
  /** A storage key is not 32 bytes, or a value is longer than 32 bytes. */
  INVALID_STORAGE = 'EXECUTION_STATE_ERROR_INVALID_STORAGE',
  /** The overlay was asked to move to a state root other than the committed one. */
  UNSUPPORTED = 'EXECUTION_STATE_ERROR_UNSUPPORTED',
  /** The state root was asked for while the overlay holds writes no commitment has hashed yet. */
  PENDING_WRITES = 'EXECUTION_STATE_ERROR_PENDING_WRITES',
  /** A bound (journal entries, block writes, checkpoint depth, cache size) would be exceeded or is misconfigured. */
  LIMIT_EXCEEDED = 'EXECUTION_STATE_ERROR_LIMIT_EXCEEDED',
  /** An account's code hash names code the store does not have. */
  MISSING_CODE = 'EXECUTION_STATE_ERROR_MISSING_CODE',
}

/** The payload of an `ExecutionStateError`. */
export type ExecutionStateErrorType =
  | { code: ExecutionStateErrorCode.NO_CHECKPOINT; operation: 'commit' | 'revert' }
  | { code: ExecutionStateErrorCode.OPEN_CHECKPOINT; depth: number }
  | { code: ExecutionStateErrorCode.INVALID_STORAGE; field: 'key' | 'value'; length: number }
  | { code: ExecutionStateErrorCode.UNSUPPORTED; operation: string }
  | { code: ExecutionStateErrorCode.PENDING_WRITES }
  | { code: ExecutionStateErrorCode.LIMIT_EXCEEDED; what: string; limit: number; value: number }
  | { code: ExecutionStateErrorCode.MISSING_CODE; codeHash: string };

/** An error of the journaled state overlay. */
export class ExecutionStateError extends PolisError<ExecutionStateErrorType> {
  override name = 'ExecutionStateError';
}

/** Throws `LIMIT_EXCEEDED` unless `value` is an integer in [min, max]. */
export function assertLimit(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ExecutionStateError(
      { code: ExecutionStateErrorCode.LIMIT_EXCEEDED, what, limit: max, value },
      `${what} is ${value}, outside the allowed range ${min}..${max}`,
      { hint: `Keep ${what} between ${min} and ${max}; a block that needs more must be split` },
    );
  }
}
