// The list of bench cases. A case is data plus a `setup` that builds it on the device (see
// harness.ts); adding a kernel to the bench means adding entries here.
//
// Sections: peak (the adapter's measured ceiling), matmul (the square ladder), dense (matmuls at
// the models' layer shapes: forward, and the two products of the backward pass), elementwise,
// reduce, random, and the convolution family (conv2d and conv2dTranspose forward, input-gradient
// and weight-gradient; batchNorm; dropout) at the models' shapes. Convolution rows have no
// `setup` until their kernels exist: they appear only with --peer, with the peer's time alone.

import { fmaPeakOutputSize, fmaPeakProgram, fmaPeakReference, copyPeakProgram } from '../src/kernels/peak.ts';
import { autoMatmulVariant, matmulProgram, matmulReference, MATMUL_VARIANTS, vec4Fits, type MatmulChoice, type MatmulShape, type MatmulVariant } from '../src/kernels/matmul.ts';
import { binaryProgram, binaryReference, unaryProgram, unaryReference, type BinaryOp, type UnaryOp } from '../src/kernels/elementwise.ts';
import { reduceProgram, reduceReference, type ReduceOp } from '../src/kernels/reduce.ts';
import { randomProgram, randomReference, type Distribution } from '../src/kernels/random.ts';
import { sizeOf } from '../src/kernels/shapes.ts';
import { sum } from '../src/core/ops.ts';
import { programCase, opCase, uniformData, type Expected } from './case-kit.ts';
import type { BenchCase, Tolerance } from './harness.ts';
import { CONV_LAYERS, DENSE_LAYERS, GAN_ACTIVATIONS, convFlops, convOutShape, convWeightShape, type DenseLayer } from './model-shapes.ts';

export const DEFAULT_SIZES = [256, 512, 1024, 2048];
export const QUICK_SIZES = [256];

export interface CaseListOptions {
  quick: boolean;
  /** Square matmul sizes of the ladder. */
  sizes: number[];
}

const dims = (shape: readonly number[]) => shape.join('×');

// ------------------------------------------------------------------------------ peak

export function peakCases(quick: boolean): BenchCase[] {
  const workgroups = 64;
  const iterations = quick ? 256 : 4096;
  const floats = quick ? 1 << 20 : 1 << 24;
  return [
    {
      group: 'peak',
      kernel: 'fma',
      variant: '-',
      shape: `${workgroups * 256} threads × ${iterations} it`,
      metric: 'flops',
      quick: true,
      setup: () =>
        programCase({
          program: fmaPeakProgram(workgroups, iterations),
          data: [],
          outputs: [fmaPeakOutputSize(workgroups)],
          reference: () => [fmaPeakReference(workgroups, iterations)],
          tolerance: { rtol: 1e-4, atol: 1e-4 },
        }),
    },
    // Two shapes of the same copy: the GPU-style one and the CPU-driver-friendly one (see
    // src/kernels/peak.ts); the run's bandwidth peak is the faster.
    ...([[256, 1], [8, 64]] as const).map(([workgroup, per]): BenchCase => ({
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
    })),
  ];
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
  const chosen = variant === 'auto' ? autoMatmulVariant(s) : variant;
  const ran = chosen === 'vec4' && !vec4Fits(s) ? 'blocked' : chosen;
  // The row names what really ran: 'vec4→blocked' (shape not a multiple of 4), 'auto→naive'.
  const label = variant === 'auto' ? `auto→${ran}` : ran === variant ? variant : `${variant}→${ran}`;
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
      const program = matmulProgram(s, { hasBias: spec.bias, activation: spec.activation, alpha: 0 }, variant);
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
      // The same per-channel sum through the op layer (what batchNorm's statistics will call).
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

/**
 * Rows for conv2d / conv2dTranspose (forward, input-gradient, weight-gradient), batchNorm and
 * dropout at the models' shapes. Our kernels are not written yet, so these carry only the peer
 * operation; give each a `setup` (an opCase or programCase against the float64 reference in
 * src/kernels/conv*.ts) and a `variant` ('direct', 'gemm') when they land.
 */
export function convFamilyCases(): BenchCase[] {
  const out: BenchCase[] = [];
  for (const l of CONV_LAYERS) {
    const x = [l.batch, l.inH, l.inW, l.inC];
    const w = convWeightShape(l);
    const y = convOutShape(l);
    const base = l.transposed ? 'conv2dTranspose' : 'conv2d';
    for (const pass of ['', 'InputGrad', 'WeightGrad'] as const) {
      const op = `${base}${pass}` as
        | 'conv2d' | 'conv2dInputGrad' | 'conv2dWeightGrad'
        | 'conv2dTranspose' | 'conv2dTransposeInputGrad' | 'conv2dTransposeWeightGrad';
      out.push({
        group: 'conv',
        kernel: `${l.name} ${pass === '' ? 'fwd' : pass === 'InputGrad' ? 'dX' : 'dW'}`,
        variant: '-',
        shape: `${dims(x)} * ${dims(w)} s${l.stride} → ${dims(y)}`,
        metric: 'flops',
        peer: { op, x, w, stride: l.stride, padding: l.padding },
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
          peer: { op: 'batchNorm', shape: a.shape, epsilon: 1e-3, backward },
        });
      }
    }
    if (a.dropout) {
      out.push({ group: 'conv', kernel: 'dropout 0.3', variant: '-', shape: `${dims(a.shape)} ${a.name}`, metric: 'bytes' });
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
