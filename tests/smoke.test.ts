import { test } from 'uvu';
import { ready, gradCheck, randomArray } from './helpers.ts';
import * as ops from '../src/core/ops.ts';
import { binaryReference } from '../src/kernels/elementwise.ts';
import { matmulReference } from '../src/kernels/matmul.ts';

test.before(async () => {
  await ready;
});

test('mul broadcast gradient (reference)', async () => {
  await gradCheck('mul', (a, b) => ops.mul(a, b), [
    { data: randomArray([3, 4], 1), shape: [3, 4] },
    { data: randomArray([4], 2), shape: [4] },
  ], { reference: (a, b) => binaryReference('mul', a, [3, 4], b, [4], [3, 4]) });
});

test('matmul gradient (f32 numeric)', async () => {
  await gradCheck('matmul', (a, b) => ops.matmul(a, b), [
    { data: randomArray([5, 7], 3), shape: [5, 7] },
    { data: randomArray([7, 3], 4), shape: [7, 3] },
  ]);
  await gradCheck('matmul-ref', (a, b) => ops.matmul(a, b), [
    { data: randomArray([5, 7], 3), shape: [5, 7] },
    { data: randomArray([7, 3], 4), shape: [7, 3] },
  ], { reference: (a, b) => matmulReference(a, b, { batch: 1, m: 5, n: 3, k: 7, transA: false, transB: false, aBatchStride: 0, bBatchStride: 0 }) });
});

test.run();
