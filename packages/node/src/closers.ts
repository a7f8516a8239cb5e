/**
 * Teardown in reverse order of construction: each module registers how to close itself as it is
 * built, and `close` runs those in reverse, logging (not throwing) a failure so that the rest
 * still close. Used by the node and gateway composition roots.
 */
import type { Logger } from 'pino';

export class Closers {
  readonly #fns: Array<() => Promise<void> | void> = [];
  readonly #logger: Logger;
  readonly #what: string;

  constructor(logger: Logger, what: string) {
    this.#logger = logger;
    this.#what = what;
  }

  push(fn: () => Promise<void> | void): void {
    this.#fns.push(fn);
  }

  /** Closes everything pushed so far, newest first; a second call does nothing. */
  async close(): Promise<void> {
    for (const fn of this.#fns.reverse()) {
      try {
        await fn();
      } catch (err) {
        this.#logger.error({ err }, `error while closing the ${this.#what}`);
      }
    }
    this.#fns.length = 0;
  }
}
