// Float64 references shared by several test files (compositions of the kernels' own references).

import { sizeOf, stridesOf, type Shape } from '../src/kernels/shapes.ts';

/** Reduction of `x` [shape] over `axes`; output in row-major order of the remaining axes. */
export function reduceAxesReference(op: 'sum' | 'mean' | 'max', x: ArrayLike<number>, shape: Shape, axes: readonly number[]): Float64Array {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Float64Array(sizeOf(outShape)).fill(op === 'max' ? -Infinity : 0);
  const inStrides = stridesOf(shape);
  const outStrides = stridesOf(outShape);
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    for (let d = 0; d < shape.length; d++) {
      const c = Math.floor(i / inStrides[d]) % shape[d];
      if (!axes.includes(d)) o += c * outStrides[d];
    }
    out[o] = op === 'max' ? Math.max(out[o], x[i]) : out[o] + x[i];
  }
  if (op === 'mean') {
    const count = sizeOf(axes.map((a) => shape[a]));
    for (let i = 0; i < out.length; i++) out[i] /= count;
  }
  return out;
}
