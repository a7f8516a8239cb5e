/** `polis node init|start`: create a node directory and run a node. */
import { dirname, resolve } from 'node:path';
import { bytesToHex, decryptKeystore, ed25519PublicKey } from '@polis/core';
import { signGovTxEd25519 } from '@polis/governance';
import { initNode, NodeConfigSchema, readIdentity, readJsonFile, startNode } from '@polis/node';
import type { Command } from 'commander';
import { CliError, CliErrorCode, readPassword, readTextFile } from '../password.js';
import { refusedIfFailed, submitGovTx } from './admin.js';

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
  const node = program.command('node').description('create and run city nodes, and apply for admission');
  registerNodeApply(node, print);

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

/** Registers `node apply` on the `node` command. */
export function registerNodeApply(node: Command, print: (line: string) => void): void {
  node
    .command('apply')
    .description(
      "apply for admission to a network: a nodeApply transaction signed with this node's key, sent to its system ledger",
    )
    .requiredOption('--config <file>', "the node's config.json")
    .requiredOption('--url <url>', "a node's system ledger endpoint, e.g. http://127.0.0.1:8545/v1/system")
    .requiredOption('--operator <address>', "the operator's Ethereum address")
    .option('--region <region>', 'where the node runs', '')
    .option('--password-file <file>', 'read the key password from this file (default: $POLIS_PASSWORD)')
    .action(async (opts: { config: string; url: string; operator: string; region: string; passwordFile?: string }) => {
      const configPath = resolve(opts.config);
      const config = readJsonFile(configPath, NodeConfigSchema, 'node configuration');
      const dir = dirname(configPath);
      const { secret, keyType } = decryptKeystore(readTextFile(resolve(dir, config.keyFile)), readPassword(opts.passwordFile));
      if (keyType !== 'ed25519') {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: '--config', value: opts.config },
          'the node key is not an Ed25519 key',
        );
      }
      const identity = readIdentity(dir);
      const publicKey = bytesToHex(ed25519PublicKey(secret));
      const receipt = await submitGovTx(opts.url, publicKey, (chainId, nonce) =>
        signGovTxEd25519(
          {
            chainId,
            nonce,
            body: {
              type: 'nodeApply',
              publicKey,
              name: config.name,
              addrs: identity.addrs ?? [],
              operator: opts.operator.toLowerCase() as `0x${string}`,
              region: opts.region,
            },
          },
          secret,
        ),
      );
      print(JSON.stringify(receipt));
      refusedIfFailed(receipt);
    });
}
