/** The process entry of `polis`: runs the program and turns errors into messages and exit codes. */
import { isPolisError } from '@polis/core';
import { CommanderError } from 'commander';
import { createProgram, type ProgramIO } from './program.js';

const stdio: ProgramIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Runs `polis` with `argv` (as in `process.argv`) and returns the exit code. */
export async function main(argv: string[], io: ProgramIO = stdio): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (isPolisError(err)) {
      io.err(`polis: ${err.shortMessage}.`);
      if (err.hint) io.err(`  ${err.hint}.`);
      io.err(`  (${err.code})`);
      return 1;
    }
    io.err(`polis: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 70;
  }
}
