/**
 * Verified reads against a real node, through a gateway that lies. The client starts from the
 * ledger's genesis validators, verifies every header by its commit certificate and follows the
 * validator set; every read is proven. A proxy between client and node forges answers, one kind
 * at a time, and each forgery must be caught with its own reason; with no forgery, the verified
 * answers equal the plain JSON-RPC ones.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bytesToHex, keccak256, utf8ToBytes } from '@polis/core';
import { CERTIFICATES_ABI, CERTIFICATES_ADDRESS, RECORDS_ABI, RECORDS_ADDRESS, tokenSlot } from '@polis/execution';
import { Contract, type InterfaceAbi, JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, rpcCall, startDevNode } from '../../node/test/devNode.js';
import {
  type CertifiedHeaderJson,
  certificateSlots,
  createPolisClient,
  headerHash,
  type PolisClient,
  type TrustAnchor,
  VerificationError,
  type VerificationReason,
} from '../src/index.js';

type Hex = `0x${string}`;
type Rewrite = (method: string, params: unknown[], result: unknown) => unknown;

let dev: DevNode;
let proxy: Server;
let proxyUrl: string;
/** How the proxy lies right now (undefined: it forwards honestly). */
let rewrite: Rewrite | undefined;
let trust: TrustAnchor;
let transferHash: Hex;
const RECORD = bytesToHex(keccak256(utf8ToBytes('verified record'))) as Hex;
const BOB = `0x${'b0'.repeat(20)}` as Hex;

beforeAll(async () => {
  dev = await startDevNode({ heartbeatMs: 200 });
  trust = { height: 0, validators: [{ publicKey: dev.node.publicKey, power: 1 }] };
  const provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  const alice = new Wallet(dev.accounts[0]?.privateKey as string, provider);
  transferHash = (await (await alice.sendTransaction({ to: BOB, value: 12345n })).wait())?.hash as Hex;
  const records = new Contract(bytesToHex(RECORDS_ADDRESS), RECORDS_ABI as InterfaceAbi, alice);
  await (await records.getFunction('recordWithTag')(RECORD, `0x${'77'.repeat(32)}`, '0x')).wait();
  const certs = new Contract(bytesToHex(CERTIFICATES_ADDRESS), CERTIFICATES_ABI as InterfaceAbi, alice);
  await (await certs.getFunction('createCollection')('Deeds', 'DEED', 0, true)).wait();
  await (await certs.getFunction('mint')(1n, BOB, 42n, 1n, 'ipfs://deed-42', `0x${'d1'.repeat(32)}`)).wait();

  proxy = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', async () => {
      const call = JSON.parse(body) as { id: number; method: string; params: unknown[] };
      const upstream = await fetch(dev.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const answer = (await upstream.json()) as { result?: unknown };
      if (rewrite && answer.result !== undefined)
        answer.result = rewrite(call.method, call.params, structuredClone(answer.result));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((done) => proxy?.close(done));
  await dev?.close();
});

const client = (): PolisClient => createPolisClient({ url: proxyUrl, verify: true, trust });

async function reasonOf(p: Promise<unknown>): Promise<VerificationReason | string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return err instanceof VerificationError ? err.reason : `other: ${(err as Error).message}`;
  }
}

/** Changes the header of `height` inside polis_getHeader(s) answers. */
function forgeHeader(height: number, change: (h: CertifiedHeaderJson) => void): Rewrite {
  return (method, _params, result) => {
    if (method !== 'polis_getHeaders' && method !== 'polis_getHeader') return result;
    const list = (Array.isArray(result) ? result : [result]) as CertifiedHeaderJson[];
    for (const h of list) if (h && Number(BigInt(h.height)) === height) change(h);
    return result;
  };
}

describe('verified reads', () => {
  it('default: from the genesis validators, every read verifies and equals the plain JSON-RPC answer', async () => {
    rewrite = undefined;
    const c = client();
    const head = await c.getBlockNumber();
    expect(c.chain?.height).toBe(Number(head));
    expect(head).toBeGreaterThanOrEqual(2n);
    expect(await c.getBalance({ address: BOB })).toBe(
      BigInt(await rpcCall<string>(dev.rpcUrl, 'eth_getBalance', [BOB, 'latest'])),
    );
    const account = await c.getAccount({ address: dev.accounts[0]?.address as Hex });
    expect(account).toMatchObject({ verified: true, nonce: 4n });
    const receipt = await c.getTransactionReceipt({ hash: transferHash });
    expect(receipt?.transactionHash).toBe(transferHash);
    const record = await c.getRecord({ hash: RECORD });
    expect(record).toMatchObject({
      verified: true,
      submitter: String(dev.accounts[0]?.address).toLowerCase(),
      tag: `0x${'77'.repeat(32)}`,
    });
    expect(await c.getRecord({ hash: bytesToHex(keccak256(utf8ToBytes('never'))) as Hex })).toBeNull();
    expect(await c.getCertificate({ collectionId: 1, tokenId: 42 })).toEqual({
      owner: BOB,
      frozen: false,
      contentHash: `0x${'d1'.repeat(32)}`,
      verified: true,
    });
    expect(await c.getCertificate({ collectionId: 1, tokenId: 43 })).toBeNull();
    expect(certificateSlots(1n, 42n)[0]).toBe(bytesToHex(tokenSlot(1n, 42n)));
    // Without verify the same actions answer, unchecked.
    const plain = createPolisClient({ url: proxyUrl });
    expect((await plain.getAccount({ address: BOB })).verified).toBe(false);
  });

  it('error: each forgery of a lying gateway is caught, each with its own reason', async () => {
    const cases: Array<[string, Rewrite, (c: PolisClient) => Promise<unknown>, VerificationReason]> = [
      [
        'a forged balance',
        (m, _p, r) => (m === 'polis_getProof' ? { ...(r as object), balance: '0x1' } : r),
        (c) => c.getBalance({ address: BOB }),
        'bad-state-proof',
      ],
      [
        'a header field changed, its hash kept',
        forgeHeader(2, (h) => {
          h.stateRoot = `0x${'ab'.repeat(32)}`;
        }),
        (c) => c.getBlockNumber(),
        'header-mismatch',
      ],
      [
        'a forged header with a consistent hash',
        forgeHeader(2, (h) => {
          h.stateRoot = `0x${'ab'.repeat(32)}`;
          h.hash = bytesToHex(headerHash(h)) as Hex;
        }),
        (c) => c.getBlockNumber(),
        'bad-commit',
      ],
      [
        'a header naming other validators',
        forgeHeader(2, (h) => {
          h.validatorsHash = `0x${'cd'.repeat(32)}`;
          h.hash = bytesToHex(headerHash(h)) as Hex;
        }),
        (c) => c.getBlockNumber(),
        'wrong-validator-set',
      ],
      [
        'a validator update slipped in',
        forgeHeader(2, (h) => {
          h.validatorUpdate = { epoch: '0x9', validators: [{ publicKey: `0x${'ee'.repeat(32)}`, power: '0x1' }] };
        }),
        (c) => c.getBlockNumber(),
        'bad-validator-update',
      ],
      [
        'a block out of place',
        (m, _p, r) => (m === 'polis_getHeaders' && Array.isArray(r) ? r.slice(1) : r),
        (c) => c.getBlockNumber(),
        'broken-chain',
      ],
      [
        'a forged receipt',
        (m, _p, r) =>
          m === 'polis_getReceiptProof' && r
            ? { ...(r as object), receipt: `${(r as { receipt: string }).receipt.slice(0, -2)}00` }
            : r,
        (c) => c.getTransactionReceipt({ hash: transferHash }),
        'bad-receipt-proof',
      ],
      [
        'a forged record',
        (m, _p, r) => {
          if (m !== 'polis_getProof') return r;
          const proof = r as { storageProof: Array<{ value: string }> };
          if (proof.storageProof[2]) proof.storageProof[2].value = `0x${'78'.repeat(32)}`;
          return proof;
        },
        (c) => c.getRecord({ hash: RECORD }),
        'bad-record-proof',
      ],
      [
        'a forged certificate holder',
        (m, p, r) => {
          if (m !== 'polis_getProof' || String(p[0]).toLowerCase() !== bytesToHex(CERTIFICATES_ADDRESS)) return r;
          const proof = r as { storageProof: Array<{ value: string }> };
          if (proof.storageProof[0]) proof.storageProof[0].value = `0x${'99'.repeat(20)}01`;
          return proof;
        },
        (c) => c.getCertificate({ collectionId: 1, tokenId: 42 }),
        'bad-certificate-proof',
      ],
    ];
    const seen = new Set<string>();
    for (const [what, lie, read, reason] of cases) {
      rewrite = lie;
      expect(await reasonOf(read(client())), what).toBe(reason);
      seen.add(reason);
    }
    rewrite = undefined;
    expect(seen.size).toBe(cases.length);
  });

  it('error: a gateway that answers from an older block than the client has verified is stale', async () => {
    rewrite = undefined;
    const c = client();
    // Record an honest proof now, let the chain move on, verify the new head, then replay the old proof.
    const first = await createPolisClient({ url: proxyUrl }).request<{ blockNumber: string }>('polis_getProof', [
      BOB,
      [],
      'latest',
    ]);
    const firstHeight = Number(BigInt(first.blockNumber));
    for (let i = 0; i < 100 && (await c.getBlockNumber()) <= BigInt(firstHeight); i++)
      await new Promise((done) => setTimeout(done, 50));
    rewrite = (m, _p, r) => (m === 'polis_getProof' ? first : r);
    expect(await reasonOf(c.getBalance({ address: BOB }))).toBe('stale-block');
    rewrite = undefined;
    // And an answer from a block older than maxAgeMs is stale too.
    const strict = createPolisClient({ url: proxyUrl, verify: true, trust, maxAgeMs: 1 });
    await new Promise((done) => setTimeout(done, 5));
    rewrite = (m, _p, r) => (m === 'polis_getProof' ? first : r);
    expect(await reasonOf(strict.getBalance({ address: BOB }))).toBe('stale-block');
    rewrite = undefined;
    expect(() => createPolisClient({ url: proxyUrl, verify: true })).toThrow(/trust anchor/);
  });
});
