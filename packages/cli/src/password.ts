/**
 * Reads the password that opens key files: from `--password-file`, else from POLIS_PASSWORD.
 * The password is never echoed or logged.
 */
import { readFileSync } from 'node:fs';
import { PolisError } from '@polis/core';

/** Codes for CLI usage errors. */
export enum CliErrorCode {
  /** No password was given for a command that encrypts or decrypts a key file. */
  NO_PASSWORD = 'CLI_ERROR_NO_PASSWORD',
  /** A file the command must read is missing or unreadable. */
  FILE_UNREADABLE = 'CLI_ERROR_FILE_UNREADABLE',
  /** A file the command would write already exists. */
  FILE_EXISTS = 'CLI_ERROR_FILE_EXISTS',
  /** An option has a value the command cannot use. */
  INVALID_OPTION = 'CLI_ERROR_INVALID_OPTION',
  /** A node refused what the command sent, or included it with a failed receipt. */
  REFUSED = 'CLI_ERROR_REFUSED',
}

/** The payload of a `CliError`. */
export type CliErrorType =
  | { code: CliErrorCode.NO_PASSWORD }
  | { code: CliErrorCode.FILE_UNREADABLE; path: string }
  | { code: CliErrorCode.FILE_EXISTS; path: string }
  | { code: CliErrorCode.INVALID_OPTION; option: string; value: string }
  | { code: CliErrorCode.REFUSED; reason: string };

/** An error in how the CLI was called. */
export class CliError extends PolisError<CliErrorType> {
  override name = 'CliError';
}

/** Reads a file as text, or throws a `CliError` that names it. */
export function readTextFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new CliError({ code: CliErrorCode.FILE_UNREADABLE, path }, `cannot read ${path}`, {
      hint: 'Check the path and its permissions',
      cause,
    });
  }
}

/** The password from `passwordFile` (first line) or the POLIS_PASSWORD environment variable. */
export function readPassword(passwordFile: string | undefined): string {
  if (passwordFile !== undefined) return (readTextFile(passwordFile).split(/\r?\n/)[0] ?? '').trimEnd();
  const fromEnv = process.env.POLIS_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  throw new CliError({ code: CliErrorCode.NO_PASSWORD }, 'no password for the key file', {
    hint: 'Pass --password-file <file> or set POLIS_PASSWORD',
  });
}
