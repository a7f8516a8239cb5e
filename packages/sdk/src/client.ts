/**
 * A small JSON-RPC client for a Polis ledger whose reads are proven: every answer it returns was
 * checked against a block header (and the header against its hash). It uses `fetch`, so it runs
 * in Node and in browsers that have it.
 */
import type { Hex } from '@polis/core';
import { SdkError, SdkErrorCode } from './errors.js';
import type { HeaderJson } from './header.js';
import { type PolisProofAnswer, type ReceiptProofAnswer, verifyAccountProof, verifyReceiptProof } from './proofs.js';

/** Options of `createPolisClient`. */
export type PolisClientOptions = {
  /** The ledger's JSON-RPC endpoint, e.g. http://127.0.0.1:8545/v1/demo. */
  url: string;
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

  const request = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    let body: { result?: T; error?: { code: number; message: string } };
    try {
      const res = await fetch(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      body = (await res.json()) as typeof body;
    } catch (cause) {
      throw new SdkError({ code: SdkErrorCode.TRANSPORT, url: options.url }, `no JSON-RPC answer from ${options.url}`, {
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

  return {
    request,
    async getProvenAccount(address, slots = [], block = 'latest') {
      const proof = await request<PolisProofAnswer>('polis_getProof', [address, slots, block]);
      const header = await request<(HeaderJson & { hash: Hex }) | null>('polis_getHeader', [proof.blockNumber]);
      if (!header) throw unverified('proof', `block ${proof.blockNumber} has no header`);
      const result = verifyAccountProof(header, proof);
      if (!result.valid) throw unverified('proof', result.reason);
      return {
        address: proof.address,
        nonce: BigInt(proof.nonce),
        balance: BigInt(proof.balance),
        codeHash: proof.codeHash,
        storage: Object.fromEntries(proof.storageProof.map((s) => [s.key, BigInt(s.value)])),
        blockNumber: BigInt(proof.blockNumber),
        blockHash: proof.blockHash,
      };
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
