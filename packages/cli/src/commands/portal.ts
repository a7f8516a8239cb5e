/**
 * `polis portal`: runs the web portal (its backend and the built front end) against a network's
 * gateways. `polis dev` starts one at http://127.0.0.1:3000; with `--json` the first stdout line is
 * `{"ready":true,"url":...}` once it serves requests.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { SeedUser } from '@polis/portal';
import type { Command } from 'commander';
import { CliError, CliErrorCode } from '../password.js';
import { parsePort } from './node.js';

type Print = (line: string) => void;

type PortalOptions = {
  db: string;
  gateway: string[];
  port: string;
  host: string;
  masterKeyFile: string;
  seedFile?: string;
  json?: boolean;
};

/** Reads the 32-byte master key file (hex), creating it when `create` and it is missing. */
export function portalMasterKey(path: string, create: boolean): Uint8Array {
  if (!existsSync(path)) {
    if (!create) {
      throw new CliError(
        { code: CliErrorCode.INVALID_OPTION, option: '--master-key-file', value: path },
        `no master key at ${path}`,
        {
          hint: 'Give the file that sealed this portal’s secrets, or --create-master-key for a new portal',
        },
      );
    }
    writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  }
  const hex = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/i.test(hex)) {
    throw new CliError(
      { code: CliErrorCode.INVALID_OPTION, option: '--master-key-file', value: path },
      `${path} is not 64 hex digits`,
      {
        hint: 'The master key file holds 32 random bytes as hex',
      },
    );
  }
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Registers `portal` on `program`. */
export function registerPortalCommand(program: Command, print: Print): void {
  program
    .command('portal')
    .description('run the web portal against a network (polis dev starts one for you)')
    .requiredOption('--gateway <url...>', "city nodes' gateway base URLs, e.g. http://127.0.0.1:8545")
    .option('--db <url>', 'a SQLite file, or a postgres:// URL', 'portal.db')
    .option('--port <port>', 'HTTP port (0 picks a free one)', '3000')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--master-key-file <file>', 'the key that seals owner keys in the store (created when missing)', 'portal.key')
    .option('--seed-file <file>', 'a JSON list of users to create when missing ({email, name, password, kind})')
    .option('--json', 'print {"ready":true,"url":...} once serving')
    .action(async (opts: PortalOptions) => {
      const seedUsers = opts.seedFile ? (JSON.parse(readFileSync(opts.seedFile, 'utf8')) as SeedUser[]) : [];
      // Loaded here, not at the top: every other command (a node among them) would load the portal.
      const { startPortal } = await import('@polis/portal');
      const portal = await startPortal({
        db: opts.db,
        gateways: opts.gateway,
        masterKey: portalMasterKey(opts.masterKeyFile, true),
        host: opts.host,
        port: parsePort(opts.port, '--port'),
        seedUsers,
        logger: { level: process.env.POLIS_LOG_LEVEL ?? 'warn' },
      });
      if (opts.json) print(JSON.stringify({ ready: true, url: portal.url, pid: process.pid }));
      else print(`Polis portal at ${portal.url}`);
      await new Promise<void>((done) => {
        let stopping = false;
        const stop = () => {
          if (stopping) return;
          stopping = true;
          void portal.close().then(() => {
            // A resumed stdin (below) would keep the process alive after the portal has closed.
            process.stdin.destroy();
            done();
          });
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        // Started by `polis dev`: stop when the parent goes away (its stdin pipe closes).
        if (process.env.POLIS_EXIT_WITH_PARENT === '1') {
          process.stdin.on('close', stop);
          process.stdin.on('end', stop);
          process.stdin.resume();
        }
      });
    });
}
