/**
 * What every part of the gateway shares: the hosted ledgers, the access records, the limiter and
 * the meter, and the two checks every transport makes: `authorize` (is this key good for this app,
 * and is the app or key under its limits) and `methodsFor` (the JSON-RPC methods a principal may
 * call, with per-method checks and metering wrapped around them).
 */
import type { BlockExecutor } from '@polis/execution';
import type { ChainStore, DecodedTx, Mempool, StateStore } from '@polis/ledger';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import type { LedgerParams } from '../ledgerApp.js';
import { RpcCode, RpcError } from '../rpc/errors.js';
import {
  type AccessSource,
  authenticate,
  contractDenied,
  isDenial,
  keyLimits,
  type Limits,
  methodDenied,
  type Principal,
} from './access.js';
import type { AuditedSystem, AuditLog } from './audit.js';
import type { LedgerFeed } from './feed.js';
import type { MethodResolver, RpcMethods } from './jsonrpc.js';
import type { Cost, RateLimiter, Throttle } from './limits.js';
import type { Meter } from './metering.js';

/** A ledger as the gateway serves it. */
export type GatewayLedger = {
  id: string;
  chainId: number;
  params: LedgerParams;
  methods: RpcMethods;
  feed: LedgerFeed;
  chain: ChainStore;
  state: StateStore;
  mempool: Mempool;
  calls: BlockExecutor;
  /** Decodes and checks a raw transaction's signature (throws TxError). */
  decode(raw: Uint8Array): DecodedTx;
  /** Adds a raw transaction to the mempool and gossips it; returns its hash (throws TxError). */
  submit(raw: Uint8Array): Uint8Array;
  /** Whether the alliance suspended the app: it then takes no transactions (reads go on). */
  suspended?: () => boolean;
  /** The bytes the ledger's database holds on this node (its blocks, state and indexes). */
  storageBytes?: () => number;
};

/** Why a suspended app refuses a transaction. */
export function suspendedMessage(appId: string): string {
  return `the app "${appId}" is suspended by the alliance: it takes no transactions until it is resumed; reads still work`;
}

/** Where a request came from. */
export type Caller = { ip: string; origin?: string | undefined };

/** The outcome of `authorize`. */
export type Authorized = { ok: true; principal: Principal; limits: Limits };
export type Refused = {
  ok: false;
  status: 401 | 403 | 404 | 429;
  code: number;
  message: string;
  /** For 429. */
  retryAfterMs?: number;
};

export type GatewayContext = {
  ledgers: ReadonlyMap<string, GatewayLedger>;
  access: AccessSource;
  limiter: RateLimiter;
  meter: Meter;
  logger: Logger;
  config: GatewayConfig;
  /** Where the gateway keeps its own files (webhook deliveries, custodial keys). */
  dataDir: string;
  /** The audit log (ADR 0008): regulators' requests, admin actions, governance. */
  audit?: AuditLog;
  /** The system ledger, when this node hosts one (governance exports and audit). */
  system?: AuditedSystem;
  authorize(appId: string, presented: string | undefined, caller: Caller, cost: Cost): Authorized | Refused;
  /** The methods `principal` may call on `ledger`; `onThrottle` hears of a transaction over its limit. */
  methodsFor(
    ledger: GatewayLedger,
    auth: Authorized,
    transport: 'http' | 'ws',
    onThrottle?: (t: Throttle) => void,
  ): MethodResolver;
  /** Charges an answer's bytes to the app and key. */
  chargeOut(auth: Authorized, bytes: number): void;
};

/** Methods whose first parameter is a call object with a `to`. */
const CALL_METHODS = new Set(['eth_call', 'eth_estimateGas', 'eth_createAccessList']);

export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** Builds the shared checks around the given parts. */
export function createContext(parts: Omit<GatewayContext, 'authorize' | 'methodsFor' | 'chargeOut'>): GatewayContext {
  const { access, limiter, meter } = parts;

  const authorize = (appId: string, presented: string | undefined, caller: Caller, cost: Cost): Authorized | Refused => {
    if (!parts.ledgers.has(appId)) {
      return {
        ok: false,
        status: 404,
        code: RpcCode.RESOURCE_NOT_FOUND,
        message: `this node serves no app "${appId}": check the app id, or ask which nodes host it`,
      };
    }
    const p = authenticate(access.current(), appId, presented, caller);
    if (isDenial(p)) {
      meter.denied(appId, p.status);
      return {
        ok: false,
        status: p.status,
        code: p.status === 401 ? RpcCode.UNAUTHORIZED : RpcCode.FORBIDDEN,
        message: p.message,
      };
    }
    const limits = keyLimits(p);
    const t = limiter.admit(appId, p.plan, p.key.id, limits, cost);
    if (t) {
      meter.throttled(appId, p.key.id, t.limit);
      return { ok: false, status: 429, code: RpcCode.LIMIT_EXCEEDED, message: t.message, retryAfterMs: t.retryAfterMs };
    }
    return { ok: true, principal: p, limits };
  };

  const methodsFor = (
    ledger: GatewayLedger,
    auth: Authorized,
    _transport: 'http' | 'ws',
    onThrottle?: (t: Throttle) => void,
  ): MethodResolver => {
    const { key } = auth.principal;
    return (name) => {
      const method = Object.hasOwn(ledger.methods, name) ? ledger.methods[name] : undefined;
      if (!method) return undefined;
      return async (params) => {
        const denied = methodDenied(key, name);
        if (denied) throw new RpcError(RpcCode.FORBIDDEN, denied);
        if (key.contracts.length > 0) {
          let to: string | undefined;
          let checked = false;
          if (CALL_METHODS.has(name)) {
            const call = params[0];
            const t = typeof call === 'object' && call !== null ? (call as { to?: unknown }).to : undefined;
            to = typeof t === 'string' ? t : undefined;
            checked = true;
          } else if (name === 'eth_sendRawTransaction' && typeof params[0] === 'string' && /^0x[0-9a-fA-F]*$/.test(params[0])) {
            try {
              const d = ledger.decode(Buffer.from(params[0].slice(2), 'hex'));
              to = d.tx.to?.toString();
              checked = true;
            } catch {
              // Not a valid transaction: the method itself answers with what is wrong.
            }
          }
          if (checked) {
            const why = contractDenied(key, to);
            if (why) throw new RpcError(RpcCode.FORBIDDEN, why);
          }
        }
        const isSend = name === 'eth_sendRawTransaction';
        if (isSend && ledger.suspended?.()) throw new RpcError(RpcCode.FORBIDDEN, suspendedMessage(ledger.id));
        if (isSend) {
          const t = limiter.admit(ledger.id, auth.principal.plan, key.id, auth.limits, { requests: 0, txs: 1, bytesIn: 0 });
          if (t) {
            meter.throttled(ledger.id, key.id, t.limit);
            onThrottle?.(t);
            throw new RpcError(RpcCode.LIMIT_EXCEEDED, t.message, { retryAfter: retryAfterSeconds(t.retryAfterMs) });
          }
        }
        const result = await method(params);
        if (isSend && typeof result === 'string') meter.txSent(ledger.id, key.id, result);
        return result;
      };
    };
  };

  const chargeOut = (auth: Authorized, bytes: number) => {
    const appId = auth.principal.key.appId;
    limiter.chargeBytesOut(appId, auth.principal.plan, auth.principal.key.id, auth.limits, bytes);
    meter.bytesOut(appId, auth.principal.key.id, bytes);
  };

  return { ...parts, authorize, methodsFor, chargeOut };
}
