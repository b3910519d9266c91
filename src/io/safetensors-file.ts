// Safetensors files on disk (Node): safetensors.ts encodes and decodes the bytes; this file
// reads them and writes them through a temporary file and a rename, so a crash mid-write leaves
// the previous checkpoint intact.

import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.ts';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type SafetensorsContents, type SafetensorsTensor } from './safetensors.ts';

/**
 * Writes encoded safetensors chunks (encodeSafetensors) to `<path>.tmp-<pid>` first, flushed to
 * disk, then renamed over `path`. Parent folders are created.
 */
export function writeSafetensorsFile(path: string, chunks: readonly Uint8Array[]): void {
  try {
    writeFileAtomic(path, chunks);
  } catch (error) {
    throw new CheckpointError(`cannot save checkpoint ${path}: ${(error as Error).message}`, path);
  }
}

/** A safetensors file's bytes, not yet decoded; a missing or unreadable file is a CheckpointError. */
export function readSafetensorsFile(path: string): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(error as Error).message})`;
    throw new CheckpointError(`checkpoint ${path} ${reason}`, path);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Writes `tensors` and string `metadata` as a safetensors file, atomically (writeSafetensorsFile). */
export function saveSafetensors(
  path: string,
  tensors: ReadonlyMap<string, SafetensorsTensor>,
  metadata: Readonly<Record<string, string>> = {},
): void {
  writeSafetensorsFile(path, encodeSafetensors(tensors, metadata, path));
}

/** Reads and validates a safetensors file; errors are CheckpointErrors naming the file and tensor. */
export function loadSafetensors(path: string): SafetensorsContents {
  return decodeSafetensors(readSafetensorsFile(path), path);
}
