/**
 * `Promise.withResolvers` (ES2024) for Node 20. libp2p 2's peer store locks through mortice 3.3,
 * whose it-queue 1.1 calls it on every lock; Node 20 lacks it, and the newest mortice satisfying
 * the peer store's range is 3.3.1, so there is no older resolution to pin. This installs the
 * method as the spec defines it, only where it is missing; delete this file once Node 22 is the floor.
 */
type WithResolvers = <T>() => {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
};

const P = Promise as unknown as PromiseConstructor & { withResolvers?: WithResolvers };

if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers<T>(this: PromiseConstructor) {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new this<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
