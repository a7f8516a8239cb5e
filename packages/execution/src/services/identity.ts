/**
 * The identity service (issue P7): decentralized identifiers, roles, attestations and the app's
 * account policy, at 0x00000000000000000000000000000000504c0001 on every app ledger.
 *
 * DIDs (W3C DID Core): `did:polis:<app>:<address>`. An account creates the DID of its own address
 * and becomes its controller. Only the controller updates the document, hands control to another
 * key (rotation) or deactivates the DID, which is permanent. The service stores the document as
 * bytes and does not parse it.
 *
 * Roles are bytes32 ids, each a short UTF-8 name right-padded with zeros (Solidity's
 * `bytes32("issuer")`, ethers' `encodeBytes32String("issuer")`), so that logs and storage read as
 * text. `admin` grants and revokes roles and sets the policy; `issuer` attests; `member` and
 * `auditor` carry no power in this service (they are for the policy and the app's own contracts);
 * any other non-zero id is a custom role. The app's owner is an admin from genesis
 * (`identityGenesisWrites`), and the last admin cannot be revoked.
 *
 * Attestations: a registered issuer (an account with the issuer role) states a `kind` of fact
 * about a subject ("KYC verified"), until a time (0: no end), with the hash of its evidence. There
 * is one per (subject, kind): a new one replaces the previous one. It counts while it is present,
 * not revoked and not expired at the block's time.
 *
 * Account policy: a role and an attestation kind (zero: none) that every sender needs. It is not
 * enforced in the EVM but before a transaction runs, by the mempool (`senderPolicyRefusal` over
 * committed state) and by block execution (over the block's overlay, so a block with a refused
 * transaction is invalid). Admins always pass, so that a policy cannot lock the owner out, and
 * transactions to this service always pass, so that a newcomer can create a DID and ask for an
 * attestation. Calls (`eth_call`) are not affected.
 *
 * Storage (slot = keccak-256 of the concatenated parts; "x" is the UTF-8 bytes of x):
 * - the DID of address a, at d = keccak256("did" || a) and the two slots after it:
 *   d: controller (20 bytes) | created, ms (6) | updated, ms (6); the DID exists when it is non-zero;
 *   d+1: 1 once deactivated;
 *   d+2: the document, as `ServiceStore.setBytes` writes it (the length, then chunks from keccak256(d+2));
 * - role r of account a: keccak256("role" || a || r) = 1 while held;
 * - the number of admins: keccak256("admins");
 * - the attestation of kind k about subject s, at t = keccak256("attestation" || s || k) and after it:
 *   t: issuer (20) | issued, ms (6) | revoked (1: 1 when revoked) | zero (5);
 *   t+1: expiry, ms (0: none); t+2: the data hash;
 * - the policy: keccak256("policy") = the required role, the next slot the required attestation kind.
 */
import { bytesToHex, equalsBytes, utf8ToBytes } from '@polis/core';
import type { StorageWrite } from '@polis/ledger';
import { type Hex, hexToBytes, parseAbi } from 'viem';
import { type ServiceCall, type ServiceDefinition, ServiceRevert, ServiceStore, uintWord } from './host.js';

/** The identity service's address. */
export const IDENTITY_ADDRESS = hexToBytes('0x00000000000000000000000000000000504c0001');

/** Bytes a DID document may hold: W3C documents are a few hundred bytes; put large data elsewhere and link it. */
export const DID_DOCUMENT_BYTES_MAX = 8 * 1024;

/** The identity service's ABI. */
export const IDENTITY_ABI = parseAbi([
  'function createDid(bytes document)',
  'function updateDid(address id, bytes document)',
  'function rotateDidController(address id, address newController)',
  'function deactivateDid(address id)',
  'function resolveDid(address id) view returns (bool exists, address controller, bytes document, uint64 created, uint64 updated, bool deactivated)',
  'function grantRole(address account, bytes32 role)',
  'function revokeRole(address account, bytes32 role)',
  'function hasRole(address account, bytes32 role) view returns (bool)',
  'function attest(address subject, bytes32 kind, uint64 expiresAtMs, bytes32 dataHash)',
  'function revokeAttestation(address subject, bytes32 kind)',
  'function attestation(address subject, bytes32 kind) view returns (bool valid, address issuer, uint64 issuedAt, uint64 expiresAtMs, bytes32 dataHash, bool revoked)',
  'function setPolicy(bytes32 requiredRole, bytes32 requiredAttestation)',
  'function policy() view returns (bytes32 requiredRole, bytes32 requiredAttestation)',
  'function checkPolicy(address account) view returns (bool allowed, string reason)',
  'function didSlot(address id) pure returns (bytes32)',
  'function attestationSlot(address subject, bytes32 kind) pure returns (bytes32)',
  'event DidCreated(address indexed id, address indexed controller, bytes document)',
  'event DidUpdated(address indexed id, bytes document)',
  'event DidControllerRotated(address indexed id, address indexed previousController, address indexed newController)',
  'event DidDeactivated(address indexed id, address indexed by)',
  'event RoleGranted(address indexed account, bytes32 indexed role, address indexed by)',
  'event RoleRevoked(address indexed account, bytes32 indexed role, address indexed by)',
  'event Attested(address indexed subject, bytes32 indexed kind, address indexed issuer, uint64 expiresAtMs, bytes32 dataHash)',
  'event AttestationRevoked(address indexed subject, bytes32 indexed kind, address indexed by)',
  'event PolicySet(bytes32 requiredRole, bytes32 requiredAttestation, address indexed by)',
]);

/** The bytes32 id of a role or attestation kind named `name`: its UTF-8 bytes (1 to 32), right-padded with zeros. */
export function identityRoleId(name: string): Hex {
  const bytes = utf8ToBytes(name);
  if (bytes.length === 0 || bytes.length > 32) throw new RangeError(`a role name is 1 to 32 UTF-8 bytes, not ${bytes.length}`);
  const word = new Uint8Array(32);
  word.set(bytes);
  return bytesToHex(word);
}

/** The built-in roles (any other non-zero bytes32 is a custom role). */
export const IDENTITY_ROLES = {
  /** Grants and revokes roles, sets the account policy, revokes any attestation. */
  admin: identityRoleId('admin'),
  /** Members: no power here; the usual required role of a members-only policy. */
  member: identityRoleId('member'),
  /** Registered issuers: may attest. */
  issuer: identityRoleId('issuer'),
  /** Auditors: no power here; for the app's own access rules. */
  auditor: identityRoleId('auditor'),
} as const;

/** The DID of `address` on the app `appId`: `did:polis:<app>:<address in lower-case hex>`. */
export function didOf(appId: string, address: Uint8Array): string {
  if (address.length !== 20) throw new RangeError(`a DID names a 20-byte address, not ${address.length} bytes`);
  return `did:polis:${appId}:${bytesToHex(address)}`;
}

const DID_PATTERN = /^did:polis:([a-z][a-z0-9-]{0,62}):(0x[0-9a-fA-F]{40})$/;

/** The app and address of a `did:polis` DID; undefined when `did` is not one. */
export function parseDid(did: string): { appId: string; address: Uint8Array } | undefined {
  const m = DID_PATTERN.exec(did);
  if (!m) return undefined;
  return { appId: m[1] as string, address: hexToBytes(m[2] as Hex) };
}

const ZERO_WORD = new Uint8Array(32);
const ZERO_ADDRESS = new Uint8Array(20);
const ADMIN = hexToBytes(IDENTITY_ROLES.admin);
const ISSUER = hexToBytes(IDENTITY_ROLES.issuer);
const ONE = uintWord(1n);

function isZero(bytes: Uint8Array): boolean {
  return bytes.every((x) => x === 0);
}

/** Slot `base + i` as a word. */
function offsetSlot(base: Uint8Array, i: number): Uint8Array {
  return uintWord(BigInt(bytesToHex(base)) + BigInt(i));
}

/** The three storage slots of the DID of `id`: head, deactivated flag, document. */
export function didSlots(id: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const base = ServiceStore.slot(utf8ToBytes('did'), id);
  return [base, offsetSlot(base, 1), offsetSlot(base, 2)];
}

/** The storage slot that holds 1 while `account` has `role`. */
export function identityRoleSlot(account: Uint8Array, role: Uint8Array): Uint8Array {
  return ServiceStore.slot(utf8ToBytes('role'), account, role);
}

/** The storage slot of the number of admins. */
export function identityAdminsSlot(): Uint8Array {
  return ServiceStore.slot(utf8ToBytes('admins'));
}

/** The three storage slots of the attestation of `kind` about `subject`: head, expiry, data hash. */
export function attestationSlots(subject: Uint8Array, kind: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const base = ServiceStore.slot(utf8ToBytes('attestation'), subject, kind);
  return [base, offsetSlot(base, 1), offsetSlot(base, 2)];
}

/** The two storage slots of the account policy: the required role and the required attestation kind. */
export function identityPolicySlots(): [Uint8Array, Uint8Array] {
  const base = ServiceStore.slot(utf8ToBytes('policy'));
  return [base, offsetSlot(base, 1)];
}

/**
 * The genesis storage of the identity account that makes `owner` the app's first admin: its
 * admin role and an admin count of 1. The ledger genesis writes these under `IDENTITY_ADDRESS`.
 */
export function identityGenesisWrites(owner: Uint8Array): StorageWrite[] {
  if (owner.length !== 20 || isZero(owner)) throw new RangeError('the app owner is a non-zero 20-byte address');
  return [
    { address: IDENTITY_ADDRESS, slot: identityRoleSlot(owner, ADMIN), value: new Uint8Array([1]) },
    { address: IDENTITY_ADDRESS, slot: identityAdminsSlot(), value: new Uint8Array([1]) },
  ];
}

function readUint48(word: Uint8Array, offset: number): number {
  const view = new DataView(word.buffer, word.byteOffset, word.byteLength);
  return view.getUint16(offset) * 2 ** 32 + view.getUint32(offset + 2);
}

function writeUint48(word: Uint8Array, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** 48) throw new RangeError(`${value} does not fit 6 bytes`);
  const view = new DataView(word.buffer, word.byteOffset, word.byteLength);
  view.setUint16(offset, Math.floor(value / 2 ** 32));
  view.setUint32(offset + 2, value % 2 ** 32);
}

type DidHead = { controller: Uint8Array; createdMs: number; updatedMs: number };

function encodeDidHead(h: DidHead): Uint8Array {
  const w = new Uint8Array(32);
  w.set(h.controller, 0);
  writeUint48(w, 20, h.createdMs);
  writeUint48(w, 26, h.updatedMs);
  return w;
}

function decodeDidHead(w: Uint8Array): DidHead | undefined {
  if (isZero(w)) return undefined;
  return { controller: w.slice(0, 20), createdMs: readUint48(w, 20), updatedMs: readUint48(w, 26) };
}

/** A stored attestation, decoded from its three words. */
export type StoredAttestation = {
  issuer: Uint8Array;
  issuedAtMs: number;
  revoked: boolean;
  /** 0: no expiry. */
  expiresAtMs: bigint;
  dataHash: Uint8Array;
};

function encodeAttestationHead(issuer: Uint8Array, issuedAtMs: number, revoked: boolean): Uint8Array {
  const w = new Uint8Array(32);
  w.set(issuer, 0);
  writeUint48(w, 20, issuedAtMs);
  w[26] = revoked ? 1 : 0;
  return w;
}

/** Decodes the three words of an attestation; undefined when there is none. */
export function decodeAttestationWords(words: readonly Uint8Array[]): StoredAttestation | undefined {
  const [head, expiry, dataHash] = words;
  if (!head || !expiry || !dataHash || isZero(head)) return undefined;
  return {
    issuer: head.slice(0, 20),
    issuedAtMs: readUint48(head, 20),
    revoked: head[26] === 1,
    expiresAtMs: BigInt(bytesToHex(expiry)),
    dataHash: dataHash.slice(),
  };
}

/** Why an attestation does not count at `nowMs`, or undefined when it does. */
export function attestationInvalidity(
  a: StoredAttestation | undefined,
  nowMs: number,
): 'absent' | 'revoked' | 'expired' | undefined {
  if (!a) return 'absent';
  if (a.revoked) return 'revoked';
  if (a.expiresAtMs !== 0n && a.expiresAtMs <= BigInt(nowMs)) return 'expired';
  return undefined;
}

/** A role or kind for a message: its name when it is a right-padded printable name, else its hex. */
function nameOf(id: Uint8Array): string {
  const end = id.indexOf(0);
  const length = end === -1 ? 32 : end;
  const printable = length > 0 && id.subarray(0, length).every((x) => x >= 0x20 && x < 0x7f) && isZero(id.subarray(length));
  // Single quotes: clients print a revert reason inside a JSON string, where double quotes come out escaped.
  return printable ? `'${Buffer.from(id.subarray(0, length)).toString('utf8')}'` : bytesToHex(id);
}

// The policy check is written once, as a generator that yields the slots it reads and receives
// their words, and driven two ways: synchronously over committed state or a block's overlay (the
// mempool and the executor, outside the EVM, without gas), and through a service call's store.
type Reads<T> = Generator<Uint8Array, T, Uint8Array>;

function* policyRefusal(sender: Uint8Array, nowMs: number, to: Uint8Array | null | undefined): Reads<string | undefined> {
  if (to && equalsBytes(to, IDENTITY_ADDRESS)) return undefined;
  const [roleSlot, kindSlot] = identityPolicySlots();
  const requiredRole = yield roleSlot;
  const requiredKind = yield kindSlot;
  if (isZero(requiredRole) && isZero(requiredKind)) return undefined;
  if (!isZero(yield identityRoleSlot(sender, ADMIN))) return undefined;
  const account = bytesToHex(sender);
  const service = `the identity service (${bytesToHex(IDENTITY_ADDRESS)})`;
  if (!isZero(requiredRole) && isZero(yield identityRoleSlot(sender, requiredRole))) {
    return `the app's policy requires the role ${nameOf(requiredRole)} of every sender, and ${account} does not have it; an app admin grants it with grantRole on ${service}`;
  }
  if (!isZero(requiredKind)) {
    const [s0, s1, s2] = attestationSlots(sender, requiredKind);
    const head = yield s0;
    const a = decodeAttestationWords([head, yield s1, yield s2]);
    const why = attestationInvalidity(a, nowMs);
    if (why) {
      const detail =
        why === 'absent'
          ? 'has none'
          : why === 'revoked'
            ? 'has one that was revoked'
            : `has one that expired at ${new Date(Number(a?.expiresAtMs)).toISOString()}`;
      return `the app's policy requires a valid ${nameOf(requiredKind)} attestation of every sender, and ${account} ${detail}; a registered issuer attests it with attest on ${service}`;
    }
  }
  return undefined;
}

/** A 32-byte word from a canonical storage value (big-endian, leading zeros stripped). */
function toWord(value: Uint8Array): Uint8Array {
  if (value.length > 32) throw new RangeError(`a storage value of ${value.length} bytes is longer than a word`);
  if (value.length === 32) return value;
  const w = new Uint8Array(32);
  w.set(value, 32 - value.length);
  return w;
}

function runReads<T>(reads: Reads<T>, read: (slot: Uint8Array) => Uint8Array): T {
  let step = reads.next();
  while (!step.done) step = reads.next(toWord(read(step.value)));
  return step.value;
}

async function runStoreReads<T>(reads: Reads<T>, store: ServiceStore): Promise<T> {
  let step = reads.next();
  while (!step.done) step = reads.next(await store.word(step.value));
  return step.value;
}

/**
 * Why the app's account policy refuses a transaction from `sender` to `to` at `nowMs`, or
 * undefined when it may run. `read` reads a storage word of the identity account (committed state
 * for the mempool, the block's overlay for block execution; a canonical value or a full word).
 * Admins and transactions to the identity service always pass.
 */
export function senderPolicyRefusal(
  read: (slot: Uint8Array) => Uint8Array,
  sender: Uint8Array,
  nowMs: number,
  to?: Uint8Array | null,
): string | undefined {
  return runReads(policyRefusal(sender, nowMs, to), read);
}

const hex = (value: unknown) => hexToBytes(value as Hex);

async function requireRole(call: ServiceCall, role: Uint8Array, what: string): Promise<void> {
  if (isZero(await call.store.word(identityRoleSlot(call.caller, role)))) {
    const admin = equalsBytes(role, ADMIN);
    throw new ServiceRevert(
      `identity: only ${admin ? 'an app admin' : 'a registered issuer'} can ${what}, and ${bytesToHex(call.caller)} does not have the role ${nameOf(role)}; ${admin ? 'ask an admin to do it' : 'an app admin grants the issuer role with grantRole'}`,
    );
  }
}

function requireNonZeroAddress(address: Uint8Array, what: string): void {
  if (isZero(address)) throw new ServiceRevert(`identity: ${what} cannot be the zero address; give an account`);
}

function requireId(id: Uint8Array, what: string): void {
  if (isZero(id)) throw new ServiceRevert(`identity: the ${what} cannot be zero; use a role name right-padded to 32 bytes`);
}

function checkDocument(document: Uint8Array): void {
  if (document.length > DID_DOCUMENT_BYTES_MAX) {
    throw new ServiceRevert(
      `identity: a DID document of ${document.length} bytes is over the ${DID_DOCUMENT_BYTES_MAX}-byte limit; store large data elsewhere and link it from the document`,
    );
  }
}

/** The DID of `id` for a change by the caller: it exists, is not deactivated, and the caller controls it. */
async function controlledDid(call: ServiceCall, id: Uint8Array, what: string): Promise<DidHead> {
  const [d0, d1] = didSlots(id);
  const head = decodeDidHead(await call.store.word(d0));
  const idHex = bytesToHex(id);
  if (!head) throw new ServiceRevert(`identity: ${idHex} has no DID; its owner creates one with createDid`);
  if (!isZero(await call.store.word(d1))) {
    throw new ServiceRevert(`identity: the DID of ${idHex} is deactivated, which is permanent; it cannot ${what}`);
  }
  if (!equalsBytes(head.controller, call.caller)) {
    throw new ServiceRevert(
      `identity: only the controller of the DID of ${idHex} (${bytesToHex(head.controller)}) can ${what}, not ${bytesToHex(call.caller)}`,
    );
  }
  return head;
}

async function setRole(call: ServiceCall, account: Uint8Array, role: Uint8Array, held: boolean): Promise<void> {
  const slot = identityRoleSlot(account, role);
  const has = !isZero(await call.store.word(slot));
  const accountHex = bytesToHex(account);
  if (has === held) {
    throw new ServiceRevert(`identity: ${accountHex} ${held ? 'already has' : 'does not have'} the role ${nameOf(role)}`);
  }
  if (equalsBytes(role, ADMIN)) {
    const admins = await call.store.uint(identityAdminsSlot());
    if (!held && admins <= 1n) {
      throw new ServiceRevert(
        `identity: ${accountHex} is the last admin and cannot be revoked; grant the admin role to another account first`,
      );
    }
    await call.store.setUint(identityAdminsSlot(), held ? admins + 1n : admins - 1n);
  }
  await call.store.setWord(slot, held ? ONE : ZERO_WORD);
  call.log(held ? 'RoleGranted' : 'RoleRevoked', { account: accountHex, role: bytesToHex(role), by: bytesToHex(call.caller) });
}

/** The identity service. */
export const identityService: ServiceDefinition = {
  name: 'identity',
  address: IDENTITY_ADDRESS,
  abi: IDENTITY_ABI,
  writes: new Set([
    'createDid',
    'updateDid',
    'rotateDidController',
    'deactivateDid',
    'grantRole',
    'revokeRole',
    'attest',
    'revokeAttestation',
    'setPolicy',
  ]),
  handlers: {
    createDid: async ([document], call) => {
      const doc = hex(document);
      const id = call.caller;
      requireNonZeroAddress(id, 'a DID');
      checkDocument(doc);
      const [d0, d1, d2] = didSlots(id);
      const existing = decodeDidHead(await call.store.word(d0));
      if (existing) {
        const deactivated = !isZero(await call.store.word(d1));
        throw new ServiceRevert(
          deactivated
            ? `identity: the DID of ${bytesToHex(id)} was deactivated, which is permanent; it cannot be created again`
            : `identity: ${bytesToHex(id)} already has a DID; its controller changes it with updateDid`,
        );
      }
      const now = call.env.timeMs;
      await call.store.setWord(d0, encodeDidHead({ controller: id, createdMs: now, updatedMs: now }));
      if (doc.length > 0) await call.store.setBytes(d2, doc);
      call.log('DidCreated', { id: bytesToHex(id), controller: bytesToHex(id), document: bytesToHex(doc) });
    },
    updateDid: async ([id, document], call) => {
      const idBytes = hex(id);
      const doc = hex(document);
      checkDocument(doc);
      const head = await controlledDid(call, idBytes, 'update it');
      const [d0, , d2] = didSlots(idBytes);
      await call.store.setWord(d0, encodeDidHead({ ...head, updatedMs: call.env.timeMs }));
      await call.store.setBytes(d2, doc);
      call.log('DidUpdated', { id: bytesToHex(idBytes), document: bytesToHex(doc) });
    },
    rotateDidController: async ([id, newController], call) => {
      const idBytes = hex(id);
      const next = hex(newController);
      requireNonZeroAddress(next, 'the new controller');
      const head = await controlledDid(call, idBytes, 'rotate its controller');
      if (equalsBytes(next, head.controller)) {
        throw new ServiceRevert(`identity: ${bytesToHex(next)} already controls the DID of ${bytesToHex(idBytes)}`);
      }
      const [d0] = didSlots(idBytes);
      await call.store.setWord(d0, encodeDidHead({ ...head, controller: next, updatedMs: call.env.timeMs }));
      call.log('DidControllerRotated', {
        id: bytesToHex(idBytes),
        previousController: bytesToHex(head.controller),
        newController: bytesToHex(next),
      });
    },
    deactivateDid: async ([id], call) => {
      const idBytes = hex(id);
      const head = await controlledDid(call, idBytes, 'deactivate it');
      const [d0, d1] = didSlots(idBytes);
      await call.store.setWord(d0, encodeDidHead({ ...head, updatedMs: call.env.timeMs }));
      await call.store.setWord(d1, ONE);
      call.log('DidDeactivated', { id: bytesToHex(idBytes), by: bytesToHex(call.caller) });
    },
    resolveDid: async ([id], call) => {
      const [d0, d1, d2] = didSlots(hex(id));
      const head = decodeDidHead(await call.store.word(d0));
      if (!head) return [false, bytesToHex(ZERO_ADDRESS), '0x', 0n, 0n, false];
      const deactivated = !isZero(await call.store.word(d1));
      const document = await call.store.bytes(d2);
      return [
        true,
        bytesToHex(head.controller),
        bytesToHex(document),
        BigInt(head.createdMs),
        BigInt(head.updatedMs),
        deactivated,
      ];
    },
    grantRole: async ([account, role], call) => {
      await requireRole(call, ADMIN, 'grant roles');
      const a = hex(account);
      requireNonZeroAddress(a, 'the account');
      requireId(hex(role), 'role');
      await setRole(call, a, hex(role), true);
    },
    revokeRole: async ([account, role], call) => {
      await requireRole(call, ADMIN, 'revoke roles');
      requireId(hex(role), 'role');
      await setRole(call, hex(account), hex(role), false);
    },
    hasRole: async ([account, role], call) => !isZero(await call.store.word(identityRoleSlot(hex(account), hex(role)))),
    attest: async ([subject, kind, expiresAtMs, dataHash], call) => {
      await requireRole(call, ISSUER, 'attest');
      const s = hex(subject);
      const k = hex(kind);
      const expiry = expiresAtMs as bigint;
      requireNonZeroAddress(s, 'the subject');
      requireId(k, 'attestation kind');
      if (expiry !== 0n && expiry <= BigInt(call.env.timeMs)) {
        throw new ServiceRevert(
          `identity: the attestation would expire at ${expiry} ms, not after the block time ${call.env.timeMs} ms; give a later expiry, or 0 for none`,
        );
      }
      const [t0, t1, t2] = attestationSlots(s, k);
      await call.store.setWord(t0, encodeAttestationHead(call.caller, call.env.timeMs, false));
      await call.store.setUint(t1, expiry);
      await call.store.setWord(t2, hex(dataHash));
      call.log('Attested', {
        subject: bytesToHex(s),
        kind: bytesToHex(k),
        issuer: bytesToHex(call.caller),
        expiresAtMs: expiry,
        dataHash: dataHash as Hex,
      });
    },
    revokeAttestation: async ([subject, kind], call) => {
      const s = hex(subject);
      const k = hex(kind);
      const [t0] = attestationSlots(s, k);
      const head = await call.store.word(t0);
      const a = decodeAttestationWords([head, ZERO_WORD, ZERO_WORD]);
      if (!a) throw new ServiceRevert(`identity: ${bytesToHex(s)} has no ${nameOf(k)} attestation to revoke`);
      if (a.revoked) throw new ServiceRevert(`identity: the ${nameOf(k)} attestation of ${bytesToHex(s)} is already revoked`);
      if (!equalsBytes(a.issuer, call.caller) && isZero(await call.store.word(identityRoleSlot(call.caller, ADMIN)))) {
        throw new ServiceRevert(
          `identity: only its issuer (${bytesToHex(a.issuer)}) or an app admin can revoke the ${nameOf(k)} attestation of ${bytesToHex(s)}, not ${bytesToHex(call.caller)}`,
        );
      }
      await call.store.setWord(t0, encodeAttestationHead(a.issuer, a.issuedAtMs, true));
      call.log('AttestationRevoked', { subject: bytesToHex(s), kind: bytesToHex(k), by: bytesToHex(call.caller) });
    },
    attestation: async ([subject, kind], call) => {
      const words = [];
      for (const slot of attestationSlots(hex(subject), hex(kind))) words.push(await call.store.word(slot));
      const a = decodeAttestationWords(words);
      if (!a) return [false, bytesToHex(ZERO_ADDRESS), 0n, 0n, bytesToHex(ZERO_WORD), false];
      const valid = attestationInvalidity(a, call.env.timeMs) === undefined;
      return [valid, bytesToHex(a.issuer), BigInt(a.issuedAtMs), a.expiresAtMs, bytesToHex(a.dataHash), a.revoked];
    },
    setPolicy: async ([requiredRole, requiredAttestation], call) => {
      await requireRole(call, ADMIN, 'set the account policy');
      const [roleSlot, kindSlot] = identityPolicySlots();
      await call.store.setWord(roleSlot, hex(requiredRole));
      await call.store.setWord(kindSlot, hex(requiredAttestation));
      call.log('PolicySet', {
        requiredRole: requiredRole as Hex,
        requiredAttestation: requiredAttestation as Hex,
        by: bytesToHex(call.caller),
      });
    },
    policy: async (_args, call) => {
      const [roleSlot, kindSlot] = identityPolicySlots();
      return [bytesToHex(await call.store.word(roleSlot)), bytesToHex(await call.store.word(kindSlot))];
    },
    checkPolicy: async ([account], call) => {
      const refusal = await runStoreReads(policyRefusal(hex(account), call.env.timeMs, undefined), call.store);
      return [refusal === undefined, refusal ?? ''];
    },
    didSlot: ([id]) => bytesToHex(didSlots(hex(id))[0]),
    attestationSlot: ([subject, kind]) => bytesToHex(attestationSlots(hex(subject), hex(kind))[0]),
  },
};
