// Writes a file so that readers only ever see the old contents or the complete new ones.
// Training is interrupted (Ctrl-C, a crash, a full disk) at arbitrary moments; a checkpoint or
// picture that was half written at that moment must not replace the last good one. The bytes go
// to `<path>.tmp-<pid>` first, are flushed to disk, and only then renamed over `path` (rename is
// atomic within one file system on POSIX and on Windows' NTFS).

import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** The temporary name used while `path` is being written; unique per process. */
export function temporaryPathFor(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

/**
 * Writes `chunks` one after another into `path` atomically, creating missing parent folders.
 * Chunks are written as given (no concatenation), so large tensors are not copied.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | readonly Uint8Array[]): void {
  const parts = chunks instanceof Uint8Array ? [chunks] : chunks;
  mkdirSync(dirname(path), { recursive: true });
  const temporary = temporaryPathFor(path);
  let fd: number | undefined = openSync(temporary, 'w');
  try {
    for (const part of parts) {
      let written = 0;
      while (written < part.byteLength) {
        written += writeSync(fd, part, written, part.byteLength - written);
      }
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

// The rename itself lives in the directory entry; without flushing the directory a power cut
// could still lose it. Some platforms (Windows) cannot open a directory, which is harmless.
function syncDirectory(directory: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(directory, 'r');
    fsyncSync(fd);
  } catch {
    // best effort only
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
