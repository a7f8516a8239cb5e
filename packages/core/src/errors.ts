/**
 * Typed errors shared by every Polis package.
 *
 * Each domain declares one string enum of codes and one payload type per code, in the Lodestar
 * style: `{code: CodecErrorCode.INVALID_HEX; value: string}`. A `PolisError` carries that payload
 * as `type`, a short message saying what went wrong, and a hint saying what to do about it.
 * Expected outcomes (a reverted transaction, an invalid vote) are values, not exceptions: this
 * class is for the cases where the caller cannot go on.
 */

/** The minimal shape of an error payload: a code, plus any typed fields. */
export type PolisErrorType = { code: string };

/** Options for a `PolisError`. */
export type PolisErrorOptions = {
  /** What the user or operator should do next. It is appended to the message. */
  hint?: string;
  /** The lower-level error that caused this one. */
  cause?: unknown;
};

/** The base error: a code, a typed payload, a message and a hint for what to do. */
export class PolisError<T extends PolisErrorType = PolisErrorType> extends Error {
  override name = 'PolisError';
  /** The typed payload; `type.code` is the machine-readable code. */
  readonly type: T;
  /** What went wrong, in one sentence and without the hint. */
  readonly shortMessage: string;
  /** What to do about it. */
  readonly hint: string | undefined;

  constructor(type: T, shortMessage: string, options: PolisErrorOptions = {}) {
    super(options.hint ? `${shortMessage}. ${options.hint}` : shortMessage, { cause: options.cause });
    this.type = type;
    this.shortMessage = shortMessage;
    this.hint = options.hint;
  }

  /** The machine-readable code, for example `CODEC_ERROR_INVALID_HEX`. */
  get code(): T['code'] {
    return this.type.code;
  }

  /** A JSON form that is safe to log and to return to clients: payload, message and hint. */
  toJSON(): { name: string; code: T['code']; message: string; hint?: string; details: T } {
    return {
      name: this.name,
      code: this.code,
      message: this.shortMessage,
      ...(this.hint ? { hint: this.hint } : {}),
      details: this.type,
    };
  }
}

/** Whether `err` is a `PolisError`, optionally with the given code. */
export function isPolisError(err: unknown, code?: string): err is PolisError {
  return err instanceof PolisError && (code === undefined || err.code === code);
}
