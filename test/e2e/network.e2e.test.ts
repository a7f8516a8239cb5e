/**
 * The network, end to end: real node processes on 127.0.0.1, perturbed by the e2e runner
 * (`runner.ts`), checked over JSON-RPC only. Child processes run the built CLI: `npm test` and
 * `npm run e2e` run `tsc -b` first.
 *
 * Each test prints nothing unless POLIS_E2E_VERBOSE=1 (then its report); POLIS_E2E_KEEP=1 keeps
 * the node directories and their logs (`node-<i>/node.log`).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAllNodeProcesses } from './processes.js';
import { blocksOf } from './rpc.js';
import { type Manifest, type Report, Testnet } from './runner.js';

const TEST_TIMEOUT_MS = 60_000;

let net: Testnet | undefined;

async function run(manifest: Manifest): Promise<{ net: Testnet; report: Report }> {
  net = await Testnet.setup(manifest);
  const report = await net.run();
  if (process.env.POLIS_E2E_VERBOSE === '1') process.stderr.write(`${JSON.stringify(report)}\n`);
  return { net, report };
}

afterEach(async () => {
  await net?.close();
  net = undefined;
}, 30_000);

// The fallback for anything a failed close left behind: SIGKILL by process handle.
afterAll(() => killAllNodeProcesses());

/** The highest of some heads, ignoring nodes that did not answer. */
function highest(heads: Array<number | null>, except?: number): number {
  return Math.max(...heads.map((h, i) => (i === except ? -1 : (h ?? -1))));
}

describe('e2e network', () => {
  it(
    'behavior: a validator SIGKILLed under ERC-20 load and restarted converges, and no receipt is lost',
    async () => {
      const { report } = await run({
        validators: 4,
        load: { durationMs: 8_000 },
        perturbations: [
          { node: 1, at: 'load', afterMs: 1_500, kind: 'kill' },
          { node: 1, at: 'load', afterMs: 3_000, kind: 'restart' },
        ],
      });
      expect(report.failures).toEqual([]);
      const [kill, restart] = report.timeline;
      if (!kill || !restart) throw new Error('the perturbations did not apply');
      // The three others kept committing while node-1 was down, so it had blocks to catch up on.
      expect(restart.heads[1]).toBeNull();
      expect(highest(restart.heads)).toBeGreaterThanOrEqual(highest(kill.heads) + 2);
      expect(report.heads[1]).toBeGreaterThan(highest(restart.heads));
      // The load ran through it, and every transfer has its receipt on every node.
      expect(report.load?.transfers).toBeGreaterThan(50);
      expect(report.load?.missing).toBe(0);
      expect(report.checkedNodes).toEqual(['node-0', 'node-1', 'node-2', 'node-3']);
      expect(report.receiptsChecked).toBe((report.load?.receipts ?? 0) * 4);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'behavior: progress continues while the next proposer is paused and while one node is partitioned, and all converge',
    async () => {
      const { net, report } = await run({
        validators: 4,
        load: { durationMs: 10_000 },
        perturbations: [
          { node: 'next-proposer', at: 'load', afterMs: 1_000, kind: 'pause' },
          { node: 'previous', at: 'load', afterMs: 4_000, kind: 'resume' },
          { node: 2, at: 'load', afterMs: 1_000, kind: 'disconnect' },
          { node: 2, at: 'load', afterMs: 3_000, kind: 'heal' },
        ],
      });
      expect(report.failures).toEqual([]);
      const [pause, resume, disconnect, heal] = report.timeline;
      if (!pause || !resume || !disconnect || !heal) throw new Error('the perturbations did not apply');

      // Pause: the paused validator's turn (round 0 of head + 3, see NodeRef) came while it was
      // stopped, and that height and every later one decided before SIGCONT were proposed by
      // another validator: consensus went on in a later round without it.
      const paused = pause.node;
      const turn = highest(pause.heads) + 3;
      expect(turn % 4).toBe(paused);
      const decided = highest(resume.heads, paused);
      expect(decided, `height ${turn} was decided while node-${paused} was paused`).toBeGreaterThanOrEqual(turn);
      const pausedKey = (net.nodes[paused]?.spec.publicKey ?? '').slice(0, 42).toLowerCase();
      for (const b of await blocksOf(net.nodes[0]?.rpcUrl ?? '', turn, decided))
        expect(b.miner.toLowerCase(), `block ${b.number} was proposed by the paused node`).not.toBe(pausedKey);

      // Partition: the other three kept committing while node-2 was cut off, and node-2 did not.
      expect(highest(heal.heads, 2)).toBeGreaterThanOrEqual(highest(disconnect.heads) + 2);
      expect(heal.heads[2]).toBeLessThan(highest(heal.heads, 2));
      expect(report.load?.missing).toBe(0);
      expect(report.checkedNodes).toHaveLength(4);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'behavior: an observer that joins late with an empty data directory syncs to the tip',
    async () => {
      const { net, report } = await run({
        validators: 4,
        observers: 1,
        startLate: [4],
        load: { durationMs: 3_000 },
        perturbations: [{ node: 4, at: 'idle', afterMs: 0, kind: 'start' }],
      });
      expect(report.failures).toEqual([]);
      const [join] = report.timeline;
      if (!join) throw new Error('the observer did not start');
      expect(join.heads[4]).toBeNull();
      const tipAtJoin = highest(join.heads);
      expect(tipAtJoin).toBeGreaterThan(5);
      // It started from nothing: right after it was ready it did not have the validators' tip.
      expect(join.headsAfter[4]).toBeLessThan(tipAtJoin);
      // The check stage compared every height on all five nodes; read the observer's chain once more here.
      expect(report.checkedNodes).toContain('node-4');
      expect(report.heads[4]).toBeGreaterThanOrEqual(tipAtJoin);
      const observer = await blocksOf(net.nodes[4]?.rpcUrl ?? '', 0, tipAtJoin);
      const validator = await blocksOf(net.nodes[0]?.rpcUrl ?? '', 0, tipAtJoin);
      expect(observer.map((b) => b.hash)).toEqual(validator.map((b) => b.hash));
      // It follows and serves reads, but never proposes.
      const observerKey = (net.nodes[4]?.spec.publicKey ?? '').slice(0, 42).toLowerCase();
      expect(observer.every((b) => b.miner.toLowerCase() !== observerKey)).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});
