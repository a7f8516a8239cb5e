/**
 * Typed access to the built-in services (records, identity, certificates) through a gateway's REST
 * routes (`/api/v1/apps/{id}/{service}`): views are read on the latest block, writes are signed by
 * a custodial account (key trust mode) and waited for. Record proofs are checked here, with the
 * validator set the caller trusts, before anything is returned.
 */
import type { Hex } from '@polis/core';
import type { ValidatorInfo } from './commit.js';
import { SdkError, SdkErrorCode } from './errors.js';
import { type ProvenRecord, type RecordProof, verifyRecordProof } from './records.js';

/** The built-in services. */
export type ServiceName = 'records' | 'identity' | 'certificates';

/** Options of `createServicesClient`. */
export type ServicesClientOptions = {
  /** The gateway's base URL, e.g. http://127.0.0.1:8545. */
  baseUrl: string;
  appId: string;
  apiKey: string;
  timeoutMs?: number;
};

/** The answer of a write: committed (with the receipt) or still pending when the wait ended. */
export type SendResult = {
  status: 'committed' | 'pending';
  transactionHash: Hex;
  receipt?: { status: number; blockNumber: number; gasUsed: string; logs: unknown[] } & Record<string, unknown>;
};

/** A record as the service stores it. */
export type RecordInfo = {
  exists: boolean;
  submitter: Hex;
  /** Decimal strings: the block and its time in milliseconds. */
  blockNumber: string;
  timestampMs: string;
  metaHash: Hex;
  tag: Hex;
};

/** A record as the `Recorded` log shows it. */
export type RecordEntry = { hash: Hex; submitter: Hex; tag: Hex; meta: Hex; blockNumber: number; transactionHash: Hex };

/** A REST error: the gateway's `{error: {code, message}}`, with the HTTP status. */
export class ServiceCallError extends Error {
  override name = 'ServiceCallError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Creates a client of the app's built-in services. */
export function createServicesClient(o: ServicesClientOptions) {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const base = `${o.baseUrl.replace(/\/$/, '')}/api/v1/apps/${encodeURIComponent(o.appId)}`;

  const rest = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${o.apiKey}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (cause) {
      throw new SdkError({ code: SdkErrorCode.TRANSPORT, url: base }, `no answer from ${base}`, {
        hint: 'Check the URL and that the gateway is running',
        cause,
      });
    }
    const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    if (!res.ok)
      throw new ServiceCallError(res.status, json.error?.code ?? 'HTTP_ERROR', json.error?.message ?? `HTTP ${res.status}`);
    return json as T;
  };

  /** Runs a view function; the outputs come back by name (numbers as decimal strings). */
  const call = <T = Record<string, unknown>>(service: ServiceName, fn: string, args: readonly unknown[] = []): Promise<T> =>
    rest<T>('GET', `/${service}/${encodeURIComponent(fn)}?args=${encodeURIComponent(JSON.stringify(args, bigintJson))}`);

  /** Calls a writing function from a custodial account and waits (up to `waitMs`) for its block. */
  const send = (
    service: ServiceName,
    w: { from: Hex; functionName: string; args?: readonly unknown[]; waitMs?: number },
  ): Promise<SendResult> =>
    rest<SendResult>('POST', `/${service}`, JSON.parse(JSON.stringify({ ...w, args: w.args ?? [] }, bigintJson)));

  return {
    call,
    send,
    records: {
      get: (hash: Hex) => call<RecordInfo>('records', 'getRecord', [hash]),
      list: async (filter: { submitter?: Hex; tag?: Hex; fromBlock?: number; toBlock?: number } = {}) => {
        const q = new URLSearchParams(Object.entries(filter).map(([k, v]): [string, string] => [k, String(v)]));
        return (await rest<{ records: RecordEntry[] }>('GET', `/records?${q}`)).records;
      },
      add: (w: { from: Hex; hash: Hex; tag?: Hex; meta?: Hex; waitMs?: number }) =>
        send('records', {
          from: w.from,
          functionName: w.tag ? 'recordWithTag' : 'record',
          args: w.tag ? [w.hash, w.tag, w.meta ?? '0x'] : [w.hash, w.meta ?? '0x'],
          ...(w.waitMs !== undefined ? { waitMs: w.waitMs } : {}),
        }),
      /** The proof bundle, unchecked (keep it to check offline with `verifyRecordProof`). */
      proof: (hash: Hex) => rest<RecordProof>('GET', `/records/${hash}/proof`),
      /** The record, proven against `validators`; throws `SdkError` (UNVERIFIED) when the proof does not hold. */
      prove: async (hash: Hex, validators: readonly ValidatorInfo[]): Promise<ProvenRecord> => {
        const bundle = await rest<RecordProof>('GET', `/records/${hash}/proof`);
        const r = verifyRecordProof(bundle, validators);
        if (!r.valid) {
          throw new SdkError(
            { code: SdkErrorCode.UNVERIFIED, what: 'record proof', reason: r.reason },
            `the gateway's record proof does not verify: ${r.reason}`,
            { hint: 'Do not trust this answer; try another gateway' },
          );
        }
        return r.record;
      },
    },
  };
}

/** The client `createServicesClient` returns. */
export type ServicesClient = ReturnType<typeof createServicesClient>;

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
