// The kernel ladder's rungs as data: for an operation, a rung (a kernel variant) and a size, the
// Program the page shows (pure: built without a device) and the bench case that runs it.
//
// A bench case (bench/harness.ts) is what `npm run bench` runs: set up buffers, record the
// kernel, read the output back and compare it with the float64 reference, then time it. The
// page runs the same cases through the same harness, so a rung verified here is verified the
// way the bench and the tests verify it.
//
//   matmul   the square ladder of docs/kernels.md: C = A·B, all three N×N; cases from
//            bench/cases.ts (which checks a sample of rows when the full reference is slow).
//   conv2d   one layer at several batch sizes: the DCGAN discriminator's second convolution,
//            5×5, stride 2, 14×14×64 → 7×7×128 (docs/kernels.md measures it too); its cases
//            are built here from the same kit (bench/case-kit.ts) the bench's are.
//   conv2dStride1  the DCGAN generator's first layer, a 5×5 stride-1 'same' transposed
//            convolution 7×7×256 → 7×7×128, as the plain convolution it equals (a stride-1
//            transposed convolution is a convolution with the kernel rotated by 180°): the
//            layer whose shape Winograd fits, so this op has the 'winograd' rung. Winograd is
//            several launches (src/core/conv-ops.ts, winogradRaw): its case runs the op, as the
//            bench's winograd rows do (bench/cases.ts), and the page shows all its Programs.

import { kernels, withSubgroupLanes } from '../../src/index.ts';
import type { ConvGeometry, ConvVariant, MatmulShape, MatmulVariant, Program } from '../../src/kernels/index.ts';
import { conv2dRaw, winogradMatmulProgram } from '../../src/core/conv-ops.ts';
import { copyPeakCases, matmulLadderCases } from '../../bench/cases.ts';
import { opCase, programCase, uniformData, type Expected } from '../../bench/case-kit.ts';
import type { BenchCase, CaseRun } from '../../bench/harness.ts';

export type LadderOp = 'matmul' | 'conv2d' | 'conv2dStride1';
/** The ladder's convolution ops: one layer each, at several batch sizes. */
export type ConvLadderOp = Exclude<LadderOp, 'matmul'>;

/** Every op of the ladder, in the page's order. */
export const LADDER_OPS: readonly LadderOp[] = ['matmul', 'conv2d', 'conv2dStride1'];

/** Throws unless `op` is one of LADDER_OPS (the hooks take it from a test, untyped at run time). */
export function checkLadderOp(op: string): asserts op is LadderOp {
  if (!(LADDER_OPS as readonly string[]).includes(op)) throw new RangeError(`ladder: operation '${op}' is not one of ${LADDER_OPS.join(', ')}`);
}

export interface Rung {
  variant: string;
  /** The one idea this rung adds, in a line (the kernel file's header says more). */
  idea: string;
}

const MATMUL_IDEAS: Record<MatmulVariant, string> = {
  naive: 'one invocation per output: a row of A and a column of B from global memory',
  tiled: '16×16 tiles of A and B shared through workgroup memory: each load reused 16 times',
  blocked: 'register blocking: each invocation computes a 4×4 block of a 64×64 tile',
  vec4: 'the same tiles, every load and store four floats wide, 32 deep in k',
  direct: '8×8 outputs per invocation straight from global memory: no tiles, no barriers',
};

const CONV_IDEAS: Record<ConvVariant, string> = {
  naive: 'one invocation per output: every tap and channel loaded for each one',
  direct: '8×8 outputs per invocation (8 pixels × 8 channels), taps outside, channels inside, no barriers',
  subgroup: 'direct, but the 8 weights of a step loaded once per subgroup and handed round with subgroupBroadcast',
  window: 'subgroup, with each block neighbouring pixels of one row: a kernel row\'s taps read one window of inputs, each loaded once',
  blocked: "the matmul's v3 over the im2col matrix: 64×64 tiles staged in workgroup memory, a 4×4 block per invocation",
  winograd: 'Winograd F(2×2, 3×3) and F(2×2, 5×5): 2×2 output tiles as 16 (36) products per channel pair instead of 36 (100), batched matmuls between transforms (stride 1 only)',
};

/**
 * The rungs of an operation, in ladder order; a convolution's 'subgroup' only where the device has
 * subgroups, and only the rungs whose shape rule the op's layer fits ('winograd' is for stride-1
 * 3×3 and 5×5 kernels: conv2dStride1's layer, not conv2d's 5×5 stride-2 one).
 */
export function rungs(op: LadderOp, hasSubgroups: boolean): Rung[] {
  checkLadderOp(op);
  if (op === 'matmul') return kernels.MATMUL_VARIANTS.map((variant) => ({ variant, idea: MATMUL_IDEAS[variant] }));
  return kernels.CONV_VARIANTS
    .filter((v) => hasSubgroups || !kernels.SUBGROUP_CONV_VARIANTS.includes(v))
    .filter((v) => v !== 'winograd' || kernels.winogradFits('forward', convGeometry(op, 1)))
    .map((variant) => ({ variant, idea: CONV_IDEAS[variant] }));
}

/** The sizes the chart runs: matmul N (N×N·N×N), conv2d batch. A CPU adapter gets small ones. */
export function ladderSizes(op: LadderOp, isSoftware: boolean): number[] {
  if (op === 'matmul') return isSoftware ? [64, 128, 256] : [256, 512, 1024, 2048];
  return isSoftware ? [1, 2, 4] : [16, 64, 256];
}

/** What a size means, for labels. */
export function sizeLabel(op: LadderOp, size: number): string {
  return op === 'matmul' ? `${size}×${size}·${size}×${size}` : `batch ${size}`;
}

export function describeOp(op: LadderOp): string {
  if (op === 'matmul') return 'C = A·B, square N×N matrices, f32';
  if (op === 'conv2d') return "conv2d 5×5, stride 2, 'same': 14×14×64 → 7×7×128 (the DCGAN discriminator's second layer), f32";
  return "conv2d 5×5, stride 1, 'same': 7×7×256 → 7×7×128 (the DCGAN generator's first layer, a stride-1 transposed convolution, as the convolution it equals: the same sums with the kernel rotated by 180°), f32";
}

// ---------------------------------------------------------------------------- matmul

function squareShape(n: number): MatmulShape {
  return { batch: 1, m: n, n, k: n, transA: false, transB: false, aBatchStride: n * n, bBatchStride: n * n };
}

// ---------------------------------------------------------------------------- conv2d

/**
 * A convolution op's layer at a batch size: conv2d's, stride 2 on 14×14×64 (TensorFlow's 'same'
 * padding: 1 before, 2 after); conv2dStride1's, stride 1 on 7×7×256 ('same': 2 on every side).
 */
export function convGeometry(op: ConvLadderOp, batch: number): ConvGeometry {
  if (op === 'conv2d') return kernels.conv2dGeometry([batch, 14, 14, 64], [5, 5, 64, 128], 2, 'same');
  if (op === 'conv2dStride1') return kernels.conv2dGeometry([batch, 7, 7, 256], [5, 5, 256, 128], 1, 'same');
  throw new RangeError(`convGeometry: '${String(op)}' is not a convolution of the ladder (conv2d, conv2dStride1)`);
}

const NO_EPILOGUE = { hasBias: false, activation: 'linear', alpha: 0 } as const;

/** f32 sums of k terms of size ≤ 1 (the bench's matmul tolerance). */
function tolerance(k: number): { rtol: number; atol: number } {
  return { rtol: 1e-4, atol: 2e-6 * k + 1e-5 };
}

/** The reference output: all of it for a few images, else the first and last image only. */
function convExpected(x: Float64Array, w: Float64Array, g: ConvGeometry): Expected {
  if (g.batch <= 4) return kernels.conv2dReference(x, w, g);
  const inPer = g.inH * g.inW * g.inC;
  const outPer = g.outH * g.outW * g.outC;
  const one = { ...g, batch: 1 };
  const values = new Float64Array(2 * outPer);
  values.set(kernels.conv2dReference(x.subarray(0, inPer), w, one), 0);
  values.set(kernels.conv2dReference(x.subarray((g.batch - 1) * inPer), w, one), outPer);
  const indices = new Uint32Array(2 * outPer);
  for (let i = 0; i < outPer; i++) {
    indices[i] = i;
    indices[outPer + i] = (g.batch - 1) * outPer + i;
  }
  return { values, indices };
}

/**
 * A convolution rung's bench case. A one-Program rung runs its Program (programCase); winograd,
 * several launches, runs the op as the bench's winograd rows do (opCase over conv2dRaw with the
 * variant named: winogradRaw's launches). Both with the same inputs, reference and tolerance.
 */
function convCase(op: ConvLadderOp, variant: ConvVariant, batch: number): BenchCase {
  const g = convGeometry(op, batch);
  const programs = convPrograms(g, variant);
  const xShape = [g.batch, g.inH, g.inW, g.inC];
  const wShape = [g.kH, g.kW, g.inC, g.outC];
  const reference = ([x64, w64]: Float64Array[]): Expected[] => [convExpected(x64, w64, g)];
  const tol = tolerance(g.kH * g.kW * g.inC);
  return {
    group: 'conv',
    kernel: op,
    // The Program that writes the output names the variant that ran (winograd's last launch).
    variant: ranLabel(variant, programs[programs.length - 1]),
    shape: sizeLabel(op, batch),
    metric: 'flops',
    setup: (): CaseRun => {
      const x = uniformData(xShape.reduce((a, b) => a * b), 21);
      const w = uniformData(wShape.reduce((a, b) => a * b), 22);
      if (programs.length > 1) {
        return opCase({
          inputs: [{ data: x, shape: xShape }, { data: w, shape: wShape }],
          fn: ([xt, wt]) => conv2dRaw(xt, wt, g, NO_EPILOGUE, undefined, variant),
          reference,
          tolerance: tol,
        });
      }
      return programCase({
        program: programs[0],
        data: [x, w],
        bind: [0, 1, 0], // x, w, and x again for the unused bias binding
        outputs: [g.batch * g.outH * g.outW * g.outC],
        reference,
        tolerance: tol,
      });
    },
  };
}

/**
 * The Programs a convolution rung launches, in order: one for every variant but winograd; for
 * winograd (winogradPrograms, run by winogradRaw) the weight transform, then the input transform,
 * the batched matmul M = V · U (winogradMatmulProgram: the matmul variant the kernel policy picks)
 * and the output transform of the first chunk of images. Later chunks, where V or M would exceed
 * a storage binding of `maxBindingBytes`, repeat the last three on other images (winogradChunks).
 */
function convPrograms(g: ConvGeometry, variant: ConvVariant, maxBindingBytes = Infinity): Program[] {
  if (variant !== 'winograd') return [kernels.conv2dProgram(g, NO_EPILOGUE, withSubgroupLanes(variant))];
  const plan = kernels.winogradPrograms('forward', g, NO_EPILOGUE, 'conv2d', maxBindingBytes);
  const first = plan.chunks[0];
  return [plan.weights, first.input, winogradMatmulProgram(first, plan.uShape), first.output];
}

/** Chunks of images winograd runs a convolution rung in, for storage bindings of `maxBindingBytes` (1 where V and M fit). */
export function winogradChunks(op: ConvLadderOp, batch: number, maxBindingBytes: number): number {
  return kernels.winogradPrograms('forward', convGeometry(op, batch), NO_EPILOGUE, 'conv2d', maxBindingBytes).chunks.length;
}

// ---------------------------------------------------------------------------- both

/**
 * The Programs of a rung at a size, in launch order: what the page shows. One for every rung but
 * winograd, which launches four (convPrograms: its transforms around the batched matmul). Pure (no
 * device): the WGSL, the grids, the override constants. The builders build exactly the rung asked
 * for (a shape a rung cannot run, vec4 off its multiple-of-4 rule, is an error, never another
 * rung), and each Program's name says what runs. `maxBindingBytes` (the device's largest storage
 * binding; default unlimited) only decides how many images winograd's first chunk holds.
 */
export function rungPrograms(op: LadderOp, variant: string, size: number, maxBindingBytes = Infinity): Program[] {
  checkLadderOp(op);
  if (op === 'matmul') return [kernels.matmulProgram(squareShape(size), NO_EPILOGUE, variant as MatmulVariant)];
  return convPrograms(convGeometry(op, size), variant as ConvVariant, maxBindingBytes);
}

/** The rung the Program runs, from its name: the variant asked for, or "asked→ran" should they ever differ. */
export function ranLabel(variant: string, program: Program): string {
  const ran = program.name.split('.').pop() ?? variant;
  return ran === variant ? variant : `${variant}→${ran}`;
}

/** The bench case of a rung at a size. */
export function rungCase(op: LadderOp, variant: string, size: number): BenchCase {
  checkLadderOp(op);
  if (op === 'matmul') return matmulLadderCases([size], [variant as MatmulVariant])[0];
  return convCase(op, variant as ConvVariant, size);
}

/** The adapter's copy ceiling, as `npm run bench` measures it (the quick, smaller shapes on a CPU adapter); the FMA ceiling is a search (bench/peak-search.ts). */
export function copyPeakBenchCases(isSoftware: boolean): BenchCase[] {
  return copyPeakCases(isSoftware);
}
