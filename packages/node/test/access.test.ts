/**
 * The gateway's building blocks without a server: API keys and their stored form, the access
 * file's reloading, token buckets, and the bounds of the limiter and the meter.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RateLimiter, TokenBucket } from '../src/gateway/limits.js';
import { Meter } from '../src/gateway/metering.js';
import { isPrivateAddress, privateTarget } from '../src/gateway/webhooks.js';
import {
  AccessFileSchema,
  authenticate,
  createApiKey,
  DEFAULT_PLANS,
  FileAccessSource,
  isDenial,
  parseApiKey,
  snapshotOf,
  writeAccessFile,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'polis-access-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const here = { ip: '127.0.0.1' };

describe('API keys', () => {
  it('default: a new key authenticates for its app, and its record holds no secret', () => {
    const { key, record } = createApiKey({ appId: 'demo', scopes: ['read'] });
    const parsed = parseApiKey(key);
    expect(parsed?.id).toBe(record.id);
    expect(JSON.stringify(record)).not.toContain(parsed?.secret);
    const snap = snapshotOf(AccessFileSchema.parse({ keys: [record], apps: { demo: { plan: 'standard' } } }), 1);
    const p = authenticate(snap, 'demo', key, here);
    expect(isDenial(p)).toBe(false);
    if (!isDenial(p)) expect(p.planName).toBe('standard');
  });

  it('error: two keys never share a salt, so equal secrets would still hash apart', () => {
    const records = Array.from({ length: 50 }, () => createApiKey({ appId: 'demo', scopes: ['read'] }).record);
    expect(new Set(records.map((r) => r.salt)).size).toBe(50);
    expect(new Set(records.map((r) => r.hash)).size).toBe(50);
  });

  it('error: a key whose secret differs in one character is refused', () => {
    const { key, record } = createApiKey({ appId: 'demo', scopes: ['read'] });
    const snap = snapshotOf(AccessFileSchema.parse({ keys: [record] }), 1);
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    const p = authenticate(snap, 'demo', `${key.slice(0, -1)}${last}`, here);
    expect(isDenial(p) && p.status).toBe(401);
  });
});

describe('the access file', () => {
  it('behavior: a change is picked up on reload; an invalid file keeps the last good records and is reported', () => {
    const path = join(dir, 'access.json');
    const a = createApiKey({ appId: 'demo', scopes: ['read'] });
    writeAccessFile(path, AccessFileSchema.parse({ keys: [a.record] }));
    const errors: unknown[] = [];
    const source = new FileAccessSource(path, 60_000, (e) => errors.push(e));
    try {
      expect(source.current().keys.has(a.record.id)).toBe(true);
      const b = createApiKey({ appId: 'demo', scopes: ['read'] });
      writeAccessFile(path, AccessFileSchema.parse({ keys: [a.record, b.record] }));
      expect(source.reload()).toBe(true);
      expect(source.current().keys.has(b.record.id)).toBe(true);
      writeFileSync(path, '{"keys": [{"id": "nope"}]}');
      expect(source.reload()).toBe(false);
      expect(errors).toHaveLength(1);
      expect(String((errors[0] as Error).message)).toMatch(/keys\.0/);
      expect(source.current().keys.has(b.record.id)).toBe(true);
      expect(readFileSync(path, 'utf8')).toContain('nope');
    } finally {
      source.close();
    }
  });
});

describe('limits', () => {
  it('default: a token bucket gives its capacity at once, then refills at its rate', () => {
    const b = new TokenBucket(10, 0);
    expect(b.waitMs(10, 0)).toBe(0);
    b.take(10, 0);
    expect(b.waitMs(1, 0)).toBe(100);
    expect(b.waitMs(1, 100)).toBe(0);
    expect(b.waitMs(10, 100)).toBe(900);
    // Never more than the capacity, however long it waits.
    expect(b.waitMs(10, 1_000_000)).toBe(0);
    b.take(10, 1_000_000);
    expect(b.waitMs(1, 1_000_000)).toBe(100);
  });

  it('behavior: the app limit and the key limit both apply, and a refused request takes nothing', () => {
    let now = 0;
    const limiter = new RateLimiter({ now: () => now });
    const plan = { ...DEFAULT_PLANS.free, requestsPerSec: 4 };
    const small = { ...plan, requestsPerSec: 2 };
    const cost = { requests: 1, txs: 0, bytesIn: 10 };
    expect(limiter.admit('a', plan, 'k1', small, cost)).toBeUndefined();
    expect(limiter.admit('a', plan, 'k1', small, cost)).toBeUndefined();
    expect(limiter.admit('a', plan, 'k1', small, cost)?.scope).toBe('key');
    // k2 shares the app's bucket: 2 left of 4.
    expect(limiter.admit('a', plan, 'k2', plan, cost)).toBeUndefined();
    expect(limiter.admit('a', plan, 'k2', plan, cost)).toBeUndefined();
    const t = limiter.admit('a', plan, 'k2', plan, cost);
    expect(t?.scope).toBe('app');
    expect(t?.retryAfterMs).toBe(250);
    now = 250;
    expect(limiter.admit('a', plan, 'k2', plan, cost)).toBeUndefined();
  });

  it('behavior: bytes out are charged after the answer and hold back the next request', () => {
    let now = 0;
    const limiter = new RateLimiter({ now: () => now });
    const plan = { ...DEFAULT_PLANS.free, bytesOutPerSec: 1000 };
    const cost = { requests: 1, txs: 0, bytesIn: 1 };
    expect(limiter.admit('a', plan, 'k', plan, cost)).toBeUndefined();
    limiter.chargeBytesOut('a', plan, 'k', plan, 3000);
    expect(limiter.admit('a', plan, 'k', plan, cost)?.limit).toBe('bytesOutPerSec');
    now = 2001;
    expect(limiter.admit('a', plan, 'k', plan, cost)).toBeUndefined();
  });

  it('behavior: the limiter holds at most its bound of buckets', () => {
    const limiter = new RateLimiter({ maxEntries: 10 });
    const plan = DEFAULT_PLANS.free;
    for (let i = 0; i < 100; i++) limiter.admit('a', plan, `k${i}`, plan, { requests: 1, txs: 0, bytesIn: 0 });
    expect(limiter.size).toBe(10);
  });
});

describe('metering', () => {
  it('behavior: gas is attributed to the key that sent the transaction, and the pending map is bounded', () => {
    const meter = new Meter();
    meter.txSent('a', 'k1', '0xAB');
    meter.txCommitted('a', '0xab', 21_000n, 120);
    meter.txCommitted('a', '0xcd', 5n, 10);
    const u = meter.usage('a', ['k1']);
    expect(u.keys.k1?.gasUsed).toBe(21_000n);
    expect(u.app.gasUsed).toBe(21_005n);
    expect(u.app.storageBytes).toBe(130);
    for (let i = 0; i < 100_010; i++) meter.txSent('a', 'k1', `0x${i.toString(16)}`);
    expect(meter.pendingAttributions).toBe(100_000);
  });
});

describe('webhook targets', () => {
  it('error: loopback, private, link-local and metadata addresses are refused; public ones are not', async () => {
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:10.0.0.1',
      '0.0.0.0',
    ]) {
      expect(isPrivateAddress(ip), ip).toBe(true);
    }
    for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8'])
      expect(isPrivateAddress(ip), ip).toBe(false);
    expect(await privateTarget('http://127.0.0.1:9/hook')).toMatch(/127\.0\.0\.1, a private address.*allowPrivateTargets/);
    expect(await privateTarget('http://[::1]:9/hook')).toMatch(/private address/);
    expect(await privateTarget('http://localhost:9/hook')).toMatch(/private address/);
    expect(await privateTarget('https://93.184.216.34/hook')).toBeUndefined();
  });
});
