/**
 * How the sparse Merkle tree's nodes are stored: in pages of four levels (ADR 0014).
 *
 * A node's *position* is its path (its first `depth` key bits, zero-padded to 32 bytes) and its
 * depth (2 bytes). The nodes at depths P..P+3 under one P-bit prefix (P a multiple of 4) share
 * one value of the `smt.pages` table: up to 15 nodes, the page's own root and the three levels
 * below it. The page is keyed by the position of its root, so pages sort in path order and a
 * subtree's pages sit side by side. A value is a 2-byte bitmap of the slots present, then their
 * 65-byte nodes in slot order (at most 977 bytes, which stays inside an LMDB page).
 *
 * A path of d nodes therefore costs about d/4 reads and writes instead of d: the tree's table
 * operations, not its hashing, were the cost of committing a block (docs/performance.md).
 */
import { bytesToHex } from '@polis/core';
import type { LedgerTable, LedgerWriteTxn } from '../db.js';
import { corrupt } from '../errors.js';
import { WORD_LENGTH } from './params.js';

/** Levels per page. */
const SMT_PAGE_LEVELS = 4;
/** Node slots per page: 1 + 2 + 4 + 8. */
const PAGE_SLOTS = (1 << SMT_PAGE_LEVELS) - 1;
/** A node: a type byte and two 32-byte words. */
export const SMT_NODE_LENGTH = 1 + 2 * WORD_LENGTH;
/** A position: 32 bytes of path, then the depth (2 bytes). */
export const SMT_POSITION_LENGTH = WORD_LENGTH + 2;
const BITMAP_LENGTH = 2;

/** The depth stored in the last two bytes of a position. */
function depthOf(position: Uint8Array): number {
  return ((position[WORD_LENGTH] as number) << 8) | (position[WORD_LENGTH + 1] as number);
}

/** The page key (the position of the page's top node) of the node at `position`. */
function pageKey(position: Uint8Array): Buffer {
  const depth = depthOf(position);
  const top = depth - (depth % SMT_PAGE_LEVELS);
  const page = Buffer.alloc(SMT_POSITION_LENGTH);
  const whole = top >> 3;
  for (let i = 0; i < whole; i++) page[i] = position[i] as number;
  // A page starts on a 4-bit boundary: at most the high nibble of the next byte is path.
  if (top & 7) page[whole] = (position[whole] as number) & 0xf0;
  page.writeUInt16BE(top, WORD_LENGTH);
  return page;
}

/** The slot of the node at `position` in its page. */
function slotOf(position: Uint8Array): number {
  const depth = depthOf(position);
  const within = depth % SMT_PAGE_LEVELS;
  let bits = 0;
  for (let i = depth - within; i < depth; i++) bits = (bits << 1) | (((position[i >> 3] as number) >> (7 - (i & 7))) & 1);
  return (1 << within) - 1 + bits;
}

/** The position of the node in `slot` of the page at `page` (the inverse of `pageKey` and `slotOf`). */
export function slotPosition(page: Uint8Array, slot: number): Uint8Array {
  const top = depthOf(page);
  let within = 0;
  while ((1 << (within + 1)) - 1 <= slot) within++;
  const bits = slot - ((1 << within) - 1);
  const position = Buffer.from(page);
  for (let i = 0; i < within; i++) {
    const at = top + i;
    if ((bits >> (within - 1 - i)) & 1) position[at >> 3] = (position[at >> 3] as number) | (1 << (7 - (at & 7)));
  }
  position.writeUInt16BE(top + within, WORD_LENGTH);
  return position;
}

/** A page's present nodes by slot. */
type Slots = (Uint8Array | undefined)[];

/** Decodes a stored page; a malformed one is corruption. */
export function decodePage(key: Uint8Array, value: Uint8Array): Slots {
  const bitmap = value.length >= BITMAP_LENGTH ? ((value[0] as number) << 8) | (value[1] as number) : 0;
  const slots: Slots = new Array(PAGE_SLOTS);
  let offset = BITMAP_LENGTH;
  for (let slot = 0; slot < PAGE_SLOTS; slot++) {
    if (!(bitmap & (1 << slot))) continue;
    slots[slot] = value.subarray(offset, offset + SMT_NODE_LENGTH);
    offset += SMT_NODE_LENGTH;
  }
  if (bitmap === 0 || bitmap >> PAGE_SLOTS !== 0 || offset !== value.length) {
    throw corrupt(`the sparse Merkle tree page at ${bytesToHex(key)} is malformed (${value.length} bytes)`);
  }
  return slots;
}

/** Encodes a page's present nodes; `undefined` when none is left. */
function encodePage(slots: Slots): Uint8Array | undefined {
  let bitmap = 0;
  let count = 0;
  for (let slot = 0; slot < PAGE_SLOTS; slot++) {
    if (slots[slot]) {
      bitmap |= 1 << slot;
      count++;
    }
  }
  if (count === 0) return undefined;
  const out = Buffer.allocUnsafe(BITMAP_LENGTH + count * SMT_NODE_LENGTH);
  out[0] = bitmap >> 8;
  out[1] = bitmap & 0xff;
  let offset = BITMAP_LENGTH;
  for (let slot = 0; slot < PAGE_SLOTS; slot++) {
    const node = slots[slot];
    if (!node) continue;
    out.set(node, offset);
    offset += SMT_NODE_LENGTH;
  }
  return out;
}

type Page = { key: Buffer; top: number; slots: Slots; dirty: boolean };

/** Whether the page at `top` with key `page` is the one holding `position` (they share the first `top` path bits). */
function holds(page: Uint8Array, position: Uint8Array, top: number): boolean {
  const whole = top >> 3;
  for (let i = 0; i < whole; i++) if (page[i] !== position[i]) return false;
  return !(top & 7) || page[whole] === ((position[whole] as number) & 0xf0);
}

/**
 * The tree's nodes as one block's batch sees them: committed pages loaded on first use, changed
 * in memory, and written back by `write`. Reads see the batch's own changes; a batch lives for
 * one block, so its pages are bounded by the block's write set (each update touches one path).
 */
export class SMTPageSet {
  readonly #table: LedgerTable;
  readonly #pages = new Map<string, Page>();
  /**
   * The page last used at each page level. The tree is walked depth first, so the next node is
   * almost always in the page on the current path at its level: this skips the key and the map.
   */
  readonly #current: (Page | undefined)[] = [];

  constructor(table: LedgerTable) {
    this.#table = table;
  }

  #pageOf(position: Uint8Array): Page {
    const depth = depthOf(position);
    const top = depth - (depth % SMT_PAGE_LEVELS);
    const level = top / SMT_PAGE_LEVELS;
    const current = this.#current[level];
    if (current !== undefined && holds(current.key, position, top)) return current;
    const key = pageKey(position);
    const id = key.toString('latin1');
    let page = this.#pages.get(id);
    if (!page) {
      const value = this.#table.get(key);
      page = { key, top, slots: value === undefined ? new Array(PAGE_SLOTS) : decodePage(key, value), dirty: false };
      this.#pages.set(id, page);
    }
    this.#current[level] = page;
    return page;
  }

  /** The node at `position`, or undefined if there is none. */
  get(position: Uint8Array): Uint8Array | undefined {
    return this.#pageOf(position).slots[slotOf(position)];
  }

  /** Sets the node at `position`; `null` removes it. */
  set(position: Uint8Array, node: Uint8Array | null): void {
    const page = this.#pageOf(position);
    page.slots[slotOf(position)] = node ?? undefined;
    page.dirty = true;
  }

  /** The pages this batch changed, encoded (`undefined`: the page is now empty), with their bytes. */
  changes(): { writes: Array<{ key: Uint8Array; value: Uint8Array | undefined }>; bytes: number } {
    const writes: Array<{ key: Uint8Array; value: Uint8Array | undefined }> = [];
    let bytes = 0;
    // In key order: LMDB inserts faster along its B-tree.
    const ids = [...this.#pages.keys()].sort();
    for (const id of ids) {
      const page = this.#pages.get(id) as Page;
      if (!page.dirty) continue;
      const value = encodePage(page.slots);
      writes.push({ key: page.key, value });
      bytes += value?.length ?? 0;
    }
    return { writes, bytes };
  }
}

/** Applies `changes()` inside the block's transaction. */
export function writePages(
  txn: LedgerWriteTxn,
  table: LedgerTable,
  writes: Array<{ key: Uint8Array; value: Uint8Array | undefined }>,
): void {
  for (const w of writes) {
    if (w.value) txn.put(table, w.key, w.value);
    else txn.remove(table, w.key);
  }
}
