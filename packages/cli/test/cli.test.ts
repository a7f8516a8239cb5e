import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

const BIN = resolve(import.meta.dirname, '../bin/polis.js');
const dir = mkdtempSync(join(tmpdir(), 'polis-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { ...process.env };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    const code = await main(['node', 'polis', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.env = saved;
  }
}

describe('polis (built binary)', () => {
  it('default: --help lists the commands, through the real bin script', () => {
    const r = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dev \[options\]/);
    expect(r.stdout).toMatch(/key/);
  });

  it('error: dev refuses a bad node count before starting anything', () => {
    const r = spawnSync(process.execPath, [BIN, 'dev', '--nodes', '0', '--data', join(dir, 'dev-bad')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--nodes must be 1 to 64');
    const gas = spawnSync(process.execPath, [BIN, 'dev', '--gas-limit', '5000', '--data', join(dir, 'dev-bad-gas')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(gas.status).toBe(1);
    expect(gas.stderr).toContain('--gas-limit must be an integer from 1000000 to 1000000000');
  });

  it('default: polis bench runs a benchmark from bench/ and prints its JSON line', async () => {
    const r = spawnSync(process.execPath, [BIN, 'bench', 'records', '--', '--records', '200', '--per-tx', '100'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const line = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(line).toMatchObject({ bench: 'records', records: 200, failedTransactions: 0 });
    expect(line.recordsPerSecond).toBeGreaterThan(0);
  }, 150_000);

  it('error: polis bench names the benchmarks when given an unknown one', () => {
    const r = spawnSync(process.execPath, [BIN, 'bench', 'nope'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('there is no benchmark "nope"');
    expect(r.stderr).toContain('erc20, records, reads, gateway, idle, compare');
  });
});

describe('polis key', () => {
  it('default: new writes an encrypted, private file and show reads it back', async () => {
    const file = join(dir, 'node.json');
    const created = await run(['key', 'new', '--type', 'ed25519', '--out', file, '--light'], { POLIS_PASSWORD: 'pw' });
    expect(created.code, created.err).toBe(0);
    const made = JSON.parse(created.out);
    expect(made.publicKey).toMatch(/^0x[0-9a-f]{64}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8')).crypto.kdf).toBe('scrypt');

    const pwFile = join(dir, 'pw.txt');
    writeFileSync(pwFile, 'pw\n');
    const shown = await run(['key', 'show', file, '--password-file', pwFile], { POLIS_PASSWORD: undefined });
    expect(shown.code, shown.err).toBe(0);
    expect(JSON.parse(shown.out).publicKey).toBe(made.publicKey);
  });

  it('behavior: a secp256k1 key shows its checksummed address and never its secret', async () => {
    const file = join(dir, 'acct.json');
    const created = await run(['key', 'new', '--out', file, '--light'], { POLIS_PASSWORD: 'pw' });
    expect(created.code, created.err).toBe(0);
    expect(JSON.parse(created.out).address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(created.out).not.toMatch(/[0-9a-f]{64}/);
  });

  it('error: no password says how to give one', async () => {
    const r = await run(['key', 'new', '--out', join(dir, 'x.json')], { POLIS_PASSWORD: undefined });
    expect(r.code).toBe(1);
    expect(r.err).toContain('--password-file');
    expect(r.err).toContain('CLI_ERROR_NO_PASSWORD');
  });

  it('error: an existing file is never overwritten', async () => {
    const file = join(dir, 'exists.json');
    writeFileSync(file, 'keep me');
    const r = await run(['key', 'new', '--out', file, '--light'], { POLIS_PASSWORD: 'pw' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('already exists');
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('error: a wrong password and a missing file are explained', async () => {
    const file = join(dir, 'node.json');
    const wrong = await run(['key', 'show', file], { POLIS_PASSWORD: 'nope' });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('KEYSTORE_ERROR_WRONG_PASSWORD');
    const missing = await run(['key', 'show', join(dir, 'missing.json')], { POLIS_PASSWORD: 'pw' });
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('cannot read');
  });

  it('error: an unknown command or option exits non-zero with usage', async () => {
    expect((await run(['frobnicate'])).code).not.toBe(0);
    const bad = await run(['key', 'new', '--type', 'rsa', '--out', join(dir, 'r.json')]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/rsa/);
  });
});
