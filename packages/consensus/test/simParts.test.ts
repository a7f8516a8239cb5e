/**
 * The simulator's parts on their own: the seeded generator, virtual time, the disk's crash
 * semantics, the network's faults, and each checker failing on a history made wrong by hand.
 */
import { sha256, utf8ToBytes } from '@polis/core';
import { describe, expect, it } from 'vitest';
import { createCertificate, type Vote, voteSignBytes } from '../src/index.js';
import {
  checkAgreement,
  checkCertificates,
  checkLiveness,
  checkNoDoubleSign,
  checkValidity,
  NodeClock,
  percentile,
  Rng,
  runCheckers,
  SIM_LEDGER_ID,
  SignatureWatch,
  SimDisk,
  type SimHistory,
  SimNetwork,
  SimScheduler,
  simSigner,
  simValidatorSet,
} from '../src/sim/index.js';

describe('rng', () => {
  it('default: one seed gives one stream, another seed another', () => {
    const draw = (seed: number) => {
      const r = new Rng(seed);
      return Array.from({ length: 8 }, () => r.nextUint32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('behavior: helpers stay in range and split streams are independent of later draws', () => {
    const r = new Rng(7);
    for (let i = 0; i < 1000; i++) {
      const n = r.int(-3, 5);
      expect(n >= -3 && n <= 5 && Number.isInteger(n), `draw ${i}: ${n}`).toBe(true);
    }
    expect(r.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
    const a = new Rng(9);
    const childA = a.split();
    const b = new Rng(9);
    const childB = b.split();
    b.nextUint32(); // a draw on the parent does not move the child
    expect(childA.nextUint32()).toBe(childB.nextUint32());
  });
});

describe('virtual time', () => {
  it('default: events run in (time, insertion) order and timers of a disabled clock never fire', async () => {
    const s = new SimScheduler();
    const log: string[] = [];
    s.schedule(10, () => log.push('b'));
    s.schedule(5, () => log.push('a'));
    s.schedule(10, () => log.push('c'));
    const clock = new NodeClock(s, 3);
    clock.setTimer(7, () => log.push('dead'));
    const live = new NodeClock(s, 0);
    const h = live.setTimer(8, () => log.push('cancelled'));
    live.cancel(h);
    clock.disable();
    await s.runUntil(100);
    expect(log).toEqual(['a', 'b', 'c']);
    expect(s.now()).toBe(100);
    expect(clock.now()).toBe(103);
  });

  it('behavior: async work started by an event finishes before the next event', async () => {
    const s = new SimScheduler();
    const log: string[] = [];
    s.schedule(1, () => {
      void (async () => {
        for (let i = 0; i < 50; i++) await Promise.resolve();
        log.push('async done');
      })();
    });
    s.schedule(1, () => log.push('next event'));
    await s.runUntil(10);
    expect(log).toEqual(['async done', 'next event']);
  });
});

describe('disk', () => {
  const bytes = (s: string) => utf8ToBytes(s);
  const text = (b: Uint8Array) => Buffer.from(b).toString();

  it('default: synced WAL bytes survive a crash; unsynced ones may not', async () => {
    for (let seed = 0; seed < 40; seed++) {
      const s = new SimScheduler();
      const disk = new SimDisk(s, new Rng(seed), 2);
      const wal = disk.walStorage();
      wal.append(bytes('aaaa'));
      const synced = wal.sync();
      await s.runUntil(10);
      await synced;
      wal.append(bytes('bbbb'));
      void wal.sync(); // a crash lands between this write and its fsync
      disk.crash();
      const after = text(await disk.walStorage().read());
      expect(after.startsWith('aaaa'), `seed=${seed}: ${after}`).toBe(true);
      expect('aaaabbbb'.startsWith(after), `seed=${seed}: a prefix survives, got ${after}`).toBe(true);
    }
  });

  it('behavior: across seeds a crash loses the unsynced tail, keeps it, or tears it', async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const s = new SimScheduler();
      const disk = new SimDisk(s, new Rng(seed), 2);
      const wal = disk.walStorage();
      wal.append(bytes('12345678'));
      disk.crash();
      const after = text(await disk.walStorage().read());
      outcomes.add(after === '' ? 'lost' : after === '12345678' ? 'kept' : 'torn');
    }
    expect([...outcomes].sort()).toEqual(['kept', 'lost', 'torn']);
  });

  it('behavior: a crashed incarnation never sees its sync complete, and its writes are ignored', async () => {
    const s = new SimScheduler();
    const disk = new SimDisk(s, new Rng(1), 2);
    const old = disk.walStorage();
    let resolved = false;
    void old.sync().then(() => {
      resolved = true;
    });
    disk.crash();
    old.append(bytes('late'));
    await s.runUntil(100);
    expect(resolved).toBe(false);
    expect(text(await disk.walStorage().read())).toBe('');
  });

  it('behavior: the block store keeps saved blocks and the app store its durable puts', async () => {
    const s = new SimScheduler();
    const disk = new SimDisk(s, new Rng(3), 2);
    const app = disk.appStore();
    const put = app.put('k', bytes('v1'));
    await s.runUntil(10);
    await put;
    void app.put('k', bytes('v2'));
    expect(text(disk.appStore().get('k') as Uint8Array)).toBe('v2');
    disk.crash();
    expect(['v1', 'v2']).toContain(text(disk.appStore().get('k') as Uint8Array));
  });
});

describe('network', () => {
  it('default: delivers, partitions cut groups apart, and heal reconnects them', async () => {
    const s = new SimScheduler();
    const got: string[] = [];
    const net = new SimNetwork(['0', '1', '2'], s, new Rng(5), {
      dropRate: 0,
      duplicateRate: 0,
      delay: false,
      jitterMeanMs: 0,
      baseLatencyMs: () => 1,
    });
    for (const id of ['0', '1', '2']) net.attach(id, (from, b) => got.push(`${from}>${id}:${Buffer.from(b).toString()}`));
    const e0 = net.endpoint('0');
    e0.broadcast(utf8ToBytes('x'));
    await s.runUntil(5);
    net.partition([['0'], ['1', '2']]);
    e0.broadcast(utf8ToBytes('y'));
    await s.runUntil(10);
    net.heal();
    e0.send('2', utf8ToBytes('z'));
    await s.runUntil(15);
    expect(got).toEqual(['0>1:x', '0>2:x', '0>2:z']);
    expect(net.stats.partitioned).toBe(2);
  });

  it('behavior: drops and duplicates follow their rates, and a dead endpoint sends nothing', async () => {
    const s = new SimScheduler();
    let delivered = 0;
    const net = new SimNetwork(['0', '1'], s, new Rng(11), {
      dropRate: 0.5,
      duplicateRate: 0.5,
      delay: true,
      jitterMeanMs: 10,
      baseLatencyMs: () => 1,
    });
    net.attach('1', () => delivered++);
    const e = net.endpoint('0');
    for (let i = 0; i < 1000; i++) e.send('1', utf8ToBytes(String(i)));
    await s.runUntil(10_000);
    expect(net.stats.dropped).toBeGreaterThan(400);
    expect(net.stats.duplicated).toBeGreaterThan(150);
    expect(delivered).toBe(1000 - net.stats.dropped + net.stats.duplicated);
    net.detach('0');
    e.send('1', utf8ToBytes('after crash'));
    await s.runUntil(20_000);
    expect(delivered).toBe(1000 - net.stats.dropped + net.stats.duplicated);
  });

  it('behavior: percentiles use the nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(v, 50), percentile(v, 90), percentile(v, 99)]).toEqual([50, 90, 99]);
  });
});

describe('checkers fail on bad histories', () => {
  const validators = simValidatorSet(4);
  const idA = sha256(utf8ToBytes('A'));
  const idB = sha256(utf8ToBytes('B'));
  const signedVote = (
    validator: number,
    type: Vote['type'],
    height: number,
    round: number,
    valueId: Uint8Array | null,
  ): Vote => ({
    type,
    height,
    round,
    valueId,
    validator,
    signature: simSigner(validator).sign(voteSignBytes(SIM_LEDGER_ID, { type, height, round, valueId })),
  });
  const proposalFor = (value: Uint8Array) => ({
    height: 1,
    round: 0,
    polRound: -1,
    value,
    valueId: sha256(value),
    validator: 1,
    signature: new Uint8Array(64),
  });
  const goodBlock = (value: Uint8Array) => {
    const id = sha256(value);
    return {
      height: 1,
      value,
      proposal: proposalFor(value),
      certificate: createCertificate(
        1,
        0,
        id,
        [0, 1, 2].map((i) => signedVote(i, 'precommit', 1, 0, id)),
      ),
    };
  };
  const base = (): SimHistory => ({
    ledgerId: SIM_LEDGER_ID,
    validators,
    honest: new Set([0, 1, 2]),
    decisions: [],
    blocks: new Map(),
    judgedValid: () => new Set([0]),
    valueIdOf: (v) => sha256(v),
    signatures: new SignatureWatch(),
    liveness: null,
    engineErrors: [],
  });

  it('default: a consistent history passes every checker', () => {
    const value = utf8ToBytes('A');
    const id = sha256(value);
    const h: SimHistory = {
      ...base(),
      decisions: [0, 1, 2].map((node) => ({ node, height: 1, valueId: id, atMs: 10 })),
      blocks: new Map([0, 1, 2].map((node) => [node, [goodBlock(value)]] as const)),
      liveness: { healMs: 0, deadlineMs: 100, targetHeight: 1, reachedMs: new Map([0, 1, 2].map((n) => [n, 10] as const)) },
    };
    expect(runCheckers(h)).toEqual([]);
  });

  it('error: agreement fails when two honest nodes commit different values at one height', () => {
    const h = {
      ...base(),
      decisions: [
        { node: 0, height: 3, valueId: idA, atMs: 1 },
        { node: 1, height: 3, valueId: idB, atMs: 2 },
      ],
    };
    expect(checkAgreement(h).map((v) => v.kind)).toEqual(['agreement']);
    // The same split with a Byzantine node on one side is not a violation.
    expect(checkAgreement({ ...h, honest: new Set([0, 2, 3]) })).toEqual([]);
  });

  it('error: validity fails when no honest application judged the committed value valid', () => {
    const h = { ...base(), decisions: [{ node: 0, height: 1, valueId: idA, atMs: 1 }], judgedValid: () => new Set([3]) };
    expect(checkValidity(h).map((v) => v.kind)).toEqual(['validity']);
  });

  it('error: certificates fail when short of a quorum, badly signed, or for another block', () => {
    const value = utf8ToBytes('A');
    const short = goodBlock(value);
    short.certificate.signatures.pop();
    const forged = goodBlock(value);
    (forged.certificate.signatures[0] as { signature: Uint8Array }).signature = new Uint8Array(64);
    const other = { ...goodBlock(value), value: utf8ToBytes('B') };
    const h = {
      ...base(),
      blocks: new Map([
        [0, [short]],
        [1, [forged]],
        [2, [other]],
      ] as const),
    };
    expect(checkCertificates(h).map((v) => v.message)).toEqual([
      'node 0 height 1: certificate fails verification (insufficient-power)',
      'node 1 height 1: certificate fails verification (bad-signature)',
      'node 2 height 1: the certificate or proposal is for another value than the stored block',
    ]);
  });

  it('error: liveness fails when an honest node misses the target height', () => {
    const h = {
      ...base(),
      liveness: {
        healMs: 100,
        deadlineMs: 500,
        targetHeight: 9,
        reachedMs: new Map([
          [0, 200],
          [1, null],
          [2, 600],
        ] as const),
      },
    };
    expect(checkLiveness(h).map((v) => v.message)).toEqual([
      'node 1 did not commit height 9 within 400 ms after the final heal at 100 ms',
      'node 2 did not commit height 9 within 400 ms after the final heal at 100 ms',
    ]);
  });

  it('error: double signing fails for an honest validator, and forged signatures do not count', () => {
    const watch = new SignatureWatch();
    watch.observe({ kind: 'vote', vote: signedVote(0, 'prevote', 5, 2, idA) });
    watch.observe({ kind: 'vote', vote: signedVote(0, 'prevote', 5, 2, null) });
    watch.observe({ kind: 'vote', vote: signedVote(3, 'precommit', 5, 2, idA) });
    watch.observe({ kind: 'vote', vote: signedVote(3, 'precommit', 5, 2, idB) });
    watch.observe({ kind: 'vote', vote: signedVote(1, 'prevote', 5, 2, idA) });
    watch.observe({ kind: 'vote', vote: { ...signedVote(1, 'prevote', 5, 2, idB), signature: new Uint8Array(64) } });
    const found = checkNoDoubleSign({ ...base(), signatures: watch });
    expect(found.map((v) => v.message)).toEqual([
      `honest validator 0 signed prevotes for ${`0x${Buffer.from(idA).toString('hex')}`.slice(0, 12)} and nil at height 5 round 2`,
    ]);
  });
});
