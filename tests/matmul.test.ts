import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32 } from './helpers.ts';
import { ATOL, RTOL, TRANSPOSES, checkMatmulCase, shapeOf, variantsFor } from './matmul-checks.ts';
import { tensor } from '../src/core/creation.ts';
import { memory } from '../src/core/memory.ts';
import { matmulRaw } from '../src/core/ops.ts';
import { matmulReference, type MatmulVariant } from '../src/kernels/matmul.ts';
import { ACTIVATIONS, type Activation } from '../src/kernels/activation.ts';

test.before(async () => {
  await ready;
});

// A spread of [m, n, k] over {1, 3, 7, 33, 65, 130}: every size appears in every role, ragged
// against the 8, 16 and 64 tiles, plus degenerate vectors (m or n or k = 1).
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 3],
  [3, 1, 7],
  [7, 3, 1],
  [3, 3, 3],
  [7, 7, 7],
  [33, 7, 3],
  [3, 33, 7],
  [7, 3, 33],
  [33, 33, 33],
  [65, 1, 33],
  [1, 65, 7],
  [65, 65, 3],
  [3, 65, 65],
  [65, 33, 130],
  [130, 7, 65],
  [7, 130, 1],
  [130, 130, 7],
  [1, 130, 130],
  [130, 65, 33],
  [65, 130, 130],
];


test('every variant × transA/transB × a spread of shapes vs matmulReference', async () => {
  for (const [m, n, k] of SHAPES) {
    for (const [transA, transB] of TRANSPOSES) {
      await checkMatmulCase(m, n, k, transA, transB);
    }
  }
});

test('batched matmul with batch broadcasting (1 vs 3), every variant', async () => {
  // [aBatch, bBatch] where 0 means a 2-D operand.
  const batches: [number, number][] = [[3, 3], [1, 3], [3, 1], [0, 3], [3, 0]];
  const dims: [number, number, number][] = [[7, 33, 65], [33, 3, 7], [65, 7, 1]];
  for (const [aB, bB] of batches) {
    for (const [m, n, k] of dims) {
      for (const [transA, transB] of TRANSPOSES) {
        const aMat = transA ? [k, m] : [m, k];
        const bMat = transB ? [n, k] : [k, n];
        const aShape = aB ? [aB, ...aMat] : aMat;
        const bShape = bB ? [bB, ...bMat] : bMat;
        const a = f32(randomArray(aShape, m + aB));
        const b = f32(randomArray(bShape, n + bB + 100));
        const batch = Math.max(aB, bB, 1);
        const expected = matmulReference(a, b, shapeOf(m, n, k, transA, transB, batch, aB || 1, bB || 1));
        const at = tensor(a, aShape);
        const bt = tensor(b, bShape);
        for (const variant of variantsFor(shapeOf(m, n, k, transA, transB))) {
          const c = matmulRaw(at, bt, { transA, transB, variant });
          assert.equal([...c.shape], [batch, m, n]);
          assertClose(await c.toArray(), expected, `${variant} batch ${aB}×${bB} m=${m} n=${n} k=${k} tA=${transA} tB=${transB}`, RTOL, ATOL);
          c.dispose();
        }
        at.dispose();
        bt.dispose();
      }
    }
  }
});

test('fused bias + every activation, every variant', async () => {
  // Every epilogue (bias on and off × every activation) on every variant, over four ragged shapes
  // (n = 65, 3, 33, 130: the bias is read at ragged column edges, and n = 3 gives direct's narrow block).
  // The transposes, like the epilogue, are pipeline constants: crossing the four transpose pairs with
  // the ten epilogues compiled 40 pipelines per variant (seconds each on llvmpipe) for a write step
  // that never reads them. So the pair rotates with the epilogue instead, (activation + 2·bias) mod 4:
  // with bias and without, every pair meets an epilogue in every variant, and the first test crosses
  // every pair with every shape.
  const cases: [number, number, number][] = [
    [33, 65, 7],
    [7, 3, 130],
    [65, 33, 33],
    [1, 130, 3],
  ];
  const epilogues: { activation: Activation; withBias: boolean; transA: boolean; transB: boolean }[] = [];
  ACTIVATIONS.forEach((activation, act) => {
    for (const withBias of [true, false]) {
      const [transA, transB] = TRANSPOSES[(act + (withBias ? 2 : 0)) % TRANSPOSES.length];
      epilogues.push({ activation, withBias, transA, transB });
    }
  });
  for (const { activation, withBias, transA, transB } of epilogues) {
    const alpha = activation === 'leakyRelu' ? 0.2 : 0;
    for (const [m, n, k] of cases) {
      const aShape = transA ? [k, m] : [m, k];
      const bShape = transB ? [n, k] : [k, n];
      const a = f32(randomArray(aShape, m + 7));
      const b = f32(randomArray(bShape, n + 8));
      const bias = f32(randomArray([n], n + 9));
      const at = tensor(a, aShape);
      const bt = tensor(b, bShape);
      const biasT = tensor(bias, [n]);
      const expected = matmulReference(a, b, shapeOf(m, n, k, transA, transB), withBias ? bias : undefined, activation, alpha);
      for (const variant of variantsFor(shapeOf(m, n, k, transA, transB))) {
        const c = matmulRaw(at, bt, { transA, transB, variant, activation, alpha, bias: withBias ? biasT : undefined });
        assertClose(await c.toArray(), expected, `${variant} ${activation} bias=${withBias} m=${m} n=${n} k=${k} transA=${transA} transB=${transB}`, RTOL, ATOL);
        c.dispose();
      }
      [at, bt, biasT].forEach((t) => t.dispose());
    }
  }
  // The rotation reaches every pair, with bias and without.
  for (const withBias of [true, false]) {
    assert.is(new Set(epilogues.filter((e) => e.withBias === withBias).map((e) => `${e.transA}${e.transB}`)).size, TRANSPOSES.length);
  }
});

test("a named variant runs as named: vec4 off its multiple-of-4 rule is an error naming the rule, before GPU work", async () => {
  const a = tensor(randomArray([7, 8], 1), [7, 8]);
  const b = tensor(randomArray([8, 6], 2), [8, 6]);
  const before = memory().liveBuffers;
  assert.throws(() => matmulRaw(a, b, { variant: 'vec4' }), (e: Error) => /'vec4'/.test(e.message) && /multiples of 4/.test(e.message) && /n 6/.test(e.message));
  assert.throws(() => matmulRaw(a, b, { variant: 'fast' as MatmulVariant }), /'fast' is not one of/);
  assert.is(memory().liveBuffers, before, 'nothing was allocated');
  const b8 = tensor(randomArray([8, 8], 3), [8, 8]);
  const c = matmulRaw(a, b8, { variant: 'vec4' });
  assertClose(await c.toArray(), matmulReference(await a.toArray(), await b8.toArray(), shapeOf(7, 8, 8, false, false)), 'vec4 on its rule', RTOL, ATOL);
  [a, b, b8, c].forEach((t) => t.dispose());
});

test('matmul shape errors name the shapes, before GPU work', () => {
  const a = tensor(randomArray([2, 3], 1), [2, 3]);
  const b = tensor(randomArray([4, 5], 2), [4, 5]);
  const a3 = tensor(randomArray([2, 2, 3], 3), [2, 2, 3]);
  const b3 = tensor(randomArray([3, 3, 5], 4), [3, 3, 5]);
  const v = tensor(randomArray([3], 5), [3]);
  const before = memory().liveBuffers;
  assert.throws(() => matmulRaw(a, b), (e: Error) => e.message.includes('[2, 3]') && e.message.includes('[4, 5]') && e.message.includes('3 vs 4'));
  assert.throws(() => matmulRaw(a3, b3), (e: Error) => e.message.includes('[2, 2, 3]') && e.message.includes('[3, 3, 5]'));
  assert.throws(() => matmulRaw(v, b), (e: Error) => e.message.includes('[3]'));
  assert.throws(() => matmulRaw(a, b, { transA: true }), /inner dimensions/);
  const c = tensor(randomArray([3, 5], 6), [3, 5]);
  assert.throws(() => matmulRaw(a, c, { bias: v }), /bias \[3\] must be \[5\]/);
  assert.is(memory().liveBuffers, before + 1, 'only c was allocated');
  [a, b, a3, b3, v, c].forEach((t) => t.dispose());
});

test.run();
