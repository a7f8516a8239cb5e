/**
 * Solidity compilation for the portal's "deploy a contract" flow, with the solc-js compiler the
 * npm package ships (no download at run time: this network may be offline). A source that does not
 * compile comes back as the compiler's own messages, with line and column, so the user can fix it.
 */

import { createRequire } from 'node:module';
import { PolisError } from '@polis/core';

type Solc = { version(): string; compile(input: string): string };
let loaded: Solc | undefined;
/**
 * The compiler, loaded on first use: it is a 9 MB asm.js module that takes about 100 MB and a
 * second to load, which every process importing the portal (the CLI's `polis node start` among
 * them) would otherwise pay.
 */
function solc(): Solc {
  loaded ??= createRequire(import.meta.url)('solc') as Solc;
  return loaded;
}

/** Codes of `CompileError`. */
export enum CompileErrorCode {
  /** The compiler found errors; `errors` holds its messages. */
  FAILED = 'COMPILE_FAILED',
  /** The source is empty or larger than the portal compiles. */
  INVALID_SOURCE = 'COMPILE_INVALID_SOURCE',
}

/** One message of the compiler. */
export type CompilerMessage = {
  severity: 'error' | 'warning';
  message: string;
  line?: number;
  column?: number;
  formatted: string;
};

/** The payload of a `CompileError`. */
export type CompileErrorType =
  | { code: CompileErrorCode.FAILED; errors: CompilerMessage[] }
  | { code: CompileErrorCode.INVALID_SOURCE; reason: string };

/** A source that did not compile. */
export class CompileError extends PolisError<CompileErrorType> {
  override name = 'CompileError';
}

/** A compiled contract. */
export type CompiledContract = { name: string; abi: unknown[]; bytecode: `0x${string}` };

/** The largest source the portal compiles (a compile holds the event loop; see the closing note of P9). */
export const SOURCE_BYTES_MAX = 200_000;

type SolcOutput = {
  errors?: Array<{
    severity: 'error' | 'warning' | 'info';
    message: string;
    formattedMessage: string;
    sourceLocation?: { file: string; start: number; end: number };
  }>;
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
};

function lineAndColumn(source: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** The compiler's version, e.g. "0.8.37+commit...". */
export function compilerVersion(): string {
  return solc().version();
}

/** Compiles one Solidity file; every deployable contract in it is returned, in source order. */
export function compileSolidity(
  source: string,
  fileName = 'Contract.sol',
): { contracts: CompiledContract[]; warnings: CompilerMessage[] } {
  if (source.trim() === '' || new TextEncoder().encode(source).length > SOURCE_BYTES_MAX) {
    throw new CompileError(
      { code: CompileErrorCode.INVALID_SOURCE, reason: source.trim() === '' ? 'empty' : 'too large' },
      source.trim() === '' ? 'the Solidity source is empty' : `the Solidity source is over ${SOURCE_BYTES_MAX / 1000} kB`,
      {
        hint:
          source.trim() === ''
            ? 'Paste a contract, or upload an ABI and bytecode instead'
            : 'Compile it locally and upload the ABI and bytecode',
      },
    );
  }
  const input = {
    language: 'Solidity',
    sources: { [fileName]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const out = JSON.parse(solc().compile(JSON.stringify(input))) as SolcOutput;
  const messages: CompilerMessage[] = (out.errors ?? [])
    .filter((e) => e.severity !== 'info')
    .map((e) => ({
      severity: e.severity === 'error' ? 'error' : 'warning',
      message: e.message,
      formatted: e.formattedMessage,
      ...(e.sourceLocation && e.sourceLocation.start >= 0 ? lineAndColumn(source, e.sourceLocation.start) : {}),
    }));
  const errors = messages.filter((m) => m.severity === 'error');
  if (errors.length > 0) {
    const first = errors[0] as CompilerMessage;
    throw new CompileError(
      { code: CompileErrorCode.FAILED, errors },
      `the compiler found ${errors.length} error${errors.length === 1 ? '' : 's'}; the first${first.line ? ` (line ${first.line})` : ''}: ${first.message}`,
      { hint: 'Fix the source and compile again' },
    );
  }
  const contracts = Object.entries(out.contracts?.[fileName] ?? {})
    .filter(([, c]) => c.evm.bytecode.object !== '')
    .map(([name, c]) => ({ name, abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` as const }));
  if (contracts.length === 0) {
    throw new CompileError(
      { code: CompileErrorCode.FAILED, errors: [] },
      'the source compiled but holds no deployable contract (only interfaces or abstract contracts)',
      { hint: 'Add a contract with an implementation' },
    );
  }
  return { contracts, warnings: messages.filter((m) => m.severity === 'warning') };
}
