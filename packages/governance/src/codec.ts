/**
 * The canonical RLP encodings of the system ledger's records, actions and transaction bodies.
 *
 * Each encoding is described once, as a `FieldCodec`: `encode` validates a value (which may come
 * from JSON or a hand-built object) and returns its RLP form; `decode` reads an RLP item exactly
 * as strictly. Both throw a core `CodecError` naming the field, so a value that encodes always
 * decodes back, and decoding then re-encoding gives the same bytes. Records are lists of their
 * fields in a fixed order; unions (actions, bodies) are `[tag, ...fields]`; optional values are
 * a list of zero or one item; strings are UTF-8; addresses and keys are raw bytes.
 */
import {
  bytesToHex,
  CodecError,
  CodecErrorCode,
  hexToBytes,
  type RLPInput,
  type RLPItem,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  rlpEncode,
  utf8ToBytes,
} from '@polis/core';
import {
  ADMINS_MAX,
  APP_ID_PATTERN,
  APPROVALS_MAX,
  ERROR_CODE_BYTES_MAX,
  ERROR_MESSAGE_BYTES_MAX,
  IP_BYTES_MAX,
  KEY_ALLOWLIST_MAX,
  LABEL_BYTES_MAX,
  METHOD_BYTES_MAX,
  MULTIADDR_BYTES_MAX,
  NAME_BYTES_MAX,
  NODE_ADDRS_MAX,
  OBSERVERS_MAX,
  ORIGIN_BYTES_MAX,
  PLAN_NAME_PATTERN,
  REGION_BYTES_MAX,
  REGULATOR_APPS_MAX,
  ROLE_PATTERN,
  VALIDATORS_MAX,
} from './params.js';
import {
  ACCESS_POLICIES,
  type Action,
  type Address,
  APP_STATUSES,
  type ApiKeyRecord,
  type AppRecord,
  type Approval,
  type AuditAnchor,
  type GovBody,
  KEY_MODES,
  type KeyLimits,
  type Limits,
  NODE_STATUSES,
  type NodeKey,
  type NodeRecord,
  PROPOSAL_STATUSES,
  type Proposal,
  type ReceiptError,
  type RegulatorApps,
  type RegulatorGrant,
  SCOPES,
} from './types.js';

/** How one value is encoded, validated and decoded. */
export type FieldCodec<T> = {
  /** Validates `value` and returns its RLP form; throws a `CodecError` naming `field`. */
  readonly encode: (value: unknown, field: string) => RLPInput;
  /** Reads an RLP item as strictly as `encode` checks; throws a `CodecError` naming `field`. */
  readonly decode: (item: RLPItem | undefined, field: string) => T;
};

/** An error for a field that does not have the expected shape or value. */
export function invalidField(field: string, expected: string): CodecError {
  return new CodecError({ code: CodecErrorCode.INVALID_SHAPE, field, expected }, `"${field}" should be ${expected}`);
}

/** Encodes `value` to bytes with `codec`; throws a `CodecError` naming the bad field. */
export function encodeWith<T>(codec: FieldCodec<T>, value: T, field: string): Uint8Array {
  return rlpEncode(codec.encode(value, field));
}

/** Decodes bytes with `codec`; at most `maxBytes` are read. Throws a `CodecError` naming the bad field. */
export function decodeWith<T>(codec: FieldCodec<T>, bytes: Uint8Array, field: string, maxBytes: number): T {
  return codec.decode(rlpDecode(bytes, maxBytes), field);
}

/** Validates `value` and returns its canonical form (lower-case hex, absent fields left out). */
export function canonical<T>(codec: FieldCodec<T>, value: unknown, field: string): T {
  return codec.decode(rlpDecode(rlpEncode(codec.encode(value, field))), field);
}

/** An unsigned safe integer in [min, max]. */
export function uint(min = 0, max = Number.MAX_SAFE_INTEGER): FieldCodec<number> {
  const expected = `an integer from ${min} to ${max}`;
  const check = (value: number, field: string): number => {
    if (value < min || value > max) throw invalidField(field, expected);
    return value;
  };
  return {
    encode: (value, field) => {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalidField(field, expected);
      return check(value, field);
    },
    decode: (item, field) => check(readUint(item, field), field),
  };
}

/** A boolean, as the integer 0 or 1. */
export const bool: FieldCodec<boolean> = {
  encode: (value, field) => {
    if (typeof value !== 'boolean') throw invalidField(field, 'true or false');
    return value ? 1 : 0;
  },
  decode: (item, field) => {
    const n = readUint(item, field);
    if (n > 1) throw invalidField(field, '0 (false) or 1 (true)');
    return n === 1;
  },
};

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Options of a text field. */
type TextOptions = {
  maxBytes: number;
  /** At least one byte (the default), or may be empty. */
  allowEmpty?: boolean;
  pattern?: RegExp;
  /** What `pattern` means, for the error message. */
  patternText?: string;
};

/** A UTF-8 string without control characters, of at most `maxBytes` bytes. */
export function text(options: TextOptions): FieldCodec<string> {
  const { maxBytes, allowEmpty = false, pattern, patternText } = options;
  const check = (value: string, field: string): Uint8Array => {
    const bytes = utf8ToBytes(value);
    if (bytes.length > maxBytes) throw invalidField(field, `at most ${maxBytes} bytes of UTF-8, got ${bytes.length}`);
    if (!allowEmpty && bytes.length === 0) throw invalidField(field, 'a non-empty string');
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x20 || c === 0x7f) throw invalidField(field, 'a string without control characters');
    }
    // A lone surrogate half would be replaced by U+FFFD, and the value would not round-trip.
    if (UTF8.decode(bytes) !== value) throw invalidField(field, 'well-formed Unicode text');
    if (pattern && !pattern.test(value)) throw invalidField(field, patternText ?? `a string matching ${pattern}`);
    return bytes;
  };
  return {
    encode: (value, field) => {
      if (typeof value !== 'string') throw invalidField(field, 'a string');
      return check(value, field);
    },
    decode: (item, field) => {
      const bytes = readBytes(item, field);
      if (bytes.length > maxBytes) throw invalidField(field, `at most ${maxBytes} bytes of UTF-8, got ${bytes.length}`);
      let value: string;
      try {
        value = UTF8.decode(bytes);
      } catch {
        throw invalidField(field, 'valid UTF-8');
      }
      check(value, field);
      return value;
    },
  };
}

/**
 * Bytes of a fixed length, as hex: `0x`-prefixed (addresses, node keys) or bare (the gateway's
 * key ids, salts and hashes). Either case is accepted; decoding gives lower case.
 */
export function hexBytes<T extends string = string>(length: number, prefixed: boolean): FieldCodec<T> {
  const re = new RegExp(prefixed ? `^0x[0-9a-fA-F]{${length * 2}}$` : `^[0-9a-fA-F]{${length * 2}}$`);
  const expected = prefixed ? `0x and ${length * 2} hex digits (${length} bytes)` : `${length * 2} hex digits (${length} bytes)`;
  return {
    encode: (value, field) => {
      if (typeof value !== 'string' || !re.test(value)) throw invalidField(field, expected);
      return hexToBytes(prefixed ? value : `0x${value}`);
    },
    decode: (item, field) => {
      const hex = bytesToHex(readBytes(item, field, length));
      return (prefixed ? hex : hex.slice(2)) as T;
    },
  };
}

/** One of a fixed set of strings, encoded as its UTF-8 bytes. */
export function oneOf<T extends string>(values: readonly T[]): FieldCodec<T> {
  const expected = `one of ${values.map((v) => `"${v}"`).join(', ')}`;
  const check = (value: unknown, field: string): T => {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) throw invalidField(field, expected);
    return value as T;
  };
  return {
    encode: (value, field) => utf8ToBytes(check(value, field)),
    decode: (item, field) => {
      const bytes = readBytes(item, field);
      if (bytes.length > 32) throw invalidField(field, expected);
      let value: string;
      try {
        value = UTF8.decode(bytes);
      } catch {
        throw invalidField(field, expected);
      }
      return check(value, field);
    },
  };
}

/** Options of a list field. */
type ListOptions = { max: number; min?: number; unique?: boolean };

/** A list of items, with a length limit and optionally no duplicates. */
export function list<T>(item: FieldCodec<T>, options: ListOptions): FieldCodec<readonly T[]> {
  const { max, min = 0, unique = false } = options;
  const checkLength = (length: number, field: string): void => {
    if (length < min || length > max) {
      throw invalidField(field, min === max ? `a list of ${min} items` : `a list of ${min} to ${max} items, got ${length}`);
    }
  };
  // Duplicates compare by their canonical bytes, so 0xAB... and 0xab... are the same address.
  const checkUnique = (encoded: RLPInput[], field: string): void => {
    if (!unique) return;
    const seen = new Set<string>();
    encoded.forEach((e, i) => {
      const key = bytesToHex(rlpEncode(e));
      if (seen.has(key)) throw invalidField(`${field}[${i}]`, 'listed once (it is a duplicate)');
      seen.add(key);
    });
  };
  return {
    encode: (value, field) => {
      if (!Array.isArray(value)) throw invalidField(field, 'a list');
      checkLength(value.length, field);
      const encoded = value.map((v, i) => item.encode(v, `${field}[${i}]`));
      checkUnique(encoded, field);
      return encoded;
    },
    decode: (raw, field) => {
      const items = readList(raw, field);
      checkLength(items.length, field);
      const values = items.map((v, i) => item.decode(v, `${field}[${i}]`));
      checkUnique(items as RLPInput[], field);
      return values;
    },
  };
}

/** A value that may be absent (`undefined`): a list of zero or one item. */
export function optional<T>(item: FieldCodec<T>): FieldCodec<T | undefined> {
  return absentAs(item, undefined);
}

/** A value that may be `null`: a list of zero or one item. */
export function nullable<T>(item: FieldCodec<T>): FieldCodec<T | null> {
  return absentAs(item, null);
}

function absentAs<T, A extends null | undefined>(item: FieldCodec<T>, absent: A): FieldCodec<T | A> {
  return {
    encode: (value, field) => (value === absent ? [] : [item.encode(value, field)]),
    decode: (raw, field) => {
      const items = readList(raw, field);
      if (items.length === 0) return absent;
      if (items.length > 1) throw invalidField(field, `a list of 0 or 1 items, got ${items.length}`);
      return item.decode(items[0], field);
    },
  };
}

/** The codecs of an object's fields, in encoding order. */
export type Fields<T> = { readonly [K in keyof T]-?: FieldCodec<T[K]> };

/** A cross-field rule: returns the bad field and what it should be, or undefined. */
export type Refinement<T> = (value: T, field: string) => [field: string, expected: string] | undefined;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function encodeFields(fields: Record<string, FieldCodec<unknown>>, value: Record<string, unknown>, field: string): RLPInput[] {
  return Object.entries(fields).map(([name, codec]) => codec.encode(value[name], `${field}.${name}`));
}

function decodeFields(
  fields: Record<string, FieldCodec<unknown>>,
  items: readonly RLPItem[],
  field: string,
  into: Record<string, unknown>,
): void {
  Object.entries(fields).forEach(([name, codec], i) => {
    const v = codec.decode(items[i], `${field}.${name}`);
    // Absent optional fields are left out, so a decoded object deep-equals the one encoded.
    if (v !== undefined) into[name] = v;
  });
}

function refined<T>(codec: FieldCodec<T>, refine: Refinement<T> | undefined): FieldCodec<T> {
  if (!refine) return codec;
  const check = (value: T, field: string): T => {
    const bad = refine(value, field);
    if (bad) throw invalidField(bad[0], bad[1]);
    return value;
  };
  return {
    // The rule runs once every field is valid. On encode it sees the value as given, so rules
    // compare hex case-insensitively (see `sameHex`).
    encode: (value, field) => {
      const encoded = codec.encode(value, field);
      check(value as T, field);
      return encoded;
    },
    decode: (item, field) => check(codec.decode(item, field), field),
  };
}

/** A record: the list of its fields in the order `fields` lists them. */
export function struct<T>(fields: Fields<T>, refine?: Refinement<T>): FieldCodec<T> {
  const f = fields as unknown as Record<string, FieldCodec<unknown>>;
  const n = Object.keys(f).length;
  return refined<T>(
    {
      encode: (value, field) => {
        if (!isRecord(value)) throw invalidField(field, 'an object');
        return encodeFields(f, value, field);
      },
      decode: (item, field) => {
        const items = readList(item, field, n);
        const out: Record<string, unknown> = {};
        decodeFields(f, items, field, out);
        return out as T;
      },
    },
    refine,
  );
}

/** One variant of a union: its tag on the wire, its fields, and an optional cross-field rule. */
export type Variant<V> = { tag: number; fields: Fields<Omit<V, 'type'>>; refine?: Refinement<V> };

/** The variants of a union discriminated by `type`. */
export type Variants<T extends { type: string }> = { readonly [K in T['type']]: Variant<Extract<T, { type: K }>> };

/** A tagged union: `[tag, ...fields]`, where the tag selects the variant. */
export function union<T extends { type: string }>(variants: Variants<T>): FieldCodec<T> {
  const byType = new Map<string, Variant<T>>(Object.entries(variants) as Array<[string, Variant<T>]>);
  const byTag = new Map<number, [string, Variant<T>]>();
  for (const [type, v] of byType) {
    // A programmer error: two variants on one tag would decode ambiguously.
    if (byTag.has(v.tag)) throw new Error(`union: tag ${v.tag} is used twice`);
    byTag.set(v.tag, [type, v]);
  }
  const tags = [...byType].map(([type, v]) => `${v.tag} (${type})`).join(', ');
  const base: FieldCodec<T> = {
    encode: (value, field) => {
      if (!isRecord(value) || typeof value.type !== 'string' || !byType.has(value.type)) {
        throw invalidField(`${field}.type`, `one of ${[...byType.keys()].map((t) => `"${t}"`).join(', ')}`);
      }
      const v = byType.get(value.type) as Variant<T>;
      return [v.tag, ...encodeFields(v.fields as unknown as Record<string, FieldCodec<unknown>>, value, field)];
    },
    decode: (item, field) => {
      const items = readList(item, field);
      const tag = readUint(items[0], `${field}.type`);
      const entry = byTag.get(tag);
      if (!entry) throw invalidField(`${field}.type`, `one of the tags ${tags}`);
      const [type, v] = entry;
      const fields = v.fields as unknown as Record<string, FieldCodec<unknown>>;
      const n = Object.keys(fields).length;
      if (items.length !== n + 1) throw invalidField(field, `a list of ${n + 1} items for "${type}", got ${items.length}`);
      const out: Record<string, unknown> = { type };
      decodeFields(fields, items.slice(1), field, out);
      return out as T;
    },
  };
  if (![...byType.values()].some((v) => v.refine)) return base;
  return refined(base, (value, field) => {
    const v = byType.get(value.type);
    return v?.refine ? v.refine(value, field) : undefined;
  });
}

// --- Field types of the registries ----------------------------------------------------------

/** A 20-byte address. */
export const addressCodec: FieldCodec<Address> = hexBytes<Address>(20, true);
/** A 32-byte Ed25519 node key. */
export const nodeKeyCodec: FieldCodec<NodeKey> = hexBytes<NodeKey>(32, true);
/** An app id. */
export const appIdCodec = text({
  maxBytes: 63,
  pattern: APP_ID_PATTERN,
  patternText: 'an app id: 1 to 63 lower-case letters, digits and dashes, starting with a letter',
});
/** A plan name. */
export const planNameCodec = text({
  maxBytes: 32,
  pattern: PLAN_NAME_PATTERN,
  patternText: 'a plan name: 1 to 32 lower-case letters, digits and dashes, starting with a letter',
});
/** A participant role. */
export const roleCodec = text({
  maxBytes: 32,
  pattern: ROLE_PATTERN,
  patternText: 'a role: 1 to 32 lower-case letters, digits and dashes, starting with a letter',
});
/** An API key id: 16 hex digits. */
export const keyIdCodec = hexBytes(8, false);
/** A chain id (EVM chain ids are positive). */
export const chainIdCodec = uint(1);
/** A height or a time in milliseconds. */
export const heightCodec = uint();

const positive = uint(1);
const validatorsCodec = list(nodeKeyCodec, { min: 1, max: VALIDATORS_MAX, unique: true });
const observersCodec = list(nodeKeyCodec, { max: OBSERVERS_MAX, unique: true });

/** A plan's limits. */
export const limitsCodec: FieldCodec<Limits> = struct<Limits>({
  requestsPerSec: positive,
  txPerSec: positive,
  bytesInPerSec: positive,
  bytesOutPerSec: positive,
});

/** An API key's own limits (each optional). */
export const keyLimitsCodec: FieldCodec<KeyLimits> = struct<KeyLimits>({
  requestsPerSec: optional(positive),
  txPerSec: optional(positive),
  bytesInPerSec: optional(positive),
  bytesOutPerSec: optional(positive),
});

/** A node record. */
export const nodeRecordCodec: FieldCodec<NodeRecord> = struct<NodeRecord>({
  publicKey: nodeKeyCodec,
  name: text({ maxBytes: NAME_BYTES_MAX }),
  addrs: list(text({ maxBytes: MULTIADDR_BYTES_MAX }), { max: NODE_ADDRS_MAX, unique: true }),
  operator: addressCodec,
  region: text({ maxBytes: REGION_BYTES_MAX, allowEmpty: true }),
  status: oneOf(NODE_STATUSES),
  since: heightCodec,
});

/** Whether two hex strings name the same bytes, whatever their case. */
function sameHex(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** A node may not be both a validator and an observer of one app. */
function disjoint<T extends { validators: readonly NodeKey[]; observers: readonly NodeKey[] }>(
  value: T,
  field: string,
): [string, string] | undefined {
  const i = value.observers.findIndex((o) => value.validators.some((v) => sameHex(v, o)));
  return i < 0 ? undefined : [`${field}.observers[${i}]`, 'a node that is not also a validator'];
}

/** An app record. */
export const appRecordCodec: FieldCodec<AppRecord> = struct<AppRecord>(
  {
    id: appIdCodec,
    chainId: chainIdCodec,
    owner: addressCodec,
    validators: validatorsCodec,
    observers: observersCodec,
    plan: planNameCodec,
    keyMode: oneOf(KEY_MODES),
    accessPolicy: oneOf(ACCESS_POLICIES),
    status: oneOf(APP_STATUSES),
    validatorsFrom: heightCodec,
    genesisValidators: validatorsCodec,
  },
  disjoint,
);

const allowlist = (maxBytes: number) => list(text({ maxBytes }), { max: KEY_ALLOWLIST_MAX, unique: true });

/** An API key record. */
export const apiKeyRecordCodec: FieldCodec<ApiKeyRecord> = struct<ApiKeyRecord>({
  id: keyIdCodec,
  appId: appIdCodec,
  label: text({ maxBytes: LABEL_BYTES_MAX, allowEmpty: true }),
  salt: hexBytes(16, false),
  hash: hexBytes(32, false),
  scopes: list(oneOf(SCOPES), { min: 1, max: SCOPES.length, unique: true }),
  origins: allowlist(ORIGIN_BYTES_MAX),
  ips: allowlist(IP_BYTES_MAX),
  methods: allowlist(METHOD_BYTES_MAX),
  contracts: list(addressCodec, { max: KEY_ALLOWLIST_MAX, unique: true }),
  limits: keyLimitsCodec,
  createdAt: heightCodec,
  revokedAt: optional(heightCodec),
});

const regulatorAppList = list(appIdCodec, { min: 1, max: REGULATOR_APPS_MAX, unique: true });
const ALL = utf8ToBytes('all');

/** A regulator's apps: the string "all", or a list of app ids. */
export const regulatorAppsCodec: FieldCodec<RegulatorApps> = {
  encode: (value, field) => (value === 'all' ? ALL : regulatorAppList.encode(value, field)),
  decode: (item, field) => {
    if (item instanceof Uint8Array) {
      if (item.length === ALL.length && item.every((b, i) => b === ALL[i])) return 'all';
      throw invalidField(field, '"all" or a list of app ids');
    }
    return regulatorAppList.decode(item, field);
  },
};

/** A regulator grant. */
export const regulatorGrantCodec: FieldCodec<RegulatorGrant> = struct<RegulatorGrant>({
  address: addressCodec,
  apps: regulatorAppsCodec,
});

/** A receipt error (also stored in failed proposals). */
export const receiptErrorCodec: FieldCodec<ReceiptError> = struct<ReceiptError>({
  code: text({ maxBytes: ERROR_CODE_BYTES_MAX, pattern: /^[A-Z][A-Z0-9_]*$/, patternText: 'an upper-case error code' }),
  message: text({ maxBytes: ERROR_MESSAGE_BYTES_MAX }),
});

const appRef = { appId: appIdCodec };
const nodeRef = { publicKey: nodeKeyCodec };

/** An action of a proposal. */
export const actionCodec: FieldCodec<Action> = union<Action>({
  admitNode: { tag: 1, fields: nodeRef },
  suspendNode: { tag: 2, fields: nodeRef },
  removeNode: { tag: 3, fields: nodeRef },
  approveApp: { tag: 4, fields: appRef },
  suspendApp: { tag: 5, fields: appRef },
  resumeApp: { tag: 6, fields: appRef },
  archiveApp: { tag: 7, fields: appRef },
  setAppValidators: { tag: 8, fields: { appId: appIdCodec, validators: validatorsCodec } },
  setPlan: { tag: 9, fields: { name: planNameCodec, limits: nullable(limitsCodec) } },
  addAdmin: { tag: 10, fields: { address: addressCodec } },
  removeAdmin: { tag: 11, fields: { address: addressCodec } },
  setThreshold: { tag: 12, fields: { threshold: uint(1, ADMINS_MAX) } },
  grantRegulator: { tag: 13, fields: { address: addressCodec, apps: regulatorAppsCodec } },
  revokeRegulator: { tag: 14, fields: { address: addressCodec } },
});

/** A proposal, as stored. */
export const proposalCodec: FieldCodec<Proposal> = struct<Proposal>(
  {
    id: uint(1),
    proposer: addressCodec,
    action: actionCodec,
    createdAt: struct({ height: heightCodec, time: heightCodec }),
    expiresAt: heightCodec,
    approvals: list(struct<Approval>({ address: addressCodec, height: heightCodec }), {
      min: 1,
      max: APPROVALS_MAX,
    }),
    status: oneOf(PROPOSAL_STATUSES),
    error: optional(receiptErrorCodec),
    closedAt: optional(heightCodec),
  },
  (p, field) => {
    if ((p.status === 'failed') !== (p.error !== undefined))
      return [`${field}.error`, 'present exactly when the status is failed'];
    if ((p.status === 'open') !== (p.closedAt === undefined))
      return [`${field}.closedAt`, 'absent exactly when the status is open'];
    if (!sameHex(p.approvals[0]?.address ?? '', p.proposer)) return [`${field}.approvals[0]`, "the proposer's approval"];
    const seen = new Set<string>();
    for (const [i, a] of p.approvals.entries()) {
      const address = a.address.toLowerCase();
      if (seen.has(address)) return [`${field}.approvals[${i}]`, 'one approval per admin'];
      seen.add(address);
    }
    return undefined;
  },
);

/** A 32-byte hash (an audit-log digest). */
export const hash32Codec = hexBytes<`0x${string}`>(32, true);

/** An audit anchor, as stored (ADR 0008). */
export const auditAnchorCodec: FieldCodec<AuditAnchor> = struct<AuditAnchor>({
  node: nodeKeyCodec,
  seq: uint(1),
  hash: hash32Codec,
  height: heightCodec,
  time: heightCodec,
});

/** The body of a governance transaction. */
export const bodyCodec: FieldCodec<GovBody> = union<GovBody>({
  propose: { tag: 1, fields: { action: actionCodec, expiresAt: heightCodec } },
  approve: { tag: 2, fields: { proposalId: uint(1) } },
  requestApp: {
    tag: 3,
    fields: {
      id: appIdCodec,
      chainId: chainIdCodec,
      validators: validatorsCodec,
      observers: observersCodec,
      plan: planNameCodec,
      keyMode: oneOf(KEY_MODES),
      accessPolicy: oneOf(ACCESS_POLICIES),
    },
    refine: disjoint,
  },
  putParticipant: { tag: 4, fields: { appId: appIdCodec, address: addressCodec, role: roleCodec } },
  removeParticipant: { tag: 5, fields: { appId: appIdCodec, address: addressCodec } },
  putApiKey: {
    tag: 6,
    fields: { appId: appIdCodec, key: apiKeyRecordCodec },
    refine: (b, field) => {
      if (b.key.appId !== b.appId) return [`${field}.key.appId`, `the app the key is put on ("${b.appId}")`];
      if (b.key.revokedAt !== undefined) return [`${field}.key.revokedAt`, 'absent (revoke a key with revokeApiKey)'];
      return undefined;
    },
  },
  revokeApiKey: { tag: 7, fields: { appId: appIdCodec, keyId: keyIdCodec, at: heightCodec } },
  nodeApply: {
    tag: 8,
    fields: {
      publicKey: nodeKeyCodec,
      name: text({ maxBytes: NAME_BYTES_MAX }),
      addrs: list(text({ maxBytes: MULTIADDR_BYTES_MAX }), { max: NODE_ADDRS_MAX, unique: true }),
      operator: addressCodec,
      region: text({ maxBytes: REGION_BYTES_MAX, allowEmpty: true }),
    },
  },
  anchorAudit: { tag: 9, fields: { node: nodeKeyCodec, seq: uint(1), hash: hash32Codec } },
});
