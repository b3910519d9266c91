import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspect } from 'node:util';
import { ready } from './helpers.ts';
import { formatValues } from '../src/core/format.ts';
import { fromData } from '../src/core/tensor.ts';
import { tensor } from '../src/core/creation.ts';
import { memory } from '../src/core/memory.ts';

test.before(async () => {
  await ready;
});

test('formatValues: nested rows, one width, integers plain, floats to a precision', () => {
  assert.is(formatValues([1, 2, 3, 4, 5, 60], [2, 3], false), '[[ 1,  2,  3],\n [ 4,  5, 60]]');
  assert.is(formatValues([1.5, -0.25, 10], [3], false), '[ 1.5000, -0.2500, 10.0000]');
  assert.is(formatValues([1.5, -0.25], [2], false, { precision: 1 }), '[ 1.5, -0.3]');
  assert.is(formatValues([-0.00001, 0.5], [2], false, { precision: 2 }), '[-1.00e-5,  5.00e-1]');
  assert.is(formatValues([-1e-9, 0.5], [2], false, { precision: 2, threshold: 10 }), '[-1.00e-9,  5.00e-1]');
  assert.is(formatValues([NaN, Infinity, -Infinity, 0.5], [4], false), '[   NaN,    Inf,   -Inf, 0.5000]');
  assert.is(formatValues([-0.00001, 1], [2], false, { precision: 1 }), '[-1.0e-5,  1.0e+0]');
  assert.is(formatValues([7], [], false), '7');
  assert.is(formatValues([2.5], [], false), '2.5000');
  assert.is(formatValues([], [0], false), '[]');
  assert.is(formatValues([], [2, 0], false), '[[],\n []]');
  assert.is(formatValues([-3, 4294967295], [2], true), '[        -3, 4294967295]');
  // Rank 3: blocks separated by a blank line, as NumPy.
  assert.is(formatValues([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], true), '[[[1, 2],\n  [3, 4]],\n\n [[5, 6],\n  [7, 8]]]');
});

test('formatValues summarises large tensors with … on every long axis', () => {
  const n = 2000;
  const line = Float64Array.from({ length: n }, (_, i) => i);
  assert.is(formatValues(line, [n], true), '[   0,    1,    2, …, 1997, 1998, 1999]');
  assert.is(formatValues(line, [n], true, { edgeItems: 1 }), '[   0, …, 1999]');
  assert.is(formatValues(line, [n], true, { threshold: n }), `[${[...line].map((v) => String(v).padStart(4)).join(', ')}]`);
  const grid = formatValues(line, [40, 50], true);
  assert.is(
    grid,
    [
      '[[   0,    1,    2, …,   47,   48,   49],',
      ' [  50,   51,   52, …,   97,   98,   99],',
      ' [ 100,  101,  102, …,  147,  148,  149],',
      ' …,',
      ' [1850, 1851, 1852, …, 1897, 1898, 1899],',
      ' [1900, 1901, 1902, …, 1947, 1948, 1949],',
      ' [1950, 1951, 1952, …, 1997, 1998, 1999]]',
    ].join('\n'),
  );
  assert.throws(() => formatValues([1], [1], false, { precision: -1 }), /precision must be an integer in 0\.\.20/);
});

test('String(tensor) gives shape and dtype without reading the GPU; print() reads and prints the values', async () => {
  const t = tensor([1, 2.5, -3, 4, 5, 6], [2, 3], { requiresGrad: true });
  t.name = 'w';
  assert.is(String(t), 'Tensor(shape=[2, 3], dtype=f32, name="w", requiresGrad=true)');
  assert.is(`${t}`, String(t));
  assert.is(inspect(t), String(t));
  const lines: unknown[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.join(' '));
  try {
    await t.print();
  } finally {
    console.log = log;
  }
  assert.equal(lines, ['Tensor(shape=[2, 3], dtype=f32, name="w", requiresGrad=true)\n[[ 1.0000,  2.5000, -3.0000],\n [ 4.0000,  5.0000,  6.0000]]']);
  // Integers print exactly, u32 beyond f32's 2^24 included.
  const u = fromData([4294967295, 16777217], [2], 'u32');
  assert.is(await u.format(), 'Tensor(shape=[2], dtype=u32)\n[4294967295,   16777217]');
  const i = tensor([-7, 3], [2], { dtype: 'i32' });
  assert.is(await i.format(), 'Tensor(shape=[2], dtype=i32)\n[-7,  3]');
  const live = memory().liveTensors;
  await t.format();
  assert.is(memory().liveTensors, live, 'format() left tensors behind');
  for (const x of [t, u, i]) x.dispose();
  assert.is(String(t), 'Tensor(shape=[2, 3], dtype=f32, name="w", requiresGrad=true, disposed)');
});

test.run();
