// Shared test helpers: device start-up, seeded random data, float64 comparisons, and the
// finite-difference gradient check every differentiable op must pass.

import * as assert from 'uvu/assert';
import { init } from '../src/core/device.ts';
import { tensor } from '../src/core/creation.ts';
import { Tensor } from '../src/core/tensor.ts';
import { tidy } from '../src/core/scope.ts';
import { noGrad, detach } from '../src/core/autograd.ts';
import { crossEntropy } from '../src/core/softmax-ops.ts';
import type { Module } from '../src/nn/module.ts';
import type { Optimizer } from '../src/nn/optim.ts';
import { sizeOf, formatShape, type Shape } from '../src/kernels/shapes.ts';

export const ready = init();

/** Runs `make` without a tape, reads its tensor back and frees it (a model's outputs, as arrays). */
export async function readBack(make: () => Tensor): Promise<Float32Array> {
  const t = noGrad(() => tidy(make));
  try {
    return await t.toArray();
  } finally {
    t.dispose();
  }
}

/** Deterministic random numbers for tests (mulberry32), uniform in [lo, hi). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(shape: Shape, seed: number, lo = -1, hi = 1): Float64Array {
  const r = seededRandom(seed);
  return Float64Array.from({ length: sizeOf(shape) }, () => lo + (hi - lo) * r());
}

/** Values as f32 would store them: compare GPU results against references fed the same numbers. */
export function f32(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float32Array.from(values));
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| everywhere, reporting the worst element.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-5, atol = 1e-5): void {
  assert.is(actual.length, expected.length, `${what}: length ${actual.length} vs expected ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    assert.unreachable(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

export interface GradCheckInput {
  data: Float64Array;
  shape: Shape;
  /** Check this input's gradient (default true). */
  check?: boolean;
}

export interface GradCheckOptions {
  /** Float64 reference of the forward (preferred: exact numeric gradients). */
  reference?: (...inputs: Float64Array[]) => Float64Array;
  /** Step for central differences (default 1e-6 with a reference, 1e-2 on the GPU in f32). */
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Check at most this many elements per input (spread over the tensor). */
  maxElements?: number;
  seed?: number;
}

/**
 * Finite-difference gradient check of `fn` (built from our differentiable ops) at `inputs`.
 * The scalar checked is L = Σ fn(x)·r for a fixed random r, so every output element counts.
 * Analytic gradients come from our backward(); numeric ones from central differences of the
 * float64 reference when given (tight tolerances), else of `fn` itself in f32 (loose ones).
 */
export async function gradCheck(name: string, fn: (...xs: Tensor[]) => Tensor, inputs: GradCheckInput[], options: GradCheckOptions = {}): Promise<void> {
  await ready;
  const seed = options.seed ?? 7;
  const xs = inputs.map((i) => tensor(i.data, i.shape, { requiresGrad: i.check !== false }));
  const y = fn(...xs);
  const r = randomArray(y.shape, seed + 1);
  const rT = tensor(r, y.shape);
  y.backward(rT);
  const analytic = await Promise.all(xs.map((x) => (x.grad ? x.grad.toArray() : Promise.resolve(undefined))));
  y.dispose();
  rT.dispose();

  const withRef = options.reference !== undefined;
  const eps = options.eps ?? (withRef ? 1e-6 : 1e-2);
  const rtol = options.rtol ?? (withRef ? 2e-3 : 5e-2);
  const atol = options.atol ?? (withRef ? 1e-4 : 5e-3);
  const lossAt = async (values: Float64Array[]): Promise<number> => {
    let out: ArrayLike<number>;
    if (options.reference) out = options.reference(...values);
    else {
      const t = tidy(() => fn(...values.map((v, k) => tensor(v, inputs[k].shape))));
      out = await t.toArray();
      t.dispose();
    }
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * r[i];
    return s;
  };

  const base = inputs.map((i) => (withRef ? f32(i.data) : Float64Array.from(i.data)));
  for (let k = 0; k < inputs.length; k++) {
    if (inputs[k].check === false) {
      xs[k].dispose();
      continue;
    }
    const grad = analytic[k];
    assert.ok(grad, `${name}: input ${k} ${formatShape(inputs[k].shape)} got no gradient`);
    const n = base[k].length;
    const max = options.maxElements ?? (withRef ? 400 : 24);
    const step = Math.max(1, Math.floor(n / max));
    const indices: number[] = [];
    for (let i = 0; i < n && indices.length < max; i += step) indices.push(i);
    const numeric: number[] = [];
    const got: number[] = [];
    for (const i of indices) {
      const plus = base.map((b) => b.slice());
      const minus = base.map((b) => b.slice());
      plus[k][i] += eps;
      minus[k][i] -= eps;
      numeric.push(((await lossAt(plus)) - (await lossAt(minus))) / (2 * eps));
      got.push(grad![i]);
    }
    assertClose(got, numeric, `${name}: d/d(input ${k} ${formatShape(inputs[k].shape)})`, rtol, atol);
    xs[k].grad?.dispose();
    xs[k].dispose();
  }
}

/**
 * One supervised step written out by hand, the tests' independent counterpart of fit()'s:
 * zero the gradients, mean cross-entropy of model(x) against integer labels y, backward, update.
 * Returns the detached scalar loss (the caller disposes it).
 */
export function classifierStep(model: Module, optimizer: Optimizer, x: Tensor, y: Tensor): Tensor {
  return tidy(() => {
    optimizer.zeroGrad();
    const loss = crossEntropy(model.forward(x), y);
    loss.backward();
    optimizer.step();
    return detach(loss);
  });
}
