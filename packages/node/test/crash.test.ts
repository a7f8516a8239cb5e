/**
 * kill -9 during load. `polis dev` runs as a child process (the built CLI: `npm test` runs
 * `tsc -b` first); ethers sends ERC-20 transfers from several senders and records every receipt
 * it gets; the node process is SIGKILLed mid-load. After `polis dev` restarts on the same data
 * directory, every receipt seen before the kill must be there unchanged (same block number and
 * hash), the state roots of those blocks must be unchanged, token balances must still add up, and
 * new transfers must commit. No process may be left behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ContractFactory, Interface, type InterfaceAbi, JsonRpcProvider, keccak256, Wallet } from 'ethers';
import { afterAll, describe, expect, it } from 'vitest';
import { compileTestToken } from './fixtures/compile.js';

const BIN = resolve(import.meta.dirname, '../../cli/bin/polis.js');
const SENDERS = 6;
const RECIPIENTS = 12;
/** Transactions per sender not yet receipted, at most. */
const IN_FLIGHT_MAX = 24;
/** The kill comes once this many receipts were seen (and a little load time has passed). */
const RECEIPTS_BEFORE_KILL = 300;
const LOAD_MS_MIN = 1_500;

type Ready = {
  ready: true;
  dataDir: string;
  nodes: { name: string; pid: number; rpcUrl: string }[];
  apps: { rpcUrl: string }[];
  accounts: { address: string; privateKey: string }[];
};
type Seen = { blockNumber: string; blockHash: string; transactionIndex: string; status: string; gasUsed: string };
type BlockSeen = { hash: string; stateRoot: string; receiptsRoot: string };

const dataDir = mkdtempSync(join(tmpdir(), 'polis-crash-'));
const started: ChildProcess[] = [];
const pids = new Set<number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `polis dev` on the data directory and resolves with its ready line. */
function startDev(): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = spawn(
    process.execPath,
    [BIN, 'dev', '--nodes', '1', '--json', '--base-port', '0', '--data', dataDir, '--heartbeat-ms', '200', '--no-portal'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, POLIS_LOG_LEVEL: 'warn' },
    },
  );
  started.push(child);
  if (child.pid) pids.add(child.pid);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  return new Promise((done, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`polis dev was not ready within 30 s: ${stderr}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      const ready = JSON.parse(out.slice(0, newline)) as Ready;
      for (const n of ready.nodes) pids.add(n.pid);
      done({ child, ready });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`polis dev exited (${signal ?? code}) before it was ready: ${stderr}`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

async function waitGone(pid: number, what: string): Promise<void> {
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((done) => setTimeout(done, 25));
  expect(alive(pid), `${what} (pid ${pid}) is still running`).toBe(false);
}

function connect(url: string): JsonRpcProvider {
  return new JsonRpcProvider(url, 31337, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1, batchMaxCount: 200 });
}

afterAll(async () => {
  // Whatever a failed run left: every process this file started, by pid.
  for (const pid of pids) {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await Promise.all(started.map(exited));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('crash', () => {
  it('behavior: after SIGKILL during load and a restart, receipts and state roots are unchanged and the chain goes on', async () => {
    const compiled = await compileTestToken();
    const iface = new Interface(compiled.abi as InterfaceAbi);
    const first = await startDev();
    const nodePid = first.ready.nodes[0]?.pid as number;
    const url = first.ready.apps[0]?.rpcUrl as string;
    let provider = connect(url);

    // Setup: alice deploys the token and funds the senders.
    const alice = new Wallet(first.ready.accounts[0]?.privateKey as string, provider);
    const supply = 10n ** 24n;
    const token = await new ContractFactory(compiled.abi as InterfaceAbi, compiled.bytecode, alice).deploy(supply);
    await token.waitForDeployment();
    const tokenAddress = await token.getAddress();
    const senders = Array.from(
      { length: SENDERS },
      (_, i) => new Wallet(`0x${(0xc0de00 + i).toString(16).padStart(64, '0')}`, provider),
    );
    const recipients = Array.from({ length: RECIPIENTS }, (_, i) => `0x${(0xfeed00 + i).toString(16).padStart(40, '0')}`);
    const funding = await Promise.all(
      senders.map((s, i) =>
        alice.signTransaction({
          type: 0,
          chainId: 31337,
          nonce: 1 + i,
          to: tokenAddress,
          gasLimit: 100_000n,
          gasPrice: 0n,
          data: iface.encodeFunctionData('transfer', [s.address, 10n ** 21n]),
        }),
      ),
    );
    const fundingHashes: string[] = await Promise.all(funding.map((raw) => provider.send('eth_sendRawTransaction', [raw])));
    for (const h of fundingHashes) expect((await provider.waitForTransaction(h))?.status).toBe(1);

    // Load: each sender keeps up to IN_FLIGHT_MAX transfers unreceipted; one poller collects receipts.
    const seen = new Map<string, Seen>();
    const blocks = new Map<number, BlockSeen>();
    const pending = new Map<string, number>(); // unreceipted hash -> sender index
    const owner = new Map<string, number>(); // every sent hash -> sender index
    const loadErrors: string[] = [];
    const inFlight = new Array<number>(SENDERS).fill(0);
    let stop = false;
    let sent = 0;
    const sendLoop = async (i: number) => {
      const s = senders[i] as Wallet;
      for (let nonce = 0; !stop; nonce++) {
        while ((inFlight[i] as number) >= IN_FLIGHT_MAX && !stop) await new Promise((done) => setTimeout(done, 2));
        if (stop) return;
        const raw = await s.signTransaction({
          type: 2,
          chainId: 31337,
          nonce,
          to: tokenAddress,
          gasLimit: 100_000n,
          maxFeePerGas: 0n,
          maxPriorityFeePerGas: 0n,
          data: iface.encodeFunctionData('transfer', [recipients[(i + nonce) % RECIPIENTS], 1n + BigInt(nonce % 7)]),
        });
        const hash = keccak256(raw);
        inFlight[i] = (inFlight[i] as number) + 1;
        pending.set(hash, i);
        owner.set(hash, i);
        sent++;
        // Not awaited: ethers batches the sends of all senders; each batch is answered in order.
        provider.send('eth_sendRawTransaction', [raw]).then(
          (answer: string) => {
            if (answer !== hash) loadErrors.push(`sender ${i}, nonce ${nonce}: hash ${answer}, expected ${hash}`);
          },
          (err: unknown) => {
            if (!stop) loadErrors.push(`sender ${i}, nonce ${nonce}: ${String(err).slice(0, 200)}`);
          },
        );
      }
    };
    // Receipts are collected block by block: every receipt of every new block, with its block.
    const pollLoop = async () => {
      let next = Number(await provider.send('eth_blockNumber', [])) + 1;
      while (!stop) {
        const head = Number(await provider.send('eth_blockNumber', []).catch(() => next - 1));
        for (; next <= head && !stop; next++) {
          const tag = `0x${next.toString(16)}`;
          const [block, receipts] = await Promise.all([
            provider.send('eth_getBlockByNumber', [tag, false]),
            provider.send('eth_getBlockReceipts', [tag]) as Promise<(Seen & { transactionHash: string })[]>,
          ]).catch(() => [null, null]);
          if (!block || !receipts || stop) break;
          blocks.set(next, { hash: block.hash, stateRoot: block.stateRoot, receiptsRoot: block.receiptsRoot });
          for (const r of receipts) {
            const i = pending.get(r.transactionHash);
            if (i === undefined) continue;
            seen.set(r.transactionHash, {
              blockNumber: r.blockNumber,
              blockHash: r.blockHash,
              transactionIndex: r.transactionIndex,
              status: r.status,
              gasUsed: r.gasUsed,
            });
            pending.delete(r.transactionHash);
            inFlight[i] = (inFlight[i] as number) - 1;
          }
        }
        await new Promise((done) => setTimeout(done, 10));
      }
    };
    const loadStart = Date.now();
    const loops = [...senders.map((_, i) => sendLoop(i)), pollLoop()];
    while (loadErrors.length === 0 && (seen.size < RECEIPTS_BEFORE_KILL || Date.now() - loadStart < LOAD_MS_MIN)) {
      if (Date.now() - loadStart > 30_000) throw new Error(`only ${seen.size} receipts after 30 s of load`);
      await new Promise((done) => setTimeout(done, 20));
    }

    // The kill: the node first, mid-load; the dev parent notices and exits on its own, and is
    // killed too in case it does not.
    process.kill(nodePid, 'SIGKILL');
    stop = true;
    const seenAtKill = new Map(seen);
    const blocksAtKill = new Map([...blocks].filter(([n]) => [...seenAtKill.values()].some((s) => Number(s.blockNumber) === n)));
    await waitGone(nodePid, 'the killed node');
    if (first.child.pid && alive(first.child.pid)) process.kill(first.child.pid, 'SIGKILL');
    await exited(first.child);
    await waitGone(first.child.pid as number, 'the first polis dev');
    await Promise.allSettled(loops);
    provider.destroy();
    expect(loadErrors, 'the load ran without errors until the kill').toEqual([]);
    expect(seenAtKill.size).toBeGreaterThanOrEqual(RECEIPTS_BEFORE_KILL);
    expect(sent, 'transactions were still being sent at the kill').toBeGreaterThan(seenAtKill.size);

    // Restart on the same data directory.
    const second = await startDev();
    provider = connect(second.ready.apps[0]?.rpcUrl as string);
    try {
      const head = Number(await provider.send('eth_blockNumber', []));
      const highest = Math.max(...[...seenAtKill.values()].map((s) => Number(s.blockNumber)));
      expect(head, 'the restart resumes at or after the last block a client saw').toBeGreaterThanOrEqual(highest);

      const hashes = [...seenAtKill.keys()];
      const after: (Seen | null)[] = await Promise.all(hashes.map((h) => provider.send('eth_getTransactionReceipt', [h])));
      hashes.forEach((hash, k) => {
        const before = seenAtKill.get(hash) as Seen;
        const now = after[k];
        expect(now, `${hash}: its receipt is gone after the restart`).not.toBeNull();
        expect(
          {
            blockNumber: now?.blockNumber,
            blockHash: now?.blockHash,
            transactionIndex: now?.transactionIndex,
            status: now?.status,
            gasUsed: now?.gasUsed,
          },
          hash,
        ).toEqual(before);
        expect(before.status, hash).toBe('0x1');
      });
      expect(blocksAtKill.size).toBeGreaterThan(1);
      for (const [n, before] of blocksAtKill) {
        const b = await provider.send('eth_getBlockByNumber', [`0x${n.toString(16)}`, false]);
        expect({ hash: b.hash, stateRoot: b.stateRoot, receiptsRoot: b.receiptsRoot }, `block ${n}`).toEqual(before);
      }

      // The state adds up: no transfer was half-applied.
      const reader = new Interface(compiled.abi as InterfaceAbi);
      const balanceOf = async (holder: string) =>
        BigInt(
          await provider.send('eth_call', [
            { to: tokenAddress, data: reader.encodeFunctionData('balanceOf', [holder]) },
            'latest',
          ]),
        );
      const holders = [alice.address, ...senders.map((s) => s.address), ...recipients];
      const balances = await Promise.all(holders.map(balanceOf));
      expect(balances.reduce((a, b) => a + b, 0n)).toBe(supply);

      // The chain goes on: every sender's next nonce commits a new transfer.
      const next = await Promise.all(
        senders.map(async (s, i) => {
          const latest = Number(await provider.send('eth_getTransactionCount', [s.address, 'latest']));
          const pendingCount = Number(await provider.send('eth_getTransactionCount', [s.address, 'pending']));
          expect(pendingCount, `sender ${i}: nothing pending survives in the pool`).toBe(latest);
          const mine = [...seenAtKill.keys()].filter((h) => owner.get(h) === i).length;
          expect(latest, `sender ${i}`).toBeGreaterThanOrEqual(mine);
          const raw = await s.signTransaction({
            type: 2,
            chainId: 31337,
            nonce: latest,
            to: tokenAddress,
            gasLimit: 100_000n,
            maxFeePerGas: 0n,
            maxPriorityFeePerGas: 0n,
            data: iface.encodeFunctionData('transfer', [recipients[0], 1n]),
          });
          return provider.send('eth_sendRawTransaction', [raw]) as Promise<string>;
        }),
      );
      for (const hash of next) {
        const r = await provider.waitForTransaction(hash, 1, 20_000);
        expect(r?.status, hash).toBe(1);
        expect(r?.blockNumber as number).toBeGreaterThan(highest);
      }
    } finally {
      provider.destroy();
      // A clean stop: SIGTERM to polis dev stops its node, and both exit.
      const nodePid2 = second.ready.nodes[0]?.pid as number;
      second.child.kill('SIGTERM');
      await exited(second.child);
      await waitGone(nodePid2, 'the restarted node');
      await waitGone(second.child.pid as number, 'the second polis dev');
    }
  }, 90_000);
});
