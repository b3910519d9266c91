// Training checkpoints in the safetensors format: every module's parameters and buffers, every
// optimizer's state, and metadata (model name, its configuration, epoch, step, seed, optimizer
// step counts and hyper-parameters), so `--resume` continues a run exactly where it stopped.
//
// Tensor names: "<module key>.<dotted state name>" ("encoder.conv1.kernel") and
// "optimizer.<key>.<parameter>.<slot>" ("optimizer.generator.conv1.kernel.m").
// This file turns checkpoints into bytes and back, so it runs in a web page as well as in Node;
// checkpoint-file.ts writes them to disk through a temporary name and a rename, so a crash never
// leaves half a checkpoint behind. A CRC-32 of every tensor's bytes is kept in the metadata: the
// safetensors layout checks catch a cut or garbled header, but a flipped bit in the data would
// otherwise load silently and resume training from a corrupted weight.

import { Module } from './module.ts';
import { Optimizer } from './optim.ts';
import { Tensor, fromData, formatShape, type DType } from '../core/tensor.ts';
import { flush } from '../core/dispatch.ts';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from '../io/safetensors.ts';
import { fromHalfArray, toHalfArray } from '../io/half.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

export const CHECKPOINT_FORMAT = 'webgpu-mini-dl/1';

/** Where a training run stands; enough to continue it exactly. */
export interface TrainingProgress {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps (batches) completed since the start of the run. */
  step: number;
  /** Batches of the current epoch already done (0 at an epoch boundary). */
  batchInEpoch: number;
  seed: number;
}

export interface CheckpointParts {
  /** Which model this is ("vae", "gan", "cgan", "classifier", "mlp"). */
  model: string;
  /** The model's constructor options, so `generate` can rebuild it. JSON-serialisable. */
  config: unknown;
  modules: Record<string, Module>;
  optimizers?: Record<string, Optimizer>;
  progress: TrainingProgress;
  /** Further strings to keep (e.g. the loss history as JSON). */
  extra?: Record<string, string>;
}

export interface CheckpointInfo {
  /** Where it came from: the file's path, or the name given with its bytes. */
  path: string;
  model: string;
  config: unknown;
  progress: TrainingProgress;
  extra: Record<string, string>;
  metadata: Record<string, string>;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (the zlib/PNG polynomial), as 8 hex digits. zlib.crc32 needs Node ≥ 20.15. */
function crc32Hex(data: SafetensorsTensor['data']): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ((c ^ 0xffffffff) >>> 0).toString(16).padStart(8, '0');
}

// F16 is read into f32 tensors (weights shipped at half size; see SaveCheckpointOptions.half).
const FILE_DTYPES: Record<string, DType> = { F32: 'f32', F16: 'f32', I32: 'i32', U32: 'u32' };

async function toFileTensor(t: Tensor, half: boolean): Promise<SafetensorsTensor> {
  const shape = [...t.shape];
  if (t.dtype === 'f32') return half ? { dtype: 'F16', shape, data: toHalfArray(await t.toArray()) } : { dtype: 'F32', shape, data: await t.toArray() };
  const ints = await t.toInt32Array();
  return t.dtype === 'i32' ? { dtype: 'I32', shape, data: ints } : { dtype: 'U32', shape, data: new Uint32Array(ints.buffer) };
}

/** The names of the f32 tensors holding a NaN or an infinity, in order. */
function nonFiniteTensors(tensors: Iterable<[string, SafetensorsTensor]>): string[] {
  const bad: string[] = [];
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32' && t.dtype !== 'F16') continue;
    const data = t.dtype === 'F16' ? fromHalfArray(t.data) : t.data;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        bad.push(name);
        break;
      }
    }
  }
  return bad;
}

function listNames(names: string[]): string {
  return `${names.slice(0, 3).map((n) => `"${n}"`).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}`;
}

export interface SaveCheckpointOptions {
  /** Write even if weights or optimizer state hold NaN or infinity (default false: refused). */
  allowNonFinite?: boolean;
  /**
   * Store f32 tensors as F16 (half the size; each value rounded to nearest). For weights shipped
   * to be sampled from, not for resuming a training run: the run would continue from rounded
   * weights and moments.
   */
  half?: boolean;
}

/** Where checkpoint bytes come from, named in every error (a file's path, a URL, a dropped file's name). */
export interface CheckpointSource {
  source?: string;
}

export const SAVE_CHECKPOINT_OPTIONS = knownOptions<SaveCheckpointOptions & CheckpointSource>({ allowNonFinite: true, half: true, source: true });
export const LOAD_CHECKPOINT_OPTIONS = knownOptions<LoadCheckpointOptions & CheckpointSource>({ allowNonFinite: true, source: true });

/**
 * Reads every tensor back from the GPU and encodes one safetensors checkpoint as chunks (header,
 * then each tensor's bytes). Weights with a NaN or an infinity are refused (a diverged run must
 * not replace its last good checkpoint). checkpointToBytes joins the chunks; saveCheckpoint
 * (checkpoint-file.ts, Node) writes them to a file.
 */
export async function encodeCheckpoint(parts: CheckpointParts, options: SaveCheckpointOptions & CheckpointSource = {}): Promise<Uint8Array[]> {
  const path = options.source ?? 'in memory';
  const half = options.half ?? false;
  const tensors = new Map<string, SafetensorsTensor>();
  if (Object.hasOwn(parts.modules, 'optimizer')) {
    throw new CheckpointError(`cannot save checkpoint ${path}: the module key "optimizer" is reserved for optimizer state`, path);
  }
  for (const [key, module] of Object.entries(parts.modules)) {
    for (const [name, t] of module.stateDict()) tensors.set(`${key}.${name}`, await toFileTensor(t, half));
  }
  const optimizerMeta: Record<string, { step: number; hyper: Record<string, number | boolean> }> = {};
  for (const [key, opt] of Object.entries(parts.optimizers ?? {})) {
    const state = opt.stateDict();
    optimizerMeta[key] = { step: state.step, hyper: state.hyper };
    for (const [name, t] of state.tensors) tensors.set(`optimizer.${key}.${name}`, await toFileTensor(t, half));
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    model: parts.model,
    config: JSON.stringify(parts.config ?? {}),
    progress: JSON.stringify(parts.progress),
    optimizers: JSON.stringify(optimizerMeta),
    crc32: JSON.stringify(Object.fromEntries([...tensors].map(([name, t]) => [name, crc32Hex(t.data)]))),
    saved: new Date().toISOString(),
  };
  for (const [k, v] of Object.entries(parts.extra ?? {})) metadata[`extra.${k}`] = v;
  if (!options.allowNonFinite) {
    const bad = nonFiniteTensors(tensors);
    if (bad.length) {
      throw new CheckpointError(`not saving checkpoint ${path}: ${bad.length} of ${tensors.size} tensors hold NaN or infinity (${listNames(bad)}); the training diverged, and the file already there (if any) is kept`, path, bad[0]);
    }
  }
  return encodeSafetensors(tensors, metadata, path);
}

/** A checkpoint as one byte array: to download from a page, or to keep in memory. */
export async function checkpointToBytes(parts: CheckpointParts, options: SaveCheckpointOptions & CheckpointSource = {}): Promise<Uint8Array> {
  checkOptions('checkpointToBytes', options, SAVE_CHECKPOINT_OPTIONS);
  const chunks = await encodeCheckpoint(parts, options);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function parseJsonField(path: string, metadata: Record<string, string>, field: string): unknown {
  const raw = metadata[field];
  if (raw === undefined) throw new CheckpointError(`checkpoint ${path} has no "${field}" metadata: it was not written by this framework`, path);
  try {
    return JSON.parse(raw);
  } catch {
    throw new CheckpointError(`checkpoint ${path}: metadata "${field}" is not valid JSON`, path);
  }
}

function checkProgress(path: string, value: unknown): TrainingProgress {
  const p = value as Partial<TrainingProgress> | null;
  for (const key of ['epoch', 'step', 'batchInEpoch', 'seed'] as const) {
    if (!p || typeof p[key] !== 'number' || !Number.isInteger(p[key]) || p[key]! < 0) {
      throw new CheckpointError(`checkpoint ${path}: progress.${key} must be a non-negative integer`, path);
    }
  }
  return p as TrainingProgress;
}

/** A checkpoint's metadata only (to rebuild the model it belongs to), from its bytes. */
export function readCheckpointInfoFromBytes(bytes: Uint8Array, source = 'in memory', expectedModel?: string): CheckpointInfo {
  return infoFrom(source, decodeSafetensors(bytes, source).metadata, expectedModel);
}

function infoFrom(path: string, metadata: Record<string, string>, expectedModel?: string): CheckpointInfo {
  if (metadata.format === undefined) {
    throw new CheckpointError(`checkpoint ${path} has no "format" metadata: it is a safetensors file, but not a checkpoint written by this framework (format "${CHECKPOINT_FORMAT}")`, path);
  }
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`checkpoint ${path} has format "${metadata.format}", expected "${CHECKPOINT_FORMAT}"`, path);
  }
  if (expectedModel && metadata.model !== expectedModel) {
    throw new CheckpointError(`checkpoint ${path} holds a "${metadata.model}" model, not a "${expectedModel}" one`, path);
  }
  const extra: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (k.startsWith('extra.')) extra[k.slice(6)] = v;
  return {
    path,
    model: metadata.model,
    config: parseJsonField(path, metadata, 'config'),
    progress: checkProgress(path, parseJsonField(path, metadata, 'progress')),
    extra,
    metadata,
  };
}

/** What a checkpoint is loaded into: the model's modules, and its optimizers to resume training. */
export interface CheckpointTarget {
  model: string;
  modules: Record<string, Module>;
  optimizers?: Record<string, Optimizer>;
}

export interface LoadCheckpointOptions {
  /** Load weights holding NaN or infinity (to inspect a diverged run); refused by default. */
  allowNonFinite?: boolean;
}

/**
 * Loads checkpoint bytes into existing modules (and optimizers, when given): model name, tensor
 * names, shapes, dtypes and checksums must all match; the error names the source and the tensor
 * otherwise. Everything is checked before anything is copied, so a rejected checkpoint leaves
 * the model and optimizers as they were. Weights holding NaN or infinity are refused unless
 * `allowNonFinite` is set. Only the modules named in `target` are loaded from a file holding
 * more (a full VAE checkpoint into `{ decoder }`) — but the file must hold every tensor of those.
 */
export async function loadCheckpointFromBytes(
  bytes: Uint8Array,
  target: CheckpointTarget,
  options: LoadCheckpointOptions & CheckpointSource = {},
): Promise<CheckpointInfo> {
  checkOptions('loadCheckpointFromBytes', options, LOAD_CHECKPOINT_OPTIONS);
  const path = options.source ?? 'in memory';
  const { metadata, tensors } = decodeSafetensors(bytes, path);
  const info = infoFrom(path, metadata, target.model);
  const optimizerMeta = target.optimizers ? (parseJsonField(path, metadata, 'optimizers') as Record<string, { step: number; hyper: Record<string, number | boolean> }>) : {};
  for (const key of Object.keys(target.optimizers ?? {})) {
    if (!optimizerMeta[key]) throw new CheckpointError(`checkpoint ${path} has no state for optimizer "${key}"`, path);
  }

  // What the target holds, under the names the file uses.
  const expected = new Map<string, { tensor: Tensor; owner: string }>();
  for (const [key, module] of Object.entries(target.modules)) {
    for (const [name, t] of module.stateDict()) expected.set(`${key}.${name}`, { tensor: t, owner: 'the model' });
  }
  for (const [key, opt] of Object.entries(target.optimizers ?? {})) {
    for (const [name, t] of opt.stateDict().tensors) expected.set(`optimizer.${key}.${name}`, { tensor: t, owner: `optimizer "${key}"` });
  }
  for (const [name, { tensor: t, owner }] of expected) {
    const stored = tensors.get(name);
    if (!stored) throw new CheckpointError(`checkpoint ${path} is missing tensor "${name}" (${formatShape(t.shape)} ${t.dtype}, which ${owner} has)`, path, name);
    const dtype = FILE_DTYPES[stored.dtype];
    if (!dtype) throw new CheckpointError(`checkpoint ${path}: tensor "${name}" has dtype ${stored.dtype}, expected F32, F16, I32 or U32`, path, name);
    if (dtype !== t.dtype) throw new CheckpointError(`checkpoint ${path}: tensor "${name}" is ${dtype}, ${owner} expects ${t.dtype}`, path, name);
    if (stored.shape.length !== t.shape.length || stored.shape.some((d, i) => d !== t.shape[i])) {
      throw new CheckpointError(`checkpoint ${path}: tensor "${name}" has shape ${formatShape(stored.shape)}, ${owner} expects ${formatShape(t.shape)}`, path, name);
    }
  }
  // Optimizer state is ignored when none is loaded (generate, evaluate), and so are modules not
  // asked for (a decoder loaded from a whole VAE); an unknown tensor inside a module that is
  // loaded means the file belongs to a differently built model.
  const loaded = [...Object.keys(target.modules), ...Object.keys(target.optimizers ?? {}).map((k) => `optimizer.${k}`)];
  const stray = [...tensors.keys()].filter((n) => !expected.has(n) && loaded.some((key) => n.startsWith(`${key}.`)));
  if (stray.length) {
    throw new CheckpointError(`checkpoint ${path} has tensors this model does not: ${stray.slice(0, 5).map((n) => `"${n}"`).join(', ')}${stray.length > 5 ? ` and ${stray.length - 5} more` : ''}`, path, stray[0]);
  }
  // Files written before checksums were kept have none; every newer file has one per tensor.
  if (metadata.crc32 !== undefined) {
    const sums = parseJsonField(path, metadata, 'crc32') as Record<string, unknown>;
    for (const name of expected.keys()) {
      if (typeof sums[name] !== 'string') throw new CheckpointError(`checkpoint ${path}: no checksum for tensor "${name}" in the metadata (damaged file?)`, path, name);
      const actual = crc32Hex(tensors.get(name)!.data);
      if (actual !== sums[name]) {
        throw new CheckpointError(`checkpoint ${path}: tensor "${name}" is damaged: its bytes have CRC-32 ${actual}, the file recorded ${String(sums[name])}`, path, name);
      }
    }
  }

  if (!options.allowNonFinite) {
    const bad = nonFiniteTensors([...expected.keys()].map((name) => [name, tensors.get(name)!]));
    if (bad.length) {
      throw new CheckpointError(`checkpoint ${path}: ${bad.length} tensors hold NaN or infinity (${listNames(bad)}): it comes from a diverged run; refusing to load it (pass { allowNonFinite: true } to loadCheckpoint to inspect it anyway)`, path, bad[0]);
    }
  }

  const uploaded: Tensor[] = [];
  const upload = (prefix: string, names: Iterable<string>): Map<string, Tensor> => {
    const out = new Map<string, Tensor>();
    for (const name of names) {
      const stored = tensors.get(prefix + name)!;
      const values = stored.dtype === 'F16' ? fromHalfArray(stored.data) : (stored.data as ArrayLike<number>);
      const gpu = fromData(values, stored.shape, FILE_DTYPES[stored.dtype]);
      uploaded.push(gpu);
      out.set(name, gpu);
    }
    return out;
  };
  try {
    // Optimizers first: their hyper-parameters are validated on load, before anything is copied.
    for (const [key, opt] of Object.entries(target.optimizers ?? {})) {
      const meta = optimizerMeta[key];
      try {
        opt.loadStateDict({ step: meta.step, hyper: meta.hyper, tensors: upload(`optimizer.${key}.`, opt.stateDict().tensors.keys()) }, `checkpoint ${path} (optimizer "${key}")`);
      } catch (e) {
        throw e instanceof CheckpointError ? e : new CheckpointError((e as Error).message, path);
      }
    }
    for (const [key, module] of Object.entries(target.modules)) {
      try {
        module.loadStateDict(upload(`${key}.`, module.stateDict().keys()), `checkpoint ${path} (module "${key}")`);
      } catch (e) {
        throw e instanceof CheckpointError ? e : new CheckpointError((e as Error).message, path);
      }
    }
  } finally {
    flush(); // the copies into the model are recorded; submit them before the sources go back to the pool
    for (const t of uploaded) t.dispose();
  }
  return info;
}
