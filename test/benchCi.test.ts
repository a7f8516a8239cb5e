/**
 * The regression gate of `bench/ci.ts` (`npm run bench:ci`): its machine class, its comparison
 * with a baseline and its options, checked without running a benchmark.
 */
import { describe, expect, it } from 'vitest';
import {
  type BaselineFile,
  BenchCiError,
  BenchCiErrorCode,
  baselineFromRuns,
  evaluateGate,
  formatJson,
  machineClassOf,
  median,
  parseBaseline,
  parseCiArgs,
} from '../bench/ci.js';

const CLASS = 'linux-x64-2cpu';

function baselineOf(metrics: Record<string, number>): BaselineFile {
  return baselineFromRuns({
    machineClass: CLASS,
    samples: Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, [v]])),
    date: '2025-01-01T00:00:00.000Z',
    commit: 'a'.repeat(40),
    dirtyTree: false,
    why: 'test baseline',
    machine: {},
  });
}

function refusal(run: () => unknown): BenchCiError {
  try {
    run();
  } catch (err) {
    if (err instanceof BenchCiError) return err;
    throw err;
  }
  throw new Error('expected a BenchCiError, got none');
}

describe('machineClassOf', () => {
  it('default: platform, architecture and CPU count', () => {
    expect(machineClassOf({ platform: 'linux', arch: 'x64', cpus: 2 })).toBe('linux-x64-2cpu');
    expect(machineClassOf({ platform: 'darwin', arch: 'arm64', cpus: 10 })).toBe('darwin-arm64-10cpu');
  });
});

describe('evaluateGate', () => {
  const baseline = baselineOf({ erc20TransfersPerSecond: 1000, recordsPerSecond: 5000 });

  it('behavior: a 29% drop passes', () => {
    const v = evaluateGate({ machineClass: CLASS, measured: { erc20TransfersPerSecond: 710, recordsPerSecond: 3550 }, baseline });
    expect(v.ok).toBe(true);
    expect(v.failures).toEqual([]);
    expect(v.results.erc20TransfersPerSecond).toEqual({ measured: 710, baseline: 1000, ratio: 0.71, ok: true });
    expect(v.results.recordsPerSecond).toEqual({ measured: 3550, baseline: 5000, ratio: 0.71, ok: true });
  });

  it('behavior: a drop of exactly 30% still passes (the gate fails below 70%)', () => {
    const v = evaluateGate({ machineClass: CLASS, measured: { erc20TransfersPerSecond: 700, recordsPerSecond: 3500 }, baseline });
    expect(v.ok).toBe(true);
  });

  it('behavior: a 31% drop fails, naming the metric, the numbers and the command that updates the baseline', () => {
    const v = evaluateGate({ machineClass: CLASS, measured: { erc20TransfersPerSecond: 690, recordsPerSecond: 5100 }, baseline });
    expect(v.ok).toBe(false);
    expect(v.results.erc20TransfersPerSecond).toEqual({ measured: 690, baseline: 1000, ratio: 0.69, ok: false });
    expect(v.results.recordsPerSecond?.ok).toBe(true);
    expect(v.failures).toHaveLength(1);
    const failure = v.failures[0] as string;
    expect(failure).toContain('erc20TransfersPerSecond is 690, 31% below its baseline of 1000 on linux-x64-2cpu');
    expect(failure).toContain("node bench/dist/ci.js --update-baseline --why '<reason>'");
  });

  it('behavior: without a baseline for the machine class every metric passes, with a notice', () => {
    const v = evaluateGate({ machineClass: 'linux-arm64-64cpu', measured: { erc20TransfersPerSecond: 1 }, baseline: undefined });
    expect(v.ok).toBe(true);
    expect(v.results.erc20TransfersPerSecond).toEqual({ measured: 1, baseline: null, ratio: null, ok: true });
    expect(v.notices).toHaveLength(1);
    expect(v.notices[0]).toContain('no baseline for the machine class linux-arm64-64cpu');
    expect(v.notices[0]).toContain('bench/baseline/linux-arm64-64cpu.json');
  });

  it('behavior: a metric with a baseline but missing from the results fails', () => {
    for (const measured of [{ erc20TransfersPerSecond: 1000 }, { erc20TransfersPerSecond: 1000, recordsPerSecond: Number.NaN }]) {
      const v = evaluateGate({ machineClass: CLASS, measured, baseline });
      expect(v.ok, JSON.stringify(measured)).toBe(false);
      expect(v.results.recordsPerSecond, JSON.stringify(measured)).toEqual({
        measured: null,
        baseline: 5000,
        ratio: null,
        ok: false,
      });
      expect(v.failures[0], JSON.stringify(measured)).toContain('recordsPerSecond was not measured');
    }
  });

  it('behavior: a measured metric without a baseline passes, with a notice', () => {
    const v = evaluateGate({
      machineClass: CLASS,
      measured: { erc20TransfersPerSecond: 1000, recordsPerSecond: 5000, readsEthCallPerSecond: 10 },
      baseline,
    });
    expect(v.ok).toBe(true);
    expect(v.results.readsEthCallPerSecond).toEqual({ measured: 10, baseline: null, ratio: null, ok: true });
    expect(v.notices[0]).toContain('readsEthCallPerSecond has no baseline');
  });
});

describe('parseCiArgs', () => {
  it('default: the median of 3 runs, as the baseline is, compared with the baseline', () => {
    expect(parseCiArgs([])).toEqual({ updateBaseline: false, why: undefined, runs: 3 });
    expect(parseCiArgs(['--runs', '2'])).toEqual({ updateBaseline: false, why: undefined, runs: 2 });
  });

  it('behavior: --update-baseline with --why takes the median of 3 runs unless --runs says otherwise', () => {
    expect(parseCiArgs(['--update-baseline', '--why', 'faster keccak'])).toEqual({
      updateBaseline: true,
      why: 'faster keccak',
      runs: 3,
    });
    expect(parseCiArgs(['--update-baseline', '--why', 'x', '--runs', '5']).runs).toBe(5);
  });

  it('error: --update-baseline without --why, or with an empty one, is refused', () => {
    for (const argv of [['--update-baseline'], ['--update-baseline', '--why', '  ']]) {
      const err = refusal(() => parseCiArgs(argv));
      expect(err.code, argv.join(' ')).toBe(BenchCiErrorCode.WHY_REQUIRED);
      expect(err.message, argv.join(' ')).toContain("--why '<reason>'");
    }
  });

  it('error: an unknown option or a bad --runs is refused', () => {
    for (const argv of [['--update'], ['--runs', '0'], ['--runs', '1.5'], ['--runs', 'many']]) {
      expect(refusal(() => parseCiArgs(argv)).code, argv.join(' ')).toBe(BenchCiErrorCode.INVALID_OPTION);
    }
  });
});

describe('baselineFromRuns and parseBaseline', () => {
  it('default: each metric is the median of its runs, with the date, commit and reason', () => {
    const file = baselineFromRuns({
      machineClass: CLASS,
      samples: { erc20TransfersPerSecond: [640, 600, 655], recordsPerSecond: [4000, 5000] },
      date: '2025-01-02T03:04:05.000Z',
      commit: 'b'.repeat(40),
      dirtyTree: true,
      why: 'first baseline',
      machine: { cpus: 2, loadavg: [1.5, 1.2, 1] },
    });
    expect(file.class).toBe(CLASS);
    expect(file.metrics.erc20TransfersPerSecond).toEqual({
      baseline: 640,
      date: '2025-01-02T03:04:05.000Z',
      commit: 'b'.repeat(40),
      dirtyTree: true,
      why: 'first baseline',
      samples: [640, 600, 655],
    });
    expect(file.metrics.recordsPerSecond?.baseline).toBe(4500);
    expect(median([3, 1, 2])).toBe(2);
    // What the script writes reads back the same.
    expect(parseBaseline(formatJson(file), 'x.json')).toEqual(file);
    expect(formatJson(file)).toContain('"samples": [640, 600, 655]');
  });

  it('error: a baseline without a reason, a positive number or valid JSON is refused', () => {
    const good = baselineOf({ recordsPerSecond: 5000 });
    const cases: Array<[string, string]> = [
      ['no why', JSON.stringify({ ...good, metrics: { recordsPerSecond: { ...good.metrics.recordsPerSecond, why: '' } } })],
      ['zero', JSON.stringify({ ...good, metrics: { recordsPerSecond: { ...good.metrics.recordsPerSecond, baseline: 0 } } })],
      ['no metrics', JSON.stringify({ class: CLASS })],
      ['not JSON', '{'],
    ];
    for (const [name, text] of cases) {
      expect(refusal(() => parseBaseline(text, 'bench/baseline/x.json')).code, name).toBe(BenchCiErrorCode.BASELINE_INVALID);
    }
  });
});
