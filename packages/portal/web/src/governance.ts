/**
 * Signing governance transactions in the browser. The admin's secp256k1 key is held in this
 * module's memory only, for the life of the page (never in localStorage or sessionStorage, never
 * sent anywhere): a reload or "Forget the key" drops it. The page builds the transaction here
 * (chain id and nonce from the portal), signs it and sends the portal only the signed bytes, which
 * the portal relays to the system ledger.
 */
import {
  bytesToHex,
  decryptKeystore,
  hexToBytes,
  isPolisError,
  isSecp256k1PrivateKey,
  KeystoreErrorCode,
  privateKeyToAddress,
} from '@polis/core';
import { type Action, encodeGovTx, type GovBody, signGovTxSecp256k1 } from '@polis/governance';
import { useSyncExternalStore } from 'react';
import { ApiError, api } from './api.js';

/** How long a new proposal stays open: a week, so that admins in other time zones can approve it. */
export const PROPOSAL_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** The admin key the page signs with. */
export type AdminKey = { address: string; privateKey: Uint8Array; source: 'pasted' | 'keystore' };

/** What `/api/admin/signing-info` answers. */
export type SigningInfo = {
  address: string;
  chainId: number;
  nonce: number;
  isAdmin: boolean;
  admins: string[];
  threshold: number;
};

/** A proposal as the admin API lists it. */
export type ProposalView = {
  id: number;
  proposer: string;
  action: Action;
  summary: string;
  createdAt: { height: number; time: number };
  expiresAt: number;
  approvals: { address: string; height: number }[];
  approvalsCounted: number;
  threshold: number;
  status: 'open' | 'executed' | 'failed';
  effectiveStatus: 'open' | 'executed' | 'failed' | 'expired';
  error?: { code: string; message: string };
  closedAt?: number;
};

/** What `/api/admin/submit` answers. */
export type RelayResult = {
  hash: string;
  receipt: { status: 'ok' | 'failed'; events: { type: string }[] };
  proposal?: ProposalView;
  outcome: string;
};

let current: AdminKey | undefined;
const listeners = new Set<() => void>();

function emit(): void {
  for (const l of listeners) l();
}

/** Keeps `key` for signing until the page goes away or `forgetAdminKey` runs. */
export function setAdminKey(key: AdminKey): void {
  if (current && current !== key) current.privateKey.fill(0);
  current = key;
  emit();
}

/** Drops the key and overwrites its bytes. */
export function forgetAdminKey(): void {
  current?.privateKey.fill(0);
  current = undefined;
  emit();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The key the page signs with, or undefined; re-renders when it changes. */
export function useAdminKey(): AdminKey | undefined {
  return useSyncExternalStore(subscribe, () => current);
}

function badKey(message: string, hint: string): ApiError {
  return new ApiError(0, 'BAD_KEY', message, hint);
}

/** Reads a pasted private key (64 hex digits, with or without 0x). */
export function keyFromHex(text: string): AdminKey {
  const trimmed = text.trim();
  const hex = trimmed.startsWith('0x') || trimmed.startsWith('0X') ? `0x${trimmed.slice(2)}` : `0x${trimmed}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) {
    throw badKey(
      'that is not a private key',
      'Paste the 32-byte key as 64 hex digits, with or without 0x (not an address, which has 40)',
    );
  }
  const privateKey = hexToBytes(hex.toLowerCase());
  if (!isSecp256k1PrivateKey(privateKey))
    throw badKey('that key is outside the secp256k1 range', 'Check that you copied the whole key');
  return { address: bytesToHex(privateKeyToAddress(privateKey)), privateKey, source: 'pasted' };
}

/** Opens a keystore v3 file (the JSON text) with its password. */
export function keyFromKeystore(json: string, password: string): AdminKey {
  try {
    const { secret, keyType } = decryptKeystore(json, password);
    if (keyType !== 'secp256k1') {
      secret.fill(0);
      throw badKey(
        'this key file holds a node key (Ed25519), not an account key',
        "Open the admin account's key file (secp256k1)",
      );
    }
    return { address: bytesToHex(privateKeyToAddress(secret)), privateKey: secret, source: 'keystore' };
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (isPolisError(err, KeystoreErrorCode.WRONG_PASSWORD)) {
      throw badKey(err.shortMessage, 'Check the password you typed; if it is right, the file was altered');
    }
    if (isPolisError(err)) throw badKey(err.shortMessage, 'Choose a keystore v3 JSON file (as polis key new or geth write)');
    throw badKey('the file is not a keystore', 'Choose a keystore v3 JSON file (as polis key new or geth write)');
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  // Addresses and node keys are hex; the same key in another case is the same key.
  return JSON.stringify(typeof value === 'string' && /^0x[0-9a-fA-F]+$/.test(value) ? value.toLowerCase() : value);
}

/** Whether two actions ask for the same thing (addresses compared in any case). */
export function sameAction(a: Action, b: Action): boolean {
  return canonical(a) === canonical(b);
}

/** The open proposal for `action`, if an admin has proposed it already. */
export function openProposalFor(action: Action, open: readonly ProposalView[]): ProposalView | undefined {
  return open.find((p) => p.effectiveStatus === 'open' && sameAction(p.action, action));
}

/** Whether `address` has approved `proposal`. */
export function hasApproved(proposal: ProposalView, address: string): boolean {
  return proposal.approvals.some((a) => a.address.toLowerCase() === address.toLowerCase());
}

/** What to sign for `action`: an approval of its open proposal when there is one, or a new proposal. */
export function bodyFor(action: Action, open: readonly ProposalView[], now = Date.now()): GovBody {
  const existing = openProposalFor(action, open);
  return existing ? { type: 'approve', proposalId: existing.id } : { type: 'propose', action, expiresAt: now + PROPOSAL_TTL_MS };
}

/**
 * Signs `body` with `key` at the key's next nonce and has the portal relay it; answers with the
 * receipt and its outcome in plain words. A key that is not an admin's is refused here, before
 * anything is signed or sent.
 */
export async function signAndSubmit(key: AdminKey, body: GovBody): Promise<RelayResult> {
  const info = await api<SigningInfo>('GET', `/api/admin/signing-info?address=${key.address}`);
  if (!info.isAdmin) {
    throw new ApiError(
      0,
      'NOT_ADMIN_KEY',
      `the key you gave signs as ${key.address}, which is not one of the alliance's ${info.admins.length} admins; nothing was sent`,
      "Forget this key and give an admin's key (their addresses are listed under Your admin key)",
    );
  }
  const tx = signGovTxSecp256k1({ chainId: info.chainId, nonce: info.nonce, body }, key.privateKey);
  return api<RelayResult>('POST', '/api/admin/submit', { raw: bytesToHex(encodeGovTx(tx)) });
}
