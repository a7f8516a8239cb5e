/** Builds the `polis` command tree. */
import { Command } from 'commander';
import { registerAdminCommands } from './commands/admin.js';
import { registerAppCommands } from './commands/app.js';
import { registerBenchCommand } from './commands/bench.js';
import { registerDevCommand } from './commands/dev.js';
import { registerKeyCommands } from './commands/key.js';
import { registerNetworkCommands } from './commands/network.js';
import { registerNodeCommands } from './commands/node.js';
import { registerPortalCommand } from './commands/portal.js';
import { registerServiceCommands } from './commands/services.js';
import { registerSimCommand } from './commands/sim.js';

/** Where the CLI writes its output; tests pass their own. */
export type ProgramIO = { out: (line: string) => void; err: (line: string) => void };

/** The version printed by `polis --version`. */
export const POLIS_VERSION = '0.1.0';

/** Creates the `polis` program with every command registered. */
export function createProgram(io: ProgramIO): Command {
  const program = new Command('polis')
    .description('Polis: an open blockchain service network of BFT-replicated, EVM-compatible ledgers')
    .version(POLIS_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();
  registerDevCommand(program, io.out);
  registerKeyCommands(program, io.out);
  registerNodeCommands(program, io.out);
  registerNetworkCommands(program, io.out);
  registerAppCommands(program, io.out);
  registerAdminCommands(program, io.out);
  registerServiceCommands(program, io.out);
  registerSimCommand(program, io);
  registerBenchCommand(program, io.out);
  registerPortalCommand(program, io.out);
  return program;
}
