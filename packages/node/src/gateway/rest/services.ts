/**
 * REST for the built-in services (issue P7): `/api/v1/apps/{id}/records`, `/identity` and
 * `/certificates`. For each service:
 * - `GET /{service}/{function}?args=[...]` runs a view function of its ABI (eth_call on the latest
 *   block) and answers its outputs by name; numbers are decimal strings;
 * - `POST /{service}` `{from, functionName, args}` signs with a custodial account (key trust mode),
 *   sends and waits like `POST /transactions`.
 * And for records: `GET /records?submitter=&tag=` (lookup through the `Recorded` logs) and
 * `GET /records/{hash}/proof`, the bundle the SDK's `verifyRecordProof` checks offline.
 */
import { bytesToHex, hexToBytes } from '@polis/core';
import {
  BUILTIN_SERVICES,
  decodeRecordWords,
  RECORDS_ABI,
  RECORDS_ADDRESS,
  recordSlots,
  type ServiceDefinition,
} from '@polis/execution';
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

async function viewCall(ledger: GatewayLedger, s: ServiceDefinition, fn: AbiFunction, args: unknown[]): Promise<unknown> {
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
  const result = decodeFunctionResult({ abi: [fn] as Abi, functionName: fn.name, data: out });
  if (fn.outputs.length === 1) return { [fn.outputs[0]?.name || 'result']: toJson(result) };
  const values = result as readonly unknown[];
  return Object.fromEntries(fn.outputs.map((o, i) => [o.name || `output${i}`, toJson(values[i])]));
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
