/**
 * The explorer of an app's ledger: blocks (latest first, a page at a time), a block with its
 * transactions, a transaction with its input and logs decoded when the ABI is known (contracts
 * deployed from the portal, and the built-in services), accounts, records, certificates and
 * identity, and one search box that works out whether it was given a height, a hash, an address or
 * a DID. Everything is read through a city node's gateway with the portal's API key for the app,
 * like any other client; new blocks reach the browser live over a WebSocket that relays the
 * gateway's `newHeads`.
 */
import websocket from '@fastify/websocket';
import { bytesToHex, PolisError } from '@polis/core';
import { BUILTIN_SERVICES } from '@polis/execution';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  type Abi,
  type AbiEvent,
  type AbiFunction,
  decodeEventLog,
  decodeFunctionData,
  type Hex,
  toEventSelector,
  toFunctionSelector,
} from 'viem';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { type PortalContext, type RouteModule, requireUser } from '../http.js';
import { NetworkError, NetworkErrorCode } from '../network.js';
import type { User } from '../store/index.js';
import { appFor } from './apps.js';
import { jsonSafe } from './contracts.js';

/** Blocks one page lists at most. */
export const BLOCKS_PAGE_MAX = 25;
/** Blocks a page lists when the request does not say. */
export const BLOCKS_PAGE_DEFAULT = 15;
/** Events of a contract an account page lists at most (the most recent). */
export const ACCOUNT_EVENTS_MAX = 25;
/** Blocks back from the head an account page looks through for the contract's events. */
export const ACCOUNT_EVENTS_BLOCKS = 2_000;
/** Records a records page lists at most (the most recent). */
export const RECORDS_PAGE_MAX = 100;
/** Blocks back from the head a records page looks through when not told where to start. */
export const RECORDS_SCAN_BLOCKS = 10_000;
/** Certificate collections one page lists at most. */
export const COLLECTIONS_PAGE_MAX = 10;
/** Time one read of a gateway may take. */
export const GATEWAY_TIMEOUT_MS = 10_000;
/** Live sockets one signed-in user may hold open (tabs, windows). */
export const LIVE_SOCKETS_PER_USER_MAX = 8;
/** Live sockets the portal holds open at most, for all users. */
export const LIVE_SOCKETS_MAX = 500;
/** Bytes waiting to be sent to a browser beyond which it is too slow and is closed. */
export const LIVE_SEND_BUFFER_MAX_BYTES = 1024 * 1024;
/** Heads waiting to be turned into block summaries for one app; older ones are dropped beyond it. */
export const LIVE_PENDING_HEADS_MAX = 16;
/** The longest wait between two attempts to reopen the gateway's socket. */
export const LIVE_RECONNECT_MAX_MS = 10_000;

const HASH = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const HEIGHT = /^(0|[1-9][0-9]{0,14})$/;
const DID = /^did:polis:[a-z0-9-]+:0x[0-9a-fA-F]{40}$/;

/** Codes of `ExplorerError`; each is one the portal's error mapping turns into its HTTP status. */
export enum ExplorerErrorCode {
  /** The request names something malformed (a hash of the wrong length, a negative height ...). */
  INVALID_INPUT = 'INVALID_INPUT',
  /** The ledger has no such block, transaction, record, DID or collection. */
  NOT_FOUND = 'NOT_FOUND',
  /** The app's plan limits refused the read; `retryAfterSeconds` says when to try again. */
  THROTTLED = 'THROTTLED',
}

/** The payload of an `ExplorerError`. */
export type ExplorerErrorType =
  | { code: ExplorerErrorCode.INVALID_INPUT; field: string }
  | { code: ExplorerErrorCode.NOT_FOUND; what: string }
  | { code: ExplorerErrorCode.THROTTLED; retryAfterSeconds: number };

/** An error of the explorer, shown to the user as it is. */
export class ExplorerError extends PolisError<ExplorerErrorType> {
  override name = 'ExplorerError';
}

function invalid(field: string, message: string, hint = `Correct ${field} and try again`): ExplorerError {
  return new ExplorerError({ code: ExplorerErrorCode.INVALID_INPUT, field }, message, { hint });
}

/** A REST answer of the gateway: its status and JSON body. */
type GatewayAnswer = { status: number; body: Record<string, unknown> & { error?: { code: string; message: string } } };

/** The gateway's side of one app: its REST routes with the portal's key, trying each serving node in turn. */
type AppGateway = {
  appId: string;
  urls: string[];
  key: string;
  /** Reads a REST route under `/api/v1/apps/{id}`; only unreachable nodes and 5xx answers make it try the next node. */
  get(path: string, query?: Record<string, string | undefined>): Promise<GatewayAnswer>;
};

async function gatewayOf(ctx: PortalContext, appId: string): Promise<AppGateway> {
  const [urls, key] = await Promise.all([ctx.network.gatewaysFor(appId), ctx.apps.portalKey(appId)]);
  return {
    appId,
    urls,
    key,
    async get(path, query = {}) {
      const qs = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined)).toString();
      let last: GatewayAnswer | undefined;
      for (const url of urls) {
        let res: Response;
        try {
          res = await fetch(`${url}/api/v1/apps/${encodeURIComponent(appId)}${path}${qs ? `?${qs}` : ''}`, {
            headers: { authorization: `Bearer ${key}` },
            signal: AbortSignal.timeout(GATEWAY_TIMEOUT_MS),
          });
        } catch {
          continue;
        }
        const body = (await res.json().catch(() => ({}))) as GatewayAnswer['body'];
        const answer = { status: res.status, body, retryAfter: res.headers.get('retry-after') };
        if (res.status >= 500) {
          last = answer;
          continue;
        }
        if (res.status === 429) {
          const seconds = Number(answer.retryAfter ?? 1) || 1;
          throw new ExplorerError(
            { code: ExplorerErrorCode.THROTTLED, retryAfterSeconds: seconds },
            `the app's plan limits refused the explorer's read (${body.error?.message ?? 'rate limited'})`,
            { hint: "The explorer's reads count against the app's limits like any client's; wait a moment" },
          );
        }
        if (res.status === 401 || res.status === 403) {
          throw new NetworkError(
            { code: NetworkErrorCode.RPC_ERROR, method: `GET ${path}`, rpcCode: res.status },
            `the gateway refused the portal's key for the app "${appId}": ${body.error?.message ?? `HTTP ${res.status}`}`,
            { hint: 'The app may be suspended, or its portal key revoked; an admin can tell' },
          );
        }
        return answer;
      }
      if (last) {
        throw new NetworkError(
          { code: NetworkErrorCode.RPC_ERROR, method: `GET ${path}`, rpcCode: last.status },
          `the node failed to answer: ${last.body.error?.message ?? `HTTP ${last.status}`}`,
          { hint: 'Try again in a moment' },
        );
      }
      throw new NetworkError({ code: NetworkErrorCode.UNREACHABLE, urls }, `no node serving the app "${appId}" answered`, {
        hint: 'Check that the network is running, then reload',
      });
    },
  };
}

/** The body of a 2xx answer; 404 becomes NOT_FOUND and 400 INVALID_INPUT, with the gateway's words. */
function need<T>(answer: GatewayAnswer, what: string): T {
  if (answer.status >= 200 && answer.status < 300) return answer.body as T;
  const message = answer.body.error?.message ?? `HTTP ${answer.status}`;
  if (answer.status === 404) {
    throw new ExplorerError({ code: ExplorerErrorCode.NOT_FOUND, what }, message, { hint: 'Check what you searched for' });
  }
  throw invalid(what, message);
}

// --- Decoding ------------------------------------------------------------------------------------

/** A contract whose ABI the portal knows. */
type Known = { address: string; name: string; kind: 'portal' | 'service'; abi: Abi };

const SERVICES: Known[] = BUILTIN_SERVICES.map((s) => ({
  address: bytesToHex(s.address).toLowerCase(),
  name: `${s.name.charAt(0).toUpperCase()}${s.name.slice(1)} service`,
  kind: 'service' as const,
  abi: s.abi,
}));

/** The ABIs of an app: its portal-deployed contracts and the built-in services, by address and by selector. */
type Decoder = {
  byAddress: Map<string, Known>;
  events: Map<string, { item: AbiEvent; from: Known }[]>;
  functions: Map<string, { item: AbiFunction; from: Known }[]>;
};

async function decoderOf(ctx: PortalContext, appId: string): Promise<Decoder> {
  const contracts = await ctx.apps.contracts(appId);
  const known: Known[] = [
    ...SERVICES,
    ...contracts.map((c) => ({ address: c.address.toLowerCase(), name: c.name, kind: 'portal' as const, abi: c.abi as Abi })),
  ];
  const decoder: Decoder = { byAddress: new Map(), events: new Map(), functions: new Map() };
  for (const k of known) {
    decoder.byAddress.set(k.address, k);
    for (const item of k.abi) {
      try {
        if (item.type === 'event') push(decoder.events, toEventSelector(item), { item, from: k });
        if (item.type === 'function') push(decoder.functions, toFunctionSelector(item), { item, from: k });
      } catch {
        // An ABI entry viem cannot sign (a hand-edited upload) is skipped; the rest still decode.
      }
    }
  }
  return decoder;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** One decoded argument. */
type Arg = { name: string; type: string; value: unknown; indexed?: boolean };

function argsOf(inputs: readonly { name?: string | undefined; type: string; indexed?: boolean }[], values: unknown): Arg[] {
  const list = Array.isArray(values) ? values : undefined;
  const named = !list && values && typeof values === 'object' ? (values as Record<string, unknown>) : undefined;
  return inputs.map((input, i) => ({
    name: input.name || `arg${i}`,
    type: input.type,
    value: jsonSafe(list ? list[i] : input.name ? named?.[input.name] : undefined),
    ...(input.indexed !== undefined ? { indexed: input.indexed } : {}),
  }));
}

/** The name of `address` when the portal knows it. */
function nameOf(decoder: Decoder, address: string | null | undefined): string | undefined {
  return address ? decoder.byAddress.get(address.toLowerCase())?.name : undefined;
}

/** A call's input decoded by the ABI of its target, or of any known contract with that selector. */
function decodeInput(decoder: Decoder, to: string | null, input: string) {
  if (!to || input.length < 10) return undefined;
  const selector = input.slice(0, 10).toLowerCase();
  const target = decoder.byAddress.get(to.toLowerCase());
  const candidates = decoder.functions.get(selector) ?? [];
  const ordered = [...candidates.filter((c) => c.from === target), ...candidates.filter((c) => c.from !== target)];
  for (const c of ordered) {
    try {
      const { args } = decodeFunctionData({ abi: [c.item], data: input as Hex });
      return {
        contract: c.from.name,
        function: c.item.name,
        signature: `${c.item.name}(${c.item.inputs.map((i) => i.type).join(',')})`,
        matchedBy: c.from === target ? ('address' as const) : ('selector' as const),
        args: argsOf(c.item.inputs, args ?? []),
      };
    } catch {
      // Another ABI with the same selector may fit the data.
    }
  }
  return undefined;
}

type RawLog = {
  address: string;
  topics: string[];
  data: string;
  logIndex?: number;
  blockNumber?: number;
  transactionHash?: string;
};

/** A log decoded by the ABI of its emitter, or of any known contract with that event signature. */
function decodeLog(decoder: Decoder, log: RawLog) {
  const base = {
    address: log.address.toLowerCase(),
    ...(log.logIndex !== undefined ? { logIndex: log.logIndex } : {}),
    ...(log.blockNumber !== undefined ? { blockNumber: log.blockNumber } : {}),
    ...(log.transactionHash !== undefined ? { transactionHash: log.transactionHash } : {}),
    topics: log.topics,
    data: log.data,
  };
  const emitter = decoder.byAddress.get(base.address);
  const topic0 = log.topics[0]?.toLowerCase();
  const candidates = topic0 ? (decoder.events.get(topic0) ?? []) : [];
  const ordered = [...candidates.filter((c) => c.from === emitter), ...candidates.filter((c) => c.from !== emitter)];
  for (const c of ordered) {
    try {
      const decoded = decodeEventLog({ abi: [c.item], data: log.data as Hex, topics: log.topics as [Hex, ...Hex[]] });
      return {
        ...base,
        ...(emitter ? { contract: emitter.name } : {}),
        event: c.item.name,
        signature: `${c.item.name}(${c.item.inputs.map((i) => i.type).join(',')})`,
        matchedBy: c.from === emitter ? ('address' as const) : ('signature' as const),
        args: argsOf(c.item.inputs, decoded.args),
      };
    } catch {
      // Same signature, other indexing: try the next ABI.
    }
  }
  return { ...base, ...(emitter ? { contract: emitter.name } : {}) };
}

// --- Shapes ----------------------------------------------------------------------------------------

type GatewayTx = {
  hash: string;
  nonce: number;
  blockHash: string | null;
  blockNumber: number | null;
  transactionIndex: number | null;
  from: string;
  to: string | null;
  value: string;
  gas: string;
  input: string;
  type: number;
};
type GatewayBlock = {
  number: number;
  hash: string;
  parentHash: string;
  timestampMs: number;
  size: number;
  gasLimit: string;
  gasUsed: string;
  miner: string;
  stateRoot: string;
  transactionCount: number;
  transactions: (string | GatewayTx)[];
};
type GatewayReceipt = { status: number; gasUsed: string; contractAddress: string | null; logs: RawLog[]; blockNumber: number };

/** A block as a list shows it. */
export type BlockSummary = {
  number: number;
  hash: string;
  timestampMs: number;
  transactionCount: number;
  gasUsed: string;
  size: number;
  miner: string;
  transactions: string[];
};

function summaryOf(b: GatewayBlock): BlockSummary {
  return {
    number: b.number,
    hash: b.hash,
    timestampMs: b.timestampMs,
    transactionCount: b.transactionCount,
    gasUsed: b.gasUsed,
    size: b.size,
    miner: b.miner,
    transactions: b.transactions.map((t) => (typeof t === 'string' ? t : t.hash)),
  };
}

// --- Input -------------------------------------------------------------------------------------------

const hashParam = (field: string) => z.string().regex(HASH, `${field} must be 0x and 64 hex digits`);
const addressParam = (field: string) => z.string().regex(ADDRESS, `${field} must be 0x and 40 hex digits`);
const BlocksQuery = z.object({
  before: z.string().regex(HEIGHT, 'before must be a block height (digits)').optional(),
  limit: z.coerce.number().int().min(1).max(BLOCKS_PAGE_MAX).default(BLOCKS_PAGE_DEFAULT),
});
const RecordsQuery = z.object({
  submitter: addressParam('submitter').optional(),
  tag: hashParam('tag').optional(),
  fromBlock: z.string().regex(HEIGHT, 'fromBlock must be a block height (digits)').optional(),
  toBlock: z.string().regex(HEIGHT, 'toBlock must be a block height (digits)').optional(),
});
const CollectionId = z.string().regex(/^[1-9][0-9]{0,76}$/, 'collection must be a collection id: a whole number from 1');
const CertificatesQuery = z.object({ before: CollectionId.optional() });
const SearchQuery = z.object({ q: z.string().max(200).default('') });

/** Parses `value` with `schema`; a failure is a 400 with the schema's message. */
function parse<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw invalid(issue?.path.join('.') || field, issue?.message ?? `${field} is malformed`);
}

async function access(ctx: PortalContext, req: FastifyRequest): Promise<{ user: User; appId: string }> {
  const user = await requireUser(ctx, req);
  const app = await appFor(ctx, user, (req.params as { id: string }).id);
  return { user, appId: app.appId };
}

// --- Reads ---------------------------------------------------------------------------------------------

async function latestHeight(gw: AppGateway): Promise<number> {
  return need<GatewayBlock>(await gw.get('/blocks/latest'), 'the latest block').number;
}

async function blocksPage(gw: AppGateway, before: number | undefined, limit: number) {
  const head = await latestHeight(gw);
  const top = Math.min(before === undefined ? head : before - 1, head);
  const heights: number[] = [];
  for (let h = top; h >= 0 && heights.length < limit; h--) heights.push(h);
  const blocks = await Promise.all(
    heights.map(async (h) => summaryOf(need<GatewayBlock>(await gw.get(`/blocks/${h}`), `block ${h}`))),
  );
  const last = heights[heights.length - 1];
  return { head, blocks, ...(last !== undefined && last > 0 ? { nextBefore: last } : {}) };
}

async function blockDetail(gw: AppGateway, decoder: Decoder, ref: string) {
  const b = need<GatewayBlock>(await gw.get(`/blocks/${ref}`, { txs: 'true' }), `block ${ref}`);
  return {
    ...summaryOf(b),
    parentHash: b.parentHash,
    stateRoot: b.stateRoot,
    gasLimit: b.gasLimit,
    transactions: (b.transactions as GatewayTx[]).map((t) => {
      const input = decodeInput(decoder, t.to, t.input);
      return {
        hash: t.hash,
        index: t.transactionIndex,
        from: t.from,
        to: t.to,
        ...(nameOf(decoder, t.to) ? { toName: nameOf(decoder, t.to) } : {}),
        value: t.value,
        ...(input ? { method: input.function } : t.to === null ? { method: 'create contract' } : {}),
      };
    }),
  };
}

async function transactionDetail(gw: AppGateway, decoder: Decoder, hash: string) {
  const [txAnswer, receiptAnswer] = await Promise.all([gw.get(`/transactions/${hash}`), gw.get(`/receipts/${hash}`)]);
  const found = need<{ status: 'pending' | 'committed'; transaction: GatewayTx }>(txAnswer, `transaction ${hash}`);
  const t = found.transaction;
  const receipt = receiptAnswer.status === 200 ? (receiptAnswer.body as unknown as GatewayReceipt) : undefined;
  const input = decodeInput(decoder, t.to, t.input);
  const created = receipt?.contractAddress ?? undefined;
  return {
    hash: t.hash,
    status: found.status,
    blockNumber: t.blockNumber,
    blockHash: t.blockHash,
    index: t.transactionIndex,
    from: t.from,
    to: t.to,
    ...(nameOf(decoder, t.to) ? { toName: nameOf(decoder, t.to) } : {}),
    value: t.value,
    gas: t.gas,
    nonce: t.nonce,
    type: t.type,
    input: t.input,
    ...(input ? { decodedInput: input } : {}),
    ...(created
      ? { created: { address: created, ...(nameOf(decoder, created) ? { name: nameOf(decoder, created) } : {}) } }
      : {}),
    ...(receipt
      ? {
          receipt: {
            status: receipt.status === 1 ? ('success' as const) : ('reverted' as const),
            gasUsed: receipt.gasUsed,
            contractAddress: receipt.contractAddress,
          },
          logs: receipt.logs.map((l) => decodeLog(decoder, l)),
        }
      : { logs: [] }),
  };
}

async function accountDetail(gw: AppGateway, decoder: Decoder, address: string) {
  const account = need<{
    address: string;
    balance: string;
    nonce: number;
    pendingNonce: number;
    codeSize: number;
    isContract: boolean;
    blockNumber: number;
  }>(await gw.get(`/accounts/${address}`), `account ${address}`);
  const known = decoder.byAddress.get(address.toLowerCase());
  let events: ReturnType<typeof decodeLog>[] | undefined;
  let eventsNote: string | undefined;
  if (account.isContract) {
    const from = Math.max(0, account.blockNumber - ACCOUNT_EVENTS_BLOCKS + 1);
    const answer = await gw.get('/events', { address, fromBlock: String(from), toBlock: String(account.blockNumber) });
    if (answer.status === 200) {
      const logs = (answer.body as { events: RawLog[] }).events;
      events = logs
        .slice(-ACCOUNT_EVENTS_MAX)
        .reverse()
        .map((l) => decodeLog(decoder, l));
      eventsNote = `its most recent events in blocks ${from} to ${account.blockNumber}`;
    } else {
      eventsNote = `its events could not be listed: ${answer.body.error?.message ?? `HTTP ${answer.status}`}`;
    }
  }
  return {
    ...account,
    ...(known ? { contract: { name: known.name, kind: known.kind } } : {}),
    ...(events ? { events } : {}),
    ...(eventsNote ? { eventsNote } : {}),
    // The gateway indexes transactions by hash and logs by emitter, not by sender: an account's
    // own transactions cannot be listed without reading every block, which the explorer does not do.
    transactionsNote:
      'the network does not index transactions by account; search a transaction by its hash, or open a contract to see its events',
  };
}

async function recordsPage(gw: AppGateway, query: z.infer<typeof RecordsQuery>) {
  const head = await latestHeight(gw);
  const to = query.toBlock !== undefined ? Math.min(Number(query.toBlock), head) : head;
  const from = query.fromBlock !== undefined ? Number(query.fromBlock) : Math.max(0, to - RECORDS_SCAN_BLOCKS + 1);
  if (from > to) throw invalid('fromBlock', `fromBlock ${from} is after toBlock ${to}`);
  const answer = need<{
    records: { hash: string; submitter: string; tag: string; meta: string; blockNumber: number; transactionHash: string }[];
  }>(
    await gw.get('/records', {
      submitter: query.submitter,
      tag: query.tag,
      fromBlock: String(from),
      toBlock: String(to),
    }),
    'records',
  );
  const records = answer.records.slice(-RECORDS_PAGE_MAX).reverse();
  return { fromBlock: from, toBlock: to, total: answer.records.length, records };
}

async function recordDetail(gw: AppGateway, hash: string) {
  const r = need<{ exists: boolean; submitter: string; blockNumber: string; timestampMs: string; metaHash: string; tag: string }>(
    await gw.get('/records/getRecord', { args: JSON.stringify([hash]) }),
    `record ${hash}`,
  );
  if (!r.exists)
    throw new ExplorerError({ code: ExplorerErrorCode.NOT_FOUND, what: `record ${hash}` }, `nothing is recorded under ${hash}`, {
      hint: 'Check the hash',
    });
  return { hash: hash.toLowerCase(), ...r };
}

async function identityDetail(gw: AppGateway, did: string) {
  const answer = await gw.get(`/identity/dids/${encodeURIComponent(did)}`);
  // W3C DID Resolution: a deactivated DID answers 410 with its metadata; the explorer shows it as such.
  if (answer.status === 410) {
    const { error, ...resolution } = answer.body;
    return { deactivated: true, message: error?.message, ...resolution };
  }
  return { deactivated: false, ...need<Record<string, unknown>>(answer, `DID ${did}`) };
}

async function collectionDetail(gw: AppGateway, id: string) {
  const answer = await gw.get('/certificates/collection', { args: JSON.stringify([id]) });
  if (answer.status === 422) {
    throw new ExplorerError(
      { code: ExplorerErrorCode.NOT_FOUND, what: `collection ${id}` },
      `there is no certificate collection ${id}`,
      {
        hint: 'Collections are numbered from 1',
      },
    );
  }
  return { id, ...need<Record<string, unknown>>(answer, `collection ${id}`) };
}

async function collectionsPage(gw: AppGateway, before: string | undefined) {
  const { collectionCount } = need<{ collectionCount: string }>(await gw.get('/certificates/collectionCount'), 'the collections');
  const count = BigInt(collectionCount);
  let top = before !== undefined ? BigInt(before) - 1n : count;
  if (top > count) top = count;
  const ids: string[] = [];
  for (let id = top; id >= 1n && ids.length < COLLECTIONS_PAGE_MAX; id--) ids.push(id.toString());
  const collections = await Promise.all(ids.map((id) => collectionDetail(gw, id)));
  const last = ids[ids.length - 1];
  return { count: collectionCount, collections, ...(last !== undefined && last !== '1' ? { nextBefore: last } : {}) };
}

/** What a search names: a block, a transaction, an account, a record or a DID. */
export type SearchResult =
  | { kind: 'block'; id: string }
  | { kind: 'transaction'; id: string }
  | { kind: 'account'; id: string }
  | { kind: 'record'; id: string }
  | { kind: 'identity'; id: string };

const SEARCH_HINT =
  'Search by a block height (digits), a transaction or block hash (0x and 64 hex digits), an address (0x and 40 hex digits) or a DID';

async function search(gw: AppGateway, raw: string): Promise<SearchResult> {
  const q = raw.trim();
  if (q === '') throw invalid('q', 'the search is empty', SEARCH_HINT);
  if (/^\d+$/.test(q)) {
    if (!HEIGHT.test(q)) throw invalid('q', `${q} is not a block height`, SEARCH_HINT);
    const answer = await gw.get(`/blocks/${q}`);
    need<GatewayBlock>(answer, `block ${q}`);
    return { kind: 'block', id: q };
  }
  if (HASH.test(q)) {
    const hash = q.toLowerCase();
    if ((await gw.get(`/transactions/${hash}`)).status === 200) return { kind: 'transaction', id: hash };
    const block = await gw.get(`/blocks/${hash}`);
    if (block.status === 200) return { kind: 'block', id: String((block.body as unknown as GatewayBlock).number) };
    const record = await gw.get('/records/getRecord', { args: JSON.stringify([hash]) });
    if (record.status === 200 && (record.body as { exists?: boolean }).exists) return { kind: 'record', id: hash };
    throw new ExplorerError(
      { code: ExplorerErrorCode.NOT_FOUND, what: hash },
      `no transaction, block or record of this app has the hash ${hash}`,
      {
        hint: 'Check that the hash is from this app; a transaction sent moments ago may still be on its way',
      },
    );
  }
  if (ADDRESS.test(q)) return { kind: 'account', id: q.toLowerCase() };
  if (DID.test(q)) return { kind: 'identity', id: q };
  if (/^0x[0-9a-fA-F]*$/.test(q)) {
    const digits = q.length - 2;
    throw invalid('q', `${q} has ${digits} hex digits: a hash has 64 and an address 40`, SEARCH_HINT);
  }
  throw invalid('q', `“${q.length > 40 ? `${q.slice(0, 40)}…` : q}” is not a block height, hash, address or DID`, SEARCH_HINT);
}

// --- Live --------------------------------------------------------------------------------------------------

/** What the live socket sends to the browser. */
export type LiveMessage =
  | { type: 'block'; block: BlockSummary }
  | { type: 'status'; state: 'connecting' | 'live' | 'reconnecting'; message?: string };

/**
 * One app's relay: one socket to a gateway subscribed to `newHeads`, shared by every browser
 * watching the app. It opens with the first browser, reconnects (with a growing wait) while
 * browsers remain, and closes when the last one leaves.
 */
class Relay {
  readonly browsers = new Set<WebSocket>();
  private upstream: WebSocket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = 500;
  private closed = false;
  private state: 'connecting' | 'live' | 'reconnecting' = 'connecting';
  private readonly heads: number[] = [];
  private draining = false;

  constructor(
    private readonly ctx: PortalContext,
    readonly appId: string,
    private readonly log: FastifyRequest['log'],
    private readonly onEmpty: () => void,
  ) {}

  add(browser: WebSocket): void {
    this.browsers.add(browser);
    this.sendTo(browser, { type: 'status', state: this.state });
    browser.on('close', () => {
      this.browsers.delete(browser);
      if (this.browsers.size === 0) this.close();
    });
    if (!this.upstream && !this.retryTimer) void this.open();
  }

  private sendTo(browser: WebSocket, message: LiveMessage): void {
    if (browser.readyState !== WebSocket.OPEN) return;
    if (browser.bufferedAmount > LIVE_SEND_BUFFER_MAX_BYTES) {
      browser.close(1013, 'the browser reads too slowly: reload the page');
      return;
    }
    browser.send(JSON.stringify(message));
  }

  private broadcast(message: LiveMessage): void {
    for (const b of this.browsers) this.sendTo(b, message);
  }

  private setState(state: Relay['state'], message?: string): void {
    this.state = state;
    this.broadcast({ type: 'status', state, ...(message ? { message } : {}) });
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    let gw: AppGateway;
    try {
      gw = await gatewayOf(this.ctx, this.appId);
    } catch (err) {
      this.retry((err as Error).message);
      return;
    }
    if (this.closed) return;
    const url = `${(gw.urls[0] as string).replace(/^http/, 'ws')}/v1/${encodeURIComponent(this.appId)}/${gw.key}`;
    const socket = new WebSocket(url, { handshakeTimeout: GATEWAY_TIMEOUT_MS, maxPayload: 1024 * 1024 });
    this.upstream = socket;
    socket.on('open', () => {
      socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }));
    });
    socket.on('message', (data) => {
      let msg: {
        id?: number;
        result?: unknown;
        error?: { message: string };
        method?: string;
        params?: { result?: { number?: string } };
      };
      try {
        msg = JSON.parse(String(data));
      } catch {
        return;
      }
      if (msg.id === 1) {
        if (msg.error) {
          this.log.warn({ app: this.appId, err: msg.error.message }, 'the gateway refused the newHeads subscription');
          socket.close();
          return;
        }
        this.retryMs = 500;
        this.setState('live');
        return;
      }
      const number = msg.method === 'eth_subscription' ? msg.params?.result?.number : undefined;
      if (typeof number === 'string') this.head(gw, Number(BigInt(number)));
    });
    socket.on('error', (err) => {
      this.log.debug({ app: this.appId, err: err.message }, 'the gateway socket failed');
    });
    socket.on('close', () => {
      if (this.upstream === socket) this.upstream = undefined;
      if (!this.closed) this.retry('the node closed the live connection');
    });
  }

  private retry(reason: string): void {
    if (this.closed || this.retryTimer) return;
    this.setState('reconnecting', `${reason}; trying again`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.open();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, LIVE_RECONNECT_MAX_MS);
  }

  /** Queues a new head; the summaries are fetched one at a time, in order, dropping the oldest beyond the bound. */
  private head(gw: AppGateway, height: number): void {
    this.heads.push(height);
    if (this.heads.length > LIVE_PENDING_HEADS_MAX) this.heads.shift();
    if (this.draining) return;
    this.draining = true;
    void (async () => {
      while (this.heads.length > 0 && !this.closed) {
        const h = this.heads.shift() as number;
        try {
          const answer = await gw.get(`/blocks/${h}`);
          if (answer.status === 200) this.broadcast({ type: 'block', block: summaryOf(answer.body as unknown as GatewayBlock) });
        } catch (err) {
          this.log.debug({ app: this.appId, height: h, err: (err as Error).message }, 'a new block could not be read');
        }
      }
      this.draining = false;
    })();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.upstream?.close();
    this.upstream = undefined;
    for (const b of this.browsers) b.close(1001, 'the portal is closing the live view');
    this.browsers.clear();
    this.onEmpty();
  }
}

// --- Routes ------------------------------------------------------------------------------------------------

/** The explorer routes, and the live socket at `GET /api/apps/:id/live`. */
export const explorerRoutes: RouteModule = (app, ctx) => {
  const base = '/api/apps/:id/explorer';

  app.get(`${base}/blocks`, async (req) => {
    const { appId } = await access(ctx, req);
    const q = parse(BlocksQuery, req.query, 'query');
    return blocksPage(await gatewayOf(ctx, appId), q.before !== undefined ? Number(q.before) : undefined, q.limit);
  });

  app.get(`${base}/blocks/:ref`, async (req) => {
    const { appId } = await access(ctx, req);
    const ref = (req.params as { ref: string }).ref;
    if (!HEIGHT.test(ref) && !HASH.test(ref))
      throw invalid('block', `${ref} is not a block height (digits) or a block hash (0x and 64 hex digits)`);
    const [gw, decoder] = await Promise.all([gatewayOf(ctx, appId), decoderOf(ctx, appId)]);
    return blockDetail(gw, decoder, ref.toLowerCase());
  });

  app.get(`${base}/transactions/:hash`, async (req) => {
    const { appId } = await access(ctx, req);
    const hash = parse(hashParam('the transaction hash'), (req.params as { hash: string }).hash, 'hash');
    const [gw, decoder] = await Promise.all([gatewayOf(ctx, appId), decoderOf(ctx, appId)]);
    return transactionDetail(gw, decoder, hash.toLowerCase());
  });

  app.get(`${base}/accounts/:address`, async (req) => {
    const { appId } = await access(ctx, req);
    const address = parse(addressParam('the address'), (req.params as { address: string }).address, 'address');
    const [gw, decoder] = await Promise.all([gatewayOf(ctx, appId), decoderOf(ctx, appId)]);
    return accountDetail(gw, decoder, address.toLowerCase());
  });

  app.get(`${base}/records`, async (req) => {
    const { appId } = await access(ctx, req);
    return recordsPage(await gatewayOf(ctx, appId), parse(RecordsQuery, req.query, 'query'));
  });

  app.get(`${base}/records/:hash`, async (req) => {
    const { appId } = await access(ctx, req);
    const hash = parse(hashParam('the record hash'), (req.params as { hash: string }).hash, 'hash');
    return recordDetail(await gatewayOf(ctx, appId), hash);
  });

  app.get(`${base}/identity/:did`, async (req) => {
    const { appId } = await access(ctx, req);
    const did = (req.params as { did: string }).did;
    if (!ADDRESS.test(did) && !DID.test(did))
      throw invalid('did', `${did} is neither an address (0x and 40 hex digits) nor a did:polis DID`);
    return identityDetail(await gatewayOf(ctx, appId), did);
  });

  app.get(`${base}/certificates`, async (req) => {
    const { appId } = await access(ctx, req);
    const q = parse(CertificatesQuery, req.query, 'query');
    return collectionsPage(await gatewayOf(ctx, appId), q.before);
  });

  app.get(`${base}/certificates/:collection`, async (req) => {
    const { appId } = await access(ctx, req);
    const id = parse(CollectionId, (req.params as { collection: string }).collection, 'collection');
    return collectionDetail(await gatewayOf(ctx, appId), id);
  });

  app.get(`${base}/certificates/:collection/holders/:address`, async (req) => {
    const { appId } = await access(ctx, req);
    const params = req.params as { collection: string; address: string };
    const id = parse(CollectionId, params.collection, 'collection');
    const address = parse(addressParam('the holder'), params.address, 'address');
    const gw = await gatewayOf(ctx, appId);
    return need<Record<string, unknown>>(await gw.get(`/certificates/${id}/holders/${address}`), `collection ${id}`);
  });

  app.get(`${base}/search`, async (req) => {
    const { appId } = await access(ctx, req);
    const { q } = parse(SearchQuery, req.query, 'q');
    return search(await gatewayOf(ctx, appId), q);
  });

  const relays = new Map<string, Relay>();
  const perUser = new Map<string, number>();
  let total = 0;
  const refuse = (reply: FastifyReply, status: number, code: string, message: string, hint: string) =>
    reply.code(status).send({ error: { code, message, hint } });

  // Checks the session, the app and the bounds before the upgrade: a refused browser gets a plain
  // HTTP answer and never a socket.
  const admit = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.ws)
      return refuse(reply, 426, 'UPGRADE_REQUIRED', 'this address opens a WebSocket', 'Open it with new WebSocket(...)');
    // A page of another site must not ride the user's session (cross-site WebSocket hijacking):
    // the browser always sends Origin on a WebSocket handshake.
    const origin = req.headers.origin;
    if (origin !== undefined && new URL(origin).host !== req.headers.host) {
      return refuse(
        reply,
        403,
        'NOT_ALLOWED',
        'live updates are for pages of the portal itself',
        'Open the explorer from the portal',
      );
    }
    const { user, appId } = await access(ctx, req);
    const mine = perUser.get(user.id) ?? 0;
    if (mine >= LIVE_SOCKETS_PER_USER_MAX) {
      return refuse(
        reply,
        429,
        'THROTTLED',
        `you have ${mine} live views open, the most one account may`,
        'Close some explorer tabs, then reload',
      );
    }
    if (total >= LIVE_SOCKETS_MAX) {
      return refuse(
        reply,
        503,
        'BUSY',
        'the portal serves as many live views as it can',
        'Reload in a minute; the list still works without live updates',
      );
    }
    // The slot is held from now until the connection closes, whether or not the upgrade completes.
    perUser.set(user.id, mine + 1);
    total++;
    req.raw.socket.once('close', () => {
      total--;
      const left = (perUser.get(user.id) ?? 1) - 1;
      if (left <= 0) perUser.delete(user.id);
      else perUser.set(user.id, left);
    });
    (req as { polisLiveApp?: string }).polisLiveApp = appId;
  };

  app.register(async (scope) => {
    await scope.register(websocket, { options: { maxPayload: 4096 } });
    scope.get('/api/apps/:id/live', { websocket: true, preValidation: admit }, (socket, req) => {
      const appId = (req as { polisLiveApp?: string }).polisLiveApp as string;
      // The browser has nothing to say; what it sends is ignored.
      socket.on('message', () => undefined);
      let relay = relays.get(appId);
      if (!relay) {
        relay = new Relay(ctx, appId, req.log, () => relays.delete(appId));
        relays.set(appId, relay);
      }
      relay.add(socket);
    });
    scope.addHook('onClose', async () => {
      for (const relay of [...relays.values()]) relay.close();
    });
  });
};
