// The tuner: for one problem (an op, its pass and its shape; kernel-policy.ts's TuneProblem) it
// finds the fastest kernel on the adapter it runs on, among the candidates the kernel files list
// (convCandidates, matmulCandidates), and only among kernels that compute the right numbers.
//
//   1. verify   each candidate, once per adapter and kind of problem, runs on a small awkward
//               shape of the same kind (the problem's kernel size, strides and padding; 2 images
//               of 7×6, 3 → 9 channels) and is compared with the float64 reference. A candidate
//               off by more than float32 rounding is never timed, never chosen, and reported:
//               drivers have bugs, and a fast wrong kernel is worse than a slow right one.
//   2. scale    a convolution (and a batched matmul) is timed at a batch cut down until one run
//               takes about TARGET_MS (the default kernel's time for one image tells how far): a
//               CPU driver needs seconds for a full DCGAN layer, a GPU a millisecond. Per image
//               the kernels do the same work at any batch, so their order is mostly kept; not
//               below MIN_TIMED_BATCH images, where a kernel that pads rows to whole workgroups
//               (subgroup, blocked) pays for padding the real batch does not have.
//   3. time     the default kernel first (a bar to beat), then the others, each in runs of its
//               own (a run that compiled the kernel does not count: it runs again): a candidate
//               whose first two runs are both more than DROP_FACTOR× the best so far is dropped
//               there (whose first is more than FAR_FACTOR×, at once: no burst of other work
//               costs that much), one whose first two are both behind the best stops there (the
//               median of RUNS could not beat it), the rest get RUNS runs and their median
//               counts. The clock: GPU timestamps around each dispatch where the adapter has
//               them (the kernels' own time), else the wall clock around a submit and its
//               completion (the kernels' time plus an overhead that is the same for every
//               candidate).
//   4. confirm  at a cut batch a kernel that pads rows to whole workgroups (subgroup, blocked),
//               or needs many invocations to fill the cores, looks worse than it is at the real
//               one: where another kernel than the default won at a cut batch, the two run again,
//               alternating, at the problem's own batch, and that decides (a first pair more
//               than CONFIRM_CLEAR× apart alone; else CONFIRM_RUNS pairs, the medians).
//   5. budget   candidates not reached within the problem's budget are left untried (reported);
//               where the batch was cut, the confirmation's runs (estimated from the default's
//               time, scaled to the full batch) are kept in the budget, so the budget covers the
//               whole problem; the default stays the choice unless a verified candidate beat it. Candidates are
//               tried in the order of candidatesOf: the default, winograd (fewer multiplies),
//               the default's own kernel with other parameters, the rest, and last the kernels
//               shaped for the other kind of adapter. Compiling a kernel is part of the budget
//               (on a CPU driver a large one takes seconds), and session.ts's tune() prunes a
//               candidate dropped on PRUNE_AFTER earlier problems of the same op and pass.
//
// The tuner knows nothing of caches and files (session.ts keeps its answers) and nothing of
// autograd: it launches the kernels' Programs on tensors of its own, like an op's forward pass.

import { getGpu } from '../core/device.ts';
import { checkOptions, knownOptions } from '../core/options.ts';
import { launch } from '../core/launch.ts';
import { pipelinesSoFar, sync } from '../core/dispatch.ts';
import { tensor, rand } from '../core/creation.ts';
import type { Tensor } from '../core/tensor.ts';
import { reduceRaw } from '../core/ops.ts';
import { runConv } from '../core/conv-ops.ts';
import { TimestampRecorder } from '../core/timestamps.ts';
import { autoConvVariant, autoMatmulVariant, kernelTarget, problemKey, withSubgroupLanes, type TuneProblem } from '../core/kernel-policy.ts';
import { activationReference } from '../kernels/activation.ts';
import {
  conv2dInputGradProgram, conv2dInputGradReference, conv2dProgram, conv2dReference, conv2dWeightGradProgram,
  conv2dWeightGradReference, convCandidates, convKernelKey, convKernelOf, weightGradSplits, type ConvKernel,
} from '../kernels/conv/conv2d.ts';
import { convInputShape, convOutputShape, convWeightShape, type ConvGeometry } from '../kernels/conv/geometry.ts';
import { matmulCandidates, matmulKernelKey, matmulProgram, matmulReference, vec4Fits, type MatmulKernel, type MatmulShape } from '../kernels/matmul.ts';

/** One run of a convolution candidate aims at about this long (see "scale" above). */
export const TARGET_MS = 20;
/** Timed runs of a candidate that survives its first; the median counts. */
export const RUNS = 3;
/** A candidate whose first two runs are this much slower than the best so far is dropped. */
export const DROP_FACTOR = 2;
/** A candidate whose first run is this much slower than the best so far is dropped at once. */
export const FAR_FACTOR = 4;
/** How much faster than the default a candidate must be to be chosen instead (here and in the confirmation). */
export const MARGIN = 1.05;
/** Alternating runs of the challenger and the default at the problem's own batch, at most (see "confirm"). */
export const CONFIRM_RUNS = 2;
/** A first confirming pair whose times differ by this factor, either way, decides alone. */
export const CONFIRM_CLEAR = 1.15;
/** Default time budget of one problem. */
export const PROBLEM_BUDGET_MS = 6000;
/** The smallest batch a problem is timed at, where its own is at least this large (see "scale"). */
export const MIN_TIMED_BATCH = 16;

export type CandidateStatus = 'chosen' | 'slower' | 'dropped' | 'wrong' | 'failed' | 'untried' | 'pruned';

export interface CandidateResult {
  kernel: string;
  status: CandidateStatus;
  /** Median milliseconds per run at the timed batch (dropped: its one run). */
  ms?: number;
  runs: number;
  /** Why a candidate is wrong or failed: the error, or how far off the reference it was. */
  note?: string;
}

export interface TuneResult {
  problem: string;
  /** What the fixed rule runs ('auto' untuned, and tune 'off'). */
  default: string;
  chosen: string;
  /** The batch the convolution was timed at (the problem's own for a matmul). */
  timedBatch: number;
  candidates: CandidateResult[];
  /**
   * Where the problem was timed at a cut batch and another kernel than the default won there:
   * the two again at the problem's own batch (ms a run, median of CONFIRM_RUNS alternating),
   * which decides.
   */
  confirmation?: { batch: number; scaledBatch: number; challenger: string; challengerMs: number; defaultMs: number };
  /** 'gpu-timestamp' (the kernels' own time) where the adapter has timestamps, else 'wall'. */
  clock: 'gpu-timestamp' | 'wall';
  seconds: number;
  /** The layers the problem ran in, where they were labelled (session.ts's tune(): problemLayers). */
  layers?: string[];
}

/** A kernel verified on this adapter: 'ok', or what was wrong. Keyed by verificationKey. */
export type Verified = Map<string, string>;

export interface TuneProblemOptions {
  budgetMs?: number;
  /** Verification results so far (read and added to); a candidate already known wrong is skipped. */
  verified?: Verified;
  /**
   * Replaces a candidate's timing (tests: a planted slow kernel). Returns milliseconds of one
   * run, or undefined to time it for real.
   */
  timeOverride?: (kernel: string, problem: TuneProblem, batch: number) => number | undefined;
  /** Times at this batch instead of one cut to TARGET_MS (tests). */
  timedBatch?: number;
  /** Candidates not to try, with why (session.ts: dropped on earlier problems of the same op and pass); never the default. */
  prune?: (kernel: string) => string | undefined;
  /** Extra candidates (tests: a planted wrong one), as kernels the builders accept. */
  extraCandidates?: (ConvKernel | MatmulKernel)[];
  /** Replaces a candidate's Program for verification and timing (tests: a planted wrong kernel); winograd's several launches go through conv-ops and are not reached. */
  programOverride?: ProgramOverride;
}

/** A Program builder that stands in for a candidate's own (tests). */
export type ProgramOverride = (kernel: string, build: () => ReturnType<typeof conv2dProgram>) => ReturnType<typeof conv2dProgram>;

function now(): number {
  return performance.now();
}

// -------------------------------------------------------------- running one candidate

/** Runs a candidate once on the problem's tensors; returns the output to dispose. */
type Runner = () => Tensor;

function convRunner(p: Extract<TuneProblem, { op: 'conv' }>, g: ConvGeometry, candidate: ConvKernel, inputs: { a: Tensor; b: Tensor; bias: Tensor }, override?: ProgramOverride): Runner {
  const key = convKernelKey(candidate);
  const kernel = convKernelOf(withSubgroupLanes(candidate));
  const wrap = (build: () => ReturnType<typeof conv2dProgram>) => (override ? override(key, build) : build());
  if (kernel.variant === 'winograd' && p.pass !== 'weightGrad') {
    // Several launches (transforms and batched matmuls): the op's own runner.
    return () => runConv(p.pass === 'forward' ? 'conv2d' : 'conv2dInputGrad', g, p.epilogue, kernel, inputs.a, inputs.b, inputs.bias);
  }
  if (p.pass === 'forward') {
    return () => launch(wrap(() => conv2dProgram(g, p.epilogue, kernel)), [inputs.a, inputs.b, inputs.bias], convOutputShape(g));
  }
  if (p.pass === 'inputGrad') {
    return () => launch(wrap(() => conv2dInputGradProgram(g, p.epilogue, kernel)), [inputs.a, inputs.b, inputs.bias], convInputShape(g));
  }
  return () => {
    const splits = weightGradSplits(g, kernel);
    const partial = launch(wrap(() => conv2dWeightGradProgram(g, splits, kernel)), [inputs.a, inputs.b], [splits, ...convWeightShape(g)]);
    if (splits === 1) return partial;
    const summed = reduceRaw('sum', partial, [0], 1);
    partial.dispose();
    return summed;
  };
}

/** The operand shapes of a convolution pass: [a, b] as its Program binds them. */
function convOperands(pass: 'forward' | 'inputGrad' | 'weightGrad', g: ConvGeometry): [number[], number[]] {
  if (pass === 'forward') return [convInputShape(g), convWeightShape(g)];
  if (pass === 'inputGrad') return [convOutputShape(g), convWeightShape(g)];
  return [convInputShape(g), convOutputShape(g)];
}

function biasLength(p: TuneProblem, g?: ConvGeometry): number {
  if (p.op === 'matmul') return p.s.n;
  return p.pass === 'inputGrad' ? g!.inC : g!.outC;
}

function matmulOperands(s: MatmulShape): [number[], number[]] {
  const a = s.transA ? [s.k, s.m] : [s.m, s.k];
  const b = s.transB ? [s.n, s.k] : [s.k, s.n];
  return [s.aBatchStride ? [s.batch, ...a] : a, s.bBatchStride ? [s.batch, ...b] : b];
}

function matmulRunner(s: MatmulShape, p: Extract<TuneProblem, { op: 'matmul' }>, kernel: MatmulKernel, inputs: { a: Tensor; b: Tensor; bias: Tensor }, override?: ProgramOverride): Runner {
  const key = matmulKernelKey(kernel);
  const build = () => matmulProgram(s, p.epilogue, kernel);
  return () => launch(override ? override(key, build) : build(), [inputs.a, inputs.b, inputs.bias], [s.batch, s.m, s.n]);
}

// -------------------------------------------------------------- verification

/** A small awkward geometry of the same kind as g: its kernel, strides and padding. */
export function verificationGeometry(g: ConvGeometry): ConvGeometry {
  const inH = Math.max(7, g.kH + 1);
  const inW = Math.max(6, g.kW + 1);
  const padTop = Math.min(g.padTop, g.kH - 1);
  const padLeft = Math.min(g.padLeft, g.kW - 1);
  const outH = Math.floor((inH + 2 * padTop - g.kH) / g.strideH) + 1;
  const outW = Math.floor((inW + 2 * padLeft - g.kW) / g.strideW) + 1;
  return { ...g, batch: 2, inH, inW, inC: 3, outC: 9, padTop, padLeft, outH, outW };
}

/** A small awkward matmul of the same kind: the same transposes and broadcasts, vec4's multiples of 4 where the shape had them. */
export function verificationShape(s: MatmulShape): MatmulShape {
  const [m, n, k] = vec4Fits(s) ? [12, 8, 20] : [7, 9, 5];
  const batch = s.batch > 1 ? 2 : 1;
  return { ...s, batch, m, n, k, aBatchStride: s.aBatchStride && batch > 1 ? m * k : 0, bBatchStride: s.bBatchStride && batch > 1 ? k * n : 0 };
}

/** What a verification result is kept under: the kernel, the pass, the kind of shape, the epilogue. */
export function verificationKey(p: TuneProblem, kernel: string): string {
  const e = p.epilogue;
  const epilogue = `${e.activation}${e.hasBias ? '+bias' : ''}`;
  if (p.op === 'matmul') {
    const s = verificationShape(p.s);
    return `matmul ${kernel} ${s.transA ? 'tA' : ''}${s.transB ? 'tB' : ''}${s.batch > 1 ? `b${s.aBatchStride ? 1 : 0}${s.bBatchStride ? 1 : 0}` : ''}${vec4Fits(p.s) ? 'v4' : ''} ${epilogue}`;
  }
  const g = p.g;
  return `conv.${p.pass} ${kernel} k${g.kH}x${g.kW} s${g.strideH}x${g.strideW} p${Math.min(g.padTop, g.kH - 1)},${Math.min(g.padLeft, g.kW - 1)} ${epilogue}`;
}

/** Deterministic values in [-1, 1) (an LCG), so a verification failure can be replayed. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function withEpilogue(raw: Float64Array, p: TuneProblem, channels: number, bias: Float32Array): Float64Array {
  const e = p.epilogue;
  return raw.map((v, i) => activationReference(e.activation, v + (e.hasBias ? bias[i % channels] : 0), e.alpha));
}

/**
 * Runs `kernel` on a small awkward problem of p's kind and compares it with the float64
 * reference: 'ok', or what was wrong (the largest error, or the error thrown).
 */
export async function verifyCandidate(p: TuneProblem, kernel: ConvKernel | MatmulKernel, override?: ProgramOverride): Promise<string> {
  const made: Tensor[] = [];
  const upload = (data: Float32Array, shape: number[]) => {
    const t = tensor(data, shape);
    made.push(t);
    return t;
  };
  try {
    let expected: Float64Array;
    let out: Tensor;
    if (p.op === 'conv') {
      const g = verificationGeometry(p.g);
      const [aShape, bShape] = convOperands(p.pass, g);
      const a = values(size(aShape), 1);
      const b = values(size(bShape), 2);
      const channels = biasLength(p, g);
      const bias = values(channels, 3);
      const inputs = { a: upload(a, aShape), b: upload(b, bShape), bias: upload(bias, [channels]) };
      out = convRunner({ ...p, g }, g, kernel as ConvKernel, inputs, override)();
      if (p.pass === 'forward') expected = conv2dReference(a, b, g, p.epilogue.hasBias ? bias : undefined, p.epilogue.activation, p.epilogue.alpha);
      else if (p.pass === 'inputGrad') expected = withEpilogue(conv2dInputGradReference(a, b, g), p, channels, bias);
      else expected = conv2dWeightGradReference(a, b, g);
    } else {
      const s = verificationShape(p.s);
      const [aShape, bShape] = matmulOperands(s);
      const a = values(size(aShape), 1);
      const b = values(size(bShape), 2);
      const bias = values(s.n, 3);
      const inputs = { a: upload(a, aShape), b: upload(b, bShape), bias: upload(bias, [s.n]) };
      out = matmulRunner(s, { ...p, s }, kernel as MatmulKernel, inputs, override)();
      expected = matmulReference(a, b, s, p.epilogue.hasBias ? bias : undefined, p.epilogue.activation, p.epilogue.alpha);
    }
    made.push(out);
    const got = await out.toArray();
    if (got.length !== expected.length) return `wrong: ${got.length} values, expected ${expected.length}`;
    let scale = 1;
    for (const v of expected) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    let at = 0;
    for (let i = 0; i < got.length; i++) {
      const err = Math.abs(got[i] - expected[i]);
      if (!(err <= worst)) {
        worst = Number.isNaN(err) ? Infinity : err;
        at = i;
      }
    }
    // The sums here have at most a few hundred terms of size ≤ 1: float32 rounding stays far
    // below 1e-4 of the largest value; a wrong index or a missed tap is of the order of 1.
    if (worst > 1e-4 * scale) return `wrong: off the float64 reference by ${worst.toPrecision(3)} at element ${at} (got ${got[at]}, expected ${expected[at].toPrecision(6)})`;
    return 'ok';
  } catch (e) {
    return `failed: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    for (const t of made) t.dispose();
  }
}

// -------------------------------------------------------------- timing

/** Milliseconds of one run: its kernels' GPU timestamps where the adapter has them, else the wall clock around submit and completion. */
async function timeRun(run: Runner, recorder?: TimestampRecorder): Promise<number> {
  await sync();
  if (recorder) {
    recorder.start();
    try {
      const out = run();
      const timings = await recorder.collect();
      out.dispose();
      return timings.reduce((a, t) => a + t.ns, 0) / 1e6;
    } finally {
      recorder.stop();
    }
  }
  const t0 = now();
  const out = run();
  await sync();
  const ms = now() - t0;
  out.dispose();
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Multiply-adds ×2 of a problem at its own batch: what its share of a whole tuning's budget goes by (session.ts). */
export function problemFlops(p: TuneProblem): number {
  if (p.op === 'matmul') return 2 * p.s.batch * p.s.m * p.s.n * p.s.k;
  const g = p.g;
  return 2 * g.batch * g.outH * g.outW * g.outC * g.kH * g.kW * g.inC;
}

// The kernels shaped for a GPU (workgroup-memory tiles) and for a CPU driver (register blocks
// read straight from memory, the caches sharing): on each kind of adapter the other's are tried last.
const GPU_SHAPED = new Set(['blocked', 'tiled', 'vec4']);
const CPU_SHAPED = new Set(['direct', 'subgroup']);

/**
 * The candidates of a problem in the order they are tried (the budget may not reach the last):
 * the fixed rule's default, then winograd (it does fewer multiplies), then the default's kernel
 * with other parameters, then the rest, and last those shaped for the other kind of adapter.
 */
export function candidatesOf(p: TuneProblem, target = kernelTarget()): { default: string; kernels: (ConvKernel | MatmulKernel)[] } {
  let def: string;
  let all: (ConvKernel | MatmulKernel)[];
  if (p.op === 'conv') {
    const subgroups = getGpu().info.hasSubgroups;
    def = autoConvVariant(p.pass, p.g, subgroups);
    all = convCandidates(p.pass, p.g, { subgroups });
  } else {
    def = autoMatmulVariant(p.s, target);
    all = matmulCandidates(p.s);
  }
  const defVariant = def.split('.')[0];
  const other = target === 'cpu' ? GPU_SHAPED : CPU_SHAPED;
  const rank = (k: ConvKernel | MatmulKernel): number => {
    if (keyOf(p, k) === def) return 0;
    if (k.variant === 'winograd') return 1;
    if (k.variant === defVariant) return 2;
    return other.has(k.variant) ? 4 : 3;
  };
  // A stable sort: within a rank, the kernel file's order.
  return { default: def, kernels: all.map((k, i) => ({ k, i, r: rank(k) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.k) };
}

function keyOf(p: TuneProblem, k: ConvKernel | MatmulKernel): string {
  return p.op === 'conv' ? convKernelKey(k as ConvKernel) : matmulKernelKey(k as MatmulKernel);
}

/**
 * Verifies, then times, every candidate of problem `p` on this adapter and returns the fastest
 * verified one (the fixed rule's default unless another beat it), with every candidate's fate.
 */
const TUNE_PROBLEM_OPTIONS = knownOptions<TuneProblemOptions>({
  budgetMs: true, verified: true, timeOverride: true, timedBatch: true, prune: true, extraCandidates: true, programOverride: true,
});

export async function tuneProblem(p: TuneProblem, options: TuneProblemOptions = {}): Promise<TuneResult> {
  checkOptions('tuneProblem', options, TUNE_PROBLEM_OPTIONS);
  const started = now();
  const budget = options.budgetMs ?? PROBLEM_BUDGET_MS;
  const verified = options.verified ?? new Map<string, string>();
  const { default: def, kernels: listed } = candidatesOf(p);
  const kernels = [...listed, ...(options.extraCandidates ?? [])];
  const results: CandidateResult[] = [];
  const made: Tensor[] = [];

  // The problem at the batch it is timed at, and its operands (random, as training's are).
  let timedBatch = p.op === 'conv' ? p.g.batch : p.s.batch;
  let inputs: { a: Tensor; b: Tensor; bias: Tensor } | undefined;
  const operands = (batch: number): { a: Tensor; b: Tensor; bias: Tensor } => {
    for (const t of made.splice(0)) t.dispose();
    const [aShape, bShape] = p.op === 'conv' ? convOperands(p.pass, { ...p.g, batch }) : matmulOperands({ ...p.s, batch });
    const n = p.op === 'conv' ? biasLength(p, p.g) : p.s.n;
    const t = { a: rand(aShape, { seed: 11, low: -1, high: 1 }), b: rand(bShape, { seed: 12, low: -1, high: 1 }), bias: rand([n], { seed: 13, low: -1, high: 1 }) };
    made.push(t.a, t.b, t.bias);
    return t;
  };
  const runnerFor = (k: ConvKernel | MatmulKernel): Runner => {
    if (p.op === 'conv') return convRunner(p, { ...p.g, batch: timedBatch }, k as ConvKernel, inputs!, options.programOverride);
    return matmulRunner({ ...p.s, batch: timedBatch }, p, k as MatmulKernel, inputs!, options.programOverride);
  };
  const fullBatch = timedBatch;

  let best: { kernel: string; ms: number } | undefined;
  let confirmation: TuneResult['confirmation'];
  const recorder = getGpu().info.hasTimestampQuery ? new TimestampRecorder(64) : undefined;
  // A run that compiled a kernel (its first in this process: a verification from the cache ran
  // in an earlier one, and a kernel's source can depend on the shape) timed the compiler too: on
  // llvmpipe a pipeline's first dispatch compiles it, for seconds. Such a run is run again.
  const time = async (run: Runner): Promise<number> => {
    const built = pipelinesSoFar();
    const ms = await timeRun(run, recorder);
    return pipelinesSoFar() > built ? timeRun(run, recorder) : ms;
  };
  try {
    // Timed at a cut batch, a winning challenger is confirmed at the full one (below): its runs
    // are kept out of the budget for candidates, estimated from the default's time scaled up.
    const confirmReserve = (): number => {
      const d = results.find((r) => r.kernel === def)?.ms;
      return d !== undefined && timedBatch < fullBatch ? 2 * CONFIRM_RUNS * d * (fullBatch / timedBatch) : 0;
    };
    for (const k of kernels) {
      const key = keyOf(p, k);
      if (best && now() - started + confirmReserve() > budget) {
        results.push({ kernel: key, status: 'untried', runs: 0, note: confirmReserve() > 0 ? 'over the time budget (its full-batch confirmation kept in it)' : 'over the time budget' });
        continue;
      }
      const pruned = key === def ? undefined : options.prune?.(key);
      if (pruned !== undefined) {
        results.push({ kernel: key, status: 'pruned', runs: 0, note: pruned });
        continue;
      }
      const vkey = verificationKey(p, key);
      let check = verified.get(vkey);
      if (check === undefined) {
        check = await verifyCandidate(p, k, options.programOverride);
        verified.set(vkey, check);
      }
      if (check !== 'ok') {
        results.push({ kernel: key, status: check.startsWith('wrong') ? 'wrong' : 'failed', runs: 0, note: check });
        continue;
      }
      if (!inputs) {
        // Scale the batch (a convolution's images, a batched matmul's matrices) from the first
        // verified candidate's time for one.
        if (options.timedBatch !== undefined) {
          timedBatch = Math.min(fullBatch, options.timedBatch);
        } else if (fullBatch > 1) {
          inputs = operands(1);
          timedBatch = 1;
          const one = runnerFor(k);
          await time(one); // first touch of the buffers
          const perImage = Math.max(options.timeOverride?.(keyOf(p, k), p, 1) ?? (await time(one)), 1e-3);
          timedBatch = Math.max(Math.min(fullBatch, MIN_TIMED_BATCH), Math.min(fullBatch, Math.floor(TARGET_MS / perImage)));
        }
        inputs = operands(timedBatch);
      }
      const planted = options.timeOverride?.(key, p, timedBatch);
      try {
        const run = runnerFor(k);
        // No separate warm-up (time() reruns a run that compiled). A first run far behind the
        // best (a first touch, a burst of other work) gets a second before the candidate is dropped.
        const times: number[] = [planted ?? (await time(run))];
        if (best && times[0] > DROP_FACTOR * best.ms) {
          // Far behind (no burst of other work costs that much): dropped on its one run.
          if (times[0] <= FAR_FACTOR * best.ms) times.push(planted ?? (await time(run)));
          if (times.length === 1 || times[1] > DROP_FACTOR * best.ms) {
            results.push({ kernel: key, status: 'dropped', ms: Math.min(...times), runs: times.length });
            continue;
          }
        }
        // More than half of RUNS behind the best: their median can no longer beat it; stop there.
        const beaten = () => best !== undefined && times.filter((t) => t > best!.ms).length > RUNS / 2;
        while (times.length < RUNS && !beaten()) times.push(planted ?? (await time(run)));
        const ms = median(times);
        results.push({ kernel: key, status: 'slower', ms, runs: times.length });
        if (!best || ms < best.ms) best = { kernel: key, ms };
      } catch (e) {
        results.push({ kernel: key, status: 'failed', runs: 0, note: (e as Error).message.split('\n')[0] });
      }
    }
    // A challenger must beat the default by MARGIN (a smaller gain is within a run's noise, and
    // not worth a kernel other than the rule's). One that won at a cut batch must win again at
    // the problem's own batch, in alternating runs: at a cut batch, kernels that pad rows to whole
    // workgroups (subgroup, blocked) or need many invocations look worse than they are.
    const defaultMs = results.find((r) => r.kernel === def)?.ms;
    const defaultKernel = kernels.find((k) => keyOf(p, k) === def);
    if (best && best.kernel !== def && defaultMs !== undefined && defaultKernel) {
      if (defaultMs < MARGIN * best.ms) {
        best = { kernel: def, ms: defaultMs };
      } else if (timedBatch < fullBatch) {
        const challenger = kernels.find((k) => keyOf(p, k) === best!.kernel)!;
        const scaled = timedBatch;
        timedBatch = fullBatch;
        inputs = operands(fullBatch);
        const planted = (k: string) => options.timeOverride?.(k, p, fullBatch);
        const runC = runnerFor(challenger);
        const runD = runnerFor(defaultKernel);
        const runs = { challenger: [] as number[], default: [] as number[] };
        for (let i = 0; i < CONFIRM_RUNS; i++) {
          runs.challenger.push(planted(best.kernel) ?? (await time(runC)));
          runs.default.push(planted(def) ?? (await time(runD)));
          // A first pair this far apart, either way, has decided: more runs would not turn it.
          const ratio = runs.default[0] / runs.challenger[0];
          if (i === 0 && (ratio >= CONFIRM_CLEAR || ratio <= 1 / CONFIRM_CLEAR)) break;
        }
        const cMs = median(runs.challenger);
        const dMs = median(runs.default);
        confirmation = { batch: fullBatch, scaledBatch: scaled, challenger: best.kernel, challengerMs: cMs, defaultMs: dMs };
        if (!(MARGIN * cMs <= dMs)) best = { kernel: def, ms: defaultMs };
      }
    }
  } finally {
    for (const t of made) t.dispose();
    recorder?.destroy();
  }
  const chosen = best?.kernel ?? def;
  for (const r of results) if (r.kernel === chosen && r.status === 'slower') r.status = 'chosen';
  return {
    problem: problemKey(p), default: def, chosen, timedBatch: confirmation?.scaledBatch ?? timedBatch, candidates: results,
    ...(confirmation ? { confirmation } : {}), clock: recorder ? 'gpu-timestamp' : 'wall', seconds: (now() - started) / 1000,
  };
}
