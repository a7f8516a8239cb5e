/**
 * The simulator's parts on their own: the seeded generator, virtual time, the disk's crash
 * semantics, the network's faults, the reconfiguration schedule and the application's set
 * changes, and each checker failing on a history made wrong by hand.
 */
import { sha256, utf8ToBytes } from '@polis/core';
import { describe, expect, it } from 'vitest';
import { type CommittedBlock, createCertificate, equalPowerSet, type Vote, voteSignBytes } from '../src/index.js';
import {
  chainValidatorSets,
  checkAgreement,
  checkCertificates,
  checkLiveness,
  checkNoDoubleSign,
  checkValidatorSets,
  checkValidity,
  decodeSimBlock,
  drawValidatorUpdates,
  encodeSimBlock,
  GENESIS_PARENT,
  Mempool,
  NodeClock,
  percentile,
  type ReconfigHistory,
  Rng,
  runCheckers,
  SIM_LEDGER_ID,
  SignatureWatch,
  SimApp,
  type SimBlock,
  SimDisk,
  type SimHistory,
  SimNetwork,
  SimScheduler,
  simSigner,
  simValidatorSet,
  ValidityRegistry,
  withinByzantineBound,
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

describe('reconfiguration', () => {
  const block = (over: Partial<SimBlock>): SimBlock => ({
    height: 1,
    round: 0,
    proposer: 1,
    time: 0,
    parent: GENESIS_PARENT,
    txs: [],
    invalid: false,
    nonce: 0,
    ...over,
  });

  it('default: a block without an update keeps the 8-field encoding; one with an update round-trips', () => {
    const plain = block({});
    expect(decodeSimBlock(encodeSimBlock(plain))).toEqual(plain);
    expect(decodeSimBlock(encodeSimBlock(plain)).update).toBeUndefined();
    for (const update of [[], [0, 2, 5]]) {
      const b = block({ update });
      expect(decodeSimBlock(encodeSimBlock(b)), `update [${update}]`).toEqual(b);
      expect(encodeSimBlock(b).length, `update [${update}] adds a field`).toBeGreaterThan(encodeSimBlock(plain).length);
    }
  });

  it('behavior: every drawn schedule starts with a swap and keeps each set non-empty and within the Byzantine bound', () => {
    const kinds = new Set<string>();
    for (let seed = 0; seed < 300; seed++) {
      const rng = new Rng(seed);
      const validators = rng.int(1, 7);
      const pool = validators + 2;
      const byzantine = new Set(rng.shuffle([...Array(pool).keys()]).slice(0, Math.floor((validators - 1) / 3)));
      const heightMax = rng.int(1, 12);
      const updates = drawValidatorUpdates(rng, { validators, pool, byzantine, heightMax });
      const where = `seed=${seed} n=${validators} byzantine=[${[...byzantine]}]`;
      expect(updates.length, where).toBeGreaterThanOrEqual(1);
      expect(updates.length, where).toBeLessThanOrEqual(4);
      expect(updates[0]?.kind, where).toBe('swap');
      let previous: readonly number[] = [...Array(validators).keys()];
      let lastHeight = 2;
      for (const u of updates) {
        kinds.add(u.kind);
        expect(u.height, where).toBeGreaterThanOrEqual(lastHeight);
        expect(u.height, where).toBeLessThanOrEqual(Math.max(2, heightMax));
        lastHeight = u.height;
        expect(u.members.length, where).toBeGreaterThan(0);
        expect(
          [...u.members].sort((a, b) => a - b),
          `${where}: ascending, distinct`,
        ).toEqual([...new Set(u.members)]);
        expect(
          u.members.every((m) => m < pool),
          where,
        ).toBe(true);
        expect(withinByzantineBound(u.members, byzantine), `${where}: [${u.members}]`).toBe(true);
        const added = u.members.filter((m) => !previous.includes(m)).length;
        const removed = previous.filter((m) => !u.members.includes(m)).length;
        const expected = { swap: [1, 1], add: [1, 0], remove: [0, 1] }[u.kind];
        expect([added, removed], `${where}: ${u.kind} from [${previous}] to [${u.members}]`).toEqual(expected);
        previous = u.members;
      }
    }
    expect([...kinds].sort()).toEqual(['add', 'remove', 'swap']);
  });

  it('behavior: the application accepts only the due update, applies it, and answers validatorSet the same after a restart', async () => {
    const scheduler = new SimScheduler();
    const disk = new SimDisk(scheduler, new Rng(1), 2);
    const poolKeys = [...Array(6).keys()].map((i) => simSigner(i).publicKey);
    const setOf = (members: readonly number[]) => equalPowerSet(members.map((m) => poolKeys[m] as Uint8Array));
    const schedule = [{ height: 2, kind: 'swap' as const, members: [0, 1, 2, 4] }];
    const anomalies: string[] = [];
    const makeApp = () =>
      new SimApp({
        node: 0,
        validatorCount: 4,
        honest: true,
        store: disk.appStore(),
        mempool: new Mempool(),
        registry: new ValidityRegistry(),
        scheduler,
        rng: new Rng(2),
        latencyMaxMs: 0,
        invalidBlockRate: 0,
        alive: () => true,
        onAnomaly: (a) => anomalies.push(a.message),
        reconfig: { pool: 6, initial: [0, 1, 2, 3], schedule, setOf },
      });
    const ask = async (app: SimApp, b: SimBlock) => {
      const answer = app.processProposal({ height: b.height, round: 0, value: encodeSimBlock(b) });
      await scheduler.runUntil(scheduler.now() + 5);
      return answer;
    };
    const commit = async (app: SimApp, b: SimBlock) => {
      const value = encodeSimBlock(b);
      const done = (async () => {
        await app.finalizeBlock({ height: b.height, value } as CommittedBlock);
        await app.commit(b.height);
      })();
      await scheduler.runUntil(scheduler.now() + 10);
      await done;
      return sha256(value);
    };
    const app = makeApp();
    expect(app.validatorSet?.(1).hash).toEqual(setOf([0, 1, 2, 3]).hash);
    // Height 1: the update is not due yet, so a block carrying it is refused, and so is a block without the field.
    expect(await ask(app, block({ update: [0, 1, 2, 4] }))).toBe(false);
    expect(await ask(app, block({}))).toBe(false);
    expect(await ask(app, block({ update: [] }))).toBe(true);
    const id1 = await commit(app, block({ update: [] }));
    // Height 2: the update is due; nothing else passes. The proposer of (2, round 0) is index 2 of
    // the 4-validator set, of (2, round 1) index 3; index 4 is outside the set.
    const at2 = { height: 2, parent: id1, proposer: 2 };
    expect(await ask(app, block({ ...at2, update: [] }))).toBe(false);
    expect(await ask(app, block({ ...at2, update: [0, 1, 2, 3, 4, 5] }))).toBe(false);
    expect(await ask(app, block({ ...at2, update: [0, 1, 2, 4], proposer: 4 }))).toBe(false);
    expect(await ask(app, block({ ...at2, update: [0, 1, 2, 4], proposer: 3 }))).toBe(false);
    expect(await ask(app, block({ ...at2, update: [0, 1, 2, 4], proposer: 3, round: 1 }))).toBe(true);
    expect(await ask(app, block({ ...at2, update: [0, 1, 2, 4] }))).toBe(true);
    await commit(app, block({ ...at2, update: [0, 1, 2, 4] }));
    expect(app.validatorSet?.(2).hash).toEqual(setOf([0, 1, 2, 3]).hash);
    expect(app.validatorSet?.(3).hash).toEqual(setOf([0, 1, 2, 4]).hash);
    expect(app.indexAt(3)).toBe(0);
    expect(anomalies).toEqual([]);
    // The sets are durable with the state: a new incarnation after a crash answers the same.
    disk.crash();
    const again = makeApp();
    expect(again.height).toBe(2);
    expect(again.validatorSet?.(3).hash).toEqual(setOf([0, 1, 2, 4]).hash);
    expect(again.currentMembers).toEqual([0, 1, 2, 4]);
    // A height whose set is not known yet is an engine bug the application reports.
    again.validatorSet?.(5);
    expect(anomalies).toEqual(['validatorSet(5) while the app is at 2: that set is not known yet']);
  });
});

describe('checkers fail on bad reconfiguration histories', () => {
  // Pool 0..5; height 1 has [0,1,2,3]; block 1 swaps 3 for 4, so height 2 has [0,1,2,4] (node 4 is index 3).
  const poolKeys = [...Array(6).keys()].map((i) => simSigner(i).publicKey);
  const setOf = (members: readonly number[]) => equalPowerSet(members.map((m) => poolKeys[m] as Uint8Array));
  const value1 = encodeSimBlock({
    height: 1,
    round: 0,
    proposer: 1,
    time: 0,
    parent: GENESIS_PARENT,
    txs: [],
    invalid: false,
    nonce: 0,
    update: [0, 1, 2, 4],
  });
  const value2 = encodeSimBlock({ ...decodeSimBlock(value1), height: 2, parent: sha256(value1), update: [] });
  /** A precommit signed by pool node `node`, naming it as validator `index` of the height's set. */
  const precommit = (node: number, index: number, height: number, valueId: Uint8Array): Vote => ({
    type: 'precommit',
    height,
    round: 0,
    valueId,
    validator: index,
    signature: simSigner(node).sign(voteSignBytes(SIM_LEDGER_ID, { type: 'precommit', height, round: 0, valueId })),
  });
  /** A stored block of `height` whose certificate has the given (node, index) signers. */
  const stored = (height: number, value: Uint8Array, signers: Array<[number, number]>): CommittedBlock => {
    const id = sha256(value);
    return {
      height,
      value,
      proposal: { height, round: 0, polRound: -1, value, valueId: id, validator: 1, signature: new Uint8Array(64) },
      certificate: createCertificate(
        height,
        0,
        id,
        signers.map(([node, index]) => precommit(node, index, height, id)),
      ),
    };
  };
  const good = () => [
    stored(1, value1, [
      [0, 0],
      [1, 1],
      [2, 2],
    ]),
    stored(2, value2, [
      [0, 0],
      [1, 1],
      [4, 3],
    ]),
  ];
  const reconfig = (over: Partial<ReconfigHistory> = {}): ReconfigHistory => ({
    poolKeys,
    initial: [0, 1, 2, 3],
    updateOf: (v) => {
      const u = decodeSimBlock(v).update;
      return u && u.length > 0 ? u : null;
    },
    signedHeights: new Map([
      [0, new Set([1, 2])],
      [3, new Set([1])],
      [4, new Set([2])],
    ]),
    final: new Map([[0, { height: 3, engineSetHash: setOf([0, 1, 2, 4]).hash, appHeight: 2, appMembers: [0, 1, 2, 4] }]]),
    ...over,
  });
  const history = (blocks: CommittedBlock[], r: ReconfigHistory): SimHistory => ({
    ledgerId: SIM_LEDGER_ID,
    validators: setOf([0, 1, 2, 3]),
    honest: new Set([0, 1, 2, 3, 4]),
    decisions: [],
    blocks: new Map([0, 1, 2, 3, 4].map((node) => [node, blocks] as const)),
    judgedValid: () => new Set([0]),
    valueIdOf: (v) => sha256(v),
    signatures: new SignatureWatch(),
    liveness: null,
    engineErrors: [],
    reconfig: r,
  });

  it('default: a history that follows its committed set changes passes every checker', () => {
    const h = history(good(), reconfig());
    expect(chainValidatorSets(h).changes).toEqual([
      { from: 1, members: [0, 1, 2, 3] },
      { from: 2, members: [0, 1, 2, 4] },
    ]);
    expect(runCheckers(h)).toEqual([]);
  });

  it('error: a certificate signed by the old set after the change fails verification', () => {
    const [b1] = good();
    const old = stored(2, value2, [
      [0, 0],
      [1, 1],
      [3, 3],
    ]);
    expect(checkCertificates(history([b1 as CommittedBlock, old], reconfig())).map((v) => v.message)).toContain(
      'node 0 height 2: certificate fails verification (bad-signature)',
    );
  });

  it('error: a removed validator that signs, or an engine on another set than the chain, is a validator-set violation', () => {
    const r = reconfig({
      signedHeights: new Map([[3, new Set([1, 2])]]),
      final: new Map([
        [0, { height: 3, engineSetHash: setOf([0, 1, 2, 3]).hash, appHeight: 2, appMembers: [0, 1, 2, 4] }],
        [1, { height: 3, engineSetHash: setOf([0, 1, 2, 4]).hash, appHeight: 2, appMembers: [0, 1, 2, 3] }],
      ]),
    });
    expect(checkValidatorSets(history(good(), r)).map((v) => v.message)).toEqual([
      "honest node 0 ended at height 3 with another set than the chain's [0,1,2,4]",
      "honest node 1's application holds [0,1,2,3] for height 3, the chain [0,1,2,4]",
      'honest node 3 signed at height 2, where the set is [0,1,2,4]',
    ]);
  });

  it('error: a committed set with a third or more Byzantine members is a validator-set violation', () => {
    const h = { ...history(good(), reconfig()), honest: new Set([0, 1, 2, 3]) };
    // Node 4 is Byzantine and [0,1,2,4] has 1 of 4: fine. With node 2 Byzantine too, 2 of 4 is not.
    expect(checkValidatorSets(h)).toEqual([]);
    expect(checkValidatorSets({ ...h, honest: new Set([0, 1, 3]) }).map((v) => v.message)).toEqual([
      'the set from height 2 [0,1,2,4] has a third or more Byzantine members',
    ]);
  });

  it('error: double signing is judged by the set of the height, mapping indices to nodes', () => {
    const watch = new SignatureWatch();
    const idA = sha256(utf8ToBytes('A'));
    // Validator index 3 at height 2 is node 4; its two precommits conflict.
    watch.observe({ kind: 'vote', vote: precommit(4, 3, 2, idA) });
    watch.observe({
      kind: 'vote',
      vote: {
        ...precommit(4, 3, 2, idA),
        valueId: null,
        signature: simSigner(4).sign(voteSignBytes(SIM_LEDGER_ID, { type: 'precommit', height: 2, round: 0, valueId: null })),
      },
    });
    expect(checkNoDoubleSign({ ...history(good(), reconfig()), signatures: watch }).map((v) => v.message)).toEqual([
      `honest validator 3 (node 4) signed precommits for ${`0x${Buffer.from(idA).toString('hex')}`.slice(0, 12)} and nil at height 2 round 0`,
    ]);
  });
});
