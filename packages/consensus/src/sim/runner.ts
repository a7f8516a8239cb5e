/**
 * The simulation runner: builds N replicas of the real `ConsensusEngine` over a simulated clock,
 * network and disk, drives them through a seeded schedule of faults, heals everything, demands
 * progress, and runs the checkers. One seed fixes every choice, so a failing seed replays
 * exactly, and the trace hash (sha256 over a canonical log of deliveries, crashes, restarts and
 * decisions) proves it.
 *
 * A run has two phases:
 * 1. the fault phase: drops, delays, duplicates, partitions, crashes and Byzantine nodes, until the
 *    final heal (a time drawn from the seed, or earlier once the ledger is close to its height goal);
 * 2. after the final heal: partitions end and crashed nodes restart (drops, delays, duplicates and
 *    Byzantine nodes go on); every honest node must then reach the target height within a bound.
 *
 * Reconfigure runs (`reconfigure: true`) run a pool of n validators plus RECONFIGURE_SPARES
 * observers, and change the validator set at 2 to 4 seeded moments (swap, add, remove); the
 * committed blocks carry each change, and every application tells its engine the set of each
 * height. Removed validators go on as observers. Every fault stays on.
 */
import { createHash } from 'node:crypto';
import {
  bytesToHex,
  createEd25519Signer,
  type Ed25519Signer,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  sha256,
  utf8ToBytes,
} from '@polis/core';
import type { CoreContext } from '../core/machine.js';
import { ConsensusEngine, type EngineEvent } from '../engine/engine.js';
import type { CommittedBlock, Network } from '../engine/types.js';
import { decodeWire } from '../engine/wire.js';
import { PROPOSAL_DOMAIN, type TimeoutParams, VOTE_DOMAIN } from '../params.js';
import type { ConsensusMessage } from '../types.js';
import { equalPowerSet, type ValidatorSet } from '../validators.js';
import {
  decodeSimBlock,
  drawValidatorUpdates,
  encodeSimTx,
  Mempool,
  SimApp,
  type SimReconfigOptions,
  type ValidatorUpdate,
  ValidityRegistry,
} from './app.js';
import { type ByzantineBehaviour, Coalition, createByzantineFilter } from './byzantine.js';
import {
  chainValidatorSets,
  type DecisionRecord,
  type FinalSetRecord,
  runCheckers,
  SAFETY_KINDS,
  SignatureWatch,
  type SimHistory,
  type Violation,
} from './checkers.js';
import { NodeClock, SimScheduler } from './clock.js';
import { SimDisk } from './disk.js';
import { type NetworkStats, type OutgoingFilter, SimNetwork } from './network.js';
import { Rng } from './rng.js';
import { type CityNode, cityLatencyMs, createCityNodes, drawValidators } from './wan.js';

/** The fault kinds a run can switch on. `delay` includes reordering. */
export type FaultKind = 'drop' | 'delay' | 'duplicate' | 'partition' | 'crash' | 'byzantine';
/** Every fault kind, in canonical order. */
export const FAULT_KINDS: readonly FaultKind[] = ['drop', 'delay', 'duplicate', 'partition', 'crash', 'byzantine'];

/** The Byzantine behaviours a run uses unless told otherwise (amnesia breaks safety with f+1 nodes, so it is opt-in). */
export const DEFAULT_BEHAVIOURS: readonly ByzantineBehaviour[] = ['equivocate', 'double-vote', 'invalid'];

/** Timeouts for a simulated LAN: short, so that faulty runs still finish in little virtual time. */
export const SIM_TIMEOUTS: TimeoutParams = {
  proposeMs: 300,
  proposeDeltaMs: 100,
  prevoteMs: 150,
  prevoteDeltaMs: 75,
  precommitMs: 150,
  precommitDeltaMs: 75,
};

/** Timeouts for the WAN model: the slowest quorum path is a few hundred ms one way. */
export const WAN_TIMEOUTS: TimeoutParams = {
  proposeMs: 1500,
  proposeDeltaMs: 500,
  prevoteMs: 1000,
  prevoteDeltaMs: 500,
  precommitMs: 1000,
  precommitDeltaMs: 500,
};

/** The ledger id of simulated ledgers. */
export const SIM_LEDGER_ID = utf8ToBytes('polis-sim');

/** Heights that every honest node must commit after the final heal. */
export const LIVENESS_HEIGHTS_DEFAULT = 3;
/** Virtual time allowed after the final heal: a base, plus a share per height still to go. */
export const LIVENESS_BASE_MS = 30_000;
export const LIVENESS_PER_HEIGHT_MS = 2_000;

/** Nodes beyond the n validators in a reconfigure run: observers that may join the set. */
export const RECONFIGURE_SPARES = 2;

/** What a test may do when a node is about to send a message. */
export type SendDecision = 'send' | 'crash';

/** Everything a run is configured with; only `seed` is required. */
export type SimOptions = {
  seed: number;
  /** Number of validators, n (default 4). */
  validators?: number;
  /** Byzantine validators when the `byzantine` fault is on (default f = floor((n - 1) / 3)). */
  byzantine?: number;
  /** What Byzantine validators do; each picks a non-empty random subset (default DEFAULT_BEHAVIOURS). */
  behaviours?: readonly ByzantineBehaviour[];
  /** Fault kinds switched on (default all). */
  faults?: readonly FaultKind[];
  /** The height every honest node must reach (default 12). */
  heights?: number;
  /** Heights every honest node must commit after the final heal (default 3). */
  livenessHeights?: number;
  /** Length of the fault phase in virtual ms (default drawn from the seed, 2 s to 12 s). */
  faultPhaseMs?: number;
  /** The WAN model: validators drawn from 100 city nodes in six regions; faults are off except delay. */
  wan?: boolean;
  timeouts?: TimeoutParams;
  heartbeatMs?: number;
  /** The slowest idle heartbeat (EngineOptions.idleHeartbeatMaxMs); absent: a steady heartbeat. */
  idleHeartbeatMaxMs?: number;
  gossipMs?: number;
  /** Called for every line of the trace (slow; for debugging one seed). */
  trace?: (line: string) => void;
  /** Also pass every delivery, decoded, to `trace` (not part of the trace hash). */
  traceMessages?: boolean;
  /** Called when a node hands a consensus message to the network; 'crash' crashes it instead of sending. */
  interceptSend?: (e: { node: number; message: ConsensusMessage; nowMs: number }) => SendDecision;
  /** Called at the end of the run, before the engines close, with each node's engine (null when down). */
  inspect?: (engines: ReadonlyArray<ConsensusEngine | null>) => void;
  /** Whether Byzantine validators collude on one split of the honest ones (default drawn from the seed). */
  collude?: boolean;
  /** Mean of the exponential network jitter in ms when `delay` is on (default drawn from the seed). */
  jitterMeanMs?: number;
  /** Mean virtual ms between partition episodes when `partition` is on (default 700). */
  partitionMeanGapMs?: number;
  /** The message drop rate when `drop` is on (default drawn from the seed: 1% up to 5%, 15% or 30%). */
  dropRate?: number;
  /** The validator indices that are Byzantine (default: drawn from the seed; from the whole pool in reconfigure runs). */
  byzantineNodes?: readonly number[];
  /**
   * Change the validator set during the run: n validators plus RECONFIGURE_SPARES observers, and
   * 2 to 4 seeded set updates (swap, add, remove) carried by committed blocks. Not with `wan`.
   */
  reconfigure?: boolean;
  /**
   * Reconfigure runs: replaces the set a node's application reports to its engine for a height
   * (`initial` is the set of height 1). For tests that show the checkers catch a wrong set.
   */
  overrideValidatorSet?: (e: { node: number; height: number; set: ValidatorSet; initial: ValidatorSet }) => ValidatorSet;
};

/** What a reconfigure run did to the validator set, for tests and reports. */
export type ReconfigReport = {
  /** The schedule the applications knew. */
  schedule: ValidatorUpdate[];
  /** The sets the committed chain put in force: each from its height on (pool nodes). */
  sets: Array<{ from: number; members: number[] }>;
  /** Per committed height (ascending from 1): the nodes whose precommits are in its certificate. */
  signers: number[][];
  /** Heights at which each node (by index) signed a vote or a proposal. */
  signedHeights: number[][];
  /** The height each node had committed at the end. */
  committed: number[];
};

/** The outcome of one run. */
export type SimResult = {
  seed: number;
  ok: boolean;
  violations: Violation[];
  /** The lowest height every honest node committed. */
  heights: number;
  /** sha256 over the canonical trace: replays of a seed give the same hash. */
  traceHash: string;
  virtualMs: number;
  events: number;
  byzantine: number[];
  /** The exact command that replays this run. */
  replay: string;
  stats: {
    network: NetworkStats;
    crashes: number;
    tornTails: number;
    walSyncs: number;
    evidence: number;
    maxRound: number;
    lies: number;
    healMs: number;
  };
  /** For each transaction committed by its origin node: virtual ms from submission to commit there. */
  txLatenciesMs: number[];
  /** Virtual ms between the first honest decisions of consecutive heights. */
  blockIntervalsMs: number[];
  /** Reconfigure runs: the schedule and what the chain made of it; null otherwise. */
  reconfig: ReconfigReport | null;
};

function scaleTimeouts(t: TimeoutParams, k: number): TimeoutParams {
  return {
    proposeMs: Math.round(t.proposeMs * k),
    proposeDeltaMs: Math.round(t.proposeDeltaMs * k),
    prevoteMs: Math.round(t.prevoteMs * k),
    prevoteDeltaMs: Math.round(t.prevoteDeltaMs * k),
    precommitMs: Math.round(t.precommitMs * k),
    precommitDeltaMs: Math.round(t.precommitDeltaMs * k),
  };
}

/** Resolved options, with every default applied. */
type Resolved = Required<
  Omit<
    SimOptions,
    | 'trace'
    | 'interceptSend'
    | 'byzantineNodes'
    | 'faultPhaseMs'
    | 'traceMessages'
    | 'inspect'
    | 'dropRate'
    | 'timeouts'
    | 'gossipMs'
    | 'partitionMeanGapMs'
    | 'jitterMeanMs'
    | 'collude'
    | 'overrideValidatorSet'
    | 'idleHeartbeatMaxMs'
  >
> & {
  idleHeartbeatMaxMs: number | undefined;
  traceMessages: boolean;
  faultPhaseMs: number | undefined;
  trace: SimOptions['trace'];
  interceptSend: SimOptions['interceptSend'];
  byzantineNodes: readonly number[] | undefined;
};

function resolve(o: SimOptions): Resolved {
  const validators = o.validators ?? 4;
  const wan = o.wan ?? false;
  const faults = wan ? (['delay'] as FaultKind[]) : [...(o.faults ?? FAULT_KINDS)];
  const f = Math.floor((validators - 1) / 3);
  return {
    seed: o.seed,
    validators,
    byzantine: faults.includes('byzantine') ? (o.byzantine ?? f) : 0,
    behaviours: o.behaviours ?? DEFAULT_BEHAVIOURS,
    faults,
    heights: o.heights ?? 12,
    livenessHeights: o.livenessHeights ?? LIVENESS_HEIGHTS_DEFAULT,
    faultPhaseMs: o.faultPhaseMs,
    wan,
    heartbeatMs: o.heartbeatMs ?? (wan ? 5_000 : 500),
    idleHeartbeatMaxMs: o.idleHeartbeatMaxMs,
    trace: o.trace,
    traceMessages: o.traceMessages ?? false,
    interceptSend: o.interceptSend,
    byzantineNodes: o.byzantineNodes,
    reconfigure: o.reconfigure ?? false,
  };
}

/** The command that replays a run with these options. */
export function replayCommand(o: SimOptions): string {
  const r = resolve(o);
  const parts = ['npx polis sim', `--seed ${r.seed}`, `--validators ${r.validators}`];
  if (r.wan) parts.push('--wan');
  else {
    parts.push(`--faults ${r.faults.length > 0 ? r.faults.join(',') : 'none'}`);
    if (r.faults.includes('byzantine')) parts.push(`--byzantine ${r.byzantine}`);
    if (r.behaviours.join(',') !== DEFAULT_BEHAVIOURS.join(',')) parts.push(`--behaviours ${r.behaviours.join(',')}`);
    if (r.reconfigure) parts.push('--reconfigure');
  }
  parts.push(`--heights ${r.heights}`);
  // Test-only knobs have no CLI flag; say so rather than print a command that replays something else.
  const extra = (
    [
      'timeouts',
      'gossipMs',
      'heartbeatMs',
      'idleHeartbeatMaxMs',
      'jitterMeanMs',
      'dropRate',
      'partitionMeanGapMs',
      'collude',
      'byzantineNodes',
      'faultPhaseMs',
      'livenessHeights',
      'interceptSend',
      'overrideValidatorSet',
    ] as const
  ).filter((k) => o[k] !== undefined);
  if (extra.length > 0) parts.push(`(plus runSimulation options ${extra.join(', ')})`);
  return parts.join(' ');
}

/** A one-line description of a wire message, for debugging traces. */
export function describeWire(bytes: Uint8Array): string {
  try {
    const w = decodeWire(bytes);
    if (w.kind === 'sync-request') return `sync-request h=${w.height}`;
    if (w.kind === 'sync-response') return `sync-response ${w.blocks.map((b) => b.height).join(',')}`;
    const m = w.message;
    if (m.kind === 'proposal') {
      const p = m.proposal;
      return `proposal h=${p.height} r=${p.round} pol=${p.polRound} by=${p.validator} id=${bytesToHex(p.valueId).slice(2, 10)}`;
    }
    const v = m.vote;
    return `${v.type} h=${v.height} r=${v.round} by=${v.validator} id=${v.valueId ? bytesToHex(v.valueId).slice(2, 10) : 'nil'}`;
  } catch {
    return 'undecodable';
  }
}

const VOTE_DOMAIN_BYTES = utf8ToBytes(VOTE_DOMAIN);
const PROPOSAL_DOMAIN_BYTES = utf8ToBytes(PROPOSAL_DOMAIN);

/** The height in a vote's or proposal's signing bytes (messages.ts), or null for anything else. */
function signedHeight(bytes: Uint8Array): number | null {
  try {
    const fields = readList(rlpDecode(bytes), 'signed');
    const domain = bytesToHex(readBytes(fields[0], 'signed.domain'));
    if (domain === bytesToHex(VOTE_DOMAIN_BYTES)) return readUint(fields[3], 'signed.height');
    if (domain === bytesToHex(PROPOSAL_DOMAIN_BYTES)) return readUint(fields[2], 'signed.height');
  } catch {
    // Not signing bytes of a consensus message.
  }
  return null;
}

/** The height of a consensus message on the wire, or null for sync traffic and garbage. */
function consensusHeight(bytes: Uint8Array): number | null {
  try {
    const wire = decodeWire(bytes);
    if (wire.kind !== 'consensus') return null;
    return wire.message.kind === 'vote' ? wire.message.vote.height : wire.message.proposal.height;
  } catch {
    return null;
  }
}

const signers = new Map<number, Ed25519Signer>();
/** The simulator's fixed key for validator `i` (the same in every run, so runs differ only by seed). */
export function simSigner(i: number): Ed25519Signer {
  let s = signers.get(i);
  if (!s) {
    s = createEd25519Signer(sha256(utf8ToBytes(`polis-sim-validator-${i}`)));
    signers.set(i, s);
  }
  return s;
}

/** The simulator's validator set of size `n`. */
export function simValidatorSet(n: number): ValidatorSet {
  return equalPowerSet(Array.from({ length: n }, (_, i) => simSigner(i).publicKey));
}

type SimNode = {
  /** The node's index in the pool; in a fixed-set run also its validator index. */
  index: number;
  id: string;
  honest: boolean;
  behaviours: Set<ByzantineBehaviour>;
  disk: SimDisk;
  mempool: Mempool;
  rng: Rng;
  skewMs: number;
  engine: ConsensusEngine | null;
  app: SimApp | null;
  clock: NodeClock | null;
  /** Incremented on every crash and start; stale async work compares against it. */
  incarnation: number;
  up: boolean;
  committed: number;
  reachedTargetMs: number | null;
};

/** Runs one simulation. Never throws for protocol or engine failures: they are violations in the result. */
export async function runSimulation(options: SimOptions): Promise<SimResult> {
  const o = resolve(options);
  const n = o.validators;
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`validators must be a positive integer, got ${n}`);
  if (o.reconfigure && o.wan) throw new RangeError('reconfigure runs do not use the WAN model; drop one of them');
  // The node pool: the n validators of height 1, plus the spares that may join later.
  const poolSize = n + (o.reconfigure ? RECONFIGURE_SPARES : 0);
  const root = new Rng(o.seed);
  const scheduler = new SimScheduler();
  const faults = new Set(o.faults);
  const validators = simValidatorSet(n);
  const registry = new ValidityRegistry();
  const watch = new SignatureWatch();
  const decisions: DecisionRecord[] = [];
  const engineErrors: string[] = [];
  const txLatenciesMs: number[] = [];
  const txCommitted = new Set<number>();
  const hash = createHash('sha256');
  const stats = { evidence: 0, maxRound: 0, lies: 0, healMs: 0 };

  const trace = (line: string) => {
    const full = `${scheduler.now()} ${line}`;
    hash.update(full);
    hash.update('\n');
    o.trace?.(full);
  };

  // Independent streams, so that one component's draws do not shift another's.
  const netRng = root.split();
  const faultRng = root.split();
  const txRng = root.split();
  const byzRng = root.split();
  const wanRng = root.split();
  const profileRng = root.split();
  const isolateRng = root.split();

  // The timing profile of this run (swarm testing): timeouts short or long against the network's
  // jitter, and gossip fast or slow, so that some runs need many rounds and some locks change.
  const timeouts =
    options.timeouts ?? (o.wan ? WAN_TIMEOUTS : scaleTimeouts(SIM_TIMEOUTS, profileRng.pick([0.25, 0.5, 1, 1, 2])));
  const gossipMs = options.gossipMs ?? (o.wan ? 1_000 : profileRng.pick([50, 150, 150, 400]));
  const drawnJitterMs = profileRng.pick([3, 10, 10, 30, 80]);
  const jitterMeanMs = options.jitterMeanMs ?? (o.wan ? 3 : drawnJitterMs);
  const dropRateMax = profileRng.pick([0.05, 0.15, 0.3]);

  // WAN placement: validators drawn from 100 city nodes.
  let cities: CityNode[] | null = null;
  if (o.wan) cities = drawValidators(wanRng, createCityNodes(wanRng), n);

  // Byzantine nodes and their behaviours.
  const byzantine = new Set<number>(
    o.byzantineNodes ?? (o.byzantine > 0 ? byzRng.shuffle([...Array(poolSize).keys()]).slice(0, o.byzantine) : []),
  );
  const nodes: SimNode[] = [...Array(poolSize).keys()].map((index) => {
    const rng = root.split();
    const behaviours = new Set<ByzantineBehaviour>();
    if (byzantine.has(index)) {
      for (const b of o.behaviours) if (byzRng.chance(0.6)) behaviours.add(b);
      if (behaviours.size === 0 && o.behaviours.length > 0) behaviours.add(byzRng.pick(o.behaviours));
    }
    return {
      index,
      id: String(index),
      honest: !byzantine.has(index),
      behaviours,
      disk: new SimDisk(scheduler, rng.split(), 3),
      mempool: new Mempool(),
      rng,
      skewMs: o.wan ? 0 : rng.int(0, 50),
      engine: null,
      app: null,
      clock: null,
      incarnation: 0,
      up: false,
      committed: 0,
      reachedTargetMs: null,
    };
  });
  const honest = new Set(nodes.filter((x) => x.honest).map((x) => x.index));
  // Half the runs with Byzantine nodes have them collude (swarm testing: scattered lies and coordinated ones).
  const collude = options.collude ?? byzRng.chance(0.5);
  const coalition =
    collude && byzantine.size > 0
      ? new Coalition(
          byzRng.split(),
          nodes.filter((x) => x.honest).map((x) => x.id),
        )
      : undefined;
  // The reconfiguration schedule, from its own stream (split only in reconfigure runs, so that
  // default runs keep their draws and trace hashes). Updates fall due early enough to commit
  // before the run's height goal.
  const reconfigRng = o.reconfigure ? root.split() : null;
  const schedule = reconfigRng
    ? drawValidatorUpdates(reconfigRng, {
        validators: n,
        pool: poolSize,
        byzantine,
        heightMax: o.heights - o.livenessHeights,
      })
    : [];
  const poolKeys = nodes.map((x) => simSigner(x.index).publicKey);
  const initialMembers = [...Array(n).keys()];
  const setCache = new Map<string, ValidatorSet>();
  const setOf = (members: readonly number[]): ValidatorSet => {
    const key = members.join(',');
    let set = setCache.get(key);
    if (!set) {
      set = equalPowerSet(members.map((m) => poolKeys[m] as Uint8Array));
      setCache.set(key, set);
    }
    return set;
  };
  /** Heights at which each node signed (reconfigure runs: the checker wants removed validators quiet). */
  const signedHeights = new Map<number, Set<number>>(nodes.map((x) => [x.index, new Set<number>()]));
  const drawnDropRate = 0.01 + netRng.float() * (dropRateMax - 0.01);
  const dropRate = faults.has('drop') ? (options.dropRate ?? drawnDropRate) : 0;
  const duplicateRate = faults.has('duplicate') ? 0.01 + netRng.float() * 0.09 : 0;
  trace(
    `run seed=${o.seed} n=${n} collude=${coalition !== undefined} faults=${o.faults.join(',')} propose=${timeouts.proposeMs} gossip=${gossipMs} jitter=${jitterMeanMs} ` +
      `drop=${dropRate.toFixed(3)} byzantine=${[...byzantine].sort((a, b) => a - b).join(',')} ` +
      nodes.map((x) => `${x.index}:${[...x.behaviours].join('+')}`).join(' '),
  );
  if (o.reconfigure) {
    trace(`reconfigure pool=${poolSize} ${schedule.map((u) => `${u.kind}@${u.height}:${u.members.join('+')}`).join(' ')}`);
  }

  // The network, observed once per send for the double-sign checker.
  const network = new SimNetwork(
    nodes.map((x) => x.id),
    scheduler,
    netRng,
    {
      dropRate,
      duplicateRate,
      delay: faults.has('delay'),
      jitterMeanMs,
      baseLatencyMs: cities
        ? (from, to) => cityLatencyMs(cities[Number(from)] as CityNode, cities[Number(to)] as CityNode)
        : () => 2,
    },
    (_from, _to, bytes) => observe(bytes),
    (from, to, bytes) => {
      hash.update(`${scheduler.now()} d ${from}>${to} `);
      hash.update(bytes);
      if (o.traceMessages) o.trace?.(`${scheduler.now()} deliver ${from}>${to} ${describeWire(bytes)}`);
    },
  );
  function observe(bytes: Uint8Array): void {
    try {
      const wire = decodeWire(bytes);
      if (wire.kind === 'consensus') watch.observe(wire.message);
    } catch {
      // Only engines and our Byzantine filter send, and both encode correctly; the trace shows it otherwise.
      trace('undecodable send');
    }
  }

  // Liveness bookkeeping.
  let healed = false;
  let targetHeight = Number.POSITIVE_INFINITY;
  let deadlineMs = Number.POSITIVE_INFINITY;
  const maxHonestCommitted = () => Math.max(0, ...nodes.filter((x) => x.honest).map((x) => x.committed));
  const minHonestCommitted = () => Math.min(...nodes.filter((x) => x.honest).map((x) => x.committed));

  const onEngineEvent = (node: SimNode, incarnation: number, e: EngineEvent) => {
    if (node.incarnation !== incarnation) return;
    switch (e.type) {
      case 'decided': {
        trace(`decide n=${node.index} h=${e.height} r=${e.round} id=${bytesToHex(e.valueId).slice(2, 18)}`);
        decisions.push({ node: node.index, height: e.height, valueId: e.valueId, atMs: scheduler.now() });
        node.committed = Math.max(node.committed, e.height);
        if (!node.honest) break;
        if (healed && node.reachedTargetMs === null && node.committed >= targetHeight) node.reachedTargetMs = scheduler.now();
        if (!healed && maxHonestCommitted() >= o.heights - o.livenessHeights) scheduler.schedule(0, heal);
        // An adversarial moment: cut off a node right as it decides, while its last precommit may
        // still be in flight, so that the others must decide without it (or sync from it later).
        if (!healed && faults.has('partition') && poolSize > 1 && isolateRng.chance(0.05)) {
          const rest = nodes.filter((x) => x !== node).map((x) => x.id);
          startPartition([[node.id], rest], isolateRng.int(100, 3000));
        }
        break;
      }
      case 'new-round':
        stats.maxRound = Math.max(stats.maxRound, e.round);
        break;
      case 'evidence':
        stats.evidence++;
        trace(`evidence n=${node.index} ${e.evidence.kind}`);
        break;
      case 'recovered':
        trace(`recovered n=${node.index} h=${e.height} replayed=${e.replayed} torn=${e.tornTail}`);
        break;
      case 'app-error':
        engineErrors.push(`node ${node.index}: application ${e.call} failed at height ${e.height}: ${e.message}`);
        break;
      case 'invalid-message':
        trace(`invalid-message n=${node.index} from=${e.from} ${e.reason}`);
        // Byzantine nodes may send what honest ones reject; only honest senders are suspicious.
        if (honest.has(Number(e.from)) && !e.reason.startsWith('sync block')) {
          engineErrors.push(`node ${node.index} rejected a message from honest node ${e.from}: ${e.reason}`);
        }
        break;
      case 'dropped':
        trace(`dropped n=${node.index} from=${e.from} ${e.reason}`);
        break;
    }
  };

  const guard = (node: SimNode, what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      engineErrors.push(`node ${node.index}: ${what} threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const amnesia = (node: SimNode) => {
    if (!node.behaviours.has('amnesia') || !node.engine) return;
    const s = node.engine.coreState;
    s.locked = null;
    s.lockedRound = -1;
  };

  const crashEnabled = () => faults.has('crash') && !healed;

  function startNode(node: SimNode): void {
    if (node.up) return;
    node.up = true;
    const incarnation = ++node.incarnation;
    trace(`start n=${node.index} inc=${incarnation}`);
    const alive = () => node.incarnation === incarnation;
    const clock = new NodeClock(scheduler, node.skewMs, () => amnesia(node));
    node.clock = clock;
    const filter = node.honest ? undefined : byzantineFilter(node, node.rng.split());
    const endpoint = network.endpoint(node.id, filter);
    const intercept = o.interceptSend;
    const net: Network = intercept
      ? {
          broadcast: (bytes) => {
            if (!alive()) return;
            const wire = decodeWire(bytes);
            if (
              wire.kind === 'consensus' &&
              intercept({ node: node.index, message: wire.message, nowMs: scheduler.now() }) === 'crash'
            ) {
              // The message was signed and is lost with the crash: the checker still counts it as signed.
              observe(bytes);
              trace(`crash-before-send n=${node.index}`);
              crashNode(node);
              return;
            }
            endpoint.broadcast(bytes);
          },
          send: (peer, bytes) => endpoint.send(peer, bytes),
        }
      : endpoint;

    node.disk.onWalSync = () => {
      // A crash scheduled inside the fsync window: the appended records may or may not survive.
      if (crashEnabled() && node.rng.chance(0.004)) {
        scheduler.schedule(node.rng.int(0, 3), () => {
          if (alive() && !healed) {
            trace(`crash-in-fsync n=${node.index}`);
            crashNode(node);
          }
        });
      }
    };
    node.disk.onWalSynced = () => {
      // A crash right after the fsync, before the engine sends what it just made durable.
      if (crashEnabled() && node.rng.chance(0.002)) {
        trace(`crash-after-fsync n=${node.index}`);
        crashNode(node);
      }
    };

    const override = options.overrideValidatorSet;
    const reconfig: SimReconfigOptions | undefined = o.reconfigure
      ? {
          pool: poolSize,
          initial: initialMembers,
          schedule,
          setOf,
          report: override ? (height, set) => override({ node: node.index, height, set, initial: validators }) : undefined,
        }
      : undefined;
    const app = new SimApp({
      node: node.index,
      validatorCount: n,
      reconfig,
      honest: node.honest,
      store: node.disk.appStore(),
      mempool: node.mempool,
      registry,
      scheduler,
      rng: node.rng.split(),
      latencyMaxMs: 3,
      invalidBlockRate: node.behaviours.has('invalid') ? 0.5 : 0,
      alive,
      onAnomaly: (a) => engineErrors.push(`node ${a.node}: ${a.message}`),
      onTxCommitted: (tx) => {
        if (txCommitted.has(tx.id)) return;
        txCommitted.add(tx.id);
        txLatenciesMs.push(scheduler.now() - tx.submittedMs);
      },
    });
    node.app = app;
    const signer = simSigner(node.index);
    const ctx: CoreContext = {
      ledgerId: SIM_LEDGER_ID,
      timeouts,
      valueIdOf: (v) => sha256(v),
      // Reconfigure runs note the height of everything a node signs, for the validator-set checker.
      signer: o.reconfigure
        ? {
            publicKey: signer.publicKey,
            sign: (bytes) => {
              const height = signedHeight(bytes);
              if (height !== null) signedHeights.get(node.index)?.add(height);
              return signer.sign(bytes);
            },
          }
        : signer,
    };
    ConsensusEngine.open({
      ctx,
      validators,
      app,
      wal: node.disk.walStorage(),
      blocks: node.disk.blockStore(),
      network: net,
      clock,
      heartbeatMs: o.heartbeatMs,
      ...(o.idleHeartbeatMaxMs !== undefined ? { idleHeartbeatMaxMs: o.idleHeartbeatMaxMs } : {}),
      gossipMs,
      onEvent: (e) => onEngineEvent(node, incarnation, e),
    }).then(
      (engine) => {
        if (!alive()) {
          engine.close();
          return;
        }
        node.engine = engine;
        network.attach(node.id, (from, bytes) => {
          amnesia(node);
          guard(node, 'receive', () => engine.receive(from, bytes));
        });
        if (node.mempool.size > 0) guard(node, 'notifyWork', () => engine.notifyWork());
      },
      (err: unknown) => {
        if (alive()) engineErrors.push(`node ${node.index}: open failed: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }

  /**
   * The outgoing filter of a Byzantine node. The filter lies about messages signed with its own
   * validator index; in reconfigure runs that index changes with the set, so each index the node
   * holds gets its own filter, picked per message by the message's height.
   */
  function byzantineFilter(node: SimNode, rng: Rng): OutgoingFilter {
    const build = (index: number, filterRng: Rng, peers: string[]) =>
      createByzantineFilter({
        index,
        signer: simSigner(node.index),
        ledgerId: SIM_LEDGER_ID,
        rng: filterRng,
        behaviours: node.behaviours,
        peers,
        lieRate: 0.3,
        coalition,
        knownProposalId: (h, r) => {
          const s = node.engine?.coreState;
          return s && s.height === h ? (s.proposals.get(r)?.[0]?.valueId ?? null) : null;
        },
        onLie: (what) => {
          stats.lies++;
          trace(`lie n=${node.index} ${what}`);
        },
      });
    const everyone = nodes.map((x) => x.id);
    if (!o.reconfigure) return build(node.index, rng, everyone);
    // The filter drops the peer named like its index from its targets; give it the others only.
    const others = everyone.filter((id) => id !== node.id);
    const byIndex = new Map<number, OutgoingFilter>();
    return (peer, bytes) => {
      const height = consensusHeight(bytes);
      const index = height === null ? -1 : (node.app?.indexAt(height) ?? -1);
      if (index < 0) return [bytes];
      let f = byIndex.get(index);
      if (!f) {
        f = build(index, rng.split(), others);
        byIndex.set(index, f);
      }
      return f(peer, bytes);
    };
  }

  function crashNode(node: SimNode): void {
    if (!node.up) return;
    node.up = false;
    node.incarnation++;
    guard(node, 'close', () => node.engine?.close());
    node.engine = null;
    node.app = null;
    node.clock?.disable();
    node.clock = null;
    network.detach(node.id);
    node.mempool.clear();
    const report = node.disk.crash();
    trace(`crash n=${node.index} lost=${report.lostWrites} survived=${report.survivedWrites} torn=${report.torn}`);
    if (healed) {
      startNode(node);
      return;
    }
    const downMs = faultRng.int(20, 1500);
    scheduler.schedule(downMs, () => {
      if (!node.up) startNode(node);
    });
  }

  function heal(): void {
    if (healed) return;
    healed = true;
    stats.healMs = scheduler.now();
    network.heal();
    for (const x of nodes) if (!x.up) startNode(x);
    targetHeight = Math.max(o.heights, maxHonestCommitted() + o.livenessHeights);
    deadlineMs = scheduler.now() + LIVENESS_BASE_MS + LIVENESS_PER_HEIGHT_MS * (targetHeight - minHonestCommitted());
    for (const x of nodes) if (x.honest && x.committed >= targetHeight) x.reachedTargetMs = scheduler.now();
    trace(`heal target=${targetHeight} deadline=${deadlineMs}`);
  }

  // The fault schedule, all drawn now from the fault stream.
  const faultPhaseMs = o.faultPhaseMs ?? (o.wan ? 0 : faultRng.int(2000, 12_000));
  function startPartition(groups: string[][], durationMs: number): void {
    if (healed) return;
    const id = network.partition(groups);
    trace(`partition ${id}: ${groups.map((g) => g.join('+')).join(' | ')}`);
    scheduler.schedule(durationMs, () => {
      if (healed) return;
      network.endPartition(id);
      trace(`partition ${id} ends`);
    });
  }
  if (faults.has('partition') && poolSize > 1) {
    let t = 0;
    for (;;) {
      t += faultRng.exponential(options.partitionMeanGapMs ?? 700);
      if (t >= faultPhaseMs) break;
      const durationMs = faultRng.int(100, 1500);
      const ids = faultRng.shuffle(nodes.map((x) => x.id));
      const groups: string[][] =
        faultRng.chance(0.3) || poolSize < 3
          ? [ids.slice(0, 1), ids.slice(1)]
          : (() => {
              const cut1 = faultRng.int(1, poolSize - 1);
              const cut2 = faultRng.int(cut1, poolSize - 1);
              return [ids.slice(0, cut1), ids.slice(cut1, cut2), ids.slice(cut2)].filter((g) => g.length > 0);
            })();
      scheduler.schedule(t, () => startPartition(groups, durationMs));
    }
  }
  if (faults.has('crash')) {
    for (const node of nodes) {
      let t = 0;
      for (;;) {
        t += faultRng.exponential(2500);
        if (t >= faultPhaseMs) break;
        scheduler.schedule(t, () => {
          if (!healed && node.up) crashNode(node);
        });
      }
    }
  }
  scheduler.schedule(faultPhaseMs, heal);

  // Transactions: busy periods with Poisson arrivals, and idle periods with none.
  const scheduleTx = (() => {
    let nextId = 1;
    let busyUntil = 0;
    let idleUntil = 0;
    const meanGapMs = o.wan ? 50 : 15;
    const arrive = () => {
      const now = scheduler.now();
      if (!o.wan && now >= busyUntil) {
        // The busy period is over: go idle, then busy again.
        idleUntil = now + txRng.exponential(1500);
        busyUntil = idleUntil + txRng.exponential(1500);
        scheduler.schedule(idleUntil - now, arrive);
        return;
      }
      const origin = txRng.int(0, poolSize - 1);
      const id = nextId++;
      const tx = encodeSimTx(id, origin, now, txRng.bytes(txRng.int(8, 120)));
      deliverTx(nodes[origin] as SimNode, id, tx);
      for (const x of nodes) {
        if (x.index === origin) continue;
        const ms = cities ? cityLatencyMs(cities[origin] as CityNode, cities[x.index] as CityNode) : 2;
        scheduler.schedule(ms + txRng.exponential(5), () => deliverTx(x, id, tx));
      }
      scheduler.schedule(txRng.exponential(meanGapMs), arrive);
    };
    return () => {
      busyUntil = o.wan ? Number.POSITIVE_INFINITY : txRng.exponential(1500);
      scheduler.schedule(txRng.int(0, 50), arrive);
    };
  })();
  function deliverTx(node: SimNode, id: number, tx: Uint8Array): void {
    if (!node.up) return;
    if (node.mempool.add(id, tx) && node.engine) {
      const engine = node.engine;
      guard(node, 'notifyWork', () => engine.notifyWork());
    }
  }

  const finalSets = new Map<number, FinalSetRecord>();

  // Run.
  const onRejection = (reason: unknown) => {
    engineErrors.push(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
  };
  process.on('unhandledRejection', onRejection);
  try {
    for (const node of nodes) scheduler.schedule(0, () => startNode(node));
    scheduleTx();
    await scheduler.runUntil(Number.POSITIVE_INFINITY, () => healed || engineErrors.length > 0);
    const allReached = () => nodes.every((x) => !x.honest || x.reachedTargetMs !== null);
    if (engineErrors.length === 0) await scheduler.runUntil(deadlineMs, () => allReached() || engineErrors.length > 0);
  } finally {
    options.inspect?.(nodes.map((x) => x.engine));
    // What each engine and application holds at the end, for the validator-set checker.
    for (const x of nodes) {
      const s = x.engine?.coreState;
      if (s && x.app) {
        finalSets.set(x.index, {
          height: s.height,
          engineSetHash: s.validators.hash,
          appHeight: x.app.height,
          appMembers: x.app.currentMembers,
        });
      }
    }
    for (const x of nodes) {
      if (x.engine) guard(x, 'close', () => x.engine?.close());
      x.clock?.disable();
    }
    process.off('unhandledRejection', onRejection);
  }

  const history: SimHistory = {
    ledgerId: SIM_LEDGER_ID,
    validators,
    honest,
    decisions,
    blocks: new Map(nodes.map((x) => [x.index, x.disk.allBlocks()] as const)),
    judgedValid: (id: Uint8Array) => registry.judges(id),
    valueIdOf: (v: Uint8Array) => sha256(v),
    signatures: watch,
    liveness: healed
      ? {
          healMs: stats.healMs,
          deadlineMs,
          targetHeight,
          reachedMs: new Map(nodes.filter((x) => x.honest).map((x) => [x.index, x.reachedTargetMs] as const)),
        }
      : null,
    engineErrors,
    reconfig: o.reconfigure
      ? {
          poolKeys,
          initial: initialMembers,
          updateOf: (value) => {
            try {
              const update = decodeSimBlock(value).update;
              return update && update.length > 0 ? update : null;
            } catch {
              return null;
            }
          },
          signedHeights,
          final: finalSets,
        }
      : undefined,
  };
  const firstDecision = new Map<number, number>();
  for (const d of decisions) if (honest.has(d.node) && !firstDecision.has(d.height)) firstDecision.set(d.height, d.atMs);
  const blockIntervalsMs: number[] = [];
  for (const [h, at] of firstDecision) {
    const before = firstDecision.get(h - 1);
    if (before !== undefined) blockIntervalsMs.push(at - before);
  }
  const violations = runCheckers(history);
  for (const v of violations) trace(`violation ${v.kind}: ${v.message}`);
  const traceHash = hash.digest('hex');
  const diskStats = nodes.reduce(
    (acc, x) => ({
      crashes: acc.crashes + x.disk.stats.crashes,
      tornTails: acc.tornTails + x.disk.stats.tornTails,
      walSyncs: acc.walSyncs + x.disk.stats.walSyncs,
    }),
    { crashes: 0, tornTails: 0, walSyncs: 0 },
  );
  return {
    seed: o.seed,
    ok: violations.length === 0,
    violations,
    heights: minHonestCommitted(),
    traceHash,
    virtualMs: scheduler.now(),
    events: scheduler.processed,
    byzantine: [...byzantine].sort((a, b) => a - b),
    replay: replayCommand(options),
    stats: { network: network.stats, ...diskStats, ...stats },
    txLatenciesMs,
    blockIntervalsMs,
    reconfig: o.reconfigure ? reconfigReport(history, schedule, nodes) : null,
  };
}

/** What the committed chain made of a reconfigure run's schedule. */
function reconfigReport(h: SimHistory, schedule: ValidatorUpdate[], nodes: readonly SimNode[]): ReconfigReport {
  const sets = chainValidatorSets(h);
  const chain = new Map<number, CommittedBlock>();
  for (const [node, blocks] of [...h.blocks].sort((a, b) => a[0] - b[0])) {
    if (!h.honest.has(node)) continue;
    for (const b of blocks) if (!chain.has(b.height)) chain.set(b.height, b);
  }
  const signers: number[][] = [];
  for (let height = 1; chain.has(height); height++) {
    const members = sets.at(height)?.members ?? [];
    const cert = (chain.get(height) as CommittedBlock).certificate;
    signers.push(cert.signatures.map((s) => members[s.validator] ?? -1));
  }
  return {
    schedule,
    sets: sets.changes.map((c) => ({ from: c.from, members: [...c.members] })),
    signers,
    signedHeights: nodes.map((x) => [...(h.reconfig?.signedHeights.get(x.index) ?? [])].sort((a, b) => a - b)),
    committed: nodes.map((x) => x.committed),
  };
}

/** The aggregate over many seeds, in the shape `polis sim` prints. */
export type SimSummary = {
  runs: number;
  failures: number;
  heights: number;
  safety_violations: number;
  liveness_failures: number;
  first_failing_seed: number | null;
};

/** Options of `runSeeds`: the seeds, the per-run options, and a progress callback. */
export type RunSeedsOptions = {
  seeds: readonly number[];
  options: Omit<SimOptions, 'seed'>;
  /** Called after every run. */
  onResult?: (result: SimResult, done: number) => void;
};

/** Runs many seeds one after another and aggregates their results. */
export async function runSeeds(opts: RunSeedsOptions): Promise<{ summary: SimSummary; failed: SimResult[] }> {
  const summary: SimSummary = {
    runs: 0,
    failures: 0,
    heights: 0,
    safety_violations: 0,
    liveness_failures: 0,
    first_failing_seed: null,
  };
  const failed: SimResult[] = [];
  for (const seed of opts.seeds) {
    const result = await runSimulation({ ...opts.options, seed });
    summary.runs++;
    summary.heights += result.heights;
    summary.safety_violations += result.violations.filter((v) => SAFETY_KINDS.has(v.kind)).length;
    if (result.violations.some((v) => v.kind === 'liveness')) summary.liveness_failures++;
    if (!result.ok) {
      summary.failures++;
      summary.first_failing_seed ??= seed;
      failed.push(result);
    }
    opts.onResult?.(result, summary.runs);
  }
  return { summary, failed };
}
