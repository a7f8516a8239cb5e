/**
 * Typed access to the built-in services (records, identity, certificates) through a gateway's REST
 * routes (`/api/v1/apps/{id}/{service}`): views are read on the latest block, writes are signed by
 * a custodial account (key trust mode) and waited for. Record proofs are checked here, with the
 * validator set the caller trusts, before anything is returned.
 */
import { bytesToHex, type Hex, utf8ToBytes } from '@polis/core';
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

/** A DID as the identity service stores it (`resolveDid`); times in ms as decimal strings. */
export type DidInfo = { exists: boolean; controller: Hex; document: Hex; created: string; updated: string; deactivated: boolean };

/** An attestation (`attestation`): `valid` means present, not revoked and not expired now. */
export type AttestationInfo = {
  valid: boolean;
  issuer: Hex;
  issuedAt: string;
  expiresAtMs: string;
  dataHash: Hex;
  revoked: boolean;
};

/** A collection of the certificates service. */
export type CollectionInfo = Record<string, unknown> & { issuer: Hex; collectionAddress: Hex };

const ZERO_WORD: Hex = `0x${'00'.repeat(32)}`;

/** A role id: the name's UTF-8 bytes right-padded with zeros to 32 bytes (Solidity's `bytes32("issuer")`). */
export function roleId(name: string): Hex {
  const bytes = utf8ToBytes(name);
  if (bytes.length === 0 || bytes.length > 32) throw new RangeError(`a role name is 1 to 32 bytes, not ${bytes.length}`);
  const word = new Uint8Array(32);
  word.set(bytes);
  return bytesToHex(word);
}

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

  type W = { from: Hex; waitMs?: number };
  const opts = (p: W) => ({ from: p.from, ...(p.waitMs !== undefined ? { waitMs: p.waitMs } : {}) });

  return {
    call,
    send,
    identity: {
      resolveDid: (id: Hex) => call<DidInfo>('identity', 'resolveDid', [id]),
      hasRole: async (account: Hex, role: string) =>
        (await call<{ result: boolean }>('identity', 'hasRole', [account, roleId(role)])).result,
      attestation: (subject: Hex, kind: Hex) => call<AttestationInfo>('identity', 'attestation', [subject, kind]),
      policy: () => call<{ requiredRole: Hex; requiredAttestation: Hex }>('identity', 'policy'),
      checkPolicy: (account: Hex) => call<{ allowed: boolean; reason: string }>('identity', 'checkPolicy', [account]),
      createDid: (p: W & { document: Hex }) => send('identity', { ...opts(p), functionName: 'createDid', args: [p.document] }),
      updateDid: (p: W & { id: Hex; document: Hex }) =>
        send('identity', { ...opts(p), functionName: 'updateDid', args: [p.id, p.document] }),
      rotateDidController: (p: W & { id: Hex; newController: Hex }) =>
        send('identity', { ...opts(p), functionName: 'rotateDidController', args: [p.id, p.newController] }),
      deactivateDid: (p: W & { id: Hex }) => send('identity', { ...opts(p), functionName: 'deactivateDid', args: [p.id] }),
      grantRole: (p: W & { account: Hex; role: string }) =>
        send('identity', { ...opts(p), functionName: 'grantRole', args: [p.account, roleId(p.role)] }),
      revokeRole: (p: W & { account: Hex; role: string }) =>
        send('identity', { ...opts(p), functionName: 'revokeRole', args: [p.account, roleId(p.role)] }),
      attest: (p: W & { subject: Hex; kind: Hex; expiresAtMs?: number; dataHash?: Hex }) =>
        send('identity', {
          ...opts(p),
          functionName: 'attest',
          args: [p.subject, p.kind, p.expiresAtMs ?? 0, p.dataHash ?? ZERO_WORD],
        }),
      revokeAttestation: (p: W & { subject: Hex; kind: Hex }) =>
        send('identity', { ...opts(p), functionName: 'revokeAttestation', args: [p.subject, p.kind] }),
      setPolicy: (p: W & { requiredRole?: string; requiredAttestation?: Hex }) =>
        send('identity', {
          ...opts(p),
          functionName: 'setPolicy',
          args: [p.requiredRole ? roleId(p.requiredRole) : ZERO_WORD, p.requiredAttestation ?? ZERO_WORD],
        }),
    },
    certificates: {
      collection: (id: bigint | number) => call<CollectionInfo>('certificates', 'collection', [id]),
      ownerOf: async (id: bigint | number, tokenId: bigint | number) =>
        (await call<{ result: Hex }>('certificates', 'ownerOf', [id, tokenId])).result,
      balanceOf: async (id: bigint | number, holder: Hex, tokenId: bigint | number) =>
        BigInt((await call<{ result: string }>('certificates', 'balanceOf', [id, holder, tokenId])).result),
      /** The token ids `holder` has in the collection (lookup by owner), at most `max` of them. */
      tokensOf: async (id: bigint | number, holder: Hex, max = 1_000): Promise<bigint[]> => {
        const count = Number((await call<{ result: string }>('certificates', 'tokenCount', [id, holder])).result);
        const out: bigint[] = [];
        for (let i = 0; i < Math.min(count, max); i++) {
          out.push(BigInt((await call<{ result: string }>('certificates', 'tokenOfOwnerByIndex', [id, holder, i])).result));
        }
        return out;
      },
      tokenURI: async (id: bigint | number, tokenId: bigint | number) =>
        (await call<{ result: string }>('certificates', 'tokenURI', [id, tokenId])).result,
      isFrozen: async (id: bigint | number, tokenId: bigint | number) =>
        (await call<{ result: boolean }>('certificates', 'isFrozen', [id, tokenId])).result,
      createCollection: (p: W & { name: string; symbol: string; kind: 0 | 1; transferable: boolean }) =>
        send('certificates', { ...opts(p), functionName: 'createCollection', args: [p.name, p.symbol, p.kind, p.transferable] }),
      mint: (
        p: W & {
          collectionId: bigint | number;
          to: Hex;
          tokenId: bigint | number;
          amount?: bigint | number;
          uri?: string;
          hash?: Hex;
        },
      ) =>
        send('certificates', {
          ...opts(p),
          functionName: 'mint',
          args: [p.collectionId, p.to, p.tokenId, p.amount ?? 1, p.uri ?? '', p.hash ?? ZERO_WORD],
        }),
      transfer: (p: W & { collectionId: bigint | number; to: Hex; tokenId: bigint | number; amount?: bigint | number }) =>
        send('certificates', { ...opts(p), functionName: 'transfer', args: [p.collectionId, p.to, p.tokenId, p.amount ?? 1] }),
      freeze: (p: W & { collectionId: bigint | number; tokenId: bigint | number }) =>
        send('certificates', { ...opts(p), functionName: 'freeze', args: [p.collectionId, p.tokenId] }),
      unfreeze: (p: W & { collectionId: bigint | number; tokenId: bigint | number }) =>
        send('certificates', { ...opts(p), functionName: 'unfreeze', args: [p.collectionId, p.tokenId] }),
      burn: (p: W & { collectionId: bigint | number; tokenId: bigint | number; amount?: bigint | number }) =>
        send('certificates', { ...opts(p), functionName: 'burn', args: [p.collectionId, p.tokenId, p.amount ?? 1] }),
    },
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
