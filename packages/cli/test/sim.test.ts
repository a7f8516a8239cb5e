import { describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'polis', 'sim', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err: err.join('\n') };
}

const SUMMARY_KEYS = ['runs', 'failures', 'heights', 'safety_violations', 'liveness_failures', 'first_failing_seed'];

describe('polis sim', () => {
  it('default: runs seeds, reports progress on stderr and one summary JSON line on stdout', async () => {
    const r = await run(['--seeds', '2', '--heights', '4']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toHaveLength(1);
    const summary = JSON.parse(r.out[0] as string);
    expect(Object.keys(summary)).toEqual(SUMMARY_KEYS);
    expect(summary).toMatchObject({ runs: 2, failures: 0, safety_violations: 0, liveness_failures: 0, first_failing_seed: null });
    expect(summary.heights).toBeGreaterThanOrEqual(8);
    expect(r.err).toMatch(/\[1\/2\] seed=1 ok/);
  }, 60_000);

  it('behavior: --seed replays one seed to the same trace, and --json prints each run as JSON', async () => {
    const a = await run(['--seed', '7', '--heights', '4', '--json']);
    const b = await run(['--seed', '7', '--heights', '4', '--json']);
    expect(a.code, a.err).toBe(0);
    const runA = JSON.parse(a.err);
    expect(runA).toMatchObject({ seed: 7, ok: true });
    expect(JSON.parse(b.err).trace).toBe(runA.trace);
  }, 60_000);

  it('behavior: --reconfigure runs the seed with validator-set changes: it passes, and it is another run than without', async () => {
    const changed = await run(['--reconfigure', '--seed', '3', '--heights', '8', '--json']);
    const fixed = await run(['--seed', '3', '--heights', '8', '--json']);
    expect(changed.code, changed.err).toBe(0);
    expect(JSON.parse(changed.err)).toMatchObject({ seed: 3, ok: true, heights: 8 });
    expect(JSON.parse(changed.err).trace).not.toBe(JSON.parse(fixed.err).trace);
  }, 60_000);

  it('error: a failing run exits 1 and prints its seed and the command that replays it', async () => {
    // Two colluding equivocators out of four validators are more than f = 1: agreement breaks.
    const r = await run(['--seed', '41', '--seeds', '5', '--byzantine', '2', '--behaviours', 'equivocate,double-vote']);
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.out[0] as string);
    expect(summary.failures).toBeGreaterThan(0);
    expect(summary.safety_violations).toBeGreaterThan(0);
    expect(r.err).toContain(`seed=${summary.first_failing_seed}`);
    expect(r.err).toContain(
      `npx polis sim --seed ${summary.first_failing_seed} --validators 4 --faults drop,delay,duplicate,partition,crash,byzantine --byzantine 2 --behaviours equivocate,double-vote --heights 12`,
    );
    expect(r.err).toContain('SIM_ERROR_FAILED');
  }, 120_000);

  it('error: bad options say what is wrong and exit 1', async () => {
    for (const args of [
      ['--validators', '0'],
      ['--faults', 'drop,meteor'],
      ['--seeds', 'many'],
      ['--wan', '--faults', 'drop'],
      ['--wan', '--reconfigure'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toContain('CLI_ERROR_INVALID_OPTION');
    }
  });
});
