/**
 * `polis dev`: a local network of city nodes as separate processes on 127.0.0.1, each with its
 * own data directory and ports. This is what `npm start` runs.
 *
 * It prints the endpoints and ten development accounts; with `--json` the first stdout line is
 * `{"ready":true,"nodes":[...],"apps":[...],"accounts":[...]}` once every node serves requests.
 * Ctrl-C (or SIGTERM) stops every node cleanly; nodes also stop by themselves if this process
 * dies, because each one exits when its stdin (a pipe from here) closes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildGenesis,
  devAccount,
  devAlloc,
  freePorts,
  grantAppKey,
  initNode,
  NODE_FILES,
  readIdentity,
  writeGenesis,
  writeMasterKey,
} from '@polis/node';
import type { Command } from 'commander';
import { CliError, CliErrorCode } from '../password.js';
import { parsePort } from './node.js';

type Print = (line: string) => void;

const BIN = fileURLToPath(new URL('../../bin/polis.js', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
/** The dev network's app ledger, on a plan generous enough for benchmarks. */
export const DEV_APP = { id: 'demo', chainId: 31337, plan: 'dedicated' };
/** A second app on the `free` plan, whose low limits let a newcomer see a 429. */
export const SANDBOX_APP = { id: 'sandbox', chainId: 31338, plan: 'free' };
const DEV_APPS = [DEV_APP, SANDBOX_APP];
/**
 * The dev network's system ledger (ADR 0006), validated by every node: the first three
 * development accounts are the alliance admins, two of them approve an action, and app requests
 * are approved without a vote.
 */
const DEV_SYSTEM = { chainId: 31336, admins: 3, threshold: 2 };
/** The dev network's API keys, kept in plain text beside its data (dev networks only) so that a rerun prints them again. */
const DEV_KEYS_FILE = 'dev-keys.json';
const DEV_ACCOUNTS = 10;
/** node i's p2p port is base + this + i. */
const P2P_PORT_OFFSET = 100;
/**
 * Timeouts for a loopback network. The propose timeout must cover executing a full block on a
 * busy machine (every validator executes every proposal); at 1 s, 4 nodes on 2 cores lost rounds
 * under load and committed 72 transfers/s, at 3 s 116/s (bench/erc20 --nodes 4).
 */
const DEV_TIMEOUTS = {
  proposeMs: 3000,
  proposeDeltaMs: 500,
  prevoteMs: 500,
  prevoteDeltaMs: 250,
  precommitMs: 500,
  precommitDeltaMs: 250,
  gossipMs: 250,
};

type Ready = {
  ready: true;
  name: string;
  pid: number;
  rpcBase: string;
  ledgers: Array<{ id: string; chainId: number; rpcUrl: string }>;
};

type DevOptions = {
  nodes: string;
  json?: boolean;
  data?: string;
  basePort: string;
  heartbeatMs: string;
  gasLimit?: string;
  portal: boolean;
  portalPort?: string;
  reviewApps?: boolean;
};

/** Where the dev nodes say they run, so the portal's node picker has regions to show. */
const DEV_REGIONS = [
  'eu-west (Paris)',
  'eu-central (Frankfurt)',
  'ap-east (Hong Kong)',
  'us-east (New York)',
  'ap-south (Mumbai)',
  'sa-east (São Paulo)',
];
/** The dev portal's logins, kept beside the data (dev networks only) so that a rerun prints them again. */
const DEV_PORTAL_USERS_FILE = 'portal-users.json';
const DEV_PORTAL_KINDS = ['admin', 'developer', 'operator', 'regulator'] as const;
type DevLogin = { email: string; name: string; password: string; kind: (typeof DEV_PORTAL_KINDS)[number] };

/** The dev portal's users: created once per data directory with random passwords. */
function devPortalUsers(dataDir: string): DevLogin[] {
  const path = join(dataDir, DEV_PORTAL_USERS_FILE);
  if (!existsSync(path)) {
    const users: DevLogin[] = DEV_PORTAL_KINDS.map((kind) => ({
      email: `${kind}@polis.dev`,
      name: `Dev ${kind}`,
      password: `${kind}-${randomBytes(6).toString('hex')}`,
      kind,
    }));
    writeFileSync(path, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
  }
  return JSON.parse(readFileSync(path, 'utf8')) as DevLogin[];
}

/** Starts a child node and resolves with its ready line. */
function startChild(config: string, passwordFile: string, logPath: string): { child: ChildProcess; ready: Promise<Ready> } {
  return startProcess<Ready>(['node', 'start', '--config', config, '--password-file', passwordFile], logPath, 'node');
}

/** Starts `polis <args>` as a child whose first stdout line is a JSON ready line. */
function startProcess<T>(args: string[], logPath: string, what: string): { child: ChildProcess; ready: Promise<T> } {
  // POLIS_PROFILE_DIR: each child writes a V8 CPU profile there when it exits (docs/performance.md).
  const profileDir = process.env.POLIS_PROFILE_DIR;
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(process.execPath, [...profile, BIN, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, POLIS_EXIT_WITH_PARENT: '1' },
  });
  const log = createWriteStream(logPath, { flags: 'a' });
  child.stderr?.pipe(log);
  const ready = new Promise<T>((done, fail) => {
    let buffer = '';
    const timer = setTimeout(
      () => fail(new Error(`${what} did not become ready within ${READY_TIMEOUT_MS} ms; see ${logPath}`)),
      READY_TIMEOUT_MS,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      try {
        done(JSON.parse(buffer.slice(0, newline)) as T);
      } catch {
        fail(new Error(`${what} printed an unexpected first line: ${buffer.slice(0, newline)}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${what} exited with code ${code} before it was ready; see ${logPath}`));
    });
  });
  return { child, ready };
}

async function stopChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          child.once('exit', () => {
            clearTimeout(timer);
            done();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** Creates the network's directories on first use; later runs with the same --data reuse them. */
async function prepare(
  dataDir: string,
  nodes: number,
  basePort: number,
  heartbeatMs: number,
  reviewApps: boolean,
  gasLimit: number | undefined,
): Promise<{ configs: string[]; passwordFile: string; keys: Record<string, string> }> {
  mkdirSync(dataDir, { recursive: true });
  const passwordFile = join(dataDir, 'password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const dirs = Array.from({ length: nodes }, (_, i) => join(dataDir, `node-${i}`));
  const fresh = !existsSync(join(dirs[0] as string, NODE_FILES.config));
  // Every node of the network reads the same access file, so a key revoked there is refused by
  // every gateway within a second (the gateway's reloadMs).
  const accessFile = join(dataDir, NODE_FILES.access);
  // Key trust mode: the gateways keep custodial keys sealed with this key.
  const masterKeyFile = join(dataDir, 'master.key');
  if (fresh) {
    if (!existsSync(masterKeyFile)) writeMasterKey(masterKeyFile);
    // Peers dial each other, so p2p ports are fixed at creation: base+100+i, or free ones now.
    const p2pPorts = basePort === 0 ? await freePorts(nodes) : dirs.map((_, i) => basePort + P2P_PORT_OFFSET + i);
    dirs.forEach((dir, i) => {
      initNode({
        dir,
        name: `node-${i}`,
        password,
        rpcPort: basePort === 0 ? 0 : basePort + i,
        p2pPort: p2pPorts[i] as number,
        lightKdf: true,
        testControls: true,
        accessFile,
        allowPrivateWebhooks: true,
        masterKeyFile,
      });
    });
    const keys = Object.fromEntries(
      DEV_APPS.map((a) => [a.id, grantAppKey(accessFile, { appId: a.id, plan: a.plan, scopes: ['admin'], label: 'polis dev' })]),
    );
    writeFileSync(join(dataDir, DEV_KEYS_FILE), `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
    const genesis = buildGenesis({
      validators: dirs.map((d, i) => ({ ...readIdentity(d), region: DEV_REGIONS[i % DEV_REGIONS.length] as string })),
      // Development account 0 owns the dev apps (an admin of their identity service).
      ledgers: DEV_APPS.map((a) => ({
        id: a.id,
        chainId: a.chainId,
        alloc: devAlloc(DEV_ACCOUNTS),
        owner: devAccount(0).address,
        ...(gasLimit === undefined ? {} : { gasLimit }),
      })),
      system: {
        chainId: DEV_SYSTEM.chainId,
        admins: Array.from({ length: DEV_SYSTEM.admins }, (_, i) => devAccount(i).address.toLowerCase()),
        threshold: DEV_SYSTEM.threshold,
        operator: devAccount(0).address.toLowerCase(),
        autoApproveApps: !reviewApps,
      },
      consensus: { ...DEV_TIMEOUTS, heartbeatMs },
    });
    for (const dir of dirs) writeGenesis(join(dir, NODE_FILES.genesis), genesis);
  } else if (dirs.some((d) => !existsSync(join(d, NODE_FILES.config)))) {
    throw new CliError(
      { code: CliErrorCode.INVALID_OPTION, option: '--nodes', value: String(nodes) },
      `${dataDir} holds a network of a different size`,
      {
        hint: 'Use the same --nodes as when it was created, or another --data directory',
      },
    );
  }
  if (!existsSync(join(dataDir, DEV_KEYS_FILE))) {
    throw new CliError(
      { code: CliErrorCode.INVALID_OPTION, option: '--data', value: dataDir },
      `${dataDir} holds a network made before API keys existed`,
      { hint: 'Use another --data directory (or none, for a fresh temporary one)' },
    );
  }
  const keys = JSON.parse(readFileSync(join(dataDir, DEV_KEYS_FILE), 'utf8')) as Record<string, string>;
  return { configs: dirs.map((d) => join(d, NODE_FILES.config)), passwordFile, keys };
}

/** Registers `dev` on `program`. */
export function registerDevCommand(program: Command, print: Print): void {
  program
    .command('dev')
    .description('run a local development network (what `npm start` runs)')
    .option('--nodes <n>', 'number of city nodes (separate processes), all validators of the demo app', '4')
    .option('--json', 'print one JSON line with the endpoints and accounts once ready')
    .option('--data <dir>', 'data directory (default: a fresh temporary one); reusing one resumes its chain')
    .option('--base-port <port>', 'JSON-RPC port of node 0; node i uses base+i (0 picks free ports)', '8545')
    .option('--heartbeat-ms <ms>', 'an idle ledger makes one empty block this often', '10000')
    .option(
      '--gas-limit <gas>',
      "the dev apps' block gas limit, 1,000,000 to 1,000,000,000 (default 30,000,000; when the network is created)",
    )
    .option('--portal-port <port>', 'the web portal’s port (0 picks a free one; default 3000, or free with --base-port 0)')
    .option('--no-portal', 'do not start the web portal')
    .option('--review-apps', 'app requests wait for the alliance’s approval (when the network is created)')
    .action(async (opts: DevOptions) => {
      const nodes = Number(opts.nodes);
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: '--nodes', value: opts.nodes },
          '--nodes must be 1 to 64',
        );
      }
      const heartbeatMs = Number(opts.heartbeatMs);
      if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0) {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: '--heartbeat-ms', value: opts.heartbeatMs },
          '--heartbeat-ms must be a positive integer',
        );
      }
      const gasLimit = opts.gasLimit === undefined ? undefined : Number(opts.gasLimit);
      if (gasLimit !== undefined && (!Number.isInteger(gasLimit) || gasLimit < 1_000_000 || gasLimit > 1_000_000_000)) {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: '--gas-limit', value: String(opts.gasLimit) },
          '--gas-limit must be an integer from 1000000 to 1000000000',
          { hint: 'Give the gas as a plain number, for example --gas-limit 150000000' },
        );
      }
      const dataDir = resolve(opts.data ?? mkdtempSync(join(tmpdir(), 'polis-dev-')));
      // With --base-port 0 (free ports, as tests and benchmarks run it) the portal takes a free port too.
      const portalPort = parsePort(opts.portalPort ?? (opts.basePort === '0' ? '0' : '3000'), '--portal-port');
      const { configs, passwordFile, keys } = await prepare(
        dataDir,
        nodes,
        parsePort(opts.basePort, '--base-port'),
        heartbeatMs,
        opts.reviewApps === true,
        gasLimit,
      );
      const started = configs.map((c, i) => startChild(c, passwordFile, join(dataDir, `node-${i}`, 'node.log')));
      const children = started.map((s) => s.child);
      let readies: Ready[];
      try {
        readies = await Promise.all(started.map((s) => s.ready));
      } catch (err) {
        await stopChildren(children);
        throw err;
      }
      let portal: { url: string; logins: Record<string, { email: string; password: string }> } | undefined;
      if (opts.portal) {
        const users = devPortalUsers(dataDir);
        const seedFile = join(dataDir, DEV_PORTAL_USERS_FILE);
        const started = startProcess<{ ready: true; url: string }>(
          [
            'portal',
            '--json',
            '--db',
            join(dataDir, 'portal.db'),
            '--master-key-file',
            join(dataDir, 'portal.key'),
            '--seed-file',
            seedFile,
            '--port',
            String(portalPort),
            '--gateway',
            ...readies.map((r) => r.rpcBase),
          ],
          join(dataDir, 'portal.log'),
          'the portal',
        );
        children.push(started.child);
        try {
          const ready = await started.ready;
          portal = {
            url: ready.url,
            logins: Object.fromEntries(users.map((u) => [u.kind, { email: u.email, password: u.password }])),
          };
        } catch (err) {
          await stopChildren(children);
          throw err;
        }
      }
      const accounts = Array.from({ length: DEV_ACCOUNTS }, (_, i) => devAccount(i));
      const endpoint = (r: Ready, appId: string) => `${r.rpcBase}/v1/${appId}/${keys[appId]}`;
      const first = readies[0] as Ready;
      const summary = {
        ready: true,
        dataDir,
        nodes: readies.map((r) => ({ name: r.name, pid: r.pid, rpcBase: r.rpcBase, rpcUrl: endpoint(r, DEV_APP.id) })),
        apps: DEV_APPS.map((a) => ({
          id: a.id,
          chainId: a.chainId,
          plan: a.plan,
          apiKey: keys[a.id] as string,
          rpcUrl: endpoint(first, a.id),
          wsUrl: endpoint(first, a.id).replace(/^http/, 'ws'),
        })),
        system: {
          chainId: DEV_SYSTEM.chainId,
          rpcUrl: `${first.rpcBase}/v1/system`,
          admins: accounts.slice(0, DEV_SYSTEM.admins).map((a) => a.address),
          threshold: DEV_SYSTEM.threshold,
        },
        ...(portal ? { portal } : {}),
        accounts,
      };
      if (opts.json) print(JSON.stringify(summary));
      else {
        print(`Polis dev network ready (${nodes} node${nodes === 1 ? '' : 's'}), data in ${dataDir}`);
        for (const n of summary.nodes) print(`  ${n.name}  ${n.rpcBase}  (pid ${n.pid})`);
        for (const a of summary.apps) {
          print(`App "${a.id}" (chain id ${a.chainId}, plan ${a.plan}), API key ${a.apiKey}`);
          print(`  JSON-RPC  ${a.rpcUrl}`);
          print(`  WebSocket ${a.wsUrl}`);
          print(
            `  REST      ${first.rpcBase}/api/v1/apps/${a.id}  (Authorization: Bearer <key>; ${first.rpcBase}/api/v1/openapi.json)`,
          );
        }
        print(
          `System ledger (chain id ${DEV_SYSTEM.chainId}): ${summary.system.rpcUrl}; admins are accounts 0-${DEV_SYSTEM.admins - 1}, ${DEV_SYSTEM.threshold} of them approve an action`,
        );
        if (portal) {
          print(`Portal ${portal.url}`);
          print(`  dev admin login      ${portal.logins.admin?.email}  password ${portal.logins.admin?.password}`);
          print(`  dev developer login  ${portal.logins.developer?.email}  password ${portal.logins.developer?.password}`);
          print(
            `  (also ${portal.logins.operator?.email} / ${portal.logins.operator?.password} and ${portal.logins.regulator?.email} / ${portal.logins.regulator?.password})`,
          );
        }
        print('Development accounts, each with 1,000,000 ETH on every app (fees are zero). Never use these keys elsewhere:');
        for (const a of accounts) print(`  ${a.address}  ${a.privateKey}`);
        print('Press Ctrl-C to stop.');
      }
      const exitCode = await new Promise<number>((done) => {
        let stopping = false;
        const stop = (code: number) => {
          if (stopping) return;
          stopping = true;
          void stopChildren(children).then(() => done(code));
        };
        process.once('SIGINT', () => stop(0));
        process.once('SIGTERM', () => stop(0));
        for (const [i, child] of children.entries()) {
          child.once('exit', (code, signal) => {
            if (stopping) return;
            const name = i < readies.length ? `node-${i}` : 'the portal';
            const log = i < readies.length ? join(dataDir, `node-${i}`, 'node.log') : join(dataDir, 'portal.log');
            process.stderr.write(`polis dev: ${name} exited (${signal ?? code}); stopping the network. See ${log}\n`);
            stop(1);
          });
        }
      });
      if (exitCode !== 0)
        throw new CliError({ code: CliErrorCode.INVALID_OPTION, option: 'node', value: 'exited' }, 'a node stopped unexpectedly');
    });
}
