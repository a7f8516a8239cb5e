/**
 * Validator-set changes in the deterministic simulator (`reconfigure: true`): a pool of n
 * validators and two spare observers, and 2 to 4 seeded set changes (swap, add, remove) carried by
 * committed blocks, under every fault kind and f Byzantine nodes. The engine learns the set of
 * each height from `Application.validatorSet`; the checkers judge every certificate, vote and
 * final engine state against the set the committed chain puts in force.
 *
 * The corpus finds no violation, commits at least one change per run, sees a node that joined sign
 * certificates, and sees removed validators go quiet while they keep committing as observers.
 * Engines that keep the initial set (as if the engine ignored `validatorSet`), or one honest node
 * whose application reports the old set, fail the checkers.
 *
 * A failing seed is printed with the command that replays it: `npx polis sim --reconfigure ...`.
 */
import { describe, expect, it } from 'vitest';
import { runSimulation, type SimOptions, type SimResult } from '../src/sim/index.js';

/** The corpus: (validators, first seed, seeds, heights). Seeds are fixed so a failure is reproducible. */
const CORPUS = [
  { validators: 4, first: 1, count: 40, heights: 10 },
  { validators: 7, first: 1, count: 10, heights: 6 },
];
const CHUNK = 10;

/** What the corpus exercised, summed over its runs; checked at the end so that nothing is silently off. */
const covered = {
  runs: 0,
  swap: 0,
  add: 0,
  remove: 0,
  joinedSigned: 0,
  removedQuiet: 0,
  byzantineJoined: 0,
  crashes: 0,
  partitioned: 0,
  lies: 0,
};

function explain(r: SimResult): string {
  return `seed=${r.seed} failed; replay with: ${r.replay}\n${r.violations.map((v) => `  ${v.kind}: ${v.message}`).join('\n')}`;
}

/** The first height from `from` on at which `node` is outside the chain's set (Infinity if never). */
function leaves(r: SimResult, node: number, from: number): number {
  const sets = r.reconfig?.sets ?? [];
  return Math.min(...sets.filter((s) => s.from > from && !s.members.includes(node)).map((s) => s.from), Number.POSITIVE_INFINITY);
}

/** The first height after `from` at which `node` is back in the chain's set (Infinity if never). */
function returns(r: SimResult, node: number, from: number): number {
  const sets = r.reconfig?.sets ?? [];
  return Math.min(...sets.filter((s) => s.from > from && s.members.includes(node)).map((s) => s.from), Number.POSITIVE_INFINITY);
}

describe('reconfigure corpus: set changes under every fault, f Byzantine nodes', () => {
  for (const { validators, first, count, heights } of CORPUS) {
    const chunks = Array.from({ length: Math.ceil(count / CHUNK) }, (_, i) => first + i * CHUNK);
    it.each(chunks)(
      `default: n=${validators} + 2 spares, seeds %i.. (${CHUNK} each) change sets and find no violation`,
      async (from) => {
        for (let seed = from; seed < Math.min(from + CHUNK, first + count); seed++) {
          const r = await runSimulation({ seed, validators, heights, reconfigure: true });
          const where = `seed=${seed} n=${validators}`;
          expect(r.violations, explain(r)).toEqual([]);
          expect(r.heights, `${where}: every honest node, validator or observer, reaches the height goal`).toBeGreaterThanOrEqual(
            heights,
          );
          const rc = r.reconfig;
          if (!rc) throw new Error(`${where}: a reconfigure run reports no reconfiguration`);
          // The chain applied a prefix of the schedule, in order, at or after each update's height.
          expect(rc.sets.length, `${where}: at least one set change committed`).toBeGreaterThanOrEqual(2);
          for (const [i, set] of rc.sets.slice(1).entries()) {
            const u = rc.schedule[i];
            expect(set.members, `${where}: change ${i + 1} is the schedule's`).toEqual(u?.members);
            expect(set.from, `${where}: change ${i + 1} is not early`).toBeGreaterThan(u?.height ?? Number.POSITIVE_INFINITY);
            if (u) covered[u.kind]++;
          }
          const byzantine = new Set(r.byzantine);
          let joinedSigned = false;
          for (const [i, set] of rc.sets.entries()) {
            if (i === 0) continue;
            const before = (rc.sets[i - 1] as { members: number[] }).members;
            // A node that joined signs certificates while it is a validator. Any joiner will do: one
            // that is a validator for a single height may be left out of its one certificate by a
            // quorum that did not need it (seeds 1009 and 1270 with 4 validators and 12 heights).
            for (const node of set.members.filter((m) => !before.includes(m))) {
              if (byzantine.has(node)) covered.byzantineJoined++;
              const until = leaves(r, node, set.from);
              if (rc.signers.some((s, k) => k + 1 >= set.from && k + 1 < until && s.includes(node))) joinedSigned = true;
            }
            // A removed honest validator keeps committing as an observer, and signs nothing while out.
            for (const node of before.filter((m) => !set.members.includes(m))) {
              if (byzantine.has(node)) continue;
              const back = returns(r, node, set.from);
              const out = (h: number) => h >= set.from && h < back;
              expect(rc.committed[node], `${where}: removed node ${node} kept committing`).toBeGreaterThanOrEqual(set.from);
              expect(rc.signedHeights[node]?.filter(out), `${where}: removed node ${node} signed while out`).toEqual([]);
              expect(
                rc.signers.flatMap((s, k) => (out(k + 1) && s.includes(node) ? [k + 1] : [])),
                `${where}: removed node ${node} in certificates while out`,
              ).toEqual([]);
              covered.removedQuiet++;
            }
          }
          expect(joinedSigned, `${where}: a node that joined signed a certificate after joining`).toBe(true);
          covered.joinedSigned++;
          covered.runs++;
          covered.crashes += r.stats.crashes;
          covered.partitioned += r.stats.network.partitioned;
          covered.lies += r.stats.lies;
        }
      },
      120_000,
    );
  }

  it('behavior: the corpus exercised every kind of change, Byzantine joiners and every fault', () => {
    expect(covered.runs).toBe(CORPUS.reduce((n, c) => n + c.count, 0));
    for (const [what, count] of Object.entries(covered)) expect(count, `${what} across the corpus`).toBeGreaterThan(0);
  });
});

describe('reconfigure replay', () => {
  it('default: a reconfigure seed replays to the identical trace hash, and its replay command says --reconfigure', async () => {
    const options: SimOptions = { seed: 4242, validators: 4, heights: 8, reconfigure: true };
    const a = await runSimulation(options);
    const b = await runSimulation(options);
    expect(a.violations, explain(a)).toEqual([]);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b).toEqual(a);
    const plain = await runSimulation({ ...options, reconfigure: false });
    expect(plain.traceHash).not.toBe(a.traceHash);
    expect(plain.reconfig).toBeNull();
    expect(a.replay).toBe(
      'npx polis sim --seed 4242 --validators 4 --faults drop,delay,duplicate,partition,crash,byzantine --byzantine 1 --reconfigure --heights 8',
    );
  }, 60_000);
});

describe('the checkers catch a wrong validator set', () => {
  const BASE: Omit<SimOptions, 'seed'> = { validators: 4, heights: 10, reconfigure: true };

  it('behavior: engines that keep the initial set (as if the engine ignored validatorSet) break certificates and signing', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await runSimulation({ ...BASE, seed, overrideValidatorSet: ({ initial }) => initial });
      const kinds = new Set(r.violations.map((v) => v.kind));
      const where = `seed=${seed}: ${JSON.stringify(r.violations.slice(0, 4))}`;
      // Certificates of heights after a change are signed by the old set's indices.
      expect(kinds.has('certificate'), where).toBe(true);
      // Removed validators keep signing, and the engines end on a set the chain left behind.
      expect(kinds.has('validator-set'), where).toBe(true);
      expect(r.ok).toBe(false);
    }
  }, 60_000);

  it('behavior: one honest node whose application reports the old set stalls, and the checkers say so', async () => {
    // Seeds with node 0 honest (so its stall is judged) that stall quickly: each runs to the liveness deadline.
    for (const seed of [6, 7]) {
      const r = await runSimulation({
        ...BASE,
        seed,
        overrideValidatorSet: ({ node, set, initial }) => (node === 0 ? initial : set),
      });
      const where = `seed=${seed}: ${JSON.stringify(r.violations.slice(0, 4))}`;
      expect(r.byzantine, `seed=${seed}: node 0 is honest`).not.toContain(0);
      expect(
        r.violations.some((v) => v.kind === 'validator-set' && v.message.startsWith('honest node 0 ')),
        where,
      ).toBe(true);
      expect(
        r.violations.some((v) => v.kind === 'liveness' && v.message.startsWith('node 0 did not commit')),
        where,
      ).toBe(true);
      // The same seed with node 0's application telling the truth passes.
      const control = await runSimulation({ ...BASE, seed, overrideValidatorSet: ({ set }) => set });
      expect(control.violations, explain(control)).toEqual([]);
    }
  }, 120_000);
});
