/**
 * The regulator export (`GET /api/v1/apps/{id}/export`, ADR 0008) against a real node with a
 * system ledger: transactions, events, records and governance actions in a block-time range, as
 * NDJSON and as CSV; following the cursors yields every row exactly once (checked against
 * eth_getLogs and the receipts); keys without the regulator or admin scope are refused; bad
 * parameters answer 400 saying what to pass; and the regulator's export is in the owner's audit view.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { bytesToHex, keccak256, privateKeyToAddress, utf8ToBytes } from '@polis/core';
import { RECORDS_ABI, RECORDS_ADDRESS } from '@polis/execution';
import { encodeGovTx, type GovBody, signGovTxSecp256k1 } from '@polis/governance';
import type { ChainStore } from '@polis/ledger';
import { Contract, type InterfaceAbi, JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  csvField,
  csvLine,
  cursorToText,
  EXPORT_BLOCKS_PER_PAGE_MAX,
  EXPORT_COLUMNS,
  planExportPage,
} from '../src/gateway/rest/export.js';
import { grantAppKey } from '../src/index.js';
import { type DevNode, type Json, restCall, rpcCall, startDevNode, TEST_APP } from './devNode.js';

const SYSTEM_CHAIN_ID = 79;
const keyOf = (name: string) => keccak256(utf8ToBytes(`polis export test ${name}`));
const signer = (name: string) => ({ key: keyOf(name), address: bytesToHex(privateKeyToAddress(keyOf(name))) });
const admin1 = signer('admin 1');
const admin2 = signer('admin 2');
const REGULATOR_ADDRESS = '0x00000000000000000000000000000000000000cc';
const h = (s: string) => bytesToHex(keccak256(utf8ToBytes(s)));
/** Metadata that needs every kind of CSV quoting. */
const AWKWARD = 'lot 7, "fragile"\nsecond line';

let dev: DevNode;
let provider: JsonRpcProvider;
let regulator: string;
let regulatorId: string;
let reader: string;
let writer: string;
/** The range [from, to) holds exactly the blocks of phase A. */
let range: { from: number; to: number; firstBlock: number; lastBlock: number };
let txsA: string[];

type Page = { status: number; headers: Headers; text: string };

async function exportPage(query: Record<string, string | number>, key = regulator): Promise<Page> {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const res = await fetch(`${dev.baseUrl}/api/v1/apps/${TEST_APP.id}/export?${qs}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The NDJSON rows of a page and its closing `next`. */
function ndjson(page: Page): { rows: Json[]; next: string | null; last: Json } {
  expect(page.status, page.text).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  expect(page.text.endsWith('\n')).toBe(true);
  const lines = page.text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  const last = lines.pop();
  expect(Object.keys(last)).toContain('next');
  expect(page.headers.get('x-polis-next-cursor') ?? null).toBe(last.next);
  expect(Number(page.headers.get('x-polis-export-rows'))).toBe(lines.length);
  return { rows: lines, next: last.next, last };
}

/** RFC 4180 records, parsed independently of the writer. */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
    } else if (c === '"') {
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      out.push(row);
      row = [];
      field = '';
      i += 2;
    } else {
      field += c;
      i++;
    }
  }
  expect(field, 'the CSV ends with CRLF').toBe('');
  return out;
}

/** Follows the cursors of an NDJSON export; returns the rows of all pages and each page's size. */
async function followAll(query: Record<string, string | number>): Promise<{ rows: Json[]; sizes: number[] }> {
  const rows: Json[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const p = ndjson(await exportPage(cursor ? { cursor, limit: query.limit as number } : query));
    rows.push(...p.rows);
    sizes.push(p.rows.length);
    cursor = p.next;
    if (cursor === null) return { rows, sizes };
  }
  throw new Error('the cursors never ended');
}

async function blockTime(n: number): Promise<number> {
  const b = await restCall(dev, `/blocks/${n}`);
  expect(b.status).toBe(200);
  return b.body.timestampMs;
}

async function gov(s: { key: Uint8Array; address: string }, body: GovBody): Promise<{ status: string }> {
  const sysUrl = `${dev.baseUrl}/v1/system`;
  const nonce = await rpcCall<number>(sysUrl, 'gov_getNonce', [s.address]);
  const tx = signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce, body }, s.key);
  const hash = await rpcCall<string>(sysUrl, 'gov_sendTransaction', [bytesToHex(encodeGovTx(tx))]);
  for (let i = 0; i < 400; i++) {
    const r = await rpcCall<{ status: string } | null>(sysUrl, 'gov_getReceipt', [hash]);
    if (r) return r;
    await sleep(25);
  }
  throw new Error(`no governance receipt for ${hash}`);
}

beforeAll(async () => {
  dev = await startDevNode({
    heartbeatMs: 200,
    gateway: { reloadMs: 50 },
    system: { chainId: SYSTEM_CHAIN_ID, admins: [admin1.address, admin2.address], threshold: 2, operator: admin1.address },
  });
  regulator = grantAppKey(dev.accessFile, { appId: TEST_APP.id, plan: 'dedicated', scopes: ['regulator'] });
  reader = grantAppKey(dev.accessFile, { appId: TEST_APP.id, plan: 'dedicated', scopes: ['read'] });
  writer = grantAppKey(dev.accessFile, { appId: TEST_APP.id, plan: 'dedicated', scopes: ['read', 'write'] });
  regulatorId = regulator.split('_')[1] as string;
  provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  const alice = new Wallet(dev.accounts[0]?.privateKey as string, provider);
  const bob = new Wallet(dev.accounts[1]?.privateKey as string, provider);
  const records = new Contract(bytesToHex(RECORDS_ADDRESS), RECORDS_ABI as InterfaceAbi, alice);
  const meta = (s: string) => bytesToHex(utf8ToBytes(s));

  // Before the range: one record.
  const before = await (await records.getFunction('record')(h('before'), meta('before'))).wait();
  // Phase A, the range: a batch of 12 records in one transaction, a single record with awkward
  // metadata, and two transfers.
  const a1 = await (
    await records.getFunction('recordBatch')(
      Array.from({ length: 12 }, (_, i) => h(`batch ${i}`)),
      `0x${'00'.repeat(31)}07`,
      Array.from({ length: 12 }, (_, i) => meta(`item ${i}`)),
    )
  ).wait();
  const a2 = await (await records.getFunction('record')(h('awkward'), meta(AWKWARD))).wait();
  const a3 = await (await bob.sendTransaction({ to: alice.address, value: 1n })).wait();
  const a4 = await (await bob.sendTransaction({ to: alice.address, value: 2n })).wait();
  txsA = [a1, a2, a3, a4].map((r) => r?.hash as string);
  const firstBlock = a1?.blockNumber as number;
  const lastBlock = a4?.blockNumber as number;
  expect(before?.blockNumber).toBeLessThan(firstBlock);
  // Phase B, after the range.
  const b1 = await (await records.getFunction('record')(h('after'), meta('after'))).wait();
  expect(b1?.blockNumber).toBeGreaterThan(lastBlock);
  range = { from: await blockTime(firstBlock), to: (await blockTime(lastBlock)) + 1, firstBlock, lastBlock };

  // Governance: a proposal (a regulator for every app) and its approval concern the app; a
  // proposal about another app does not (it fails: that app is unknown, but it is on the ledger).
  expect(
    (
      await gov(admin1, {
        type: 'propose',
        action: { type: 'grantRegulator', address: REGULATOR_ADDRESS, apps: 'all' },
        expiresAt: Date.now() + 600_000,
      })
    ).status,
  ).toBe('ok');
  expect((await gov(admin2, { type: 'approve', proposalId: 1 })).status).toBe('ok');
  expect(
    (await gov(admin1, { type: 'propose', action: { type: 'suspendApp', appId: 'elsewhere' }, expiresAt: Date.now() + 600_000 }))
      .status,
  ).toBe('failed');

  // The gateway re-reads the access file every 50 ms.
  for (let i = 0; i < 100; i++) {
    if ((await restCall(dev, '/blocks/latest', { key: writer })).status === 200) return;
    await sleep(50);
  }
  throw new Error('the new keys never became valid');
});

afterAll(async () => {
  provider?.destroy();
  await dev?.close();
});

describe('export', () => {
  it('default: transactions as NDJSON cover the range and nothing outside it', async () => {
    const page = ndjson(await exportPage({ kind: 'transactions', from: range.from, to: range.to }));
    expect(page.next).toBeNull();
    expect(page.rows.map((r) => r.hash)).toEqual(txsA);
    for (const r of page.rows) {
      expect(Object.keys(r), r.hash).toEqual([...EXPORT_COLUMNS.transactions]);
      expect(r.block, r.hash).toBeGreaterThanOrEqual(range.firstBlock);
      expect(r.block, r.hash).toBeLessThanOrEqual(range.lastBlock);
      expect(r.time, r.hash).toBeGreaterThanOrEqual(range.from);
      expect(r.time, r.hash).toBeLessThan(range.to);
      const receipt = await rpcCall<Json>(dev.rpcUrl, 'eth_getTransactionReceipt', [r.hash]);
      expect([r.from, r.to, r.status, r.gasUsed, r.index], r.hash).toEqual([
        receipt.from,
        receipt.to,
        Number(receipt.status),
        BigInt(receipt.gasUsed).toString(),
        Number(receipt.transactionIndex),
      ]);
    }
    // Without a range, the export holds the transactions before and after it too.
    const all = ndjson(await exportPage({ kind: 'transactions' }));
    expect(all.rows.length).toBe(txsA.length + 2);
  });

  it('behavior: following the cursors yields every event exactly once, as eth_getLogs has them', async () => {
    const logs = await rpcCall<Json[]>(dev.rpcUrl, 'eth_getLogs', [
      { fromBlock: `0x${range.firstBlock.toString(16)}`, toBlock: `0x${range.lastBlock.toString(16)}` },
    ]);
    expect(logs.length).toBe(13);
    for (const limit of [1, 5, 13, 1000]) {
      const { rows, sizes } = await followAll({ kind: 'events', from: range.from, to: range.to, limit });
      expect(
        rows.map((r) => [r.txHash, r.logIndex, r.address, r.topics, r.data, r.block]),
        `limit ${limit}`,
      ).toEqual(logs.map((l) => [l.transactionHash, Number(l.logIndex), l.address, l.topics, l.data, Number(l.blockNumber)]));
      for (const s of sizes.slice(0, -1)) expect(s, `limit ${limit}`).toBe(limit);
      expect(sizes.length, `limit ${limit}`).toBe(Math.ceil(13 / limit));
    }
  });

  it('behavior: records are decoded, paginated within one block, and CSV quotes commas, quotes and newlines', async () => {
    const { rows } = await followAll({ kind: 'records', from: range.from, to: range.to, limit: 4 });
    expect(rows.map((r) => r.hash)).toEqual([...Array.from({ length: 12 }, (_, i) => h(`batch ${i}`)), h('awkward')]);
    expect(rows[3].metaText).toBe('item 3');
    expect(rows[3].tag).toBe(`0x${'00'.repeat(31)}07`);
    expect(rows[12].metaText).toBe(AWKWARD);
    expect(rows[12].submitter).toBe(dev.accounts[0]?.address.toLowerCase());

    const csv = await exportPage({ kind: 'records', from: range.from, to: range.to, format: 'csv' });
    expect(csv.status, csv.text).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('x-polis-next-cursor')).toBeNull();
    expect(csv.text).toContain('"lot 7, ""fragile""\nsecond line"');
    const table = parseCsv(csv.text);
    expect(table[0]).toEqual([...EXPORT_COLUMNS.records]);
    expect(table.length).toBe(14);
    const awkward = table[13] as string[];
    expect(awkward[EXPORT_COLUMNS.records.indexOf('metaText')]).toBe(AWKWARD);
    expect(awkward[EXPORT_COLUMNS.records.indexOf('hash')]).toBe(h('awkward'));
    // The same rows as the NDJSON export, field by field.
    for (const [i, r] of rows.entries()) {
      expect(table[i + 1], r.hash).toEqual(EXPORT_COLUMNS.records.map((k) => (r[k] === null ? '' : String(r[k]))));
    }
  });

  it('behavior: CSV pages carry the cursor in x-polis-next-cursor, and following it yields every row once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const p = await exportPage(
        cursor
          ? { cursor, format: 'csv', limit: 3 }
          : { kind: 'transactions', from: range.from, to: range.to, format: 'csv', limit: 3 },
      );
      expect(p.status, p.text).toBe(200);
      const table = parseCsv(p.text);
      expect(table[0]).toEqual([...EXPORT_COLUMNS.transactions]);
      expect(Number(p.headers.get('x-polis-export-rows'))).toBe(table.length - 1);
      seen.push(...table.slice(1).map((r) => r[EXPORT_COLUMNS.transactions.indexOf('hash')] as string));
      cursor = p.headers.get('x-polis-next-cursor');
      if (!cursor) break;
    }
    expect(cursor).toBeNull();
    expect(seen).toEqual(txsA);
  });

  it('behavior: governance lists the proposals and approvals that concern the app, without the others', async () => {
    const { rows } = await followAll({ kind: 'governance', limit: 1 });
    expect(rows.map((r) => [r.type, r.action, r.proposalId, r.status])).toEqual([
      ['propose', 'grantRegulator', 1, 'ok'],
      ['approve', 'grantRegulator', 1, 'ok'],
    ]);
    expect(JSON.parse(rows[0].body).action).toEqual({ type: 'grantRegulator', address: REGULATOR_ADDRESS, apps: 'all' });
    expect(rows.map((r) => r.signer.toLowerCase())).toEqual([admin1.address, admin2.address]);
    // The system ledger's time range: nothing before the first governance block.
    const none = ndjson(await exportPage({ kind: 'governance', from: 0, to: rows[0].time }));
    expect(none.rows).toEqual([]);
  });

  it('error: keys without the regulator or admin scope are refused with 403', async () => {
    for (const [name, key] of [
      ['read', reader],
      ['write', writer],
    ] as const) {
      const r = await exportPage({ kind: 'transactions' }, key);
      expect(r.status, name).toBe(403);
      expect(JSON.parse(r.text).error.message, name).toMatch(/needs "regulator"/);
    }
    // The owner's admin key may export.
    expect((await exportPage({ kind: 'transactions' }, dev.apiKey)).status).toBe(200);
  });

  it('error: bad parameters answer 400 with what to pass', async () => {
    const cases: Array<[string, Record<string, string | number>, RegExp]> = [
      ['from after to', { kind: 'events', from: 2000, to: 1000 }, /from \(2000\) must be below to \(1000\)/],
      ['from equal to to', { kind: 'events', from: 1000, to: 1000 }, /must be below to/],
      ['unknown kind', { kind: 'blocks' }, /query\.kind: must be one of transactions, events, records, governance/],
      ['no kind', { from: 0 }, /kind is required/],
      ['bad format', { kind: 'events', format: 'xml' }, /query\.format: must be json/],
      ['limit too high', { kind: 'events', limit: 10_001 }, /query\.limit: at most 10000/],
      ['limit zero', { kind: 'events', limit: 0 }, /query\.limit/],
      ['a cursor that is not one', { cursor: 'not-a-cursor' }, /pass the x-polis-next-cursor header .* unchanged/],
      ['a cursor that is not base64', { cursor: 'a+b/c' }, /not one this gateway gave/],
      [
        'a cursor of another export',
        {
          kind: 'transactions',
          cursor: cursorToText({ kind: 'events', from: 0, to: 10, end: 5, height: 0, index: 0 }),
        },
        /another kind \(events\)/,
      ],
    ];
    for (const [name, query, message] of cases) {
      const r = await exportPage(query);
      expect(r.status, name).toBe(400);
      const err = JSON.parse(r.text).error;
      expect(`${err.message} ${(err.issues ?? []).join(' ')}`, name).toMatch(message);
    }
  });

  it("behavior: the regulator's exports appear in the owner's audit view", async () => {
    const before = (await restCall(dev, '/audit?limit=1000')).body.entries.length;
    await exportPage({ kind: 'records', from: range.from, to: range.to, format: 'csv' });
    const entries: Json[] = (await restCall(dev, '/audit?limit=1000')).body.entries.slice(before);
    const mine = entries.filter((e) => e.actor === regulatorId);
    expect(mine.map((e) => e.action)).toEqual(['GET /api/v1/apps/{id}/export']);
    const detail = JSON.parse(mine[0].detail);
    expect(detail.query).toEqual({ kind: 'records', from: String(range.from), to: String(range.to), format: 'csv' });
    expect(mine[0].scope).toBe('regulator');
  });
});

describe('export writer and bounds', () => {
  it('default: CSV fields follow RFC 4180', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField(null)).toBe('');
    expect(csvField(12)).toBe('12');
    expect(csvField(['0xa', '0xb'])).toBe('0xa 0xb');
    expect(csvLine(['a', 'b,c', null])).toBe('a,"b,c",\r\n');
    expect(parseCsv(csvLine([AWKWARD, 'x']))).toEqual([[AWKWARD, 'x']]);
  });

  it('behavior: a text cell a spreadsheet would run as a formula is kept as text; numbers are not touched', () => {
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    for (const lead of ['+', '-', '@']) expect(csvField(`${lead}1+1`)).toBe(`'${lead}1+1`);
    expect(csvField(-5)).toBe('-5');
    expect(csvField('0x2d')).toBe('0x2d');
  });

  it('behavior: a page reads at most EXPORT_BLOCKS_PER_PAGE_MAX blocks and returns a cursor after them', async () => {
    // 25,000 blocks 10 ms apart; one row every 5,000 blocks.
    const blocks = 25_000;
    const chain = {
      head: () => blocks - 1,
      header: (n: number) => (n < blocks ? { time: n * 10 } : undefined),
    } as unknown as ChainStore;
    let read = 0;
    const source = {
      chain,
      rowsOf: (n: number) => {
        read++;
        return n % 5_000 === 0 ? [{ index: 0, row: () => ({ block: n }) }] : [];
      },
    };
    const start = { kind: 'events' as const, from: 0, to: Number.MAX_SAFE_INTEGER, end: blocks - 1, height: 0, index: 0 };
    const first = await planExportPage(source, start, 1_000);
    expect(read).toBe(EXPORT_BLOCKS_PER_PAGE_MAX);
    expect(first.rows).toBe(2);
    expect(first.next).toMatchObject({ height: EXPORT_BLOCKS_PER_PAGE_MAX, index: 0 });
    const second = await planExportPage(source, first.next as typeof start, 1_000);
    expect(second.rows).toBe(2);
    const third = await planExportPage(source, second.next as typeof start, 1_000);
    expect(third.rows).toBe(1);
    expect(third.next).toBeNull();
    // A range that ends early stops at its first block past `to`, with no cursor.
    read = 0;
    const short = await planExportPage(source, { ...start, to: 10 * 7_000 }, 1_000);
    expect([short.rows, short.next, read]).toEqual([2, null, 7_000]);
  });
});
