/**
 * API keys, plans and app access: what the gateway checks before it serves a request.
 *
 * A key is `pk_<id>_<secret>`: the id (16 hex digits) finds the record, the secret (32 random
 * bytes, base64url) proves possession. Only `sha256(salt || secret)` and the salt are stored,
 * so the access file can be read without handing out keys. The access file stands in for the
 * system ledger's registries (issue P6): plans, each app's plan and owner, and the key records.
 * Every gateway of a network reads the same records; `FileAccessSource` re-reads the file when it
 * changes, so a revocation or rotation takes effect within `reloadMs` everywhere.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { readJsonFile } from '../config.js';

/** What a key may do. `admin` is the app owner's: it implies `read` and `write`. */
export const SCOPES = ['read', 'write', 'admin', 'regulator'] as const;
export type Scope = (typeof SCOPES)[number];

/** Limits per second. A plan sets them for an app; a key may set lower ones for itself. */
export const LimitsSchema = z.object({
  requestsPerSec: z.number().positive(),
  txPerSec: z.number().positive(),
  bytesInPerSec: z.number().positive(),
  bytesOutPerSec: z.number().positive(),
});
export type Limits = z.infer<typeof LimitsSchema>;

/** The plans every network has unless its access file names others. */
export const DEFAULT_PLANS = {
  // Low enough that a newcomer sees a 429 with a simple loop.
  free: { requestsPerSec: 50, txPerSec: 10, bytesInPerSec: 1_000_000, bytesOutPerSec: 5_000_000 },
  standard: { requestsPerSec: 1_000, txPerSec: 200, bytesInPerSec: 20_000_000, bytesOutPerSec: 100_000_000 },
  // Generous enough for the benchmarks.
  dedicated: { requestsPerSec: 100_000, txPerSec: 20_000, bytesInPerSec: 1_000_000_000, bytesOutPerSec: 2_000_000_000 },
} satisfies Record<string, Limits>;

const hex = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `must be ${bytes * 2} lower-case hex digits`);

/** One stored key: never the key itself. */
export const KeyRecordSchema = z.object({
  id: hex(8),
  appId: z.string().min(1),
  label: z.string().default(''),
  salt: hex(16),
  hash: hex(32),
  scopes: z.array(z.enum(SCOPES)).min(1),
  /** Browser origins allowed to call with this key (CORS); empty: any origin. */
  origins: z.array(z.string()).default([]),
  /** Client IPs allowed to call with this key; empty: any. */
  ips: z.array(z.string()).default([]),
  /** JSON-RPC methods this key may call; empty: all of its scopes. */
  methods: z.array(z.string()).default([]),
  /** Contracts this key may send transactions to or call; empty: any. Lower-case 0x addresses. */
  contracts: z.array(z.string().regex(/^0x[0-9a-f]{40}$/, 'must be a lower-case 0x address')).default([]),
  /** Lower limits than the app's plan, for this key alone. */
  limits: LimitsSchema.partial().default({}),
  createdAt: z.number().int().nonnegative(),
  revokedAt: z.number().int().nonnegative().optional(),
});
export type KeyRecord = z.infer<typeof KeyRecordSchema>;

/** The access file: plans, apps and keys. */
export const AccessFileSchema = z.object({
  plans: z.record(z.string(), LimitsSchema).default(DEFAULT_PLANS),
  apps: z.record(z.string(), z.object({ plan: z.string() })).default({}),
  keys: z.array(KeyRecordSchema).default([]),
});
export type AccessFile = z.infer<typeof AccessFileSchema>;

/** A key as presented by a client, split into its parts. */
export type PresentedKey = { id: string; secret: string };

const KEY_PATTERN = /^pk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Splits a presented key; undefined when it is not shaped like a Polis key. */
export function parseApiKey(key: string): PresentedKey | undefined {
  const m = KEY_PATTERN.exec(key);
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}

/** Keys whose secret was checked against a snapshot, so a client's next request skips the hash. */
const VERIFIED_MAX = 4096;
const verified = new WeakMap<AccessSnapshot, Set<string>>();

/**
 * Whether `secret` is the secret of `key`. A key verified once against this snapshot is
 * remembered (the whole presented string, so only that exact key matches); a new snapshot, as
 * after a revocation, starts empty, and at most `VERIFIED_MAX` keys are remembered per snapshot.
 */
function secretMatches(snap: AccessSnapshot, key: KeyRecord, presented: string, secret: string): boolean {
  let known = verified.get(snap);
  if (known?.has(presented)) return true;
  if (!timingSafeEqual(hashSecret(key.salt, secret), Buffer.from(key.hash, 'hex'))) return false;
  if (!known) {
    known = new Set();
    verified.set(snap, known);
  }
  if (known.size >= VERIFIED_MAX) known.clear();
  known.add(presented);
  return true;
}

function hashSecret(salt: string, secret: string): Buffer {
  return createHash('sha256').update(Buffer.from(salt, 'hex')).update(secret, 'utf8').digest();
}

/** Options of `createApiKey`. */
export type NewKeyOptions = {
  appId: string;
  scopes: Scope[];
  label?: string;
  origins?: string[];
  ips?: string[];
  methods?: string[];
  contracts?: string[];
  limits?: Partial<Limits>;
  now?: number;
};

/** Makes a new key: the secret to hand to the client once, and the record to store. */
export function createApiKey(options: NewKeyOptions): { key: string; record: KeyRecord } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16).toString('hex');
  const record = KeyRecordSchema.parse({
    id,
    appId: options.appId,
    label: options.label ?? '',
    salt,
    hash: hashSecret(salt, secret).toString('hex'),
    scopes: options.scopes,
    origins: options.origins ?? [],
    ips: options.ips ?? [],
    methods: options.methods ?? [],
    contracts: (options.contracts ?? []).map((c) => c.toLowerCase()),
    limits: options.limits ?? {},
    createdAt: options.now ?? Date.now(),
  });
  return { key: `pk_${id}_${secret}`, record };
}

/** The records the gateway checks keys against, as of one moment. */
export type AccessSnapshot = {
  plans: ReadonlyMap<string, Limits>;
  /** The plan name of each app that has one. */
  appPlans: ReadonlyMap<string, string>;
  keys: ReadonlyMap<string, KeyRecord>;
  /** Changes whenever the records change, so that caches keyed on it stay right. */
  version: number;
};

/** Where the gateway gets the records: a file now, the system ledger later. */
export interface AccessSource {
  current(): AccessSnapshot;
  close(): void;
}

export function snapshotOf(file: AccessFile, version: number): AccessSnapshot {
  return {
    plans: new Map(Object.entries(file.plans)),
    appPlans: new Map(Object.entries(file.apps).map(([id, a]) => [id, a.plan])),
    keys: new Map(file.keys.map((k) => [k.id, k])),
    version,
  };
}

/** An access source that holds fixed records (tests, a node without an access file). */
export function staticAccessSource(file: AccessFile): AccessSource {
  const snap = snapshotOf(file, 1);
  return { current: () => snap, close: () => {} };
}

/** Reads an access file, validating it. */
export function readAccessFile(path: string): AccessFile {
  return readJsonFile(path, AccessFileSchema, 'access file');
}

/** Writes an access file atomically (a reader never sees half of it). */
export function writeAccessFile(path: string, file: AccessFile): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/**
 * Reads the access file and re-reads it when its modification time or size changes, checking
 * every `reloadMs`. A file that fails validation is logged and ignored: the last good records
 * stay in force, so a typo never opens or closes the gateway.
 */
export class FileAccessSource implements AccessSource {
  readonly #path: string;
  #snapshot: AccessSnapshot;
  #stamp: string;
  readonly #timer: NodeJS.Timeout;
  readonly #onError: (err: unknown) => void;

  constructor(path: string, reloadMs: number, onError: (err: unknown) => void) {
    this.#path = path;
    this.#onError = onError;
    this.#stamp = this.#stat();
    this.#snapshot = snapshotOf(readAccessFile(path), 1);
    this.#timer = setInterval(() => this.reload(), reloadMs);
    this.#timer.unref();
  }

  #stat(): string {
    try {
      const s = statSync(this.#path);
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return 'missing';
    }
  }

  /** Re-reads the file if it changed; returns whether the records changed. */
  reload(): boolean {
    const stamp = this.#stat();
    if (stamp === this.#stamp) return false;
    this.#stamp = stamp;
    try {
      this.#snapshot = snapshotOf(readAccessFile(this.#path), this.#snapshot.version + 1);
      return true;
    } catch (err) {
      this.#onError(err);
      return false;
    }
  }

  current(): AccessSnapshot {
    return this.#snapshot;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

/** Adds a key to an access file (creating the file and the app's plan entry as needed). */
export function addKeyToFile(path: string, record: KeyRecord, plan?: string): void {
  const file = existsSync(path) ? readAccessFile(path) : AccessFileSchema.parse({});
  file.keys.push(record);
  if (plan !== undefined) file.apps[record.appId] = { plan };
  writeAccessFile(path, file);
}

/** Why a request was refused. `status` is the HTTP status to answer with. */
export type Denial = { status: 401 | 403; message: string };

/** Who is calling: the key's record, once it has been checked. */
export type Principal = { key: KeyRecord; plan: Limits; planName: string };

/**
 * Checks a presented key for `appId`: well-formed, known, not revoked, the right secret, for this
 * app, and allowed from this IP and origin. The secret is compared in constant time.
 */
export function authenticate(
  snap: AccessSnapshot,
  appId: string,
  presented: string | undefined,
  from: { ip: string; origin?: string | undefined },
): Principal | Denial {
  if (presented === undefined || presented === '') {
    return {
      status: 401,
      message: `an API key is required: call /v1/${appId}/<apiKey> or send "Authorization: Bearer <apiKey>"`,
    };
  }
  const parsed = parseApiKey(presented);
  if (!parsed)
    return { status: 401, message: 'the API key is malformed: a Polis key looks like pk_<16 hex digits>_<43 characters>' };
  const key = snap.keys.get(parsed.id);
  if (!key || !secretMatches(snap, key, presented, parsed.secret)) {
    return { status: 401, message: 'the API key is not valid: check it, or create a new one for this app' };
  }
  if (key.revokedAt !== undefined) {
    return { status: 401, message: `the API key ${key.id} was revoked: use its replacement or create a new one` };
  }
  if (key.appId !== appId) {
    return { status: 403, message: `the API key ${key.id} belongs to another app and cannot use app "${appId}"` };
  }
  if (key.ips.length > 0 && !key.ips.includes(normalizeIp(from.ip))) {
    return {
      status: 403,
      message: `the API key ${key.id} is not allowed from ${normalizeIp(from.ip)}: add the address to its IP allowlist`,
    };
  }
  if (from.origin !== undefined && key.origins.length > 0 && !key.origins.includes(from.origin)) {
    return {
      status: 403,
      message: `the API key ${key.id} is not allowed from origin ${from.origin}: add it to its origin allowlist`,
    };
  }
  const planName = snap.appPlans.get(appId) ?? 'free';
  const plan = snap.plans.get(planName) ?? DEFAULT_PLANS.free;
  return { key, plan, planName };
}

/** IPv4 addresses mapped into IPv6 (`::ffff:1.2.3.4`) compare as IPv4. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

export function isDenial(x: Principal | Denial): x is Denial {
  return 'status' in x;
}

/** JSON-RPC methods that change state; every other method reads. */
export const WRITE_METHODS: ReadonlySet<string> = new Set(['eth_sendRawTransaction', 'eth_sendTransaction']);

/** The scope a JSON-RPC method needs. */
export function scopeOfMethod(method: string): 'read' | 'write' {
  return WRITE_METHODS.has(method) ? 'write' : 'read';
}

/**
 * Whether a key's scopes grant `needed`. `admin` grants read, write and what `regulator` reads
 * (exports); `regulator` grants read, and a key with `regulator` never writes, whatever else it
 * holds (ADR 0008).
 */
export function hasScope(key: KeyRecord, needed: Scope): boolean {
  if (key.scopes.includes('regulator') && needed !== 'read' && needed !== 'regulator') return false;
  if (key.scopes.includes(needed)) return true;
  if (key.scopes.includes('admin') && needed === 'regulator') return true;
  if (key.scopes.includes('admin') && (needed === 'read' || needed === 'write')) return true;
  if (key.scopes.includes('regulator') && needed === 'read') return true;
  return false;
}

/** Why a key may not call `method`, or undefined when it may. */
export function methodDenied(key: KeyRecord, method: string): string | undefined {
  const needed = scopeOfMethod(method);
  if (!hasScope(key, needed)) {
    return `the API key ${key.id} has scopes [${key.scopes.join(', ')}]; ${method} needs "${needed}"`;
  }
  if (key.methods.length > 0 && !key.methods.includes(method)) {
    return `the API key ${key.id} may not call ${method}: its method allowlist is [${key.methods.join(', ')}]`;
  }
  return undefined;
}

/** Why a key may not send to or call `to`, or undefined when it may. */
export function contractDenied(key: KeyRecord, to: string | undefined): string | undefined {
  if (key.contracts.length === 0) return undefined;
  if (to === undefined)
    return `the API key ${key.id} may only use the contracts [${key.contracts.join(', ')}], not deploy new ones`;
  if (!key.contracts.includes(to.toLowerCase())) {
    return `the API key ${key.id} may not use the contract ${to}: its contract allowlist is [${key.contracts.join(', ')}]`;
  }
  return undefined;
}

/** A key's effective limits: its own where lower, else its app's plan. */
export function keyLimits(principal: Principal): Limits {
  const own = principal.key.limits;
  const p = principal.plan;
  return {
    requestsPerSec: Math.min(own.requestsPerSec ?? Number.POSITIVE_INFINITY, p.requestsPerSec),
    txPerSec: Math.min(own.txPerSec ?? Number.POSITIVE_INFINITY, p.txPerSec),
    bytesInPerSec: Math.min(own.bytesInPerSec ?? Number.POSITIVE_INFINITY, p.bytesInPerSec),
    bytesOutPerSec: Math.min(own.bytesOutPerSec ?? Number.POSITIVE_INFINITY, p.bytesOutPerSec),
  };
}
