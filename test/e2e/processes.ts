/**
 * One city node as its own OS process: `polis node start --config <dir>/config.json`, the built
 * CLI. Its first stdout line is a ready JSON; its logs (stderr) go to `<dir>/node.log`. The runner
 * kills (SIGKILL), restarts, pauses (SIGSTOP/SIGCONT) and disconnects (the node's own p2p filter,
 * through its test routes) each node on its own.
 *
 * Every process started here is also in a module-wide set, so that `killAllNodeProcesses` (an
 * `afterAll` fallback) and the process `exit` hook can SIGKILL whatever a failed test left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RPC_TIMEOUT_MS } from './rpc.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** The built CLI: child processes run `dist/`, which `npm test` and `npm run e2e` rebuild first. */
export const POLIS_BIN = join(ROOT, 'packages/cli/bin/polis.js');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

const live = new Set<ChildProcess>();

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGKILLs every node process this module started that is still running (SIGCONT first, for paused ones). */
export function killAllNodeProcesses(): void {
  for (const child of live) {
    if (running(child)) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  }
  live.clear();
}
// A worker that dies without running its hooks still takes its nodes with it; a node also exits
// when its stdin closes (POLIS_EXIT_WITH_PARENT), unless it is stopped, which this hook covers.
process.once('exit', killAllNodeProcesses);

function exited(child: ChildProcess): Promise<void> {
  if (!running(child)) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

/** The line `polis node start` prints once it serves requests. */
type ReadyLine = { ready: true; name: string; pid: number; rpcBase: string; ledgers: Array<{ id: string; rpcUrl: string }> };

/** What the runner knows about one node. */
export type NodeSpec = {
  index: number;
  name: string;
  role: 'validator' | 'observer';
  dir: string;
  /** The Ed25519 node key, 0x-hex: what the partition route takes. */
  publicKey: string;
  ledgerId: string;
  /** The API key the tests use for the ledger. */
  apiKey: string;
  passwordFile: string;
};

/** The life of one node process, started and perturbed by the runner. */
export class NodeProcess {
  private child: ChildProcess | undefined;
  private ready: ReadyLine | undefined;
  /** SIGSTOPped and not yet resumed. */
  paused = false;
  /** Cut off from the given peers by its p2p filter. */
  disconnected = false;
  /** How many times it was started. */
  starts = 0;
  /** Exits the runner did not cause (a crash), with the end of the log at that moment. */
  readonly crashes: string[] = [];
  private expectExit = false;

  constructor(readonly spec: NodeSpec) {}

  get logPath(): string {
    return join(this.spec.dir, 'node.log');
  }

  /** Whether its process is alive (paused or not). */
  get alive(): boolean {
    return this.child !== undefined && running(this.child);
  }

  /** Alive, not paused and not cut off: a node a client could use right now. */
  get healthy(): boolean {
    return this.alive && !this.paused && !this.disconnected;
  }

  get pid(): number | undefined {
    return this.alive ? this.child?.pid : undefined;
  }

  /** The ledger's JSON-RPC endpoint; it stays the same across restarts (the RPC port is fixed at setup). */
  get rpcUrl(): string {
    const url = this.ready?.ledgers.find((l) => l.id === this.spec.ledgerId)?.rpcUrl;
    if (!url) throw new Error(`${this.spec.name} was never started, so it has no RPC URL`);
    return `${url}/${this.spec.apiKey}`;
  }

  /** The base of the node's HTTP server, where the test routes are. */
  get rpcBase(): string {
    if (!this.ready) throw new Error(`${this.spec.name} was never started`);
    return this.ready.rpcBase;
  }

  /** Starts the process on its directory and resolves once it printed its ready line. */
  async start(): Promise<void> {
    if (this.alive) throw new Error(`${this.spec.name} is already running (pid ${this.child?.pid})`);
    const log = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [POLIS_BIN, 'node', 'start', '--config', join(this.spec.dir, 'config.json'), '--password-file', this.spec.passwordFile],
        {
          // stdin is a pipe so the node exits when the test process goes away (POLIS_EXIT_WITH_PARENT).
          stdio: ['pipe', 'pipe', log],
          env: { ...process.env, POLIS_EXIT_WITH_PARENT: '1', POLIS_LOG_LEVEL: process.env.POLIS_E2E_LOG_LEVEL ?? 'info' },
        },
      );
    } finally {
      closeSync(log);
    }
    live.add(child);
    this.expectExit = false;
    child.once('exit', (code, signal) => {
      live.delete(child);
      if (!this.expectExit) this.crashes.push(`${this.spec.name} exited (${signal ?? code}) by itself: ${this.logTail()}`);
    });
    this.child = child;
    this.paused = false;
    this.disconnected = false;
    this.starts++;
    this.ready = await new Promise<ReadyLine>((done, fail) => {
      let buffer = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(new Error(`${this.spec.name} was not ready within ${READY_TIMEOUT_MS} ms; see ${this.logPath}`));
      }, READY_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const newline = buffer.indexOf('\n');
        if (newline < 0) return;
        clearTimeout(timer);
        child.off('exit', onExit);
        // Keep draining stdout so the child never blocks on a full pipe.
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        try {
          done(JSON.parse(buffer.slice(0, newline)) as ReadyLine);
        } catch {
          fail(new Error(`${this.spec.name} printed an unexpected first line: ${buffer.slice(0, newline)}`));
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        clearTimeout(timer);
        fail(new Error(`${this.spec.name} exited (${signal ?? code}) before it was ready; see ${this.logPath}`));
      };
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
    });
  }

  /** SIGKILL: the process dies at once, with whatever it had not made durable. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !running(child)) throw new Error(`${this.spec.name} is not running, so it cannot be killed`);
    this.expectExit = true;
    child.kill('SIGKILL');
    await exited(child);
    this.paused = false;
  }

  /** SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS. Resolves with how it exited. */
  async stop(): Promise<string> {
    const child = this.child;
    if (!child || !running(child)) return 'not running';
    this.expectExit = true;
    if (this.paused) child.kill('SIGCONT');
    this.paused = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.kill('SIGTERM');
    await exited(child);
    clearTimeout(timer);
    return String(child.signalCode ?? child.exitCode);
  }

  /** The last lines of its log that are not JSON records (a crash's stack), or else its last record. */
  logTail(lines = 6): string {
    let text: string;
    try {
      text = readFileSync(this.logPath, 'utf8').slice(-16_384);
    } catch {
      return '(no log)';
    }
    const all = text.split('\n').filter((l) => l.trim() !== '');
    const plain = all.filter((l) => !l.startsWith('{'));
    return (plain.length > 0 ? plain.slice(-lines) : all.slice(-1)).join(' | ');
  }

  /** SIGSTOP: the process freezes; its sockets stay open but nothing answers. */
  pause(): void {
    if (!this.alive || this.paused) throw new Error(`${this.spec.name} is not running unpaused, so it cannot be paused`);
    this.child?.kill('SIGSTOP');
    this.paused = true;
  }

  /** SIGCONT. */
  resume(): void {
    if (!this.alive || !this.paused) throw new Error(`${this.spec.name} is not paused, so it cannot be resumed`);
    this.child?.kill('SIGCONT');
    this.paused = false;
  }

  /** Cuts this node off from `peers` (Ed25519 public keys) with its own p2p filter: both directions. */
  async disconnect(peers: string[]): Promise<void> {
    await this.testRoute('/test/partition', { peers });
    this.disconnected = true;
  }

  /** Lets every admitted peer connect again. */
  async heal(): Promise<void> {
    await this.testRoute('/test/heal', {});
    this.disconnected = false;
  }

  private async testRoute(path: string, body: unknown): Promise<void> {
    if (!this.healthy && !this.disconnected)
      throw new Error(`${this.spec.name} is not running unpaused, so ${path} cannot reach it`);
    const res = await fetch(`${this.rpcBase}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`${this.spec.name} ${path}: HTTP ${res.status} ${await res.text()}`);
  }
}
