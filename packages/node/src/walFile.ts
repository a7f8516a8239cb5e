/**
 * The consensus WAL on a file. Appends are buffered in memory; `sync` writes them and calls
 * fdatasync, so what `sync` returned for is on disk. `reset` writes the new log to a temporary
 * file, syncs it and renames it over the old one, so a crash leaves the old log or the new one.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { WalStorage } from '@polis/consensus';

/** Bytes appended but not yet synced; above this, `append` syncs by itself. */
const PENDING_BYTES_MAX = 64 * 1024 * 1024;

/** A `WalStorage` backed by one file. */
export class FileWal implements WalStorage {
  readonly path: string;
  #fd: number;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  constructor(path: string) {
    this.path = path;
    this.#fd = openSync(path, 'a+');
  }

  append(bytes: Uint8Array): void {
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes > PENDING_BYTES_MAX) this.#flush();
  }

  #flush(): void {
    for (const chunk of this.#pending) {
      let off = 0;
      while (off < chunk.length) off += writeSync(this.#fd, chunk, off, chunk.length - off);
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    fdatasyncSync(this.#fd);
  }

  async sync(): Promise<void> {
    if (this.#pending.length > 0) this.#flush();
  }

  async read(): Promise<Uint8Array> {
    this.#flush();
    return new Uint8Array(readFileSync(this.path));
  }

  async reset(bytes: Uint8Array): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    // The rename is durable only once the directory is synced.
    const dir = openSync(dirname(this.path), 'r');
    fsyncSync(dir);
    closeSync(dir);
    closeSync(this.#fd);
    this.#fd = openSync(this.path, 'a+');
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  /** Closes the file; unsynced appends are dropped, as in a crash. */
  close(): void {
    closeSync(this.#fd);
  }
}
