/**
 * The portal store's errors. Their codes travel to the browser in HTTP answers, so the values are
 * the plain names (`EMAIL_TAKEN`, not a prefixed form): a client compares `code === 'EMAIL_TAKEN'`
 * and the enum member reads the same. Every message says what the user can do next.
 */
import { PolisError } from '@polis/core';

/** Codes of the portal store's errors. */
export enum PortalErrorCode {
  /** An account with this email exists already. */
  EMAIL_TAKEN = 'EMAIL_TAKEN',
  /** The email or the password is wrong; which one is not said, so accounts cannot be enumerated. */
  BAD_CREDENTIALS = 'BAD_CREDENTIALS',
  /** Too many failed sign-ins for this email or from this address; the password was not checked. */
  THROTTLED = 'THROTTLED',
  /** A field of the request is malformed; `field` names it. */
  INVALID_INPUT = 'INVALID_INPUT',
  /** The user's role does not allow the action. */
  NOT_ALLOWED = 'NOT_ALLOWED',
  /** No such record (or the caller may not see it). */
  NOT_FOUND = 'NOT_FOUND',
  /** The invitation's time ran out. */
  INVITATION_EXPIRED = 'INVITATION_EXPIRED',
  /** The invitation was accepted already; an invitation is used once. */
  INVITATION_USED = 'INVITATION_USED',
  /** The invitation was sent to another email than the signed-in user's. */
  INVITATION_WRONG_EMAIL = 'INVITATION_WRONG_EMAIL',
  /** The user is a member of the organisation already. */
  ALREADY_MEMBER = 'ALREADY_MEMBER',
  /** The change would leave the organisation without an owner. */
  LAST_OWNER = 'LAST_OWNER',
  /** A bounded list (members, invitations, organisations of a user) is full. */
  LIMIT_REACHED = 'LIMIT_REACHED',
  /** A sealed secret does not open: it was altered, belongs to another record, or the master key is wrong. */
  SECRET_TAMPERED = 'SECRET_TAMPERED',
  /** The database was migrated by a newer portal than this one. */
  SCHEMA_TOO_NEW = 'SCHEMA_TOO_NEW',
}

/** The payload of a `PortalError`. */
export type PortalErrorType =
  | { code: PortalErrorCode.EMAIL_TAKEN; email: string }
  | { code: PortalErrorCode.BAD_CREDENTIALS }
  | { code: PortalErrorCode.THROTTLED; scope: 'email' | 'ip'; retryAfterSeconds: number }
  | { code: PortalErrorCode.INVALID_INPUT; field: string; reason: string }
  | { code: PortalErrorCode.NOT_ALLOWED; action: string; reason: string }
  | { code: PortalErrorCode.NOT_FOUND; resource: string }
  | { code: PortalErrorCode.INVITATION_EXPIRED; expiresAt: number }
  | { code: PortalErrorCode.INVITATION_USED; acceptedAt: number }
  | { code: PortalErrorCode.INVITATION_WRONG_EMAIL }
  | { code: PortalErrorCode.ALREADY_MEMBER; orgId: string }
  | { code: PortalErrorCode.LAST_OWNER; orgId: string }
  | { code: PortalErrorCode.LIMIT_REACHED; limit: string; max: number }
  | { code: PortalErrorCode.SECRET_TAMPERED }
  | { code: PortalErrorCode.SCHEMA_TOO_NEW; unknownMigrations: string[] };

/** An error of the portal store, safe to show to the user through `toJSON()`. */
export class PortalError extends PolisError<PortalErrorType> {
  override name = 'PortalError';
}

/** Whether `err` is a `PortalError`, optionally with the given code. */
export function isPortalError(err: unknown, code?: PortalErrorCode): err is PortalError {
  return err instanceof PortalError && (code === undefined || err.code === code);
}

/** An INVALID_INPUT error for `field`. */
export function invalidInput(field: string, reason: string): PortalError {
  return new PortalError({ code: PortalErrorCode.INVALID_INPUT, field, reason }, `${field} ${reason}`, {
    hint: `Correct ${field} and try again`,
  });
}

/** A NOT_FOUND error for `resource`. */
export function notFound(resource: string, hint = 'Check the link or reload the page'): PortalError {
  return new PortalError({ code: PortalErrorCode.NOT_FOUND, resource }, `no such ${resource}`, { hint });
}

/** A NOT_ALLOWED error for `action`. */
export function notAllowed(action: string, reason: string): PortalError {
  return new PortalError({ code: PortalErrorCode.NOT_ALLOWED, action, reason }, `you may not ${action}: ${reason}`, {
    hint: 'Ask an owner or admin of the organisation to do it, or to change your role',
  });
}

/** A LIMIT_REACHED error for the bounded list `limit`. */
export function limitReached(limit: string, max: number, hint: string): PortalError {
  return new PortalError({ code: PortalErrorCode.LIMIT_REACHED, limit, max }, `the limit of ${max} ${limit} is reached`, {
    hint,
  });
}
