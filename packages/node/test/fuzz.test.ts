/**
 * A seeded fuzz run against the whole gateway: thousands of random and malformed JSON-RPC and
 * REST requests (every route of the OpenAPI document, with good, wrong, foreign and missing
 * keys, garbage path and query values, malformed, deep and oversized bodies, odd HTTP methods).
 * Every answer must come in time, be well-formed JSON of the right shape and never be a 5xx other
 * than a deliberate 501/503; and the node must still serve afterwards.
 *
 * A failure prints its seed; replay it with POLIS_FUZZ_SEED=<seed>.
 */
import { seededRandom } from '@polis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantAppKey } from '../src/index.js';
import { type DevNode, startDevNode } from './devNode.js';

const REQUESTS = 3_000;
const CONCURRENCY = 16;
const SEED = Number(process.env.POLIS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ALLOWED = new Set([200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 414, 415, 422, 426, 429, 501, 503]);

let dev: DevNode;
let keys: string[];
let routes: Array<{ method: string; path: string }>;

beforeAll(async () => {
  dev = await startDevNode({ moreLedgers: [{ id: 'other', chainId: 31338 }] });
  keys = [
    dev.apiKey,
    grantAppKey(dev.accessFile, { appId: 'demo', plan: 'dedicated', scopes: ['read'] }),
    grantAppKey(dev.accessFile, { appId: 'other', plan: 'free', scopes: ['admin'] }),
  ];
  // Wait for the gateway to read the new keys.
  await new Promise((done) => setTimeout(done, 1_500));
  const doc = (await (await fetch(`${dev.baseUrl}/api/v1/openapi.json`)).json()) as {
    paths: Record<string, Record<string, unknown>>;
  };
  routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })));
});

afterAll(async () => {
  await dev?.close();
});

const METHODS = [
  'eth_chainId',
  'eth_blockNumber',
  'eth_getBalance',
  'eth_getBlockByNumber',
  'eth_getBlockByHash',
  'eth_getTransactionByHash',
  'eth_getTransactionReceipt',
  'eth_getLogs',
  'eth_call',
  'eth_estimateGas',
  'eth_sendRawTransaction',
  'eth_getCode',
  'eth_getStorageAt',
  'eth_feeHistory',
  'eth_getProof',
  'polis_getProof',
  'polis_getHeader',
  'polis_getReceiptProof',
  'eth_subscribe',
  'net_version',
  'web3_sha3',
  'nope_method',
  '__proto__',
  'constructor',
];

describe('gateway fuzz', () => {
  it(`behavior: ${REQUESTS} random and malformed requests each get a well-formed answer in time, and the node stays up (seed ${SEED})`, async () => {
    const rand = seededRandom(SEED);
    const int = (n: number) => Math.floor(rand() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
    const hex = (bytes: number) => `0x${Array.from({ length: bytes }, () => int(256).toString(16).padStart(2, '0')).join('')}`;

    /** A random JSON value, sometimes of an Ethereum-looking kind. */
    const value = (depth = 0): unknown => {
      switch (int(depth > 3 ? 8 : 11)) {
        case 0:
          return null;
        case 1:
          return rand() < 0.5;
        case 2:
          return pick([0, -1, 1e308, 2 ** 53 + 1, 0.5, Number.MAX_SAFE_INTEGER]);
        case 3:
          return hex(pick([0, 1, 20, 32, 33]));
        case 4:
          return pick([
            'latest',
            'earliest',
            'pending',
            '0x',
            '0xzz',
            '',
            'a'.repeat(5000),
            '\u0000\u2028💥',
            '../../etc/passwd',
          ]);
        case 5:
          return `0x${int(2 ** 31).toString(16)}`;
        case 6:
          return pick([{ blockHash: hex(32) }, { to: hex(20), data: hex(4) }, { address: hex(20), topics: [hex(32), null] }]);
        case 7:
          return { fromBlock: '0x0', toBlock: pick(['latest', '0xffffffff', 'x']), address: [hex(20)] };
        case 8:
          return Array.from({ length: int(4) }, () => value(depth + 1));
        case 9:
          return Object.fromEntries(
            Array.from({ length: int(4) }, () => [pick(['to', 'data', 'from', '__proto__', 'x']), value(depth + 1)]),
          );
        default:
          return { jsonrpc: '2.0', id: int(10), method: pick(METHODS), params: value(depth + 1) };
      }
    };

    const rpcBody = (): string => {
      const one = () => ({
        jsonrpc: pick(['2.0', '2.0', '2.0', '1.0', 2, undefined]),
        id: pick([int(1000), 'x', null, undefined, {}, [1]]),
        method: pick(METHODS),
        params: rand() < 0.8 ? Array.from({ length: int(4) }, () => value()) : value(),
      });
      switch (int(9)) {
        case 0: {
          const text = JSON.stringify(one());
          return text.slice(0, int(text.length));
        }
        case 1:
          return `${'['.repeat(int(5000))}1${']'.repeat(int(5000))}`;
        case 2:
          return JSON.stringify(Array.from({ length: int(30) }, one));
        case 3:
          return pick([
            '',
            'null',
            '[]',
            '{}',
            '"x"',
            '1',
            'true',
            '\u00ff\u00fe',
            '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}',
          ]);
        case 4:
          return JSON.stringify(value());
        default:
          return JSON.stringify(one());
      }
    };

    const keyChoice = (): string | undefined =>
      pick([...keys, ...keys, undefined, 'pk_x', `pk_${'0'.repeat(16)}_${'A'.repeat(43)}`, `${keys[0]}x`, '%2e%2e', 'a/b']);

    const request = (): { method: string; url: string; headers: Record<string, string>; body?: string } => {
      const key = keyChoice();
      const headers: Record<string, string> = {};
      if (rand() < 0.8)
        headers['content-type'] = pick([
          'application/json',
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
        ]);
      if (rand() < 0.1) headers.origin = pick(['https://evil.example', 'null']);
      if (rand() < 0.05) headers['idempotency-key'] = pick(['k', 'x'.repeat(300), '']);
      if (rand() < 0.6) {
        const app = pick(['demo', 'demo', 'other', 'nope', '', '..', 'DEMO']);
        const inPath = key !== undefined && rand() < 0.6;
        if (!inPath && key !== undefined) headers.authorization = pick([`Bearer ${key}`, key, 'Bearer ', `Basic ${key}`]);
        const method = rand() < 0.93 ? 'POST' : pick(['GET', 'PUT', 'DELETE', 'PATCH']);
        const url = `${dev.baseUrl}/v1/${app}${inPath ? `/${key}` : ''}${rand() < 0.03 ? '/extra' : ''}`;
        return { method, url, headers, ...(method === 'GET' ? {} : { body: rpcBody() }) };
      }
      const route = pick(routes);
      const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) =>
        encodeURIComponent(
          name === 'id'
            ? pick(['demo', 'demo', 'other', 'nope', '%', 'x'.repeat(300)])
            : String(pick([hex(32), hex(20), '0', 'latest', '-1', '1e9', 'zz', '%00', '99999999999999999999', 'x'.repeat(2000)])),
        ),
      );
      const query =
        rand() < 0.5
          ? `?${Array.from({ length: int(5) }, () => `${pick(['fromBlock', 'toBlock', 'address', 'topic0', 'txs', 'limit', 'x'])}=${encodeURIComponent(String(pick(['0', 'latest', hex(20), hex(32), 'true', '-5', '', 'a,b,c'])))}`).join('&')}`
          : '';
      if (key !== undefined) headers.authorization = `Bearer ${key}`;
      const method = rand() < 0.9 ? route.method : pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);
      const body =
        method === 'GET' || method === 'DELETE'
          ? undefined
          : rand() < 0.7
            ? JSON.stringify(
                Object.fromEntries(
                  Array.from({ length: int(6) }, () => [
                    pick([
                      'raw',
                      'waitMs',
                      'from',
                      'to',
                      'data',
                      'abi',
                      'functionName',
                      'args',
                      'notifyUrl',
                      'events',
                      'value',
                      'gas',
                    ]),
                    value(),
                  ]),
                ),
              )
            : rpcBody();
      return { method, url: `${dev.baseUrl}${path}${query}`, headers, ...(body === undefined ? {} : { body }) };
    };

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < REQUESTS && failures.length < 5) {
        const i = next++;
        const r = request();
        const where = `#${i} ${r.method} ${r.url.replace(dev.baseUrl, '').slice(0, 120)} body=${(r.body ?? '').slice(0, 120)}`;
        let res: Response;
        try {
          res = await fetch(r.url, {
            method: r.method,
            headers: r.headers,
            ...(r.body === undefined ? {} : { body: r.body }),
            signal: AbortSignal.timeout(15_000),
          });
        } catch (err) {
          failures.push(`${where}: no answer: ${(err as Error).message}`);
          continue;
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const text = await res.text();
        if (!ALLOWED.has(res.status)) {
          failures.push(`${where}: HTTP ${res.status} ${text.slice(0, 200)}`);
          continue;
        }
        if (res.status === 204) {
          if (text !== '') failures.push(`${where}: 204 with a body`);
          continue;
        }
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          failures.push(`${where}: HTTP ${res.status} body is not JSON: ${text.slice(0, 200)}`);
          continue;
        }
        const wellFormed = (x: unknown): boolean => {
          if (typeof x !== 'object' || x === null) return false;
          const o = x as Record<string, unknown>;
          if (o.jsonrpc === '2.0') {
            const e = o.error as { code?: unknown; message?: unknown } | undefined;
            return (
              'result' in o !== (e !== undefined) &&
              (e === undefined || (Number.isInteger(e.code) && typeof e.message === 'string'))
            );
          }
          if ('error' in o) {
            const e = o.error as { code?: unknown; message?: unknown };
            return (
              typeof e === 'object' &&
              e !== null &&
              typeof e.code === 'string' &&
              typeof e.message === 'string' &&
              e.message !== ''
            );
          }
          return res.status < 300;
        };
        const ok = Array.isArray(json) ? json.length > 0 && json.every(wellFormed) : wellFormed(json);
        if (!ok) failures.push(`${where}: HTTP ${res.status} malformed answer: ${text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(failures, `seed ${SEED}; statuses ${JSON.stringify([...statuses])}`).toEqual([]);
    // Every kind of answer was exercised.
    for (const s of [200, 400, 401, 403, 404]) expect(statuses.get(s) ?? 0, `status ${s} (seed ${SEED})`).toBeGreaterThan(0);

    const health = await fetch(`${dev.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    const chainId = await fetch(dev.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    });
    expect(((await chainId.json()) as { result: string }).result).toBe('0x7a69');
  }, 240_000);
});
