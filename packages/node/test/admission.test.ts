/**
 * p2p admission from the system ledger's node registry (ADR 0006), with two real nodes over
 * libp2p: a node that is not admitted cannot join (it gets no blocks); it applies with a
 * transaction signed by its own node key, the alliance admits it and it syncs; the alliance
 * suspends it and it is dropped (it falls behind while the network goes on).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex, decryptKeystore, keccak256, privateKeyToAddress, utf8ToBytes } from '@polis/core';
import { type Action, encodeGovTx, type GovTx, signGovTxEd25519, signGovTxSecp256k1 } from '@polis/governance';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildGenesis,
  freePorts,
  initNode,
  NODE_FILES,
  type NodeIdentity,
  type RunningNode,
  startNode,
  writeGenesis,
} from '../src/index.js';
import { rpcCall } from './devNode.js';

const PASSWORD = 'polis-test';
const SYSTEM_CHAIN_ID = 99;
const adminKey = keccak256(utf8ToBytes('polis admission test admin'));
const admin = bytesToHex(privateKeyToAddress(adminKey));

const dir = mkdtempSync(join(tmpdir(), 'polis-admission-'));
let a: RunningNode;
let b: RunningNode;
let bIdentity: NodeIdentity;

const sys = (n: RunningNode) => `${n.rpcBase}/v1/system`;
const head = (n: RunningNode) => rpcCall<number>(sys(n), 'gov_blockNumber');
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function send(tx: GovTx): Promise<{ status: string; error?: { code: string } }> {
  const hash = await rpcCall<string>(sys(a), 'gov_sendTransaction', [bytesToHex(encodeGovTx(tx))]);
  for (let i = 0; i < 400; i++) {
    const r = await rpcCall<{ status: string } | null>(sys(a), 'gov_getReceipt', [hash]);
    if (r) return r;
    await sleep(25);
  }
  throw new Error(`no receipt for ${hash}`);
}

async function propose(action: Action) {
  const nonce = await rpcCall<number>(sys(a), 'gov_getNonce', [admin]);
  return send(
    signGovTxSecp256k1(
      { chainId: SYSTEM_CHAIN_ID, nonce, body: { type: 'propose', action, expiresAt: Date.now() + 60_000 } },
      adminKey,
    ),
  );
}

beforeAll(async () => {
  const ports = await freePorts(2);
  const dirs = ['a', 'b'].map((n) => join(dir, n));
  const identities = dirs.map((d, i) =>
    initNode({ dir: d, name: `node-${'ab'[i]}`, password: PASSWORD, rpcPort: 0, p2pPort: ports[i] as number, lightKdf: true }),
  );
  bIdentity = identities[1] as NodeIdentity;
  // Only node a is in the genesis; b has the same genesis and knows a's address.
  const genesis = buildGenesis({
    validators: [identities[0] as NodeIdentity],
    ledgers: [],
    consensus: { heartbeatMs: 200 },
    system: { chainId: SYSTEM_CHAIN_ID, admins: [admin], threshold: 1, operator: admin },
  });
  for (const d of dirs) writeGenesis(join(d, NODE_FILES.genesis), genesis);
  const logger = pino({ level: process.env.POLIS_TEST_LOG ?? 'silent' });
  const start = (d: string) => startNode({ configPath: join(d, NODE_FILES.config), password: PASSWORD, logger });
  [a, b] = await Promise.all([start(dirs[0] as string), start(dirs[1] as string)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('p2p admission from the node registry', () => {
  it('error: a node that is not admitted gets nothing from the network', async () => {
    await sleep(1_500);
    expect(await head(a)).toBeGreaterThan(3);
    expect(await head(b)).toBe(0);
  });

  it('default: a node applies with its own key, is admitted by the alliance, and syncs', async () => {
    const { secret } = decryptKeystore(readFileSync(join(dir, 'b', NODE_FILES.key), 'utf8'), PASSWORD);
    const nonce = await rpcCall<number>(sys(a), 'gov_getNonce', [bIdentity.publicKey]);
    const applied = await send(
      signGovTxEd25519(
        {
          chainId: SYSTEM_CHAIN_ID,
          nonce,
          body: {
            type: 'nodeApply',
            publicKey: bIdentity.publicKey as `0x${string}`,
            name: 'node-b',
            addrs: bIdentity.addrs ?? [],
            operator: admin,
            region: 'test',
          },
        },
        secret,
      ),
    );
    expect(applied.status).toBe('ok');
    expect((await rpcCall<{ status: string }>(sys(a), 'gov_getNode', [bIdentity.publicKey])).status).toBe('pending');
    expect(await head(b)).toBe(0);

    expect((await propose({ type: 'admitNode', publicKey: bIdentity.publicKey as `0x${string}` })).status).toBe('ok');
    let caughtUp = false;
    for (let i = 0; i < 200 && !caughtUp; i++) {
      caughtUp = (await head(b)) >= (await head(a)) - 1 && (await head(b)) > 0;
      if (!caughtUp) await sleep(50);
    }
    expect(caughtUp, 'b syncs the system ledger once admitted').toBe(true);
    expect((await rpcCall<{ status: string }>(sys(b), 'gov_getNode', [bIdentity.publicKey])).status).toBe('active');
  });

  it('behavior: a suspended node is dropped and falls behind while the network goes on', async () => {
    expect((await propose({ type: 'suspendNode', publicKey: bIdentity.publicKey as `0x${string}` })).status).toBe('ok');
    await sleep(500);
    const [ha, hb] = [await head(a), await head(b)];
    await sleep(2_000);
    expect(await head(a)).toBeGreaterThan(ha + 3);
    expect(await head(b)).toBeLessThanOrEqual(hb + 1);
  });
});
