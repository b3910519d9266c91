// The FMA peak as a search: which shape of src/kernels/peak.ts's FMA loop (independent chains,
// vector width, workgroup size) runs fastest on this adapter. The bench calls the fastest the
// peak, so every "% of peak" is against the best this adapter was seen to do, not against one
// shape that happens to suit some other adapter.
//
// Bounded, so that it costs a few seconds once per run (each shape is a pipeline to compile, a
// tenth of a second or more on a CPU driver):
//   1. coarse    every chains × width at one workgroup size, timed briefly (a few dispatches of
//                a few milliseconds);
//   2. workgroup the other workgroup sizes, for the best TOP_WORKGROUP (chains, width) of stage 1;
//   3. refine    the TOP_REFINE fastest shapes so far, and the old 4-chain baseline beside them,
//                as full bench rows (verified, then timed on the run's clock), in REFINE_ROUNDS
//                interleaved rounds (A B C, A B C), so that a burst of load on a shared machine
//                falls on every shape alike; a shape's row is its better round.
// The peak is the fastest refined row. Every shape is verified before it is timed (a wrong
// kernel is never timed, so never a peak). The choice itself is a pure function of the timings
// (rankTimings, bestTiming), tested without timing anything.

import { FMA_BASELINE, fmaShapeName, peakCandidates, type FmaLimits, type FmaShape } from '../src/kernels/peak.ts';
import { fmaPeakCase, fmaPeakWork, FMA_PEAK_INVOCATIONS } from './cases.ts';
import { runCase, type HarnessOptions, type Row } from './harness.ts';

/** A measured shape, as the choice sees it. */
export interface PeakTiming {
  name: string;
  /** Median seconds of one repetition. */
  seconds: number;
  /** Flops of one repetition. */
  flops: number;
}

/** The timings that are valid (positive, finite), fastest (most GFLOP/s) first; ties keep their order. */
export function rankTimings<T extends PeakTiming>(timings: readonly T[]): (T & { gflops: number })[] {
  return timings
    .filter((t) => Number.isFinite(t.seconds) && t.seconds > 0 && Number.isFinite(t.flops) && t.flops > 0)
    .map((t) => ({ ...t, gflops: t.flops / t.seconds / 1e9 }))
    .sort((a, b) => b.gflops - a.gflops);
}

/** The fastest valid timing, or undefined when none is. */
export function bestTiming<T extends PeakTiming>(timings: readonly T[]): (T & { gflops: number }) | undefined {
  return rankTimings(timings)[0];
}

const TOP_WORKGROUP = 2;
const TOP_REFINE = 2;
/** A refined shape's time budget over all its rounds, at most (the run's --reps, when given, still decides). */
const REFINE_BUDGET_MS = 500;
const REFINE_ROUNDS = 2;

/** Stage 1's workgroup size: 64 (every adapter's SIMD width divides it) or the largest below. */
export function coarseWorkgroup(candidates: readonly FmaShape[]): number {
  const sizes = [...new Set(candidates.map((c) => c.workgroup))].sort((a, b) => a - b);
  return sizes.filter((w) => w <= 64).pop() ?? sizes[0];
}

/** Stage 1: every chains × width at the coarse workgroup size. */
export function coarseShapes(candidates: readonly FmaShape[]): FmaShape[] {
  const w = coarseWorkgroup(candidates);
  return candidates.filter((c) => c.workgroup === w);
}

/** Stage 2: the candidates of the same chains and width as `best`, at the other workgroup sizes. */
export function workgroupShapes(candidates: readonly FmaShape[], best: readonly FmaShape[]): FmaShape[] {
  return candidates.filter((c) => best.some((b) => b.chains === c.chains && b.width === c.width && b.workgroup !== c.workgroup));
}

export type SearchStage = 'coarse' | 'workgroup' | 'refine';

/** One measurement of the search, for the JSON record. */
export interface CandidateResult extends FmaShape {
  name: string;
  stage: SearchStage;
  verdict: Row['verdict'];
  detail?: string;
  /** Median and fastest ms of one repetition, and the flops it did. */
  ms?: number;
  minMs?: number;
  flops?: number;
  /** From the fastest repetition in the brief stages (load only ever slows one down), from the median when refined. */
  gflops?: number;
}

export interface PeakSearch {
  /** How many shapes peakCandidates offered, and how many the search measured. */
  candidates: number;
  searched: number;
  /** The fastest refined shape: the run's FMA peak. */
  best?: { name: string; gflops: number };
  runnerUp?: { name: string; gflops: number };
  /** The 4-chain vec4 shape the bench used before it searched, refined in the same run. */
  baseline?: { name: string; gflops: number };
  /** Wall-clock ms the search took, compiling included. */
  ms: number;
  /** Every measurement, in the order taken (a refined shape once a stage and once a round). */
  results: CandidateResult[];
  /** The refined shapes as table rows, each its better round (the baseline among them). */
  rows: Row[];
}

function key(s: FmaShape): string {
  return fmaShapeName(s);
}

function toResult(shape: FmaShape, stage: SearchStage, row: Row): CandidateResult {
  const r: CandidateResult = { ...shape, name: fmaShapeName(shape), stage, verdict: row.verdict };
  if (row.detail) r.detail = row.detail;
  if (row.verdict === 'OK' && row.ms && row.flops) {
    r.ms = row.ms.median;
    r.minMs = row.ms.min;
    r.flops = row.flops;
    r.gflops = row.flops / ((stage === 'refine' ? r.ms : r.minMs) / 1e3) / 1e9;
  }
  return r;
}

/** The timing a stage ranks by: the fastest repetition of a brief one, the median of a refined one. */
function asTiming(r: CandidateResult): PeakTiming & { shape: FmaShape } {
  const ms = r.stage === 'refine' ? r.ms : r.minMs;
  return { name: r.name, seconds: ms === undefined ? NaN : ms / 1e3, flops: r.flops ?? 0, shape: { chains: r.chains, width: r.width, workgroup: r.workgroup } };
}

/** A brief timing: a few repetitions, no warm-up beyond the verification and counting runs. */
function briefOptions(options: HarnessOptions): HarnessOptions {
  return { ...options, reps: undefined, budgetMs: 60, warmupMs: 0, minReps: 3, maxReps: 8, peak: undefined, peer: undefined };
}

/**
 * Runs the search on the current device: stages 1 and 2 briefly, stage 3 with `options` (the
 * run's clock); every dispatch `invocations` wide (fmaPeakInvocations). Never throws for a
 * failing shape: it becomes a WRONG or ERROR result.
 */
export async function searchFmaPeak(options: HarnessOptions, quick: boolean, limits: FmaLimits, invocations = FMA_PEAK_INVOCATIONS): Promise<PeakSearch> {
  const started = performance.now();
  const candidates = peakCandidates(limits);
  const results: CandidateResult[] = [];
  const brief = briefOptions(options);
  // Brief dispatches of a few milliseconds each at this driver's speed; a GPU is far faster.
  const briefWork = 4096;
  const measure = async (shapes: FmaShape[], stage: SearchStage) => {
    for (const s of shapes) results.push(toResult(s, stage, await runCase(fmaPeakCase(s, briefWork, invocations), brief)));
  };

  await measure(coarseShapes(candidates), 'coarse');
  const topCoarse = rankTimings(results.map(asTiming)).slice(0, TOP_WORKGROUP).map((t) => t.shape);
  await measure(workgroupShapes(candidates, topCoarse), 'workgroup');
  const searched = results.length;

  const refine = rankTimings(results.map(asTiming)).slice(0, TOP_REFINE).map((t) => t.shape);
  const baselineShape = candidates.find((c) => key(c) === key(FMA_BASELINE));
  if (baselineShape && !refine.some((s) => key(s) === key(baselineShape))) refine.push(baselineShape);
  const work = fmaPeakWork(quick);
  const roundOptions = { ...options, budgetMs: Math.min(options.budgetMs, REFINE_BUDGET_MS) / REFINE_ROUNDS, peak: undefined, peer: undefined };
  const rounds: Row[][] = refine.map(() => []);
  for (let round = 0; round < REFINE_ROUNDS; round++) {
    for (const [i, s] of refine.entries()) {
      const row = await runCase(fmaPeakCase(s, work, invocations), roundOptions);
      rounds[i].push(row);
      results.push(toResult(s, 'refine', row));
    }
  }
  // Each shape's better round (a failed round never wins over a timed one).
  const rows = rounds.map((rs) => rs.reduce((a, b) => ((b.gflops ?? -1) > (a.gflops ?? -1) ? b : a)));

  // Fastest first, each shape once (its better round).
  const refined = rankTimings(results.filter((r) => r.stage === 'refine').map(asTiming)).filter((t, i, all) => all.findIndex((u) => u.name === t.name) === i);
  const named = (t: { name: string; gflops: number } | undefined) => (t ? { name: t.name, gflops: t.gflops } : undefined);
  const baseline = refined.find((t) => t.name === key(FMA_BASELINE));
  return {
    candidates: candidates.length,
    searched,
    best: named(refined[0]),
    runnerUp: named(refined[1]),
    baseline: named(baseline),
    ms: performance.now() - started,
    results,
    rows,
  };
}

/** The line that introduces the run's FMA peak. */
export function describePeakSearch(s: PeakSearch, fmt: (v: number) => string): string {
  if (!s.best) return `peak.fma: no shape of the ${s.searched} searched ran correctly; no FMA peak this run`;
  let line =
    `peak.fma: the best of ${s.searched} shapes searched (of ${s.candidates} candidates: chains × width at one workgroup size, ` +
    `then the workgroup sizes of the top ${TOP_WORKGROUP}, the top ${TOP_REFINE} and the old shape timed again at length in ${REFINE_ROUNDS} interleaved rounds; ${fmt(s.ms / 1e3)} s) is ` +
    `peak.fma ${s.best.name}, ${fmt(s.best.gflops)} GFLOP/s: every flops row's %peak is against it`;
  if (s.runnerUp) line += `; runner-up ${s.runnerUp.name} ${fmt(s.runnerUp.gflops)} GFLOP/s`;
  if (s.baseline && s.baseline.name !== s.best.name) {
    line += `; the old 4-chain shape ${s.baseline.name} ${fmt(s.baseline.gflops)} GFLOP/s in this run (best / old ${(s.best.gflops / s.baseline.gflops).toFixed(2)}×)`;
  } else if (s.baseline) {
    line += '; the old 4-chain shape is the best here';
  }
  return line;
}
