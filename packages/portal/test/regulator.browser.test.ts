/**
 * The regulator view in Debian's Chromium against a real dev network (scenario 4 of P9): a
 * developer's app on the 4 city nodes holds a few transactions; the regulator signs in and links
 * an address made in the page; two admins (dev accounts 0 and 1) grant it the app on the system
 * ledger; the regulator opens the app, picks a time range and downloads a CSV, whose header and
 * rows the test checks against the transactions; and the app's audit log shows that export under
 * the regulator's key.
 */
import { readFileSync } from 'node:fs';
import { bytesToHex, hexToBytes } from '@polis/core';
import { type Action, encodeGovTx, type GovBody, signGovTxSecp256k1 } from '@polis/governance';
import { Wallet } from 'ethers';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshotPath } from '../../../test/support/browser.js';
import { type DevNetwork, startDevNetwork } from './devnet.js';

let net: DevNetwork;
let browser: Browser;
let page: Page;
const appId = `watched-${Date.now().toString(36)}`;
const sent: { hash: string; block: number; from: string; to: string }[] = [];
let appCreatedAt = 0;
let regulatorAddress = '';

async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

/** Signs `body` with dev account `index`, sends it to the system ledger and waits for its receipt. */
async function govSend(
  index: number,
  body: GovBody,
): Promise<{ status: string; events: { type: string; proposalId?: number }[] }> {
  const account = net.accounts[index] as { address: string; privateKey: string };
  const nonce = await rpc<number>(net.system.rpcUrl, 'gov_getNonce', [account.address.toLowerCase()]);
  const tx = signGovTxSecp256k1({ chainId: net.system.chainId, nonce, body }, hexToBytes(account.privateKey));
  const hash = await rpc<string>(net.system.rpcUrl, 'gov_sendTransaction', [bytesToHex(encodeGovTx(tx))]);
  for (let i = 0; i < 300; i++) {
    const receipt = await rpc<{ status: string; events: { type: string; proposalId?: number }[] } | null>(
      net.system.rpcUrl,
      'gov_getReceipt',
      [hash],
    );
    if (receipt) return receipt;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no receipt for ${body.type}`);
}

/** The alliance enacts `action`: admin 0 proposes, admin 1 approves (2 of 3). */
async function enact(action: Action): Promise<void> {
  const proposed = await govSend(0, { type: 'propose', action, expiresAt: Date.now() + 600_000 });
  expect(proposed.status).toBe('ok');
  const id = proposed.events.find((e) => e.type === 'proposal-created')?.proposalId as number;
  const approved = await govSend(1, { type: 'approve', proposalId: id });
  expect(approved.events.map((e) => e.type)).toContain('proposal-executed');
}

/** `ms` as a `datetime-local` value; the page runs in UTC. */
const utcInput = (ms: number) => new Date(ms).toISOString().slice(0, 16);

beforeAll(async () => {
  net = await startDevNetwork();
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, timezoneId: 'UTC', acceptDownloads: true });
  page = await context.newPage();

  // The developer's app on the 4 nodes, made through the portal's API as the new-app page does.
  const signIn = await fetch(`${net.portalUrl}/api/auth/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(net.logins.developer),
  });
  expect(signIn.status).toBe(200);
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
  appCreatedAt = Date.now();
  const created = await fetch(`${net.portalUrl}/api/apps`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({
      id: appId,
      validators: net.nodes.map((n) => n.publicKey),
      plan: 'standard',
      keyMode: 'upload',
      accessPolicy: 'open',
    }),
  });
  expect(created.status, await created.clone().text()).toBe(201);
  const made = (await created.json()) as { app: { chainId: number }; endpoints: { rpcUrl: string }[] };
  const url = made.endpoints[0]?.rpcUrl as string;
  for (let i = 0; i < 150; i++) {
    if (
      await rpc(url, 'eth_chainId').then(
        () => true,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  // A few zero-fee transfers, as the app's users would send them.
  const wallet = new Wallet(net.accounts[5]?.privateKey as string);
  const to = net.accounts[6]?.address.toLowerCase() as string;
  for (let nonce = 0; nonce < 3; nonce++) {
    const raw = await wallet.signTransaction({
      type: 2,
      chainId: made.app.chainId,
      nonce,
      to,
      gasLimit: 21_000n,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
    });
    const hash = await rpc<string>(url, 'eth_sendRawTransaction', [raw]);
    let receipt: { blockNumber: string; status: string } | null = null;
    for (let i = 0; i < 300 && !receipt; i++) {
      receipt = await rpc(url, 'eth_getTransactionReceipt', [hash]);
      if (!receipt) await new Promise((r) => setTimeout(r, 100));
    }
    expect(receipt?.status).toBe('0x1');
    sent.push({ hash, block: Number(receipt?.blockNumber), from: wallet.address.toLowerCase(), to });
  }
}, 240_000);

// Stopping 4 node processes takes a few seconds on a busy machine (close() waits up to 15 s).
afterAll(async () => {
  await browser?.close();
  await net?.close();
}, 30_000);

describe('portal: a regulator', () => {
  it('signs in and links an address made in the page', async () => {
    await page.goto(`${net.portalUrl}/signin`);
    await page.getByLabel('Email').fill(net.logins.regulator.email);
    await page.getByLabel('Password').fill(net.logins.regulator.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Oversight' }).waitFor();
    await page.getByRole('heading', { name: 'Link your address' }).waitFor();
    await page.screenshot({ path: screenshotPath('regulator-01-link-address'), fullPage: true });
    await page.getByRole('button', { name: 'Make a new key' }).click();
    await page.getByRole('button', { name: 'Sign and link' }).click();
    const shown = page.getByTestId('regulator-address');
    await shown.waitFor();
    regulatorAddress = ((await shown.textContent()) ?? '').trim();
    expect(regulatorAddress).toMatch(/^0x[0-9a-f]{40}$/);
    await page.getByText('The alliance has not granted this address any app yet').waitFor();
    // The key made in the page stays on screen until the regulator says it is saved.
    await page.getByText('The key of this address was made in this page').waitFor();
    expect(await rpc(net.system.rpcUrl, 'gov_getRegulator', [regulatorAddress])).toBeNull();
    await page.screenshot({ path: screenshotPath('regulator-02-linked'), fullPage: true });
    await page.getByRole('button', { name: 'I saved it' }).click();
    expect(await page.getByText('The key of this address was made in this page').count()).toBe(0);
  }, 60_000);

  it('sees the app once two admins grant it, with its nodes', async () => {
    await enact({ type: 'grantRegulator', address: regulatorAddress as `0x${string}`, apps: [appId] });
    await page.reload();
    await page.getByText('The alliance grants this address 1 app').waitFor();
    const card = page.getByRole('list', { name: 'Granted ledgers' }).getByRole('link', { name: appId });
    await card.waitFor();
    await page.screenshot({ path: screenshotPath('regulator-03-granted-ledgers'), fullPage: true });
    await card.click();
    await page.getByRole('heading', { name: appId, level: 1 }).waitFor();
    const nodes = page.getByRole('table').getByRole('row');
    await expect.poll(() => nodes.count(), { timeout: 15_000 }).toBe(net.nodes.length + 1);
    await page.screenshot({ path: screenshotPath('regulator-04-ledger'), fullPage: true });
  }, 90_000);

  it('picks a time range and downloads a CSV whose rows are the app’s transactions', async () => {
    await page.getByRole('tab', { name: 'Export' }).click();
    await page.getByRole('radio', { name: 'Transactions', exact: true }).check();
    await page.getByLabel('From', { exact: true }).fill(utcInput(appCreatedAt - 120_000));
    await page.getByLabel('To (not included)', { exact: true }).fill(utcInput(Date.now() + 120_000));
    await page.getByRole('radio', { name: 'CSV', exact: true }).check();
    await page.screenshot({ path: screenshotPath('regulator-05-export-form'), fullPage: true });
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^${appId}-transactions-\\d{8}T\\d{6}Z-\\d{8}T\\d{6}Z\\.csv$`));
    const path = await download.path();
    const text = readFileSync(path, 'utf8');
    const [header, ...lines] = text.replace(/\r\n$/, '').split('\r\n');
    expect(header).toBe('block,time,index,hash,from,to,status,gasUsed');
    const rows = lines.map((l) => l.split(','));
    expect(rows.map((r) => r[3])).toEqual(sent.map((s) => s.hash));
    for (const [i, r] of rows.entries()) {
      const tx = sent[i];
      expect([Number(r[0]), r[4], r[5], r[7]], `row ${i}`).toEqual([tx?.block, tx?.from, tx?.to, '21000']);
    }
    await page.getByTestId('export-done').getByText(`${sent.length} rows`).waitFor();
    await page.screenshot({ path: screenshotPath('regulator-06-exported'), fullPage: true });
  }, 90_000);

  it('finds a transaction by hash, and sees the export in the app’s audit log under its own key', async () => {
    await page.getByRole('tab', { name: 'Search' }).click();
    await page.getByLabel('Transaction hash, block number or hash, or address').fill(sent[0]?.hash as string);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByTestId('found-transaction').getByText('succeeded').waitFor();
    await page.screenshot({ path: screenshotPath('regulator-07-search'), fullPage: true });

    await page.getByRole('tab', { name: 'Audit log' }).click();
    const exportRow = page.getByRole('row').filter({ hasText: 'GET /api/v1/apps/{id}/export' }).filter({ hasText: '(you)' });
    await exportRow.first().waitFor({ timeout: 15_000 });
    expect(await exportRow.first().textContent()).toContain('regulator');
    expect(await page.getByText('does not match').count()).toBe(0);
    await page.screenshot({ path: screenshotPath('regulator-08-audit-log'), fullPage: true });
  }, 60_000);
});
