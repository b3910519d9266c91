// Differentiable ops that move data without arithmetic: transpose/permute, slice, concat, stack,
// and the free reshapes expandDims/squeeze; broadcastTo with its backward; oneHot. Every check
// runs before any GPU work, and errors name the shapes involved.

import { Tensor, formatShape, type Shape } from './tensor.ts';
import { run } from './dispatch.ts';
import { assertLive } from './checks.ts';
import { record } from './autograd.ts';
import { launch } from './launch.ts';
import { reshape, sumTo, broadcastRaw } from './ops.ts';
import { axisView, concatProgram, MAX_COPY_RANK, padProgram, permuteProgram, sliceProgram } from '../kernels/copy.ts';
import { oneHotProgram } from '../kernels/onehot.ts';
import { broadcastShapes, normalizeAxis, sameShape } from '../kernels/shapes.ts';

function isIdentity(perm: readonly number[]): boolean {
  return perm.every((p, i) => p === i);
}

function permuteRaw(x: Tensor, perm: readonly number[]): Tensor {
  const outShape = perm.map((p) => x.shape[p]);
  return launch(permuteProgram(x.shape, perm), [x], outShape, x.dtype);
}

/**
 * Reorders axes: output axis i is input axis perm[i]. Without `perm` the axes reverse (as
 * numpy.transpose and tf.transpose); transposing a matrix's last two axes is [0, …, r-1, r-2].
 */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  assertLive('transpose', x);
  const p = perm ? perm.map((a) => normalizeAxis(a, x.rank, 'transpose')) : [...x.shape.keys()].reverse();
  if (p.length !== x.rank || new Set(p).size !== p.length) {
    throw new RangeError(`transpose: [${perm}] is not a permutation of the ${x.rank} axes of ${formatShape(x.shape)}`);
  }
  if (x.rank > MAX_COPY_RANK) throw new RangeError(`transpose: rank of ${formatShape(x.shape)} exceeds ${MAX_COPY_RANK}`);
  if (isIdentity(p)) return record(x.view(), 'transpose', [x], (g) => [g.view()]);
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => (inverse[a] = i));
  return record(permuteRaw(x, p), 'transpose', [x], (g) => [permuteRaw(g, inverse)]);
}

/** The same as transpose(x, perm) (PyTorch's name); perm is required here. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  return transpose(x, perm);
}

function sliceRaw(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  return launch(sliceProgram(x.shape, begin, size), [x], size, x.dtype);
}

/**
 * tf.slice: the window starting at `begin` with extent `size` (-1: to the end of that axis).
 * Shorter lists apply to the leading axes; a number is the first axis's value.
 */
export function slice(x: Tensor, begin: number | readonly number[], size?: number | readonly number[]): Tensor {
  assertLive('slice', x);
  const b = typeof begin === 'number' ? [begin] : [...begin];
  const s = size === undefined ? [] : typeof size === 'number' ? [size] : [...size];
  const describe = () => `slice: begin [${b}] and size [${s}] do not fit ${formatShape(x.shape)}`;
  if (b.length > x.rank || s.length > x.rank) throw new RangeError(describe());
  while (b.length < x.rank) b.push(0);
  while (s.length < x.rank) s.push(-1);
  const extent = s.map((n, d) => (n === -1 ? x.shape[d] - b[d] : n));
  for (let d = 0; d < x.rank; d++) {
    if (!Number.isInteger(b[d]) || !Number.isInteger(extent[d]) || b[d] < 0 || extent[d] < 0 || b[d] + extent[d] > x.shape[d]) {
      throw new RangeError(`${describe()} (axis ${d}: start ${b[d]}, extent ${s[d]}, length ${x.shape[d]})`);
    }
  }
  if (x.rank > MAX_COPY_RANK) throw new RangeError(`slice: rank of ${formatShape(x.shape)} exceeds ${MAX_COPY_RANK}`);
  if (sameShape(extent, x.shape)) return record(x.view(), 'slice', [x], (g) => [g.view()]);
  const y = sliceRaw(x, b, extent);
  return record(y, 'slice', [x], (g) => [launch(padProgram(extent, b, x.shape), [g], x.shape, g.dtype)]);
}

/** Joins tensors along `axis`; every other dimension must agree. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError('concat needs at least one tensor');
  assertLive('concat', ...tensors);
  const first = tensors[0];
  if (first.rank === 0) throw new RangeError('concat: scalars have no axis to join along (use stack)');
  const ax = normalizeAxis(axis, first.rank, 'concat');
  const shapes = tensors.map((t) => formatShape(t.shape)).join(', ');
  for (const t of tensors) {
    if (t.dtype !== first.dtype) throw new TypeError(`concat: dtypes differ (${first.describe()} and ${t.describe()})`);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new RangeError(`concat: shapes ${shapes} differ outside axis ${ax}`);
    }
  }
  if (first.rank > MAX_COPY_RANK) throw new RangeError(`concat: rank of ${formatShape(first.shape)} exceeds ${MAX_COPY_RANK}`);
  if (tensors.length === 1) return record(first.view(), 'concat', [first], (g) => [g.view()]);

  const total = tensors.reduce((acc, t) => acc + t.shape[ax], 0);
  const outShape = [...first.shape];
  outShape[ax] = total;
  const out = new Tensor(outShape, first.dtype);
  const starts: number[] = [];
  let start = 0;
  for (const t of tensors) {
    starts.push(start);
    const { outer, length, inner } = axisView(t.shape, ax);
    if (t.size > 0) run(concatProgram(outer, length, inner, total, start), [t.gpu], [out.gpu]);
    start += length;
  }
  return record(out, 'concat', [...tensors], (g, needs) =>
    tensors.map((t, k) => {
      if (!needs[k]) return null;
      const begin = t.shape.map((_, d) => (d === ax ? starts[k] : 0));
      return sliceRaw(g, begin, t.shape);
    }),
  );
}

/** Joins same-shaped tensors along a new axis (tf.stack). */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError('stack needs at least one tensor');
  const first = tensors[0];
  for (const t of tensors) {
    if (!sameShape(t.shape, first.shape)) {
      throw new RangeError(`stack: shapes ${tensors.map((u) => formatShape(u.shape)).join(', ')} differ`);
    }
  }
  const ax = normalizeAxis(axis, first.rank + 1, 'stack');
  const views = tensors.map((t) => expandDims(t, ax));
  const out = concat(views, ax);
  // Outside tidy() the views would outlive the result unless its graph holds them.
  if (!out.node) for (const v of views) if (v !== out) v.dispose();
  return out;
}

/** Inserts a size-1 axis at `axis` (-1 appends one). No copy. */
export function expandDims(x: Tensor, axis = 0): Tensor {
  const ax = normalizeAxis(axis, x.rank + 1, 'expandDims');
  const shape = [...x.shape];
  shape.splice(ax, 0, 1);
  return reshape(x, shape);
}

/** Removes size-1 axes: the given ones (each must have size 1), or all of them. No copy. */
export function squeeze(x: Tensor, axis?: number | readonly number[]): Tensor {
  let drop: number[];
  if (axis === undefined) drop = [...x.shape.keys()].filter((d) => x.shape[d] === 1);
  else {
    drop = (typeof axis === 'number' ? [axis] : [...axis]).map((a) => normalizeAxis(a, x.rank, 'squeeze'));
    for (const d of drop) {
      if (x.shape[d] !== 1) throw new RangeError(`squeeze: axis ${d} of ${formatShape(x.shape)} has size ${x.shape[d]}, not 1`);
    }
  }
  return reshape(x, x.shape.filter((_, d) => !drop.includes(d)));
}

/** Repeats x along broadcast dimensions to `shape` (NumPy rules); the gradient sums them back. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  assertLive('broadcastTo', x);
  const out = broadcastShapes(x.shape, shape, 'broadcastTo');
  if (!sameShape(out, shape)) throw new RangeError(`broadcastTo: ${formatShape(x.shape)} cannot be broadcast to ${formatShape(shape)}`);
  if (sameShape(x.shape, shape)) return record(x.view(), 'broadcastTo', [x], (g) => [g.view()]);
  return record(broadcastRaw(x, shape), 'broadcastTo', [x], (g) => [sumTo(g, x.shape)]);
}

/**
 * Integer labels (any shape; i32, u32, or f32 holding whole numbers) → f32 [...shape, numClasses].
 * A label outside [0, numClasses) gives a row of zeros. Not differentiable.
 */
export function oneHot(labels: Tensor, numClasses: number): Tensor {
  assertLive('oneHot', labels);
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  }
  return launch(oneHotProgram(labels.size, numClasses, labels.dtype === 'f32'), [labels], [...labels.shape, numClasses]);
}
