import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, gradCheck, randomArray, assertClose, f32, seededRandom } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { softmax, logSoftmax, crossEntropy } from '../src/core/softmax-ops.ts';
import { tidy } from '../src/core/scope.ts';
import { square } from '../src/core/ops.ts';
import {
  softmaxReference,
  softmaxBackwardReference,
  crossEntropyReference,
  crossEntropyBackwardReference,
} from '../src/kernels/softmax.ts';

test.before(async () => {
  await ready;
});

function randomLabels(rows: number, classes: number, seed: number): Int32Array {
  const r = seededRandom(seed);
  return Int32Array.from({ length: rows }, () => Math.floor(r() * classes));
}

const SIZES: [number, number][] = [
  [1, 1], [3, 1], [1, 3], [7, 3], [33, 10], [130, 10], [65, 33], [3, 65], [7, 130], [2, 257], [5, 1000], [1, 1031],
];

test('softmax and logSoftmax forward match the float64 reference at awkward sizes', async () => {
  for (const [rows, classes] of SIZES) {
    const x = f32(randomArray([rows, classes], rows * 31 + classes, -4, 4));
    for (const [name, op] of [['softmax', softmax], ['logSoftmax', logSoftmax]] as const) {
      const y = tidy(() => op(tensor(x, [rows, classes])));
      const got = await y.toArray();
      y.dispose();
      assertClose(got, softmaxReference(name, x, rows, classes), `${name} [${rows}, ${classes}]`, 1e-5, 1e-6);
    }
  }
});

test('softmax works on leading batch dimensions and over more rows than one grid dimension holds', async () => {
  const x = f32(randomArray([2, 3, 4, 5], 9));
  const y = tidy(() => softmax(tensor(x, [2, 3, 4, 5]), -1));
  assert.equal([...y.shape], [2, 3, 4, 5]);
  assertClose(await y.toArray(), softmaxReference('softmax', x, 24, 5), 'softmax rank 4');
  y.dispose();
  const rows = 70000; // > 65,535 workgroups: the grid folds into two dimensions
  const big = f32(randomArray([rows, 2], 10, -3, 3));
  const z = tidy(() => logSoftmax(tensor(big, [rows, 2])));
  assertClose(await z.toArray(), softmaxReference('logSoftmax', big, rows, 2), 'logSoftmax 70000 rows');
  z.dispose();
});

test('large logits (±80 and beyond) stay finite', async () => {
  const rows = 4;
  const classes = 10;
  const x = f32(randomArray([rows, classes], 3, -80, 80));
  x.fill(80, 20, 30); // a row of equal huge logits
  x[35] = 1e30; // one overwhelming logit
  const labels = Int32Array.from([0, 5, 9, 3]);
  const [p, lp, ce] = tidy(() => {
    const t = tensor(x, [rows, classes]);
    return [softmax(t), logSoftmax(t), crossEntropy(t, tensor(labels, [rows], { dtype: 'i32' }), { reduction: 'none' })];
  });
  const [pv, lpv, cev] = await Promise.all([p.toArray(), lp.toArray(), ce.toArray()]);
  for (const [name, v] of [['softmax', pv], ['logSoftmax', lpv], ['crossEntropy', cev]] as const) {
    assert.ok(v.every(Number.isFinite), `${name} has a non-finite value: ${v}`);
  }
  assertClose(pv, softmaxReference('softmax', x, rows, classes), 'softmax ±80', 1e-5, 1e-6);
  assertClose(lpv, softmaxReference('logSoftmax', x, rows, classes), 'logSoftmax ±80', 1e-6, 2e-5);
  assertClose(cev, crossEntropyReference(x, labels, rows, classes), 'crossEntropy ±80', 1e-6, 2e-5);
  for (const t of [p, lp, ce]) t.dispose();
});

test('crossEntropy forward: none / sum / mean at awkward sizes, u32 labels too', async () => {
  for (const [rows, classes] of [[1, 1], [3, 3], [7, 10], [65, 130], [4, 1000]] as const) {
    const x = f32(randomArray([rows, classes], rows + classes, -5, 5));
    const labels = randomLabels(rows, classes, rows * 7 + classes);
    const ref = crossEntropyReference(x, labels, rows, classes);
    const total = ref.reduce((a, b) => a + b, 0);
    const [none, sum, mean, viaU32] = tidy(() => {
      const t = tensor(x, [rows, classes]);
      const l = tensor(labels, [rows], { dtype: 'i32' });
      return [
        crossEntropy(t, l, { reduction: 'none' }),
        crossEntropy(t, l, { reduction: 'sum' }),
        crossEntropy(t, l),
        crossEntropy(t, tensor(labels, [rows], { dtype: 'u32' })),
      ];
    });
    assert.equal([...none.shape], [rows]);
    assert.equal([...mean.shape], []);
    assertClose(await none.toArray(), ref, `crossEntropy none [${rows}, ${classes}]`, 1e-5, 1e-5);
    assertClose(await sum.toArray(), [total], `crossEntropy sum [${rows}, ${classes}]`, 1e-5, 1e-5);
    assertClose(await mean.toArray(), [total / rows], `crossEntropy mean [${rows}, ${classes}]`, 1e-5, 1e-5);
    assertClose(await viaU32.toArray(), [total / rows], `crossEntropy u32 labels [${rows}, ${classes}]`, 1e-5, 1e-5);
    for (const t of [none, sum, mean, viaU32]) t.dispose();
  }
});

test('crossEntropy keeps leading dimensions ([B, H, W, C] logits, [B, H, W] labels)', async () => {
  const shape = [2, 3, 2, 4];
  const x = f32(randomArray(shape, 5));
  const labels = randomLabels(12, 4, 6);
  const y = tidy(() => crossEntropy(tensor(x, shape), tensor(labels, [2, 3, 2], { dtype: 'i32' }), { reduction: 'none' }));
  assert.equal([...y.shape], [2, 3, 2]);
  assertClose(await y.toArray(), crossEntropyReference(x, labels, 12, 4), 'crossEntropy rank 4');
  y.dispose();
});

test('a label outside [0, C) gives NaN for its row (it cannot throw from the GPU)', async () => {
  const x = f32(randomArray([3, 4], 8));
  const y = tidy(() => crossEntropy(tensor(x, [3, 4]), tensor([1, 4, -1], [3], { dtype: 'i32' }), { reduction: 'none' }));
  const v = await y.toArray();
  assert.ok(Number.isFinite(v[0]));
  assert.ok(Number.isNaN(v[1]) && Number.isNaN(v[2]), `expected NaN for labels 4 and -1, got ${v}`);
  y.dispose();
});

test('backward kernels match their float64 references', async () => {
  for (const [rows, classes] of [[3, 1], [7, 10], [5, 130], [2, 1000]] as const) {
    const x = f32(randomArray([rows, classes], 40 + classes));
    const g = f32(randomArray([rows, classes], 41 + classes));
    const labels = randomLabels(rows, classes, 42);
    for (const mode of ['softmax', 'logSoftmax'] as const) {
      const xt = tensor(x, [rows, classes], { requiresGrad: true });
      const y = mode === 'softmax' ? softmax(xt) : logSoftmax(xt);
      const yv = await y.toArray();
      y.backward(tensor(g, [rows, classes]));
      const expected = softmaxBackwardReference(mode, yv, g, rows, classes);
      assertClose(await xt.grad!.toArray(), expected, `${mode} backward [${rows}, ${classes}]`, 1e-4, 1e-6);
      xt.grad!.dispose();
      xt.dispose();
      y.dispose();
    }
    const gRows = f32(randomArray([rows], 43));
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      const xt = tensor(x, [rows, classes], { requiresGrad: true });
      const loss = crossEntropy(xt, tensor(labels, [rows], { dtype: 'i32' }), { reduction });
      if (reduction === 'none') loss.backward(tensor(gRows, [rows]));
      else loss.backward();
      const expected =
        reduction === 'none'
          ? crossEntropyBackwardReference(x, labels, gRows, rows, classes, true, 1)
          : crossEntropyBackwardReference(x, labels, [1], rows, classes, false, reduction === 'mean' ? 1 / rows : 1);
      assertClose(await xt.grad!.toArray(), expected, `crossEntropy ${reduction} backward [${rows}, ${classes}]`, 1e-4, 1e-6);
      xt.grad!.dispose();
      xt.dispose();
      loss.dispose();
    }
  }
});

test('gradient checks: softmax, logSoftmax, crossEntropy (float64 reference)', async () => {
  for (const [rows, classes] of [[3, 5], [2, 33]] as const) {
    const shape = [rows, classes];
    const data = randomArray(shape, rows * classes, -2, 2);
    await gradCheck(`softmax [${shape}]`, (x) => softmax(x), [{ data, shape }], {
      reference: (x) => softmaxReference('softmax', x, rows, classes),
    });
    await gradCheck(`logSoftmax [${shape}]`, (x) => logSoftmax(x), [{ data, shape }], {
      reference: (x) => softmaxReference('logSoftmax', x, rows, classes),
    });
    const labels = randomLabels(rows, classes, 11);
    const labelTensor = tensor(labels, [rows], { dtype: 'i32' });
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      await gradCheck(`crossEntropy ${reduction} [${shape}]`, (x) => crossEntropy(x, labelTensor, { reduction }), [{ data, shape }], {
        reference: (x) => {
          const perRow = crossEntropyReference(x, labels, rows, classes);
          if (reduction === 'none') return perRow;
          const total = perRow.reduce((a, b) => a + b, 0);
          return Float64Array.of(reduction === 'mean' ? total / rows : total);
        },
      });
    }
    labelTensor.dispose();
  }
});

test('gradient check in f32 through a composition: crossEntropy(softmax(x)²)', async () => {
  const labels = tensor([1, 0, 5, 2], [4], { dtype: 'i32' });
  await gradCheck('crossEntropy(square(softmax(x)))', (x) => crossEntropy(square(softmax(x)), labels), [
    { data: randomArray([4, 6], 77), shape: [4, 6] },
  ]);
  labels.dispose();
});

test('bad input is rejected before any GPU work, with shapes in the message', async () => {
  const x = tensor(randomArray([4, 3], 1), [4, 3]);
  const labels = tensor([0, 1, 2, 0], [4], { dtype: 'i32' });
  assert.throws(() => crossEntropy(x, tensor([0, 1, 2], [3], { dtype: 'i32' })), /labels \[3\] must have the shape of logits \[4, 3\] without its class axis, \[4\]/);
  assert.throws(() => crossEntropy(x, tensor([0, 1, 2, 0], [4])), /integer class labels/);
  assert.throws(() => crossEntropy(x, labels, { reduction: 'avg' as 'mean' }), /reduction must be/);
  assert.throws(() => crossEntropy(tensor([], [4, 0]), labels), /no classes/);
  assert.throws(() => softmax(x, 0), /only the last axis/);
  assert.throws(() => softmax(tensor([1, 2], [2], { dtype: 'i32' })), /f32/);
  const gone = tensor([1, 2, 3], [1, 3]);
  gone.dispose();
  assert.throws(() => logSoftmax(gone), /disposed/);
  x.dispose();
  labels.dispose();
});

test.run();
