/**
 * The consensus WAL on two files used in turn (`<path>.0` and `<path>.1`), so that a reset costs
 * one write and one fdatasync in place, where a temporary file, its fsync, a rename and a
 * directory fsync cost five times as much, once per height (ADR 0013).
 *
 * Each reset starts a new generation g in file g mod 2, written from offset 0:
 *
 *   segment header: [u32 magic][u32 generation hi][u32 generation lo][u32 length][u32 crc32]
 *                   then `length` bytes, the log the reset gives;
 *   appends:        [u32 length][u32 generation lo][payload], one frame per `append`.
 *
 * The crc32 covers the generation, the length and the segment. On open, the file with the
 * highest generation whose segment is whole is the log; it is followed by the appends that carry
 * its generation, up to the first that does not (a torn write, or what an older generation left
 * in the file: the files are rewritten in place, never truncated on the hot path). A crash during
 * a reset leaves the new file's segment incomplete, so the other file, the old log, is read; a
 * crash after it leaves the new log. Appends are buffered in memory; `sync` writes them at the end
 * of the log and calls fdatasync, so what `sync` returned for is on disk.
 *
 * A log of the earlier one-file format (`<path>` itself) is moved into the new format when the
 * WAL is opened, then removed.
 */
import {
  closeSync,
  constants,
  existsSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import type { WalStorage } from '@polis/consensus';

/** Bytes appended but not yet synced; above this, `append` syncs by itself. */
const PENDING_BYTES_MAX = 64 * 1024 * 1024;
/** "PWL2". */
const MAGIC = 0x50574c32;
const SEGMENT_HEADER_BYTES = 20;
const FRAME_HEADER_BYTES = 8;
/** A file this much larger than its log is cut to size at a reset (rare: after a long height). */
const SHRINK_ABOVE_BYTES = 1024 * 1024;

type Slot = { fd: number; path: string };

/** A `WalStorage` backed by two files used in turn. */
export class FileWal implements WalStorage {
  /** The base path: the files are `<path>.0` and `<path>.1`. */
  readonly path: string;
  readonly #slots: [Slot, Slot];
  /** The generation of the current log (0: none yet), in file `generation % 2`. */
  #generation = 0;
  /** Where the current log ends in its file: the next append goes there. */
  #end = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  constructor(path: string) {
    this.path = path;
    const created: boolean[] = [];
    const open = (p: string): Slot => {
      created.push(!existsSync(p));
      return { fd: openSync(p, constants.O_RDWR | constants.O_CREAT, 0o600), path: p };
    };
    this.#slots = [open(`${path}.0`), open(`${path}.1`)];
    // New files must be findable after a crash: their directory entries are synced once, here.
    if (created.some(Boolean)) syncDirectory(path);
    let best: { generation: number; end: number } | undefined;
    for (const slot of this.#slots) {
      const log = readLog(slot.fd);
      if (log && (!best || log.generation > best.generation)) best = log;
    }
    if (best) {
      this.#generation = best.generation;
      this.#end = best.end;
    } else if (existsSync(path)) {
      // The one-file format: its bytes become generation 1, then the old file goes.
      this.#writeSegment(new Uint8Array(readFileSync(path)));
      unlinkSync(path);
      syncDirectory(path);
    }
  }

  /** The generation of the current log: one more per reset. */
  get generation(): number {
    return this.#generation;
  }

  append(bytes: Uint8Array): void {
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes > PENDING_BYTES_MAX) this.#flush();
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    if (this.#generation === 0) this.#writeSegment(new Uint8Array(0));
    const out = new Uint8Array(this.#pending.length * FRAME_HEADER_BYTES + this.#pendingBytes);
    const view = new DataView(out.buffer);
    let off = 0;
    for (const chunk of this.#pending) {
      view.setUint32(off, chunk.length);
      view.setUint32(off + 4, this.#generation >>> 0);
      out.set(chunk, off + FRAME_HEADER_BYTES);
      off += FRAME_HEADER_BYTES + chunk.length;
    }
    const { fd } = this.#slots[this.#generation % 2] as Slot;
    writeAll(fd, out, this.#end);
    fdatasyncSync(fd);
    this.#end += out.length;
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  async sync(): Promise<void> {
    this.#flush();
  }

  async read(): Promise<Uint8Array> {
    this.#flush();
    if (this.#generation === 0) return new Uint8Array(0);
    const log = readLog((this.#slots[this.#generation % 2] as Slot).fd);
    if (!log || log.generation !== this.#generation) throw new Error(`the consensus WAL ${this.path} changed under this process`);
    return log.bytes;
  }

  async reset(bytes: Uint8Array): Promise<void> {
    // Appends not yet synced belong to the log being replaced.
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#writeSegment(bytes);
  }

  /** Starts the next generation with `bytes`, in the other file, durably. */
  #writeSegment(bytes: Uint8Array): void {
    const generation = this.#generation + 1;
    const out = new Uint8Array(SEGMENT_HEADER_BYTES + bytes.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, MAGIC);
    view.setUint32(4, Math.floor(generation / 2 ** 32));
    view.setUint32(8, generation >>> 0);
    view.setUint32(12, bytes.length);
    out.set(bytes, SEGMENT_HEADER_BYTES);
    view.setUint32(16, crc32(out.subarray(4, 16), crc32(bytes)));
    const { fd } = this.#slots[generation % 2] as Slot;
    writeAll(fd, out, 0);
    if (fstatSync(fd).size > Math.max(SHRINK_ABOVE_BYTES, 4 * out.length)) ftruncateSync(fd, out.length);
    fdatasyncSync(fd);
    this.#generation = generation;
    this.#end = out.length;
  }

  /** Closes the files; unsynced appends are dropped, as in a crash. */
  close(): void {
    for (const slot of this.#slots) closeSync(slot.fd);
  }
}

/** The log in a file: its generation, its bytes (segment and appends) and where it ends; undefined if the segment is not whole. */
function readLog(fd: number): { generation: number; bytes: Uint8Array; end: number } | undefined {
  const size = fstatSync(fd).size;
  if (size < SEGMENT_HEADER_BYTES) return undefined;
  const file = new Uint8Array(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, file, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  const view = new DataView(file.buffer);
  if (view.getUint32(0) !== MAGIC) return undefined;
  const generation = view.getUint32(4) * 2 ** 32 + view.getUint32(8);
  const length = view.getUint32(12);
  if (generation === 0 || SEGMENT_HEADER_BYTES + length > off) return undefined;
  const segment = file.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + length);
  if (crc32(file.subarray(4, 16), crc32(segment)) !== view.getUint32(16)) return undefined;
  const parts = [segment];
  let total = length;
  let end = SEGMENT_HEADER_BYTES + length;
  // The appends of this generation, up to the first torn or older frame.
  while (end + FRAME_HEADER_BYTES <= off) {
    const n = view.getUint32(end);
    if (view.getUint32(end + 4) !== generation >>> 0 || end + FRAME_HEADER_BYTES + n > off) break;
    parts.push(file.subarray(end + FRAME_HEADER_BYTES, end + FRAME_HEADER_BYTES + n));
    total += n;
    end += FRAME_HEADER_BYTES + n;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { generation, bytes, end };
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, position + off);
}

function syncDirectory(path: string): void {
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
