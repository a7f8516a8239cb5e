import { seededRandom } from '@polis/core';
/**
 * JSON-RPC hygiene over real HTTP (fetch): malformed JSON, wrong parameter types, unknown
 * methods, rejected transactions, batches, notifications and oversized bodies each get their
 * EIP-1474 / JSON-RPC 2.0 answer; then a seeded fuzz loop of malformed and random requests, after
 * which the server must still answer.
 *
 * The fuzz seed is printed with every failure; replay one with POLIS_FUZZ_SEED=<seed>.
 */
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode } from './devNode.js';

type RpcError = { code: number; message: string; data?: unknown };
type RpcResponse = { jsonrpc: '2.0'; id: string | number | null; result?: unknown; error?: RpcError };

let dev: DevNode;
let url: string;
let nextId = 1;

/** POSTs `body` (a string is sent as it is) and returns the HTTP status and the parsed body. */
async function post(body: unknown, target = url): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(target, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

async function call(method: string, params: unknown[] = []): Promise<RpcResponse> {
  const id = nextId++;
  const { status, json } = await post({ jsonrpc: '2.0', id, method, params });
  expect(status, method).toBe(200);
  const res = json as RpcResponse;
  expect(res.id, method).toBe(id);
  return res;
}

async function expectError(method: string, params: unknown[], code: number, message: RegExp): Promise<RpcError> {
  const res = await call(method, params);
  expect(res.result, `${method} ${JSON.stringify(params)} must fail`).toBeUndefined();
  expect(res.error?.code, `${method} ${JSON.stringify(params)}: ${res.error?.message}`).toBe(code);
  expect(res.error?.message, method).toMatch(message);
  return res.error as RpcError;
}

function sign(wallet: Wallet, nonce: number, fields: Record<string, unknown> = {}): Promise<string> {
  return wallet.signTransaction({
    type: 2,
    chainId: dev.chainId,
    nonce,
    to: `0x${'be'.repeat(20)}`,
    gasLimit: 21_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
    ...fields,
  });
}

async function receipt(hash: string): Promise<Record<string, string>> {
  for (let i = 0; i < 500; i++) {
    const r = await call('eth_getTransactionReceipt', [hash]);
    if (r.result) return r.result as Record<string, string>;
    await new Promise((done) => setTimeout(done, 20));
  }
  throw new Error(`no receipt for ${hash}`);
}

beforeAll(async () => {
  // The binary SMT, which ADR 0003 chose: its proof method is polis_getProof.
  dev = await startDevNode({ commitment: 'smt' });
  url = dev.rpcUrl;
});

afterAll(async () => {
  await dev?.close();
});

describe('JSON-RPC: errors', () => {
  it('error: malformed JSON is -32700 with a null id', async () => {
    for (const body of ['{"jsonrpc":"2.0","id":1,"method":', 'not json', '{"a":1}}', '\u0000\u0001', '[1,2']) {
      const { status, json } = await post(body);
      expect(status, body).toBe(200);
      expect(json, body).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32700, message: expect.stringMatching(/parse error/) },
      });
    }
  });

  it('error: a parameter of the wrong type is -32602 and the message names it', async () => {
    const cases: [string, unknown[], RegExp][] = [
      ['eth_getBalance', [123, 'latest'], /address/],
      ['eth_getBalance', ['0x1234', 'latest'], /address must be 20 bytes/],
      ['eth_getBalance', [`0x${'11'.repeat(20)}`, 'newest'], /block/],
      ['eth_getBlockByNumber', ['latest', 'yes'], /full transactions/],
      ['eth_getBlockByNumber', [{}, false], /block/],
      ['eth_getBlockByHash', ['0xzz', false], /blockHash/],
      ['eth_getTransactionReceipt', ['0x12'], /transactionHash must be 32 bytes/],
      ['eth_getTransactionByHash', [null], /transactionHash/],
      ['eth_getStorageAt', [`0x${'11'.repeat(20)}`, 'slot0', 'latest'], /slot/],
      ['eth_call', [{ to: 'not hex' }, 'latest'], /\bto\b/],
      ['eth_call', ['a string', 'latest'], /call object/],
      ['eth_estimateGas', [{ to: `0x${'11'.repeat(20)}`, value: -1 }], /value/],
      ['eth_getLogs', [{ fromBlock: 12 }], /fromBlock/],
      ['eth_getLogs', [{ address: ['0x12'] }], /address\[0\]/],
      ['eth_getLogs', [{ topics: 'x' }], /topics/],
      ['eth_getLogs', [{ topics: [['0x01']] }], /topics\[0\]\[0\]/],
      ['eth_sendRawTransaction', [42], /transaction/],
      ['eth_feeHistory', ['0x0', 'latest', []], /blockCount/],
      ['eth_feeHistory', [1.5, 'latest', []], /blockCount/],
      ['polis_getProof', [`0x${'11'.repeat(20)}`, ['0x1', 'zz'], 'latest'], /storageKeys\[1\]/],
      ['polis_getReceiptProof', ['0x'], /transactionHash/],
    ];
    for (const [method, params, message] of cases) await expectError(method, params, -32602, message);
    // "params" itself must be an array.
    const { json } = await post({ jsonrpc: '2.0', id: 7, method: 'eth_blockNumber', params: { a: 1 } });
    expect(json).toMatchObject({ id: 7, error: { code: -32602, message: expect.stringMatching(/params/) } });
  });

  it('error: an unknown method is -32601 and the message names it', async () => {
    const err = await expectError('eth_mineBlockPlease', [], -32601, /eth_mineBlockPlease/);
    expect(err.message).toMatch(/does not exist/);
    // Object prototype names are not methods.
    await expectError('constructor', [], -32601, /constructor/);
    await expectError('__proto__', [], -32601, /__proto__/);
    await expectError('toString', [], -32601, /toString/);
  });

  it('error: a request that is not a JSON-RPC request object is -32600', async () => {
    const cases: unknown[] = [
      { id: 1, method: 'eth_blockNumber' },
      { jsonrpc: '1.0', id: 1, method: 'eth_blockNumber' },
      { jsonrpc: '2.0', id: 1, method: 7 },
      { jsonrpc: '2.0', id: { a: 1 }, method: 'eth_blockNumber' },
      42,
      'eth_blockNumber',
      null,
      [],
    ].map((c) => JSON.stringify(c));
    cases.push('[]'.replace('[]', '"just a string"'));
    for (const body of cases) {
      const { status, json } = await post(body);
      expect(status, JSON.stringify(body)).toBe(200);
      expect((json as RpcResponse).error?.code, JSON.stringify(body)).toBe(-32600);
    }
  });

  it('error: invalid transactions are -32000 with a message that says what is wrong', async () => {
    const wallet = new Wallet(`0x${'7a'.repeat(32)}`);
    // A committed nonce cannot be used again.
    const first = await call('eth_sendRawTransaction', [await sign(wallet, 0)]);
    expect(first.error).toBeUndefined();
    await receipt(first.result as string);
    const low = await expectError(
      'eth_sendRawTransaction',
      [await sign(wallet, 0, { to: `0x${'bf'.repeat(20)}` })],
      -32000,
      /^nonce too low/,
    );
    expect(low.message).toMatch(/next nonce is 1/);

    // A pooled transaction sent again (nonce 5 is held behind the gap at 1..4, so it stays pooled).
    const held = await sign(wallet, 5);
    expect((await call('eth_sendRawTransaction', [held])).error).toBeUndefined();
    await expectError('eth_sendRawTransaction', [held], -32000, /^already known/);
    // Another transaction with a pooled nonce.
    await expectError('eth_sendRawTransaction', [await sign(wallet, 5, { gasLimit: 30_000n })], -32000, /^already known/);

    // Signed for another chain.
    const other = await sign(wallet, 1, { chainId: 1 });
    const chain = await expectError('eth_sendRawTransaction', [other], -32000, /^invalid chain id/);
    expect(chain.message).toMatch(/chain 1, this ledger is 31337/);
    const legacyOther = await wallet.signTransaction({
      type: 0,
      chainId: 5,
      nonce: 1,
      to: `0x${'be'.repeat(20)}`,
      gasLimit: 21_000n,
      gasPrice: 0n,
    });
    await expectError('eth_sendRawTransaction', [legacyOther], -32000, /invalid chain id/);

    // Gas below the intrinsic cost, and below the EIP-7623 calldata floor.
    await expectError('eth_sendRawTransaction', [await sign(wallet, 1, { gasLimit: 20_000n })], -32000, /intrinsic gas too low/);
    await expectError(
      'eth_sendRawTransaction',
      [await sign(wallet, 1, { data: `0x${'ff'.repeat(1000)}`, gasLimit: 40_000n })],
      -32000,
      /intrinsic gas too low.*61000/,
    );
    // Bytes that are not a transaction.
    await expectError('eth_sendRawTransaction', ['0xdeadbeef'], -32000, /cannot be decoded|not supported/);
    await expectError('eth_sendRawTransaction', ['0x'], -32000, /empty/);
    // The error data carries the machine-readable code.
    const coded = await call('eth_sendRawTransaction', [held]);
    expect(coded.error?.data).toEqual({ code: 'TX_ERROR_ALREADY_KNOWN' });
  });

  it('error: a sender that fills its share of the pool gets "mempool full"', async () => {
    const wallet = new Wallet(`0x${'7b'.repeat(32)}`);
    // Nonces 1..1000 wait behind the gap at 0: the pool holds at most 1000 per sender.
    const raws = await Promise.all(Array.from({ length: 1000 }, (_, i) => sign(wallet, i + 1)));
    const { json } = await post(
      raws.map((raw, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_sendRawTransaction', params: [raw] })),
    );
    const answers = json as RpcResponse[];
    expect(answers).toHaveLength(1000);
    expect(answers.filter((a) => a.error).map((a) => a.error?.message)).toEqual([]);
    const pending = await call('eth_getTransactionCount', [wallet.address, 'pending']);
    expect(pending.result).toBe('0x0');
    const full = await expectError('eth_sendRawTransaction', [await sign(wallet, 0)], -32000, /^mempool full/);
    expect(full.message).toMatch(/1000 transactions for this account/);
  });

  it('error: a value transfer the account cannot pay is refused on entry, and the account can go on', async () => {
    // Fees are zero but there is no native coin, so no account can pay a value: the mempool says
    // so at once, instead of admitting a transaction that could never run.
    const wallet = new Wallet(`0x${'7c'.repeat(32)}`);
    const refused = await expectError(
      'eth_sendRawTransaction',
      [await sign(wallet, 0, { value: 1n })],
      -32000,
      /^insufficient funds/,
    );
    expect(refused.message).toMatch(/holds 0 wei and the transaction needs 1/);
    expect((await call('eth_getTransactionCount', [wallet.address, 'pending'])).result).toBe('0x0');
    const ok = await call('eth_sendRawTransaction', [await sign(wallet, 0)]);
    expect((await receipt(ok.result as string)).status).toBe('0x1');
  });
});

describe('JSON-RPC: batches, notifications and limits', () => {
  it('default: a batch of valid and invalid requests is answered in order, without its notifications', async () => {
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] },
      { jsonrpc: '2.0', id: 'two', method: 'eth_noSuchMethod', params: [] },
      { jsonrpc: '2.0', method: 'eth_blockNumber', params: [] },
      { jsonrpc: '2.0', id: 3, method: 'eth_getBalance', params: ['0x12', 'latest'] },
      17,
      { jsonrpc: '2.0', id: 4.5, method: 'net_version' },
      { jsonrpc: '2.0', id: null, method: 'web3_clientVersion', params: [] },
    ];
    const { status, json } = await post(batch);
    expect(status).toBe(200);
    const answers = json as RpcResponse[];
    expect(answers.map((a) => a.id)).toEqual([1, 'two', 3, null, 4.5, null]);
    expect(answers[0]?.result).toBe('0x7a69');
    expect(answers[1]?.error?.code).toBe(-32601);
    expect(answers[2]?.error?.code).toBe(-32602);
    expect(answers[3]?.error?.code).toBe(-32600);
    expect(answers[4]?.result).toBe('31337');
    expect(answers[5]?.result).toMatch(/^polis\//);
  });

  it('error: an empty batch is one -32600 error', async () => {
    const { status, json } = await post([]);
    expect(status).toBe(200);
    expect(json).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringMatching(/empty batch/) } });
  });

  it('behavior: notifications get no response body', async () => {
    const one = await post({ jsonrpc: '2.0', method: 'eth_blockNumber', params: [] });
    expect(one.status).toBe(204);
    expect(one.text).toBe('');
    const all = await post([
      { jsonrpc: '2.0', method: 'eth_blockNumber' },
      { jsonrpc: '2.0', method: 'eth_noSuchMethod' },
    ]);
    expect(all.status).toBe(204);
    expect(all.text).toBe('');
  });

  it('error: an oversized body is HTTP 413 with a JSON-RPC error body', async () => {
    const huge = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'eth_sendRawTransaction',
      params: [`0x${'ab'.repeat(3 * 1024 * 1024)}`],
    });
    const { status, json } = await post(huge);
    expect(status).toBe(413);
    expect(json).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32005, message: expect.stringMatching(/larger than/) },
    });
  });

  it('error: a batch over the limit is one -32005 error', async () => {
    const { json } = await post(Array.from({ length: 1001 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_chainId' })));
    expect(json).toMatchObject({ id: null, error: { code: -32005, message: expect.stringMatching(/1001/) } });
  });

  it('error: unknown ledgers and routes are 404 with a JSON body', async () => {
    const base = url.replace(/\/v1\/.*$/, '');
    const ledger = await post({ jsonrpc: '2.0', id: 1, method: 'eth_chainId' }, `${base}/v1/nope`);
    expect(ledger.status).toBe(404);
    expect(ledger.json).toMatchObject({ error: { code: -32001, message: expect.stringMatching(/nope/) } });
    const route = await fetch(`${base}/elsewhere`);
    expect(route.status).toBe(404);
    expect(await route.json()).toMatchObject({ error: { code: 'NOT_FOUND', message: expect.stringMatching(/POST/) } });
  });
});

const METHODS = [
  'web3_clientVersion',
  'web3_sha3',
  'net_version',
  'net_listening',
  'eth_chainId',
  'eth_blockNumber',
  'eth_syncing',
  'eth_gasPrice',
  'eth_maxPriorityFeePerGas',
  'eth_feeHistory',
  'eth_getBlockByNumber',
  'eth_getBlockByHash',
  'eth_getBlockTransactionCountByNumber',
  'eth_getBlockTransactionCountByHash',
  'eth_getTransactionByHash',
  'eth_getTransactionByBlockNumberAndIndex',
  'eth_getTransactionReceipt',
  'eth_getBlockReceipts',
  'eth_getTransactionCount',
  'eth_getBalance',
  'eth_getCode',
  'eth_getStorageAt',
  'eth_call',
  'eth_estimateGas',
  'eth_sendRawTransaction',
  'eth_getLogs',
  'eth_getProof',
  'polis_getProof',
  'polis_getReceiptProof',
  'eth_noSuchMethod',
  'hasOwnProperty',
];

/** Random JSON values, biased towards what the methods parse: hex of every shape, tags, objects with the right keys. */
function generator(rand: () => number) {
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const hexOf = (bytes: number) => `0x${Array.from({ length: bytes }, () => int(256).toString(16).padStart(2, '0')).join('')}`;
  const leaf = (): unknown =>
    pick([
      () => hexOf(pick([0, 1, 2, 8, 20, 31, 32, 33, 64, 200])),
      () => `0x${int(2 ** 31).toString(16)}`,
      () => `0x${'f'.repeat(pick([16, 64, 65, 100]))}`,
      () => `0x0${int(1000)}`,
      () => pick(['latest', 'pending', 'earliest', 'safe', 'finalized', 'newest', '', '0x', '0X10', '-0x1', '0x-1']),
      () => pick([0, -1, 1.5, 2 ** 53, 1e308, Number.MAX_SAFE_INTEGER, int(100)]),
      () => pick([true, false, null]),
      () => 'x'.repeat(int(300)),
      () => String.fromCharCode(...Array.from({ length: int(20) }, () => int(0x3000))),
    ])();
  const value = (depth: number): unknown => {
    if (depth <= 0 || rand() < 0.55) return leaf();
    if (rand() < 0.5) return Array.from({ length: int(5) }, () => value(depth - 1));
    const keys = [
      'from',
      'to',
      'data',
      'input',
      'value',
      'gas',
      'fromBlock',
      'toBlock',
      'address',
      'topics',
      'blockHash',
      'blockNumber',
      'accessList',
      'storageKeys',
      'x',
    ];
    return Object.fromEntries(Array.from({ length: int(5) }, () => [pick(keys), value(depth - 1)]));
  };
  const request = (): unknown => {
    const shape = rand();
    if (shape < 0.05) return value(3); // not a request at all
    const r: Record<string, unknown> = {
      jsonrpc: rand() < 0.95 ? '2.0' : pick(['1.0', 2, null]),
      method: rand() < 0.97 ? pick(METHODS) : value(1),
    };
    if (rand() < 0.9) r.id = rand() < 0.9 ? int(1e6) : value(1);
    if (rand() < 0.95) r.params = rand() < 0.93 ? Array.from({ length: int(4) }, () => value(3)) : value(2);
    return r;
  };
  /** A body: a request, a batch, or bytes that are not JSON; `kind` is what the server must take it for. */
  const body = (): { text: string; kind: 'single' | 'batch' | 'garbage' } => {
    const shape = rand();
    const text =
      shape < 0.12
        ? pick([
            () => JSON.stringify(request()).slice(0, int(60)),
            () => String.fromCharCode(...Array.from({ length: int(40) }, () => int(256))),
            () => `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[${'['.repeat(int(3000))}`,
            () => '',
          ])()
        : shape < 0.25
          ? JSON.stringify(Array.from({ length: 1 + int(6) }, request))
          : JSON.stringify(request());
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { text, kind: 'garbage' };
    }
    // An empty array is answered with one error, like a single request.
    return { text, kind: Array.isArray(parsed) && parsed.length > 0 ? 'batch' : 'single' };
  };
  return { body };
}

/** Checks one JSON-RPC response object; returns what is wrong with it, or undefined. */
function malformed(res: unknown): string | undefined {
  if (typeof res !== 'object' || res === null || Array.isArray(res)) return 'not an object';
  const r = res as Record<string, unknown>;
  if (r.jsonrpc !== '2.0') return 'jsonrpc is not "2.0"';
  if (!('id' in r) || !(r.id === null || typeof r.id === 'string' || typeof r.id === 'number')) return 'bad id';
  if ('result' in r === 'error' in r) return 'needs exactly one of result and error';
  if ('error' in r) {
    const e = r.error as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || !Number.isInteger(e.code) || typeof e.message !== 'string' || e.message === '')
      return 'bad error object';
    if (e.code === -32603) return `internal error (a parameter slipped past validation): ${e.message}`;
  }
  return undefined;
}

describe('JSON-RPC: fuzz', () => {
  it('behavior: 2,000+ random and malformed requests each get a well-formed answer, and the server stays up', async () => {
    const seed = Number(process.env.POLIS_FUZZ_SEED ?? 0x5eed2026);
    const { body } = generator(seededRandom(seed));
    const requests = 2_400;
    const failures: string[] = [];
    let errors = 0;
    let results = 0;
    const one = async (i: number): Promise<void> => {
      const { text, kind } = body();
      const where = () => `seed=${seed} case=${i} body=${text.slice(0, 300)}`;
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
      const raw = await res.text();
      if (res.status === 204) {
        if (raw !== '' || kind === 'garbage') failures.push(`unexpected 204: ${where()}`);
        return;
      }
      if (res.status !== 200) {
        failures.push(`HTTP ${res.status} ${raw.slice(0, 200)}: ${where()}`);
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        failures.push(`response is not JSON (${raw.slice(0, 100)}): ${where()}`);
        return;
      }
      const answers = Array.isArray(json) ? json : [json];
      if (Array.isArray(json) && kind !== 'batch') failures.push(`array answer to a non-batch: ${where()}`);
      if (kind === 'garbage' && (json as RpcResponse).error?.code !== -32700) failures.push(`garbage not -32700: ${where()}`);
      for (const a of answers) {
        const problem = malformed(a);
        if (problem) failures.push(`${problem}: ${JSON.stringify(a).slice(0, 300)} for ${where()}`);
        else if ((a as RpcResponse).error) errors++;
        else results++;
      }
    };
    // Eight requests in flight at a time, as a busy client would send them.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < requests) await one(next++);
      }),
    );
    expect(failures.slice(0, 10), `seed=${seed}: ${failures.length} bad answers`).toEqual([]);
    expect(errors, 'most fuzz requests are errors').toBeGreaterThan(requests / 2);
    expect(results, 'some fuzz requests succeed').toBeGreaterThan(0);
    const alive = await call('eth_blockNumber');
    expect(alive.result, `seed=${seed}: the server must still answer`).toMatch(/^0x[0-9a-f]+$/);
  });
});
