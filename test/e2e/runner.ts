/**
 * The e2e runner, after CometBFT's: a manifest describes a network and what happens to its nodes;
 * the runner takes it through the stages
 *
 *   setup -> start -> load (with the `at: 'load'` perturbations) -> perturb (`at: 'idle'`) -> wait -> check
 *
 * and tests the network from outside: every node is its own OS process (`polis node start`, the
 * built CLI), and every check goes through JSON-RPC.
 *
 * - **setup** writes one directory per node with `initNode` (an Ed25519 key, fixed RPC and p2p
 *   ports on 127.0.0.1, test controls on) and one genesis listing the validators and observers.
 * - **start** starts every node not listed in `startLate` and waits until all of them see block 1.
 * - **load** deploys an ERC-20 and sends transfers to the healthy nodes in rotation (`load.ts`),
 *   while the `at: 'load'` perturbations run in order; it ends when both `durationMs` has passed
 *   and the last of them is applied, and then waits for every transaction's receipt.
 * - **perturb** applies the `at: 'idle'` perturbations, with no load running.
 * - **wait** waits until every running node reaches the highest head any of them had.
 * - **check** (`checks.ts`): the same block hash and state root on every node at every height up
 *   to the lowest head; every receipt the load saw is on every node in the same block; no sent
 *   transaction is without a receipt; token balances on every node match the receipts; and every
 *   node's head still advances.
 *
 * A failed property is a line in `Report.failures`; the runner throws only when it cannot carry
 * out the manifest (a node does not start, a perturbation does not apply).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '@polis/core';
import { buildGenesis, devAccount, freePorts, type Genesis, grantAppKey, initNode, NODE_FILES, writeGenesis } from '@polis/node';
import { compileTestToken } from '../../packages/node/test/fixtures/compile.js';
import { checkBalances, checkBlocks, checkProgress, checkReceipts } from './checks.js';
import { Erc20Load, LOAD_DEFAULTS, type LoadOptions, type LoadStats } from './load.js';
import { NodeProcess } from './processes.js';
import { headOf, sleep } from './rpc.js';

/** What a perturbation does to its node. */
export type PerturbationKind =
  /** SIGKILL; the node stays down until a `restart`. */
  | 'kill'
  /** Starts the node again on its data directory (after a `kill`; a running node is first stopped with SIGTERM). */
  | 'restart'
  /** Starts a node for the first time: one listed in `startLate`, with an empty data directory. */
  | 'start'
  /** SIGSTOP: the process freezes with its sockets open. */
  | 'pause'
  /** SIGCONT. */
  | 'resume'
  /** The node's own p2p filter cuts it off from `peers` (default: every other node), both directions. */
  | 'disconnect'
  /** Lifts the node's partition. */
  | 'heal';

/**
 * The node a perturbation acts on: an index (validators are 0..validators-1 in validator order,
 * observers follow), `'next-proposer'`, or `'previous'` (the node the previous perturbation acted
 * on, e.g. to resume the proposer that was paused).
 *
 * `'next-proposer'` is the round-0 proposer of the next height that cannot have started when the
 * perturbation lands (proposer(h, r) = (h + r) mod n over the validators in genesis order,
 * consensus/validators.ts). With `head` the highest block any node reported just before: consensus
 * is deciding `head + 1`, whose proposal is usually out already, and `head + 2` starts as soon as
 * that is decided, which can happen while the heads are being read on a loaded machine. So it is
 * the proposer of `head + 3`: validator (head + 3) mod validators.
 */
export type NodeRef = number | 'next-proposer' | 'previous';

/** One perturbation. Perturbations of a stage run in manifest order. */
export type Perturbation = {
  node: NodeRef;
  /** `'load'`: while the load runs; `'idle'`: after it ended and every receipt is in. */
  at: 'load' | 'idle';
  /** Milliseconds after the previous perturbation of the same stage (or the start of the stage). */
  afterMs: number;
  kind: PerturbationKind;
  /** `disconnect` only: the nodes to cut it off from (default: all others). */
  peers?: number[];
};

/** A network and its perturbations. */
export type Manifest = {
  /** Validators of the ledger, all of equal power: nodes 0..validators-1. */
  validators: number;
  /** Admitted nodes that validate nothing (genesis `observers`): nodes validators..validators+observers-1. */
  observers?: number;
  /** Nodes the start stage leaves alone; a `start` perturbation starts them with an empty data directory. */
  startLate?: number[];
  /** The load stage; `durationMs` is its least length. */
  load: Partial<LoadOptions> & { durationMs: number };
  perturbations: Perturbation[];
  /** Consensus parameters of the genesis; the defaults are short, for a loopback network. */
  consensus?: Partial<Genesis['consensus']>;
  /** Seeds the load's choices of recipients and amounts (default: random, and reported). */
  seed?: number;
};

/** A perturbation as it was applied. */
export type AppliedPerturbation = {
  kind: PerturbationKind;
  at: 'load' | 'idle';
  node: number;
  /** When it applied, in ms since the run started. */
  tMs: number;
  /** Every node's head read just before it applied; null for a node that was down or paused. */
  heads: Array<number | null>;
  /** The same, read just after it applied. */
  headsAfter: Array<number | null>;
};

/** What a run did and found. */
export type Report = {
  seed: number;
  /** Milliseconds per stage. */
  stagesMs: Record<'setup' | 'start' | 'load' | 'perturb' | 'wait' | 'check', number>;
  timeline: AppliedPerturbation[];
  load: LoadStats | undefined;
  /** Every node's head at the end; null for a node that is not running. */
  heads: Array<number | null>;
  /** The lowest head of the running nodes: blocks 0..commonHead were compared. */
  commonHead: number;
  /** Nodes the check stage read. */
  checkedNodes: string[];
  /** Receipts read back, summed over nodes. */
  receiptsChecked: number;
  /** Every property that did not hold, one sentence each. Empty when the network passed. */
  failures: string[];
};

const LEDGER = { id: 'e2e', chainId: 31337 };
const PASSWORD = 'polis-e2e';
/** Loopback timeouts, as `polis dev` uses: a lost proposer costs about a second. */
const CONSENSUS_DEFAULTS: Partial<Genesis['consensus']> = {
  proposeMs: 1000,
  proposeDeltaMs: 250,
  prevoteMs: 500,
  prevoteDeltaMs: 250,
  precommitMs: 500,
  precommitDeltaMs: 250,
  gossipMs: 250,
  heartbeatMs: 300,
};
const START_TIMEOUT_MS = 30_000;
const DEPLOY_TIMEOUT_MS = 20_000;
const DRAIN_TIMEOUT_MS = 20_000;
const WAIT_TIMEOUT_MS = 30_000;
/** After the perturbations, every node's head must advance this much ... */
const PROGRESS_BLOCKS = 2;
/** ... within this long. */
const PROGRESS_TIMEOUT_MS = 10_000;

/** Rejects manifests the runner cannot carry out, before any process starts. */
export function validateManifest(m: Manifest): void {
  const total = m.validators + (m.observers ?? 0);
  const fail = (why: string) => {
    throw new Error(`invalid e2e manifest: ${why}`);
  };
  if (!Number.isInteger(m.validators) || m.validators < 1) fail('validators must be a positive integer');
  if (m.observers !== undefined && (!Number.isInteger(m.observers) || m.observers < 0))
    fail('observers must be a non-negative integer');
  const late = new Set(m.startLate ?? []);
  for (const i of late) if (!Number.isInteger(i) || i < 0 || i >= total) fail(`startLate names node ${i}; there are ${total}`);
  if (late.size >= total) fail('at least one node must start in the start stage');
  // Follow each node's state through the perturbations; dynamic targets are checked when they apply.
  type State = 'unstarted' | 'up' | 'killed' | 'paused' | 'disconnected';
  const state: State[] = Array.from({ length: total }, (_, i) => (late.has(i) ? 'unstarted' : 'up'));
  let previous: number | 'dynamic' | undefined;
  let seenIdle = false;
  const allowed: Record<PerturbationKind, State[]> = {
    kill: ['up', 'disconnected'],
    restart: ['up', 'killed', 'disconnected'],
    start: ['unstarted'],
    pause: ['up', 'disconnected'],
    resume: ['paused'],
    disconnect: ['up'],
    heal: ['disconnected'],
  };
  const next: Record<PerturbationKind, State> = {
    kill: 'killed',
    restart: 'up',
    start: 'up',
    pause: 'paused',
    resume: 'up',
    disconnect: 'disconnected',
    heal: 'up',
  };
  for (const [i, p] of m.perturbations.entries()) {
    if (p.at === 'load') {
      if (seenIdle) fail(`perturbation ${i}: 'load' perturbations must come before the 'idle' ones`);
    } else seenIdle = true;
    if (!Number.isFinite(p.afterMs) || p.afterMs < 0) fail(`perturbation ${i}: afterMs must be >= 0`);
    let node: number | undefined;
    if (typeof p.node === 'number') node = p.node;
    else if (p.node === 'previous') {
      if (previous === undefined) fail(`perturbation ${i}: 'previous' needs a perturbation before it`);
      node = previous === 'dynamic' ? undefined : previous;
    } else if (m.validators < 2) fail(`perturbation ${i}: 'next-proposer' needs at least 2 validators`);
    if (node !== undefined) {
      if (!Number.isInteger(node) || node < 0 || node >= total) fail(`perturbation ${i}: node ${node} does not exist`);
      const s = state[node] as State;
      if (!allowed[p.kind].includes(s)) fail(`perturbation ${i}: cannot ${p.kind} node ${node}, which is ${s} by then`);
      state[node] = next[p.kind];
    }
    previous = node ?? 'dynamic';
    if (p.peers && p.kind !== 'disconnect') fail(`perturbation ${i}: peers is for disconnect only`);
  }
  const stuck = state.flatMap((s, i) => (s === 'paused' || s === 'disconnected' ? [`node ${i} is ${s}`] : []));
  if (stuck.length > 0) fail(`every node must end resumed and healed (${stuck.join(', ')}), or the checks cannot read it`);
}

/** A network on this machine, built from a manifest. `close` stops every process and removes the directory. */
export class Testnet {
  readonly nodes: NodeProcess[];
  private load: Erc20Load | undefined;
  private readonly t0 = performance.now();
  private readonly timeline: AppliedPerturbation[] = [];
  private previousNode: number | undefined;
  private readonly stagesMs: Report['stagesMs'] = { setup: 0, start: 0, load: 0, perturb: 0, wait: 0, check: 0 };

  private constructor(
    readonly manifest: Manifest,
    readonly dir: string,
    nodes: NodeProcess[],
    readonly seed: number,
  ) {
    this.nodes = nodes;
  }

  /** Setup: node directories, keys, ports and the genesis. No process starts yet. */
  static async setup(manifest: Manifest): Promise<Testnet> {
    validateManifest(manifest);
    const t = performance.now();
    const dir = mkdtempSync(join(tmpdir(), 'polis-e2e-'));
    try {
      const total = manifest.validators + (manifest.observers ?? 0);
      const passwordFile = join(dir, 'password');
      writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
      // Fixed ports: peers dial the p2p port from the genesis, and clients keep their RPC URL across restarts.
      const ports = await freePorts(2 * total);
      // One access file for the whole network, with one key for the load and the checks.
      const accessFile = join(dir, NODE_FILES.access);
      const apiKey = grantAppKey(accessFile, { appId: LEDGER.id, plan: 'dedicated', scopes: ['admin'], label: 'e2e' });
      const identities = Array.from({ length: total }, (_, i) =>
        initNode({
          dir: join(dir, `node-${i}`),
          name: `node-${i}`,
          password: PASSWORD,
          rpcPort: ports[i] as number,
          p2pPort: ports[total + i] as number,
          lightKdf: true,
          testControls: true,
          accessFile,
        }),
      );
      const genesis = buildGenesis({
        validators: identities.slice(0, manifest.validators),
        observers: identities.slice(manifest.validators),
        ledgers: [LEDGER],
        consensus: { ...CONSENSUS_DEFAULTS, ...manifest.consensus },
      });
      const nodes = identities.map((identity, i) => {
        writeGenesis(join(dir, `node-${i}`, NODE_FILES.genesis), genesis);
        return new NodeProcess({
          index: i,
          name: identity.name,
          role: i < manifest.validators ? 'validator' : 'observer',
          dir: join(dir, `node-${i}`),
          publicKey: identity.publicKey,
          ledgerId: LEDGER.id,
          apiKey,
          passwordFile,
        });
      });
      const net = new Testnet(manifest, dir, nodes, manifest.seed ?? Math.floor(Math.random() * 2 ** 32));
      net.stagesMs.setup = Math.round(performance.now() - t);
      return net;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Runs the stages after setup and reports what held and what did not. */
  async run(): Promise<Report> {
    const failures: string[] = [];
    await this.stage('start', () => this.start());
    await this.stage('load', () => this.runLoad(failures));
    await this.stage('perturb', () => this.perturb('idle'));
    await this.stage('wait', () => this.wait(failures));
    const checked = await this.stage('check', () => this.check(failures));
    return {
      seed: this.seed,
      stagesMs: { ...this.stagesMs },
      timeline: [...this.timeline],
      load: this.load?.stats(),
      heads: await this.heads(),
      ...checked,
      failures,
    };
  }

  private async stage<T>(name: keyof Report['stagesMs'], fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.stagesMs[name] = Math.round(performance.now() - t);
    }
  }

  /** ms since the testnet was set up. */
  private now(): number {
    return Math.round(performance.now() - this.t0);
  }

  /** Every node's head; null for a node that is down or paused (it would not answer). */
  async heads(): Promise<Array<number | null>> {
    return Promise.all(
      this.nodes.map((n) => (n.alive && !n.paused ? headOf(n.rpcUrl, 1_500).catch(() => null) : Promise.resolve(null))),
    );
  }

  private async start(): Promise<void> {
    const late = new Set(this.manifest.startLate ?? []);
    const first = this.nodes.filter((n) => !late.has(n.spec.index));
    await Promise.all(first.map((n) => n.start()));
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      const heads = await Promise.all(first.map((n) => headOf(n.rpcUrl).catch(() => 0)));
      if (heads.every((h) => h >= 1)) return;
      if (performance.now() > deadline)
        throw new Error(`the network made no block within ${START_TIMEOUT_MS} ms (heads ${heads.join(', ')}); see ${this.dir}`);
      await sleep(100);
    }
  }

  private async runLoad(failures: string[]): Promise<void> {
    const compiled = await compileTestToken();
    const options = { ...LOAD_DEFAULTS, ...this.manifest.load };
    const load = new Erc20Load(this.nodes, {
      ...options,
      chainId: LEDGER.chainId,
      token: compiled,
      accounts: Array.from({ length: options.senders + 1 }, (_, i) => devAccount(i).privateKey),
      random: seededRandom(this.seed),
    });
    this.load = load;
    await load.deploy(DEPLOY_TIMEOUT_MS);
    const started = performance.now();
    load.start();
    await this.perturb('load');
    await sleep(this.manifest.load.durationMs - (performance.now() - started));
    await load.drain(DRAIN_TIMEOUT_MS);
    const stats = load.stats();
    failures.push(...stats.rejections.map((r) => `load: ${r}`));
  }

  /** Applies the perturbations of one stage, in order. */
  private async perturb(at: 'load' | 'idle'): Promise<void> {
    for (const p of this.manifest.perturbations) {
      if (p.at !== at) continue;
      await sleep(p.afterMs);
      const heads = await this.heads();
      const index = this.resolve(p.node, heads);
      const node = this.nodes[index] as NodeProcess;
      const tMs = this.now();
      switch (p.kind) {
        case 'kill':
          await node.kill();
          break;
        case 'restart':
          if (node.alive) await node.stop();
          await node.start();
          break;
        case 'start':
          await node.start();
          break;
        case 'pause':
          node.pause();
          break;
        case 'resume':
          node.resume();
          break;
        case 'disconnect': {
          const peers = (p.peers ?? this.nodes.map((_, i) => i).filter((i) => i !== index)).map(
            (i) => (this.nodes[i] as NodeProcess).spec.publicKey,
          );
          await node.disconnect(peers);
          break;
        }
        case 'heal':
          await node.heal();
          break;
      }
      this.timeline.push({ kind: p.kind, at, node: index, tMs, heads, headsAfter: await this.heads() });
    }
  }

  private resolve(ref: NodeRef, heads: Array<number | null>): number {
    let index: number;
    if (ref === 'previous') {
      if (this.previousNode === undefined) throw new Error("'previous' names no node: no perturbation ran before it");
      index = this.previousNode;
    } else if (ref === 'next-proposer') {
      const head = Math.max(...heads.map((h) => h ?? -1));
      if (head < 0) throw new Error("'next-proposer' needs a node that answers eth_blockNumber");
      index = (head + 3) % this.manifest.validators;
    } else index = ref;
    this.previousNode = index;
    return index;
  }

  /** Waits until every running node reaches the highest head any of them has now. */
  private async wait(failures: string[]): Promise<void> {
    const stuck = this.nodes.filter((n) => n.alive && (n.paused || n.disconnected));
    if (stuck.length > 0)
      throw new Error(
        `the manifest leaves ${stuck.map((n) => n.spec.name).join(', ')} paused or disconnected; resume and heal them`,
      );
    const running = this.nodes.filter((n) => n.alive);
    const first = await this.heads();
    const target = Math.max(...first.map((h) => h ?? -1));
    const deadline = performance.now() + WAIT_TIMEOUT_MS;
    let heads = first;
    while (performance.now() < deadline) {
      heads = await this.heads();
      if (running.every((n) => (heads[n.spec.index] ?? -1) >= target)) return;
      await sleep(100);
    }
    const behind = running.filter((n) => (heads[n.spec.index] ?? -1) < target);
    failures.push(
      ...behind.map(
        (n) => `wait: ${n.spec.name} is at height ${heads[n.spec.index]}, short of ${target}, after ${WAIT_TIMEOUT_MS} ms`,
      ),
    );
  }

  private async check(failures: string[]): Promise<Pick<Report, 'commonHead' | 'checkedNodes' | 'receiptsChecked'>> {
    // A node that died by itself is a failure even if the others converged without it.
    for (const n of this.nodes) failures.push(...n.crashes);
    const running = this.nodes.filter((n) => n.alive);
    const blocks = await checkBlocks(running);
    failures.push(...blocks.failures);
    let receiptsChecked = 0;
    if (this.load) {
      const receipts = await checkReceipts(running, [...this.load.records.values()]);
      receiptsChecked = receipts.checked;
      failures.push(...receipts.failures);
      failures.push(...(await checkBalances(running, this.load, LEDGER.chainId)));
    }
    failures.push(...(await checkProgress(running, PROGRESS_BLOCKS, PROGRESS_TIMEOUT_MS)));
    return { commonHead: blocks.commonHead, checkedNodes: running.map((n) => n.spec.name), receiptsChecked };
  }

  /** Stops every node (SIGTERM, then SIGKILL), the load, and removes the directory unless POLIS_E2E_KEEP=1. */
  async close(): Promise<void> {
    try {
      await this.load?.close();
    } finally {
      await Promise.all(this.nodes.map((n) => n.stop()));
      if (process.env.POLIS_E2E_KEEP === '1') process.stderr.write(`polis e2e: kept ${this.dir}\n`);
      else rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
