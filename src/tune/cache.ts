// Where the tuner's answers are kept between runs: one JSON document with an entry per adapter
// (vendor, architecture, device, description — which carries the driver's version on Dawn and in
// Chrome — and backend) and framework: its version and the fingerprint of its candidate kernels'
// sources (fingerprint.ts). An entry from another adapter, or from another version of the
// framework or of its kernels, is never used; a damaged document is named, ignored, and replaced
// by the next save.
//
//   Node      $XDG_CACHE_HOME/webgpu-mini-dl/kernel-choices.json (else ~/.cache/…), written to a
//             temporary file and renamed over the old one, so a reader never sees half a file
//   a page    the browser's localStorage, key 'webgpu-mini-dl/kernel-choices'
//
// This file holds the document's format (parse, validate, update: pure functions) and the two
// stores; session.ts decides when to read and write.

import { importNodeModule, nodeProcess } from '../core/host.ts';
import type { DeviceInfo } from '../core/device.ts';

export const CACHE_FORMAT = 'webgpu-mini-dl kernel choices';
export const CACHE_FORMAT_VERSION = 1;

export interface AdapterIdentity {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  /**
   * The WebGPU engine (Dawn, wgpu): the same adapter through another engine runs other machine
   * code for the same WGSL, so its choices are measured apart. Files written before it was
   * recorded lack it, and match no engine.
   */
  engine?: string;
}

/** One problem's tuned choice, with the figures that made it. */
export interface CachedChoice {
  kernel: string;
  /** Milliseconds a run of the chosen kernel took, at timedBatch. */
  ms: number;
  /** The fixed rule's kernel and its time (the same as the choice's when it won). */
  default: string;
  defaultMs?: number;
  timedBatch: number;
}

export interface AdapterEntry {
  adapter: AdapterIdentity;
  /** The framework version and its kernels' fingerprint the choices were measured on (session.ts's frameworkKey). */
  framework: string;
  /** Verification results: 'ok', or what was wrong (tuner.ts's verificationKey → result). */
  verified: Record<string, string>;
  /** problem key → choice. */
  choices: Record<string, CachedChoice>;
}

export interface TuneCacheDocument {
  format: typeof CACHE_FORMAT;
  version: typeof CACHE_FORMAT_VERSION;
  entries: AdapterEntry[];
}

export class TuneCacheError extends Error {
  constructor(where: string, what: string) {
    super(`kernel choices ${where}: ${what}`);
    this.name = 'TuneCacheError';
  }
}

export function adapterIdentity(info: DeviceInfo): AdapterIdentity {
  return { ...info.adapter, backend: info.backend, engine: info.engine };
}

function sameAdapter(a: AdapterIdentity, b: AdapterIdentity): boolean {
  return a.vendor === b.vendor && a.architecture === b.architecture && a.device === b.device && a.description === b.description && a.backend === b.backend && a.engine === b.engine;
}

export function emptyDocument(): TuneCacheDocument {
  return { format: CACHE_FORMAT, version: CACHE_FORMAT_VERSION, entries: [] };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks a document; throws TuneCacheError naming `where` and what is wrong. */
export function parseTuneCache(text: string, where: string): TuneCacheDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TuneCacheError(where, `not JSON (${(e as Error).message})`);
  }
  if (!isRecord(doc) || doc.format !== CACHE_FORMAT) throw new TuneCacheError(where, `not a kernel-choices file (its "format" should be "${CACHE_FORMAT}")`);
  if (doc.version !== CACHE_FORMAT_VERSION) throw new TuneCacheError(where, `format version ${String(doc.version)}, this framework reads ${CACHE_FORMAT_VERSION}`);
  if (!Array.isArray(doc.entries)) throw new TuneCacheError(where, '"entries" is not a list');
  doc.entries.forEach((e: unknown, i: number) => {
    const bad = (what: string) => new TuneCacheError(where, `entry ${i}: ${what}`);
    if (!isRecord(e)) throw bad('not an object');
    const a = e.adapter;
    if (!isRecord(a) || !['vendor', 'architecture', 'device', 'description', 'backend'].every((k) => typeof a[k] === 'string')) throw bad('"adapter" lacks vendor, architecture, device, description or backend');
    if (a.engine !== undefined && typeof a.engine !== 'string') throw bad('"adapter"\'s engine is not a string');
    if (typeof e.framework !== 'string') throw bad('"framework" is not a version string');
    if (!isRecord(e.verified) || !Object.values(e.verified).every((v) => typeof v === 'string')) throw bad('"verified" is not a table of strings');
    if (!isRecord(e.choices)) throw bad('"choices" is not a table');
    for (const [problem, c] of Object.entries(e.choices)) {
      if (!isRecord(c) || typeof c.kernel !== 'string' || typeof c.default !== 'string' || typeof c.ms !== 'number' || typeof c.timedBatch !== 'number') {
        throw bad(`the choice for "${problem}" lacks kernel, default, ms or timedBatch`);
      }
    }
  });
  return doc as unknown as TuneCacheDocument;
}

/** The entry for this adapter and framework (version and kernels), if the document has one. */
export function findEntry(doc: TuneCacheDocument, adapter: AdapterIdentity, framework: string): AdapterEntry | undefined {
  return doc.entries.find((e) => e.framework === framework && sameAdapter(e.adapter, adapter));
}

/** The document with this adapter's entry replaced by `entry` (others kept; older versions of this adapter dropped). */
export function withEntry(doc: TuneCacheDocument, entry: AdapterEntry): TuneCacheDocument {
  const others = doc.entries.filter((e) => !sameAdapter(e.adapter, entry.adapter));
  return { ...doc, entries: [...others, entry] };
}

// -------------------------------------------------------------- stores

export interface TuneStore {
  /** Where it is, for messages and `npm run info`. */
  where: string;
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
}

interface FsModule {
  readFileSync(path: string, encoding: 'utf8'): string;
  writeFileSync(path: string, data: string): void;
  renameSync(from: string, to: string): void;
  mkdirSync(path: string, options: { recursive: true }): void;
  existsSync(path: string): boolean;
}

/** The cache file's path in Node: $XDG_CACHE_HOME, else ~/.cache, then webgpu-mini-dl/kernel-choices.json. */
export function tuneCachePath(env: Record<string, string | undefined>, home: string): string {
  const base = env.XDG_CACHE_HOME?.trim() || `${home.replace(/\/+$/, '')}/.cache`;
  return `${base}/webgpu-mini-dl/kernel-choices.json`;
}

/** A file store (Node): atomic writes (temporary file, then rename). */
export async function fileStore(path: string): Promise<TuneStore> {
  const fs = await importNodeModule<FsModule>('node:fs');
  return {
    where: path,
    async read() {
      return fs.existsSync(path) ? fs.readFileSync(path, 'utf8') : undefined;
    },
    async write(text: string) {
      fs.mkdirSync(path.slice(0, path.lastIndexOf('/')), { recursive: true });
      const temporary = `${path}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`;
      fs.writeFileSync(temporary, text);
      fs.renameSync(temporary, path);
    },
  };
}

const STORAGE_KEY = 'webgpu-mini-dl/kernel-choices';

interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The browser's localStorage, or undefined where there is none (a worker). */
export function browserStore(): TuneStore | undefined {
  const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
  if (!storage) return undefined;
  return {
    where: `localStorage["${STORAGE_KEY}"]`,
    async read() {
      return storage.getItem(STORAGE_KEY) ?? undefined;
    },
    async write(text: string) {
      storage.setItem(STORAGE_KEY, text);
    },
  };
}

/** This host's store: the file in Node, localStorage in a page. */
export async function defaultStore(): Promise<TuneStore | undefined> {
  const node = nodeProcess();
  if (node) {
    const os = await importNodeModule<{ homedir(): string }>('node:os');
    return fileStore(tuneCachePath(node.env, os.homedir()));
  }
  return browserStore();
}
