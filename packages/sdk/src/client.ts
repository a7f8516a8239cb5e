/**
 * A small JSON-RPC client for a Polis ledger whose reads are proven: every answer it returns was
 * checked against a block header (and the header against its hash). It uses `fetch`, so it runs
 * in Node and in browsers that have it.
 */
import type { Hex } from '@polis/core';
import { accountOfProof, type GetAccountParameters, type GetAccountReturnType, getAccount } from './actions/getAccount.js';
import { type GetBalanceParameters, type GetBalanceReturnType, getBalance } from './actions/getBalance.js';
import { type GetBlockNumberParameters, type GetBlockNumberReturnType, getBlockNumber } from './actions/getBlockNumber.js';
import { type GetCertificateParameters, type GetCertificateReturnType, getCertificate } from './actions/getCertificate.js';
import { type GetRecordParameters, type GetRecordReturnType, getRecord } from './actions/getRecord.js';
import { type GetStorageAtParameters, type GetStorageAtReturnType, getStorageAt } from './actions/getStorageAt.js';
import {
  type GetTransactionReceiptParameters,
  type GetTransactionReceiptReturnType,
  getTransactionReceipt,
} from './actions/getTransactionReceipt.js';
import type { ActionContext } from './actions/types.js';
import { SdkError, SdkErrorCode } from './errors.js';
import type { HeaderJson } from './header.js';
import { type PolisProofAnswer, type ReceiptProofAnswer, verifyAccountProof, verifyReceiptProof } from './proofs.js';
import { type CertifiedHeaderJson, HeaderChain, type TrustAnchor } from './verify/chain.js';

/** Options of `createPolisClient`. */
export type PolisClientOptions = {
  /**
   * The ledger's JSON-RPC endpoint (e.g. http://127.0.0.1:8545/v1/demo/pk_...), or, with `appId`,
   * the gateway's base URL (http://127.0.0.1:8545).
   */
  url: string;
  /** The app: the endpoint becomes `{url}/v1/{appId}`. */
  appId?: string;
  /** The API key, sent as `Authorization: Bearer`. */
  apiKey?: string;
  /**
   * Check every answer of the actions against the validators' signatures, from `trust`: headers
   * by their commit certificates and validator-set changes, reads by their proofs. A read that does
   * not verify throws `VerificationError`; nothing unverified is returned.
   */
  verify?: boolean;
  /** Where verification starts: the ledger's genesis validators (height 0) or a checkpoint. Required with `verify`. */
  trust?: TrustAnchor;
  /** With `verify`: refuse answers from a block older than this many milliseconds (a stale gateway). */
  maxAgeMs?: number;
  /** Time limit of one request. */
  timeoutMs?: number;
};

/** An account as proven at a block. */
export type ProvenAccount = {
  address: Hex;
  nonce: bigint;
  balance: bigint;
  codeHash: Hex;
  storage: Record<Hex, bigint>;
  blockNumber: bigint;
  blockHash: Hex;
};

/** A client whose reads are checked against proofs. */
export type PolisClient = {
  /** Whether the actions verify their answers. */
  readonly verify: boolean;
  /** The verified chain, with `verify`: its height is the highest block verified so far. */
  readonly chain: HeaderChain | undefined;
  getBlockNumber(p?: GetBlockNumberParameters): Promise<GetBlockNumberReturnType>;
  getAccount(p: GetAccountParameters): Promise<GetAccountReturnType>;
  getBalance(p: GetBalanceParameters): Promise<GetBalanceReturnType>;
  getStorageAt(p: GetStorageAtParameters): Promise<GetStorageAtReturnType>;
  getTransactionReceipt(p: GetTransactionReceiptParameters): Promise<GetTransactionReceiptReturnType>;
  getRecord(p: GetRecordParameters): Promise<GetRecordReturnType>;
  getCertificate(p: GetCertificateParameters): Promise<GetCertificateReturnType>;
  /** A raw JSON-RPC call (nothing checked). */
  request<T>(method: string, params?: unknown[]): Promise<T>;
  /** An account and some storage slots, proven against the state root of the block's header. */
  getProvenAccount(address: Hex, slots?: Hex[], block?: Hex | 'latest'): Promise<ProvenAccount>;
  /** A transaction's receipt (Ethereum encoding), proven against the receipts root of its block's header. */
  getProvenReceipt(txHash: Hex): Promise<ReceiptProofAnswer | null>;
};

/** Creates a `PolisClient`. */
export function createPolisClient(options: PolisClientOptions): PolisClient {
  let nextId = 1;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const url = options.appId ? `${options.url.replace(/\/$/, '')}/v1/${encodeURIComponent(options.appId)}` : options.url;
  if (options.verify && !options.trust) {
    throw new RangeError(
      'verify needs a trust anchor: the ledger genesis validators ({ height: 0, validators }) or a checkpoint',
    );
  }

  const request = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    let body: { result?: T; error?: { code: number; message: string } };
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      body = (await res.json()) as typeof body;
    } catch (cause) {
      throw new SdkError({ code: SdkErrorCode.TRANSPORT, url }, `no JSON-RPC answer from ${url}`, {
        hint: 'Check the URL and that the node or gateway is running',
        cause,
      });
    }
    if (body.error) {
      throw new SdkError({ code: SdkErrorCode.RPC, method, rpcCode: body.error.code }, `${method} failed: ${body.error.message}`);
    }
    return body.result as T;
  };

  const unverified = (what: string, reason: string) =>
    new SdkError({ code: SdkErrorCode.UNVERIFIED, what, reason }, `the gateway's ${what} does not verify: ${reason}`, {
      hint: 'Do not trust this answer; try another gateway',
    });

  const chain = options.verify
    ? new HeaderChain(options.trust as TrustAnchor, (from, count) =>
        request<CertifiedHeaderJson[]>('polis_getHeaders', [`0x${from.toString(16)}`, `0x${count.toString(16)}`]),
      )
    : undefined;
  const ctx: ActionContext = { request, chain, maxAgeMs: options.maxAgeMs, now: () => Date.now() };

  return {
    request,
    verify: options.verify === true,
    chain,
    getBlockNumber: (p) => getBlockNumber(ctx, p),
    getAccount: (p) => getAccount(ctx, p),
    getBalance: (p) => getBalance(ctx, p),
    getStorageAt: (p) => getStorageAt(ctx, p),
    getTransactionReceipt: (p) => getTransactionReceipt(ctx, p),
    getRecord: (p) => getRecord(ctx, p),
    getCertificate: (p) => getCertificate(ctx, p),
    async getProvenAccount(address, slots = [], block = 'latest') {
      const proof = await request<PolisProofAnswer>('polis_getProof', [address, slots, block]);
      const header = await request<(HeaderJson & { hash: Hex }) | null>('polis_getHeader', [proof.blockNumber]);
      if (!header) throw unverified('proof', `block ${proof.blockNumber} has no header`);
      const result = verifyAccountProof(header, proof);
      if (!result.valid) throw unverified('proof', result.reason);
      return { ...accountOfProof(proof), blockHash: proof.blockHash };
    },
    async getProvenReceipt(txHash) {
      const proof = await request<ReceiptProofAnswer | null>('polis_getReceiptProof', [txHash]);
      if (!proof) return null;
      const result = verifyReceiptProof(proof);
      if (!result.valid) throw unverified('receipt proof', result.reason);
      return proof;
    },
  };
}
