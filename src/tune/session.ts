// The tuner's answers over a session: read from the cache when the device opens, measured by
// tune() (or by a training run after its first step), written back, and frozen for a training run.
//
//   init({ tune })   'cached' (the default): the cache's choices for this adapter and version
//                    are installed in the kernel policy's table; nothing is measured.
//                    'on': the same, and problems not in the cache are measured (tune(), and a
//                    training run after its first step) and saved.
//                    'off': the fixed rules of kernel-policy.ts, cache unread.
//                    The environment variable WEBGPU_MINI_DL_TUNE gives the default in Node.
//
// A training run's kernels (RunKernels) are the ones in effect after its first step, recorded in
// its checkpoints and summary; a resumed run runs exactly those, whatever the cache says by then.

import { getGpu, onDeviceOpen, type InitOptions } from '../core/device.ts';
import { envVar } from '../core/host.ts';
import { checkOptions, knownOptions } from '../core/options.ts';
import {
  clearChoices, freezeChoices, getTuneMode, installChoices, installedChoices, problemKey, problemLayers, problemsSeen, setTuneMode,
  TUNE_MODES, unfreezeChoices, type TuneMode, type TuneProblem,
} from '../core/kernel-policy.ts';
import { VERSION } from '../version.ts';
import { kernelFingerprint } from './fingerprint.ts';
import {
  adapterIdentity, defaultStore, emptyDocument, findEntry, parseTuneCache, withEntry,
  type AdapterEntry, type TuneCacheDocument, type TuneStore,
} from './cache.ts';
import { PROBLEM_BUDGET_MS, problemFlops, tuneProblem, type TuneProblemOptions, type TuneResult, type Verified } from './tuner.ts';

/**
 * A candidate dropped (clearly slower than the best) on this many problems of one op and pass
 * is not tried again in this session: on a CPU driver compiling a kernel alone can take seconds,
 * and the same kernel loses the same way on shapes of the same kind.
 */
export const PRUNE_AFTER = 2;

/** The least budget a problem gets from a whole tuning's (TuneOptions.totalBudgetMs): its default and a challenger or two. */
export const MIN_PROBLEM_BUDGET_MS = 750;

export type { TuneMode };

let store: TuneStore | undefined;
let entry: AdapterEntry | undefined;
let verified: Verified = new Map();
// op and pass ('conv.forward', 'matmul') → kernel → problems it was dropped on, this session.
let drops = new Map<string, Map<string, number>>();
let warn: (line: string) => void = (line) => console.warn(line);

/** The tune mode init() uses: its option, else WEBGPU_MINI_DL_TUNE, else 'cached'. Throws on an unknown one. */
export function tuneModeFrom(option: TuneMode | undefined, env: string | undefined): TuneMode {
  const raw = option ?? (env?.trim() ? env.trim().toLowerCase() : 'cached');
  if (!TUNE_MODES.includes(raw as TuneMode)) {
    const from = option !== undefined ? 'init({ tune })' : 'WEBGPU_MINI_DL_TUNE';
    throw new RangeError(`${from}: '${raw}' is not one of ${TUNE_MODES.join(', ')}`);
  }
  return raw as TuneMode;
}

async function readDocument(s: TuneStore, warn: (line: string) => void): Promise<TuneCacheDocument> {
  const text = await s.read();
  if (text === undefined) return emptyDocument();
  try {
    return parseTuneCache(text, s.where);
  } catch (e) {
    warn(`${(e as Error).message}; it is ignored, and replaced when choices are next saved`);
    return emptyDocument();
  }
}

/**
 * Installs the cached choices for the open device (its adapter and this framework version), per
 * the mode. `useStore` replaces the host's store (tests).
 */
export async function loadTunedChoices(mode: TuneMode, o: { store?: TuneStore; warn?: (line: string) => void } = {}): Promise<number> {
  setTuneMode(mode);
  clearChoices();
  entry = undefined;
  verified = new Map();
  drops = new Map();
  warn = o.warn ?? ((line) => console.warn(line));
  store = o.store ?? (mode === 'off' ? undefined : await defaultStore());
  if (mode === 'off' || !store) return 0;
  const doc = await readDocument(store, warn);
  entry = findEntry(doc, adapterIdentity(getGpu().info), frameworkKey());
  if (!entry) return 0;
  installChoices(Object.entries(entry.choices).map(([problem, c]) => [problem, c.kernel]));
  verified = new Map(Object.entries(entry.verified));
  return Object.keys(entry.choices).length;
}

/**
 * What an entry's choices were measured on, beside the adapter: this framework version and the
 * fingerprint of its candidate kernels' sources (fingerprint.ts), e.g. "0.1.0, kernels 3f2a9c1e".
 */
export function frameworkKey(): string {
  return `${VERSION}, kernels ${kernelFingerprint()}`;
}

/** Where this session keeps its choices (a file path, or the page's storage), if anywhere. */
export function tuneCacheLocation(): string | undefined {
  return store?.where;
}

onDeviceOpen(async (options: InitOptions) => {
  await loadTunedChoices(tuneModeFrom(options.tune, envVar('WEBGPU_MINI_DL_TUNE')));
});

async function save(results: TuneResult[]): Promise<void> {
  if (!store) return;
  const doc = await readDocument(store, warn);
  const identity = adapterIdentity(getGpu().info);
  const current = findEntry(doc, identity, frameworkKey()) ?? entry ?? { adapter: identity, framework: frameworkKey(), verified: {}, choices: {} };
  const next: AdapterEntry = { ...current, verified: { ...current.verified, ...Object.fromEntries(verified) }, choices: { ...current.choices } };
  for (const r of results) {
    const chosen = r.candidates.find((c) => c.kernel === r.chosen);
    const def = r.candidates.find((c) => c.kernel === r.default);
    // No candidate verified and timed (all wrong or failed): no choice to keep, the rule stays;
    // the verification results above remember why.
    if (chosen?.ms === undefined) continue;
    next.choices[r.problem] = { kernel: r.chosen, ms: chosen.ms, default: r.default, ...(def?.ms !== undefined ? { defaultMs: def.ms } : {}), timedBatch: r.timedBatch };
  }
  entry = next;
  await store.write(JSON.stringify(withEntry(doc, next), null, 1) + '\n');
}

export interface TuneOptions extends Pick<TuneProblemOptions, 'timeOverride' | 'extraCandidates' | 'programOverride'> {
  /** The problems to tune (default: those ops have run since the device opened that have no choice yet). */
  problems?: TuneProblem[];
  /** Measure problems that already have a choice too. */
  again?: boolean;
  /** Time budget per problem (ms; default PROBLEM_BUDGET_MS). */
  budgetMs?: number;
  /**
   * A budget for all the problems together (ms), instead of one per problem. The problems are
   * tuned largest first (by problemFlops), each given what is left in proportion to its share of
   * the remaining problems' work, and at least MIN_PROBLEM_BUDGET_MS, so that the layers a step
   * spends its time in are tuned hardest. A problem may overrun its share by one candidate;
   * later ones get less. Once less than MIN_PROBLEM_BUDGET_MS is left, the remaining (smallest)
   * problems are not tuned: they keep the fixed rule's kernel, are reported to `onSkipped`, and
   * a later tune() takes them up.
   */
  totalBudgetMs?: number;
  /** A problem left untuned because the whole budget (totalBudgetMs) was spent. */
  onSkipped?: (problem: TuneProblem) => void;
  /** Each problem's result as it is done. */
  onResult?: (r: TuneResult) => void;
  /** Keep the answers in the cache (default true; nothing is kept where there is no store). */
  save?: boolean;
}

/**
 * Measures problems on this device and installs the fastest verified kernel of each (the
 * candidates, the verification and the timing: tuner.ts). Runs in any mode: 'off' is the
 * default rule for ops, not a ban on measuring when asked.
 */
const TUNE_OPTIONS = knownOptions<TuneOptions>({
  problems: true, again: true, budgetMs: true, totalBudgetMs: true, onSkipped: true, onResult: true, save: true,
  timeOverride: true, extraCandidates: true, programOverride: true,
});

export async function tune(o: TuneOptions = {}): Promise<TuneResult[]> {
  checkOptions('tune', o, TUNE_OPTIONS);
  const table = installedChoices();
  let problems = (o.problems ?? [...problemsSeen().values()]).filter((p) => o.again || !table.has(problemKey(p)));
  const results: TuneResult[] = [];
  const layers = problemLayers();
  const started = performance.now();
  // With one budget for all, the largest first: what is left for the last is what the small ones
  // get (a stable sort: equal work keeps the given order).
  if (o.totalBudgetMs !== undefined) problems = problems.map((p) => ({ p, w: problemFlops(p) })).sort((a, b) => b.w - a.w).map(({ p }) => p);
  const work = problems.map(problemFlops);
  let workLeft = work.reduce((a, b) => a + b, 0);
  for (const [i, p] of problems.entries()) {
    let budgetMs = o.budgetMs ?? PROBLEM_BUDGET_MS;
    if (o.totalBudgetMs !== undefined) {
      const left = o.totalBudgetMs - (performance.now() - started);
      if (left < MIN_PROBLEM_BUDGET_MS) {
        for (const q of problems.slice(i)) o.onSkipped?.(q);
        break;
      }
      budgetMs = Math.min(left, Math.max(MIN_PROBLEM_BUDGET_MS, (left * work[i]) / Math.max(workLeft, 1)));
    }
    workLeft -= work[i];
    const family = p.op === 'conv' ? `conv.${p.pass}` : 'matmul';
    const dropped = drops.get(family) ?? new Map<string, number>();
    drops.set(family, dropped);
    const prune = (kernel: string) => ((dropped.get(kernel) ?? 0) >= PRUNE_AFTER ? `dropped on ${dropped.get(kernel)} earlier ${family} problems` : undefined);
    const r = await tuneProblem(p, { budgetMs, verified, prune, timeOverride: o.timeOverride, extraCandidates: o.extraCandidates, programOverride: o.programOverride });
    for (const c of r.candidates) if (c.status === 'dropped') dropped.set(c.kernel, (dropped.get(c.kernel) ?? 0) + 1);
    const where = layers.get(r.problem);
    if (where) r.layers = where;
    installChoices([[r.problem, r.chosen]]);
    results.push(r);
    o.onResult?.(r);
  }
  if (o.save ?? true) await save(results);
  return results;
}

// -------------------------------------------------------------- training runs

/** The kernels a training run ran: problem key → kernel key, and the step each took effect from (0: the first). */
export interface RunKernels {
  mode: TuneMode;
  choices: Record<string, string>;
  since: Record<string, number>;
}

/** Parses a checkpoint's record (its extra.kernels); throws naming what is wrong. */
export function parseRunKernels(text: string, where: string): RunKernels {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: its kernel record is not JSON (${(e as Error).message})`);
  }
  const r = v as Partial<RunKernels>;
  const table = (x: unknown, type: string) => typeof x === 'object' && x !== null && Object.values(x).every((y) => typeof y === type);
  if (!TUNE_MODES.includes(r.mode as TuneMode) || !table(r.choices, 'string') || !table(r.since, 'number')) {
    throw new Error(`${where}: its kernel record needs mode, choices (problem → kernel) and since (problem → step)`);
  }
  return r as RunKernels;
}

/**
 * Starts a run's kernels. Resumed with a record: exactly its choices, frozen. Fresh: the problems
 * of the first step are collected (settleRunKernels follows it).
 */
export function beginRunKernels(recorded?: RunKernels): RunKernels | undefined {
  if (recorded) {
    freezeChoices(new Map(Object.entries(recorded.choices)));
    return recorded;
  }
  problemsSeen(true);
  return undefined;
}

/**
 * After a fresh run's first step (`step` steps done): in mode 'on', measures its problems that
 * have no choice yet; then freezes the choices of the step's problems for the rest of the run.
 * Logs what was tuned, with the time it took.
 */
export async function settleRunKernels(step: number, log: (line: string) => void): Promise<RunKernels> {
  const mode = getTuneMode();
  const seen = problemsSeen();
  const before = installedChoices();
  const since: Record<string, number> = {};
  if (mode === 'on') {
    const started = performance.now();
    const results = await tune({ problems: [...seen.values()] });
    if (results.length) {
      const changed = results.filter((r) => r.chosen !== r.default).length;
      log(`tuned ${results.length} kernel problem${results.length === 1 ? '' : 's'} on this adapter in ${((performance.now() - started) / 1000).toFixed(1)} s (${changed} run another kernel than the default); from step ${step + 1} on`);
    }
  }
  const table = installedChoices();
  const choices: Record<string, string> = {};
  for (const key of seen.keys()) {
    const kernel = mode === 'off' ? undefined : table.get(key);
    if (kernel === undefined) continue;
    choices[key] = kernel;
    // From the cache: in effect from the first step; tuned after this step: from the next.
    since[key] = before.has(key) ? 0 : step;
  }
  freezeChoices(new Map(Object.entries(choices)));
  return { mode, choices, since };
}

export function endRunKernels(): void {
  unfreezeChoices();
}
