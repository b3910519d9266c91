// Gradient checks of the differentiable ops against their float64 references, shared by
// tests/autograd.test.ts (Dawn) and the Deno part on wgpu (tests/deno/wgpu.ts).

import { gradCheck, randomArray, seededRandom } from './helpers.ts';
import type { Tensor } from '../src/core/tensor.ts';
import * as ops from '../src/core/ops.ts';
import { binaryReference, unaryReference, type BinaryOp, type UnaryOp } from '../src/kernels/elementwise.ts';
import { matmulReference } from '../src/kernels/matmul.ts';
import { ACTIVATIONS } from '../src/kernels/activation.ts';
import type { Shape } from '../src/kernels/shapes.ts';

/** Random values whose magnitude lies in [lo, hi], with random signs: keeps kinks (0) away. */
export function awayFromZero(shape: Shape, seed: number, lo = 0.1, hi = 2): Float64Array {
  const r = seededRandom(seed + 1000);
  return randomArray(shape, seed, lo, hi).map((v) => (r() < 0.5 ? -v : v));
}

export const SHAPE: Shape = [3, 5];

// [op, inputs, alpha for the reference, function under test]
const UNARY_CHECKS: [UnaryOp, Float64Array, number, (x: Tensor) => Tensor][] = [
  ['neg', randomArray(SHAPE, 1), 0, ops.neg],
  ['exp', randomArray(SHAPE, 2, -2, 2), 0, ops.exp],
  ['log', randomArray(SHAPE, 3, 0.2, 3), 0, ops.log],
  ['sqrt', randomArray(SHAPE, 4, 0.2, 3), 0, ops.sqrt],
  ['square', randomArray(SHAPE, 5), 0, ops.square],
  ['abs', awayFromZero(SHAPE, 6), 0, ops.abs],
  ['relu', awayFromZero(SHAPE, 7), 0, ops.relu],
  ['leakyRelu', awayFromZero(SHAPE, 8), 0.2, (x) => ops.leakyRelu(x)],
  ['leakyRelu', awayFromZero(SHAPE, 9), 0.01, (x) => ops.leakyRelu(x, 0.01)],
  ['sigmoid', randomArray(SHAPE, 10, -4, 4), 0, ops.sigmoid],
  ['tanh', randomArray(SHAPE, 11, -3, 3), 0, ops.tanh],
  ['softplus', randomArray(SHAPE, 12, -4, 4), 0, ops.softplus],
  ['powScalar', randomArray(SHAPE, 13, 0.2, 2), 1.5, (x) => ops.powScalar(x, 1.5)],
  ['powScalar', awayFromZero(SHAPE, 14, 0.3, 2), 3, (x) => ops.powScalar(x, 3)], // negative bases
  ['powScalar', awayFromZero(SHAPE, 15, 0.5, 2), -2, (x) => ops.pow(x, -2)],
  ['mulScalar', randomArray(SHAPE, 16), -1.5, (x) => ops.mulScalar(x, -1.5)],
  ['mulScalar', randomArray(SHAPE, 17), 2.5, (x) => ops.mul(x, 2.5)],
  ['addScalar', randomArray(SHAPE, 18), 0.7, (x) => ops.addScalar(x, 0.7)],
  ['addScalar', randomArray(SHAPE, 19), -3, (x) => ops.sub(x, 3)],
];

/** Every unary op's gradient vs its float64 reference. */
export async function checkUnaryGradients(): Promise<void> {
  for (const [op, data, alpha, fn] of UNARY_CHECKS) {
    await gradCheck(`${op}(α=${alpha})`, fn, [{ data, shape: SHAPE }], { reference: (x) => unaryReference(op, x, alpha) });
  }
}

// Broadcasting pairs: same shape, row vector, rank-3 both ways, scalar.
export const PAIRS: [Shape, Shape][] = [
  [[3, 4], [3, 4]],
  [[3, 4], [4]],
  [[2, 1, 3], [4, 1]],
  [[3, 4], []],
  [[], [2, 3]],
];

const BINARY_CHECKS: [BinaryOp, (a: Tensor, b: Tensor) => Tensor, (shape: Shape, seed: number) => Float64Array, (shape: Shape, seed: number) => Float64Array][] = [
  ['add', ops.add, (s, k) => randomArray(s, k), (s, k) => randomArray(s, k)],
  ['sub', ops.sub, (s, k) => randomArray(s, k), (s, k) => randomArray(s, k)],
  ['mul', ops.mul, (s, k) => randomArray(s, k), (s, k) => randomArray(s, k)],
  ['div', ops.div, (s, k) => randomArray(s, k), (s, k) => awayFromZero(s, k, 0.5, 2)],
  ['pow', ops.pow, (s, k) => randomArray(s, k, 0.3, 2), (s, k) => randomArray(s, k, -2, 2)],
  // Continuous random values never tie, so the kink of max/min stays away from the differences.
  ['maximum', ops.maximum, (s, k) => randomArray(s, k), (s, k) => randomArray(s, k)],
  ['minimum', ops.minimum, (s, k) => randomArray(s, k), (s, k) => randomArray(s, k)],
];

/** Every binary op's gradients (both inputs) vs its float64 reference, on each broadcasting pair of `pairs`. */
export async function checkBinaryGradients(pairs: readonly [Shape, Shape][] = PAIRS): Promise<void> {
  for (const [op, fn, makeA, makeB] of BINARY_CHECKS) {
    for (const [k, [aShape, bShape]] of pairs.entries()) {
      const outShape = broadcast(aShape, bShape);
      await gradCheck(`${op} ${JSON.stringify(aShape)} with ${JSON.stringify(bShape)}`, fn, [
        { data: makeA(aShape, 10 * k + 1), shape: aShape },
        { data: makeB(bShape, 10 * k + 2), shape: bShape },
      ], { reference: (a, b) => binaryReference(op, a, aShape, b, bShape, outShape) });
    }
  }
}

function broadcast(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1;
    return da === 1 ? (b[b.length - rank + i] ?? 1) : da;
  });
}

/** The MatmulShape of an m×k by k×n product (batched: strides 0 where a side has batch 1). */
export function mm(m: number, n: number, k: number, batch = 1, aBatch = batch, bBatch = batch, transA = false, transB = false) {
  return { batch, m, n, k, transA, transB, aBatchStride: aBatch === 1 ? 0 : m * k, bBatchStride: bBatch === 1 ? 0 : k * n };
}

/** linear (matmul, bias, activation fused) in every activation, with and without bias: gradients of x, w, b vs float64. */
export async function checkLinearGradients(): Promise<void> {
  const [batch, inF, outF] = [4, 6, 3];
  for (const activation of ACTIVATIONS) {
    for (const withBias of [true, false]) {
      const alpha = 0.2;
      const inputs = [
        // Pre-activations land near 0 rarely; a 1e-6 step crosses relu's kink with negligible odds.
        { data: randomArray([batch, inF], 1), shape: [batch, inF] as Shape },
        { data: randomArray([inF, outF], 2), shape: [inF, outF] as Shape },
        ...(withBias ? [{ data: randomArray([outF], 3), shape: [outF] as Shape }] : []),
      ];
      await gradCheck(`linear.${activation} bias=${withBias}`, (x, w, b) => ops.linear(x, w, b, activation, alpha), inputs, {
        reference: (x, w, b) => matmulReference(x, w, mm(batch, outF, inF), b, activation, alpha),
      });
    }
  }
}
