/**
 * `polis bench <name> [args...]`: runs one of the repository's benchmarks (`bench/*.ts`, built to
 * `bench/dist`) as its own process and passes its JSON lines through. The benchmarks live beside
 * the packages, not in the CLI package, so this works in a checkout of the repository
 * (`npm install` builds them); bench/README.md documents each one and its options.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliError, CliErrorCode } from '../password.js';

/** The benchmarks `polis bench` runs, with what each measures. */
export const BENCHMARKS: Record<string, string> = {
  erc20: 'ERC-20 transfers: committed per second and submit-to-receipt latency',
  records: 'the records (notary) service: records per second and latency',
  reads: 'eth_call of balanceOf and eth_getBalance through one gateway',
  gateway: 'requests through the gateway (keys, limits, metering)',
  idle: 'the CPU and memory of many idle app ledgers on one node',
  compare: 'Polis beside anvil on the same ERC-20 run, alternating',
  soak: 'memory under a steady ERC-20 load: RSS growth of the nodes over a 10-minute soak (issue P10)',
  wal: "the consensus WAL's cost per height on this disk: a reset and synced appends (ADR 0013)",
  ci: 'the regression gate: short ERC-20, records and reads runs against the stored baseline (exit 1 on a drop over 30%)',
};

const BENCH_DIST = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../bench/dist');

/** Registers `bench` on `program`. */
export function registerBenchCommand(program: Command, print: (line: string) => void): void {
  program
    .command('bench')
    .description(`run a benchmark and print its JSON lines: ${Object.keys(BENCHMARKS).join(', ')} (bench/README.md)`)
    .argument(
      '<name>',
      Object.entries(BENCHMARKS)
        .map(([k, v]) => `${k} (${v})`)
        .join('; '),
    )
    .argument('[args...]', "the benchmark's own options, e.g. --nodes 4 (after --)")
    .allowUnknownOption()
    .action(async (name: string, args: string[]) => {
      if (!Object.hasOwn(BENCHMARKS, name)) {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: '<name>', value: name },
          `there is no benchmark "${name}"`,
          {
            hint: `Use one of: ${Object.keys(BENCHMARKS).join(', ')}`,
          },
        );
      }
      const script = join(BENCH_DIST, `${name}.js`);
      if (!existsSync(script)) {
        throw new CliError({ code: CliErrorCode.FILE_UNREADABLE, path: script }, `the benchmark is not built at ${script}`, {
          hint: 'Run `npm install` (or `npx tsc -b`) in the repository first',
        });
      }
      const code = await new Promise<number>((done) => {
        const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
        let buffered = '';
        child.stdout.on('data', (c: Buffer) => {
          buffered += c.toString();
          for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
            print(buffered.slice(0, i));
            buffered = buffered.slice(i + 1);
          }
        });
        child.once('exit', (c) => {
          if (buffered) print(buffered);
          done(c ?? 1);
        });
      });
      if (code !== 0) {
        throw new CliError({ code: CliErrorCode.REFUSED, reason: `exit ${code}` }, `the ${name} benchmark failed (exit ${code})`);
      }
    });
}
