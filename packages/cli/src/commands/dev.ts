/** `polis dev`: run a local network. This is what `npm start` runs. */
import type { Command } from 'commander';

type Print = (line: string) => void;

/** Registers `dev` on `program`. */
export function registerDevCommand(program: Command, print: Print): void {
  program
    .command('dev')
    .description('run a local development network (what `npm start` runs)')
    .option('--json', 'print machine-readable JSON')
    .action((opts: { json?: boolean }) => {
      // The network itself arrives with the ledger and p2p work; until then `dev` reports what
      // this build contains and exits cleanly, so `npm start` never fails on a fresh clone.
      const status = {
        ready: false,
        reason: 'this build has no ledger yet: it contains the core library and the CLI',
        commands: program.commands.map((c) => c.name()),
      };
      if (opts.json) print(JSON.stringify(status));
      else {
        print('Polis dev network');
        print(`  ${status.reason}.`);
        print(`  Available commands: ${status.commands.join(', ')} (see \`npx polis --help\`).`);
      }
    });
}
