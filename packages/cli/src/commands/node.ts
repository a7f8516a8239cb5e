/** `polis node init|start`: create a node directory and run a node. */
import { resolve } from 'node:path';
import { initNode, startNode } from '@polis/node';
import type { Command } from 'commander';
import { CliError, CliErrorCode, readPassword } from '../password.js';

type Print = (line: string) => void;

/** Parses a TCP port option. */
export function parsePort(value: string, option: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError(
      { code: CliErrorCode.INVALID_OPTION, option, value },
      `${option} must be a port number 0-65535, got "${value}"`,
      {
        hint: 'Use 0 to let the system pick a free port',
      },
    );
  }
  return port;
}

/** Registers `node init` and `node start`. */
export function registerNodeCommands(program: Command, print: Print): void {
  const node = program.command('node').description('create and run city nodes');

  node
    .command('init')
    .description('create a node directory: an Ed25519 node key (encrypted at rest) and a config file')
    .requiredOption('--dir <dir>', 'the node directory to create')
    .option('--name <name>', 'the node name', 'node-0')
    .option('--rpc-port <port>', 'JSON-RPC port (0 picks a free one)', '8545')
    .option('--password-file <file>', 'read the key password from this file (default: $POLIS_PASSWORD)')
    .option('--light', 'use a cheap scrypt cost, for throw-away dev keys only')
    .action((opts: { dir: string; name: string; rpcPort: string; passwordFile?: string; light?: boolean }) => {
      const identity = initNode({
        dir: resolve(opts.dir),
        name: opts.name,
        password: readPassword(opts.passwordFile),
        rpcPort: parsePort(opts.rpcPort, '--rpc-port'),
        lightKdf: opts.light === true,
      });
      print(JSON.stringify({ dir: resolve(opts.dir), ...identity }));
    });

  node
    .command('start')
    .description('start a node; it runs until SIGTERM or Ctrl-C and resumes from its data after a crash')
    .requiredOption('--config <file>', "the node's config.json (written by `polis node init`)")
    .option('--password-file <file>', 'read the key password from this file (default: $POLIS_PASSWORD)')
    .option('--tls-cert <file>', "serve the gateway over TLS with this PEM certificate (overrides the config's gateway.tls)")
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--http2', 'serve HTTP/2 as well as HTTP/1.1 (needs TLS)')
    .action(async (opts: { config: string; passwordFile?: string; tlsCert?: string; tlsKey?: string; http2?: boolean }) => {
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: opts.tlsCert ? '--tls-key' : '--tls-cert', value: '' },
          '--tls-cert and --tls-key go together',
          { hint: 'Give both: the certificate and its private key, as PEM files' },
        );
      }
      const running = await startNode({
        configPath: resolve(opts.config),
        password: readPassword(opts.passwordFile),
        ...(opts.tlsCert && opts.tlsKey ? { tls: { cert: resolve(opts.tlsCert), key: resolve(opts.tlsKey) } } : {}),
        ...(opts.http2 ? { http2: true } : {}),
      });
      // One machine-readable line on stdout once the node serves requests; logs go to stderr.
      print(
        JSON.stringify({
          ready: true,
          name: running.name,
          pid: process.pid,
          rpcBase: running.rpcBase,
          ledgers: running.ledgers.map((l) => ({ id: l.id, chainId: l.chainId, rpcUrl: `${running.rpcBase}/v1/${l.id}` })),
        }),
      );
      await new Promise<void>((done) => {
        let stopping = false;
        const stop = () => {
          if (stopping) return;
          stopping = true;
          void running.close().then(() => {
            // A resumed stdin (below) would keep the process alive after the node has closed.
            process.stdin.destroy();
            done();
          });
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        // Started by `polis dev`: stop when the parent goes away, so no node outlives it.
        if (process.env.POLIS_EXIT_WITH_PARENT === '1') {
          process.stdin.on('close', stop);
          process.stdin.on('end', stop);
          process.stdin.resume();
        }
      });
    });
}
