/** Errors of the SDK. */
import { PolisError } from '@polis/core';

/** Codes for SDK errors. */
export enum SdkErrorCode {
  /** The gateway answered with a JSON-RPC error. */
  RPC = 'SDK_ERROR_RPC',
  /** An answer did not verify: the proof, the header hash, or the block it claims. */
  UNVERIFIED = 'SDK_ERROR_UNVERIFIED',
  /** The gateway could not be reached or answered something that is not JSON-RPC. */
  TRANSPORT = 'SDK_ERROR_TRANSPORT',
}

/** The payload of an `SdkError`. */
export type SdkErrorType =
  | { code: SdkErrorCode.RPC; method: string; rpcCode: number }
  | { code: SdkErrorCode.UNVERIFIED; what: string; reason: string }
  | { code: SdkErrorCode.TRANSPORT; url: string };

/** An SDK error. */
export class SdkError extends PolisError<SdkErrorType> {
  override name = 'SdkError';
}
