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

import { kernels, withSubgroupLanes } from '../../src/index.ts';
import type { ConvGeometry, ConvVariant, MatmulShape, MatmulVariant, Program } from '../../src/kernels/index.ts';
import { copyPeakCases, matmulLadderCases } from '../../bench/cases.ts';
import { programCase, uniformData, type Expected } from '../../bench/case-kit.ts';
import type { BenchCase } from '../../bench/harness.ts';

export type LadderOp = 'matmul' | 'conv2d';

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
  blocked: "the matmul's v3 over the im2col matrix: 64×64 tiles staged in workgroup memory, a 4×4 block per invocation",
  winograd: 'Winograd F(2×2, 3×3) and F(2×2, 5×5): 2×2 output tiles as 16 (36) products per channel pair instead of 36 (100), batched matmuls between transforms (stride 1 only)',
};

/**
 * The rungs of an operation, in ladder order; conv2d's 'subgroup' only where the device has
 * subgroups, and only the rungs whose shape rule the ladder's layer fits ('winograd' is for
 * stride-1 3×3 and 5×5 kernels: not this 5×5 stride-2 layer).
 */
export function rungs(op: LadderOp, hasSubgroups: boolean): Rung[] {
  if (op === 'matmul') return kernels.MATMUL_VARIANTS.map((variant) => ({ variant, idea: MATMUL_IDEAS[variant] }));
  return kernels.CONV_VARIANTS
    .filter((v) => hasSubgroups || !kernels.SUBGROUP_CONV_VARIANTS.includes(v))
    .filter((v) => v !== 'winograd' || kernels.winogradFits('forward', convGeometry(1)))
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
  return op === 'matmul'
    ? 'C = A·B, square N×N matrices, f32'
    : "conv2d 5×5, stride 2, 'same': 14×14×64 → 7×7×128 (the DCGAN discriminator's second layer), f32";
}

// ---------------------------------------------------------------------------- matmul

function squareShape(n: number): MatmulShape {
  return { batch: 1, m: n, n, k: n, transA: false, transB: false, aBatchStride: n * n, bBatchStride: n * n };
}

// ---------------------------------------------------------------------------- conv2d

/** The layer's geometry at a batch size (TensorFlow's 'same' padding: 1 before, 2 after). */
export function convGeometry(batch: number): ConvGeometry {
  return kernels.conv2dGeometry([batch, 14, 14, 64], [5, 5, 64, 128], 2, 'same');
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

function convCase(variant: ConvVariant, batch: number): BenchCase {
  const g = convGeometry(batch);
  const program = kernels.conv2dProgram(g, NO_EPILOGUE, withSubgroupLanes(variant));
  return {
    group: 'conv',
    kernel: 'conv2d',
    variant: ranLabel(variant, program),
    shape: sizeLabel('conv2d', batch),
    metric: 'flops',
    setup: () => {
      const x = uniformData(g.batch * g.inH * g.inW * g.inC, 21);
      const w = uniformData(g.kH * g.kW * g.inC * g.outC, 22);
      return programCase({
        program,
        data: [x, w],
        bind: [0, 1, 0], // x, w, and x again for the unused bias binding
        outputs: [g.batch * g.outH * g.outW * g.outC],
        reference: ([x64, w64]) => [convExpected(x64, w64, g)],
        tolerance: tolerance(g.kH * g.kW * g.inC),
      });
    },
  };
}

// ---------------------------------------------------------------------------- both

/**
 * The Program of a rung at a size: what the page shows. Pure (no device): the WGSL, the grid,
 * the override constants. The builders build exactly the rung asked for (a shape a rung cannot
 * run, vec4 off its multiple-of-4 rule, is an error, never another rung), and the Program's
 * name says what runs.
 */
export function rungProgram(op: LadderOp, variant: string, size: number): Program {
  if (op === 'matmul') return kernels.matmulProgram(squareShape(size), NO_EPILOGUE, variant as MatmulVariant);
  return kernels.conv2dProgram(convGeometry(size), NO_EPILOGUE, withSubgroupLanes(variant as ConvVariant));
}

/** The rung the Program runs, from its name: the variant asked for, or "asked→ran" should they ever differ. */
export function ranLabel(variant: string, program: Program): string {
  const ran = program.name.split('.').pop() ?? variant;
  return ran === variant ? variant : `${variant}→${ran}`;
}

/** The bench case of a rung at a size. */
export function rungCase(op: LadderOp, variant: string, size: number): BenchCase {
  if (op === 'matmul') return matmulLadderCases([size], [variant as MatmulVariant])[0];
  return convCase(variant as ConvVariant, size);
}

/** The adapter's copy ceiling, as `npm run bench` measures it (the quick, smaller shapes on a CPU adapter); the FMA ceiling is a search (bench/peak-search.ts). */
export function copyPeakBenchCases(isSoftware: boolean): BenchCase[] {
  return copyPeakCases(isSoftware);
}
