/**
 * Debian's Chromium, driven by playwright-core, for the tests that need a real browser (the SDK in
 * a page, the portal). `.ci/run` installs it with apt; `npx playwright install` cannot work here.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM_PATH = process.env.POLIS_CHROMIUM ?? '/usr/bin/chromium';

/** Where tests save screenshots (gitignored). */
export const SCREENSHOT_DIR = resolve(import.meta.dirname, '..', '..', 'test-output', 'screenshots');

/** Launches headless Chromium with the flags this sandboxed, offline machine needs. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `no Chromium at ${CHROMIUM_PATH}: install Debian's package (apt-get install -y chromium, as .ci/run does) or set POLIS_CHROMIUM to a Chromium binary`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}

/** The path of a screenshot named `name` (the folder is created). */
export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return join(SCREENSHOT_DIR, `${name}.png`);
}
