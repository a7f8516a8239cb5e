/**
 * A validator swap under load (issue P6, ADR 0006), on a real five-node network of separate
 * processes (`polis dev --nodes 5`):
 * - an app is created on four chosen nodes; the fifth does not host it;
 * - a token contract is deployed and used through the gateway with ethers;
 * - while transfers keep arriving, the alliance swaps a validator for the fifth node
 *   (`polis admin propose` + `polis admin sign`, setAppValidators);
 * - the ledger applies the change in one of its own blocks: the fifth node syncs, then signs
 *   certificates; the removed node stops hosting once that block commits;
 * - every transaction a node accepted is in the chain, with the same receipt on an old and the
 *   new validator, and the token's balances add up; the chain goes on past the change.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createValidatorSet } from '@polis/consensus';
import { bytesToHex, hexToBytes } from '@polis/core';
import { decodeCommit } from '@polis/node';
import { createPolisClient } from '@polis/sdk';
import { Contract, ContractFactory, JsonRpcProvider, keccak256, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFixture } from '../../packages/node/test/fixtures/compile.js';

const BIN = resolve(import.meta.dirname, '../../packages/cli/bin/polis.js');
const APP = 'swap';
const CHAIN_ID = 6100;
/** Transfers each load sender makes per second. */
const SENDER_RATE_PER_S = 8;
const SENDERS = 4;

type Ready = {
  dataDir: string;
  nodes: { name: string; rpcBase: string }[];
  system: { rpcUrl: string };
};
type Header = {
  height: string;
  validatorsHash: string;
  nextValidatorsHash: string;
  commit: string;
  validatorUpdate: { epoch: string; validators: { publicKey: string; power: string }[] } | null;
};

const dataDir = mkdtempSync(join(tmpdir(), 'polis-reconfig-'));
let child: ChildProcess;
let ready: Ready;

function polis(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
}

async function rpc(url: string, method: string, params: unknown[] = []): Promise<{ status: number; result: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json().catch(() => ({}))) as { result?: unknown };
  return { status: res.status, result: body.result };
}

async function until<T>(what: string, limitMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const t = performance.now();
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (performance.now() - t > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

beforeAll(async () => {
  child = spawn(
    process.execPath,
    [BIN, 'dev', '--nodes', '5', '--json', '--base-port', '0', '--data', dataDir, '--heartbeat-ms', '1000', '--no-portal'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  ready = await new Promise<Ready>((done, fail) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`polis dev was not ready within 90 s: ${err}`)), 90_000);
    child.stderr?.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-4000);
    });
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      done(JSON.parse(out.slice(0, newline)) as Ready);
    });
    child.once('exit', (code) => fail(new Error(`polis dev exited (${code}) before it was ready: ${err}`)));
  });
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    await new Promise((done) => {
      child.once('exit', done);
      child.kill('SIGTERM');
    });
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('validator swap under load', () => {
  it('default: an app on 4 of 5 nodes swaps a validator for the fifth through governance while transfers run; none is lost', async () => {
    const sys = ready.system.rpcUrl;
    const registry = (await rpc(sys, 'gov_listNodes', ['active'])).result as { publicKey: string; name: string }[];
    expect(registry).toHaveLength(5);
    // The registry's node for each process, by name.
    const keyOf = (i: number) => {
      const n = registry.find((r) => r.name === ready.nodes[i]?.name);
      if (!n) throw new Error(`no registry entry for ${ready.nodes[i]?.name}`);
      return n.publicKey;
    };
    const keys = [0, 1, 2, 3, 4].map(keyOf);
    const chosen = keys.slice(0, 4);

    const created = polis(
      'app',
      'create',
      '--url',
      sys,
      '--dev-account',
      '3',
      '--id',
      APP,
      '--chain-id',
      String(CHAIN_ID),
      '--validators',
      chosen.join(','),
      '--plan',
      'dedicated',
    );
    expect(created.status, created.stderr).toBe(0);
    const made = polis('app', 'keys', 'create', '--url', sys, '--dev-account', '3', '--app', APP, '--scopes', 'read,write');
    expect(made.status, made.stderr).toBe(0);
    const apiKey = (JSON.parse(made.stdout) as { key: string }).key;
    const url = (i: number) => `${ready.nodes[i]?.rpcBase}/v1/${APP}/${apiKey}`;
    const serves = async (i: number) => (await rpc(url(i), 'eth_chainId')).result === `0x${CHAIN_ID.toString(16)}`;
    for (const i of [0, 1, 2, 3])
      await until(`node ${i} serves the app`, 15_000, async () => ((await serves(i)) ? true : undefined));
    expect((await rpc(url(4), 'eth_chainId')).status, 'the fifth node does not host the app yet').toBe(404);

    // Deploy and use a contract. The app's ledger has no pre-funded accounts: transactions pay gas price 0.
    const providers = [0, 1, 2, 3, 4].map(
      (i) => new JsonRpcProvider(url(i), CHAIN_ID, { staticNetwork: true, batchMaxCount: 1 }),
    );
    const p0 = providers[0] as JsonRpcProvider;
    const zeroFee = { gasPrice: 0n };
    const deployer = Wallet.createRandom().connect(p0);
    const { abi, bytecode } = await compileFixture('TestToken.sol', 'TestToken');
    const token = (await new ContractFactory(abi, bytecode, deployer).deploy(10n ** 6n, zeroFee)) as Contract;
    await token.waitForDeployment();
    const tokenAddress = await token.getAddress();
    const senders = Array.from({ length: SENDERS }, () => Wallet.createRandom());
    for (const s of senders) await (await token.getFunction('transfer')(s.address, 10_000n, zeroFee)).wait();
    const sink = Wallet.createRandom().address;
    expect(await token.getFunction('balanceOf')(senders[0]?.address)).toBe(10_000n);

    // Load: each sender signs transfers of 1 to the sink with its own nonces and sends them to the
    // app's nodes in turn (another node when one refuses). A transfer counts once a node accepted it.
    const accepted: string[] = [];
    const refusals: string[] = [];
    let running = true;
    const iface = token.interface;
    const load = senders.map(async (wallet, si) => {
      let nonce = 0;
      let turn = si;
      while (running) {
        const raw = await wallet.signTransaction({
          to: tokenAddress,
          data: iface.encodeFunctionData('transfer', [sink, 1n]),
          nonce,
          gasLimit: 100_000n,
          gasPrice: 0n,
          chainId: CHAIN_ID,
        });
        let sent = false;
        for (let attempt = 0; attempt < 8 && !sent; attempt++) {
          const node = turn++ % 4; // nodes 0-3: the old validators, then node 4 once it hosts
          const target = node === 3 && (await serves(4).catch(() => false)) ? 4 : node;
          try {
            const r = await fetch(url(target), {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [raw] }),
              signal: AbortSignal.timeout(5_000),
            });
            const body = (await r.json()) as { result?: string; error?: { message: string } };
            if (body.result) {
              accepted.push(body.result);
              sent = true;
            } else if (attempt > 0 && new RegExp(`next nonce is ${nonce + 1}\\b`).test(body.error?.message ?? '')) {
              // An earlier attempt reached a node whose answer was lost (a timeout, a closing node):
              // the network holds this very transaction, the only one this sender signed with this
              // nonce. It counts as accepted, so its receipt is checked below like any other.
              accepted.push(keccak256(raw));
              sent = true;
            } else refusals.push(`${target}: ${r.status} ${body.error?.message}`);
          } catch (err) {
            refusals.push(`${target}: ${String(err)}`);
          }
        }
        if (!sent) throw new Error(`sender ${si} could not send nonce ${nonce}: ${refusals.slice(-3).join('; ')}`);
        nonce++;
        await sleep(1000 / SENDER_RATE_PER_S);
      }
    });

    await sleep(3_000);
    const before = Number(((await rpc(url(0), 'polis_getHeader', ['latest'])).result as Header).height);
    // The swap, through the alliance: two of the three admins.
    const next = [chosen[0], chosen[1], chosen[2], keys[4]] as string[];
    const action = JSON.stringify({ type: 'setAppValidators', appId: APP, validators: next });
    const proposed = polis('admin', 'propose', '--url', sys, '--dev-account', '0', '--action', action);
    expect(proposed.status, proposed.stderr).toBe(0);
    const open = polis('admin', 'list', '--url', sys, '--status', 'open')
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number; action: { type: string } });
    const proposal = open.find((p) => p.action.type === 'setAppValidators');
    expect(proposal).toBeDefined();
    const signed = polis('admin', 'sign', '--url', sys, '--dev-account', '1', '--proposal', String(proposal?.id));
    expect(signed.status, signed.stderr).toBe(0);
    const decidedAt = performance.now();

    // The fifth node starts hosting the ledger and syncs it.
    await until('the fifth node serves the app', 20_000, async () => ((await serves(4)) ? true : undefined));
    // The ledger's own block brings the new set in.
    const nextHash = bytesToHex(createValidatorSet(next.map((k) => ({ publicKey: hexToBytes(k), power: 1 }))).hash);
    const updateAt = await until('a block carries the validator update', 30_000, async () => {
      const head = Number(((await rpc(url(0), 'polis_getHeader', ['latest'])).result as Header).height);
      for (let h = before; h <= head; h++) {
        const header = (await rpc(url(0), 'polis_getHeader', [`0x${h.toString(16)}`])).result as Header;
        if (header.validatorUpdate) return { height: h, header };
      }
      return undefined;
    });
    const appliedMs = Math.round(performance.now() - decidedAt);
    expect(updateAt.header.nextValidatorsHash).toBe(nextHash);
    expect(updateAt.header.validatorUpdate?.validators.map((v) => v.publicKey)).toEqual(next);
    // The fifth node signs certificates of the new set: index 3 of `next`.
    const signedByFifth = await until('the fifth node signs a certificate', 30_000, async () => {
      const head = Number(((await rpc(url(4), 'polis_getHeader', ['latest'])).result as Header).height);
      for (let h = updateAt.height + 1; h <= head; h++) {
        const header = (await rpc(url(4), 'polis_getHeader', [`0x${h.toString(16)}`])).result as Header;
        expect(header.validatorsHash, `block ${h} is certified by the new set`).toBe(nextHash);
        const { certificate } = decodeCommit(hexToBytes(header.commit));
        if (certificate.signatures.some((s) => s.validator === 3)) return h;
      }
      return undefined;
    });
    // The removed node stops hosting once the ledger has moved on.
    await until('the removed node stops hosting', 20_000, async () =>
      (await rpc(url(3), 'eth_chainId')).status === 404 ? true : undefined,
    );

    await sleep(3_000);
    running = false;
    await Promise.all(load);
    expect(accepted.length).toBeGreaterThan(SENDERS * SENDER_RATE_PER_S * 5);

    // No transaction lost: every accepted one has a successful receipt, on an old validator and on the new one.
    for (const i of [0, 4]) {
      const provider = providers[i] as JsonRpcProvider;
      await until(`node ${i} has every receipt`, 60_000, async () => {
        const last = await provider.getTransactionReceipt(accepted[accepted.length - 1] as string);
        return last ? true : undefined;
      });
      for (const hash of accepted) {
        const receipt = await provider.getTransactionReceipt(hash);
        expect(receipt?.status, `${hash} on node ${i}`).toBe(1);
      }
      const balance = (await new Contract(tokenAddress, abi, provider).getFunction('balanceOf')(sink)) as bigint;
      expect(balance, `the sink's balance on node ${i}`).toBe(BigInt(accepted.length));
    }
    // The chain goes on under the new set.
    const head = Number(((await rpc(url(4), 'polis_getHeader', ['latest'])).result as Header).height);
    expect(head).toBeGreaterThan(signedByFifth);
    const latest = (await rpc(url(0), 'polis_getHeader', ['latest'])).result as Header;
    expect(latest.validatorsHash).toBe(nextHash);
    // A verifying client that trusts only the app's genesis validators follows the swap: it checks
    // every header's certificate, takes the new set from the update block, and verifies the head.
    const verifying = createPolisClient({
      url: ready.nodes[4]?.rpcBase as string,
      appId: APP,
      apiKey,
      verify: true,
      trust: { height: 0, validators: chosen.map((k) => ({ publicKey: k as `0x${string}`, power: 1 })) },
    });
    const verifiedHead = await verifying.getBlockNumber();
    expect(Number(verifiedHead)).toBeGreaterThan(signedByFifth);
    expect(await verifying.getBalance({ address: senders[0]?.address as `0x${string}` })).toBe(0n);
    // The run's numbers, for the closing note and the CI log.
    process.stdout.write(
      `${JSON.stringify({
        accepted: accepted.length,
        refusals: refusals.length,
        updateHeight: updateAt.height,
        appliedMs,
        fifthSignedAt: signedByFifth,
        head,
      })}\n`,
    );
  }, 240_000);
});
