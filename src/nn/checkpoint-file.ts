// Checkpoint files (Node): checkpoint.ts turns a model into bytes and back; this file writes them
// through a temporary name and a rename (a crash never leaves half a checkpoint), reads them, and
// clears the temporaries of writers that were killed.

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../io/safetensors.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors-file.ts';
import {
  encodeCheckpoint, loadCheckpointFromBytes, readCheckpointInfoFromBytes,
  type CheckpointInfo, type CheckpointParts, type CheckpointTarget, type LoadCheckpointOptions, type SaveCheckpointOptions,
} from './checkpoint.ts';
import { checkOptions } from '../core/options.ts';
import { SAVE_CHECKPOINT_OPTIONS, LOAD_CHECKPOINT_OPTIONS } from './checkpoint.ts';

/**
 * Reads every tensor back from the GPU and writes one safetensors file (atomically). Weights with
 * a NaN or an infinity are refused (a diverged run must not replace its last good checkpoint).
 */
export async function saveCheckpoint(path: string, parts: CheckpointParts, options: SaveCheckpointOptions = {}): Promise<void> {
  checkOptions('saveCheckpoint', options, SAVE_CHECKPOINT_OPTIONS);
  const chunks = await encodeCheckpoint(parts, { ...options, source: path });
  removeOrphanedTemporaries(path);
  writeSafetensorsFile(path, chunks);
}

/** Whether a checkpoint file is there (the training loop asks through this module, which only Node loads). */
export function checkpointExists(path: string): boolean {
  return existsSync(path);
}

/** Reads a checkpoint file's metadata only (to rebuild the model it belongs to). */
export function readCheckpointInfo(path: string, expectedModel?: string): CheckpointInfo {
  if (!existsSync(path)) throw new CheckpointError(`checkpoint ${path} does not exist`, path);
  return readCheckpointInfoFromBytes(readSafetensorsFile(path), path, expectedModel);
}

/** loadCheckpointFromBytes (checkpoint.ts) for a file: every check, and errors naming the file. */
export async function loadCheckpoint(path: string, target: CheckpointTarget, options: LoadCheckpointOptions = {}): Promise<CheckpointInfo> {
  checkOptions('loadCheckpoint', options, LOAD_CHECKPOINT_OPTIONS);
  if (!existsSync(path)) throw new CheckpointError(`checkpoint ${path} does not exist`, path);
  return loadCheckpointFromBytes(readSafetensorsFile(path), target, { ...options, source: path });
}

/**
 * Temporaries a killed writer left beside `path` (`<name>.tmp-<pid>` of a process that is gone):
 * removed before the next save, so a folder does not fill with half checkpoints.
 */
function removeOrphanedTemporaries(path: string): void {
  const folder = dirname(path);
  const prefix = `${basename(path)}.tmp-`;
  let entries: string[];
  try {
    entries = readdirSync(folder);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || processIsAlive(pid)) continue;
    rmSync(join(folder, entry), { force: true });
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, but someone else's
  }
}
