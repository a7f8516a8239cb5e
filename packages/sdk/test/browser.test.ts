/// <reference lib="dom" />
/**
 * The SDK in a real browser (Debian's Chromium through playwright-core). The SDK is bundled the
 * way a web app bundles it (esbuild, platform "browser"), so `@polis/core` resolves to its
 * browser build (`#platform` -> `@noble`), and the page runs verified reads against a real node:
 * every header checked by its commit certificate, every read by its proof. A lying gateway in
 * front of the node is caught in the page too, and an envelope sealed in the page opens in Node.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { bytesToHex, hexToBytes, keccak256, utf8ToBytes } from '@polis/core';
import { RECORDS_ABI, RECORDS_ADDRESS } from '@polis/execution';
import { build } from 'esbuild';
import { Contract, type InterfaceAbi, JsonRpcProvider, Wallet } from 'ethers';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshotPath } from '../../../test/support/browser.js';
import { type DevNode, rpcCall, startDevNode } from '../../node/test/devNode.js';
import { decodeEnvelope, generateRecipientKey, openPayload } from '../src/index.js';

type Hex = `0x${string}`;

const BOB = `0x${'b0'.repeat(20)}` as Hex;
const RECORD = bytesToHex(keccak256(utf8ToBytes('recorded, then read in a browser'))) as Hex;

let dev: DevNode;
let site: Server;
let siteUrl: string;
let liar: Server;
let liarUrl: string;
let bundle: string;
let bundleInputs: string[];
let browser: Browser;
let page: Page;
let transferHash: Hex;

function cors(res: ServerResponse): void {
  res.setHeader('access-control-allow-origin', '*');
  res.setHeader('access-control-allow-headers', 'content-type, authorization');
  res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

beforeAll(async () => {
  const bundled = await build({
    entryPoints: [resolve(import.meta.dirname, '../src/index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    conditions: ['polis-source'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  bundle = bundled.outputFiles[0]?.text ?? '';
  bundleInputs = Object.keys(bundled.metafile.inputs);

  dev = await startDevNode({ heartbeatMs: 200 });
  const provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  const alice = new Wallet(dev.accounts[0]?.privateKey as string, provider);
  transferHash = (await (await alice.sendTransaction({ to: BOB, value: 4242n })).wait())?.hash as Hex;
  const records = new Contract(bytesToHex(RECORDS_ADDRESS), RECORDS_ABI as InterfaceAbi, alice);
  await (await records.getFunction('recordWithTag')(RECORD, `0x${'42'.repeat(32)}`, '0x')).wait();

  // The page and its bundle, from a different origin than the node: the gateway's CORS answers count.
  site = createServer((req, res) => {
    if (req.url === '/sdk.js') {
      res.setHeader('content-type', 'text/javascript');
      res.end(bundle);
      return;
    }
    res.setHeader('content-type', 'text/html');
    // The module puts the SDK on window (a dynamic import inside page.evaluate would be rewritten by vitest).
    res.end(
      '<!doctype html><html lang="en"><title>Polis SDK</title><body><main id="out">SDK test page</main>' +
        '<script type="module">import * as sdk from "/sdk.js"; window.polis = sdk;</script></body></html>',
    );
  });
  await new Promise<void>((done) => site.listen(0, '127.0.0.1', done));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;

  // A gateway that reports every balance as 1 wei.
  liar = createServer(async (req, res) => {
    cors(res);
    if (req.method === 'OPTIONS') {
      res.statusCode = 204;
      res.end();
      return;
    }
    const upstream = await fetch(dev.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: await readBody(req),
    });
    const answer = (await upstream.json()) as { result?: Record<string, unknown> };
    if (answer.result && typeof answer.result === 'object' && 'balance' in answer.result) answer.result.balance = '0x1';
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(answer));
  });
  await new Promise<void>((done) => liar.listen(0, '127.0.0.1', done));
  liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;

  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(siteUrl);
  await page.waitForFunction(() => 'polis' in window);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((done) => site?.close(done));
  await new Promise((done) => liar?.close(done));
  await dev?.close();
});

describe('the SDK in a browser', () => {
  it('bundles for browsers with the browser build of core: no node:crypto, no native bindings', () => {
    expect(bundleInputs.some((f) => f.endsWith('core/src/platform/browser.ts'))).toBe(true);
    expect(
      bundleInputs.filter((f) => f.endsWith('core/src/platform/node.ts') || /node_modules\/(keccak|secp256k1)\//.test(f)),
    ).toEqual([]);
    expect(bundle).not.toMatch(/from ["']node:/);
  });

  it('default: the page verifies headers and reads against the node, and they equal the plain JSON-RPC answers', async () => {
    const trust = { height: 0, validators: [{ publicKey: dev.node.publicKey, power: 1 }] };
    const got = await page.evaluate(
      async ({ url, trust, bob, alice, tx, record }) => {
        const sdk = (window as unknown as { polis: typeof import('../src/index.js') }).polis;
        const c = sdk.createPolisClient({ url, verify: true, trust });
        const head = await c.getBlockNumber();
        const verifiedHeight = c.chain?.height;
        const balance = await c.getBalance({ address: bob });
        const account = await c.getAccount({ address: alice });
        const receipt = await c.getTransactionReceipt({ hash: tx });
        const rec = await c.getRecord({ hash: record });
        const out = document.getElementById('out');
        if (out) out.textContent = `verified head ${head}: balance of ${bob} is ${balance}`;
        return {
          head: head.toString(),
          verifiedHeight,
          balance: balance.toString(),
          nonce: account.nonce.toString(),
          accountVerified: account.verified,
          receiptHash: receipt?.transactionHash,
          record: rec && { verified: rec.verified, submitter: rec.submitter, tag: rec.tag },
          userAgent: navigator.userAgent,
        };
      },
      { url: dev.rpcUrl, trust, bob: BOB, alice: dev.accounts[0]?.address as Hex, tx: transferHash, record: RECORD },
    );
    await page.screenshot({ path: screenshotPath('sdk-verified-reads') });
    expect(got.userAgent).toMatch(/Chrome/);
    expect(Number(got.head)).toBeGreaterThanOrEqual(2);
    expect(got.verifiedHeight).toBe(Number(got.head));
    expect(BigInt(got.balance)).toBe(BigInt(await rpcCall<string>(dev.rpcUrl, 'eth_getBalance', [BOB, 'latest'])));
    expect(got.balance).toBe('4242');
    expect(got).toMatchObject({ nonce: '2', accountVerified: true, receiptHash: transferHash });
    expect(got.record).toEqual({
      verified: true,
      submitter: String(dev.accounts[0]?.address).toLowerCase(),
      tag: `0x${'42'.repeat(32)}`,
    });
  });

  it('error: a gateway that forges a balance is caught in the page with VerificationError bad-state-proof', async () => {
    const trust = { height: 0, validators: [{ publicKey: dev.node.publicKey, power: 1 }] };
    const got = await page.evaluate(
      async ({ url, trust, bob }) => {
        const sdk = (window as unknown as { polis: typeof import('../src/index.js') }).polis;
        const plain = await sdk.createPolisClient({ url }).getBalance({ address: bob });
        try {
          const balance = await sdk.createPolisClient({ url, verify: true, trust }).getBalance({ address: bob });
          return { plain: plain.toString(), verified: balance.toString() };
        } catch (err) {
          return { plain: plain.toString(), name: (err as Error).name, reason: (err as { reason?: string }).reason };
        }
      },
      { url: liarUrl, trust, bob: BOB },
    );
    // Unverified, the lie gets through; verified, it is refused with its reason.
    expect(got).toEqual({ plain: '1', name: 'VerificationError', reason: 'bad-state-proof' });
  });

  it('seals a payload in the page that the recipient opens in Node, and a non-recipient cannot', async () => {
    const recipient = generateRecipientKey();
    const outsider = generateRecipientKey();
    const encoded = await page.evaluate(
      async ({ publicKey }) => {
        const sdk = (window as unknown as { polis: typeof import('../src/index.js') }).polis;
        const hex = (b: Uint8Array) => `0x${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
        const pub = Uint8Array.from(publicKey.slice(2).match(/../g) ?? [], (h) => Number.parseInt(h, 16));
        const envelope = sdk.sealPayload(new TextEncoder().encode('for the named recipient only'), [pub]);
        return hex(sdk.encodeEnvelope(envelope));
      },
      { publicKey: bytesToHex(recipient.publicKey) },
    );
    const envelope = decodeEnvelope(hexToBytes(encoded));
    expect(new TextDecoder().decode(openPayload(envelope, recipient.privateKey))).toBe('for the named recipient only');
    expect(() => openPayload(envelope, outsider.privateKey)).toThrow(/recipient/i);
  });
});
