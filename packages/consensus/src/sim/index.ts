/**
 * The deterministic simulator (`@polis/consensus/sim`): N replicas of the real consensus engine
 * over a simulated clock, network and disk, with seeded faults and checkers. See docs/simulation.md.
 */
export * from './app.js';
export * from './byzantine.js';
export * from './checkers.js';
export * from './clock.js';
export * from './disk.js';
export * from './network.js';
export * from './rng.js';
export * from './runner.js';
export * from './wan.js';
