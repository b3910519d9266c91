// Weight initialisers, drawn on the GPU from the counter-based generator. Without a `seed` they
// take the next key of the global generator (manualSeed), so building a model after
// `manualSeed(s)` reproduces every weight; with one they ignore it.

import { Tensor, type Shape } from '../core/tensor.ts';
import { rand, randn, zeros as zerosTensor, ones as onesTensor } from '../core/creation.ts';

function checkFans(name: string, fanIn: number, fanOut: number): void {
  if (!(fanIn > 0 && fanOut > 0 && Number.isFinite(fanIn + fanOut))) {
    throw new RangeError(`${name}: fanIn and fanOut must be positive, got ${fanIn} and ${fanOut}`);
  }
}

/** The bound of Glorot (Xavier) uniform initialisation: sqrt(6 / (fanIn + fanOut)). */
export function glorotLimit(fanIn: number, fanOut: number): number {
  return Math.sqrt(6 / (fanIn + fanOut));
}

/**
 * Glorot-uniform weights (Keras's default): U(−limit, limit) with limit = sqrt(6 / (fanIn +
 * fanOut)). For a dense kernel [in, out] the fans are in and out; for a conv kernel
 * [kh, kw, inC, outC] they are kh·kw·inC and kh·kw·outC.
 */
export function glorotUniform(fanIn: number, fanOut: number, shape: Shape, seed?: number): Tensor {
  checkFans('glorotUniform', fanIn, fanOut);
  const limit = glorotLimit(fanIn, fanOut);
  return rand(shape, { low: -limit, high: limit, seed });
}

/** He-normal weights (for deep ReLU stacks): N(0, 2 / fanIn). */
export function heNormal(fanIn: number, shape: Shape, seed?: number): Tensor {
  checkFans('heNormal', fanIn, 1);
  return randn(shape, { std: Math.sqrt(2 / fanIn), seed });
}

/** Normal weights with a given standard deviation (DCGAN-style N(0, 0.02)). */
export function normal(shape: Shape, std: number, seed?: number): Tensor {
  return randn(shape, { std, seed });
}

export function zeros(shape: Shape): Tensor {
  return zerosTensor(shape);
}

export function ones(shape: Shape): Tensor {
  return onesTensor(shape);
}
