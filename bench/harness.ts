// The bench's engine: one case at a time, verify first, then warm up, then time.
//
//   1. verify   run the case once and compare with the float64 reference from src/kernels. A wrong
//               kernel becomes a WRONG row with its largest error, and is never timed (a fast
//               wrong answer is not a result).
//   2. count    run it once more with a dispatch observer: which programs ran, and their useful
//               flops and bytes (Program.flops / Program.bytes), for the GFLOP/s and GB/s columns.
//   3. warm up  until `warmupMs` has passed (pipelines compiled, caches and pools warm), which also
//               estimates one repetition's time.
//   4. time     `reps` repetitions (or as many as fit in `budgetMs`), on the run's clock (see
//               clock.ts), and report the median with p10–p90 and the median absolute deviation.
// With a peer (--peer tfjs), the same case also runs in the peer library and both sides are timed
// by the same wall clock (record, submit, wait for the queue), so the ratio compares like with like.

import { getGpu } from '../src/core/device.ts';
import { flush, sync } from '../src/core/dispatch.ts';
import { countDispatches, type ClockName } from './clock.ts';
import { MAX_TIMED_DISPATCHES, TimestampRecorder } from '../src/core/timestamps.ts';
import type { PeerOp, PeerTrainStep } from './peer-ops.ts';

export type Metric = 'flops' | 'bytes';

export interface Tolerance {
  rtol: number;
  atol: number;
}

export interface Verification {
  ok: boolean;
  /** Largest |actual − expected| over the checked elements (Infinity for NaN). */
  maxError: number;
  /** Index of the worst element, in the output that held it. */
  worst: number;
  checked: number;
  tolerance: Tolerance;
  note?: string;
}

/** A case, set up on the device: record one repetition; check what the last one produced. */
export interface CaseRun {
  /** Records one repetition of the work (no flush, no read-back). Repetitions must be idempotent. */
  record(): void;
  /** Reads the outputs back and compares them with the reference. */
  verify(): Promise<Verification>;
  dispose(): void;
}

export interface BenchCase {
  /** Section of the table: 'peak', 'matmul', 'dense', 'elementwise', 'reduce', 'conv', ... */
  group: string;
  kernel: string;
  /** Ladder variant ('naive', 'tiled', 'blocked', 'vec4', 'direct', 'gemm'), or '-' for none. */
  variant: string;
  shape: string;
  metric: Metric;
  /** In the --quick subset. */
  quick?: boolean;
  /** The square size of a ladder case, for --sizes. */
  size?: number;
  /** Takes many seconds a repetition here: skipped unless --variant names its variant. */
  slow?: boolean;
  /** Our side. Absent while our kernel is not written yet: the row then exists only for the peer. */
  setup?: () => CaseRun | Promise<CaseRun>;
  /** The same operation for a peer library (--peer). */
  peer?: PeerOp;
  /** Useful work of one repetition, for rows our side cannot count (peer-only rows). */
  work?: { flops?: number; bytes?: number };
}

export interface Stats {
  median: number;
  p10: number;
  p90: number;
  /** Median absolute deviation from the median. */
  mad: number;
  min: number;
  samples: number;
}

export type Verdict = 'OK' | 'WRONG' | 'ERROR' | 'PENDING';

export interface PeerResult {
  name: string;
  /** Their time and ours, both by wall clock. */
  theirs?: Stats;
  oursWall?: Stats;
  /** ours / theirs (median): below 1 means we are faster. */
  ratio?: number;
  /** Their throughput, from the work our side counted (or the case declares). */
  gflops?: number;
  gbs?: number;
  error?: string;
}

export interface Row {
  group: string;
  kernel: string;
  variant: string;
  shape: string;
  metric: Metric;
  verdict: Verdict;
  /** For WRONG and ERROR rows: what went wrong. */
  detail?: string;
  maxError?: number;
  clock?: ClockName;
  ms?: Stats;
  reps?: number;
  /** Programs one repetition dispatched (names), with the useful work they declare. */
  programs?: string[];
  flops?: number;
  bytes?: number;
  gflops?: number;
  gbs?: number;
  /** Share of the measured peak (GFLOP/s for 'flops' rows, GB/s for 'bytes' rows), in %. */
  pctPeak?: number;
  peer?: PeerResult;
}

export interface Peak {
  gflops: number;
  gbs: number;
  /** The FMA shape that reached `gflops` (bench/peak-search.ts), e.g. "vec4×16 wg64". */
  fma?: string;
}

/** A peer library's version of a case: same contract as CaseRun, minus verification. */
export interface PeerInstance {
  record(): void;
  /** Submits what was recorded and waits until the peer's queue is idle. */
  finish(): Promise<void>;
  dispose(): void;
}

export interface PeerRunner {
  name: string;
  /** Undefined when the peer cannot express this operation. */
  prepare(op: PeerOp): Promise<PeerInstance | undefined>;
  /** One training step of a seed model per record(); undefined when the peer has no such model. */
  prepareTrainStep?(step: PeerTrainStep): Promise<PeerInstance | undefined>;
}

export interface HarnessOptions {
  clock: ClockName;
  /** Exactly this many timed repetitions (else as many as fit the budget, within min/max). */
  reps?: number;
  budgetMs: number;
  warmupMs: number;
  minReps: number;
  maxReps: number;
  peak?: Peak;
  peer?: PeerRunner;
}

export const DEFAULT_OPTIONS: HarnessOptions = {
  clock: 'wall',
  budgetMs: 1500,
  warmupMs: 150,
  minReps: 5,
  maxReps: 200,
};

/** The clock this adapter supports best. */
export function bestClock(): ClockName {
  return getGpu().info.hasTimestampQuery ? 'gpu-timestamp' : 'wall';
}

// ------------------------------------------------------------------------------ statistics

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 1) return sorted[0];
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(samples: number[]): Stats {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const deviations = sorted.map((s) => Math.abs(s - median)).sort((a, b) => a - b);
  return {
    median,
    p10: quantile(sorted, 0.1),
    p90: quantile(sorted, 0.9),
    mad: quantile(deviations, 0.5),
    min: sorted[0],
    samples: samples.length,
  };
}

// ------------------------------------------------------------------------------ verification

/**
 * Compares GPU output with the float64 reference: every element must satisfy
 * |actual − expected| ≤ atol + rtol·|expected| (NaN never does). `indices` maps each compared
 * expected value to its element in `actual` when only a sample of the output was referenced.
 */
export function compareOutputs(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance,
  indices?: ArrayLike<number>,
): Verification {
  const count = indices ? indices.length : expected.length;
  if (!indices && actual.length !== expected.length) {
    return { ok: false, maxError: Infinity, worst: -1, checked: 0, tolerance, note: `length ${actual.length}, expected ${expected.length}` };
  }
  let ok = true;
  let maxError = 0;
  let worst = -1;
  for (let i = 0; i < count; i++) {
    const at = indices ? indices[i] : i;
    const a = actual[at];
    const e = expected[i];
    const err = Math.abs(a - e);
    const bad = !(err <= tolerance.atol + tolerance.rtol * Math.abs(e));
    const size = Number.isNaN(err) ? Infinity : err;
    if (bad) ok = false;
    if (size > maxError || (bad && worst < 0)) {
      maxError = size;
      worst = at;
    }
  }
  return { ok, maxError, worst, checked: count, tolerance };
}

/** Combines the checks of several outputs into one verdict. */
export function combine(checks: Verification[]): Verification {
  if (checks.length === 1) return checks[0];
  const worst = checks.reduce((w, c) => (!c.ok && w.ok ? c : c.ok === w.ok && c.maxError > w.maxError ? c : w));
  return {
    ...worst,
    ok: checks.every((c) => c.ok),
    checked: checks.reduce((n, c) => n + c.checked, 0),
    note: checks.map((c, i) => `out${i}: ${c.maxError.toExponential(1)}`).join(', '),
  };
}

// ------------------------------------------------------------------------------ timing

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

async function oursFinish(): Promise<void> {
  flush();
  await getGpu().device.queue.onSubmittedWorkDone();
}

/**
 * Timed repetitions: --reps if given, else as many as fit the budget within [minReps, maxReps];
 * a case slower than budget / minReps gets 3 (the fewest that have a median and a spread).
 */
function repetitions(perRepMs: number, options: HarnessOptions): number {
  if (options.reps !== undefined) return options.reps;
  const fitting = Math.floor(options.budgetMs / Math.max(perRepMs, 1e-3));
  if (fitting < options.minReps) return Math.min(options.minReps, 3);
  return Math.min(options.maxReps, fitting);
}

/** Wall-clock samples (ms per repetition) of record/finish, grouped to at least ~2 ms each unless --reps. */
async function wallSamples(
  record: () => void,
  finish: () => Promise<void>,
  perRepMs: number,
  options: HarnessOptions,
): Promise<{ samples: number[]; reps: number }> {
  // An explicit --reps means exactly that many, one per sample.
  const group = options.reps !== undefined ? 1 : Math.max(1, Math.ceil(2 / Math.max(perRepMs, 1e-3)));
  const count = repetitions(perRepMs * group, options);
  const samples: number[] = [];
  for (let s = 0; s < count; s++) {
    const t0 = performance.now();
    for (let r = 0; r < group; r++) record();
    await finish();
    samples.push((performance.now() - t0) / group);
  }
  return { samples, reps: count * group };
}

/**
 * One repetition at a time until `warmupMs` passed, at least `atLeast` of them; returns the
 * fastest (ms), or `known` if that was faster. Slow cases (seconds a repetition on a CPU adapter)
 * count the verification and counting runs as their warm-up and add none.
 */
async function warmUp(record: () => void, finish: () => Promise<void>, warmupMs: number, atLeast: number, known = Infinity): Promise<number> {
  const start = performance.now();
  let best = known;
  for (let i = 0; i < atLeast || (performance.now() - start < warmupMs && best < warmupMs); i++) {
    const t0 = performance.now();
    record();
    await finish();
    best = Math.min(best, performance.now() - t0);
    if (i > 1000) break;
  }
  return best;
}

async function timestampSamples(
  run: CaseRun,
  dispatchesPerRep: number,
  perRepMs: number,
  options: HarnessOptions,
): Promise<{ samples: number[]; reps: number }> {
  const count = repetitions(perRepMs, options);
  const recorder = new TimestampRecorder(Math.max(1024, 2 * dispatchesPerRep));
  const perTag = new Map<number, number>();
  const gather = async () => {
    for (const t of await recorder.collect()) perTag.set(t.tag, (perTag.get(t.tag) ?? 0) + t.ns);
  };
  recorder.start();
  try {
    for (let r = 0; r < count; r++) {
      if (recorder.free < dispatchesPerRep) await gather();
      recorder.tag = r;
      run.record();
      // Keep the queue fed but the host from racing far ahead of it.
      if (r % 16 === 15) flush();
    }
    await gather();
  } finally {
    recorder.stop();
    recorder.destroy();
  }
  if (recorder.untimed > 0) throw new Error(`${recorder.untimed} dispatches went untimed`);
  return { samples: [...perTag.values()].map((ns) => ns / 1e6), reps: count };
}

const peerMeasurements = new Map<string, Promise<PeerResult>>();

/** Runs one case through verify, count, warm-up and timing; never throws. */
export async function runCase(c: BenchCase, options: HarnessOptions): Promise<Row> {
  const row: Row = { group: c.group, kernel: c.kernel, variant: c.variant, shape: c.shape, metric: c.metric, verdict: 'PENDING' };
  if (c.setup) await measureOurs(c, row, options);
  if (options.peer && c.peer && (row.verdict === 'OK' || row.verdict === 'PENDING')) {
    // Variants of one operation share the peer's measurement.
    const key = `${options.peer.name}|${JSON.stringify(c.peer)}`;
    let pending = peerMeasurements.get(key);
    if (!pending) {
      pending = measurePeer(c.peer, options.peer, options);
      peerMeasurements.set(key, pending);
    }
    const theirs = await pending;
    row.peer = { ...theirs, oursWall: row.peer?.oursWall };
    if (row.peer.oursWall && row.peer.theirs) row.peer.ratio = row.peer.oursWall.median / row.peer.theirs.median;
    if (row.peer.theirs) {
      const flops = row.flops || c.work?.flops;
      const bytes = row.bytes || c.work?.bytes;
      const seconds = row.peer.theirs.median / 1e3;
      if (flops) row.peer.gflops = flops / seconds / 1e9;
      if (bytes) row.peer.gbs = bytes / seconds / 1e9;
    }
  }
  return row;
}

async function measureOurs(c: BenchCase, row: Row, options: HarnessOptions): Promise<void> {
  let run: CaseRun | undefined;
  try {
    run = await c.setup!();
    const r = run;
    r.record();
    const check = await r.verify();
    row.maxError = check.maxError;
    if (!check.ok) {
      row.verdict = 'WRONG';
      row.detail =
        `max error ${check.maxError.toExponential(2)} at element ${check.worst} ` +
        `(tolerance ${check.tolerance.atol} + ${check.tolerance.rtol}·|expected|)` + (check.note ? `; ${check.note}` : '');
      return;
    }
    row.verdict = 'OK';

    const countStart = performance.now();
    const programs = await countDispatches(() => r.record());
    const countMs = performance.now() - countStart;
    row.programs = [...new Set(programs.map((p) => p.name))];
    row.flops = programs.reduce((s, p) => s + p.flops, 0);
    row.bytes = programs.reduce((s, p) => s + p.bytes, 0);

    const perRepMs = await warmUp(() => r.record(), oursFinish, options.warmupMs, 0, countMs);
    // A repetition of more dispatches than one query set holds falls back to the wall clock.
    const clock = options.clock === 'gpu-timestamp' && programs.length <= MAX_TIMED_DISPATCHES ? 'gpu-timestamp' : 'wall';
    const timed =
      clock === 'gpu-timestamp'
        ? await timestampSamples(r, programs.length, perRepMs, options)
        : await wallSamples(() => r.record(), oursFinish, perRepMs, options);
    await sync();
    row.clock = clock;
    row.reps = timed.reps;
    row.ms = summarize(timed.samples);
    const seconds = row.ms.median / 1e3;
    if (row.flops > 0) row.gflops = row.flops / seconds / 1e9;
    if (row.bytes > 0) row.gbs = row.bytes / seconds / 1e9;
    if (options.peak) {
      const achieved = c.metric === 'flops' ? row.gflops : row.gbs;
      const peak = c.metric === 'flops' ? options.peak.gflops : options.peak.gbs;
      if (achieved !== undefined && peak > 0) row.pctPeak = (100 * achieved) / peak;
    }
    if (options.peer && c.peer) {
      row.peer = { name: options.peer.name };
      const w = await wallSamples(() => r.record(), oursFinish, perRepMs, options);
      row.peer.oursWall = summarize(w.samples);
    }
  } catch (e) {
    row.verdict = 'ERROR';
    row.detail = errorText(e);
    await sync().catch(() => undefined); // drain the error so the next case starts clean
  } finally {
    run?.dispose();
  }
}

async function measurePeer(op: PeerOp, peer: PeerRunner, options: HarnessOptions): Promise<PeerResult> {
  const result: PeerResult = { name: peer.name };
  let instance: PeerInstance | undefined;
  try {
    instance = await peer.prepare(op);
    if (!instance) {
      result.error = `${peer.name} has no equivalent`;
      return result;
    }
    const inst = instance;
    const perRepMs = await warmUp(() => inst.record(), () => inst.finish(), options.warmupMs, 1);
    const w = await wallSamples(() => inst.record(), () => inst.finish(), perRepMs, options);
    result.theirs = summarize(w.samples);
  } catch (e) {
    result.error = errorText(e);
  } finally {
    instance?.dispose();
  }
  return result;
}

/** Runs the cases in order, reporting each row as it completes. */
export async function runCases(
  cases: BenchCase[],
  options: HarnessOptions,
  onRow?: (row: Row, index: number) => void,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [i, c] of cases.entries()) {
    const r = await runCase(c, options);
    rows.push(r);
    onRow?.(r, i);
  }
  return rows;
}
