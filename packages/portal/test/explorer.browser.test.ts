/**
 * Scenario 2 of P9 in Debian's Chromium against a real dev network (4 city nodes as processes,
 * the system ledger, the portal): a developer (through the portal's API) signs up, creates an app
 * on the 4 nodes, deploys a contract whose function emits an event and calls it; then, in the
 * browser, opens the explorer and finds the transaction twice: in the live list of blocks (a call
 * made while the page is open appears without a reload) and with the search box; each time it shows
 * the decoded logs, the event's name and its arguments. Then the usage tab shows its charts and the
 * month's bill.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshotPath } from '../../../test/support/browser.js';
import { type DevNetwork, startDevNetwork } from './devnet.js';

const GREETER = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Greeter {
    string public greeting;
    event Greeted(address indexed by, string greeting);
    constructor(string memory g) { greeting = g; }
    function greet(string calldata t) external { greeting = t; emit Greeted(msg.sender, t); }
}`;

let net: DevNetwork;
let browser: Browser;
let page: Page;
const email = `explorer-${Date.now()}@example.com`;
const password = 'a long enough password';
const appId = `explore-${Date.now().toString(36)}`;

/** The developer's API client (the portal's JSON API with the session cookie). */
let cookie = '';
async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${net.portalUrl}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(cookie ? { cookie } : {}) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const set = res.headers.get('set-cookie');
  if (set) cookie = set.split(';')[0] as string;
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function greet(contract: string, text: string): Promise<{ hash: string; blockNumber: number }> {
  const sent = await call<{ hash: string; blockNumber: string; status: string }>(
    'POST',
    `/api/apps/${appId}/contracts/${contract}/call`,
    {
      function: 'greet',
      args: [text],
    },
  );
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  expect(sent.body.status).toBe('success');
  return { hash: sent.body.hash, blockNumber: Number(sent.body.blockNumber) };
}

let contract = '';
let searched: { hash: string; blockNumber: number };

beforeAll(async () => {
  net = await startDevNetwork();
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();

  // The developer's part, through the portal's API: sign up, an app on the 4 nodes, a contract, a call.
  expect((await call('POST', '/api/auth/signup', { email, name: 'Eve Explorer', password })).status).toBe(201);
  const created = await call('POST', '/api/apps', {
    id: appId,
    validators: net.nodes.map((n) => n.publicKey),
    plan: 'standard',
    keyMode: 'upload',
    accessPolicy: 'open',
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  // The 4 nodes start the app's ledger within moments of its approval.
  await until('the app to be served', async () =>
    (await call('GET', `/api/apps/${appId}/explorer/blocks?limit=1`)).status === 200 ? true : undefined,
  );
  const started = await call<{ job: { id: string } }>('POST', `/api/apps/${appId}/contracts`, {
    source: GREETER,
    args: ['Hello'],
  });
  expect(started.status).toBe(202);
  const job = await until('the deployment', async () => {
    const j = (
      await call<{ job: { status: string; error?: unknown; result?: { contract: { address: string } } } }>(
        'GET',
        `/api/jobs/${started.body.job.id}`,
      )
    ).body.job;
    return j.status === 'running' ? undefined : j;
  });
  expect(job.error).toBeUndefined();
  contract = job.result?.contract.address as string;
  searched = await greet(contract, 'found by search');
}, 240_000);

// Stopping polis dev (4 node processes and the portal) takes about 11 s.
afterAll(async () => {
  await browser?.close();
  await net?.close();
}, 30_000);

describe('portal: the explorer', () => {
  it('shows a transaction made while it is open in the live list, with its decoded logs', async () => {
    await page.goto(`${net.portalUrl}/signin?next=${encodeURIComponent(`/apps/${appId}/explorer`)}`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Latest blocks' }).waitFor();
    await page.getByTestId('live-state').getByText('Live:').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: screenshotPath('explorer-01-latest-blocks') });

    // A call while the page is open: its block appears in the list without a reload.
    const live = await greet(contract, 'seen live');
    const row = page.locator(`tr[data-block="${live.blockNumber}"]`);
    await row.getByRole('link', { name: '1 transaction' }).waitFor({ timeout: 15_000 });
    await page.screenshot({ path: screenshotPath('explorer-02-live-block') });
    await row.getByRole('link', { name: '1 transaction' }).click();

    await page.getByRole('heading', { name: `Block ${live.blockNumber.toLocaleString('en-US')}` }).waitFor();
    const txRow = page.getByTestId('block-transactions').getByRole('row').filter({ hasText: 'greet' });
    await expect.poll(() => txRow.count()).toBe(1);
    await expect.poll(() => txRow.getByRole('cell').nth(3).textContent()).toBe('Greeter');
    await page.screenshot({ path: screenshotPath('explorer-03-block') });
    await page.getByRole('link', { name: live.hash }).click();

    await page.getByRole('heading', { name: 'Transaction' }).waitFor();
    await expect.poll(() => page.getByTestId('tx-hash').textContent()).toBe(live.hash);
    await expect.poll(() => page.getByTestId('decoded-input').textContent()).toContain('greet');
    const log = page.getByTestId('log');
    await expect.poll(() => log.count()).toBe(1);
    await expect.poll(() => log.getByRole('heading').textContent()).toContain('Greeted');
    await expect.poll(() => log.getByRole('row', { name: /greeting/ }).textContent()).toContain('seen live');
    await expect.poll(() => log.getByRole('row', { name: /^by/ }).getByRole('link').count()).toBe(1);
    await page.screenshot({ path: screenshotPath('explorer-04-transaction-logs'), fullPage: true });
  }, 90_000);

  it('finds a transaction with the search box, and says in plain words what a malformed search lacks', async () => {
    await page.goto(`${net.portalUrl}/apps/${appId}/explorer`);
    const box = page.getByLabel('Search by block height, hash or address');
    await box.fill('0x1234');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('alert').getByText('a hash has 64 and an address 40').waitFor();
    await page.screenshot({ path: screenshotPath('explorer-05-search-error') });

    await box.fill(searched.hash);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('heading', { name: 'Transaction' }).waitFor();
    expect(new URL(page.url()).searchParams.get('tx')).toBe(searched.hash);
    const log = page.getByTestId('log');
    await expect.poll(() => log.getByRole('heading').textContent()).toContain('Greeted');
    await expect.poll(() => log.getByRole('row', { name: /greeting/ }).textContent()).toContain('found by search');
    await page.screenshot({ path: screenshotPath('explorer-06-search-result'), fullPage: true });

    // The emitting contract, by its link: its name and recent events.
    await log.getByRole('link', { name: 'Greeter' }).click();
    await page.getByRole('heading', { name: 'Greeter' }).waitFor();
    await expect.poll(() => page.getByTestId('log').count()).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: screenshotPath('explorer-07-contract'), fullPage: true });
  }, 60_000);

  it('shows usage charts against the plan’s limits and the month’s bill', async () => {
    await page.goto(`${net.portalUrl}/apps/${appId}/usage`);
    await page.getByRole('heading', { name: 'Bill' }).waitFor();
    await page.getByRole('img', { name: /^Requests per hour/ }).waitFor();
    for (const title of ['Transactions per hour', 'Gas used per hour', 'Storage kept per hour']) {
      await page.getByRole('img', { name: new RegExp(`^${title}`) }).waitFor();
    }
    await expect.poll(() => page.getByTestId('bill-total').textContent()).toMatch(/\$\d/);
    await page.screenshot({ path: screenshotPath('explorer-08-usage'), fullPage: true });
  }, 30_000);
});
