/**
 * REST for the built-in services (issue P7): `/api/v1/apps/{id}/records`, `/identity` and
 * `/certificates`. For each service:
 * - `GET /{service}/{function}?args=[...]` runs a view function of its ABI (eth_call on the latest
 *   block) and answers its outputs by name; numbers are decimal strings;
 * - `POST /{service}` `{from, functionName, args}` signs with a custodial account (key trust mode),
 *   sends and waits like `POST /transactions`.
 * And for records: `GET /records?submitter=&tag=` (lookup through the `Recorded` logs) and
 * `GET /records/{hash}/proof`, the bundle the SDK's `verifyRecordProof` checks offline; for
 * identity: `GET /identity/dids/{address}`, a DID resolved as W3C DID Core describes it; for
 * certificates: `GET /certificates/{collectionId}/holders/{address}`, what a holder has in a
 * collection, a page at a time. These read through the services' view functions (eth_call), so
 * no storage layout is repeated here.
 */
import { bytesToHex, equalsBytes, hexToBytes } from '@polis/core';
import {
  BUILTIN_SERVICES,
  certificatesService,
  collectionAddress,
  decodeRecordWords,
  didOf,
  identityService,
  parseDid,
  RECORDS_ABI,
  RECORDS_ADDRESS,
  recordSlots,
  type ServiceDefinition,
} from '@polis/execution';
import type { FastifyReply } from 'fastify';
import {
  type Abi,
  type AbiFunction,
  type AbiParameter,
  decodeEventLog,
  decodeFunctionResult,
  encodeEventTopics,
  encodeFunctionData,
  type Hex,
} from 'viem';
import { z } from 'zod';
import { RpcError } from '../../rpc/errors.js';
import type { GatewayLedger } from '../context.js';
import type { Custody } from '../custody.js';
import { type AnyRoute, defineRoute, RestError } from './route.js';
import { SubmitAnswerSchema, WaitMsSchema } from './submit.js';

const TAG = 'services';
/** Records one `GET /records` answer lists at most. */
export const RECORDS_LIST_MAX = 1_000;
/** Entries one `GET /certificates/{collectionId}/holders/{address}` answer lists at most (`limit`). */
export const HOLDINGS_PAGE_MAX = 1_000;
/** Entries a holdings answer lists when the request gives no `limit`. */
export const HOLDINGS_PAGE_DEFAULT = 100;
/**
 * Times a holdings page is read before answering 503: an attempt during which a block changed
 * the collection may have mixed two states, and is read again.
 */
export const STABLE_READ_ATTEMPTS = 3;
/** Blocks whose logs a holdings read looks through for a change; past it, it counts as changed. */
export const CHANGE_SCAN_BLOCKS_MAX = 64;
/**
 * Holdings entries read between two yields to the event loop. An entry is four or five EVM calls
 * (about a millisecond together), so a full page would otherwise hold consensus and every other
 * request for about a second.
 */
export const HOLDINGS_ENTRIES_PER_YIELD = 25;

const Hash32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x and 64 hex digits');
const Address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be 0x and 40 hex digits');

/** A JSON value from viem's decoding: bigints become decimal strings, bytes stay hex. */
function toJson(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(toJson);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  return value;
}

/** Turns JSON arguments into what viem encodes: integers (given as numbers or strings) become bigints. */
function fromJson(param: AbiParameter, value: unknown, field: string): unknown {
  const arrayMatch = /^(.*)\[(\d*)\]$/.exec(param.type);
  if (arrayMatch) {
    if (!Array.isArray(value)) throw new RestError(400, 'INVALID_REQUEST', `${field} must be an array (${param.type})`);
    return value.map((v, i) => fromJson({ ...param, type: arrayMatch[1] as string }, v, `${field}[${i}]`));
  }
  if (/^u?int\d*$/.test(param.type)) {
    if ((typeof value !== 'string' && typeof value !== 'number') || !/^-?\d+$|^0x[0-9a-fA-F]+$/.test(String(value))) {
      throw new RestError(
        400,
        'INVALID_REQUEST',
        `${field} must be an integer (a number or a decimal or 0x string), got ${JSON.stringify(value)}`,
      );
    }
    return BigInt(value);
  }
  return value;
}

function functionOf(s: ServiceDefinition, name: string, views: boolean): AbiFunction {
  const fn = s.abi.find((x): x is AbiFunction => x.type === 'function' && x.name === name);
  const isView = fn?.stateMutability === 'view' || fn?.stateMutability === 'pure';
  if (!fn || isView !== views) {
    const names = s.abi
      .filter(
        (x): x is AbiFunction =>
          x.type === 'function' && (x.stateMutability === 'view' || x.stateMutability === 'pure') === views,
      )
      .map((x) => x.name);
    throw new RestError(
      404,
      'NOT_FOUND',
      `${s.name} has no ${views ? 'view' : 'writing'} function "${name}": use one of ${[...new Set(names)].join(', ')}`,
    );
  }
  return fn;
}

function argsOf(fn: AbiFunction, raw: unknown): unknown[] {
  const args = raw ?? [];
  if (!Array.isArray(args) || args.length !== fn.inputs.length) {
    throw new RestError(
      400,
      'INVALID_REQUEST',
      `${fn.name} takes ${fn.inputs.length} argument(s) (${fn.inputs.map((i) => `${i.type} ${i.name}`).join(', ')}): give them as a JSON array`,
    );
  }
  return fn.inputs.map((p, i) => fromJson(p, args[i], `args[${i}]`));
}

/**
 * Runs a view function through eth_call on the latest state and returns its result as viem
 * decodes it; a revert becomes 422 with the service's reason.
 */
async function callView(ledger: GatewayLedger, s: ServiceDefinition, fn: AbiFunction, args: unknown[]): Promise<unknown> {
  let data: Hex;
  try {
    data = encodeFunctionData({ abi: [fn] as Abi, functionName: fn.name, args });
  } catch (err) {
    throw new RestError(400, 'INVALID_REQUEST', `the arguments do not fit ${fn.name}: ${(err as Error).message.split('\n')[0]}`);
  }
  let out: Hex;
  try {
    out = (await (ledger.methods.eth_call as (p: unknown[]) => Promise<unknown>)([
      { to: bytesToHex(s.address), data },
      'latest',
    ])) as Hex;
  } catch (err) {
    if (err instanceof RpcError) throw new RestError(422, 'EXECUTION_REVERTED', err.message);
    throw err;
  }
  return decodeFunctionResult({ abi: [fn] as Abi, functionName: fn.name, data: out });
}

/** Runs a view function and answers its outputs by name, as JSON. */
async function viewCall(ledger: GatewayLedger, s: ServiceDefinition, fn: AbiFunction, args: unknown[]): Promise<unknown> {
  const result = await callView(ledger, s, fn, args);
  if (fn.outputs.length === 1) return { [fn.outputs[0]?.name || 'result']: toJson(result) };
  const values = result as readonly unknown[];
  return Object.fromEntries(fn.outputs.map((o, i) => [o.name || `output${i}`, toJson(values[i])]));
}

/**
 * Whether a block after `height`, up to the state's head, logged anything from `address`, or may
 * have (its receipts are not stored yet, or too many blocks passed to look at them all).
 */
function loggedSince(ledger: GatewayLedger, address: Uint8Array, height: number): boolean {
  const head = ledger.state.head?.height ?? 0;
  if (head - height > CHANGE_SCAN_BLOCKS_MAX) return true;
  for (let h = height + 1; h <= head; h++) {
    const receipts = ledger.chain.receipts(h);
    if (!receipts || receipts.some((r) => r.logs.some((l) => equalsBytes(l.address, address)))) return true;
  }
  return false;
}

/**
 * Runs `read` (many eth_calls, yielding to the event loop between them, so blocks commit
 * meanwhile) until a run during which no block logged from `address`: every change to a
 * collection logs from its address (Transfer, TransferSingle, Frozen, Unfrozen), so such a run
 * saw one state of it. Answers 503 after `STABLE_READ_ATTEMPTS` runs that each saw a change.
 * Returns the value and the height it was read at.
 */
async function readWhileUnchanged<T>(
  ledger: GatewayLedger,
  reply: FastifyReply,
  address: Uint8Array,
  read: () => Promise<T>,
): Promise<{ value: T; blockNumber: number }> {
  for (let attempt = 1; ; attempt++) {
    const blockNumber = ledger.state.head?.height ?? 0;
    try {
      const value = await read();
      if (!loggedSince(ledger, address, blockNumber)) return { value, blockNumber };
    } catch (err) {
      // A refusal over one state is the answer; over a changing one it may come from the change.
      if (!loggedSince(ledger, address, blockNumber)) throw err;
    }
    if (attempt >= STABLE_READ_ATTEMPTS) {
      reply.header('retry-after', '1');
      throw new RestError(
        503,
        'STATE_CHANGED',
        `the collection changed during each of ${attempt} reads of this page: retry, or ask for a smaller limit`,
      );
    }
  }
}

/** The revert reason of a 422 from `callView`, without eth_call's "execution reverted: " prefix. */
function reasonOf(err: RestError): string {
  return err.message.replace(/^execution reverted: /, '');
}

/** An XML datetime in UTC without fractions of a second, as W3C DID Core's `created` and `updated` are. */
function didTime(ms: bigint): string {
  return new Date(Number(ms)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The stored document as W3C DID Core JSON, or why it is not one. */
function didDocumentOf(
  appId: string,
  address: Uint8Array,
  controller: Uint8Array,
  stored: Uint8Array,
): { document: Record<string, unknown>; notJson?: string } {
  const did = didOf(appId, address);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(stored));
  } catch {
    parsed = undefined;
  }
  let notJson: string;
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const doc = parsed as Record<string, unknown>;
    const named = typeof doc.id === 'string' ? parseDid(doc.id) : undefined;
    // DID Core: a document's id is the DID it describes. One that names another DID is not this DID's document.
    if (doc.id === undefined || (named?.appId === appId && equalsBytes(named.address, address))) {
      return { document: { ...doc, id: did } };
    }
    notJson = `its id is ${JSON.stringify(doc.id)}, not ${did}`;
  } else {
    notJson = stored.length === 0 ? 'the controller stored an empty document' : 'it is not a JSON object';
  }
  return { document: { id: did, controller: didOf(appId, controller) }, notJson };
}

const DidParam = z
  .string()
  .regex(
    /^(0x[0-9a-fA-F]{40}|did:polis:[a-z][a-z0-9-]{0,62}:0x[0-9a-fA-F]{40})$/,
    'must be an address (0x and 40 hex digits) or a DID did:polis:<app>:<address>',
  );

const DidResolutionSchema = z.object({
  didDocument: z
    .record(z.string(), z.unknown())
    .describe("The DID document (W3C DID Core): the controller's JSON with its id set to the DID, or the DID and its controller"),
  didDocumentMetadata: z.object({
    created: z.string().describe('When the DID was created (UTC, to the second)'),
    updated: z.string().describe('When it last changed'),
    deactivated: z.boolean(),
    createdMs: z.number().int().describe('created, in ms since the epoch (the block time)'),
    updatedMs: z.number().int(),
    rawDocument: z.string().optional().describe('The stored bytes as hex, when they are not a JSON document of this DID'),
    rawDocumentReason: z.string().optional().describe('Why rawDocument is given instead of the document'),
  }),
  controller: z.string().describe('The address that controls the DID (updates, rotates or deactivates it)'),
});

const HoldingsSchema = z.object({
  collectionId: z.string(),
  collectionAddress: z.string().describe("The address the collection's Transfer / TransferSingle events come from"),
  kind: z.number().int().describe('0: unique tokens (ERC-721-shaped); 1: amounts (ERC-1155-shaped)'),
  holder: z.string(),
  blockNumber: z.number().int().describe('The block whose state the page was read from'),
  total: z.number().int().describe('Token ids the holder has in the collection'),
  offset: z.number().int(),
  limit: z.number().int(),
  tokens: z.array(
    z.object({
      tokenId: z.string(),
      amount: z.string().describe('Units held: 1 for a unique token'),
      uri: z.string(),
      contentHash: z.string().describe('The hash of the certified document'),
      frozen: z.boolean().describe('Frozen by the issuer: it cannot move'),
    }),
  ),
});

const viewOf = (s: ServiceDefinition, name: string) => functionOf(s, name, true);

/** The view functions the two read routes use, looked up once. */
const IDENTITY_VIEWS = { resolveDid: viewOf(identityService, 'resolveDid') };
const CERTIFICATE_VIEWS = {
  collection: viewOf(certificatesService, 'collection'),
  tokenCount: viewOf(certificatesService, 'tokenCount'),
  tokenOfOwnerByIndex: viewOf(certificatesService, 'tokenOfOwnerByIndex'),
  balanceOf: viewOf(certificatesService, 'balanceOf'),
  tokenURI: viewOf(certificatesService, 'tokenURI'),
  contentHash: viewOf(certificatesService, 'contentHash'),
  isFrozen: viewOf(certificatesService, 'isFrozen'),
};

/** One page of what `holder` has in the collection, read through the service's views. */
async function holdingsPage(ledger: GatewayLedger, collectionId: bigint, holder: Hex, offset: number, limit: number) {
  const view = (fn: AbiFunction, args: unknown[]) => callView(ledger, certificatesService, fn, args);
  let collection: readonly unknown[];
  try {
    collection = (await view(CERTIFICATE_VIEWS.collection, [collectionId])) as readonly unknown[];
  } catch (err) {
    if (err instanceof RestError && err.status === 422) throw new RestError(404, 'NOT_FOUND', reasonOf(err));
    throw err;
  }
  const kind = Number(collection[2]);
  const total = (await view(CERTIFICATE_VIEWS.tokenCount, [collectionId, holder])) as bigint;
  const end = BigInt(offset + limit) < total ? BigInt(offset + limit) : total;
  const tokens = [];
  for (let i = BigInt(offset); i < end; i++) {
    if (i > BigInt(offset) && (i - BigInt(offset)) % BigInt(HOLDINGS_ENTRIES_PER_YIELD) === 0n) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const tokenId = (await view(CERTIFICATE_VIEWS.tokenOfOwnerByIndex, [collectionId, holder, i])) as bigint;
    const amount = kind === 1 ? ((await view(CERTIFICATE_VIEWS.balanceOf, [collectionId, holder, tokenId])) as bigint) : 1n;
    tokens.push({
      tokenId: tokenId.toString(),
      amount: amount.toString(),
      uri: (await view(CERTIFICATE_VIEWS.tokenURI, [collectionId, tokenId])) as string,
      contentHash: (await view(CERTIFICATE_VIEWS.contentHash, [collectionId, tokenId])) as string,
      frozen: (await view(CERTIFICATE_VIEWS.isFrozen, [collectionId, tokenId])) as boolean,
    });
  }
  return {
    collectionId: collectionId.toString(),
    collectionAddress: (collection[5] as string).toLowerCase(),
    kind,
    holder: holder.toLowerCase(),
    total: Number(total),
    offset,
    limit,
    tokens,
  };
}

const ProofSchema = z.object({
  hash: Hash32,
  header: z.record(z.string(), z.unknown()).describe('The header (polis_getHeader fields)'),
  commit: z.string().describe("The block's commit: its proposal and certificate, RLP"),
  proof: z.record(z.string(), z.unknown()).describe("polis_getProof of the record's three storage slots"),
});

/** The REST routes of the built-in services. */
export function serviceRoutes(custody: Custody): AnyRoute[] {
  const base = '/api/v1/apps/{id}';
  const routes: AnyRoute[] = [
    defineRoute({
      method: 'GET',
      path: `${base}/records`,
      summary: `Records by submitter and/or tag, from the Recorded logs, oldest first (at most ${RECORDS_LIST_MAX})`,
      tag: TAG,
      scope: 'read',
      query: z.object({
        submitter: Address.optional(),
        tag: Hash32.optional(),
        fromBlock: z.coerce.number().int().min(0).optional(),
        toBlock: z.coerce.number().int().min(0).optional(),
      }),
      response: z.object({
        records: z.array(
          z.object({
            hash: z.string(),
            submitter: z.string(),
            tag: z.string(),
            meta: z.string(),
            blockNumber: z.number().int(),
            transactionHash: z.string(),
          }),
        ),
      }),
      handler: async ({ query, ledger }) => {
        const topics = encodeEventTopics({
          abi: RECORDS_ABI,
          eventName: 'Recorded',
          args: {
            ...(query.submitter ? { submitter: query.submitter as Hex } : {}),
            ...(query.tag ? { tag: query.tag as Hex } : {}),
          },
        });
        const head = ledger.chain.head();
        const from = query.fromBlock ?? 0;
        const to = Math.min(query.toBlock ?? head, head);
        let logs: Array<{ topics: Hex[]; data: Hex; blockNumber: Hex; transactionHash: Hex }>;
        try {
          // The JSON-RPC methods may answer directly or with a promise.
          logs = (await (ledger.methods.eth_getLogs as (p: unknown[]) => unknown)([
            {
              address: bytesToHex(RECORDS_ADDRESS),
              topics,
              fromBlock: `0x${from.toString(16)}`,
              toBlock: `0x${Math.max(to, 0).toString(16)}`,
            },
          ])) as typeof logs;
        } catch (err) {
          if (err instanceof RpcError) throw new RestError(400, 'LIMIT_EXCEEDED', `${err.message}: narrow fromBlock/toBlock`);
          throw err;
        }
        if (logs.length > RECORDS_LIST_MAX) {
          throw new RestError(
            400,
            'LIMIT_EXCEEDED',
            `${logs.length} records match; at most ${RECORDS_LIST_MAX}: narrow fromBlock/toBlock`,
          );
        }
        return {
          records: logs.map((l) => {
            const e = decodeEventLog({
              abi: RECORDS_ABI,
              eventName: 'Recorded',
              topics: l.topics as [Hex, ...Hex[]],
              data: l.data,
            });
            return {
              hash: e.args.hash,
              submitter: e.args.submitter.toLowerCase(),
              tag: e.args.tag,
              meta: e.args.meta,
              blockNumber: Number(BigInt(l.blockNumber)),
              transactionHash: l.transactionHash,
            };
          }),
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/records/{hash}/proof`,
      summary:
        "A record's proof: the latest certified header, its commit and the record's storage proof (the SDK's verifyRecordProof checks it offline)",
      tag: TAG,
      scope: 'read',
      params: z.object({ hash: Hash32.describe('The recorded hash') }),
      response: ProofSchema,
      errors: { 404: 'Nothing is recorded under this hash' },
      handler: async ({ params, ledger }) => {
        const hash = hexToBytes(params.hash as Hex);
        const slots = recordSlots(hash);
        const words = slots.map((s) => {
          const v = ledger.state.getStorage(RECORDS_ADDRESS, s);
          const w = new Uint8Array(32);
          w.set(v, 32 - v.length);
          return w;
        });
        if (!decodeRecordWords(words)) throw new RestError(404, 'NOT_FOUND', `nothing is recorded under ${params.hash}`);
        const methods = ledger.methods as Record<string, (p: unknown[]) => unknown>;
        const proof = (await methods.polis_getProof?.([bytesToHex(RECORDS_ADDRESS), slots.map(bytesToHex), 'latest'])) as {
          blockNumber: Hex;
        };
        const header = (await methods.polis_getHeader?.([proof.blockNumber])) as Record<string, unknown> & { commit: Hex };
        const { commit, hash: _blockHash, validatorUpdate: _update, ...fields } = header;
        return { hash: params.hash.toLowerCase(), header: fields, commit, proof };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/identity/dids/{address}`,
      summary:
        'Resolves a DID did:polis:<app>:<address> to its W3C DID Core document and metadata; a deactivated DID answers 410 with its metadata',
      tag: TAG,
      scope: 'read',
      params: z.object({ address: DidParam.describe('The DID, or the address it names') }),
      response: DidResolutionSchema,
      errors: {
        404: 'The address has no DID',
        410: 'The DID was deactivated (permanent); the body carries the error and the resolution with deactivated: true',
      },
      handler: async ({ params, ledger, reply }) => {
        let address: Uint8Array;
        if (params.address.startsWith('did:')) {
          const named = parseDid(params.address);
          if (!named) throw new RestError(400, 'INVALID_REQUEST', `${params.address} is not a did:polis DID`);
          if (named.appId !== ledger.id) {
            throw new RestError(
              400,
              'INVALID_REQUEST',
              `${params.address} is a DID of the app "${named.appId}", not "${ledger.id}": resolve it at /api/v1/apps/${named.appId}/identity/dids/${bytesToHex(named.address)}`,
            );
          }
          address = named.address;
        } else {
          address = hexToBytes(params.address.toLowerCase() as Hex);
        }
        const did = didOf(ledger.id, address);
        const [exists, controllerHex, document, created, updated, deactivated] = (await callView(
          ledger,
          identityService,
          IDENTITY_VIEWS.resolveDid,
          [bytesToHex(address)],
        )) as readonly [boolean, Hex, Hex, bigint, bigint, boolean];
        if (!exists) {
          throw new RestError(
            404,
            'NOT_FOUND',
            `${did} does not exist: the account ${bytesToHex(address)} creates it by calling createDid on the identity service (POST /api/v1/apps/${ledger.id}/identity with functionName "createDid")`,
          );
        }
        const controller = hexToBytes(controllerHex);
        const { document: didDocument, notJson } = didDocumentOf(ledger.id, address, controller, hexToBytes(document));
        const resolution = {
          didDocument,
          didDocumentMetadata: {
            created: didTime(created),
            updated: didTime(updated),
            deactivated,
            createdMs: Number(created),
            updatedMs: Number(updated),
            ...(notJson === undefined ? {} : { rawDocument: document.toLowerCase(), rawDocumentReason: notJson }),
          },
          controller: bytesToHex(controller),
        };
        if (!deactivated) return resolution;
        // W3C DID Resolution over HTTP: a deactivated DID answers 410 Gone, with its metadata.
        reply.code(410);
        return {
          error: {
            code: 'DID_DEACTIVATED',
            message: `${did} was deactivated at ${didTime(updated)}, which is permanent: it no longer identifies anyone`,
          },
          ...resolution,
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/certificates/{collectionId}/holders/{address}`,
      summary: `What a holder has in a collection: token ids with amounts, URI, content hash and frozen flag, a page of at most ${HOLDINGS_PAGE_MAX} at a time`,
      tag: TAG,
      scope: 'read',
      params: z.object({
        collectionId: z
          .string()
          // 77 digits at most: under 2^256, so every id that passes is a uint256.
          .regex(/^[1-9][0-9]{0,76}$/, 'must be a collection id: a decimal integer from 1, of at most 77 digits, such as "1"')
          .describe('The collection id'),
        address: Address.describe('The holder'),
      }),
      query: z.object({
        offset: z.coerce
          .number()
          .int()
          .min(0)
          .max(Number.MAX_SAFE_INTEGER)
          .default(0)
          .describe('Entries to skip (the order is the holder list of the service: it changes as tokens move)'),
        limit: z.coerce
          .number()
          .int()
          .min(1)
          .max(HOLDINGS_PAGE_MAX)
          .default(HOLDINGS_PAGE_DEFAULT)
          .describe(`Entries to list, 1 to ${HOLDINGS_PAGE_MAX} (default ${HOLDINGS_PAGE_DEFAULT})`),
      }),
      response: HoldingsSchema,
      errors: { 404: 'There is no such collection', 503: 'Blocks kept changing the collection during the read; see Retry-After' },
      handler: async ({ params, query, ledger, reply }) => {
        const collectionId = BigInt(params.collectionId);
        const { value, blockNumber } = await readWhileUnchanged(ledger, reply, collectionAddress(collectionId), () =>
          holdingsPage(ledger, collectionId, params.address as Hex, query.offset, query.limit),
        );
        return { ...value, blockNumber };
      },
    }),
  ];
  for (const s of BUILTIN_SERVICES) {
    routes.push(
      defineRoute({
        method: 'GET',
        path: `${base}/${s.name}/{function}`,
        summary: `Runs a view function of the ${s.name} service on the latest block; args is a JSON array`,
        tag: TAG,
        scope: 'read',
        params: z.object({ function: z.string().min(1).max(64).describe('The function name') }),
        query: z.object({
          args: z
            .string()
            .max(64 * 1024)
            .optional()
            .describe('The arguments as a JSON array'),
        }),
        response: z.record(z.string(), z.unknown()).describe('The outputs by name'),
        errors: { 404: 'The service has no such view function', 422: 'The call reverted' },
        handler: async ({ params, query, ledger }) => {
          const fn = functionOf(s, params.function, true);
          let raw: unknown = [];
          if (query.args !== undefined) {
            try {
              raw = JSON.parse(query.args);
            } catch {
              throw new RestError(400, 'INVALID_REQUEST', 'args must be a JSON array, e.g. ?args=["0x…",1]');
            }
          }
          return viewCall(ledger, s, fn, argsOf(fn, raw));
        },
      }),
      defineRoute({
        method: 'POST',
        path: `${base}/${s.name}`,
        summary: `Calls a writing function of the ${s.name} service from a custodial account (key trust mode), and waits like POST /transactions`,
        tag: TAG,
        scope: 'write',
        txs: 1,
        maxWaitMs: 60_000,
        body: z.object({
          from: Address.describe('A custodial account of the app'),
          functionName: z.string().min(1).max(64),
          args: z.array(z.unknown()).max(64).default([]),
          waitMs: WaitMsSchema,
        }),
        response: SubmitAnswerSchema,
        errors: {
          404: 'No such writing function, or `from` is not a custodial account of this app',
          422: 'The call would revert (its reason is in the message), or the mempool refused it',
          501: 'Key trust mode is off on this node',
        },
        handler: ({ body, ledger, auth, req, reply }) => {
          const fn = functionOf(s, body.functionName, false);
          let data: Hex;
          try {
            data = encodeFunctionData({ abi: [fn] as Abi, functionName: fn.name, args: argsOf(fn, body.args) });
          } catch (err) {
            if (err instanceof RestError) throw err;
            throw new RestError(
              400,
              'INVALID_REQUEST',
              `the arguments do not fit ${fn.name}: ${(err as Error).message.split('\n')[0]}`,
            );
          }
          return custody.sendAs({
            ledger,
            auth,
            req,
            reply,
            from: body.from,
            to: bytesToHex(s.address),
            data,
            waitMs: body.waitMs,
            route: `POST /${s.name}`,
          });
        },
      }),
    );
  }
  return routes;
}
