/**
 * The three kinds of failure of the system ledger:
 * - `GovernanceTxError` (thrown): a transaction that can never be included (malformed, another
 *   chain, a bad signature, a wrong nonce); the mempool refuses it.
 * - `ReceiptErrorCode` (a value): a valid transaction whose request is refused (not an admin, not
 *   the owner, an unknown app...). It is included, consumes its nonce and changes nothing else.
 * - `GovernanceError` (thrown): a bad genesis, a corrupt encoded state, or a caller's mistake.
 */
import { CodecError, CodecErrorCode, PolisError } from '@polis/core';

/** Codes for transactions that can never be included. */
export enum GovernanceTxErrorCode {
  /** The bytes or a field are malformed; `field` names it. */
  MALFORMED = 'GOV_TX_ERROR_MALFORMED',
  /** A transaction format version this code does not know. */
  UNSUPPORTED_VERSION = 'GOV_TX_ERROR_UNSUPPORTED_VERSION',
  /** Signed for another chain. */
  WRONG_CHAIN = 'GOV_TX_ERROR_WRONG_CHAIN',
  /** Ed25519 is only for `nodeApply`, and `nodeApply` only for Ed25519. */
  WRONG_SIGNER_KIND = 'GOV_TX_ERROR_WRONG_SIGNER_KIND',
  /** The signature does not verify, or does not recover a signer. */
  BAD_SIGNATURE = 'GOV_TX_ERROR_BAD_SIGNATURE',
  /** The nonce is not the signer's next nonce. */
  BAD_NONCE = 'GOV_TX_ERROR_BAD_NONCE',
}

/** The payload of a `GovernanceTxError`. */
export type GovernanceTxErrorType =
  | { code: GovernanceTxErrorCode.MALFORMED; field: string; reason: string }
  | { code: GovernanceTxErrorCode.UNSUPPORTED_VERSION; version: number }
  | { code: GovernanceTxErrorCode.WRONG_CHAIN; expected: number; got: number }
  | { code: GovernanceTxErrorCode.WRONG_SIGNER_KIND; body: string; signerKind: string }
  | { code: GovernanceTxErrorCode.BAD_SIGNATURE; reason: string }
  | { code: GovernanceTxErrorCode.BAD_NONCE; signer: string; expected: number; got: number };

/** A governance transaction that can never be included. */
export class GovernanceTxError extends PolisError<GovernanceTxErrorType> {
  override name = 'GovernanceTxError';
}

/** Codes of refused requests, in receipts and in failed proposals. They are stored, so they never change. */
export enum ReceiptErrorCode {
  /** Only admins may propose and approve. */
  NOT_ADMIN = 'NOT_ADMIN',
  /** Only the app's owner may change its participants and keys. */
  NOT_OWNER = 'NOT_OWNER',
  /** Each admin approves a proposal once. */
  ALREADY_APPROVED = 'ALREADY_APPROVED',
  /** The proposal expired before this approval. */
  EXPIRED = 'EXPIRED',
  /** No proposal has this id. */
  UNKNOWN_PROPOSAL = 'UNKNOWN_PROPOSAL',
  /** The proposal was already executed (or its action failed). */
  ALREADY_EXECUTED = 'ALREADY_EXECUTED',
  /** The expiry is not after the block time, or too far ahead. */
  INVALID_EXPIRY = 'INVALID_EXPIRY',
  /** The action does not fit the current state (for example suspending an app that is not active). */
  INVALID_ACTION = 'INVALID_ACTION',
  UNKNOWN_APP = 'UNKNOWN_APP',
  UNKNOWN_NODE = 'UNKNOWN_NODE',
  UNKNOWN_PLAN = 'UNKNOWN_PLAN',
  UNKNOWN_KEY = 'UNKNOWN_KEY',
  UNKNOWN_PARTICIPANT = 'UNKNOWN_PARTICIPANT',
  UNKNOWN_REGULATOR = 'UNKNOWN_REGULATOR',
  DUPLICATE_APP = 'DUPLICATE_APP',
  /** The chain id is another app's, or the system ledger's. */
  DUPLICATE_CHAIN_ID = 'DUPLICATE_CHAIN_ID',
  DUPLICATE_NODE = 'DUPLICATE_NODE',
  /** The key id belongs to another app. */
  DUPLICATE_KEY = 'DUPLICATE_KEY',
  DUPLICATE_ADMIN = 'DUPLICATE_ADMIN',
  /** A validator or observer is not an active node. */
  NODE_NOT_ACTIVE = 'NODE_NOT_ACTIVE',
  /** The node validates an app, so it cannot be removed. */
  NODE_IN_USE = 'NODE_IN_USE',
  /** The plan is used by an app, so it cannot be deleted. */
  PLAN_IN_USE = 'PLAN_IN_USE',
  /** The threshold would be above the number of admins. */
  INVALID_THRESHOLD = 'INVALID_THRESHOLD',
  /** The app is archived: it no longer changes. */
  APP_ARCHIVED = 'APP_ARCHIVED',
  /** The key is revoked: revocation is final. */
  KEY_REVOKED = 'KEY_REVOKED',
  /** A registry or list is at its limit. */
  LIMIT_REACHED = 'LIMIT_REACHED',
  /** An audit anchor does not move forward: its seq is not above the node's last anchored seq. */
  STALE_ANCHOR = 'STALE_ANCHOR',
}

/** A refusal: a code and a message that says what is wrong and what to do. */
export type Refusal = { code: ReceiptErrorCode; message: string };

// Refusal messages are stored in failed proposals, whose encoding caps a message at
// ERROR_MESSAGE_BYTES_MAX (1024) bytes; 250 code points take at most 1000 bytes of UTF-8.
const REFUSAL_CODE_POINTS_MAX = 250;

/** Builds a refusal; a message that could outgrow its stored form is cut short. */
export function refusal(code: ReceiptErrorCode, message: string): Refusal {
  const points = Array.from(message);
  if (points.length <= REFUSAL_CODE_POINTS_MAX) return { code, message };
  return { code, message: `${points.slice(0, REFUSAL_CODE_POINTS_MAX - 3).join('')}...` };
}

/** Codes for a bad genesis, a corrupt state or a caller's mistake. */
export enum GovernanceErrorCode {
  /** The genesis options are invalid; `field` names the first bad one. */
  INVALID_GENESIS = 'GOVERNANCE_ERROR_INVALID_GENESIS',
  /** The encoded state is malformed or inconsistent. */
  INVALID_STATE = 'GOVERNANCE_ERROR_INVALID_STATE',
  /** The apply context does not fit the state (another chain id, a non-integer height). */
  INVALID_CONTEXT = 'GOVERNANCE_ERROR_INVALID_CONTEXT',
}

/** The payload of a `GovernanceError`. */
export type GovernanceErrorType =
  | { code: GovernanceErrorCode.INVALID_GENESIS; field: string; reason: string }
  | { code: GovernanceErrorCode.INVALID_STATE; field: string; reason: string }
  | { code: GovernanceErrorCode.INVALID_CONTEXT; reason: string };

/** A bad genesis, a corrupt state, or a caller's mistake. */
export class GovernanceError extends PolisError<GovernanceErrorType> {
  override name = 'GovernanceError';
}

/** The field and reason of a codec error, for wrapping it in a domain error. */
export function codecErrorDetails(err: CodecError): { field: string; reason: string } {
  const t = err.type;
  switch (t.code) {
    case CodecErrorCode.INVALID_SHAPE:
      return { field: t.field, reason: `should be ${t.expected}` };
    case CodecErrorCode.INVALID_INTEGER:
      return { field: t.field, reason: t.reason };
    case CodecErrorCode.INVALID_RLP:
      return { field: '(rlp)', reason: t.reason };
    case CodecErrorCode.INVALID_HEX:
      return { field: '(hex)', reason: `"${t.value}" is not valid hex` };
  }
}

/**
 * Runs `fn`, turning a `CodecError` into the domain error `wrap` builds. Anything else that
 * escapes is a bug in this package, and is rethrown as it is.
 */
export function wrapCodecErrors<T>(
  fn: () => T,
  wrap: (details: { field: string; reason: string }, cause: CodecError) => Error,
): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CodecError) throw wrap(codecErrorDetails(err), err);
    throw err;
  }
}
