/**
 * The state of the system ledger as sorted key-value pairs, its Merkle root, and the checks that
 * a state is consistent.
 *
 * Every registry entry is one pair: a key of one prefix byte and the entry's id, and the entry's
 * canonical RLP. The pairs are sorted by key, so the same state gives the same pairs (and the
 * same root) in any process, whatever order its maps were filled in. `decodeState` reads them
 * back strictly and checks the cross-references (an app's validators are known nodes, a key's app
 * exists...), so a corrupt store is caught when it is read, not when a transaction trips on it.
 */
import {
  bytesToHex,
  CodecError,
  compareBytes,
  concatBytes,
  hexToBytes,
  intToBytes,
  merkleRoot,
  padBytes,
  rlpEncode,
  utf8ToBytes,
} from '@polis/core';
import {
  addressCodec,
  apiKeyRecordCodec,
  appIdCodec,
  appRecordCodec,
  auditAnchorCodec,
  bool,
  chainIdCodec,
  decodeWith,
  encodeWith,
  type FieldCodec,
  limitsCodec,
  list,
  nodeRecordCodec,
  planNameCodec,
  proposalCodec,
  regulatorAppsCodec,
  roleCodec,
  struct,
  uint,
} from './codec.js';
import { codecErrorDetails, GovernanceError, GovernanceErrorCode, wrapCodecErrors } from './errors.js';
import {
  ADMINS_MAX,
  API_KEYS_PER_APP_MAX,
  APPS_MAX,
  GOV_STATE_VERSION,
  NODES_MAX,
  PARTICIPANTS_PER_APP_MAX,
  PLANS_MAX,
  REGULATORS_MAX,
  STATE_VALUE_BYTES_MAX,
} from './params.js';
import type {
  Address,
  Alliance,
  ApiKeyRecord,
  AppRecord,
  AuditAnchor,
  GovState,
  Limits,
  NodeKey,
  NodeRecord,
  Policy,
  Proposal,
  RegulatorGrant,
} from './types.js';

/** The first byte of each kind of state key. */
export const StateKeyPrefix = {
  META: 0x00,
  ALLIANCE: 0x01,
  POLICY: 0x02,
  NODE: 0x10,
  APP: 0x11,
  PARTICIPANT: 0x12,
  API_KEY: 0x13,
  PLAN: 0x14,
  REGULATOR: 0x15,
  PROPOSAL: 0x16,
  NONCE: 0x17,
  AUDIT_ANCHOR: 0x18,
} as const;

/** One entry of the encoded state. */
export type StatePair = readonly [key: Uint8Array, value: Uint8Array];

type Meta = { version: number; chainId: number; nextProposalId: number };

const metaCodec: FieldCodec<Meta> = struct<Meta>({ version: uint(1), chainId: chainIdCodec, nextProposalId: uint(1) });

/** The alliance; the threshold is at most the number of admins. */
export const allianceCodec: FieldCodec<Alliance> = struct<Alliance>(
  { admins: list(addressCodec, { min: 1, max: ADMINS_MAX, unique: true }), threshold: uint(1, ADMINS_MAX) },
  (a, field) =>
    a.threshold > a.admins.length ? [`${field}.threshold`, `at most the number of admins (${a.admins.length})`] : undefined,
);

/** The policy. */
export const policyCodec: FieldCodec<Policy> = struct<Policy>({ autoApproveApps: bool });

const nonceCodec = uint(1);

function invalidState(field: string, reason: string, cause?: unknown): GovernanceError {
  return new GovernanceError(
    { code: GovernanceErrorCode.INVALID_STATE, field, reason },
    `invalid governance state: ${field} ${reason}`,
    {
      hint: 'The stored state is corrupt or was written by other code; restore it from a snapshot or resync the system ledger',
      cause,
    },
  );
}

const prefixed = (prefix: number, ...parts: Uint8Array[]) => concatBytes(Uint8Array.of(prefix), ...parts);
const proposalKeyBytes = (id: number) => padBytes(intToBytes(id), 8);

/** Encodes the state as key-value pairs sorted by key. */
export function encodeState(state: GovState): StatePair[] {
  return wrapCodecErrors(
    () => {
      const pairs: StatePair[] = [];
      const put = <T>(key: Uint8Array, codec: FieldCodec<T>, value: T, field: string) => {
        pairs.push([key, encodeWith(codec, value, field)]);
      };
      put(
        Uint8Array.of(StateKeyPrefix.META),
        metaCodec,
        { version: GOV_STATE_VERSION, chainId: state.chainId, nextProposalId: state.nextProposalId },
        'meta',
      );
      put(Uint8Array.of(StateKeyPrefix.ALLIANCE), allianceCodec, state.alliance, 'alliance');
      put(Uint8Array.of(StateKeyPrefix.POLICY), policyCodec, state.policy, 'policy');
      for (const [k, node] of state.nodes) put(prefixed(StateKeyPrefix.NODE, hexToBytes(k)), nodeRecordCodec, node, `node ${k}`);
      for (const [id, app] of state.apps) put(prefixed(StateKeyPrefix.APP, utf8ToBytes(id)), appRecordCodec, app, `app ${id}`);
      for (const [appId, roles] of state.participants) {
        for (const [address, role] of roles) {
          const key = prefixed(StateKeyPrefix.PARTICIPANT, utf8ToBytes(appId), Uint8Array.of(0), hexToBytes(address));
          put(key, roleCodec, role, `participant ${appId}/${address}`);
        }
      }
      for (const [id, key] of state.apiKeys) {
        put(prefixed(StateKeyPrefix.API_KEY, hexToBytes(`0x${id}`)), apiKeyRecordCodec, key, `key ${id}`);
      }
      for (const [name, limits] of state.plans)
        put(prefixed(StateKeyPrefix.PLAN, utf8ToBytes(name)), limitsCodec, limits, `plan ${name}`);
      for (const [address, grant] of state.regulators) {
        put(prefixed(StateKeyPrefix.REGULATOR, hexToBytes(address)), regulatorAppsCodec, grant.apps, `regulator ${address}`);
      }
      for (const [id, p] of state.proposals)
        put(prefixed(StateKeyPrefix.PROPOSAL, proposalKeyBytes(id)), proposalCodec, p, `proposal ${id}`);
      for (const [signer, nonce] of state.nonces) {
        put(prefixed(StateKeyPrefix.NONCE, hexToBytes(signer)), nonceCodec, nonce, `nonce ${signer}`);
      }
      for (const [node, anchor] of state.auditAnchors) {
        put(prefixed(StateKeyPrefix.AUDIT_ANCHOR, hexToBytes(node)), auditAnchorCodec, anchor, `audit anchor ${node}`);
      }
      return pairs.sort((a, b) => compareBytes(a[0], b[0]));
    },
    (d, cause) => invalidState(d.field, d.reason, cause),
  );
}

/** The Merkle root (RFC 6962 over keccak-256) of `rlp([key, value])` over the sorted pairs. */
export function stateRoot(state: GovState): Uint8Array {
  return stateRootOfPairs(encodeState(state));
}

/** The root of pairs already encoded (and sorted) by `encodeState`. */
export function stateRootOfPairs(pairs: readonly StatePair[]): Uint8Array {
  return merkleRoot(pairs.map(([k, v]) => rlpEncode([k, v])));
}

function decodeValue<T>(codec: FieldCodec<T>, value: Uint8Array, field: string): T {
  return decodeWith(codec, value, field, STATE_VALUE_BYTES_MAX);
}

/**
 * Decodes pairs written by `encodeState` (in the same, ascending key order) and checks that the
 * state is consistent. Every problem throws a `GovernanceError` (INVALID_STATE) naming the entry.
 */
export function decodeState(pairs: readonly StatePair[]): GovState {
  if (!Array.isArray(pairs)) throw invalidState('pairs', 'should be a list of [key, value] pairs');
  let meta: Meta | undefined;
  let alliance: Alliance | undefined;
  let policy: Policy | undefined;
  const nodes = new Map<NodeKey, NodeRecord>();
  const apps = new Map<string, AppRecord>();
  const participants = new Map<string, Map<Address, string>>();
  const apiKeys = new Map<string, ApiKeyRecord>();
  const plans = new Map<string, Limits>();
  const regulators = new Map<Address, RegulatorGrant>();
  const proposals = new Map<number, Proposal>();
  const nonces = new Map<`0x${string}`, number>();
  const auditAnchors = new Map<NodeKey, AuditAnchor>();
  let previous: Uint8Array | undefined;

  pairs.forEach((pair, i) => {
    const at = `pair ${i}`;
    if (!Array.isArray(pair) || pair.length !== 2 || !(pair[0] instanceof Uint8Array) || !(pair[1] instanceof Uint8Array)) {
      throw invalidState(at, 'should be a [key, value] pair of byte arrays');
    }
    const [key, value] = pair;
    if (key.length === 0) throw invalidState(at, 'has an empty key');
    if (previous && compareBytes(previous, key) >= 0) throw invalidState(at, 'is out of order or a duplicate: keys must ascend');
    previous = key;
    const id = key.subarray(1);
    const field = `${at} (key ${bytesToHex(key)})`;
    const single = (): void => {
      if (id.length !== 0) throw invalidState(field, 'should have a one-byte key');
    };
    try {
      switch (key[0]) {
        case StateKeyPrefix.META: {
          single();
          meta = decodeValue(metaCodec, value, 'meta');
          if (meta.version !== GOV_STATE_VERSION)
            throw invalidState('meta.version', `is ${meta.version}, expected ${GOV_STATE_VERSION}`);
          break;
        }
        case StateKeyPrefix.ALLIANCE:
          single();
          alliance = decodeValue(allianceCodec, value, 'alliance');
          break;
        case StateKeyPrefix.POLICY:
          single();
          policy = decodeValue(policyCodec, value, 'policy');
          break;
        case StateKeyPrefix.NODE: {
          const node = decodeValue(nodeRecordCodec, value, field);
          if (bytesToHex(id) !== node.publicKey) throw invalidState(field, `holds node ${node.publicKey} under another key`);
          nodes.set(node.publicKey, node);
          break;
        }
        case StateKeyPrefix.APP: {
          const app = decodeValue(appRecordCodec, value, field);
          if (bytesToHex(utf8ToBytes(app.id)) !== bytesToHex(id))
            throw invalidState(field, `holds app ${app.id} under another key`);
          apps.set(app.id, app);
          break;
        }
        case StateKeyPrefix.PARTICIPANT: {
          if (id.length < 22 || id[id.length - 21] !== 0) throw invalidState(field, 'should be appId || 0x00 || address');
          const appId = appIdCodec.decode(id.subarray(0, id.length - 21), `${field}.appId`);
          const address = addressCodec.decode(id.subarray(id.length - 20), `${field}.address`);
          const role = decodeValue(roleCodec, value, field);
          const roles = participants.get(appId) ?? new Map<Address, string>();
          participants.set(appId, roles.set(address, role));
          break;
        }
        case StateKeyPrefix.API_KEY: {
          const record = decodeValue(apiKeyRecordCodec, value, field);
          if (bytesToHex(id) !== `0x${record.id}`) throw invalidState(field, `holds key ${record.id} under another key`);
          apiKeys.set(record.id, record);
          break;
        }
        case StateKeyPrefix.PLAN: {
          const name = planNameCodec.decode(id, `${field}.name`);
          plans.set(name, decodeValue(limitsCodec, value, field));
          break;
        }
        case StateKeyPrefix.REGULATOR: {
          const address = addressCodec.decode(id, `${field}.address`);
          regulators.set(address, { address, apps: decodeValue(regulatorAppsCodec, value, field) });
          break;
        }
        case StateKeyPrefix.PROPOSAL: {
          const p = decodeValue(proposalCodec, value, field);
          if (id.length !== 8 || bytesToHex(id) !== bytesToHex(proposalKeyBytes(p.id))) {
            throw invalidState(field, `holds proposal ${p.id} under another key`);
          }
          proposals.set(p.id, p);
          break;
        }
        case StateKeyPrefix.NONCE: {
          if (id.length !== 20 && id.length !== 32)
            throw invalidState(field, 'should name a 20-byte address or a 32-byte node key');
          nonces.set(bytesToHex(id), decodeValue(nonceCodec, value, field));
          break;
        }
        case StateKeyPrefix.AUDIT_ANCHOR: {
          const anchor = decodeValue(auditAnchorCodec, value, field);
          if (bytesToHex(id) !== anchor.node) throw invalidState(field, `holds the anchor of ${anchor.node} under another key`);
          auditAnchors.set(anchor.node, anchor);
          break;
        }
        default:
          throw invalidState(field, `has the unknown prefix ${key[0]}`);
      }
    } catch (err) {
      if (err instanceof CodecError) {
        const d = codecErrorDetails(err);
        throw invalidState(field, `is malformed: ${d.field} ${d.reason}`, err);
      }
      throw err;
    }
  });

  if (!meta) throw invalidState('meta', 'is missing');
  if (!alliance) throw invalidState('alliance', 'is missing');
  if (!policy) throw invalidState('policy', 'is missing');
  const state: GovState = {
    chainId: meta.chainId,
    alliance,
    policy,
    nodes,
    apps,
    participants,
    apiKeys,
    plans,
    regulators,
    proposals,
    nextProposalId: meta.nextProposalId,
    nonces,
    auditAnchors,
  };
  checkConsistency(state);
  return state;
}

/**
 * Checks the cross-references and limits of a state; throws INVALID_STATE naming the first
 * problem. Every transition keeps these true, so a failure means corrupt data or a bug.
 */
export function checkConsistency(state: GovState): void {
  if (state.alliance.threshold < 1 || state.alliance.threshold > state.alliance.admins.length) {
    throw invalidState('alliance.threshold', `is ${state.alliance.threshold} with ${state.alliance.admins.length} admins`);
  }
  if (state.nodes.size > NODES_MAX) throw invalidState('nodes', `has ${state.nodes.size} entries, over ${NODES_MAX}`);
  if (state.apps.size > APPS_MAX) throw invalidState('apps', `has ${state.apps.size} entries, over ${APPS_MAX}`);
  if (state.plans.size > PLANS_MAX) throw invalidState('plans', `has ${state.plans.size} entries, over ${PLANS_MAX}`);
  if (state.regulators.size > REGULATORS_MAX)
    throw invalidState('regulators', `has ${state.regulators.size} entries, over ${REGULATORS_MAX}`);
  const chainIds = new Map<number, string>();
  for (const app of state.apps.values()) {
    const at = `app ${app.id}`;
    if (app.chainId === state.chainId) throw invalidState(at, `uses the system ledger's chain id ${app.chainId}`);
    const other = chainIds.get(app.chainId);
    if (other !== undefined) throw invalidState(at, `shares chain id ${app.chainId} with app ${other}`);
    chainIds.set(app.chainId, app.id);
    for (const k of [...app.validators, ...app.observers]) {
      if (!state.nodes.has(k)) throw invalidState(at, `names the unknown node ${k}`);
    }
    if (app.status !== 'archived' && !state.plans.has(app.plan)) throw invalidState(at, `uses the unknown plan ${app.plan}`);
  }
  for (const [appId, roles] of state.participants) {
    if (!state.apps.has(appId)) throw invalidState(`participants of ${appId}`, 'belong to an unknown app');
    if (roles.size > PARTICIPANTS_PER_APP_MAX)
      throw invalidState(`participants of ${appId}`, `are over ${PARTICIPANTS_PER_APP_MAX}`);
  }
  const keysPerApp = new Map<string, number>();
  for (const key of state.apiKeys.values()) {
    if (!state.apps.has(key.appId)) throw invalidState(`key ${key.id}`, `belongs to the unknown app ${key.appId}`);
    const n = (keysPerApp.get(key.appId) ?? 0) + 1;
    if (n > API_KEYS_PER_APP_MAX) throw invalidState(`keys of ${key.appId}`, `are over ${API_KEYS_PER_APP_MAX}`);
    keysPerApp.set(key.appId, n);
  }
  for (const grant of state.regulators.values()) {
    if (grant.apps === 'all') continue;
    for (const appId of grant.apps) {
      if (!state.apps.has(appId)) throw invalidState(`regulator ${grant.address}`, `is granted the unknown app ${appId}`);
    }
  }
  for (const node of state.auditAnchors.keys()) {
    if (!state.nodes.has(node)) throw invalidState(`audit anchor ${node}`, 'belongs to an unknown node');
  }
  for (const id of state.proposals.keys()) {
    if (id >= state.nextProposalId)
      throw invalidState(`proposal ${id}`, `is not below the next proposal id ${state.nextProposalId}`);
  }
}

/** A copy of `map` with `key` set: the copy-on-write step of every transition. */
export function setIn<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> {
  const copy = new Map(map);
  copy.set(key, value);
  return copy;
}

/** A copy of `map` without `key`. */
export function deleteIn<K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> {
  const copy = new Map(map);
  copy.delete(key);
  return copy;
}

/** The entries of a map in ascending key order, so iteration never depends on insertion history. */
export function sortedEntries<V>(map: ReadonlyMap<string, V>): Array<[string, V]> {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
