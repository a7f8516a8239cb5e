import { describe, expect, it } from 'vitest';
import {
  ConsensusEngine,
  decodeWire,
  type EngineEvent,
  encodeWire,
  frameWalRecord,
  type Network,
  readWalRecords,
  SYNC_BLOCKS_MAX,
  tallyKey,
  verifyCertificate,
} from '../src/index.js';
import { LEDGER_ID, makeContext, makeValidatorSet } from './cluster.js';
import { ManualClock, MemoryApp, MemoryBlocks, MemoryNetwork, MemoryWal } from './memoryHost.js';

type Node = { id: string; engine: ConsensusEngine; wal: MemoryWal; blocks: MemoryBlocks; app: MemoryApp; events: EngineEvent[] };

async function makeNet(n: number, work = true, idleHeartbeatMaxMs?: number) {
  const validators = makeValidatorSet(n);
  const clock = new ManualClock();
  const ids = Array.from({ length: n }, (_, i) => String(i));
  const net = new MemoryNetwork(ids);
  const nodes: Node[] = [];
  /** Messages to a node are dropped until this time: it cannot relearn what it lost before its timeouts fire. */
  const deafUntil = new Map<string, number>();
  const open = async (i: number, storage?: Pick<Node, 'wal' | 'blocks' | 'app'>, network?: Network) => {
    const wal = storage?.wal ?? new MemoryWal();
    const blocks = storage?.blocks ?? new MemoryBlocks();
    const app = storage?.app ?? new MemoryApp(`node-${i}`);
    if (!storage) app.work = work;
    const events: EngineEvent[] = [];
    const engine = await ConsensusEngine.open({
      ctx: makeContext(i),
      validators,
      app,
      wal,
      blocks,
      network: network ?? net.forPeer(String(i)),
      clock,
      heartbeatMs: 10_000,
      ...(idleHeartbeatMaxMs !== undefined ? { idleHeartbeatMaxMs } : {}),
      gossipMs: 500,
      onEvent: (e) => events.push(e),
    });
    nodes[i] = { id: String(i), engine, wal, blocks, app, events };
    return nodes[i] as Node;
  };
  for (let i = 0; i < n; i++) await open(i);
  /** Delivers messages and fires timers until every node reaches `height` or `steps` run out. */
  const runUntil = async (pred: () => boolean, steps = 100_000) => {
    for (let s = 0; s < steps && !pred(); s++) {
      const m = net.inbox.shift();
      if (m) {
        const node = nodes[Number(m.to)];
        if (node && !net.down.has(m.to) && clock.time >= (deafUntil.get(m.to) ?? 0)) node.engine.receive(m.from, m.bytes);
      } else if (!clock.fireNext()) break;
      for (const node of nodes) await node.engine.idle();
    }
  };
  return { validators, clock, net, nodes, open, runUntil, deafUntil };
}

describe('ConsensusEngine', () => {
  it('default: 4 engines commit the same blocks with valid certificates, saved before the app commits', async () => {
    const { nodes, runUntil, validators } = await makeNet(4);
    await runUntil(() => nodes.every((n) => n.app.committed >= 5));
    for (const n of nodes) {
      expect(n.app.committed, `node ${n.id}`).toBeGreaterThanOrEqual(5);
      for (let h = 1; h <= 5; h++) {
        const b = n.blocks.blocks.get(h);
        expect(b, `node ${n.id} height ${h}`).toBeDefined();
        expect(verifyCertificate(LEDGER_ID, validators, b?.certificate ?? ({} as never), h), `node ${n.id} h${h}`).toBeNull();
        expect(n.app.executed[h - 1]).toBe((nodes[0] as Node).app.executed[h - 1]);
      }
    }
  });

  it('behavior: an idle ledger makes no block until the heartbeat', async () => {
    const { nodes, runUntil, clock } = await makeNet(4, false);
    await runUntil(() => nodes.every((n) => n.app.committed >= 1));
    // One heartbeat (10 s) passed before the first block, and no block came faster than that.
    expect(clock.time).toBeGreaterThanOrEqual(10_000);
    const t = clock.time;
    await runUntil(() => nodes.every((n) => n.app.committed >= 3));
    expect(clock.time - t).toBeGreaterThanOrEqual(20_000);
  });

  it('behavior: an idle ledger slows its heartbeat, doubling up to idleHeartbeatMaxMs, and work restores it', async () => {
    const { nodes, runUntil, clock } = await makeNet(4, false, 40_000);
    const committedAt: number[] = [];
    const next = async () => {
      const h = committedAt.length + 1;
      await runUntil(() => nodes.every((n) => n.app.committed >= h));
      expect((nodes[0] as Node).app.committed, `height ${h} committed`).toBe(h);
      committedAt.push(clock.time);
      return clock.time - (committedAt[h - 2] ?? 0);
    };
    // Each idle height waits twice as long as the one before, up to the slowest heartbeat.
    for (const expected of [10_000, 20_000, 40_000, 40_000]) {
      const gap = await next();
      expect(gap).toBeGreaterThanOrEqual(expected);
      expect(gap).toBeLessThan(expected + 5_000);
    }
    // Transactions arrive (the host says so): a block at once, and the heartbeat is back to its pace.
    for (const n of nodes) n.engine.notifyWork();
    expect(await next()).toBeLessThan(5_000);
    const gap = await next();
    expect(gap).toBeGreaterThanOrEqual(10_000);
    expect(gap).toBeLessThan(15_000);
  });

  it('behavior: a restarted node replays its WAL and catches up by sync', async () => {
    const { nodes, runUntil, net, open } = await makeNet(4);
    await runUntil(() => nodes.every((n) => n.app.committed >= 2));
    const victim = nodes[3] as Node;
    victim.engine.close();
    victim.wal.crash();
    net.down.add('3');
    await runUntil(() => (nodes[0] as Node).app.committed >= 6);
    net.down.delete('3');
    const restarted = await open(3, victim);
    await runUntil(() => restarted.app.committed >= 6);
    expect(restarted.app.committed).toBeGreaterThanOrEqual(6);
    expect(restarted.app.executed.slice(0, 6)).toEqual((nodes[0] as Node).app.executed.slice(0, 6));
  });

  it('error: a peer that sends blocks of far-future heights cannot stop a lagging node from syncing', async () => {
    const { nodes, runUntil, net } = await makeNet(4);
    net.down.add('3');
    await runUntil(() => (nodes[0] as Node).app.committed >= 6);
    const lagging = nodes[3] as Node;
    expect(lagging.app.committed).toBe(0);
    // Real blocks, relabelled as heights the lagging node will not reach for a long time: they
    // cannot be checked yet, so they must not take the buffer's room.
    const real = (nodes[0] as Node).blocks.blocks.get(1);
    if (!real) throw new Error('no block 1');
    const junk = Array.from({ length: SYNC_BLOCKS_MAX }, (_, i) => ({ ...real, height: 1_000 + i }));
    lagging.engine.receive('1', encodeWire({ kind: 'sync-response', blocks: junk }));
    await lagging.engine.idle();
    net.down.delete('3');
    await runUntil(() => lagging.app.committed >= 6);
    expect(lagging.app.executed.slice(0, 6)).toEqual((nodes[0] as Node).app.executed.slice(0, 6));
  });

  it('behavior: a crash between signing and sending never leads to a second, different vote', async () => {
    // For each crash point k, node 2 dies at the moment it hands its k-th signed message to the
    // network (after the WAL sync, before the send): the message is lost with the unsynced WAL tail.
    for (let k = 1; k <= 16; k++) {
      const { nodes, runUntil, net, open, deafUntil, clock } = await makeNet(4);
      const signed: Array<{ bytes: Uint8Array; sent: boolean }> = [];
      const original = net.forPeer('2');
      const storage = { wal: new MemoryWal(), blocks: new MemoryBlocks(), app: new MemoryApp('node-2') };
      let count = 0;
      const crashingNetwork = {
        broadcast: (bytes: Uint8Array) => {
          count++;
          if (count === k) {
            signed.push({ bytes, sent: false });
            (nodes[2] as Node).engine.close();
            storage.wal.crash();
            return;
          }
          signed.push({ bytes, sent: true });
          original.broadcast(bytes);
        },
        send: original.send,
      };
      // Re-open node 2 on the crashing network (fresh storage, so this is its first start).
      (nodes[2] as Node).engine.close();
      await open(2, storage, crashingNetwork);
      await runUntil(() => count >= k);
      const recording: Network = {
        broadcast: (bytes) => {
          signed.push({ bytes, sent: true });
          original.broadcast(bytes);
        },
        send: original.send,
      };
      // Deaf past its propose timeout: whatever it forgot, it must not learn again before it acts.
      deafUntil.set('2', clock.time + 4_000);
      const restarted = await open(2, storage, recording);
      await runUntil(() => nodes.every((n) => n.app.committed >= 3));
      expect(restarted.app.committed, `crash point ${k}`).toBeGreaterThanOrEqual(3);
      const votes = new Map<string, string>();
      for (const s of signed) {
        const w = decodeWire(s.bytes);
        if (w.kind !== 'consensus' || w.message.kind !== 'vote') continue;
        const v = w.message.vote;
        const key = `${v.height}/${v.round}/${v.type}`;
        const prev = votes.get(key);
        expect(prev === undefined || prev === tallyKey(v.valueId), `crash point ${k}: two different votes at ${key}`).toBe(true);
        votes.set(key, tallyKey(v.valueId));
      }
    }
  });

  it('error: garbage and torn WAL tails are survived', async () => {
    const { nodes, runUntil } = await makeNet(4);
    const n0 = nodes[0] as Node;
    for (const bytes of [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(100).fill(0xc0)]) {
      n0.engine.receive('1', bytes);
    }
    await n0.engine.idle();
    expect(n0.events.filter((e) => e.type === 'invalid-message').length).toBe(3);
    const log = new Uint8Array([...frameWalRecord(new Uint8Array([0xc1, 0x80])), 0, 0, 0, 9, 1]);
    const { records, torn } = readWalRecords(log);
    expect(records.length).toBe(1);
    expect(torn).toBe(true);
    await runUntil(() => nodes.every((n) => n.app.committed >= 1));
    expect(n0.app.committed).toBeGreaterThanOrEqual(1);
  });
});
