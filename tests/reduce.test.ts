import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32 } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { Tensor } from '../src/core/tensor.ts';
import { sum, mean, max } from '../src/core/ops.ts';
import { launch } from '../src/core/launch.ts';
import { reduceProgram, reduceReference, type ReduceOp } from '../src/kernels/reduce.ts';
import { linearGrid } from '../src/kernels/program.ts';
import { reduceAxesReference } from './references.ts';

test.before(async () => {
  await ready;
});

function subsets(rank: number): number[][] {
  const all: number[][] = [];
  for (let mask = 0; mask < 1 << rank; mask++) all.push([...Array(rank).keys()].filter((d) => mask & (1 << d)));
  return all;
}

const OPS = { sum, mean, max };

test('sum, mean and max over every axis subset of [3, 5, 7, 2], with and without keepDims', async () => {
  const shape = [3, 5, 7, 2];
  const data = f32(randomArray(shape, 1));
  const x = tensor(data, shape);
  for (const axes of subsets(4)) {
    for (const name of ['sum', 'mean', 'max'] as const) {
      const expected = reduceAxesReference(name, data, shape, axes);
      for (const keepDims of [false, true]) {
        const y = OPS[name](x, axes, { keepDims });
        const expectedShape = keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
        assert.equal([...y.shape], expectedShape, `${name} [${axes}] keepDims ${keepDims} shape`);
        assertClose(await y.toArray(), expected, `${name} over [${axes}] keepDims ${keepDims}`, 1e-5, 1e-5);
        y.dispose();
      }
    }
  }
  x.dispose();
});

test('negative and single axes; default reduces everything to a scalar', async () => {
  const shape = [3, 5, 7, 2];
  const data = f32(randomArray(shape, 2));
  const x = tensor(data, shape);
  const y = sum(x, -2);
  assert.equal([...y.shape], [3, 5, 2]);
  assertClose(await y.toArray(), reduceAxesReference('sum', data, shape, [2]), 'sum axis -2', 1e-5, 1e-5);
  const m = max(x, [-1, 0], { keepDims: true });
  assert.equal([...m.shape], [1, 5, 7, 1]);
  assertClose(await m.toArray(), reduceAxesReference('max', data, shape, [0, 3]), 'max axes [-1, 0]', 0, 0);
  const all = mean(x);
  assert.equal([...all.shape], []);
  assertClose(await all.toArray(), reduceAxesReference('mean', data, shape, [0, 1, 2, 3]), 'mean of all', 1e-5, 1e-6);
  assert.throws(() => sum(x, 4), /axis 4 is out of range for rank 4/);
  assert.throws(() => sum(x, [1, -3]), /repeated axis/);
  [x, y, m, all].forEach((t) => t.dispose());
});

test('whole-tensor reductions of 1, 65 and 130,000 elements keep f32 accuracy', async () => {
  for (const n of [1, 65, 130000]) {
    for (const [lo, hi] of [[-1, 1], [0, 1]]) {
      const data = f32(randomArray([n], n, lo, hi));
      const x = tensor(data, [n]);
      let exact = 0;
      let absSum = 0;
      let exactMax = -Infinity;
      for (const v of data) {
        exact += v;
        absSum += Math.abs(v);
        exactMax = Math.max(exactMax, v);
      }
      // Error of a summation is bounded by (a modest multiple of) ε·Σ|x|; the tree of partial
      // sums stays well inside 8ε·Σ|x| (a naive running sum would not for 130,000 terms).
      const bound = 8 * 2 ** -24 * absSum;
      const s = await sum(x).item();
      assert.ok(Math.abs(s - exact) <= bound + 1e-7, `sum of ${n} in [${lo}, ${hi}): ${s} vs ${exact} (bound ${bound})`);
      const m = await mean(x).item();
      assert.ok(Math.abs(m - exact / n) <= (bound + 1e-7) / n, `mean of ${n}: ${m} vs ${exact / n}`);
      assert.is(await max(x).item(), exactMax, `max of ${n}`);
      x.dispose();
    }
  }
});

// [outer, length, inner]: inner 1 takes the rows path (one workgroup per output), else columns.
const LAYOUTS: [number, number, number][] = [
  [1, 1, 1],
  [3, 7, 1],
  [1, 1000, 1],
  [65, 130, 1],
  [7, 33, 3],
  [3, 65, 130],
  [1, 7, 33],
  [130, 1, 7],
  [2, 3000, 5],
];

function reduceRun(op: ReduceOp, x: Tensor, outer: number, length: number, inner: number, scale: number): Tensor {
  return launch(reduceProgram(op, outer, length, inner, scale), [x], [outer, inner]);
}

test('rows and columns paths vs reduceReference, with scale', async () => {
  for (const [outer, length, inner] of LAYOUTS) {
    const data = f32(randomArray([outer * length * inner], outer + length + inner, -2, 2));
    const x = tensor(data, [outer, length, inner]);
    const path = reduceProgram('sum', outer, length, inner).name;
    assert.is(path, inner === 1 ? 'sumRows' : 'sumColumns');
    for (const op of ['sum', 'max'] as ReduceOp[]) {
      for (const scale of [1, 0.25]) {
        const y = reduceRun(op, x, outer, length, inner, scale);
        assertClose(await y.toArray(), reduceReference(op, data, outer, length, inner, scale), `${op} [${outer}, ${length}, ${inner}] scale ${scale}`, 1e-5, 1e-5);
        y.dispose();
      }
    }
    x.dispose();
  }
});

test('max of all-negative rows and columns (the identity must not leak into results)', async () => {
  const data = f32(randomArray([4 * 65 * 3], 5, -1e30, -1e20));
  const x = tensor(data, [4, 65, 3]);
  const cols = reduceRun('max', x, 4, 65, 3, 1);
  assertClose(await cols.toArray(), reduceReference('max', data, 4, 65, 3), 'max columns', 0, 0);
  const rows = reduceRun('max', x, 4 * 65, 3, 1, 1);
  assertClose(await rows.toArray(), reduceReference('max', data, 4 * 65, 3, 1), 'max rows', 0, 0);
  [x, cols, rows].forEach((t) => t.dispose());
});

test('rows path with more than 65,535 rows folds its grid (one workgroup per row)', async () => {
  const outer = 70000;
  assert.ok(linearGrid(outer, 1)[1] > 1, 'this many rows needs a folded grid');
  const data = f32(randomArray([outer * 3], 9));
  const x = tensor(data, [outer, 3]);
  const y = sum(x, 1);
  assertClose(await y.toArray(), reduceReference('sum', data, outer, 3, 1), 'row sums of [70000, 3]', 1e-6, 1e-6);
  [x, y].forEach((t) => t.dispose());
});

test.run();
