/**
 * The portal's developer journey in Debian's Chromium against a real dev network (4 city nodes as
 * processes, the system ledger, the portal): sign up, create an app on the 4 nodes, copy its
 * endpoint, and a Node ethers script deploys and calls a contract on it (scenario 1 of P9). Then
 * the portal's own deploy flow: malformed Solidity shows the compiler's errors, a contract deploys
 * with its progress shown and is called from the generated form; and an expired session sends the
 * user to sign in and back without losing the form.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import solc from 'solc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshotPath } from '../../../test/support/browser.js';
import { type DevNetwork, startDevNetwork } from './devnet.js';

const run = promisify(execFile);

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
let context: BrowserContext;
let page: Page;
let workDir: string;
const email = `dev-${Date.now()}@example.com`;
const password = 'a long enough password';

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'polis-portal-dev-'));
  net = await startDevNetwork();
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: net.portalUrl });
  page = await context.newPage();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await net?.close();
  rmSync(workDir, { recursive: true, force: true });
}, 60_000);

describe('portal: a developer', () => {
  let endpoint = '';
  const appId = `shop-${Date.now().toString(36)}`;

  it('signs up, creates an app on 4 nodes and copies its endpoint', async () => {
    await page.goto(net.portalUrl);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Name').fill('Ada Developer');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.screenshot({ path: screenshotPath('developer-01-signup') });
    await page.getByRole('button', { name: 'Create account' }).click();

    await page.getByRole('heading', { name: 'Create an app' }).waitFor();
    await page.getByLabel('App id').fill(appId);
    const rows = page.locator('table.nodes tbody tr');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(4);
    // Every node shows a region and its health.
    for (const region of ['eu-west (Paris)', 'eu-central (Frankfurt)', 'ap-east (Hong Kong)', 'us-east (New York)']) {
      await page.getByRole('cell', { name: region }).waitFor();
    }
    await page.getByRole('button', { name: 'Use all 4' }).click();
    await page.getByLabel('Plan').selectOption('standard');
    await page.screenshot({ path: screenshotPath('developer-02-new-app') });
    await page.getByRole('button', { name: 'Create app' }).click();

    await page.getByRole('heading', { name: /Your app .* is ready/ }).waitFor({ timeout: 30_000 });
    const endpoints = page.getByTestId('endpoint');
    expect(await endpoints.count()).toBe(4);
    await page
      .getByRole('button', { name: /Copy JSON-RPC endpoint at/ })
      .first()
      .click();
    endpoint = await page.evaluate(() => navigator.clipboard.readText());
    expect(endpoint).toBe(await endpoints.first().textContent());
    expect(endpoint).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/v1/${appId}/pk_[0-9a-f]{16}_`));
    await page.screenshot({ path: screenshotPath('developer-03-app-created') });
  }, 90_000);

  it('deploys and calls a contract on the copied endpoint with a Node ethers script', async () => {
    const out = JSON.parse(
      solc.compile(
        JSON.stringify({
          language: 'Solidity',
          sources: { 'Greeter.sol': { content: GREETER } },
          settings: { evmVersion: 'cancun', outputSelection: { '*': { Greeter: ['abi', 'evm.bytecode.object'] } } },
        }),
      ),
    ) as { contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>> };
    const greeter = out.contracts['Greeter.sol']?.Greeter;
    const artifact = join(workDir, 'Greeter.json');
    writeFileSync(artifact, JSON.stringify({ abi: greeter?.abi, bytecode: `0x${greeter?.evm.bytecode.object}` }));
    const { stdout } = await run(
      process.execPath,
      [join(import.meta.dirname, 'fixtures', 'deploy-and-call.mjs'), endpoint, artifact],
      {
        timeout: 60_000,
      },
    );
    const result = JSON.parse(stdout.trim()) as {
      address: string;
      status: number;
      event: string;
      greeting: string;
      chainId: number;
    };
    expect(result).toMatchObject({ status: 1, event: 'Greeted', greeting: 'called by a Node script' });
    expect(result.address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    // The chain id the script saw is the app's, as the portal shows it.
    await page.goto(`${net.portalUrl}/apps/${appId}`);
    await page.getByText(`chain id ${result.chainId}`).waitFor();
  }, 90_000);

  it('error: malformed Solidity shows the compiler’s errors; then a contract deploys with its progress and is called from the form', async () => {
    await page.goto(`${net.portalUrl}/apps/${appId}/contracts`);
    const source = page.getByLabel('Solidity source');
    await source.fill('pragma solidity ^0.8.20;\ncontract Broken {\n  function f( public {}\n}');
    await page.getByRole('button', { name: 'Compile and deploy' }).click();
    const compilerErrors = page.getByLabel('Compiler errors');
    await compilerErrors.waitFor();
    expect(await compilerErrors.textContent()).toMatch(/ParserError[\s\S]*Contract\.sol:3/);
    await page.screenshot({ path: screenshotPath('developer-04-compiler-errors') });

    await source.fill(GREETER);
    await page.getByLabel('Constructor arguments (JSON list)').fill('["Hello from the portal"]');
    await page.getByRole('button', { name: 'Compile and deploy' }).click();
    await page.getByLabel('Deployment progress').waitFor();
    await page.getByTestId('deployed-address').waitFor({ timeout: 60_000 });
    await page.screenshot({ path: screenshotPath('developer-05-deployed') });

    const greet = page.getByRole('form', { name: 'Function greet' });
    await greet.getByLabel('t (string)').fill('hello, form');
    await greet.getByRole('button', { name: 'Send' }).click();
    await expect
      .poll(
        () =>
          page
            .getByTestId('result-greet')
            .textContent()
            .catch(() => ''),
        { timeout: 30_000 },
      )
      .toContain('Greeted');
    expect(await page.getByTestId('result-greet').textContent()).toContain('hello, form');
    const read = page.getByRole('form', { name: 'Function greeting' });
    await read.getByRole('button', { name: 'Read' }).click();
    await expect
      .poll(
        () =>
          page
            .getByTestId('result-greeting')
            .textContent()
            .catch(() => ''),
        { timeout: 15_000 },
      )
      .toBe('"hello, form"');
    await page.screenshot({ path: screenshotPath('developer-06-called') });
  }, 120_000);

  it('error: an expired session sends the user to sign in and back, with the form as they left it', async () => {
    await page.goto(`${net.portalUrl}/apps/new`);
    await page.getByLabel('App id').fill('half-typed-app');
    // The session ends (its cookie is gone, as when it expires).
    await context.clearCookies();
    await page.getByRole('button', { name: 'Use all 4' }).click();
    await page.getByRole('button', { name: 'Create app' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 15_000 });
    await page.getByText('Your session ended').waitFor();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Create an app' }).waitFor();
    expect(await page.getByLabel('App id').inputValue()).toBe('half-typed-app');
    await page.screenshot({ path: screenshotPath('developer-07-form-kept') });
  }, 60_000);
});
