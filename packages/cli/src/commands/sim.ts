/**
 * `polis sim`: run the deterministic consensus simulator over many seeds (or replay one), or
 * measure commit latency over a WAN model. Progress goes to stderr; the last line on stdout is
 * one JSON object: `{"runs":..,"failures":..,"heights":..,"safety_violations":0,"liveness_failures":0,"first_failing_seed":null}`.
 * A failing run prints `seed=<n>` and the command that replays it; the exit code is then 1.
 */
import {
  BYZANTINE_BEHAVIOURS,
  type ByzantineBehaviour,
  FAULT_KINDS,
  type FaultKind,
  runSeeds,
  type SimOptions,
  type SimResult,
  summarizeLatencies,
} from '@polis/consensus/sim';
import { PolisError } from '@polis/core';
import type { Command } from 'commander';
import { CliError, CliErrorCode } from '../password.js';
import type { ProgramIO } from '../program.js';

/** Codes for simulator outcomes that end the command with a failure. */
export enum SimErrorCode {
  /** At least one run broke a safety or liveness property, or an engine failed. */
  FAILED = 'SIM_ERROR_FAILED',
}

/** The payload of a `SimError`. */
export type SimErrorType = { code: SimErrorCode.FAILED; failures: number; firstFailingSeed: number };

/** A simulation found a failure (the summary has already been printed). */
export class SimError extends PolisError<SimErrorType> {
  override name = 'SimError';
}

/** The largest validator set the simulator runs (the WAN model has 100 city nodes). */
export const SIM_VALIDATORS_MAX = 100;
/** The most seeds one command runs. */
export const SIM_SEEDS_MAX = 1_000_000;

type SimCommandOptions = {
  seeds?: string;
  seed?: string;
  validators: string;
  byzantine?: string;
  faults?: string;
  behaviours?: string;
  heights?: string;
  wan?: boolean;
  reconfigure?: boolean;
  json?: boolean;
};

function invalid(option: string, value: string, why: string, hint: string): CliError {
  return new CliError({ code: CliErrorCode.INVALID_OPTION, option, value }, `${option} ${value}: ${why}`, { hint });
}

function integer(option: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw invalid(option, value, `expected an integer from ${min} to ${max}`, `Pass ${option} <n> with ${min} <= n <= ${max}`);
  }
  return n;
}

function list<T extends string>(option: string, value: string, allowed: readonly T[]): T[] {
  if (value === 'none' || value === '') return [];
  const items = value.split(',').map((s) => s.trim());
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw invalid(option, value, `unknown "${item}"`, `Use a comma-separated list of ${allowed.join(', ')} (or none)`);
    }
  }
  return [...new Set(items as T[])];
}

/** Parses and checks the options into simulator options and a seed list. */
export function parseSimOptions(opts: SimCommandOptions): { seeds: number[]; options: Omit<SimOptions, 'seed'> } {
  const validators = integer('--validators', opts.validators, 1, SIM_VALIDATORS_MAX);
  const faults = opts.faults === undefined ? [...FAULT_KINDS] : list<FaultKind>('--faults', opts.faults, FAULT_KINDS);
  const options: Omit<SimOptions, 'seed'> = { validators, faults, wan: opts.wan ?? false };
  if (opts.byzantine !== undefined) {
    // More than f is allowed on purpose: it shows the checkers catching a broken assumption.
    options.byzantine = integer('--byzantine', opts.byzantine, 0, validators);
    if (options.byzantine > 0 && !faults.includes('byzantine') && !options.wan) {
      throw invalid('--byzantine', opts.byzantine, 'the byzantine fault is not in --faults', 'Add byzantine to --faults');
    }
  }
  if (opts.behaviours !== undefined)
    options.behaviours = list<ByzantineBehaviour>('--behaviours', opts.behaviours, BYZANTINE_BEHAVIOURS);
  if (opts.heights !== undefined) options.heights = integer('--heights', opts.heights, 1, 100_000);
  else if (options.wan) options.heights = 30;
  const first = opts.seed === undefined ? 1 : integer('--seed', opts.seed, 0, Number.MAX_SAFE_INTEGER - SIM_SEEDS_MAX);
  const count = opts.seeds === undefined ? (opts.seed === undefined ? 10 : 1) : integer('--seeds', opts.seeds, 1, SIM_SEEDS_MAX);
  if (options.wan && opts.faults !== undefined) {
    throw invalid('--faults', opts.faults, 'the WAN model runs without faults', 'Drop --faults when using --wan');
  }
  if (opts.reconfigure) {
    if (options.wan) {
      throw invalid('--reconfigure', 'true', 'the WAN model keeps its validator set', 'Drop --wan or --reconfigure');
    }
    options.reconfigure = true;
  }
  return { seeds: Array.from({ length: count }, (_, i) => first + i), options };
}

function describeRun(r: SimResult): string {
  const s = r.stats;
  return (
    `seed=${r.seed} ${r.ok ? 'ok' : 'FAILED'}: ${r.heights} heights, ${(r.virtualMs / 1000).toFixed(1)} s virtual, ` +
    `${s.crashes} crashes, ${s.network.dropped} dropped, ${s.evidence} evidence, max round ${s.maxRound}, trace ${r.traceHash.slice(0, 16)}`
  );
}

/** Registers `sim` on `program`. */
export function registerSimCommand(program: Command, io: ProgramIO): void {
  program
    .command('sim')
    .description('run the deterministic consensus simulator: seeded faults, Byzantine validators, checkers')
    .option('--seeds <n>', 'how many seeds to run, from --seed on (default 10, or 1 with --seed)')
    .option('--seed <s>', 'the first seed (default 1); alone, replays exactly that seed')
    .option('--validators <n>', 'validators per ledger', '4')
    .option('--byzantine <f>', 'Byzantine validators (default f = floor((n-1)/3))')
    .option('--faults <list>', `faults to switch on: ${FAULT_KINDS.join(',')} or none (default: all)`)
    .option('--behaviours <list>', `what Byzantine validators do: ${BYZANTINE_BEHAVIOURS.join(',')} (default: all but amnesia)`)
    .option('--heights <h>', 'heights every honest node must commit (default 12; 30 with --wan)')
    .option('--wan', 'WAN model: validators drawn from 100 city nodes in six regions; reports commit latency')
    .option('--reconfigure', 'change the validator set 2 to 4 times per run (swap, add, remove), with 2 spare nodes')
    .option('--json', 'print each run as a JSON line on stderr instead of text')
    .action(async (opts: SimCommandOptions) => {
      const { seeds, options } = parseSimOptions(opts);
      const started = performance.now();
      const latencies: number[] = [];
      const intervals: number[] = [];
      const { summary, failed } = await runSeeds({
        seeds,
        options,
        onResult: (r, done) => {
          latencies.push(...r.txLatenciesMs);
          intervals.push(...r.blockIntervalsMs);
          if (opts.json) {
            io.err(
              JSON.stringify({
                seed: r.seed,
                ok: r.ok,
                heights: r.heights,
                trace: r.traceHash,
                virtual_ms: r.virtualMs,
                violations: r.violations,
                ...(r.ok ? {} : { replay: r.replay }),
              }),
            );
          } else {
            io.err(`[${done}/${seeds.length}] ${describeRun(r)}`);
            for (const v of r.violations) io.err(`  ${v.kind}: ${v.message}`);
            if (!r.ok) io.err(`  seed=${r.seed} replay: ${r.replay}`);
          }
        },
      });
      if (!opts.json) io.err(`${summary.runs} runs in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const line: Record<string, unknown> = { ...summary };
      if (options.wan) {
        const l = summarizeLatencies(latencies);
        const b = summarizeLatencies(intervals);
        line.wan = {
          validators: options.validators,
          commit_latency_ms: { p50: l.p50, p90: l.p90, p99: l.p99 },
          block_interval_ms: { p50: b.p50, p90: b.p90, p99: b.p99 },
          transactions: l.count,
        };
      }
      io.out(JSON.stringify(line));
      const first = failed[0];
      if (first) {
        throw new SimError(
          { code: SimErrorCode.FAILED, failures: summary.failures, firstFailingSeed: first.seed },
          `${summary.failures} of ${summary.runs} runs failed; the first is seed=${first.seed}`,
          { hint: `Replay it with: ${first.replay}` },
        );
      }
    });
}
