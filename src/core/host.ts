// What the framework needs to know about the JavaScript host, Node or a web page, without
// importing any of Node's modules: the core (tensors, ops, nn, models, kernels) must bundle for a
// browser unchanged. Node-only modules are imported lazily, by a name a bundler does not follow,
// and only on the paths that run in Node (opening Dawn when no WebGPU was handed to init()).

/** The part of Node's `process` the core reads. */
export interface NodeProcessLike {
  env: Record<string, string | undefined>;
  version: string;
  platform: string;
  arch: string;
  versions: { node?: string };
}

/** Node's `process`, or undefined in a browser (and in workers). */
export function nodeProcess(): NodeProcessLike | undefined {
  const p = (globalThis as { process?: Partial<NodeProcessLike> }).process;
  return p?.versions?.node !== undefined && p.env !== undefined ? (p as NodeProcessLike) : undefined;
}

/** An environment variable in Node; always undefined in a browser. */
export function envVar(name: string): string | undefined {
  return nodeProcess()?.env[name];
}

/**
 * Imports a module by name at run time. The specifier is a variable, so bundlers (esbuild, Vite,
 * webpack) leave the call alone instead of pulling Node built-ins or Dawn's native addon into a
 * web page's bundle; it is only ever called in Node.
 */
export function importNodeModule<T>(specifier: string): Promise<T> {
  return import(/* webpackIgnore: true */ /* @vite-ignore */ specifier) as Promise<T>;
}

/**
 * Imports one of the framework's own Node-only modules, by a path relative to the calling file
 * (`from`: its import.meta.url), without extension: `.ts` when running from source (tsx), `.js`
 * from the built package. Like importNodeModule, bundlers leave it alone, so a page's bundle
 * never holds the module, and it is only ever called in Node.
 */
export function importOwnNodeModule<T>(from: string, path: string): Promise<T> {
  return importNodeModule<T>(new URL(`${path}${from.endsWith('.ts') ? '.ts' : '.js'}`, from).href);
}
