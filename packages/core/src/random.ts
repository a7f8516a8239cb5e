/**
 * A seeded pseudo-random generator for tests, fuzzers and benchmarks (mulberry32), so that a
 * failing case replays from its seed. Not for keys or anything secret: those use the platform's secure source (`randomBytes`).
 */

/** Returns a generator of uniform floats in [0, 1) determined entirely by `seed`. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
