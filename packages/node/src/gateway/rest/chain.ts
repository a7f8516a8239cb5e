/**
 * REST routes over a ledger's chain: blocks, transactions, receipts, events (logs) and accounts,
 * and submit-and-wait (`POST /transactions`). Answers carry the JSON-RPC objects' fields
 * (rpc/format.ts), with JSON numbers for heights, indexes and counts, decimal strings for wei and
 * gas, and 0x-hex for hashes, addresses and data. Unknown objects are 404 with what is known; a
 * malformed parameter is 400 naming it.
 */
import { bytesToHex, hexToBytes, keccak256 } from '@polis/core';
import { blockHash, type DecodedTx, decodeTx, TxError } from '@polis/ledger';
import { z } from 'zod';
import { RpcCode, RpcError } from '../../rpc/errors.js';
import { LOGS_BLOCK_RANGE_MAX, LOGS_RESULT_MAX } from '../../rpc/eth.js';
import { formatBlock, type formatLog, formatTx } from '../../rpc/format.js';
import { quantity } from '../../rpc/hex.js';
import { contractDenied, methodDenied } from '../access.js';
import type { GatewayContext, GatewayLedger } from '../context.js';
import { type AnyRoute, defineRoute, RestError } from './route.js';
import {
  AddressSchema,
  committedReceipt,
  DecimalSchema,
  fingerprintOf,
  Hash32Schema,
  HexDataSchema,
  LogSchema,
  quantityToDecimal,
  quantityToNumber,
  ReceiptSchema,
  restErrorOfTx,
  restLog,
  SubmitAnswerSchema,
  submitAndWait,
  submitRaw,
  WAIT_MS_MAX,
  WaitMsSchema,
} from './submit.js';

/** Addresses one `GET /events` may filter on. */
export const EVENTS_ADDRESSES_MAX = 64;
/** Alternatives one topic position of `GET /events` may list. */
export const EVENTS_TOPIC_OPTIONS_MAX = 16;

const TAG = 'chain';

export const TransactionSchema = z.object({
  hash: Hash32Schema,
  nonce: z.number().int(),
  blockHash: Hash32Schema.nullable(),
  blockNumber: z.number().int().nullable(),
  transactionIndex: z.number().int().nullable(),
  from: AddressSchema,
  to: AddressSchema.nullable(),
  value: DecimalSchema.describe('Wei, decimal'),
  gas: DecimalSchema.describe('The gas limit, decimal'),
  gasPrice: DecimalSchema,
  maxFeePerGas: DecimalSchema.optional(),
  maxPriorityFeePerGas: DecimalSchema.optional(),
  input: HexDataSchema,
  type: z.number().int().describe('0 legacy, 1 EIP-2930, 2 EIP-1559'),
  chainId: z.number().int(),
  accessList: z.array(z.object({ address: AddressSchema, storageKeys: z.array(Hash32Schema) })).optional(),
  v: z.string().describe('Hex quantity'),
  r: z.string().describe('Hex quantity'),
  s: z.string().describe('Hex quantity'),
  yParity: z.number().int().optional(),
});
export type RestTransaction = z.infer<typeof TransactionSchema>;

export const BlockSchema = z.object({
  number: z.number().int(),
  hash: Hash32Schema,
  parentHash: Hash32Schema,
  timestamp: z.number().int().describe('Seconds since the epoch'),
  timestampMs: z.number().int().describe('Milliseconds since the epoch, as the header holds it'),
  size: z.number().int().describe('Bytes of the encoded block'),
  gasLimit: DecimalSchema,
  gasUsed: DecimalSchema,
  baseFeePerGas: DecimalSchema.describe('Always "0": fees on Polis are zero'),
  miner: AddressSchema.describe("The first 20 bytes of the proposer's node key (there is no miner)"),
  logsBloom: HexDataSchema,
  transactionsRoot: Hash32Schema,
  stateRoot: Hash32Schema,
  receiptsRoot: Hash32Schema,
  transactionCount: z.number().int(),
  transactions: z
    .union([z.array(Hash32Schema), z.array(TransactionSchema)])
    .describe('Transaction hashes, or the transactions with ?txs=true'),
});

const AccountSchema = z.object({
  address: AddressSchema,
  balance: DecimalSchema.describe('Wei, decimal'),
  nonce: z.number().int().describe('The next nonce in the committed state'),
  pendingNonce: z.number().int().describe("The next nonce counting the account's pending transactions"),
  codeSize: z.number().int().describe('Bytes of contract code; 0 for an externally owned account'),
  isContract: z.boolean(),
  blockNumber: z.number().int().describe('The block whose state this is (the latest)'),
});

const TxsQuerySchema = z.object({
  txs: z
    .enum(['true', 'false'])
    .optional()
    .describe('true: full transactions instead of their hashes')
    .transform((v) => v === 'true'),
});

/** A block number (decimal), a block hash, `latest` or `earliest`. */
const BlockIdSchema = z
  .string()
  .regex(
    /^(0|[1-9][0-9]{0,14}|0x[0-9a-fA-F]{64}|latest|earliest)$/,
    'must be a block number (decimal), a 32-byte block hash (0x and 64 hex digits), "latest" or "earliest"',
  );

/** A block bound of a range: a block number (decimal), `latest` or `earliest`. */
const BlockBoundSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,14}|latest|earliest)$/, 'must be a block number (decimal), "latest" or "earliest"');

const commaList = (item: z.ZodString, max: number, what: string) =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()))
    .pipe(z.array(item).min(1).max(max, `at most ${max} ${what}, comma-separated`));

const topicParam = (i: number) =>
  commaList(Hash32Schema, EVENTS_TOPIC_OPTIONS_MAX, 'topics')
    .optional()
    .describe(`Topic ${i}: a 32-byte hash, or several comma-separated (any of them matches)`);

const EventsQuerySchema = z.object({
  fromBlock: BlockBoundSchema.optional().describe('The first block (default latest)'),
  toBlock: BlockBoundSchema.optional().describe(
    `The last block (default latest); the range spans at most ${LOGS_BLOCK_RANGE_MAX} blocks`,
  ),
  address: commaList(AddressSchema, EVENTS_ADDRESSES_MAX, 'addresses')
    .optional()
    .describe('The emitting contract, or several comma-separated'),
  topic0: topicParam(0),
  topic1: topicParam(1),
  topic2: topicParam(2),
  topic3: topicParam(3),
});

/** A transaction as the REST API returns it: `eth_getTransactionByHash`'s fields, numbers and decimal strings for quantities. */
export function restTx(t: Record<string, unknown>): RestTransaction {
  const num = (k: string) => (typeof t[k] === 'string' ? quantityToNumber(t[k] as string) : null);
  const dec = (k: string) => quantityToDecimal(t[k] as string);
  const out: Record<string, unknown> = {
    hash: t.hash,
    nonce: num('nonce'),
    blockHash: t.blockHash,
    blockNumber: num('blockNumber'),
    transactionIndex: num('transactionIndex'),
    from: t.from,
    to: t.to,
    value: dec('value'),
    gas: dec('gas'),
    gasPrice: dec('gasPrice'),
    input: t.input,
    type: num('type'),
    chainId: num('chainId'),
    v: t.v,
    r: t.r,
    s: t.s,
  };
  if (t.maxFeePerGas !== undefined) out.maxFeePerGas = dec('maxFeePerGas');
  if (t.maxPriorityFeePerGas !== undefined) out.maxPriorityFeePerGas = dec('maxPriorityFeePerGas');
  if (t.accessList !== undefined) out.accessList = t.accessList;
  if (t.yParity !== undefined) out.yParity = num('yParity');
  return out as RestTransaction;
}

function blockJson(ledger: GatewayLedger, height: number, full: boolean) {
  const block = ledger.chain.block(height);
  if (!block) return undefined;
  const hashes = block.txs.map((raw) => keccak256(raw));
  const decoded = full ? block.txs.map((raw) => decodeTx(raw, ledger.calls.common)) : null;
  const b = formatBlock(block, decoded, hashes);
  return {
    number: quantityToNumber(b.number),
    hash: b.hash,
    parentHash: b.parentHash,
    timestamp: quantityToNumber(b.timestamp),
    timestampMs: block.header.time,
    size: quantityToNumber(b.size),
    gasLimit: quantityToDecimal(b.gasLimit),
    gasUsed: quantityToDecimal(b.gasUsed),
    baseFeePerGas: quantityToDecimal(b.baseFeePerGas),
    miner: b.miner,
    logsBloom: b.logsBloom,
    transactionsRoot: b.transactionsRoot,
    stateRoot: b.stateRoot,
    receiptsRoot: b.receiptsRoot,
    transactionCount: block.txs.length,
    transactions: full ? (b.transactions as Record<string, unknown>[]).map(restTx) : (b.transactions as string[]),
  };
}

/** The height a block id names; 404 when no committed block has it. */
function heightOfId(ledger: GatewayLedger, id: string): number {
  const head = ledger.chain.head();
  if (id === 'latest') return head;
  if (id === 'earliest') return 0;
  if (id.startsWith('0x')) {
    const h = ledger.chain.heightOf(hexToBytes(id));
    if (h === undefined) throw new RestError(404, 'NOT_FOUND', `no committed block has the hash ${id}`);
    return h;
  }
  const n = Number(id);
  if (n > head) {
    throw new RestError(404, 'NOT_FOUND', `block ${n} is not committed yet: the latest block is ${head}`);
  }
  return n;
}

/** The height of a range bound. */
function boundHeight(ledger: GatewayLedger, bound: string | undefined): number {
  if (bound === undefined || bound === 'latest') return ledger.chain.head();
  if (bound === 'earliest') return 0;
  return Number(bound);
}

function blockRoute(path: string, summary: string, params: z.ZodType<{ number?: string }> | undefined) {
  return defineRoute({
    method: 'GET',
    path,
    summary,
    tag: TAG,
    scope: 'read',
    ...(params ? { params } : {}),
    query: TxsQuerySchema,
    response: BlockSchema,
    errors: { 404: 'No committed block is so named' },
    handler: ({ params: p, query, ledger }) => {
      const height = heightOfId(ledger, (p as { number?: string }).number ?? 'latest');
      const b = blockJson(ledger, height, query.txs);
      if (!b) throw new RestError(404, 'NOT_FOUND', `block ${height} is not stored on this node`);
      return b;
    },
  });
}

function pendingOrCommitted(ledger: GatewayLedger, hash: Uint8Array) {
  const pooled: DecodedTx | undefined = ledger.mempool.get(hash);
  if (pooled) return { status: 'pending' as const, transaction: restTx(formatTx(pooled, null)) };
  const loc = ledger.chain.txLocation(hash);
  if (!loc) return undefined;
  const raw = ledger.chain.txs(loc.height)?.[loc.index];
  const header = ledger.chain.header(loc.height);
  if (!raw || !header) return undefined;
  const json = formatTx(decodeTx(raw, ledger.calls.common), {
    blockHash: blockHash(header),
    height: loc.height,
    index: loc.index,
  });
  return { status: 'committed' as const, transaction: restTx(json) };
}

/** The chain routes of every hosted app, under `/api/v1/apps/{id}`. */
export function chainRoutes(ctx: GatewayContext): AnyRoute[] {
  const base = '/api/v1/apps/{id}';
  return [
    blockRoute(`${base}/blocks/latest`, 'The latest committed block', undefined),
    blockRoute(
      `${base}/blocks/{number}`,
      'A committed block by number (decimal) or hash',
      z.object({ number: BlockIdSchema.describe('A block number (decimal), a block hash, "latest" or "earliest"') }),
    ),
    defineRoute({
      method: 'GET',
      path: `${base}/transactions/{hash}`,
      summary: 'A transaction, committed or pending, with its status',
      tag: TAG,
      scope: 'read',
      params: z.object({ hash: Hash32Schema.describe('The transaction hash') }),
      response: z.object({
        status: z.enum(['pending', 'committed']).describe('pending: in the mempool; committed: in a committed block'),
        transaction: TransactionSchema,
      }),
      errors: { 404: 'Neither pending nor committed on this node' },
      handler: ({ params, ledger }) => {
        const found = pendingOrCommitted(ledger, hexToBytes(params.hash));
        if (!found) {
          throw new RestError(
            404,
            'NOT_FOUND',
            `the transaction ${params.hash} is neither pending nor committed on this node: check the hash and the app, or send it again`,
          );
        }
        return found;
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/receipts/{hash}`,
      summary: "A committed transaction's receipt (eth_getTransactionReceipt)",
      tag: TAG,
      scope: 'read',
      params: z.object({ hash: Hash32Schema.describe('The transaction hash') }),
      response: ReceiptSchema,
      errors: { 404: 'The transaction is pending or unknown' },
      handler: ({ params, ledger }) => {
        const hash = hexToBytes(params.hash);
        const receipt = committedReceipt(ledger, hash);
        if (receipt) return receipt;
        if (ledger.mempool.get(hash)) {
          throw new RestError(
            404,
            'NOT_FOUND',
            `the transaction ${params.hash} is pending: it has no receipt until its block is committed`,
          );
        }
        throw new RestError(404, 'NOT_FOUND', `no committed transaction has the hash ${params.hash}`);
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/events`,
      summary: `Logs of committed blocks by range, address and topics (eth_getLogs; at most ${LOGS_BLOCK_RANGE_MAX} blocks and ${LOGS_RESULT_MAX} logs)`,
      tag: TAG,
      scope: 'read',
      query: EventsQuerySchema,
      response: z.object({
        fromBlock: z.number().int(),
        toBlock: z.number().int().describe('The last block searched (at most the latest)'),
        events: z.array(LogSchema),
      }),
      errors: { 400: `The range spans more than ${LOGS_BLOCK_RANGE_MAX} blocks or matches more than ${LOGS_RESULT_MAX} logs` },
      handler: async ({ query, ledger }) => {
        const from = boundHeight(ledger, query.fromBlock);
        const to = Math.min(boundHeight(ledger, query.toBlock), ledger.chain.head());
        if (to >= from && to - from + 1 > LOGS_BLOCK_RANGE_MAX) {
          throw new RestError(
            400,
            'LIMIT_EXCEEDED',
            `the range ${from}..${to} spans ${to - from + 1} blocks; at most ${LOGS_BLOCK_RANGE_MAX} per request: narrow fromBlock/toBlock`,
            [`query.toBlock: at most ${LOGS_BLOCK_RANGE_MAX} blocks after fromBlock`],
          );
        }
        const topics = [query.topic0, query.topic1, query.topic2, query.topic3];
        while (topics.length > 0 && topics[topics.length - 1] === undefined) topics.pop();
        const filter = {
          fromBlock: quantity(from),
          toBlock: quantity(Math.max(to, 0)),
          ...(query.address ? { address: query.address } : {}),
          topics: topics.map((t) => t ?? null),
        };
        let logs: ReturnType<typeof formatLog>[];
        try {
          logs = (await (ledger.methods.eth_getLogs as (p: unknown[]) => unknown)([filter])) as ReturnType<typeof formatLog>[];
        } catch (err) {
          if (err instanceof RpcError && err.code === RpcCode.LIMIT_EXCEEDED) {
            throw new RestError(400, 'LIMIT_EXCEEDED', `${err.message}`);
          }
          if (err instanceof RpcError && err.code === RpcCode.INVALID_PARAMS)
            throw new RestError(400, 'INVALID_REQUEST', err.message);
          throw err;
        }
        return { fromBlock: from, toBlock: to, events: logs.map(restLog) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/accounts/{address}`,
      summary: 'An account in the latest state: balance, nonces and code size',
      tag: TAG,
      scope: 'read',
      params: z.object({ address: AddressSchema.describe('The account address') }),
      response: AccountSchema,
      handler: ({ params, ledger }) => {
        const address = hexToBytes(params.address);
        const account = ledger.state.getAccount(address);
        const code = account ? ledger.state.getCode(account.codeHash) : undefined;
        const codeSize = code?.length ?? 0;
        return {
          address: bytesToHex(address),
          balance: (account?.balance ?? 0n).toString(),
          nonce: Number(account?.nonce ?? 0n),
          pendingNonce: Number(ledger.mempool.pendingNonce(address)),
          codeSize,
          isContract: codeSize > 0,
          blockNumber: ledger.chain.head(),
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/accounts/{address}/storage/{slot}`,
      summary: 'A storage slot of an account in the latest state (eth_getStorageAt)',
      tag: TAG,
      scope: 'read',
      params: z.object({
        address: AddressSchema.describe('The account address'),
        slot: z
          .string()
          .regex(/^0x[0-9a-fA-F]{1,64}$/, 'must be a storage slot: 0x and at most 64 hex digits')
          .describe('The slot: 0x and at most 64 hex digits'),
      }),
      response: z.object({
        address: AddressSchema,
        slot: Hash32Schema.describe('The slot, as 32 bytes'),
        value: Hash32Schema.describe('The value, as 32 bytes'),
        blockNumber: z.number().int(),
      }),
      handler: ({ params, ledger }) => {
        const address = hexToBytes(params.address);
        const slot = hexToBytes(`0x${params.slot.slice(2).padStart(64, '0')}`);
        const value = ledger.state.getStorage(address, slot);
        const word = new Uint8Array(32);
        word.set(value, 32 - value.length);
        return {
          address: bytesToHex(address),
          slot: bytesToHex(slot),
          value: bytesToHex(word),
          blockNumber: ledger.chain.head(),
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${base}/transactions`,
      summary:
        'Sends a signed transaction and waits for its block: 200 {status: "committed", receipt} once committed, 202 {status: "pending"} when waitMs passes first. ' +
        'An Idempotency-Key header (at most 128 characters) makes retries return the first outcome. A transaction already pending or committed is not sent again: its outcome is the answer.',
      tag: TAG,
      scope: 'write',
      txs: 1,
      maxWaitMs: WAIT_MS_MAX,
      body: z.object({
        raw: HexDataSchema.refine((s) => s.length > 2, 'must not be empty').describe(
          'The signed transaction, as eth_sendRawTransaction takes it',
        ),
        waitMs: WaitMsSchema,
      }),
      response: SubmitAnswerSchema,
      errors: {
        409: 'The nonce is used, another transaction with this nonce is pending, or the Idempotency-Key was used for another request',
        422: 'The transaction cannot be accepted now: nonce too far ahead, funds too low, or the account may not transact',
        503: 'The mempool is full or too many requests are waiting; see Retry-After',
      },
      handler: ({ body, ledger, auth, req, reply }) => {
        const key = auth.principal.key;
        const denied = methodDenied(key, 'eth_sendRawTransaction');
        if (denied) throw new RestError(403, 'FORBIDDEN', denied);
        const raw = hexToBytes(body.raw);
        let decoded: DecodedTx;
        try {
          decoded = ledger.decode(raw);
        } catch (err) {
          if (err instanceof TxError) throw restErrorOfTx(err);
          throw err;
        }
        const why = contractDenied(key, decoded.tx.to?.toString());
        if (why) throw new RestError(403, 'FORBIDDEN', why);
        return submitAndWait({
          ctx,
          ledger,
          req,
          reply,
          waitMs: body.waitMs,
          fingerprint: fingerprintOf('POST /transactions', body.raw.toLowerCase()),
          send: async () => {
            // The same bytes are the same transaction: one already pending or committed is not
            // sent again (the mempool would refuse it as known, or its nonce as used), its outcome is the answer.
            if (ledger.mempool.get(decoded.hash) || ledger.chain.txLocation(decoded.hash)) return decoded.hash;
            const hash = submitRaw(ledger, raw);
            ctx.meter.txSent(ledger.id, key.id, bytesToHex(hash));
            return hash;
          },
        });
      },
    }),
  ];
}
