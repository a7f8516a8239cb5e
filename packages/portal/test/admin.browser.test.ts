/**
 * The admin view in Debian's Chromium against a real dev network whose app requests wait for the
 * alliance (scenario 3 of P9): a developer requests an app, the dev admin signs in, sees it
 * pending and approves it with admin key 0 (pasted), then (the threshold is 2) with admin key 1
 * (a keystore file and its password), and the app is active; then two admins suspend a node and
 * it shows as suspended. Keys are given to the page and signed with there; the system ledger's
 * state is checked over `gov_*` too, and the page's storage is checked to hold no key.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptKeystore, hexToBytes, SCRYPT_N_LIGHT } from '@polis/core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshotPath } from '../../../test/support/browser.js';
import { type DevNetwork, startDevNetwork } from './devnet.js';

let net: DevNetwork;
let browser: Browser;
let page: Page;
let workDir: string;
const KEYSTORE_PASSWORD = 'admin keystore password';
const appId = `ledger-${Date.now().toString(36)}`;

async function gov<T>(method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(net.system.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

/** Gives the page the private key of dev account `index` (0-2 are the admins). */
async function useKey(index: number): Promise<void> {
  const account = net.accounts[index];
  if (!account) throw new Error(`the dev network has no account ${index}`);
  const forget = page.getByRole('button', { name: 'Forget the key' });
  if (await forget.isVisible()) await forget.click();
  await page.getByRole('radio', { name: 'Paste a private key' }).check();
  await page.getByRole('textbox', { name: 'Private key' }).fill(account.privateKey);
  await page.getByRole('button', { name: 'Use this key' }).click();
  await page.getByTestId('signing-as').getByText(account.address.toLowerCase()).waitFor();
}

/** Gives the page dev account `index`'s key as a keystore v3 file and its password. */
async function useKeystore(index: number): Promise<void> {
  const account = net.accounts[index];
  if (!account) throw new Error(`the dev network has no account ${index}`);
  const file = join(workDir, `admin-${index}.json`);
  writeFileSync(
    file,
    JSON.stringify(encryptKeystore(hexToBytes(account.privateKey), KEYSTORE_PASSWORD, { scryptN: SCRYPT_N_LIGHT })),
  );
  const forget = page.getByRole('button', { name: 'Forget the key' });
  if (await forget.isVisible()) await forget.click();
  await page.getByRole('radio', { name: 'Open a keystore file' }).check();
  await page.getByLabel('Keystore file (JSON)').setInputFiles(file);
  await page.getByLabel('Key file password').fill('not the password');
  await page.getByRole('button', { name: 'Use this key' }).click();
  await page.getByRole('alert').getByText('The password does not open this key file').waitFor();
  await page.getByLabel('Key file password').fill(KEYSTORE_PASSWORD);
  await page.getByRole('button', { name: 'Use this key' }).click();
  await page.getByTestId('signing-as').getByText(account.address.toLowerCase()).waitFor();
}

async function outcome(text: string | RegExp): Promise<void> {
  await page.getByTestId('outcome').getByText(text).waitFor({ timeout: 45_000 });
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'polis-portal-admin-'));
  net = await startDevNetwork({ reviewApps: true });
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await net?.close();
  rmSync(workDir, { recursive: true, force: true });
  // Stopping 4 node processes and the portal can take a while on a busy machine.
}, 30_000);

describe('portal: an admin', () => {
  it('sees a developer’s app request waiting for approval', async () => {
    // The developer requests the app through the portal's API, as the new-app page does.
    const signIn = await fetch(`${net.portalUrl}/api/auth/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(net.logins.developer),
    });
    expect(signIn.status).toBe(200);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
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
    expect(((await created.json()) as { app: { status: string } }).app.status).toBe('pending');
    expect((await gov<{ status: string }>('gov_getApp', [appId])).status).toBe('pending');

    await page.goto(`${net.portalUrl}/signin`);
    await page.getByLabel('Email').fill(net.logins.admin.email);
    await page.getByLabel('Password').fill(net.logins.admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Governance' }).waitFor();
    const row = page.getByTestId(`pending-app-${appId}`);
    await row.waitFor();
    expect(await row.textContent()).toContain('standard');
    expect(await row.textContent()).toContain('not proposed');
    await page.screenshot({ path: screenshotPath('admin-01-pending-app'), fullPage: true });
  }, 120_000);

  it('error: a key that is not an admin’s is refused in the page, before anything is sent', async () => {
    const outsider = net.accounts[5] as { address: string; privateKey: string };
    await useKey(5);
    await page.getByText('is not one of the alliance’s 3 admins').waitFor();
    await page.getByRole('button', { name: `Approve app ${appId}`, exact: true }).click();
    await page
      .getByRole('alert')
      .getByText(`${outsider.address.toLowerCase()}, which is not one of the alliance's 3 admins; nothing was sent`)
      .waitFor();
    expect(await gov<number>('gov_getNonce', [outsider.address.toLowerCase()])).toBe(0);
    await page.screenshot({ path: screenshotPath('admin-02-not-an-admin'), fullPage: true });
  }, 60_000);

  it('approves the app with admin key 0, then admin key 1, and the app is active', async () => {
    await useKey(0);
    await page.getByRole('button', { name: `Approve app ${appId}`, exact: true }).click();
    await outcome(/^Proposal \d+ has 1 of 2 approvals: a second admin must approve it\.$/);
    expect((await gov<{ status: string }>('gov_getApp', [appId])).status).toBe('pending');
    await page
      .getByTestId(`pending-app-${appId}`)
      .getByText(/1 of 2 \(proposal \d+\)/)
      .waitFor();
    await page.screenshot({ path: screenshotPath('admin-03-one-of-two'), fullPage: true });

    // The second admin opens a keystore file instead of pasting a key.
    await useKeystore(1);
    await page.getByRole('button', { name: `Approve app ${appId}`, exact: true }).click();
    await outcome(`Executed: app ${appId} is active.`);
    expect((await gov<{ status: string }>('gov_getApp', [appId])).status).toBe('active');
    await page.getByTestId(`pending-app-${appId}`).waitFor({ state: 'detached' });
    await page.getByTestId(`app-${appId}`).getByText('active', { exact: true }).waitFor();
    await page.getByRole('region', { name: 'Executed and failed actions' }).getByText(`Approve app ${appId}`).waitFor();
    await page.screenshot({ path: screenshotPath('admin-04-app-active'), fullPage: true });
  }, 120_000);

  it('suspends a node with two admins’ signatures, and the node shows as suspended', async () => {
    // The last node: the portal reads the system ledger through the first gateway that answers.
    const node = net.nodes[net.nodes.length - 1] as { name: string; publicKey: string };
    expect((await gov<{ status: string }>('gov_getNode', [node.publicKey])).status).toBe('active');
    await page.getByRole('button', { name: `Suspend node ${node.name}`, exact: true }).click();
    await outcome(/^Proposal \d+ has 1 of 2 approvals: a second admin must approve it\.$/);
    expect((await gov<{ status: string }>('gov_getNode', [node.publicKey])).status).toBe('active');
    await page.screenshot({ path: screenshotPath('admin-05-suspend-proposed'), fullPage: true });

    await useKey(2);
    await page.getByRole('button', { name: `Suspend node ${node.name}`, exact: true }).click();
    await outcome(new RegExp(`^Executed: node ${node.name} \\(0x[0-9a-f]{8}…\\) is suspended\\.$`));
    expect((await gov<{ status: string }>('gov_getNode', [node.publicKey])).status).toBe('suspended');
    await expect.poll(() => page.getByTestId(`node-status-${node.name}`).textContent(), { timeout: 15_000 }).toBe('suspended');
    await page.getByRole('button', { name: `Resume node ${node.name}`, exact: true }).waitFor();
    await page.screenshot({ path: screenshotPath('admin-06-node-suspended'), fullPage: true });

    // The operator view shows it too, and the key never reached the page's storage.
    await page.getByRole('link', { name: 'Nodes', exact: true }).click();
    await page.getByRole('heading', { name: 'Nodes', level: 1 }).waitFor();
    await expect
      .poll(() => page.getByTestId(`health-${node.name}`).getByTestId(`node-status-${node.name}`).textContent(), {
        timeout: 15_000,
      })
      .toBe('suspended');
    await page.screenshot({ path: screenshotPath('admin-07-operator-view'), fullPage: true });
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    for (const account of net.accounts.slice(0, 6)) expect(stored).not.toContain(account.privateKey.slice(2));
  }, 120_000);

  it('behavior: on a phone-sized screen both views fit the width (wide tables scroll inside their box)', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/operator', '/admin']) {
      await page.goto(`${net.portalUrl}${path}`);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.getByRole('table').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} is wider than the screen`).toBeLessThanOrEqual(0);
      await page.screenshot({ path: screenshotPath(`admin-08-phone${path.replace('/', '-')}`), fullPage: true });
    }
  }, 60_000);
});
