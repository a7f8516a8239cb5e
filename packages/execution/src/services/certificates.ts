/**
 * The certificates service (issue P7), in the manner of BSN's DDC (distributed digital
 * certificates): an issuer creates a collection, issues certificates into it and keeps control of
 * them (freezing, revoking); holders transfer them when the collection allows it. A collection
 * holds either unique tokens (kind 0, shaped as ERC-721) or amounts of token ids (kind 1, shaped
 * as ERC-1155), each with a URI and a content hash (the hash of the certified document).
 *
 * Each collection has its own address, derived from its id (`collectionAddress`), and its token
 * events are logged from that address with the standard ERC-721 / ERC-1155 signatures, so wallets
 * and indexers that know those standards read them as they are. No code runs at that address:
 * calls go to the service, which names the collection by id. `CollectionCreated` is logged from
 * the service's own address.
 *
 * Storage (slot = keccak256(prefix || parts); c and ids are 32-byte words, holders 20 bytes):
 * - "collections": the number of collections; ids run 1..N.
 * - "collection" || c, and the three slots after it: word 0 = issuer (20 bytes) | kind (1) |
 *   transferable (1) | 1 (it exists); word 1 = supply (kind 0: tokens not burned; kind 1: units
 *   not burned); words 2 and 3 = name and symbol as byte strings (`ServiceStore.setBytes`).
 * - "collection.at" || collection address: the collection's id (the reverse lookup).
 * - "token" || c || id, and the two slots after it: word 0 = owner (20 bytes, kind 0 only) |
 *   flags (1: bit 0 issued, bit 1 frozen); word 1 = content hash; word 2 = URI as a byte string.
 *   A unique token that is burned keeps its words (owner zero): its id is never issued again, and
 *   its URI and content hash stay readable, so a verifier sees a revoked certificate as revoked.
 * - "balance" || c || holder || id: the amount held (kind 1 only).
 * - "owned" || c || holder: how many distinct token ids the holder has in the collection;
 *   "owned.item" || c || holder || i: the i-th of them; "owned.index" || c || holder || id: its
 *   position + 1 (0: not held). Removal moves the last entry into the hole (swap and pop), so
 *   every change costs a fixed number of words and nothing iterates the list.
 * The key of each family has its own length (11, 42, 33, 69, 91, 57, 94 and 95 bytes), so keys of
 * two families never coincide.
 */
import { bytesToHex, bytesToUtf8, concatBytes, equalsBytes, keccak256, utf8ToBytes } from '@polis/core';
import { getAddress, type Hex, hexToBytes, parseAbi } from 'viem';
import { type ServiceCall, type ServiceDefinition, ServiceRevert, ServiceStore, uintWord } from './host.js';

/** The certificates service's address. */
export const CERTIFICATES_ADDRESS = hexToBytes('0x00000000000000000000000000000000504c0003');

/** UTF-8 bytes of a collection's name (1 at least). */
export const CERTIFICATE_NAME_BYTES_MAX = 128;
/** UTF-8 bytes of a collection's symbol. */
export const CERTIFICATE_SYMBOL_BYTES_MAX = 32;
/** UTF-8 bytes of a token's URI. */
export const CERTIFICATE_URI_BYTES_MAX = 2048;

/** The kinds of collection: unique tokens (as ERC-721) or amounts of token ids (as ERC-1155). */
export const COLLECTION_KIND = { unique: 0, amounts: 1 } as const;

/** The certificates service's ABI. */
export const CERTIFICATES_ABI = parseAbi([
  'function createCollection(string name, string symbol, uint8 kind, bool transferable) returns (uint256 collectionId, address collectionAddress)',
  'function mint(uint256 collectionId, address to, uint256 tokenId, uint256 amount, string uri, bytes32 hash)',
  'function transfer(uint256 collectionId, address to, uint256 tokenId, uint256 amount)',
  'function burn(uint256 collectionId, uint256 tokenId, uint256 amount)',
  'function burnFrom(uint256 collectionId, address from, uint256 tokenId, uint256 amount)',
  'function freeze(uint256 collectionId, uint256 tokenId)',
  'function unfreeze(uint256 collectionId, uint256 tokenId)',
  'function collection(uint256 collectionId) view returns (string name, string symbol, uint8 kind, bool transferable, address issuer, address collectionAddress, uint256 supply)',
  'function collectionCount() view returns (uint256)',
  'function collectionAt(address collectionAddress) view returns (uint256 collectionId)',
  'function ownerOf(uint256 collectionId, uint256 tokenId) view returns (address)',
  'function balanceOf(uint256 collectionId, address holder, uint256 tokenId) view returns (uint256)',
  'function tokenCount(uint256 collectionId, address holder) view returns (uint256)',
  'function tokenOfOwnerByIndex(uint256 collectionId, address holder, uint256 index) view returns (uint256)',
  'function tokenURI(uint256 collectionId, uint256 tokenId) view returns (string)',
  'function contentHash(uint256 collectionId, uint256 tokenId) view returns (bytes32)',
  'function isFrozen(uint256 collectionId, uint256 tokenId) view returns (bool)',
  'event CollectionCreated(uint256 indexed collectionId, address indexed issuer, address indexed collectionAddress, uint8 kind, bool transferable, string name, string symbol)',
  'event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)',
  'event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)',
  'event URI(string value, uint256 indexed id)',
  'event Frozen(uint256 indexed tokenId)',
  'event Unfrozen(uint256 indexed tokenId)',
]);

const COUNT_SLOT = ServiceStore.slot(utf8ToBytes('collections'));
const P_COLLECTION = utf8ToBytes('collection');
const P_COLLECTION_AT = utf8ToBytes('collection.at');
const P_TOKEN = utf8ToBytes('token');
const P_BALANCE = utf8ToBytes('balance');
const P_OWNED = utf8ToBytes('owned');
const P_OWNED_ITEM = utf8ToBytes('owned.item');
const P_OWNED_INDEX = utf8ToBytes('owned.index');
const P_ADDRESS = utf8ToBytes('polis-collection');
const ZERO_ADDRESS = new Uint8Array(20);
const UINT256_MAX = (1n << 256n) - 1n;

const FLAG_ISSUED = 1;
const FLAG_FROZEN = 2;

/** The address a collection's events come from: the low 20 bytes of keccak256("polis-collection" || id). */
export function collectionAddress(collectionId: bigint): Uint8Array {
  return keccak256(concatBytes(P_ADDRESS, uintWord(collectionId))).slice(12);
}

/** The slot `offset` words after the first slot of `key` (wrapping at 2^256, as Solidity's do). */
function slotAt(key: Uint8Array, offset: bigint): Uint8Array {
  return offset === 0n ? key : uintWord((BigInt(bytesToHex(key)) + offset) % (1n << 256n));
}

/** The first of a collection's four storage slots. */
export function collectionSlot(collectionId: bigint): Uint8Array {
  return ServiceStore.slot(P_COLLECTION, uintWord(collectionId));
}

/** The first of a token's three storage slots. */
export function tokenSlot(collectionId: bigint, tokenId: bigint): Uint8Array {
  return ServiceStore.slot(P_TOKEN, uintWord(collectionId), uintWord(tokenId));
}

type Collection = { id: bigint; issuer: Uint8Array; kind: number; transferable: boolean; address: Uint8Array; key: Uint8Array };
type Token = { id: bigint; key: Uint8Array; owner: Uint8Array; flags: number };

const show = (address: Uint8Array) => getAddress(bytesToHex(address));
const b = (hex: unknown) => hexToBytes(hex as Hex);
const isZero = (bytes: Uint8Array) => bytes.every((x) => x === 0);
const tokenName = (c: Collection, tokenId: bigint) => `token ${tokenId} of collection ${c.id}`;

async function loadCollection(call: ServiceCall, collectionId: bigint): Promise<Collection> {
  const key = collectionSlot(collectionId);
  const head = await call.store.word(key);
  if (head[22] !== 1) {
    const count = await call.store.uint(COUNT_SLOT);
    throw new ServiceRevert(
      `certificates: there is no collection ${collectionId} (ids run from 1 to ${count}); create one with createCollection`,
    );
  }
  return {
    id: collectionId,
    issuer: head.slice(0, 20),
    kind: head[20] ?? 0,
    transferable: head[21] === 1,
    address: collectionAddress(collectionId),
    key,
  };
}

function requireIssuer(call: ServiceCall, c: Collection, action: string): void {
  if (!equalsBytes(call.caller, c.issuer)) {
    throw new ServiceRevert(
      `certificates: only the issuer of collection ${c.id} (${show(c.issuer)}) can ${action}, not ${show(call.caller)}`,
    );
  }
}

async function loadToken(call: ServiceCall, c: Collection, tokenId: bigint): Promise<Token> {
  const key = tokenSlot(c.id, tokenId);
  const head = await call.store.word(key);
  return { id: tokenId, key, owner: head.slice(0, 20), flags: head[20] ?? 0 };
}

/** A token that was issued (it may since have been burned). */
async function issuedToken(call: ServiceCall, c: Collection, tokenId: bigint): Promise<Token> {
  const t = await loadToken(call, c, tokenId);
  if ((t.flags & FLAG_ISSUED) === 0) throw new ServiceRevert(`certificates: ${tokenName(c, tokenId)} was never issued`);
  return t;
}

async function saveTokenHead(call: ServiceCall, t: Token): Promise<void> {
  const head = new Uint8Array(32);
  head.set(t.owner, 0);
  head[20] = t.flags;
  await call.store.setWord(t.key, head);
}

function checkAmount(c: Collection, amount: bigint, action: string): void {
  if (amount === 0n) throw new ServiceRevert(`certificates: cannot ${action} an amount of 0`);
  if (c.kind === COLLECTION_KIND.unique && amount !== 1n) {
    throw new ServiceRevert(
      `certificates: collection ${c.id} holds unique tokens (kind 0): ${action} an amount of 1, not ${amount}`,
    );
  }
}

function checkLength(what: string, text: string, min: number, max: number): Uint8Array {
  const bytes = utf8ToBytes(text);
  if (bytes.length < min || bytes.length > max) {
    throw new ServiceRevert(`certificates: a ${what} takes ${min} to ${max} UTF-8 bytes, not ${bytes.length}`);
  }
  return bytes;
}

/** How many units of `t` `holder` has. */
async function balanceOf(call: ServiceCall, c: Collection, holder: Uint8Array, t: Token): Promise<bigint> {
  if (c.kind === COLLECTION_KIND.unique) return !isZero(t.owner) && equalsBytes(t.owner, holder) ? 1n : 0n;
  return call.store.uint(ServiceStore.slot(P_BALANCE, uintWord(c.id), holder, uintWord(t.id)));
}

/** Refuses unless `holder` has `amount` of `t`. */
async function requireHeld(call: ServiceCall, c: Collection, holder: Uint8Array, t: Token, amount: bigint): Promise<void> {
  const held = await balanceOf(call, c, holder, t);
  if (held >= amount) return;
  if (c.kind === COLLECTION_KIND.unique) {
    const why = isZero(t.owner) ? 'it was burned' : `${show(t.owner)} does`;
    throw new ServiceRevert(`certificates: ${show(holder)} does not hold ${tokenName(c, t.id)} (${why})`);
  }
  throw new ServiceRevert(`certificates: ${show(holder)} holds ${held} of ${tokenName(c, t.id)}, less than ${amount}`);
}

// The per-holder list of distinct token ids (lookup by owner), with swap-and-pop removal.
function ownedKeys(c: Collection, holder: Uint8Array) {
  const cw = uintWord(c.id);
  return {
    count: ServiceStore.slot(P_OWNED, cw, holder),
    item: (i: bigint) => ServiceStore.slot(P_OWNED_ITEM, cw, holder, uintWord(i)),
    index: (tokenId: bigint) => ServiceStore.slot(P_OWNED_INDEX, cw, holder, uintWord(tokenId)),
  };
}

async function addOwned(call: ServiceCall, c: Collection, holder: Uint8Array, tokenId: bigint): Promise<void> {
  const k = ownedKeys(c, holder);
  const n = await call.store.uint(k.count);
  await call.store.setUint(k.item(n), tokenId);
  await call.store.setUint(k.index(tokenId), n + 1n);
  await call.store.setUint(k.count, n + 1n);
}

async function removeOwned(call: ServiceCall, c: Collection, holder: Uint8Array, tokenId: bigint): Promise<void> {
  const k = ownedKeys(c, holder);
  const position = await call.store.uint(k.index(tokenId));
  const n = await call.store.uint(k.count);
  // A held token is always in its holder's list: a miss is a bug in this file, not a user error.
  if (position === 0n || position > n)
    throw new Error(`certificates: ${tokenName(c, tokenId)} missing from the list of ${show(holder)}`);
  const last = n - 1n;
  if (position - 1n !== last) {
    const lastId = await call.store.uint(k.item(last));
    await call.store.setUint(k.item(position - 1n), lastId);
    await call.store.setUint(k.index(lastId), position);
  }
  await call.store.setUint(k.item(last), 0n);
  await call.store.setUint(k.index(tokenId), 0n);
  await call.store.setUint(k.count, last);
}

/**
 * Moves `amount` of `t` from `from` to `to` (undefined `from`: a mint; undefined `to`: a burn),
 * keeping ownership, balances and the holders' lists, and logs the standard event from the
 * collection's address. The caller has checked permissions and that `from` holds `amount`.
 */
async function move(
  call: ServiceCall,
  c: Collection,
  t: Token,
  amount: bigint,
  from: Uint8Array | undefined,
  to: Uint8Array | undefined,
): Promise<void> {
  if (c.kind === COLLECTION_KIND.unique) {
    if (from) await removeOwned(call, c, from, t.id);
    t.owner = to ?? ZERO_ADDRESS;
    await saveTokenHead(call, t);
    if (to) await addOwned(call, c, to, t.id);
    call.log(
      'Transfer',
      { from: bytesToHex(from ?? ZERO_ADDRESS), to: bytesToHex(to ?? ZERO_ADDRESS), tokenId: t.id },
      c.address,
    );
    return;
  }
  const cw = uintWord(c.id);
  const tw = uintWord(t.id);
  if (from) {
    const slot = ServiceStore.slot(P_BALANCE, cw, from, tw);
    const left = (await call.store.uint(slot)) - amount;
    await call.store.setUint(slot, left);
    if (left === 0n) await removeOwned(call, c, from, t.id);
  }
  if (to) {
    const slot = ServiceStore.slot(P_BALANCE, cw, to, tw);
    const before = await call.store.uint(slot);
    // Every balance is at most the collection's supply, which `mint` keeps under 2^256.
    await call.store.setUint(slot, before + amount);
    if (before === 0n) await addOwned(call, c, to, t.id);
  }
  call.log(
    'TransferSingle',
    {
      operator: bytesToHex(call.caller),
      from: bytesToHex(from ?? ZERO_ADDRESS),
      to: bytesToHex(to ?? ZERO_ADDRESS),
      id: t.id,
      value: amount,
    },
    c.address,
  );
}

async function changeSupply(call: ServiceCall, c: Collection, delta: bigint): Promise<void> {
  const slot = slotAt(c.key, 1n);
  const supply = (await call.store.uint(slot)) + delta;
  if (supply > UINT256_MAX) throw new ServiceRevert(`certificates: minting would take collection ${c.id} over 2^256 - 1 units`);
  await call.store.setUint(slot, supply);
}

/** Burns `amount` of `tokenId` that `from` holds; `byIssuer` may burn a frozen token (a revocation). */
async function burnUnits(
  call: ServiceCall,
  c: Collection,
  from: Uint8Array,
  t: Token,
  amount: bigint,
  byIssuer: boolean,
): Promise<void> {
  if (!byIssuer && (t.flags & FLAG_FROZEN) !== 0) {
    throw new ServiceRevert(`certificates: ${tokenName(c, t.id)} is frozen by its issuer; only the issuer can burn it`);
  }
  await requireHeld(call, c, from, t, amount);
  await move(call, c, t, amount, from, undefined);
  await changeSupply(call, c, -amount);
}

async function createCollection(args: readonly unknown[], call: ServiceCall): Promise<[bigint, Hex]> {
  const [name, symbol, kind, transferable] = args as [string, string, number, boolean];
  const nameBytes = checkLength('collection name', name, 1, CERTIFICATE_NAME_BYTES_MAX);
  const symbolBytes = checkLength('collection symbol', symbol, 0, CERTIFICATE_SYMBOL_BYTES_MAX);
  if (kind !== COLLECTION_KIND.unique && kind !== COLLECTION_KIND.amounts) {
    throw new ServiceRevert(
      `certificates: kind ${kind} is unknown; use 0 (unique tokens, as ERC-721) or 1 (amounts, as ERC-1155)`,
    );
  }
  const id = (await call.store.uint(COUNT_SLOT)) + 1n;
  await call.store.setUint(COUNT_SLOT, id);
  const address = collectionAddress(id);
  const key = collectionSlot(id);
  const head = new Uint8Array(32);
  head.set(call.caller, 0);
  head[20] = kind;
  head[21] = transferable ? 1 : 0;
  head[22] = 1;
  await call.store.setWord(key, head);
  await call.store.setBytes(slotAt(key, 2n), nameBytes);
  await call.store.setBytes(slotAt(key, 3n), symbolBytes);
  await call.store.setUint(ServiceStore.slot(P_COLLECTION_AT, address), id);
  call.log('CollectionCreated', {
    collectionId: id,
    issuer: bytesToHex(call.caller),
    collectionAddress: bytesToHex(address),
    kind,
    transferable,
    name,
    symbol,
  });
  return [id, bytesToHex(address)];
}

async function mint(args: readonly unknown[], call: ServiceCall): Promise<void> {
  const [collectionId, toHex, tokenId, amount, uri, hashHex] = args as [bigint, Hex, bigint, bigint, string, Hex];
  const c = await loadCollection(call, collectionId);
  requireIssuer(call, c, 'mint');
  const to = b(toHex);
  if (isZero(to)) throw new ServiceRevert('certificates: cannot mint to the zero address');
  checkAmount(c, amount, 'mint');
  const uriBytes = checkLength('token URI', uri, 0, CERTIFICATE_URI_BYTES_MAX);
  const hash = b(hashHex);
  const t = await loadToken(call, c, tokenId);
  const fresh = (t.flags & FLAG_ISSUED) === 0;
  if (!fresh && c.kind === COLLECTION_KIND.unique) {
    throw new ServiceRevert(`certificates: ${tokenName(c, tokenId)} was already issued; a unique token id is issued once`);
  }
  if (!fresh) {
    // More units of an amounts token: they are the same certificate, so its URI and hash stay.
    const storedHash = await call.store.word(slotAt(t.key, 1n));
    if (!isZero(hash) && !equalsBytes(hash, storedHash)) {
      throw new ServiceRevert(
        `certificates: ${tokenName(c, tokenId)} has content hash ${bytesToHex(storedHash)}; pass it or zero`,
      );
    }
    if (uriBytes.length > 0 && !equalsBytes(uriBytes, await call.store.bytes(slotAt(t.key, 2n)))) {
      throw new ServiceRevert(
        `certificates: ${tokenName(c, tokenId)} already has another URI; pass the same URI or an empty one`,
      );
    }
  }
  await changeSupply(call, c, amount);
  if (fresh) {
    t.flags = FLAG_ISSUED;
    if (c.kind === COLLECTION_KIND.amounts) await saveTokenHead(call, t);
    if (!isZero(hash)) await call.store.setWord(slotAt(t.key, 1n), hash);
    if (uriBytes.length > 0) await call.store.setBytes(slotAt(t.key, 2n), uriBytes);
  }
  await move(call, c, t, amount, undefined, to);
  // ERC-1155: a URI event when a token id's URI is set.
  if (fresh && c.kind === COLLECTION_KIND.amounts && uriBytes.length > 0) call.log('URI', { value: uri, id: tokenId }, c.address);
}

async function transfer(args: readonly unknown[], call: ServiceCall): Promise<void> {
  const [collectionId, toHex, tokenId, amount] = args as [bigint, Hex, bigint, bigint];
  const c = await loadCollection(call, collectionId);
  const to = b(toHex);
  if (isZero(to)) throw new ServiceRevert('certificates: cannot transfer to the zero address; use burn to destroy a certificate');
  checkAmount(c, amount, 'transfer');
  if (!c.transferable) {
    throw new ServiceRevert(
      `certificates: collection ${c.id} is not transferable: its certificates stay with the holder they were issued to`,
    );
  }
  const t = await issuedToken(call, c, tokenId);
  if ((t.flags & FLAG_FROZEN) !== 0) {
    throw new ServiceRevert(`certificates: ${tokenName(c, tokenId)} is frozen by its issuer; it cannot move until unfrozen`);
  }
  await requireHeld(call, c, call.caller, t, amount);
  await move(call, c, t, amount, call.caller, to);
}

async function burn(args: readonly unknown[], call: ServiceCall): Promise<void> {
  const [collectionId, tokenId, amount] = args as [bigint, bigint, bigint];
  const c = await loadCollection(call, collectionId);
  checkAmount(c, amount, 'burn');
  const t = await issuedToken(call, c, tokenId);
  const isIssuer = equalsBytes(call.caller, c.issuer);
  // A unique token's issuer may burn it wherever it is (a revocation); otherwise the caller burns its own.
  const from = c.kind === COLLECTION_KIND.unique && isIssuer && !isZero(t.owner) ? t.owner : call.caller;
  await burnUnits(call, c, from, t, amount, isIssuer);
}

async function burnFrom(args: readonly unknown[], call: ServiceCall): Promise<void> {
  const [collectionId, fromHex, tokenId, amount] = args as [bigint, Hex, bigint, bigint];
  const c = await loadCollection(call, collectionId);
  requireIssuer(call, c, 'burn from a holder');
  checkAmount(c, amount, 'burn');
  const t = await issuedToken(call, c, tokenId);
  await burnUnits(call, c, b(fromHex), t, amount, true);
}

async function setFrozen(args: readonly unknown[], call: ServiceCall, frozen: boolean): Promise<void> {
  const [collectionId, tokenId] = args as [bigint, bigint];
  const c = await loadCollection(call, collectionId);
  requireIssuer(call, c, frozen ? 'freeze its tokens' : 'unfreeze its tokens');
  const t = await issuedToken(call, c, tokenId);
  if (((t.flags & FLAG_FROZEN) !== 0) === frozen) {
    throw new ServiceRevert(`certificates: ${tokenName(c, tokenId)} is already ${frozen ? 'frozen' : 'unfrozen'}`);
  }
  t.flags = frozen ? t.flags | FLAG_FROZEN : t.flags & ~FLAG_FROZEN;
  await saveTokenHead(call, t);
  call.log(frozen ? 'Frozen' : 'Unfrozen', { tokenId }, c.address);
}

/** The certificates service. */
export const certificatesService: ServiceDefinition = {
  name: 'certificates',
  address: CERTIFICATES_ADDRESS,
  abi: CERTIFICATES_ABI,
  writes: new Set(['createCollection', 'mint', 'transfer', 'burn', 'burnFrom', 'freeze', 'unfreeze']),
  handlers: {
    createCollection,
    mint,
    transfer,
    burn,
    burnFrom,
    freeze: (args, call) => setFrozen(args, call, true),
    unfreeze: (args, call) => setFrozen(args, call, false),
    collection: async ([collectionId], call) => {
      const c = await loadCollection(call, collectionId as bigint);
      const name = bytesToUtf8(await call.store.bytes(slotAt(c.key, 2n)));
      const symbol = bytesToUtf8(await call.store.bytes(slotAt(c.key, 3n)));
      const supply = await call.store.uint(slotAt(c.key, 1n));
      return [name, symbol, c.kind, c.transferable, bytesToHex(c.issuer), bytesToHex(c.address), supply];
    },
    collectionCount: async (_, call) => call.store.uint(COUNT_SLOT),
    collectionAt: async ([address], call) => call.store.uint(ServiceStore.slot(P_COLLECTION_AT, b(address))),
    ownerOf: async ([collectionId, tokenId], call) => {
      const c = await loadCollection(call, collectionId as bigint);
      if (c.kind !== COLLECTION_KIND.unique) {
        throw new ServiceRevert(
          `certificates: collection ${c.id} holds amounts (kind 1), so a token has no single owner; use balanceOf`,
        );
      }
      const t = await issuedToken(call, c, tokenId as bigint);
      if (isZero(t.owner)) throw new ServiceRevert(`certificates: ${tokenName(c, t.id)} was burned`);
      return bytesToHex(t.owner);
    },
    balanceOf: async ([collectionId, holder, tokenId], call) => {
      const c = await loadCollection(call, collectionId as bigint);
      return balanceOf(call, c, b(holder), await loadToken(call, c, tokenId as bigint));
    },
    tokenCount: async ([collectionId, holder], call) => {
      const c = await loadCollection(call, collectionId as bigint);
      return call.store.uint(ownedKeys(c, b(holder)).count);
    },
    tokenOfOwnerByIndex: async ([collectionId, holder, index], call) => {
      const c = await loadCollection(call, collectionId as bigint);
      const k = ownedKeys(c, b(holder));
      const n = await call.store.uint(k.count);
      if ((index as bigint) >= n) {
        throw new ServiceRevert(
          `certificates: index ${index} is past the ${n} token ids ${show(b(holder))} holds in collection ${c.id} (see tokenCount)`,
        );
      }
      return call.store.uint(k.item(index as bigint));
    },
    tokenURI: async ([collectionId, tokenId], call) => {
      const c = await loadCollection(call, collectionId as bigint);
      const t = await issuedToken(call, c, tokenId as bigint);
      return bytesToUtf8(await call.store.bytes(slotAt(t.key, 2n)));
    },
    contentHash: async ([collectionId, tokenId], call) => {
      const c = await loadCollection(call, collectionId as bigint);
      const t = await issuedToken(call, c, tokenId as bigint);
      return bytesToHex(await call.store.word(slotAt(t.key, 1n)));
    },
    isFrozen: async ([collectionId, tokenId], call) => {
      const c = await loadCollection(call, collectionId as bigint);
      const t = await issuedToken(call, c, tokenId as bigint);
      return (t.flags & FLAG_FROZEN) !== 0;
    },
  },
};
