/**
 * The SDK against a real node over HTTP, and against a lying gateway: a proxy in front of the node
 * that changes one field of the answers. Every lie must be caught.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode } from '../../node/test/devNode.js';
import { createPolisClient, isPolisErrorCode, SdkErrorCode, verifyAccountProof, verifyReceiptProof } from './helpers.js';

let dev: DevNode;
let txHash: `0x${string}`;
let proxy: Server;
let proxyUrl: string;
/** What the proxy does to each answer of a method (the lie under test). */
let lie: ((method: string, result: Record<string, unknown>) => void) | undefined;

beforeAll(async () => {
  dev = await startDevNode({ heartbeatMs: 200 });
  const { JsonRpcProvider } = await import('ethers');
  const provider = new JsonRpcProvider(dev.rpcUrl, undefined, { staticNetwork: true, pollingInterval: 50 });
  const wallet = new Wallet(dev.accounts[0]?.privateKey as string, provider);
  const tx = await wallet.sendTransaction({ to: dev.accounts[1]?.address, value: 0n, gasPrice: 0n, nonce: 0 });
  await tx.wait();
  txHash = tx.hash as `0x${string}`;
  proxy = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const upstream = await fetch(dev.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const json = (await upstream.json()) as { result?: Record<string, unknown> };
    const method = (JSON.parse(body) as { method: string }).method;
    if (lie && json.result && typeof json.result === 'object') lie(method, json.result);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(json));
  });
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/v1/demo`;
}, 60_000);

afterAll(async () => {
  await new Promise((done) => proxy?.close(done));
  await dev?.close();
});

const flip = (hex: unknown) => {
  const s = hex as string;
  const last = s.at(-1) === '0' ? '1' : '0';
  return `${s.slice(0, -1)}${last}`;
};

describe('sdk', () => {
  it('default: a proven account read matches the plain JSON-RPC answer', async () => {
    const client = createPolisClient({ url: dev.rpcUrl });
    const address = dev.accounts[0]?.address as `0x${string}`;
    const account = await client.getProvenAccount(address);
    expect(account.nonce).toBe(1n);
    expect(BigInt(await client.request<string>('eth_getTransactionCount', [address, 'latest']))).toBe(1n);
    const absent = await client.getProvenAccount(`0x${'ab'.repeat(20)}`);
    expect(absent.nonce).toBe(0n);
  });

  it('default: a proven receipt read', async () => {
    const client = createPolisClient({ url: dev.rpcUrl });
    const proof = await client.getProvenReceipt(txHash);
    expect(proof?.transactionHash).toBe(txHash);
    expect(verifyReceiptProof(proof as NonNullable<typeof proof>).valid).toBe(true);
  });

  it('default: the SDK header hash is the ledger block hash', async () => {
    const client = createPolisClient({ url: dev.rpcUrl });
    // Only the latest state is provable (ADR 0003): prove first, then fetch the block it names,
    // so a block committed in between does not matter.
    const answer = await client.request<Parameters<typeof verifyAccountProof>[1]>('polis_getProof', [
      dev.accounts[0]?.address,
      [],
      'latest',
    ]);
    const block = await client.request<{ hash: string; number: string }>('eth_getBlockByNumber', [answer.blockNumber, false]);
    const header = await client.request<{ hash: string }>('polis_getHeader', [block.number]);
    expect(header.hash).toBe(block.hash);
    expect(verifyAccountProof(header as unknown as Parameters<typeof verifyAccountProof>[0], answer)).toEqual({ valid: true });
  });

  const lies: Array<[string, (method: string, r: Record<string, unknown>) => void]> = [
    [
      'a changed nonce',
      (m, r) => {
        if (m === 'polis_getProof') r.nonce = '0x5';
      },
    ],
    [
      'a changed balance',
      (m, r) => {
        if (m === 'polis_getProof') r.balance = '0x1';
      },
    ],
    [
      'a changed state root in the header',
      (m, r) => {
        if (m === 'polis_getHeader') r.stateRoot = flip(r.stateRoot);
      },
    ],
    [
      'a changed sibling in the path',
      (m, r) => {
        const path = r.accountProof as { siblings: string[] } | undefined;
        if (m === 'polis_getProof' && path && path.siblings.length > 0) path.siblings[0] = flip(path.siblings[0]);
        else if (m === 'polis_getProof') r.codeHash = flip(r.codeHash);
      },
    ],
    [
      'another block claimed',
      (m, r) => {
        if (m === 'polis_getProof') r.blockHash = flip(r.blockHash);
      },
    ],
  ];

  it.each(lies)('error: a gateway that lies with %s is caught', async (_name, change) => {
    lie = change;
    try {
      const client = createPolisClient({ url: proxyUrl });
      await expect(client.getProvenAccount(dev.accounts[0]?.address as `0x${string}`)).rejects.toSatisfy((err: unknown) =>
        isPolisErrorCode(err, SdkErrorCode.UNVERIFIED),
      );
    } finally {
      lie = undefined;
    }
  });

  it('error: a lying receipt proof is caught', async () => {
    lie = (m, r) => {
      if (m === 'polis_getReceiptProof') r.receipt = flip(r.receipt);
    };
    try {
      const client = createPolisClient({ url: proxyUrl });
      await expect(client.getProvenReceipt(txHash)).rejects.toSatisfy((err: unknown) =>
        isPolisErrorCode(err, SdkErrorCode.UNVERIFIED),
      );
    } finally {
      lie = undefined;
    }
  });

  it('error: an unreachable gateway is a transport error', async () => {
    const client = createPolisClient({ url: 'http://127.0.0.1:1/v1/demo', timeoutMs: 2000 });
    await expect(client.request('eth_blockNumber')).rejects.toSatisfy((err: unknown) =>
      isPolisErrorCode(err, SdkErrorCode.TRANSPORT),
    );
  });
});
