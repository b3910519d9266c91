// Making tensors: from host data, constants, and seeded random numbers drawn on the GPU.

import { Tensor, fromData, checkShape, type DType, type Shape } from './tensor.ts';
import { run } from './dispatch.ts';
import { fillProgram } from '../kernels/elementwise.ts';
import { randomProgram, pcgHash } from '../kernels/random.ts';
import { checkOptions, knownOptions } from './options.ts';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

const TENSOR_OPTIONS = knownOptions<TensorOptions>({ dtype: true, requiresGrad: true });

/** A tensor from host numbers (row-major). */
export function tensor(data: ArrayLike<number>, shape: Shape, options: TensorOptions = {}): Tensor {
  checkOptions('tensor', options, TENSOR_OPTIONS);
  const t = fromData(data, shape, options.dtype ?? 'f32');
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  checkOptions('full', options, TENSOR_OPTIONS);
  checkShape(shape);
  const t = new Tensor(shape, 'f32');
  run(fillProgram(t.size, value), [], [t.gpu]);
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  checkOptions('zeros', options, TENSOR_OPTIONS);
  return full(shape, 0, options);
}
export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  checkOptions('ones', options, TENSOR_OPTIONS);
  return full(shape, 1, options);
}
export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape);
}
export function onesLike(t: Tensor): Tensor {
  return ones(t.shape);
}

// Without an explicit seed, random tensors draw from a global generator: seed set by
// manualSeed(), and a counter so that successive calls give different numbers.
let globalSeed = 0x9e3779b9;
let globalStream = 0;

/** Seeds the global generator (as torch.manual_seed); a fixed seed reproduces a whole run. */
export function manualSeed(seed: number): void {
  globalSeed = seed >>> 0;
  globalStream = 0;
}

/** Next (seed, stream) pair of the global generator: for ops that need fresh randomness. */
export function nextRandomKey(): { seed: number; stream: number } {
  return { seed: globalSeed, stream: globalStream++ };
}

export interface RandomOptions extends TensorOptions {
  /** Fixes the numbers regardless of the global generator. */
  seed?: number;
}

type UniformOptions = RandomOptions & { low?: number; high?: number };
type NormalOptions = RandomOptions & { mean?: number; std?: number };
const UNIFORM_OPTIONS = knownOptions<UniformOptions>({ dtype: true, requiresGrad: true, seed: true, low: true, high: true });
const NORMAL_OPTIONS = knownOptions<NormalOptions>({ dtype: true, requiresGrad: true, seed: true, mean: true, std: true });

function random(dist: 'uniform' | 'normal', shape: Shape, a: number, b: number, options: RandomOptions): Tensor {
  checkShape(shape);
  const key = options.seed === undefined ? nextRandomKey() : { seed: options.seed, stream: 0 };
  const t = new Tensor(shape, 'f32');
  run(randomProgram(dist, t.size, key.seed, key.stream, a, b), [], [t.gpu]);
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

/** Uniform in [low, high) (default [0, 1)). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  checkOptions('rand', options, UNIFORM_OPTIONS);
  return random('uniform', shape, options.low ?? 0, options.high ?? 1, options);
}

/** Normal with `mean` (0) and `std` (1). */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  checkOptions('randn', options, NORMAL_OPTIONS);
  return random('normal', shape, options.mean ?? 0, options.std ?? 1, options);
}

/**
 * A seed for one purpose at one training step, derived from the run's seed by hashing (so the
 * noise of step 1000 is the same whether or not the run was resumed at step 999).
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = pcgHash(seed >>> 0);
  for (const p of parts) h = pcgHash((h + (p >>> 0)) >>> 0);
  return h;
}
