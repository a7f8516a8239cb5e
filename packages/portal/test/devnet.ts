/**
 * A real dev network with the portal, for the portal's end-to-end and browser tests: `polis dev
 * --json` as a child process (4 city nodes as processes, the system ledger, the portal), on free
 * ports and a fresh data directory, stopped and removed by `close()`. It runs the built CLI and
 * front end (`npm test` builds them; see `ensureBuilt`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const BIN = join(ROOT, 'packages', 'cli', 'bin', 'polis.js');
const WEB_INDEX = join(ROOT, 'packages', 'portal', 'dist', 'web', 'index.html');

type Login = { email: string; password: string };

/** A running dev network. */
export type DevNetwork = {
  dataDir: string;
  portalUrl: string;
  nodes: Array<{ name: string; rpcBase: string; publicKey: string }>;
  apps: Array<{ id: string; chainId: number; apiKey: string; rpcUrl: string }>;
  system: { chainId: number; rpcUrl: string; admins: string[]; threshold: number };
  accounts: Array<{ address: string; privateKey: string }>;
  logins: { admin: Login; developer: Login; operator: Login; regulator: Login };
  close(): Promise<void>;
};

/** Builds the front end when it is missing (the CLI's dist is built by `npm test`'s typecheck). */
export function ensureBuilt(): void {
  if (!existsSync(BIN.replace('bin/polis.js', 'dist/main.js')) && !existsSync(join(ROOT, 'packages', 'cli', 'dist'))) {
    execFileSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'inherit' });
  }
  if (!existsSync(WEB_INDEX)) execFileSync('npm', ['run', 'build:web', '-w', '@polis/portal'], { cwd: ROOT, stdio: 'inherit' });
}

/** Starts `polis dev` with the portal and waits until every part serves. */
export async function startDevNetwork(
  options: { nodes?: number; reviewApps?: boolean; heartbeatMs?: number } = {},
): Promise<DevNetwork> {
  ensureBuilt();
  const dataDir = mkdtempSync(join(tmpdir(), 'polis-portal-e2e-'));
  const args = [
    BIN,
    'dev',
    '--json',
    '--nodes',
    String(options.nodes ?? 4),
    '--base-port',
    '0',
    '--portal-port',
    '0',
    '--data',
    dataDir,
    '--heartbeat-ms',
    String(options.heartbeatMs ?? 2000),
    ...(options.reviewApps ? ['--review-apps'] : []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, POLIS_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const summary = await new Promise<Record<string, unknown>>((done, fail) => {
    let buffer = '';
    const timer = setTimeout(() => fail(new Error(`polis dev was not ready within 120 s: ${stderr}`)), 120_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        done(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
      } catch (err) {
        fail(err);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`polis dev exited (${code}) before it was ready: ${stderr}`));
    });
  });
  const portal = summary.portal as { url: string; logins: DevNetwork['logins'] };
  const nodes = summary.nodes as Array<{ name: string; rpcBase: string }>;
  const withKeys = await Promise.all(
    nodes.map(async (n) => {
      const health = (await (await fetch(`${n.rpcBase}/healthz`)).json()) as { node: { publicKey: string } };
      return { name: n.name, rpcBase: n.rpcBase, publicKey: health.node.publicKey };
    }),
  );
  return {
    dataDir,
    portalUrl: portal.url,
    nodes: withKeys,
    apps: summary.apps as DevNetwork['apps'],
    system: summary.system as DevNetwork['system'],
    accounts: summary.accounts as DevNetwork['accounts'],
    logins: portal.logins,
    async close() {
      await new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        child.kill('SIGTERM');
      });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
