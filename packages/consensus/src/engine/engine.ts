/**
 * The consensus engine: the host around the pure core. One engine runs one ledger's consensus
 * on one replica. It owns the core's state and feeds it one input at a time from a single queue,
 * so nothing else ever touches that state.
 *
 * Ordering rules, each where it applies below:
 * - An input is appended to the WAL before the core applies it.
 * - The WAL is synced before any message this replica signed is sent.
 * - A decided block is saved durably (BlockStore.save) before the application executes and
 *   commits it, and both happen before the next height starts.
 * - On restart, the application is brought up to the block store's height, then the WAL of the
 *   current height is replayed through the core.
 *
 * Catch-up: a replica that sees a message from a later height asks that peer for the decided
 * blocks it lacks; a replica that sees a message from an earlier height sends the sender the
 * blocks it lacks. A synced block enters the core as its proposal plus the precommits of its
 * certificate, so it is decided by the paper's own rule (L49) and goes through the WAL like any
 * other input.
 */
import { verifyCertificate } from '../certificate.js';
import { apply, type ConsensusState, type CoreContext, createConsensusState, messageHeight } from '../core/machine.js';
import { tallyKey, votesFor } from '../core/voteKeeper.js';
import { FUTURE_MESSAGES_MAX } from '../params.js';
import type { ConsensusMessage, Evidence, Input, Output, Vote } from '../types.js';
import type { ValidatorSet } from '../validators.js';
import type { Application, BlockStore, Clock, CommittedBlock, Network, WalStorage } from './types.js';
import { decodeWalInput, encodeWalInput, frameWalRecord, readWalRecords } from './wal.js';
import { decodeWire, encodeWire, SYNC_BLOCKS_MAX } from './wire.js';

/** A sync response stops adding blocks past this many bytes (transport frames are bounded too). */
export const SYNC_RESPONSE_BYTES_MAX = 8 * 1024 * 1024;
// A block's proposal signature, certificate and framing, generously.
const SYNC_BLOCK_OVERHEAD_BYTES = 16 * 1024;

/** Inputs waiting in the engine's queue; above this, network messages are dropped (never internal ones). */
export const ENGINE_QUEUE_MAX = 10_000;

/** What the engine reports, for logs, metrics and the simulator's trace. */
export type EngineEvent =
  | { type: 'decided'; height: number; round: number; valueId: Uint8Array }
  | { type: 'new-round'; height: number; round: number }
  | { type: 'evidence'; evidence: Evidence }
  | { type: 'invalid-message'; from: string; reason: string }
  | { type: 'dropped'; from: string; reason: 'queue-full' | 'future-full' }
  | { type: 'recovered'; height: number; replayed: number; tornTail: boolean }
  | { type: 'app-error'; call: 'prepareProposal' | 'processProposal'; height: number; message: string };

/** Everything an engine is built with. */
export type EngineOptions = {
  ctx: CoreContext;
  /** The validator set when the application does not give one per height (`Application.validatorSet`). */
  validators: ValidatorSet;
  app: Application;
  wal: WalStorage;
  blocks: BlockStore;
  network: Network;
  clock: Clock;
  /** An idle ledger proposes an empty block at most this often. */
  heartbeatMs: number;
  /**
   * The slowest heartbeat: each height that an idle ledger starts by its heartbeat doubles the
   * wait for the next one, up to this; work (transactions) brings it back to `heartbeatMs`.
   * Absent or equal to `heartbeatMs`: the heartbeat keeps its pace.
   */
  idleHeartbeatMaxMs?: number;
  /** How often the engine re-broadcasts its own messages of the current height (recovers from drops). */
  gossipMs: number;
  onEvent?: (event: EngineEvent) => void;
};

type Task =
  | { kind: 'input'; input: Input; internal: boolean }
  | { kind: 'wire'; from: string; bytes: Uint8Array }
  | { kind: 'synced'; block: CommittedBlock };

/** A decided block from sync, kept until its height starts; verified then, against that height's set. */
type PendingSync = { from: string; block: CommittedBlock };

/** Runs one replica's consensus for one ledger. Create it with `ConsensusEngine.open`. */
export class ConsensusEngine {
  private readonly opts: EngineOptions;
  private state: ConsensusState;
  private readonly queue: Task[] = [];
  private draining: Promise<void> | null = null;
  private closed = false;
  private readonly timers = new Set<unknown>();
  private gossipTimer: unknown = null;
  /** Consecutive heights that began with no work here (see `idleHeartbeatMaxMs`), and the last one counted. */
  private idleBeats = 0;
  private idleHeight = -1;
  /** Messages of height + 1, fed to the core once that height starts. */
  private future: ConsensusMessage[] = [];
  /** Decided blocks from sync, by height, waiting for their turn (their certificates are checked then). */
  private readonly syncBlocks = new Map<number, PendingSync>();
  /** This replica's signed messages of the current height, re-broadcast on every gossip tick. */
  private own: ConsensusMessage[] = [];
  /** (round, type) -> what this replica voted in the current height: the double-sign assertion. */
  private readonly signed = new Map<string, string>();
  /** Last time we asked or answered each peer about sync, to rate-limit it. */
  private readonly syncAt = new Map<string, number>();
  private replaying = false;

  private constructor(opts: EngineOptions, height: number) {
    this.opts = opts;
    this.state = createConsensusState(opts.ctx, height, this.validatorsAt(height));
  }

  /** The validator set of `height`: from the application when it changes sets, else the fixed one. */
  private validatorsAt(height: number): ValidatorSet {
    return this.opts.app.validatorSet?.(height) ?? this.opts.validators;
  }

  /** Opens an engine on its storage: replays blocks into the application and the WAL into the core, then runs. */
  static async open(opts: EngineOptions): Promise<ConsensusEngine> {
    const blockHeight = await opts.blocks.height();
    const appHeight = (await opts.app.info()).height;
    if (appHeight > blockHeight) {
      throw new Error(`application is at height ${appHeight} but the block store only has ${blockHeight}`);
    }
    // Handshake: the block is saved before the application commits it, so the application can only be behind.
    for (let h = appHeight + 1; h <= blockHeight; h++) {
      const block = await opts.blocks.get(h);
      if (!block) throw new Error(`block store is missing height ${h} below its top ${blockHeight}`);
      await opts.app.finalizeBlock(block);
      await opts.app.commit(h);
    }
    const engine = new ConsensusEngine(opts, blockHeight + 1);
    await engine.recover(blockHeight + 1);
    engine.gossipTimer = opts.clock.setTimer(opts.gossipMs, () => engine.gossip());
    return engine;
  }

  /** The live core state. Read it for status; only the simulator's Byzantine modes write it. */
  get coreState(): ConsensusState {
    return this.state;
  }

  /** A message from `from`, straight off the network; it is decoded defensively and queued. */
  receive(from: string, bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.queue.length >= ENGINE_QUEUE_MAX) {
      this.emit({ type: 'dropped', from, reason: 'queue-full' });
      return;
    }
    this.queue.push({ kind: 'wire', from, bytes });
    void this.drain();
  }

  /** The application has transactions waiting: start an idle height now. */
  notifyWork(): void {
    this.idleBeats = 0;
    if (!this.closed && this.state.step === 'waiting' && !this.state.decided) this.enqueue({ type: 'wake' });
  }

  /** How long an idle height waits for its heartbeat: doubling per idle height, up to the slowest. */
  heartbeatDelayMs(): number {
    const { heartbeatMs, idleHeartbeatMaxMs } = this.opts;
    const slowest = Math.max(heartbeatMs, idleHeartbeatMaxMs ?? heartbeatMs);
    return Math.min(slowest, heartbeatMs * 2 ** Math.min(this.idleBeats, 30));
  }

  /** Stops timers and processing. Storage is left as it is, so `open` on it again resumes. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) this.opts.clock.cancel(t);
    this.timers.clear();
    if (this.gossipTimer !== null) this.opts.clock.cancel(this.gossipTimer);
    this.queue.length = 0;
  }

  /** Resolves once every queued input has been processed (tests and the simulator use it). */
  async idle(): Promise<void> {
    while (!this.closed && (this.draining || this.queue.length > 0)) await (this.draining ?? this.drain());
  }

  private emit(event: EngineEvent): void {
    this.opts.onEvent?.(event);
  }

  private enqueue(input: Input): void {
    if (this.closed) return;
    this.queue.push({ kind: 'input', input, internal: true });
    void this.drain();
  }

  private drain(): Promise<void> {
    if (!this.draining) {
      this.draining = this.runQueue().finally(() => {
        this.draining = null;
        // An input enqueued after runQueue found the queue empty, but before this callback ran,
        // saw `draining` still set; without this it would wait for the next input (a timeout).
        if (this.queue.length > 0 && !this.closed) void this.drain();
      });
    }
    return this.draining;
  }

  private async runQueue(): Promise<void> {
    for (let task = this.queue.shift(); task && !this.closed; task = this.queue.shift()) {
      if (task.kind === 'wire') await this.onWire(task.from, task.bytes);
      else if (task.kind === 'synced') await this.commitSynced(task.block);
      else await this.process(task.input);
    }
  }

  private async recover(height: number): Promise<void> {
    const { records, torn } = readWalRecords(await this.opts.wal.read());
    const inputs: Input[] = [];
    for (const r of records) {
      try {
        inputs.push(decodeWalInput(r));
      } catch {
        break; // A record that frames correctly but does not decode ends the usable log, like a torn tail.
      }
    }
    const first = inputs[0];
    if (first?.type !== 'start-height' || first.height !== height) {
      // No log, or the log of a height whose block is already saved: start the height afresh.
      await this.startHeight(height);
      this.emit({ type: 'recovered', height, replayed: 0, tornTail: torn });
      return;
    }
    // Replay: the same inputs through the same core give the same state and the same signed votes.
    this.replaying = true;
    const timeouts: Output[] = [];
    let replayed = 0;
    for (const input of inputs) {
      if (this.state.height !== height) break; // A replayed decision moved us on; the rest belonged to the old height.
      const outs = apply(this.opts.ctx, this.state, input);
      replayed++;
      for (const o of outs) if (o.type === 'schedule-timeout') timeouts.push(o);
      await this.carryOut(outs.filter((o) => o.type !== 'schedule-timeout'));
    }
    this.replaying = false;
    if (torn && this.state.height === height) {
      // Rewrite the log without the torn tail, so new records are not appended after garbage.
      await this.opts.wal.reset(concatFrames(inputs.slice(0, replayed)));
    }
    this.emit({ type: 'recovered', height: this.state.height, replayed, tornTail: torn });
    if (this.state.height === height) {
      // Re-arm the timers of the round we are in, and re-ask the application whatever is unanswered.
      for (const o of timeouts) {
        if (o.type === 'schedule-timeout' && o.height === this.state.height && o.round === this.state.round) this.arm(o);
      }
      this.reissueRequests();
      this.scheduleWake();
    }
  }

  private reissueRequests(): void {
    const s = this.state;
    if (s.awaitingValue === s.round && s.step === 'propose') void this.askValue(s.height, s.round);
    for (const [round, proposals] of s.proposals) {
      for (const p of proposals) {
        if (s.validityAsked.has(tallyKey(p.valueId))) void this.askValidity(s.height, round, p.value, p.valueId);
      }
    }
  }

  private async process(input: Input): Promise<void> {
    // WAL first: an input the core acts on must survive a crash, or a restart could act differently.
    this.opts.wal.append(frameWalRecord(encodeWalInput(input)));
    const outs = apply(this.opts.ctx, this.state, input);
    await this.carryOut(outs);
  }

  private async carryOut(outs: Output[]): Promise<void> {
    // Sync before sending anything we signed: every vote that leaves must be re-derivable from the durable log.
    if (!this.replaying && outs.some((o) => o.type === 'broadcast')) await this.opts.wal.sync();
    for (const o of outs) {
      if (this.closed) return;
      switch (o.type) {
        case 'broadcast':
          this.assertNoDoubleSign(o.message);
          this.own.push(o.message);
          this.opts.network.broadcast(encodeWire({ kind: 'consensus', message: o.message }));
          break;
        case 'schedule-timeout':
          this.arm(o);
          break;
        case 'get-value':
          if (!this.replaying) void this.askValue(o.height, o.round);
          break;
        case 'validate':
          if (!this.replaying) void this.askValidity(o.height, o.round, o.value, o.valueId);
          break;
        case 'decide':
          await this.commitDecision({ height: o.height, value: o.value, proposal: o.proposal, certificate: o.certificate });
          break;
        case 'evidence':
          this.emit({ type: 'evidence', evidence: o.evidence });
          break;
        case 'new-round':
          this.emit({ type: 'new-round', height: o.height, round: o.round });
          break;
      }
    }
  }

  /** Crashes the process if this replica is about to send two different votes for one (height, round, type). */
  private assertNoDoubleSign(m: ConsensusMessage): void {
    if (m.kind !== 'vote') return;
    const key = `${m.vote.height}/${m.vote.round}/${m.vote.type}`;
    const value = tallyKey(m.vote.valueId);
    const previous = this.signed.get(key);
    if (previous !== undefined && previous !== value) {
      throw new Error(`double-sign guard: already voted ${previous} at ${key}, refusing to vote ${value}`);
    }
    this.signed.set(key, value);
  }

  private arm(o: Extract<Output, { type: 'schedule-timeout' }>): void {
    const handle = this.opts.clock.setTimer(o.durationMs, () => {
      this.timers.delete(handle);
      this.enqueue({ type: 'timeout', kind: o.kind, height: o.height, round: o.round });
    });
    this.timers.add(handle);
  }

  // An application that fails to answer leaves the question open: the round's timeouts move
  // consensus on (a nil prevote), and the failure is reported rather than crashing the engine.
  private async askValue(height: number, round: number): Promise<void> {
    try {
      const value = await this.opts.app.prepareProposal({
        height,
        round,
        time: this.opts.clock.now(),
        proposer: this.state.self,
      });
      this.enqueue({ type: 'proposal-value', height, round, value, valueId: this.opts.app.valueIdOf(value) });
    } catch (err) {
      this.emit({
        type: 'app-error',
        call: 'prepareProposal',
        height,
        message: err instanceof Error ? err.message : String(err),
      });
    }
  }

  private async askValidity(height: number, round: number, value: Uint8Array, valueId: Uint8Array): Promise<void> {
    try {
      const valid = await this.opts.app.processProposal({ height, round, value });
      this.enqueue({ type: 'validity', height, valueId, valid });
    } catch (err) {
      this.emit({
        type: 'app-error',
        call: 'processProposal',
        height,
        message: err instanceof Error ? err.message : String(err),
      });
    }
  }

  private async commitDecision(block: CommittedBlock): Promise<void> {
    // Durable before anyone is told: the block and its certificate reach the disk first.
    await this.opts.blocks.save(block);
    await this.opts.app.finalizeBlock(block);
    await this.opts.app.commit(block.height);
    this.emit({ type: 'decided', height: block.height, round: block.certificate.round, valueId: block.certificate.valueId });
    await this.startHeight(block.height + 1);
  }

  private async startHeight(height: number): Promise<void> {
    for (const t of this.timers) this.opts.clock.cancel(t);
    this.timers.clear();
    this.own = [];
    this.signed.clear();
    // The committed blocks fix the set of the new height; the WAL records the height only, and
    // recovery asks the application for the set again.
    const startInput: Input = { type: 'start-height', height, validators: this.validatorsAt(height) };
    // The new height's log starts with this one record; the old height is in the block store now.
    await this.opts.wal.reset(frameWalRecord(encodeWalInput(startInput)));
    apply(this.opts.ctx, this.state, startInput);
    // Early messages become ordinary inputs, logged as they are applied.
    const early = this.future.filter((m) => messageHeight(m) === height);
    this.future = [];
    for (const message of early) this.queue.push({ kind: 'input', input: { type: 'message', message }, internal: true });
    const synced = this.syncBlocks.get(height);
    this.syncBlocks.delete(height);
    for (const h of this.syncBlocks.keys()) if (h < height) this.syncBlocks.delete(h);
    if (synced) {
      if (this.checkSyncedBlock(synced.block)) this.feedSyncedBlock(synced.block);
      else {
        // That peer's other buffered blocks are no better: drop them, so that sync asks again.
        for (const [h, p] of this.syncBlocks) if (p.from === synced.from) this.syncBlocks.delete(h);
        this.emit({ type: 'invalid-message', from: synced.from, reason: `sync block ${height} does not verify` });
      }
    }
    this.scheduleWake();
  }

  private scheduleWake(): void {
    if (this.state.step !== 'waiting' || this.state.decided) return;
    if (this.opts.app.hasWork()) {
      this.idleBeats = 0;
      this.enqueue({ type: 'wake' });
      return;
    }
    const height = this.state.height;
    const delay = this.heartbeatDelayMs();
    // Every validator counts the heights that begin idle, whichever of them wakes first, so that
    // their heartbeats slow down together.
    if (this.idleHeight !== height) {
      this.idleHeight = height;
      this.idleBeats++;
    }
    const handle = this.opts.clock.setTimer(delay, () => {
      this.timers.delete(handle);
      if (this.state.height === height && this.state.step === 'waiting') this.enqueue({ type: 'wake' });
    });
    this.timers.add(handle);
  }

  private async onWire(from: string, bytes: Uint8Array): Promise<void> {
    let wire: ReturnType<typeof decodeWire>;
    try {
      wire = decodeWire(bytes);
    } catch (err) {
      this.emit({ type: 'invalid-message', from, reason: err instanceof Error ? err.message : String(err) });
      return;
    }
    const height = this.state.height;
    if (wire.kind === 'consensus') {
      const h = messageHeight(wire.message);
      if (h === height) await this.process({ type: 'message', message: wire.message });
      else if (h === height + 1) {
        if (this.future.length < FUTURE_MESSAGES_MAX) this.future.push(wire.message);
        else this.emit({ type: 'dropped', from, reason: 'future-full' });
        this.requestSync(from);
      } else if (h > height + 1) this.requestSync(from);
      else await this.sendBlocks(from, h);
    } else if (wire.kind === 'sync-request') {
      if (wire.height < height) await this.sendBlocks(from, wire.height);
    } else {
      // Only the current height's set is known: a later block is checked when its height starts,
      // because the blocks before it may change the set. So only a response whose current-height
      // block verified may fill the buffer, and only with the heights right after it: a peer
      // cannot fill it with blocks that will never be reached.
      let verified = false;
      for (const block of wire.blocks) {
        if (block.height < height) continue;
        if (block.height === height) {
          if (!this.checkSyncedBlock(block)) {
            this.emit({ type: 'invalid-message', from, reason: `sync block ${block.height} does not verify` });
            return;
          }
          this.feedSyncedBlock(block);
          verified = true;
          continue;
        }
        if (!verified || block.height > height + SYNC_BLOCKS_MAX || this.syncBlocks.size >= SYNC_BLOCKS_MAX) continue;
        if (!this.syncBlocks.has(block.height)) this.syncBlocks.set(block.height, { from, block });
      }
    }
  }

  /** A synced block of the current height must carry a valid certificate, by this height's set, for its own proposal. */
  private checkSyncedBlock(block: CommittedBlock): boolean {
    const c = block.certificate;
    return (
      block.height === this.state.height &&
      c.height === block.height &&
      block.proposal.height === block.height &&
      tallyKey(block.proposal.valueId) === tallyKey(c.valueId) &&
      verifyCertificate(this.opts.ctx.ledgerId, this.state.validators, c, block.height) === null
    );
  }

  private feedSyncedBlock(block: CommittedBlock): void {
    const c = block.certificate;
    const inputs: Input[] = [{ type: 'message', message: { kind: 'proposal', proposal: block.proposal } }];
    for (const s of c.signatures) {
      const vote: Vote = {
        type: 'precommit',
        height: c.height,
        round: c.round,
        valueId: c.valueId,
        validator: s.validator,
        signature: s.signature,
      };
      inputs.push({ type: 'message', message: { kind: 'vote', vote } });
    }
    for (const input of inputs) this.queue.push({ kind: 'input', input, internal: true });
    this.queue.push({ kind: 'synced', block });
    void this.drain();
  }

  /**
   * The inputs fed above decide the height through L49, except when the core cannot take them in:
   * the certificate's round is beyond ROUND_LOOKAHEAD_MAX, or the round already holds
   * PROPOSALS_PER_ROUND_MAX proposals from an equivocating proposer. The certificate was verified,
   * so the block is decided: commit it directly (as block sync does).
   */
  private async commitSynced(block: CommittedBlock): Promise<void> {
    if (this.state.height !== block.height || this.state.decided) return;
    if (tallyKey(this.opts.ctx.valueIdOf(block.value)) !== tallyKey(block.certificate.valueId)) return;
    this.state.decided = true;
    await this.commitDecision(block);
  }

  private rateLimited(peer: string): boolean {
    const now = this.opts.clock.now();
    const last = this.syncAt.get(peer);
    if (last !== undefined && now - last < this.opts.gossipMs) return true;
    this.syncAt.set(peer, now);
    return false;
  }

  private requestSync(peer: string): void {
    if (this.rateLimited(`req:${peer}`)) return;
    this.opts.network.send(peer, encodeWire({ kind: 'sync-request', height: this.state.height }));
  }

  private async sendBlocks(peer: string, from: number): Promise<void> {
    if (this.rateLimited(`res:${peer}`)) return;
    const blocks: CommittedBlock[] = [];
    let bytes = 0;
    for (let h = from; h < this.state.height && blocks.length < SYNC_BLOCKS_MAX; h++) {
      const b = await this.opts.blocks.get(h);
      if (!b) break;
      // Keep a response well inside one network frame; the first block always goes.
      bytes += b.value.length + SYNC_BLOCK_OVERHEAD_BYTES;
      if (blocks.length > 0 && bytes > SYNC_RESPONSE_BYTES_MAX) break;
      blocks.push(b);
    }
    if (blocks.length > 0) this.opts.network.send(peer, encodeWire({ kind: 'sync-response', blocks }));
  }

  private gossip(): void {
    if (this.closed) return;
    const s = this.state;
    // Our own messages of this round and the last one, and the round's proposal if we hold it:
    // enough for peers that missed them to catch up after drops or a partition.
    for (const m of this.own) {
      const round = m.kind === 'vote' ? m.vote.round : m.proposal.round;
      if (round >= s.round - 1) this.opts.network.broadcast(encodeWire({ kind: 'consensus', message: m }));
    }
    const proposal = s.proposals.get(s.round)?.[0];
    if (proposal && proposal.validator !== s.self) {
      this.opts.network.broadcast(encodeWire({ kind: 'consensus', message: { kind: 'proposal', proposal } }));
    }
    // L28 accepts a re-proposal only with the 2f+1 prevotes of its round vr. A replica that missed
    // some of them, or holds an equivocator's other vote, needs them relayed (CometBFT gossips these
    // "POL" prevotes for the same reason); the paper assumes every received message reaches everyone.
    if (proposal && proposal.polRound >= 0) {
      for (const vote of votesFor(s.votes, proposal.polRound, 'prevote', tallyKey(proposal.valueId))) {
        this.opts.network.broadcast(encodeWire({ kind: 'consensus', message: { kind: 'vote', vote } }));
      }
    }
    this.gossipTimer = this.opts.clock.setTimer(this.opts.gossipMs, () => this.gossip());
  }
}

function concatFrames(inputs: Input[]): Uint8Array {
  const frames = inputs.map((i) => frameWalRecord(encodeWalInput(i)));
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let offset = 0;
  for (const f of frames) {
    out.set(f, offset);
    offset += f.length;
  }
  return out;
}
