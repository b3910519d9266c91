// Every entry of the UNARY and BINARY tables against its float64 reference, at awkward sizes and
// in every broadcasting mode; inputs are kept inside each op's domain.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32, seededRandom } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { unaryRaw, binaryRaw } from '../src/core/ops.ts';
import {
  UNARY, BINARY, binaryProgram, binaryReference, unaryReference, type BinaryOp, type UnaryOp,
} from '../src/kernels/elementwise.ts';
import { linearGrid, MAX_WORKGROUPS_PER_DIM } from '../src/kernels/program.ts';
import { sizeOf, type Shape } from '../src/kernels/shapes.ts';

test.before(async () => {
  await ready;
});

// 4, 1000 and 70000 divide by 4 and take the vec4 kernels; the rest take the scalar ones.
const SIZES = [1, 3, 4, 7, 33, 65, 130, 1000, 70000];

// Inputs for an op: range of x (or a), and the scalar alpha the op is called with.
interface UnaryCase {
  lo: number;
  hi: number;
  alpha?: number;
  /** Round inputs to integers (exercises exact ties, e.g. negative bases). */
  integers?: boolean;
}

const UNARY_CASES: Record<UnaryOp, UnaryCase[]> = {
  copy: [{ lo: -5, hi: 5 }],
  neg: [{ lo: -5, hi: 5 }],
  abs: [{ lo: -5, hi: 5 }],
  exp: [{ lo: -10, hi: 10 }],
  log: [{ lo: 1e-3, hi: 100 }],
  sqrt: [{ lo: 0, hi: 100 }],
  square: [{ lo: -30, hi: 30 }],
  reciprocal: [{ lo: 0.05, hi: 20 }, { lo: -20, hi: -0.05 }],
  relu: [{ lo: -5, hi: 5 }],
  leakyRelu: [{ lo: -5, hi: 5, alpha: 0.2 }, { lo: -5, hi: 5, alpha: 0.01 }],
  sigmoid: [{ lo: -30, hi: 30 }],
  tanh: [{ lo: -12, hi: 12 }],
  softplus: [{ lo: -30, hi: 30 }],
  powScalar: [
    { lo: 0, hi: 4, alpha: 0.5 },
    { lo: 0.1, hi: 4, alpha: -1.5 },
    { lo: -4, hi: 4, alpha: 2 },
    { lo: -4, hi: 4, alpha: 3 }, // negative base, odd integer exponent
    { lo: -3, hi: 3, alpha: -2 },
  ],
  mulScalar: [{ lo: -5, hi: 5, alpha: -1.75 }],
  addScalar: [{ lo: -5, hi: 5, alpha: 0.3 }],
  stepPositive: [{ lo: -3, hi: 3, integers: true }, { lo: -1, hi: 1 }],
};

interface BinaryCase {
  a: [number, number];
  b: [number, number];
  alpha?: number;
  integers?: boolean;
  /** b copies a on a random third of the elements (for equality and masks). */
  ties?: boolean;
  /** b's magnitude kept in [lo, hi] with a random sign (divisors). */
  signedB?: boolean;
}

const ANY: [number, number] = [-5, 5];
const BINARY_CASES: Record<BinaryOp, BinaryCase[]> = {
  add: [{ a: ANY, b: ANY }],
  sub: [{ a: ANY, b: ANY }],
  mul: [{ a: ANY, b: ANY }],
  div: [{ a: ANY, b: [0.1, 5], signedB: true }],
  pow: [
    { a: [0, 5], b: [-2, 2] },
    { a: [-4.4, -0.6], b: [-3, 4], integers: true }, // negative bases with integer exponents
  ],
  maximum: [{ a: ANY, b: ANY }, { a: ANY, b: ANY, ties: true }],
  minimum: [{ a: ANY, b: ANY }, { a: ANY, b: ANY, ties: true }],
  equal: [{ a: ANY, b: ANY, ties: true }],
  geMask: [{ a: ANY, b: ANY, ties: true }],
  gtMask: [{ a: ANY, b: ANY, ties: true }],
  leMask: [{ a: ANY, b: ANY, ties: true }],
  ltMask: [{ a: ANY, b: ANY, ties: true }],
  scaleLeft: [{ a: ANY, b: ANY, alpha: 0.37 }],
  mulScaled: [{ a: ANY, b: ANY, alpha: -2.5 }],
  divScaled: [{ a: ANY, b: [0.1, 5], signedB: true, alpha: 0.5 }],
  signGrad: [{ a: ANY, b: ANY }, { a: [-2, 2], b: ANY, integers: true }],
  softplusGrad: [{ a: [-30, 30], b: ANY }],
  powScalarGrad: [{ a: [0.1, 4], b: ANY, alpha: 2.5 }, { a: [-4, 4], b: ANY, alpha: 3 }],
  reluGrad: [{ a: ANY, b: ANY }, { a: [-2, 2], b: ANY, integers: true }],
  leakyReluGrad: [{ a: ANY, b: ANY, alpha: 0.2 }],
  sigmoidGrad: [{ a: [0, 1], b: ANY }],
  tanhGrad: [{ a: [-1, 1], b: ANY }],
  bceWithLogits: [{ a: [-30, 30], b: [0, 1] }],
  bceWithLogitsGrad: [{ a: [-30, 30], b: [0, 1] }],
};

// Transcendentals (exp, log, pow) are a few ulp off in f32; everything else is exact or nearly.
const LOOSE = new Set(['exp', 'log', 'sqrt', 'powScalar', 'pow', 'powScalarGrad', 'sigmoid', 'tanh', 'softplus', 'softplusGrad', 'bceWithLogits', 'bceWithLogitsGrad', 'reciprocal']);
function tolerance(op: string): [number, number] {
  // Fused expressions round their intermediates to f32 too (1 − a·a near a = 1 cancels): a small atol.
  return LOOSE.has(op) ? [2e-5, 2e-6] : [1e-6, 1e-6];
}

function inputs(shape: Shape, seed: number, [lo, hi]: [number, number], integers = false): Float64Array {
  const v = f32(randomArray(shape, seed, lo, hi));
  return integers ? v.map(Math.round) : v;
}

function binaryInputs(c: BinaryCase, aShape: Shape, bShape: Shape, seed: number): [Float64Array, Float64Array] {
  const a = inputs(aShape, seed, c.a, c.integers);
  let b = inputs(bShape, seed + 1, c.b, c.integers);
  if (c.signedB) {
    const r = seededRandom(seed + 2);
    b = b.map((v) => (r() < 0.5 ? -v : v));
  }
  if (c.ties) {
    const r = seededRandom(seed + 3);
    b = b.map((v, i) => (r() < 1 / 3 ? a[i % a.length] : v));
  }
  return [a, b];
}

test('linearGrid folds past 65,535 workgroups and covers every item', () => {
  assert.equal(linearGrid(0, 256), [1, 1, 1]);
  assert.equal(linearGrid(1, 256), [1, 1, 1]);
  assert.equal(linearGrid(70000, 256), [274, 1, 1]);
  assert.equal(linearGrid(MAX_WORKGROUPS_PER_DIM * 256, 256), [MAX_WORKGROUPS_PER_DIM, 1, 1]);
  for (const groups of [MAX_WORKGROUPS_PER_DIM + 1, 2 * MAX_WORKGROUPS_PER_DIM, 2 * MAX_WORKGROUPS_PER_DIM + 1, 10_000_000]) {
    const [x, y, z] = linearGrid(groups * 64, 64);
    assert.ok(x <= MAX_WORKGROUPS_PER_DIM && y <= MAX_WORKGROUPS_PER_DIM && z === 1, `grid ${[x, y, z]} for ${groups} groups`);
    assert.ok(x * y >= groups, `grid ${[x, y]} covers ${groups} groups`);
    assert.ok(x * (y - 1) < groups, `grid ${[x, y]} wastes at most one row`);
  }
});

test('every UNARY entry vs reference at awkward sizes', async () => {
  for (const op of Object.keys(UNARY) as UnaryOp[]) {
    for (const [k, c] of UNARY_CASES[op].entries()) {
      for (const n of SIZES) {
        const x = inputs([n], n + 17 * k, [c.lo, c.hi], c.integers);
        const xt = tensor(x, [n]);
        const y = unaryRaw(op, xt, c.alpha ?? 0);
        const [rtol, atol] = tolerance(op);
        assertClose(await y.toArray(), unaryReference(op, x, c.alpha ?? 0), `${op} case ${k} n=${n}`, rtol, atol);
        xt.dispose();
        y.dispose();
      }
    }
  }
});

test('every BINARY entry vs reference at awkward sizes (same shapes)', async () => {
  for (const op of Object.keys(BINARY) as BinaryOp[]) {
    for (const [k, c] of BINARY_CASES[op].entries()) {
      for (const n of SIZES) {
        const [a, b] = binaryInputs(c, [n], [n], n + 31 * k);
        const at = tensor(a, [n]);
        const bt = tensor(b, [n]);
        const y = binaryRaw(op, at, bt, c.alpha ?? 0);
        const [rtol, atol] = tolerance(op);
        assertClose(await y.toArray(), binaryReference(op, a, [n], b, [n], [n], c.alpha ?? 0), `${op} case ${k} n=${n}`, rtol, atol);
        [at, bt, y].forEach((t) => t.dispose());
      }
    }
  }
});

// [a shape, b shape, expected BROADCAST mode]
const BROADCASTS: [Shape, Shape, number][] = [
  [[3, 4], [3, 4], 0],
  [[3, 5], [3, 5], 0],
  [[3, 4], [], 1],
  [[3, 4], [1, 1], 1],
  [[65, 33], [1], 1],
  [[3, 4], [4], 3],
  [[5, 6, 7], [6, 7], 3],
  [[5, 6, 7], [1, 7], 3],
  [[5, 6, 7], [6, 1], 2],
  [[4], [3, 4], 2],
  [[2, 1, 5], [3, 1], 2],
  [[], [7, 3], 2],
  [[3, 1], [1, 130], 2],
  [[2, 3, 1, 4, 5], [1, 3, 6, 1, 5], 2], // rank 5
  [[2, 1, 2, 1, 3, 1, 2, 1], [2, 1, 2, 1, 3, 1, 2], 2], // rank 8
  [[7, 1, 33], [65, 1], 2],
];

test('every BINARY entry in every broadcasting mode', async () => {
  for (const [aShape, bShape, mode] of BROADCASTS) {
    const outShape = broadcastOut(aShape, bShape);
    const program = binaryProgram('add', aShape, bShape, outShape);
    if (mode === 0 && sizeOf(outShape) % 4 === 0) {
      // Same shapes whose size divides by 4 take the vec4 kernel, which has no modes.
      assert.ok(program.wgsl.includes('array<vec4f>') && !program.overrides, `vec4 kernel for ${aShape} + ${bShape}`);
    } else {
      assert.is(program.overrides?.BROADCAST, mode, `mode of ${aShape} + ${bShape}`);
    }
    for (const op of Object.keys(BINARY) as BinaryOp[]) {
      const c = BINARY_CASES[op][BINARY_CASES[op].length - 1];
      // Ties need aligned elements; with broadcasting they still occur through a's values.
      const [a, b] = binaryInputs(c, aShape, bShape, sizeOf(outShape));
      const at = tensor(a, aShape);
      const bt = tensor(b, bShape);
      const y = binaryRaw(op, at, bt, c.alpha ?? 0);
      assert.equal([...y.shape], outShape);
      const [rtol, atol] = tolerance(op);
      assertClose(await y.toArray(), binaryReference(op, a, aShape, b, bShape, outShape, c.alpha ?? 0), `${op} ${JSON.stringify(aShape)} with ${JSON.stringify(bShape)}`, rtol, atol);
      [at, bt, y].forEach((t) => t.dispose());
    }
  }
});

function broadcastOut(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    return da === 1 ? db : da;
  });
}

test('pow of a negative base: integer exponents keep their sign, fractional ones give NaN', async () => {
  const a = tensor([-2, -2, -3, -0.5, -2], [5]);
  const b = tensor([3, 2, -1, -2, 0.5], [5]);
  const y = await binaryRaw('pow', a, b).toArray();
  assertClose(y.slice(0, 4), [-8, 4, -1 / 3, 4], 'integer exponents', 1e-6, 1e-6);
  assert.ok(Number.isNaN(y[4]), `(-2)^0.5 is NaN, got ${y[4]}`);
  [a, b].forEach((t) => t.dispose());
});

test('sigmoid, tanh and softplus stay finite far past exp\'s range', async () => {
  const x = tensor([-1e4, -100, 100, 1e4], [4]);
  for (const op of ['sigmoid', 'tanh', 'softplus'] as UnaryOp[]) {
    const y = unaryRaw(op, x);
    assertClose(await y.toArray(), unaryReference(op, [-1e4, -100, 100, 1e4]), op, 1e-6, 1e-6);
    y.dispose();
  }
  x.dispose();
});

test('one launch past 65,535 × 256 elements folds its grid correctly', async () => {
  const n = MAX_WORKGROUPS_PER_DIM * 256 + 1000;
  assert.ok(linearGrid(n, 256)[1] > 1, 'this size needs a folded grid');
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = i % 4099;
  const x = tensor(data, [n]);
  const y = unaryRaw('addScalar', x, 1);
  const v = await y.toArray();
  let firstBad = -1;
  for (let i = 0; i < n && firstBad < 0; i++) if (v[i] !== data[i] + 1) firstBad = i;
  assert.is(firstBad, -1, `element ${firstBad} is ${v[firstBad]}, expected ${data[firstBad] + 1}`);
  x.dispose();
  y.dispose();
});

test.run();
