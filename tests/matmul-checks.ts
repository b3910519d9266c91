// Checks of the matmul kernels against their float64 reference, shared by tests/matmul.test.ts
// (Dawn) and the Deno part on wgpu (tests/deno/wgpu.ts).

import * as assert from 'uvu/assert';
import { randomArray, assertClose, f32 } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { matmulRaw } from '../src/core/ops.ts';
import { MATMUL_VARIANTS, matmulReference, vec4Fits, type MatmulShape, type MatmulVariant } from '../src/kernels/matmul.ts';

export const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

// f32 dot products of length k: error grows like √k·ε·Σ|a·b|; inputs in [-1, 1].
export const RTOL = 1e-4;
export const ATOL = 1e-4;

export function shapeOf(m: number, n: number, k: number, transA: boolean, transB: boolean, batch = 1, aBatch = batch, bBatch = batch): MatmulShape {
  return { batch, m, n, k, transA, transB, aBatchStride: aBatch === 1 ? 0 : m * k, bBatchStride: bBatch === 1 ? 0 : k * n };
}

/** The variants that run a shape: all of them, less vec4 off its multiple-of-4 rule (an error, tested below). */
export function variantsFor(s: MatmulShape): MatmulVariant[] {
  return MATMUL_VARIANTS.filter((v) => v !== 'vec4' || vec4Fits(s));
}

/** One product (m, n, k, transposes) in every variant that runs its shape, vs matmulReference. */
export async function checkMatmulCase(m: number, n: number, k: number, transA: boolean, transB: boolean): Promise<void> {
  const aShape = transA ? [k, m] : [m, k];
  const bShape = transB ? [n, k] : [k, n];
  const a = f32(randomArray(aShape, m * 1000 + k));
  const b = f32(randomArray(bShape, n * 1000 + k + 1));
  const expected = matmulReference(a, b, shapeOf(m, n, k, transA, transB));
  const at = tensor(a, aShape);
  const bt = tensor(b, bShape);
  for (const variant of variantsFor(shapeOf(m, n, k, transA, transB))) {
    const c = matmulRaw(at, bt, { transA, transB, variant });
    assert.equal([...c.shape], [m, n]);
    assertClose(await c.toArray(), expected, `${variant} m=${m} n=${n} k=${k} transA=${transA} transB=${transB}`, RTOL, ATOL);
    c.dispose();
  }
  at.dispose();
  bt.dispose();
}
