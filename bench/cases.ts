// The list of bench cases. A case is data plus a `setup` that builds it on the device (see
// harness.ts); adding a kernel to the bench means adding entries here.
//
// Sections: peak (the adapter's measured ceiling), matmul (the square ladder), dense (matmuls at
// the models' layer shapes: forward, and the two products of the backward pass), elementwise,
// reduce, random, and the convolution family at the models' shapes (conv2d and conv2dTranspose
// forward, input-gradient and weight-gradient, a row per conv variant the device runs; batchNorm
// forward and forward+backward; dropout). Every row checks its result against the float64
// references of the kernel files (on a sample where the full check would take seconds); rows with
// a `peer` are also timed in TensorFlow.js with --peer.
// Whole training steps are not cases: bench/train.ts times those.

import { fmaPeakOutputSize, fmaPeakProgram, fmaPeakReference, fmaShapeName, copyPeakProgram, FMA_BASELINE, type FmaShape } from '../src/kernels/peak.ts';
import { matmulProgram, matmulReference, vec4Fits, matmulKernelKey, MATMUL_VARIANTS, type MatmulShape, type MatmulVariant } from '../src/kernels/matmul.ts';
import { matmulVariantFor, type MatmulChoice } from '../src/core/kernel-policy.ts';
import { binaryProgram, binaryReference, unaryProgram, unaryReference, type BinaryOp, type UnaryOp } from '../src/kernels/elementwise.ts';
import { reduceProgram, reduceReference, type ReduceOp } from '../src/kernels/reduce.ts';
import { randomProgram, randomReference, type Distribution } from '../src/kernels/random.ts';
import { sizeOf } from '../src/kernels/shapes.ts';
import { sum } from '../src/core/ops.ts';
import { conv2dWeightGradRaw, conv2dInputGradRaw, conv2dRaw, conv2dTranspose } from '../src/core/conv-ops.ts';
import { convVariantFor, getConvVariant } from '../src/core/kernel-policy.ts';
import { batchNorm } from '../src/core/batchnorm-ops.ts';
import { conv2dWeightGradReference, conv2dInputGradReference, conv2dReference, convKernelKey, type ConvVariant } from '../src/kernels/conv/conv2d.ts';
import { getGpu } from '../src/core/device.ts';
import { conv2dTransposeReference } from '../src/kernels/conv/conv2d-transpose.ts';
import { winogradFits } from '../src/kernels/conv/conv2d-winograd.ts';
import { batchNormGradReference, batchNormReference } from '../src/kernels/batchnorm.ts';
import { dropoutProgram, dropoutReference } from '../src/kernels/dropout.ts';
import { conv2dGeometry, conv2dTransposeGeometry, convFlops as convFlopsOf, type ConvGeometry } from '../src/kernels/conv/geometry.ts';
import { programCase, opCase, uniformData, type Expected } from './case-kit.ts';
import type { BenchCase, CaseRun, Tolerance } from './harness.ts';
import { CONV_LAYERS, DENSE_LAYERS, GAN_ACTIVATIONS, convFlops, convOutShape, convWeightShape, type ConvLayer, type DenseLayer } from './model-shapes.ts';

export const DEFAULT_SIZES = [256, 512, 1024, 2048];
export const QUICK_SIZES = [256];

export interface CaseListOptions {
  quick: boolean;
  /** Square matmul sizes of the ladder. */
  sizes: number[];
}

const dims = (shape: readonly number[]) => shape.join('×');

// ------------------------------------------------------------------------------ peak

/**
 * Invocations of an FMA peak dispatch: a multiple of every searched workgroup size. On a CPU
 * driver 16,384 (64 workgroups at 256 wide) keep both of llvmpipe's threads busy; a GPU needs
 * hundreds of thousands in flight to fill its cores (a large one holds ~2,000 threads on each of
 * ~100 multiprocessors), so it gets 64× that.
 */
export const FMA_PEAK_INVOCATIONS = 16384;
export const FMA_PEAK_INVOCATIONS_GPU = 64 * FMA_PEAK_INVOCATIONS;

/** The invocations of an FMA peak dispatch on this kind of adapter. */
export function fmaPeakInvocations(isSoftware: boolean): number {
  return isSoftware ? FMA_PEAK_INVOCATIONS : FMA_PEAK_INVOCATIONS_GPU;
}

/**
 * Flops per invocation and iteration, over all of its chains, × iterations: every shape does the
 * same work (chains × width × iterations = this), so each dispatch lasts about as long.
 */
export function fmaPeakIterations(shape: FmaShape, work: number): number {
  return Math.max(1, Math.round(work / (shape.chains * shape.width)));
}

/** One shape of the FMA peak (src/kernels/peak.ts) as a bench row; `work` as fmaPeakIterations. */
export function fmaPeakCase(shape: FmaShape, work: number, invocations = FMA_PEAK_INVOCATIONS): BenchCase {
  const workgroups = Math.ceil(invocations / shape.workgroup);
  const iterations = fmaPeakIterations(shape, work);
  return {
    group: 'peak',
    kernel: 'fma',
    variant: fmaShapeName(shape),
    shape: `${workgroups * shape.workgroup} threads × ${iterations} it`,
    metric: 'flops',
    quick: true,
    setup: () =>
      programCase({
        program: fmaPeakProgram(workgroups, iterations, shape),
        data: [],
        outputs: [fmaPeakOutputSize(workgroups, shape)],
        reference: () => [fmaPeakReference(workgroups, iterations, shape)],
        // Sums of up to 32 chains near 1 each, after up to 65,536 f32 roundings that decay by a.
        tolerance: { rtol: 1e-4, atol: 1e-4 },
      }),
  };
}

/** Work (chains × width × iterations) of the FMA rows the bench times at length. */
export function fmaPeakWork(quick: boolean): number {
  return quick ? 4096 : 16384;
}

/** The two shapes of the copy peak. */
export function copyPeakCases(quick: boolean): BenchCase[] {
  const floats = quick ? 1 << 20 : 1 << 24;
  // Two shapes of the same copy: the GPU-style one and the CPU-driver-friendly one (see
  // src/kernels/peak.ts); the run's bandwidth peak is the faster.
  return ([[256, 1], [8, 64]] as const).map(([workgroup, per]): BenchCase => ({
    group: 'peak',
    kernel: 'copy',
    variant: `${workgroup}×${per}`,
    shape: `${floats / (1 << 18)} MiB`,
    metric: 'bytes',
    quick: true,
    setup: () => {
      const data = uniformData(floats, 11);
      return programCase({
        program: copyPeakProgram(floats, workgroup, per),
        data: [data],
        outputs: [floats],
        reference: ([x]) => [x],
        tolerance: { rtol: 0, atol: 0 },
      });
    },
  }));
}

/** The baseline FMA shape and the copies, unsearched (the bench searches the FMA shapes: bench/peak-search.ts). */
export function peakCases(quick: boolean, invocations = FMA_PEAK_INVOCATIONS): BenchCase[] {
  return [fmaPeakCase(FMA_BASELINE, fmaPeakWork(quick), invocations), ...copyPeakCases(quick)];
}

// ------------------------------------------------------------------------------ matmul

/** f32 accumulation over k terms of size ≤ 1: the error grows with k. */
function matmulTolerance(k: number): Tolerance {
  return { rtol: 1e-4, atol: 2e-6 * k + 1e-5 };
}

const FULL_REFERENCE_LIMIT = 2 ** 27; // multiply-adds; beyond this the JS reference takes seconds

/** Row i of op(A) for batch 0, as a plain array. */
function rowOfA(a: Float64Array, s: MatmulShape, i: number): Float64Array {
  const out = new Float64Array(s.k);
  for (let p = 0; p < s.k; p++) out[p] = s.transA ? a[p * s.m + i] : a[i * s.k + p];
  return out;
}

/**
 * The reference of a matmul case: in full when affordable, else (batch 1 only) for the first and
 * last 16 rows of C, through the same matmulReference on those rows of op(A).
 */
function matmulExpected(
  s: MatmulShape,
  a: Float64Array,
  b: Float64Array,
  bias: Float64Array | undefined,
  activation: 'linear' | 'relu',
): Expected {
  if (s.batch * s.m * s.n * s.k <= FULL_REFERENCE_LIMIT || s.batch !== 1) {
    return matmulReference(a, b, s, bias, activation);
  }
  const rows = [...new Set([...Array(16).keys(), ...Array.from({ length: 16 }, (_, i) => s.m - 16 + i)])].filter((r) => r >= 0 && r < s.m);
  const subA = new Float64Array(rows.length * s.k);
  rows.forEach((r, j) => subA.set(rowOfA(a, s, r), j * s.k));
  const sub: MatmulShape = { ...s, m: rows.length, transA: false, aBatchStride: 0 };
  const values = matmulReference(subA, b, sub, bias, activation);
  const indices = new Uint32Array(rows.length * s.n);
  rows.forEach((r, j) => {
    for (let c = 0; c < s.n; c++) indices[j * s.n + c] = r * s.n + c;
  });
  return { values, indices };
}

interface MatmulCaseSpec {
  group: string;
  kernel: string;
  shapeLabel: string;
  s: MatmulShape;
  variant: MatmulChoice;
  bias: boolean;
  activation: 'linear' | 'relu';
  quick?: boolean;
  size?: number;
  slow?: boolean;
}

function matmulCase(spec: MatmulCaseSpec): BenchCase {
  const { s, variant } = spec;
  const ran = matmulVariantFor(s, variant);
  // The row names what really ran: 'auto→direct'.
  const label = variant === 'auto' ? `auto→${matmulKernelKey(ran)}` : variant;
  const aShape = s.transA ? [s.k, s.m] : [s.m, s.k];
  const bShape = s.transB ? [s.n, s.k] : [s.k, s.n];
  return {
    group: spec.group,
    kernel: spec.kernel,
    variant: label,
    shape: spec.shapeLabel,
    metric: 'flops',
    quick: spec.quick,
    size: spec.size,
    slow: spec.slow,
    setup: () => {
      const a = uniformData(s.batch * s.m * s.k, 1);
      const b = uniformData(s.batch * s.k * s.n, 2);
      const bias = uniformData(s.n, 3);
      const program = matmulProgram(s, { hasBias: spec.bias, activation: spec.activation, alpha: 0 }, ran);
      return programCase({
        program,
        data: [a, b, bias],
        bind: spec.bias ? [0, 1, 2] : [0, 1, 0],
        outputs: [s.batch * s.m * s.n],
        reference: ([a64, b64, bias64]) => [matmulExpected(s, a64, b64, spec.bias ? bias64 : undefined, spec.activation)],
        tolerance: matmulTolerance(s.k),
      });
    },
    peer: { op: 'matmul', a: aShape, b: bShape, transA: s.transA, transB: s.transB, bias: spec.bias, activation: spec.activation },
  };
}

function shape2d(m: number, n: number, k: number, transA = false, transB = false): MatmulShape {
  return { batch: 1, m, n, k, transA, transB, aBatchStride: m * k, bBatchStride: k * n };
}

export function matmulLadderCases(sizes: number[], variants: MatmulVariant[] = MATMUL_VARIANTS): BenchCase[] {
  const out: BenchCase[] = [];
  for (const n of sizes) {
    for (const variant of variants) {
      if (variant === 'vec4' && !vec4Fits(shape2d(n, n, n))) continue; // vec4 runs multiples of 4 only
      out.push(
        matmulCase({
          group: 'matmul',
          kernel: 'matmul',
          shapeLabel: `${n}×${n}·${n}×${n}`,
          s: shape2d(n, n, n),
          variant,
          bias: false,
          activation: 'linear',
          quick: n <= 256,
          size: n,
          // The first two rungs need 5–50 s a repetition at these sizes on a CPU adapter.
          slow: n >= 1024 && (variant === 'naive' || variant === 'tiled'),
        }),
      );
    }
  }
  return out;
}

/** A dense layer's three products: y = x·W (+bias, act), dX = dY·Wᵀ, dW = Xᵀ·dY. */
export function denseCases(layers: DenseLayer[] = DENSE_LAYERS, variants: MatmulChoice[] = [...MATMUL_VARIANTS, 'auto']): BenchCase[] {
  const out: BenchCase[] = [];
  for (const l of layers) {
    const { batch: b } = l;
    const products: [string, string, MatmulShape, boolean][] = [
      ['fwd', `${b}×${l.in}·${l.in}×${l.out}`, shape2d(b, l.out, l.in), true],
      ['dX', `${b}×${l.out}·(${l.in}×${l.out})ᵀ`, shape2d(b, l.in, l.out, false, true), false],
      ['dW', `(${b}×${l.in})ᵀ·${b}×${l.out}`, shape2d(l.in, l.out, b, true, false), false],
    ];
    for (const [pass, label, s, forward] of products) {
      for (const variant of variants) {
        if (variant === 'vec4' && !vec4Fits(s)) continue; // vec4 runs multiples of 4 only
        out.push(
          matmulCase({
            group: 'dense',
            kernel: `${l.name} ${pass}`,
            shapeLabel: label + (forward && l.bias ? ` +bias` : '') + (forward && l.activation !== 'linear' ? ` ${l.activation}` : ''),
            s,
            variant,
            bias: forward && l.bias,
            activation: forward ? l.activation : 'linear',
            quick: l.name === 'mlp.fc1' && pass === 'fwd',
          }),
        );
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------------------ elementwise, reduce, random

const ELEMENTWISE_TOLERANCE: Tolerance = { rtol: 1e-5, atol: 1e-6 };

function unaryCase(op: UnaryOp, shape: number[], alpha: number, label: string, quick = false): BenchCase {
  const size = sizeOf(shape);
  const peerFn = op === 'relu' || op === 'leakyRelu' || op === 'sigmoid' || op === 'tanh' ? op : undefined;
  return {
    group: 'elementwise',
    kernel: op,
    variant: '-',
    shape: `${dims(shape)} ${label}`.trim(),
    metric: 'bytes',
    quick,
    setup: () =>
      programCase({
        program: unaryProgram(op, size, alpha),
        data: [uniformData(size, 5, -3, 3)],
        outputs: [size],
        reference: ([x]) => [unaryReference(op, x, alpha)],
        tolerance: ELEMENTWISE_TOLERANCE,
      }),
    peer: peerFn ? { op: 'unary', fn: peerFn, shape, alpha } : undefined,
  };
}

function binaryCase(op: BinaryOp, aShape: number[], bShape: number[], label: string, quick = false): BenchCase {
  const outShape = aShape;
  return {
    group: 'elementwise',
    kernel: op,
    variant: '-',
    shape: `${dims(aShape)}${bShape.length ? ` ${op === 'add' ? '+' : '·'} ${dims(bShape)}` : ''} ${label}`.trim(),
    metric: 'bytes',
    quick,
    setup: () =>
      programCase({
        program: binaryProgram(op, aShape, bShape, outShape),
        data: [uniformData(sizeOf(aShape), 6), uniformData(sizeOf(bShape), 7)],
        outputs: [sizeOf(outShape)],
        reference: ([a, b]) => [binaryReference(op, a, aShape, b, bShape, outShape)],
        tolerance: ELEMENTWISE_TOLERANCE,
      }),
    peer: op === 'add' || op === 'mul' ? { op: 'binary', fn: op, a: aShape, b: bShape } : undefined,
  };
}

function reduceCase(op: ReduceOp, outer: number, length: number, inner: number, shape: number[], axes: number[], label: string, quick = false): BenchCase {
  return {
    group: 'reduce',
    kernel: `${op}${inner === 1 ? 'Rows' : 'Columns'}`,
    variant: '-',
    shape: `${dims(shape)} → ${label}`,
    metric: 'bytes',
    quick,
    setup: () =>
      programCase({
        program: reduceProgram(op, outer, length, inner),
        data: [uniformData(outer * length * inner, 8)],
        outputs: [outer * inner],
        reference: ([x]) => [reduceReference(op, x, outer, length, inner)],
        tolerance: { rtol: 1e-5, atol: 1e-7 * length + 1e-5 },
      }),
    peer: op === 'sum' ? { op: 'sum', shape, axes } : undefined,
  };
}

function randomCase(dist: Distribution, shape: number[], label: string): BenchCase {
  const size = sizeOf(shape);
  return {
    group: 'random',
    kernel: dist === 'normal' ? 'randn' : 'rand',
    variant: '-',
    shape: `${dims(shape)} ${label}`.trim(),
    metric: 'bytes',
    setup: () =>
      programCase({
        program: randomProgram(dist, size, 1234, 5, 0, 1),
        data: [],
        outputs: [size],
        reference: () => [randomReference(dist, size, 1234, 5, 0, 1)],
        tolerance: { rtol: 1e-4, atol: 1e-4 },
      }),
  };
}

export function elementwiseCases(): BenchCase[] {
  const vaeAct = [128, 14, 14, 32];
  const ganAct = [256, 14, 14, 64];
  return [
    unaryCase('relu', vaeAct, 0, 'vae.enc.conv1 out', true),
    unaryCase('sigmoid', [128, 28, 28, 1], 0, 'vae.dec out'),
    unaryCase('tanh', [256, 28, 28, 1], 0, 'gan.gen out'),
    binaryCase('add', ganAct, ganAct, 'same shape'),
    binaryCase('add', ganAct, [64], 'bias broadcast'),
    binaryCase('reluGrad', vaeAct, vaeAct, 'relu backward'),
    ...GAN_ACTIVATIONS.map((a) => unaryCase('leakyRelu', a.shape, 0.3, `${a.name} out`)),
  ];
}

export function reduceCases(): BenchCase[] {
  const [b, h, w, c] = [256, 14, 14, 64];
  return [
    reduceCase('sum', 1, b * h * w * c, 1, [b, h, w, c], [0, 1, 2, 3], 'scalar', true),
    reduceCase('sum', 1, b * h * w, c, [b, h, w, c], [0, 1, 2], `[${c}] (per channel)`),
    reduceCase('sum', 128, 784, 1, [128, 784], [1], '[128] (per image)'),
    reduceCase('max', 128, 10, 1, [128, 10], [1], '[128] (per row)'),
    {
      // The same per-channel sum through the op layer (what a conv layer's bias gradient calls).
      group: 'reduce',
      kernel: 'sum op',
      variant: '-',
      shape: `${b}×${h}×${w}×${c} → [${c}] (axes 0,1,2)`,
      metric: 'bytes',
      setup: () => {
        const shape = [b, h, w, c];
        return opCase({
          inputs: [{ data: uniformData(sizeOf(shape), 9), shape }],
          fn: ([x]) => sum(x, [0, 1, 2]),
          reference: ([x]) => [reduceReference('sum', x, 1, b * h * w, c)],
          tolerance: { rtol: 1e-5, atol: 1e-7 * b * h * w + 1e-5 },
        });
      },
    },
  ];
}

export function randomCases(): BenchCase[] {
  return [randomCase('normal', [256, 100], 'gan noise'), randomCase('uniform', [256, 14, 14, 64], 'dropout mask size')];
}

// ------------------------------------------------------------------------------ convolution family

type ConvRef = (a: Float64Array, b: Float64Array, g: ConvGeometry) => Float64Array;

/** The images [from, from + count) of an NHWC batch. */
function imagesOf(t: Float64Array, perImage: number, from: number, count: number): Float64Array {
  return t.subarray(from * perImage, (from + count) * perImage);
}

/**
 * Expected output of a batch-major product (forward, input-gradient): in full when affordable,
 * else only the first and last images, through the same reference on those images alone.
 */
function perImageExpected(ref: ConvRef, a: Float64Array, b: Float64Array, g: ConvGeometry, aPerImage: number, outPerImage: number): Expected {
  if (convFlopsOf(g) / 2 <= FULL_REFERENCE_LIMIT || g.batch <= 2) return ref(a, b, g);
  const one = { ...g, batch: 1 };
  const first = ref(imagesOf(a, aPerImage, 0, 1), b, one);
  const last = ref(imagesOf(a, aPerImage, g.batch - 1, 1), b, one);
  const values = new Float64Array(2 * outPerImage);
  values.set(first, 0);
  values.set(last, outPerImage);
  const indices = new Uint32Array(2 * outPerImage);
  for (let i = 0; i < outPerImage; i++) {
    indices[i] = i;
    indices[outPerImage + i] = (g.batch - 1) * outPerImage + i;
  }
  return { values, indices };
}

/**
 * Expected weight-gradient: in full when affordable, else the slice of input channel 0 (every
 * tap and output channel), summed over the whole batch by the same reference on that channel.
 */
function weightGradExpected(x: Float64Array, dy: Float64Array, g: ConvGeometry): Expected {
  if (convFlopsOf(g) / 2 <= FULL_REFERENCE_LIMIT || g.inC === 1) return conv2dWeightGradReference(x, dy, g);
  const pixels = g.batch * g.inH * g.inW;
  const x0 = new Float64Array(pixels);
  for (let p = 0; p < pixels; p++) x0[p] = x[p * g.inC];
  const values = conv2dWeightGradReference(x0, dy, { ...g, inC: 1 });
  const indices = new Uint32Array(values.length);
  for (let tap = 0; tap < g.kH * g.kW; tap++) {
    for (let oc = 0; oc < g.outC; oc++) indices[tap * g.outC + oc] = tap * g.inC * g.outC + oc;
  }
  return { values, indices };
}

type ConvPass = 'fwd' | 'dX' | 'dW';

/**
 * One pass of a layer through the raw core functions (what conv2d / conv2dTranspose launch for
 * it, the weight-gradient's split-K sum included). `g` is the forward convolution's view: for a
 * transposed layer it maps the transposed output back to the transposed input.
 */
/** The geometry the kernels see for a layer (for a transposed layer, its forward convolution's). */
function layerGeometry(l: ConvLayer): ConvGeometry {
  const xShape = [l.batch, l.inH, l.inW, l.inC];
  const wShape = convWeightShape(l);
  return l.transposed ? conv2dTransposeGeometry(xShape, wShape, l.stride, l.padding) : conv2dGeometry(xShape, wShape, l.stride, l.padding);
}

function convSetup(l: ConvLayer, pass: ConvPass, variant: ConvVariant | 'auto'): () => CaseRun {
  return () => {
    const xShape = [l.batch, l.inH, l.inW, l.inC];
    const wShape = convWeightShape(l);
    const yShape = convOutShape(l);
    const g = layerGeometry(l);
    // The geometry's own input (gIn) and output (gOut) tensors: for a transposed layer, the
    // transposed op's output and input.
    const gIn = [g.batch, g.inH, g.inW, g.inC];
    const gOut = [g.batch, g.outH, g.outW, g.outC];
    const inPer = g.inH * g.inW * g.inC;
    const outPer = g.outH * g.outW * g.outC;
    const w = { data: uniformData(sizeOf(wShape), 22), shape: wShape };
    const kConv = g.kH * g.kW * g.inC; // forward conv's reduction
    const kGrad = g.kH * g.kW * g.outC; // input-gradient's reduction (upper bound)
    const kW = g.batch * g.outH * g.outW;
    // forward conv reads gIn, writes gOut; input-grad reads gOut, writes gIn.
    const conv = (src: number[]): CaseRun =>
      opCase({
        inputs: [{ data: uniformData(sizeOf(src), 21), shape: src }, w],
        fn: ([a, b]) => conv2dRaw(a, b, g, undefined, undefined, variant),
        reference: ([a, b]) => [perImageExpected(conv2dReference, a, b, g, inPer, outPer)],
        tolerance: matmulTolerance(kConv),
      });
    const inputGrad = (src: number[], transposeOp: boolean): CaseRun =>
      opCase({
        inputs: [{ data: uniformData(sizeOf(src), 21), shape: src }, w],
        fn: ([a, b]) => (transposeOp ? conv2dTranspose(a, b, { stride: l.stride, padding: l.padding, variant }) : conv2dInputGradRaw(a, b, g, variant)),
        reference: ([a, b]) => [perImageExpected(transposeOp ? conv2dTransposeReference : conv2dInputGradReference, a, b, g, outPer, inPer)],
        tolerance: matmulTolerance(kGrad),
      });
    const weightGrad = (): CaseRun =>
      opCase({
        inputs: [{ data: uniformData(sizeOf(gIn), 21), shape: gIn }, { data: uniformData(sizeOf(gOut), 23), shape: gOut }],
        fn: ([a, b]) => conv2dWeightGradRaw(a, b, g, variant),
        reference: ([a, b]) => [weightGradExpected(a, b, g)],
        tolerance: matmulTolerance(kW),
      });
    if (pass === 'dW') return weightGrad();
    if (!l.transposed) return pass === 'fwd' ? conv(xShape) : inputGrad(yShape, false);
    // conv2dTranspose: forward is the input-gradient kernel, dX the forward conv.
    return pass === 'fwd' ? inputGrad(xShape, true) : conv(yShape);
  };
}

function batchNormSetup(shape: number[], backward: boolean): () => CaseRun {
  return () => {
    const C = shape[shape.length - 1];
    const rows = sizeOf(shape) / C;
    const epsilon = 1e-3;
    return opCase({
      inputs: [
        { data: uniformData(sizeOf(shape), 31, -2, 3), shape, requiresGrad: backward },
        { data: uniformData(C, 32, 0.5, 1.5), shape: [C], requiresGrad: backward },
        { data: uniformData(C, 33), shape: [C], requiresGrad: backward },
        { data: uniformData(sizeOf(shape), 34), shape },
      ],
      grad: backward,
      fn: ([x, gamma, beta, dy]) => {
        const y = batchNorm(x, gamma, beta, { training: true, epsilon });
        if (!backward) return y;
        y.backward(dy);
        return [x.grad!, gamma.grad!, beta.grad!];
      },
      reference: ([x, gamma, beta, dy]) => {
        if (!backward) return [batchNormReference(x, gamma, beta, { rows, channels: C }, epsilon).y];
        const { dx, dGamma, dBeta } = batchNormGradReference(x, gamma, dy, { rows, channels: C }, epsilon);
        return [dx, dGamma, dBeta];
      },
      // Sums over up to 50k rows in f32 (the statistics, dγ, dβ).
      tolerance: { rtol: 1e-3, atol: 1e-7 * rows + 1e-4 },
    });
  };
}

/**
 * Rows for conv2d / conv2dTranspose (forward, input-gradient, weight-gradient), batchNorm and
 * dropout at the models' shapes, through the core functions the models call. Large layers are
 * verified on a sample (first and last images; one input channel of the weight-gradient).
 * Each convolution pass has a row for what the ops run (the kernel policy's 'auto', labelled with
 * the variant it chose for that pass, or setConvVariant's) — the quick row and the peer's — and
 * one per register-blocked variant the device runs (direct, and subgroup and window where it has
 * subgroups; window has no weight-gradient row, its weight-gradient being subgroup's),
 * and a winograd row for the forward and input-gradient passes of stride-1 3×3 layers (winogradFits).
 */
export function convFamilyCases(): BenchCase[] {
  const out: BenchCase[] = [];
  const chosen = getConvVariant();
  const variants: (ConvVariant | 'auto')[] = [chosen, ...(getGpu().info.hasSubgroups ? ['direct', 'subgroup', 'window'] as const : ['direct'] as const)];
  for (const l of CONV_LAYERS) for (const variant of new Set([...variants, 'winograd' as const])) {
    const x = [l.batch, l.inH, l.inW, l.inC];
    const w = convWeightShape(l);
    const y = convOutShape(l);
    const base = l.transposed ? 'conv2dTranspose' : 'conv2d';
    for (const pass of ['', 'InputGrad', 'WeightGrad'] as const) {
      const op = `${base}${pass}` as
        | 'conv2d' | 'conv2dInputGrad' | 'conv2dWeightGrad'
        | 'conv2dTranspose' | 'conv2dTransposeInputGrad' | 'conv2dTransposeWeightGrad';
      const short: ConvPass = pass === '' ? 'fwd' : pass === 'InputGrad' ? 'dX' : 'dW';
      const policyPass = short === 'fwd' ? (l.transposed ? 'inputGrad' : 'forward') : short === 'dX' ? (l.transposed ? 'forward' : 'inputGrad') : 'weightGrad';
      // Winograd rows where its rule holds (stride 1, 3×3), forward and input-gradient: its
      // weight-gradient is direct's, which has its row.
      if (variant === 'winograd' && !winogradFits(policyPass, layerGeometry(l))) continue;
      // The window kernels are the forward and input-gradient; their weight-gradient is subgroup's, which has its row.
      if (variant === 'window' && policyPass === 'weightGrad') continue;
      out.push({
        group: 'conv',
        kernel: `${l.name} ${short}`,
        variant: variant === 'auto' ? `auto→${convKernelKey(convVariantFor(policyPass, layerGeometry(l)))}` : variant,
        shape: `${dims(x)} * ${dims(w)} s${l.stride} → ${dims(y)}`,
        metric: 'flops',
        quick: variant === chosen && l.name === 'vae.enc.conv1' && short !== 'dX',
        setup: convSetup(l, short, variant),
        ...(variant === chosen ? { peer: { op, x, w, stride: l.stride, padding: l.padding } } : {}),
        work: { flops: convFlops(l) },
      });
    }
  }
  for (const a of GAN_ACTIVATIONS) {
    if (a.batchNorm) {
      for (const backward of [false, true]) {
        out.push({
          group: 'conv',
          kernel: `batchNorm ${backward ? 'fwd+bwd' : 'fwd'}`,
          variant: '-',
          shape: `${dims(a.shape)} ${a.name}`,
          metric: 'bytes',
          setup: batchNormSetup(a.shape, backward),
          peer: { op: 'batchNorm', shape: a.shape, epsilon: 1e-3, backward },
        });
      }
    }
    if (a.dropout) {
      const size = sizeOf(a.shape);
      out.push({
        group: 'conv',
        kernel: 'dropout 0.3',
        variant: '-',
        shape: `${dims(a.shape)} ${a.name}`,
        metric: 'bytes',
        setup: () =>
          programCase({
            program: dropoutProgram(size, 0.3, 1234, 5),
            data: [uniformData(size, 41)],
            outputs: [size],
            reference: ([x]) => [dropoutReference(x, 0.3, 1234, 5)],
            tolerance: { rtol: 0, atol: 0 },
          }),
      });
    }
  }
  return out;
}

export function allCases(o: CaseListOptions): BenchCase[] {
  return [
    ...peakCases(o.quick),
    ...matmulLadderCases(o.sizes),
    ...denseCases(),
    ...elementwiseCases(),
    ...reduceCases(),
    ...randomCases(),
    ...convFamilyCases(),
  ];
}
