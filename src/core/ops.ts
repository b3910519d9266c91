// Differentiable ops: each is a forward kernel launch plus one short backward rule (micrograd's
// shape, on GPU tensors). Shapes are checked here, before any GPU work, and errors name them.

import { Tensor, fromData, formatShape, type Shape } from './tensor.ts';
import { launch } from './launch.ts';
import { assertFloat, assertLive } from './checks.ts';
import { isGradEnabled, record } from './autograd.ts';
import { binaryProgram, unaryProgram, type BinaryOp, type UnaryOp } from '../kernels/elementwise.ts';
import { reduceProgram, type ReduceOp } from '../kernels/reduce.ts';
import { matmulProgram } from '../kernels/matmul.ts';
import { matmulVariantFor, type MatmulChoice } from './kernel-policy.ts';
import type { Activation } from '../kernels/activation.ts';
import { broadcastShapes, normalizeAxis, sameShape, sizeOf } from '../kernels/shapes.ts';
import { checkOptions, knownOptions } from './options.ts';

// ---------------------------------------------------------------- elementwise, forward only

export function unaryRaw(op: UnaryOp, x: Tensor, alpha = 0): Tensor {
  assertLive(op, x);
  assertFloat(op, x);
  return launch(unaryProgram(op, x.size, alpha), [x], x.shape);
}

export function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor, alpha = 0): Tensor {
  assertLive(op, a, b);
  assertFloat(op, a, b);
  const outShape = broadcastShapes(a.shape, b.shape, op);
  return launch(binaryProgram(op, a.shape, b.shape, outShape, alpha), [a, b], outShape);
}

/** Sums a broadcast gradient back down to `shape` (the reverse of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g.view();
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    const d = i < lead ? 1 : shape[i - lead];
    if (d === 1 && g.shape[i] !== 1) axes.push(i);
    else if (i < lead) axes.push(i);
  }
  const reduced = reduceRaw('sum', g, axes, 1);
  const out = reduced.view(shape);
  reduced.dispose();
  return out;
}

/**
 * Forward-only: copies x out to `shape` along broadcast dimensions, times `scale` (the backward
 * rule of sum and mean; the differentiable broadcastTo is in shape-ops.ts).
 */
export function broadcastRaw(x: Tensor, shape: Shape, scale = 1): Tensor {
  const outShape = broadcastShapes(x.shape, shape, 'broadcastTo');
  if (!sameShape(outShape, shape)) {
    throw new RangeError(`broadcastTo: ${formatShape(x.shape)} cannot be broadcast to ${formatShape(shape)}`);
  }
  return launch(binaryProgram('scaleLeft', x.shape, x.shape, shape, scale), [x, x], shape);
}

// ---------------------------------------------------------------- unary ops

function unary(op: UnaryOp, x: Tensor, alpha: number, grad: (x: Tensor, y: Tensor, g: Tensor) => Tensor): Tensor {
  const y = unaryRaw(op, x, alpha);
  return record(y, op, [x], (g) => [grad(x, y, g)]);
}

export function neg(x: Tensor): Tensor {
  return unary('neg', x, 0, (_x, _y, g) => unaryRaw('neg', g));
}
export function exp(x: Tensor): Tensor {
  return unary('exp', x, 0, (_x, y, g) => binaryRaw('mul', g, y));
}
export function log(x: Tensor): Tensor {
  return unary('log', x, 0, (x, _y, g) => binaryRaw('div', g, x));
}
export function sqrt(x: Tensor): Tensor {
  // d√x = 1 / (2√x)
  return unary('sqrt', x, 0, (_x, y, g) => binaryRaw('divScaled', g, y, 0.5));
}
export function square(x: Tensor): Tensor {
  return unary('square', x, 0, (x, _y, g) => binaryRaw('mulScaled', g, x, 2));
}
export function abs(x: Tensor): Tensor {
  return unary('abs', x, 0, (x, _y, g) => binaryRaw('signGrad', x, g));
}
export function relu(x: Tensor): Tensor {
  return unary('relu', x, 0, (x, _y, g) => binaryRaw('reluGrad', x, g));
}
/**
 * The leaky-ReLU slope of the ops (leakyRelu, and the fused activation of linear, activate,
 * conv2d and conv2dTranspose) when none is given: 0.2, as keras.ops.leaky_relu, tf.nn.leaky_relu
 * and TensorFlow.js's tf.leakyRelu. The layers default to KERAS_LEAKY_ALPHA (0.3) instead;
 * src/nn/layers.ts says why the two differ.
 */
export const OP_LEAKY_ALPHA = 0.2;

/** x where x ≥ 0, alpha·x below (alpha: OP_LEAKY_ALPHA unless given). */
export function leakyRelu(x: Tensor, alpha = OP_LEAKY_ALPHA): Tensor {
  return unary('leakyRelu', x, alpha, (x, _y, g) => binaryRaw('leakyReluGrad', x, g, alpha));
}
export function sigmoid(x: Tensor): Tensor {
  return unary('sigmoid', x, 0, (_x, y, g) => binaryRaw('sigmoidGrad', y, g));
}
export function tanh(x: Tensor): Tensor {
  return unary('tanh', x, 0, (_x, y, g) => binaryRaw('tanhGrad', y, g));
}
export function softplus(x: Tensor): Tensor {
  return unary('softplus', x, 0, (x, _y, g) => binaryRaw('softplusGrad', x, g));
}
/** x ** p for a number p (elementwise powers of a tensor exponent: `pow`). */
export function powScalar(x: Tensor, p: number): Tensor {
  return unary('powScalar', x, p, (x, _y, g) => binaryRaw('powScalarGrad', x, g, p));
}
export function mulScalar(x: Tensor, s: number): Tensor {
  return unary('mulScalar', x, s, (_x, _y, g) => unaryRaw('mulScalar', g, s));
}
export function addScalar(x: Tensor, s: number): Tensor {
  return unary('addScalar', x, s, (_x, _y, g) => g.view());
}

// ---------------------------------------------------------------- binary ops (broadcasting)

type Operand = Tensor | number;

function asTensor(v: Operand): Tensor {
  return typeof v === 'number' ? fromData([v], []) : v;
}

function binary(
  op: BinaryOp,
  aOperand: Operand,
  bOperand: Operand,
  grads: (g: Tensor, a: Tensor, b: Tensor, y: Tensor, needs: readonly boolean[]) => [Tensor | null, Tensor | null],
): Tensor {
  const a = asTensor(aOperand);
  const b = asTensor(bOperand);
  const y = binaryRaw(op, a, b);
  record(y, op, [a, b], (g, needs) => {
    const [ga, gb] = grads(g, a, b, y, needs);
    return [ga && reduceOwned(ga, a.shape), gb && reduceOwned(gb, b.shape)];
  });
  // A number operand became a scalar tensor of ours: only a recorded graph still needs it.
  if (!y.node) {
    if (a !== aOperand) a.dispose();
    if (b !== bOperand) b.dispose();
  }
  return y;
}

function reduceOwned(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const r = sumTo(g, shape);
  g.dispose();
  return r;
}

/** a + b, NumPy broadcasting. A number operand is uploaded as a scalar tensor. */
export function add(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') return addScalar(a, b);
  if (typeof a === 'number' && typeof b !== 'number') return addScalar(b, a);
  return binary('add', a, b, (g, _a, _b, _y, needs) => [needs[0] ? g.view() : null, needs[1] ? g.view() : null]);
}
export function sub(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') return addScalar(a, -b);
  return binary('sub', a, b, (g, _a, _b, _y, needs) => [needs[0] ? g.view() : null, needs[1] ? unaryRaw('neg', g) : null]);
}
export function mul(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') return mulScalar(a, b);
  if (typeof a === 'number' && typeof b !== 'number') return mulScalar(b, a);
  return binary('mul', a, b, (g, a, b, _y, needs) => [
    needs[0] ? binaryRaw('mul', g, b) : null,
    needs[1] ? binaryRaw('mul', g, a) : null,
  ]);
}
export function div(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') return mulScalar(a, 1 / b);
  return binary('div', a, b, (g, a, b, y, needs) => [
    needs[0] ? binaryRaw('div', g, b) : null,
    // d(a/b)/db = −a/b² = −y/b
    needs[1] ? negDivMul(g, y, b) : null,
  ]);
}
function negDivMul(g: Tensor, y: Tensor, b: Tensor): Tensor {
  const t = binaryRaw('mul', g, y);
  const r = binaryRaw('divScaled', t, b, -1);
  t.dispose();
  return r;
}
/** Elementwise a ** b (broadcasting). */
export function pow(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') return powScalar(a, b);
  return binary('pow', a, b, (g, a, b, y, needs) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (needs[0]) {
      // b · a^(b−1) = b · y / a
      const t = binaryRaw('mul', g, y);
      const u = binaryRaw('mul', t, b);
      ga = binaryRaw('div', u, a);
      t.dispose();
      u.dispose();
    }
    if (needs[1]) {
      const la = unaryRaw('log', a);
      const t = binaryRaw('mul', g, y);
      gb = binaryRaw('mul', t, la);
      la.dispose();
      t.dispose();
    }
    return [ga, gb];
  });
}
export function maximum(a: Operand, b: Operand): Tensor {
  return binary('maximum', a, b, (g, a, b) => [
    binaryMask('geMask', a, b, g),
    binaryMask('ltMask', a, b, g),
  ]);
}
export function minimum(a: Operand, b: Operand): Tensor {
  return binary('minimum', a, b, (g, a, b) => [
    binaryMask('leMask', a, b, g),
    binaryMask('gtMask', a, b, g),
  ]);
}
function binaryMask(op: BinaryOp, a: Tensor, b: Tensor, g: Tensor): Tensor {
  const m = binaryRaw(op, a, b);
  const r = binaryRaw('mul', m, g);
  m.dispose();
  return r;
}

// ---------------------------------------------------------------- reductions

function normalizeAxes(axis: number | number[] | undefined, rank: number, op: string): number[] {
  if (axis === undefined) return [...Array(rank).keys()];
  const list = (Array.isArray(axis) ? axis : [axis]).map((a) => normalizeAxis(a, rank, op));
  const unique = [...new Set(list)].sort((x, y) => x - y);
  if (unique.length !== list.length) throw new RangeError(`${op}: repeated axis in [${axis}]`);
  return unique;
}

/**
 * Reduces along `axes` (sorted, unique), keeping them as size-1 dimensions. Each run of adjacent
 * axes is one kernel pass over the tensor viewed as [outer, run length, inner].
 */
export function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], scale: number): Tensor {
  assertLive(op, x);
  assertFloat(op, x);
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  let current = x;
  let shape = [...x.shape];
  // Last run first; apply `scale` once, in the final pass.
  for (let r = runs.length - 1; r >= 0; r--) {
    const [from, to] = runs[r];
    const outer = sizeOf(shape.slice(0, from));
    const length = sizeOf(shape.slice(from, to));
    const inner = sizeOf(shape.slice(to));
    const next = [...shape];
    for (let i = from; i < to; i++) next[i] = 1;
    const out = launch(reduceProgram(op, outer, length, inner, r === 0 ? scale : 1), [current], next);
    if (current !== x) current.dispose();
    current = out;
    shape = next;
  }
  return current === x ? x.view() : current;
}

function keptShape(shape: Shape, axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}
function droppedShape(shape: Shape, axes: number[]): number[] {
  return shape.filter((_, i) => !axes.includes(i));
}

export interface ReduceOptions {
  keepDims?: boolean;
}
const REDUCE_OPTIONS = knownOptions<ReduceOptions>({ keepDims: true });

/** Sum over `axis` (a number, a list, or every axis when omitted). */
export function sum(x: Tensor, axis?: number | number[], options: ReduceOptions = {}): Tensor {
  checkOptions('sum', options, REDUCE_OPTIONS);
  return meanOrSum('sum', x, axis, options);
}
export function mean(x: Tensor, axis?: number | number[], options: ReduceOptions = {}): Tensor {
  checkOptions('mean', options, REDUCE_OPTIONS);
  return meanOrSum('mean', x, axis, options);
}

function meanOrSum(op: 'sum' | 'mean', x: Tensor, axis: number | number[] | undefined, options: ReduceOptions): Tensor {
  const axes = normalizeAxes(axis, x.rank, op);
  const count = sizeOf(axes.map((a) => x.shape[a]));
  const scale = op === 'mean' ? 1 / count : 1;
  const kept = reduceRaw('sum', x, axes, scale);
  const outShape = options.keepDims ? keptShape(x.shape, axes) : droppedShape(x.shape, axes);
  const y = kept.view(outShape);
  kept.dispose();
  return record(y, op, [x], (g) => [broadcastRaw(g.view(keptShape(x.shape, axes)), x.shape, scale)]);
}

/** Maximum over `axis`. Ties share the gradient equally (as TensorFlow's reduce_max). */
export function max(x: Tensor, axis?: number | number[], options: ReduceOptions = {}): Tensor {
  checkOptions('max', options, REDUCE_OPTIONS);
  const axes = normalizeAxes(axis, x.rank, 'max');
  const kept = reduceRaw('max', x, axes, 1);
  const outShape = options.keepDims ? keptShape(x.shape, axes) : droppedShape(x.shape, axes);
  const y = kept.view(outShape);
  if (!isGradEnabled() || !x.requiresGrad) {
    kept.dispose(); // y shares its storage; only the backward rule needed this view
    return y;
  }
  return record(y, 'max', [x], (g) => {
    const mask = binaryRaw('equal', x, kept);
    const ties = reduceRaw('sum', mask, axes, 1);
    const share = binaryRaw('div', g.view(kept.shape), ties);
    const gx = binaryRaw('mul', mask, share);
    mask.dispose();
    ties.dispose();
    share.dispose();
    return [gx];
  });
}

/**
 * Maximum over height and width: [N, H, W, C] → [N, C] (Keras GlobalMaxPooling2D). It is
 * tf.reduce_max over axes 1 and 2, and so is its gradient: ties share it equally.
 */
export function globalMaxPool2d(x: Tensor): Tensor {
  assertLive('globalMaxPool2d', x);
  if (x.rank !== 4) throw new RangeError(`globalMaxPool2d: input must be 4-D [batch, height, width, channels], got ${formatShape(x.shape)}`);
  if (x.shape[1] * x.shape[2] === 0) throw new RangeError(`globalMaxPool2d: input ${formatShape(x.shape)} has no pixels`);
  return max(x, [1, 2]);
}

// ---------------------------------------------------------------- shape ops (no copy)

/** Same data, new shape; one dimension may be -1 (inferred). Shares storage. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const inferred = shape.indexOf(-1);
  let target = [...shape];
  if (inferred >= 0) {
    const known = sizeOf(shape.filter((_, i) => i !== inferred));
    if (known === 0 || x.size % known !== 0) {
      throw new RangeError(`reshape: cannot reshape ${formatShape(x.shape)} into ${formatShape(shape)}`);
    }
    target[inferred] = x.size / known;
  }
  if (sizeOf(target) !== x.size) {
    throw new RangeError(`reshape: cannot reshape ${formatShape(x.shape)} (${x.size} elements) into ${formatShape(shape)}`);
  }
  const y = x.view(target);
  return record(y, 'reshape', [x], (g) => [g.view(x.shape)]);
}

/** Keeps the first (batch) dimension, flattens the rest: [B, H, W, C] → [B, H·W·C]. */
export function flatten(x: Tensor): Tensor {
  if (x.rank < 1) throw new RangeError(`flatten needs a batch dimension, got ${formatShape(x.shape)}`);
  return reshape(x, [x.shape[0], -1]);
}

// ---------------------------------------------------------------- matmul and dense

interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor;
  activation?: Activation;
  alpha?: number;
  variant?: MatmulChoice;
}

/** Forward-only matmul on 2-D or 3-D (batched) tensors; reads transposes in place. */
export function matmulRaw(a: Tensor, b: Tensor, o: MatmulOptions = {}): Tensor {
  assertLive('matmul', a, b);
  assertFloat('matmul', a, b);
  if (a.rank < 2 || a.rank > 3 || b.rank < 2 || b.rank > 3) {
    throw new RangeError(`matmul needs 2-D or 3-D tensors, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const aBatch = a.rank === 3 ? a.shape[0] : 1;
  const bBatch = b.rank === 3 ? b.shape[0] : 1;
  if (aBatch !== bBatch && aBatch !== 1 && bBatch !== 1) {
    throw new RangeError(`matmul: batch sizes of ${formatShape(a.shape)} and ${formatShape(b.shape)} differ`);
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = o.transA ? ac : ar;
  const k = o.transA ? ar : ac;
  const kb = o.transB ? bc : br;
  const n = o.transB ? br : bc;
  if (k !== kb) {
    throw new RangeError(
      `matmul: inner dimensions differ: ${formatShape(a.shape)}${o.transA ? 'ᵀ' : ''} · ${formatShape(b.shape)}${o.transB ? 'ᵀ' : ''} (${k} vs ${kb})`,
    );
  }
  if (o.bias && (o.bias.rank !== 1 || o.bias.shape[0] !== n)) {
    throw new RangeError(`matmul: bias ${formatShape(o.bias.shape)} must be [${n}] for an output with ${n} columns`);
  }
  const batch = Math.max(aBatch, bBatch);
  const outShape = a.rank === 3 || b.rank === 3 ? [batch, m, n] : [m, n];
  const shape = { batch, m, n, k, transA: !!o.transA, transB: !!o.transB, aBatchStride: aBatch === 1 ? 0 : m * k, bBatchStride: bBatch === 1 ? 0 : k * n };
  const epilogue = { hasBias: !!o.bias, activation: o.activation ?? 'linear', alpha: o.alpha ?? 0 };
  const program = matmulProgram(shape, epilogue, matmulVariantFor(shape, o.variant, undefined, epilogue));
  return launch(program, [a, b, o.bias ?? a], outShape);
}

/** Matrix product with broadcasting over a leading batch dimension (2-D or 3-D). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const y = matmulRaw(a, b);
  return record(y, 'matmul', [a, b], (g, needs) => [
    needs[0] ? reduceOwned(matmulRaw(g, b, { transB: true }), a.shape) : null,
    needs[1] ? reduceOwned(matmulRaw(a, g, { transA: true }), b.shape) : null,
  ]);
}

/** The gradient of a fused activation, computed from its output y (so x need not be kept). */
export function activationGradFromOutput(activation: Activation, y: Tensor, g: Tensor, alpha: number): Tensor {
  switch (activation) {
    case 'relu':
      return binaryRaw('reluGrad', y, g);
    case 'leakyRelu':
      // y ≥ 0 exactly where x ≥ 0, for any positive slope.
      return binaryRaw('leakyReluGrad', y, g, alpha);
    case 'sigmoid':
      return binaryRaw('sigmoidGrad', y, g);
    case 'tanh':
      return binaryRaw('tanhGrad', y, g);
    default:
      return g.view();
  }
}

/**
 * A dense layer's math in one kernel: activation(x · w + bias). x [B, in], w [in, out]. `alpha`
 * is the leakyRelu slope (OP_LEAKY_ALPHA unless given; the Dense layer passes its own).
 */
export function linear(x: Tensor, w: Tensor, bias?: Tensor, activation: Activation = 'linear', alpha = OP_LEAKY_ALPHA): Tensor {
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[0]) {
    throw new RangeError(`linear: input ${formatShape(x.shape)} does not fit weights ${formatShape(w.shape)} (expected [batch, ${w.shape[0]}])`);
  }
  const y = matmulRaw(x, w, { bias, activation, alpha });
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, `linear.${activation}`, inputs, (g, needs) => {
    const gz = activationGradFromOutput(activation, y, g, alpha);
    const grads = [
      needs[0] ? matmulRaw(gz, w, { transB: true }) : null,
      needs[1] ? matmulRaw(x, gz, { transA: true }) : null,
      bias && needs[2] ? sumTo(gz, bias.shape) : null,
    ];
    gz.dispose();
    return grads;
  });
}

/** Applies a named activation as its own op (unfused); leakyRelu's slope: OP_LEAKY_ALPHA unless given. */
export function activate(x: Tensor, activation: Activation, alpha = OP_LEAKY_ALPHA): Tensor {
  switch (activation) {
    case 'relu':
      return relu(x);
    case 'leakyRelu':
      return leakyRelu(x, alpha);
    case 'sigmoid':
      return sigmoid(x);
    case 'tanh':
      return tanh(x);
    default:
      return x;
  }
}
