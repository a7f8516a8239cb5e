import { isPolisError } from '@polis/core';

export * from '../src/index.js';

/** Whether `err` is a PolisError with one of `codes`. */
export function isPolisErrorOf(err: unknown, codes: string[]): boolean {
  return codes.some((c) => isPolisError(err, c));
}
