import { isPolisError } from '@polis/core';

export * from '../src/index.js';

/** Whether `err` is a PolisError with `code`. */
export function isPolisErrorCode(err: unknown, code: string): boolean {
  return isPolisError(err, code);
}
