/**
 * The p2p host over real TCP on 127.0.0.1 with real libp2p (Noise, yamux): admission, channels,
 * order, garbage and oversized frames, floods, runtime admission changes and redial.
 */
import { randomBytes } from 'node:crypto';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import type { Libp2p } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { bytesToHex, createEd25519Signer } from '@polis/core';
import { createLibp2p } from 'libp2p';
import { afterEach, describe, expect, test } from 'vitest';
import {
  type AdmittedPeer,
  decodeFrameBody,
  encodeFrame,
  type FrameBody,
  FrameDecoder,
  FrameQueue,
  LEDGER_PROTOCOL,
  P2PHost,
  type P2PLimits,
} from '../src/p2p/index.js';

type Key = { seed: Uint8Array; publicKey: string };
type Received = { peer: string; ledger: string; text: string };

/** Fast redial so that tests that restart or remove peers stay short. */
const FAST: Partial<P2PLimits> = { redialBaseMs: 50, redialMaxMs: 400, dialTimeoutMs: 2_000 };
const LOCAL = '/ip4/127.0.0.1/tcp/0';
const utf8 = new TextEncoder();
const text = new TextDecoder();

const hosts: P2PHost[] = [];
const raws: Libp2p[] = [];

afterEach(async () => {
  await Promise.all([...hosts.splice(0).map((h) => h.close()), ...raws.splice(0).map((r) => r.stop())]);
});

function newKey(): Key {
  const seed = new Uint8Array(randomBytes(32));
  return { seed, publicKey: bytesToHex(createEd25519Signer(seed).publicKey) };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 8_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function startHost(key: Key, options: { admitted?: AdmittedPeer[]; limits?: Partial<P2PLimits>; listen?: string } = {}) {
  const host = await P2PHost.create({
    seed: key.seed,
    listen: options.listen ?? LOCAL,
    admitted: options.admitted ?? [],
    limits: { ...FAST, ...options.limits },
  });
  hosts.push(host);
  return host;
}

/** Starts one host per key, then gives each the full admitted list with everyone's addresses. */
async function startMesh(keys: Key[], limits?: (i: number) => Partial<P2PLimits>): Promise<P2PHost[]> {
  const started = await Promise.all(keys.map((k, i) => startHost(k, limits ? { limits: limits(i) } : {})));
  const admitted = started.map((h) => ({ publicKey: h.publicKey, addrs: h.addrs }));
  await Promise.all(started.map((h) => h.setAdmitted(admitted)));
  await waitFor('a full mesh', () => started.every((h) => h.connectedPeers().length === keys.length - 1));
  return started;
}

/** Records every message a host receives on the given ledgers. */
function collect(host: P2PHost, ledgers: string[]): Received[] {
  const got: Received[] = [];
  for (const ledger of ledgers)
    host.channel(ledger).onMessage((peer, bytes) => got.push({ peer, ledger, text: text.decode(bytes) }));
  return got;
}

/** Sequence numbers a receiver saw from one sender, across all ledgers, in arrival order. */
function seqsFrom(got: Received[], peer: string): number[] {
  return got.filter((r) => r.peer === peer).map((r) => Number(r.text.split(':')[1]));
}

/** A bare libp2p node with an admitted key, used to write raw bytes on the ledger protocol. */
async function startRaw(key: Key): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey: await generateKeyPairFromSeed('Ed25519', key.seed),
    addresses: { listen: [LOCAL] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  });
  // It drains what the host sends it, like a peer would.
  await node.handle(LEDGER_PROTOCOL, ({ stream }) => {
    void (async () => {
      for await (const _ of stream.source);
    })().catch(() => {});
  });
  raws.push(node);
  return node;
}

/** Opens a fresh ledger stream from `raw` to `host` and writes `chunks`, then closes the write side. */
async function inject(raw: Libp2p, host: P2PHost, chunks: Uint8Array[]): Promise<void> {
  const stream = await raw.dialProtocol(multiaddr(host.addrs[0] as string), LEDGER_PROTOCOL);
  await stream.sink(chunks).catch(() => {});
}

function header(length: number): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, length, false);
  return h;
}

describe('frame codec and queue', () => {
  test('default: frames split at every byte boundary decode to the same bodies', () => {
    const one = encodeFrame(utf8.encode('alpha'), utf8.encode('one'));
    const two = encodeFrame(utf8.encode('beta'), new Uint8Array(1000).fill(7));
    const stream = new Uint8Array([...one, ...two]);
    const decoder = new FrameDecoder(1 << 20);
    const bodies: FrameBody[] = [];
    for (let i = 0; i < stream.length; i++) decoder.push(stream.subarray(i, i + 1), (b) => bodies.push(decodeFrameBody(b)));
    expect(bodies.map((b) => [b.ledgerId, b.message.length])).toEqual([
      ['alpha', 3],
      ['beta', 1000],
    ]);
    expect(text.decode(bodies[0]?.message)).toBe('one');
    expect(decoder.pendingBytes).toBe(0);
  });

  test('behavior: a full queue drops its oldest frames and keeps order', () => {
    const q = new FrameQueue({ framesMax: 3, bytesMax: 1 << 20 });
    let dropped = 0;
    for (let i = 0; i < 5; i++) dropped += q.push(new Uint8Array([i]));
    expect(dropped).toBe(2);
    expect(q.takeBatch(1 << 20)).toEqual({ bytes: new Uint8Array([2, 3, 4]), frames: 3 });
  });
});

describe('P2PHost', () => {
  test('default: the libp2p identity is the node key', async () => {
    const key = newKey();
    const host = await startHost(key);
    expect(host.publicKey).toBe(key.publicKey);
    expect(host.addrs[0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${host.peerId}$`));
  });

  test('error: a taken port is a LISTEN_FAILED error', async () => {
    const first = await startHost(newKey());
    const port = multiaddr(first.addrs[0] as string).toOptions().port;
    await expect(
      P2PHost.create({ seed: newKey().seed, listen: `/ip4/127.0.0.1/tcp/${port}`, admitted: [] }),
    ).rejects.toMatchObject({
      code: 'P2P_ERROR_LISTEN_FAILED',
    });
  });

  test('default: two hosts exchange messages on two ledgers, both ways, in order', async () => {
    const [a, b] = (await startMesh([newKey(), newKey()])) as [P2PHost, P2PHost];
    const gotA = collect(a, ['alpha', 'beta']);
    const gotB = collect(b, ['alpha', 'beta']);
    for (let i = 0; i < 200; i++) {
      // Interleave the ledgers and use both broadcast and send: order holds per peer across them.
      a.channel(i % 2 ? 'alpha' : 'beta').broadcast(utf8.encode(`a:${i}`));
      b.channel(i % 2 ? 'beta' : 'alpha').send(a.publicKey, utf8.encode(`b:${i}`));
    }
    await waitFor('200 messages each way', () => gotA.length === 200 && gotB.length === 200);
    const seq = Array.from({ length: 200 }, (_, i) => i);
    expect(seqsFrom(gotB, a.publicKey)).toEqual(seq);
    expect(seqsFrom(gotA, b.publicKey)).toEqual(seq);
    expect(gotB.filter((r) => r.ledger === 'alpha').length).toBe(100);
    expect(gotA.filter((r) => r.ledger === 'beta').length).toBe(100);
    expect(a.metrics()).toMatchObject({
      framesOut: 200,
      framesIn: 200,
      framesDelivered: 200,
      framesRejected: 0,
      rejectedConnections: 0,
    });
  });

  test('default: four hosts broadcast to each other on two ledgers in order', async () => {
    const mesh = await startMesh([newKey(), newKey(), newKey(), newKey()]);
    const got = mesh.map((h) => collect(h, ['alpha', 'beta']));
    for (let i = 0; i < 100; i++) {
      for (const h of mesh) h.channel(i % 3 ? 'alpha' : 'beta').broadcast(utf8.encode(`${h.publicKey}:${i}`));
    }
    await waitFor('300 messages at every host', () => got.every((g) => g.length === 300));
    const seq = Array.from({ length: 100 }, (_, i) => i);
    mesh.forEach((receiver, r) => {
      for (const sender of mesh) {
        if (sender === receiver) continue;
        expect(seqsFrom(got[r] as Received[], sender.publicKey), `host ${r} from ${sender.publicKey}`).toEqual(seq);
      }
    });
  });

  test('error: a host whose key is not admitted can neither connect nor inject', async () => {
    const [a, b] = (await startMesh([newKey(), newKey()])) as [P2PHost, P2PHost];
    const gotA = collect(a, ['alpha']);
    const outsiderKey = newKey();
    // The outsider admits `a` and dials it, but `a` does not admit the outsider.
    const outsider = await startHost(outsiderKey, { admitted: [{ publicKey: a.publicKey, addrs: a.addrs }] });
    await waitFor('a refuses the outsider at least twice (dial, then redial)', () => a.metrics().rejectedConnections >= 2);
    await expect(outsider.libp2p.dialProtocol(multiaddr(a.addrs[0] as string), LEDGER_PROTOCOL)).rejects.toThrow();
    outsider.channel('alpha').broadcast(utf8.encode('x:0'));
    outsider.channel('alpha').send(a.publicKey, utf8.encode('x:1'));
    b.channel('alpha').broadcast(utf8.encode('b:0'));
    await waitFor('the admitted peer still gets through', () => gotA.length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(gotA).toEqual([{ peer: b.publicKey, ledger: 'alpha', text: 'b:0' }]);
    expect(a.connectedPeers()).toEqual([b.publicKey]);
    // The outsider's side may see a connection for a moment (libp2p selects the muxer optimistically)
    // until a's refusal arrives; what matters is that it ends and nothing gets through.
    await waitFor('the outsider holds no connection to a', () => outsider.libp2p.getConnections(a.libp2p.peerId).length === 0);
    expect(a.libp2p.getConnections().every((c) => c.remotePeer.toString() !== outsider.peerId)).toBe(true);
    expect(outsider.metrics().framesOut).toBe(0);
  });

  test('error: garbage, truncated and oversized frames reset their stream and the host keeps serving', async () => {
    const attackerKey = newKey();
    const [a, b] = (await startMesh([newKey(), newKey()])) as [P2PHost, P2PHost];
    // The attacker is admitted (so it gets past the gater) but writes raw bytes.
    await a.setAdmitted([
      { publicKey: b.publicKey, addrs: b.addrs },
      { publicKey: attackerKey.publicKey, addrs: [] },
    ]);
    const attacker = await startRaw(attackerKey);
    const gotA = collect(a, ['alpha']);
    const alpha = utf8.encode('alpha');
    const rejected = () => a.metrics().framesRejected;
    const cases: Array<{
      name: string;
      chunks: Uint8Array[];
      counter: 'framesMalformed' | 'framesOversized' | 'framesTruncated';
    }> = [
      {
        name: 'random bytes behind a valid length',
        chunks: [header(1000), new Uint8Array([0xee, ...randomBytes(999)])],
        counter: 'framesMalformed',
      },
      {
        name: 'random bytes with a huge first length',
        chunks: [new Uint8Array([0xf0, ...randomBytes(4095)])],
        counter: 'framesOversized',
      },
      { name: 'a huge length prefix', chunks: [header(0xffff_ffff), randomBytes(64)], counter: 'framesOversized' },
      {
        name: 'a truncated frame',
        chunks: [header(100), encodeFrame(alpha, new Uint8Array(95)).subarray(4, 54)],
        counter: 'framesTruncated',
      },
      {
        name: 'a ledger id longer than the body',
        chunks: [header(10), new Uint8Array([1, 200, 1, 2, 3, 4, 5, 6, 7, 8])],
        counter: 'framesMalformed',
      },
      {
        name: 'a ledger id that is not UTF-8',
        chunks: [header(6), new Uint8Array([1, 2, 0xc3, 0x28, 9, 9])],
        counter: 'framesMalformed',
      },
      { name: 'a length below the minimum body', chunks: [header(1), new Uint8Array([1])], counter: 'framesMalformed' },
      {
        name: 'an oversized frame (17 MiB)',
        chunks: [encodeFrame(alpha, new Uint8Array(17 * 1024 * 1024))],
        counter: 'framesOversized',
      },
    ];
    for (const [i, c] of cases.entries()) {
      const before = a.metrics();
      await inject(attacker, a, c.chunks);
      await waitFor(`case ${i} (${c.name}) is rejected`, () => rejected() === before.framesRejected + 1);
      expect(a.metrics()[c.counter], c.name).toBe(before[c.counter] + 1);
      expect(a.metrics().streamResets, c.name).toBe(before.streamResets + 1);
    }
    // An unknown ledger is dropped and counted without a reset; a valid frame after it on the same stream gets through.
    await inject(attacker, a, [encodeFrame(utf8.encode('nope'), utf8.encode('?')), encodeFrame(alpha, utf8.encode('m:0'))]);
    await waitFor('the valid frame behind the unknown ledger', () => gotA.length === 1);
    expect(a.metrics()).toMatchObject({ droppedUnknownLedger: 1, framesRejected: cases.length, streamResets: cases.length });
    expect(gotA[0]).toEqual({ peer: attackerKey.publicKey, ledger: 'alpha', text: 'm:0' });
    // The host still serves the honest peer, both ways.
    const gotB = collect(b, ['alpha']);
    b.channel('alpha').broadcast(utf8.encode('b:0'));
    a.channel('alpha').send(b.publicKey, utf8.encode('a:0'));
    await waitFor('honest traffic after the attack', () => gotA.length === 2 && gotB.length === 1);
    expect(gotA[1]).toEqual({ peer: b.publicKey, ledger: 'alpha', text: 'b:0' });
    expect(b.metrics().framesRejected).toBe(0);
  });

  test('behavior: a flooding peer is rate-limited without starving the others', async () => {
    const victimLimits = { peerMessagesPerSecond: 200, peerMessagesBurst: 200 };
    const [a, flooder, honest] = (await startMesh([newKey(), newKey(), newKey()], (i) =>
      i === 0 ? victimLimits : { peerQueueFramesMax: 20_000 },
    )) as [P2PHost, P2PHost, P2PHost];
    const gotA = collect(a, ['alpha']);
    const start = Date.now();
    for (let i = 0; i < 10_000; i++) flooder.channel('alpha').send(a.publicKey, utf8.encode(`f:${i}:${'x'.repeat(40)}`));
    for (let i = 0; i < 100; i++) honest.channel('alpha').send(a.publicKey, utf8.encode(`h:${i}`));
    await waitFor('the flood has been read', () => (a.peerMetrics(flooder.publicKey)?.framesIn ?? 0) === 10_000);
    await waitFor('all honest messages', () => seqsFrom(gotA, honest.publicKey).length === 100);
    const elapsedS = (Date.now() - start) / 1000;
    const flood = a.peerMetrics(flooder.publicKey);
    expect(seqsFrom(gotA, honest.publicKey)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(a.peerMetrics(honest.publicKey)?.droppedRateLimited).toBe(0);
    // At most the burst plus what the rate refilled got through; the rest was dropped and counted.
    expect(flood?.framesDelivered).toBeLessThanOrEqual(200 + Math.ceil(200 * elapsedS) + 1);
    expect(flood?.droppedRateLimited).toBe(10_000 - (flood?.framesDelivered ?? 0));
    expect(a.metrics().droppedRateLimited).toBe(flood?.droppedRateLimited);
    expect(a.metrics().streamResets).toBe(0);
  });

  test('behavior: setAdmitted removing a peer disconnects it and refuses it afterwards', async () => {
    const [a, b, c] = (await startMesh([newKey(), newKey(), newKey()])) as [P2PHost, P2PHost, P2PHost];
    const gotA = collect(a, ['alpha']);
    await a.setAdmitted([{ publicKey: b.publicKey, addrs: b.addrs }]);
    expect(a.connectedPeers()).toEqual([b.publicKey]);
    await waitFor('c sees the disconnect', () => !c.connectedPeers().includes(a.publicKey));
    const refusedBefore = a.metrics().rejectedConnections;
    await waitFor('c redials and is refused', () => a.metrics().rejectedConnections > refusedBefore);
    c.channel('alpha').broadcast(utf8.encode('c:0'));
    b.channel('alpha').broadcast(utf8.encode('b:0'));
    await waitFor('b still gets through', () => gotA.length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(gotA.map((r) => r.peer)).toEqual([b.publicKey]);
    expect(a.libp2p.getConnections().every((conn) => conn.remotePeer.toString() !== c.peerId)).toBe(true);
    // b and c are untouched by a's decision.
    expect(b.connectedPeers()).toContain(c.publicKey);
  });

  test('behavior: a host restarted on the same port is redialled by the others', async () => {
    const keys = [newKey(), newKey(), newKey()];
    const [a, b, c] = (await startMesh(keys)) as [P2PHost, P2PHost, P2PHost];
    const port = multiaddr(c.addrs[0] as string).toOptions().port;
    await c.close();
    hosts.splice(hosts.indexOf(c), 1);
    await waitFor(
      'a and b see c go',
      () => !a.connectedPeers().includes(c.publicKey) && !b.connectedPeers().includes(c.publicKey),
    );
    // The new c knows the others' keys but not their addresses: reconnecting is up to their redial.
    const c2 = await startHost(keys[2] as Key, {
      listen: `/ip4/127.0.0.1/tcp/${port}`,
      admitted: [a, b].map((h) => ({ publicKey: h.publicKey, addrs: [] })),
    });
    await waitFor(
      'a and b redial c',
      () => c2.connectedPeers().length === 2 && a.connectedPeers().length === 2 && b.connectedPeers().length === 2,
    );
    expect(c2.metrics().dials).toBe(0);
    const gotC = collect(c2, ['alpha']);
    const gotA = collect(a, ['alpha']);
    a.channel('alpha').broadcast(utf8.encode('a:0'));
    b.channel('alpha').broadcast(utf8.encode('b:0'));
    c2.channel('alpha').send(a.publicKey, utf8.encode('c:0'));
    await waitFor('traffic with the restarted host', () => gotC.length === 2 && gotA.length === 2);
    expect(gotA.map((r) => r.peer).sort()).toEqual([b.publicKey, c2.publicKey].sort());
  });
});
