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
 * of the log and calls fdatasync, so what `sync` returned for is on disk. Writes and syncs run on
 * libuv's thread pool, one at a time in the order asked: the node's event loop is not blocked
 * while the disk works (a synced append under load took 1-6 ms).
 *
 * A log of the earlier one-file format (`<path>` itself) is moved into the new format when the
 * WAL is opened, then removed.
 */
import {
  closeSync,
  constants,
  existsSync,
  fdatasync as fdatasyncCb,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  unlinkSync,
  write as writeCb,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
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
  /** The last write or sync asked for; the next one starts after it. */
  #chain: Promise<unknown> = Promise.resolve();

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
      this.#migrate(new Uint8Array(readFileSync(path)));
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
    if (this.#pendingBytes > PENDING_BYTES_MAX) void this.sync();
  }

  /**
   * Queues `io` after every earlier write of this WAL. What it writes and where were fixed when
   * it was asked for (the generation and the end of the log change at the call, not when the
   * disk gets to it); the writes and syncs run on libuv's thread pool, one at a time in order, so
   * the event loop goes on while the disk works.
   */
  #serial<T>(io: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(io);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves once every append made before the call is on disk. */
  sync(): Promise<void> {
    if (this.#pending.length === 0) return this.#serial(async () => {});
    // Appends before any reset: the log starts empty (keeping the appends, which reset drops).
    let started: Promise<void> | undefined;
    if (this.#generation === 0) {
      const [pending, pendingBytes] = [this.#pending, this.#pendingBytes];
      started = this.reset(new Uint8Array(0));
      started.catch(() => {}); // awaited below, where its failure fails this sync
      [this.#pending, this.#pendingBytes] = [pending, pendingBytes];
    }
    const out = new Uint8Array(this.#pending.length * FRAME_HEADER_BYTES + this.#pendingBytes);
    const view = new DataView(out.buffer);
    let off = 0;
    for (const chunk of this.#pending) {
      view.setUint32(off, chunk.length);
      view.setUint32(off + 4, this.#generation >>> 0);
      out.set(chunk, off + FRAME_HEADER_BYTES);
      off += FRAME_HEADER_BYTES + chunk.length;
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    const { fd } = this.#slots[this.#generation % 2] as Slot;
    const at = this.#end;
    this.#end += out.length;
    return this.#serial(async () => {
      await started;
      await writeAll(fd, out, at);
      await fdatasync(fd);
    });
  }

  async read(): Promise<Uint8Array> {
    await this.sync();
    if (this.#generation === 0) return new Uint8Array(0);
    const log = readLog((this.#slots[this.#generation % 2] as Slot).fd);
    if (!log || log.generation !== this.#generation) throw new Error(`the consensus WAL ${this.path} changed under this process`);
    return log.bytes;
  }

  /** Starts the next generation with `bytes`, in the other file; resolves once it is on disk. */
  reset(bytes: Uint8Array): Promise<void> {
    // Appends not yet synced belong to the log being replaced.
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#generation++;
    const out = segment(this.#generation, bytes);
    const { fd } = this.#slots[this.#generation % 2] as Slot;
    this.#end = out.length;
    return this.#serial(async () => {
      await writeAll(fd, out, 0);
      if (fstatSync(fd).size > Math.max(SHRINK_ABOVE_BYTES, 4 * out.length)) ftruncateSync(fd, out.length);
      await fdatasync(fd);
    });
  }

  /** The one-file format's log, moved in as generation 1 (synchronously, when the WAL opens). */
  #migrate(bytes: Uint8Array): void {
    const out = segment(1, bytes);
    const { fd } = this.#slots[1] as Slot;
    let off = 0;
    while (off < out.length) off += writeSync(fd, out, off, out.length - off, off);
    fdatasyncSync(fd);
    this.#generation = 1;
    this.#end = out.length;
  }

  /** Closes the files once the writes under way are done; appends not yet synced are dropped, as in a crash. */
  async close(): Promise<void> {
    this.#pending = [];
    this.#pendingBytes = 0;
    await this.#chain;
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

const write = promisify(writeCb);
const fdatasync = promisify(fdatasyncCb);

async function writeAll(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += (await write(fd, bytes, off, bytes.length - off, position + off)).bytesWritten;
}

/** A segment: its header (magic, generation, length, crc32) and the log. */
function segment(generation: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(SEGMENT_HEADER_BYTES + bytes.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, Math.floor(generation / 2 ** 32));
  view.setUint32(8, generation >>> 0);
  view.setUint32(12, bytes.length);
  out.set(bytes, SEGMENT_HEADER_BYTES);
  view.setUint32(16, crc32(out.subarray(4, 16), crc32(bytes)));
  return out;
}

function syncDirectory(path: string): void {
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
