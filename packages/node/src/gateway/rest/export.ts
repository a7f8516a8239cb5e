/**
 * `GET /api/v1/apps/{id}/export` (ADR 0008, issue P8): an app's ledger for a regulator (or the
 * owner's admin key), by block time, as NDJSON or CSV, a page at a time and streamed.
 *
 * - `kind`: `transactions` (one row per receipt), `events` (one row per log), `records` (the
 *   records service's `Recorded` logs, decoded) or `governance` (the system ledger's transactions
 *   that concern the app: proposals, approvals, the owner's key and participant changes).
 * - `from`/`to`: the block-time range `[from, to)` in milliseconds. Headers are ordered by time,
 *   so the first block is found by binary search.
 * - A page holds at most `limit` rows and reads at most `EXPORT_BLOCKS_PER_PAGE_MAX` blocks. Its
 *   next cursor encodes the range, the last height the export covers (the head when its first page
 *   was asked for, so later blocks never shift it) and the position of the next row (block height
 *   and index within the block): following the cursors yields every row exactly once.
 * - The page is planned before a byte is sent (a pass that only counts rows), so the cursor and
 *   the row count go in the headers `x-polis-next-cursor` and `x-polis-export-rows`; then the rows
 *   are read again and written as they are read: the answer is never held in memory. NDJSON ends
 *   with the line `{"next": <cursor or null>}`; CSV (RFC 4180: a header row, CRLF, quoted fields)
 *   has the cursor in the header only.
 */
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { bytesToHex, equalsBytes } from '@polis/core';
import { RECORDS_ABI, RECORDS_ADDRESS } from '@polis/execution';
import {
  type Action,
  decodeGovTx,
  type GovBody,
  type GovReceipt,
  type GovState,
  govTxHash,
  verifyGovTxSignature,
} from '@polis/governance';
import type { ChainStore } from '@polis/ledger';
import { decodeEventLog, encodeEventTopics, type Hex } from 'viem';
import { z } from 'zod';
import { type AuditedSystem, bodySummary } from '../audit.js';
import type { GatewayContext, GatewayLedger } from '../context.js';
import { type AnyRoute, defineRoute, RestError } from './route.js';

/** Rows one page holds at most. */
export const EXPORT_LIMIT_MAX = 10_000;
/** Rows a page holds when `limit` is not given. */
export const EXPORT_LIMIT_DEFAULT = 1_000;
/** Blocks one page reads at most: a sparse range answers with fewer rows and a cursor, never an unbounded scan. */
export const EXPORT_BLOCKS_PER_PAGE_MAX = 10_000;
/** Blocks the planning pass reads before it lets other requests run. */
const PLAN_YIELD_EVERY_BLOCKS = 256;
/** Characters written per chunk of the stream. */
const CHUNK_CHARS = 16 * 1024;
/** Characters of a cursor (it is a few dozen; this only bounds what is decoded). */
const CURSOR_CHARS_MAX = 512;

export const EXPORT_KINDS = ['transactions', 'events', 'records', 'governance'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];

/** The columns of each kind, in CSV order; NDJSON objects have the same keys. */
export const EXPORT_COLUMNS: Record<ExportKind, readonly string[]> = {
  transactions: ['block', 'time', 'index', 'hash', 'from', 'to', 'status', 'gasUsed'],
  events: ['block', 'time', 'txHash', 'logIndex', 'address', 'topics', 'data'],
  records: ['block', 'time', 'txHash', 'logIndex', 'hash', 'submitter', 'tag', 'meta', 'metaText'],
  governance: ['block', 'time', 'index', 'txHash', 'signer', 'type', 'action', 'proposalId', 'status', 'body'],
};

/** A cell: CSV writes arrays space-separated and null as an empty field. */
export type ExportValue = string | number | null | readonly string[];
/** One row of an export. */
export type ExportRow = Record<string, ExportValue>;

/** Where an export stands: the range, the last height it covers, and the next row's position. */
export type ExportCursor = {
  kind: ExportKind;
  from: number;
  to: number;
  /** The last height the export covers: the head when its first page was asked for. */
  end: number;
  height: number;
  index: number;
};

const CursorSchema = z.object({
  v: z.literal(1),
  k: z.enum(EXPORT_KINDS),
  f: z.number().int().min(0),
  t: z.number().int().min(0),
  e: z.number().int().min(0),
  h: z.number().int().min(0),
  i: z.number().int().min(0),
});

/** The opaque text of a cursor: base64url of a small versioned JSON object. */
export function cursorToText(c: ExportCursor): string {
  const json = { v: 1, k: c.kind, f: c.from, t: c.to, e: c.end, h: c.height, i: c.index };
  return Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');
}

/** The cursor a text names, or undefined when it is not one this gateway made. */
export function textToCursor(text: string): ExportCursor | undefined {
  if (text.length > CURSOR_CHARS_MAX || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const p = CursorSchema.safeParse(json);
  if (!p.success || p.data.f >= p.data.t) return undefined;
  return { kind: p.data.k, from: p.data.f, to: p.data.t, end: p.data.e, height: p.data.h, index: p.data.i };
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF; quotes doubled. */
export function csvField(v: ExportValue): string {
  let s = v === null ? '' : Array.isArray(v) ? v.join(' ') : String(v);
  // A text cell a spreadsheet would run as a formula is kept as text (OWASP's CSV-injection advice).
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One CSV record, CRLF-terminated as RFC 4180 has it. */
export function csvLine(values: readonly ExportValue[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** A block's rows with their index within the block, in order. */
export type RowsOf = (height: number, time: number) => Array<{ index: number; row: () => ExportRow }>;

/** What an export reads: a chain (for the times) and the rows of each of its blocks. */
export type ExportSource = { chain: ChainStore; rowsOf: RowsOf };

const RECORDED_TOPIC = (encodeEventTopics({ abi: RECORDS_ABI, eventName: 'Recorded' })[0] as Hex).toLowerCase();
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The metadata as text when it is valid UTF-8 (what applications usually store), else null. */
function utf8OrNull(hex: Hex): string | null {
  try {
    return UTF8.decode(Buffer.from(hex.slice(2), 'hex'));
  } catch {
    return null;
  }
}

function ledgerSource(ledger: GatewayLedger, kind: Exclude<ExportKind, 'governance'>): ExportSource {
  const chain = ledger.chain;
  const rowsOf: RowsOf = (height, time) => {
    const receipts = chain.receipts(height) ?? [];
    if (kind === 'transactions') {
      return receipts.map((r, index) => ({
        index,
        row: () => ({
          block: height,
          time,
          index,
          hash: bytesToHex(r.txHash),
          from: bytesToHex(r.from),
          to: r.to ? bytesToHex(r.to) : null,
          status: r.status,
          gasUsed: r.gasUsed.toString(),
        }),
      }));
    }
    const out: Array<{ index: number; row: () => ExportRow }> = [];
    let logIndex = 0;
    for (const r of receipts) {
      for (const log of r.logs) {
        const index = logIndex++;
        if (kind === 'events') {
          out.push({
            index,
            row: () => ({
              block: height,
              time,
              txHash: bytesToHex(r.txHash),
              logIndex: index,
              address: bytesToHex(log.address),
              topics: log.topics.map((t) => bytesToHex(t)),
              data: bytesToHex(log.data),
            }),
          });
          continue;
        }
        const topic0 = log.topics[0];
        if (!equalsBytes(log.address, RECORDS_ADDRESS) || !topic0 || bytesToHex(topic0) !== RECORDED_TOPIC) continue;
        out.push({
          index,
          row: () => {
            const e = decodeEventLog({
              abi: RECORDS_ABI,
              eventName: 'Recorded',
              topics: log.topics.map((t) => bytesToHex(t) as Hex) as [Hex, ...Hex[]],
              data: bytesToHex(log.data) as Hex,
            });
            return {
              block: height,
              time,
              txHash: bytesToHex(r.txHash),
              logIndex: index,
              hash: e.args.hash,
              submitter: e.args.submitter.toLowerCase(),
              tag: e.args.tag,
              meta: e.args.meta,
              metaText: utf8OrNull(e.args.meta),
            };
          },
        });
      }
    }
    return out;
  };
  return { chain, rowsOf };
}

function actionConcerns(a: Action, appId: string, state: GovState): boolean {
  switch (a.type) {
    case 'approveApp':
    case 'suspendApp':
    case 'resumeApp':
    case 'archiveApp':
    case 'setAppValidators':
      return a.appId === appId;
    case 'grantRegulator':
      return a.apps === 'all' || a.apps.includes(appId);
    case 'revokeRegulator': {
      // Once revoked the grant is gone from the state: an unknown grant may have covered the app.
      const grant = state.regulators.get(a.address);
      return !grant || grant.apps === 'all' || grant.apps.includes(appId);
    }
    default:
      return false;
  }
}

/** The action a governance body names: its own (propose) or its proposal's (approve). */
function actionOf(body: GovBody, state: GovState): Action | undefined {
  if (body.type === 'propose') return body.action;
  if (body.type === 'approve') return state.proposals.get(body.proposalId)?.action;
  return undefined;
}

/** Whether a governance transaction concerns `appId` (network-wide ones do not). */
function govConcerns(body: GovBody, appId: string, state: GovState): boolean {
  switch (body.type) {
    case 'propose':
    case 'approve': {
      const action = actionOf(body, state);
      return action !== undefined && actionConcerns(action, appId, state);
    }
    case 'requestApp':
      return body.id === appId;
    case 'putParticipant':
    case 'removeParticipant':
    case 'putApiKey':
    case 'revokeApiKey':
      return body.appId === appId;
    default:
      return false;
  }
}

function governanceSource(system: AuditedSystem, appId: string): ExportSource {
  // The node's SystemApp keeps each transaction's receipt; `AuditedSystem` does not promise it.
  const receiptOf = (system as AuditedSystem & { receipt?: (hash: Uint8Array) => GovReceipt | undefined }).receipt?.bind(system);
  const rowsOf: RowsOf = (height, time) => {
    const out: Array<{ index: number; row: () => ExportRow }> = [];
    (system.chain.txs(height) ?? []).forEach((raw, index) => {
      const tx = decodeGovTx(raw);
      if (!govConcerns(tx.body, appId, system.state)) return;
      out.push({
        index,
        row: () => {
          const hash = govTxHash(raw);
          const receipt = receiptOf?.(hash);
          const created = receipt?.events.find((e) => e.type === 'proposal-created');
          return {
            block: height,
            time,
            index,
            txHash: bytesToHex(hash),
            signer: verifyGovTxSignature(tx).id,
            type: tx.body.type,
            action: actionOf(tx.body, system.state)?.type ?? null,
            proposalId:
              tx.body.type === 'approve' ? tx.body.proposalId : created && 'proposalId' in created ? created.proposalId : null,
            status: receipt?.status ?? null,
            body: JSON.stringify(bodySummary(tx.body)),
          };
        },
      });
    });
    return out;
  };
  return { chain: system.chain, rowsOf };
}

/** The first height in `[0, end]` whose block time is at least `from` (end + 1 when none is). */
export function firstHeightAtOrAfter(chain: ChainStore, from: number, end: number): number {
  let lo = 0;
  let hi = end + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const header = chain.header(mid);
    if (!header) throw new RestError(500, 'INTERNAL', `block ${mid} is missing from this node's chain store`);
    if (header.time < from) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How a page ends: its row count and the position of the first row it leaves out (null at the end). */
export type PagePlan = { rows: number; stop: { height: number; index: number }; next: ExportCursor | null };

/**
 * Counts the rows of a page from `c` without building them: where it stops (the `limit + 1`-th
 * row, the end of the range, or the block budget) and the next cursor.
 */
export async function planExportPage(source: ExportSource, c: ExportCursor, limit: number): Promise<PagePlan> {
  let rows = 0;
  let blocks = 0;
  for (let h = c.height; h <= c.end; h++) {
    if (blocks === EXPORT_BLOCKS_PER_PAGE_MAX) {
      const stop = { height: h, index: 0 };
      return { rows, stop, next: { ...c, ...stop } };
    }
    const header = source.chain.header(h);
    if (!header) throw new RestError(500, 'INTERNAL', `block ${h} is missing from this node's chain store`);
    if (header.time >= c.to) return { rows, stop: { height: h, index: 0 }, next: null };
    blocks++;
    for (const { index } of source.rowsOf(h, header.time)) {
      if (h === c.height && index < c.index) continue;
      if (rows === limit) {
        const stop = { height: h, index };
        return { rows, stop, next: { ...c, ...stop } };
      }
      rows++;
    }
    if (blocks % PLAN_YIELD_EVERY_BLOCKS === 0) await new Promise((done) => setImmediate(done));
  }
  return { rows, stop: { height: c.end + 1, index: 0 }, next: null };
}

/** The rows of a page, from `c` up to (not including) `stop`, block by block. */
function* pageRows(source: ExportSource, c: ExportCursor, stop: { height: number; index: number }): Generator<ExportRow> {
  for (let h = c.height; h <= stop.height && h <= c.end; h++) {
    const header = source.chain.header(h);
    if (!header) throw new Error(`block ${h} is missing from this node's chain store`);
    for (const { index, row } of source.rowsOf(h, header.time)) {
      if (h === c.height && index < c.index) continue;
      if (h === stop.height && index >= stop.index) return;
      yield row();
    }
  }
}

/** The text of a page, in chunks of about CHUNK_CHARS, counting the bytes for the meter. */
async function* pageText(
  rows: Iterable<ExportRow>,
  kind: ExportKind,
  format: 'json' | 'csv',
  next: string | null,
  note: string | undefined,
  onBytes: (n: number) => void,
): AsyncGenerator<string> {
  const columns = EXPORT_COLUMNS[kind];
  let chunk = format === 'csv' ? csvLine(columns) : '';
  const flush = () => {
    const out = chunk;
    onBytes(Buffer.byteLength(out, 'utf8'));
    chunk = '';
    return out;
  };
  for (const row of rows) {
    chunk += format === 'csv' ? csvLine(columns.map((k) => row[k] ?? null)) : `${JSON.stringify(row)}\n`;
    if (chunk.length >= CHUNK_CHARS) yield flush();
  }
  if (format === 'json') chunk += `${JSON.stringify(note ? { next, note } : { next })}\n`;
  if (chunk.length > 0) yield flush();
}

const QuerySchema = z.object({
  kind: z
    .enum(EXPORT_KINDS, { error: `must be one of ${EXPORT_KINDS.join(', ')}` })
    .optional()
    .describe('What to export (required unless cursor is given)'),
  from: z.coerce
    .number({ error: 'must be a time in milliseconds since the epoch' })
    .int('must be a whole number of milliseconds')
    .min(0)
    .optional()
    .describe('The first block time included, in ms since the epoch (default 0)'),
  to: z.coerce
    .number({ error: 'must be a time in milliseconds since the epoch' })
    .int('must be a whole number of milliseconds')
    .min(1)
    .optional()
    .describe('The first block time excluded, in ms since the epoch (default: no bound)'),
  format: z
    .enum(['json', 'csv'], { error: 'must be json (NDJSON) or csv' })
    .default('json')
    .describe('json: NDJSON, one object per line, the last {"next": cursor|null}; csv: RFC 4180 with a header row'),
  cursor: z.string().max(CURSOR_CHARS_MAX).optional().describe('The x-polis-next-cursor (or NDJSON "next") of the previous page'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(EXPORT_LIMIT_MAX, `at most ${EXPORT_LIMIT_MAX} rows per page: follow the cursor for more`)
    .default(EXPORT_LIMIT_DEFAULT)
    .describe(`Rows per page, 1 to ${EXPORT_LIMIT_MAX}`),
});

/** No bound on `to`: the export ends at the head as of its first page anyway. */
const TO_UNBOUNDED = Number.MAX_SAFE_INTEGER;

/** The cursor a request starts from: the one it passed (checked against its parameters) or a new one. */
function startOf(
  query: z.infer<typeof QuerySchema>,
  source: (kind: ExportKind) => ExportSource | undefined,
): { cursor: ExportCursor; source: ExportSource | undefined } {
  if (query.cursor !== undefined) {
    const c = textToCursor(query.cursor);
    if (!c) {
      throw new RestError(
        400,
        'INVALID_CURSOR',
        'the cursor is not one this gateway gave: pass the x-polis-next-cursor header (or the NDJSON "next" value) of the previous page unchanged, or start again without a cursor',
        ['query.cursor: not a valid export cursor'],
      );
    }
    const differs = [
      query.kind !== undefined && query.kind !== c.kind ? `kind (${c.kind})` : undefined,
      query.from !== undefined && query.from !== c.from ? `from (${c.from})` : undefined,
      query.to !== undefined && query.to !== c.to ? `to (${c.to})` : undefined,
    ].filter((x) => x !== undefined);
    if (differs.length > 0) {
      throw new RestError(
        400,
        'INVALID_CURSOR',
        `the cursor belongs to an export with another ${differs.join(', ')}: pass the same kind, from and to as the first page, or leave them out`,
        differs.map((d) => `query.${d.split(' ')[0]}: differs from the cursor's`),
      );
    }
    return { cursor: c, source: source(c.kind) };
  }
  if (query.kind === undefined) {
    throw new RestError(400, 'INVALID_REQUEST', `kind is required: one of ${EXPORT_KINDS.join(', ')}`, [
      'query.kind: required without a cursor',
    ]);
  }
  const from = query.from ?? 0;
  const to = query.to ?? TO_UNBOUNDED;
  if (from >= to) {
    throw new RestError(
      400,
      'INVALID_REQUEST',
      `the range [from, to) is empty: from (${from}) must be below to (${to}); both are block times in ms since the epoch`,
      ['query.to: must be greater than from'],
    );
  }
  const s = source(query.kind);
  const end = s ? s.chain.head() : 0;
  const height = s ? firstHeightAtOrAfter(s.chain, from, end) : 0;
  return { cursor: { kind: query.kind, from, to, end, height, index: 0 }, source: s };
}

/** The export route. `ctx.system` is the system ledger when this node hosts one (governance). */
export function exportRoutes(ctx: GatewayContext): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/apps/{id}/export',
      summary:
        `Exports the app's transactions, events, records or governance actions in a block-time range [from, to), streamed as NDJSON or CSV, ` +
        `at most limit rows and ${EXPORT_BLOCKS_PER_PAGE_MAX} blocks per page; the next page's cursor is in the x-polis-next-cursor header (and the last NDJSON line)`,
      tag: 'audit',
      scope: 'regulator',
      query: QuerySchema,
      response: z.record(z.string(), z.unknown()).describe(
        `One row per NDJSON line (application/x-ndjson) or CSV record (text/csv), with the columns of its kind: ${Object.entries(
          EXPORT_COLUMNS,
        )
          .map(([k, cols]) => `${k}: ${cols.join(', ')}`)
          .join('; ')}`,
      ),
      errors: { 400: 'A bad parameter or cursor; the message says which and what to pass' },
      handler: async ({ query, ledger, auth, reply }) => {
        const sourceOf = (kind: ExportKind): ExportSource | undefined => {
          if (kind !== 'governance') return ledgerSource(ledger, kind);
          return ctx.system ? governanceSource(ctx.system, ledger.id) : undefined;
        };
        const { cursor, source } = startOf(query, sourceOf);
        const note = source
          ? undefined
          : 'this node hosts no system ledger, so it has no governance actions to export; ask a node that hosts it';
        const plan = source
          ? await planExportPage(source, cursor, query.limit)
          : { rows: 0, stop: { height: 0, index: 0 }, next: null };
        const next = plan.next ? cursorToText(plan.next) : null;
        let bytes = 0;
        const text = pageText(source ? pageRows(source, cursor, plan.stop) : [], cursor.kind, query.format, next, note, (n) => {
          bytes += n;
        });
        const stream = Readable.from(text);
        // A stalled reader must not hold the request past the route's timeout: the answer is cut
        // (the client sees a broken response, not a short page) and the same cursor may be retried.
        const timer = setTimeout(
          () => stream.destroy(new Error('the export was not read in time')),
          Math.max(ctx.config.requestTimeoutMs - 1_000, ctx.config.requestTimeoutMs / 2),
        );
        reply
          .code(200)
          .header(
            'content-type',
            query.format === 'csv' ? 'text/csv; charset=utf-8; header=present' : 'application/x-ndjson; charset=utf-8',
          )
          .header('x-polis-export-rows', String(plan.rows));
        if (next) reply.header('x-polis-next-cursor', next);
        if (note) reply.header('x-polis-export-note', note);
        reply.send(stream);
        try {
          await finished(reply.raw);
        } catch {
          // A cut answer (a client gone, the timer above): there is nothing more to send.
        } finally {
          clearTimeout(timer);
          ctx.chargeOut(auth, bytes);
        }
        // The route answers JSON unless the reply is done; a cut stream leaves it neither ended nor sent.
        if (!reply.sent) reply.hijack();
        return undefined;
      },
    }),
  ];
}
