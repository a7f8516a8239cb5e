/**
 * `polis node start` as an operator runs it: a node made with `node init`, `network genesis` and
 * `app keys create`, started with `--tls-cert` and `--tls-key`, serves JSON-RPC over HTTPS to a
 * client that trusts the certificate; and the TLS flags are checked before anything starts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../bin/polis.js');
const TLS = resolve(import.meta.dirname, '../../node/test/fixtures/tls');
const dir = mkdtempSync(join(tmpdir(), 'polis-node-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function polis(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, POLIS_PASSWORD: 'pw' },
  });
}

describe('polis node start', () => {
  it('default: --tls-cert and --tls-key serve the gateway over HTTPS', async () => {
    const node = join(dir, 'n0');
    expect(polis('node', 'init', '--dir', node, '--rpc-port', '0', '--light').status).toBe(0);
    expect(
      polis('network', 'genesis', '--out', join(node, 'genesis.json'), '--node', node, '--ledger', 'demo:31337').status,
    ).toBe(0);
    const created = polis(
      'app',
      'keys',
      'create',
      '--access-file',
      join(node, 'access.json'),
      '--app',
      'demo',
      '--scopes',
      'read',
    );
    expect(created.status, created.stderr).toBe(0);
    const { key } = JSON.parse(created.stdout) as { key: string };
    const passwordFile = join(dir, 'pw');
    writeFileSync(passwordFile, 'pw\n');
    const child = spawn(
      process.execPath,
      [
        BIN,
        'node',
        'start',
        '--config',
        join(node, 'config.json'),
        '--password-file',
        passwordFile,
        '--tls-cert',
        join(TLS, 'cert.pem'),
        '--tls-key',
        join(TLS, 'key.pem'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const ready = await new Promise<{ rpcBase: string }>((done, fail) => {
        let out = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('\n')) done(JSON.parse(out.split('\n')[0] as string));
        });
        child.once('exit', (code) => fail(new Error(`node exited with ${code}`)));
      });
      expect(ready.rpcBase).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const answer = await new Promise<string>((done, fail) => {
        const req = request(
          `${ready.rpcBase}/v1/demo/${key}`,
          { method: 'POST', ca: readFileSync(join(TLS, 'cert.pem')), headers: { 'content-type': 'application/json' } },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => {
              text += c.toString();
            });
            res.on('end', () => done(text));
          },
        );
        req.on('error', fail);
        req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }));
      });
      expect(JSON.parse(answer).result).toBe('0x7a69');
    } finally {
      await new Promise((done) => {
        child.once('exit', done);
        child.kill('SIGTERM');
      });
    }
  }, 60_000);

  it('error: --tls-cert without --tls-key is refused before the node starts', () => {
    const r = polis('node', 'start', '--config', join(dir, 'missing.json'), '--tls-cert', join(TLS, 'cert.pem'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--tls-cert and --tls-key go together/);
  });
});
