/** @polis/cli: the `polis` command, importable for tests and embedding. */
export { main } from './main.js';
export { createProgram, POLIS_VERSION, type ProgramIO } from './program.js';
