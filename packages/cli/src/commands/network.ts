/** `polis network genesis`: write the genesis of a network from initialised node directories. */
import { resolve } from 'node:path';
import { buildGenesis, readIdentity, writeGenesis } from '@polis/node';
import type { Command } from 'commander';
import { CliError, CliErrorCode } from '../password.js';

type Print = (line: string) => void;

function parseLedger(spec: string): { id: string; chainId: number } {
  const m = /^([a-z][a-z0-9-]*):(\d+)$/.exec(spec);
  if (!m) {
    throw new CliError(
      { code: CliErrorCode.INVALID_OPTION, option: '--ledger', value: spec },
      `--ledger "${spec}" is not <id>:<chainId>`,
      {
        hint: 'For example --ledger demo:31337',
      },
    );
  }
  return { id: m[1] as string, chainId: Number(m[2]) };
}

/** Registers `network genesis`. */
export function registerNetworkCommands(program: Command, print: Print): void {
  const network = program.command('network').description('create networks');
  network
    .command('genesis')
    .description('write a genesis: every --node validates every --ledger')
    .requiredOption('--out <file>', 'where to write genesis.json')
    .requiredOption('--node <dir...>', 'node directories created by `polis node init` (the validators, in order)')
    .option('--ledger <id:chainId...>', 'ledgers to create', ['demo:31337'])
    .option('--heartbeat-ms <ms>', 'an idle ledger makes one empty block this often', '10000')
    .action((opts: { out: string; node: string[]; ledger: string[]; heartbeatMs: string }) => {
      const heartbeatMs = Number(opts.heartbeatMs);
      if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0) {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: '--heartbeat-ms', value: opts.heartbeatMs },
          '--heartbeat-ms must be a positive whole number of milliseconds',
        );
      }
      const genesis = buildGenesis({
        validators: opts.node.map((d) => readIdentity(resolve(d))),
        ledgers: opts.ledger.map(parseLedger),
        consensus: { heartbeatMs },
      });
      writeGenesis(resolve(opts.out), genesis);
      print(
        JSON.stringify({
          file: resolve(opts.out),
          validators: genesis.ledgers[0]?.validators.length,
          ledgers: genesis.ledgers.map((l) => l.id),
        }),
      );
    });
}
