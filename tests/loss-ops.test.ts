import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, gradCheck, randomArray, assertClose, f32 } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { memory } from '../src/core/memory.ts';
import { binaryCrossEntropyWithLogits as bce, mseLoss, type Reduction } from '../src/core/loss-ops.ts';
import { BINARY, binaryReference } from '../src/kernels/elementwise.ts';
import { sizeOf, type Shape } from '../src/kernels/shapes.ts';

test.before(async () => {
  await ready;
});

function reduced(values: Float64Array, reduction: Reduction): Float64Array {
  if (reduction === 'none') return values;
  const s = values.reduce((a, v) => a + v, 0);
  return Float64Array.of(reduction === 'sum' ? s : s / values.length);
}

function bceReference(x: Float64Array, xShape: Shape, z: Float64Array, zShape: Shape, reduction: Reduction): Float64Array {
  return reduced(binaryReference('bceWithLogits', x, xShape, z, zShape, xShape), reduction);
}
function mseReference(p: Float64Array, pShape: Shape, t: Float64Array, tShape: Shape, reduction: Reduction): Float64Array {
  const d = binaryReference('sub', p, pShape, t, tShape, pShape);
  return reduced(d.map((v) => v * v), reduction);
}

const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];

test('bce reference matches the textbook formula away from saturation', () => {
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  for (const [x, z] of [[0.3, 1], [-2, 0], [1.5, 0.25]]) {
    const textbook = -(z * Math.log(sig(x)) + (1 - z) * Math.log(1 - sig(x)));
    assertClose([BINARY.bceWithLogits.ref(x, z)], [textbook], `bce(${x}, ${z})`, 1e-12, 1e-12);
  }
});

test('binaryCrossEntropyWithLogits forward: reductions, awkward sizes, saturated logits', async () => {
  for (const n of [1, 3, 7, 33, 65, 130]) {
    const shape = [n];
    const x = randomArray(shape, n, -6, 6);
    const z = randomArray(shape, n + 1, 0, 1);
    for (const reduction of REDUCTIONS) {
      const xt = tensor(x, shape);
      const zt = tensor(z, shape);
      const y = bce(xt, zt, { reduction });
      assert.equal([...y.shape], reduction === 'none' ? shape : []);
      assertClose(await y.toArray(), bceReference(f32(x), shape, f32(z), shape, reduction), `bce n=${n} ${reduction}`, 1e-5, 1e-5);
      [xt, zt, y].forEach((t) => t.dispose());
    }
  }
  // Logits far past exp's range: finite loss, exact limits.
  const x = tensor([100, -100, 100, -100, 0], [5]);
  const z = tensor([1, 0, 0, 1, 0.5], [5]);
  const y = bce(x, z, { reduction: 'none' });
  assertClose(await y.toArray(), [0, 0, 100, 100, Math.LN2], 'saturated logits', 1e-6, 1e-6);
  [x, z, y].forEach((t) => t.dispose());
});

test('binaryCrossEntropyWithLogits with broadcast and number targets', async () => {
  const shape = [4, 3];
  const x = randomArray(shape, 1, -3, 3);
  const xt = tensor(x, shape);
  const ones = bce(xt, 1);
  assertClose(await ones.toArray(), bceReference(f32(x), shape, Float64Array.of(1), [], 'mean'), 'target 1', 1e-5, 1e-6);
  const zRow = randomArray([3], 2, 0, 1);
  const zt = tensor(zRow, [3]);
  const row = bce(xt, zt, { reduction: 'sum' });
  assertClose(await row.toArray(), bceReference(f32(x), shape, f32(zRow), [3], 'sum'), 'row target', 1e-5, 1e-5);
  [xt, zt, ones, row].forEach((t) => t.dispose());
});

test('binaryCrossEntropyWithLogits gradients (logits and targets)', async () => {
  const shape: Shape = [3, 7];
  for (const reduction of REDUCTIONS) {
    await gradCheck(`bce ${reduction}`, (x, z) => bce(x, z, { reduction }), [
      { data: randomArray(shape, 3, -4, 4), shape },
      { data: randomArray(shape, 4, 0, 1), shape },
    ], { reference: (x, z) => bceReference(x, shape, z, shape, reduction) });
  }
  await gradCheck('bce logits only', (x, z) => bce(x, z), [
    { data: randomArray([65], 5, -4, 4), shape: [65] },
    { data: randomArray([65], 6, 0, 1), shape: [65], check: false },
  ], { reference: (x, z) => bceReference(x, [65], z, [65], 'mean') });
  await gradCheck('bce broadcast target', (x, z) => bce(x, z, { reduction: 'sum' }), [
    { data: randomArray([4, 3], 7, -4, 4), shape: [4, 3] },
    { data: randomArray([3], 8, 0, 1), shape: [3] },
  ], { reference: (x, z) => bceReference(x, [4, 3], z, [3], 'sum') });
});

test('binaryCrossEntropyWithLogits: targets without requiresGrad get no gradient', async () => {
  const x = tensor(randomArray([5], 1), [5], { requiresGrad: true });
  const z = tensor(randomArray([5], 2, 0, 1), [5]);
  const loss = bce(x, z);
  loss.backward();
  assert.ok(x.grad);
  assert.is(z.grad, null);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const xs = await x.toArray();
  const zs = await z.toArray();
  assertClose(await x.grad!.toArray(), Array.from(xs, (v, i) => (sig(v) - zs[i]) / 5), '(σ(x) − z)/n', 1e-5, 1e-6);
  [x.grad!, x, z, loss].forEach((t) => t.dispose());
});

test('mseLoss forward and gradients', async () => {
  for (const shape of [[1], [7], [33, 3], [2, 65]] as Shape[]) {
    const p = randomArray(shape, sizeOf(shape));
    const t = randomArray(shape, sizeOf(shape) + 1);
    for (const reduction of REDUCTIONS) {
      const pt = tensor(p, shape);
      const tt = tensor(t, shape);
      const y = mseLoss(pt, tt, { reduction });
      assertClose(await y.toArray(), mseReference(f32(p), shape, f32(t), shape, reduction), `mse ${shape} ${reduction}`, 1e-5, 1e-6);
      [pt, tt, y].forEach((u) => u.dispose());
    }
  }
  const shape: Shape = [4, 5];
  for (const reduction of REDUCTIONS) {
    await gradCheck(`mse ${reduction}`, (p, t) => mseLoss(p, t, { reduction }), [
      { data: randomArray(shape, 1), shape },
      { data: randomArray(shape, 2), shape },
    ], { reference: (p, t) => mseReference(p, shape, t, shape, reduction) });
  }
  await gradCheck('mse broadcast target', (p, t) => mseLoss(p, t), [
    { data: randomArray(shape, 3), shape },
    { data: randomArray([5], 4), shape: [5] },
  ], { reference: (p, t) => mseReference(p, shape, t, [5], 'mean') });
});

test('outside tidy, a loss without gradients leaves only its value', () => {
  const x = tensor(randomArray([4, 3], 1), [4, 3]);
  const z = tensor(randomArray([4, 3], 2, 0, 1), [4, 3]);
  for (const reduction of REDUCTIONS) {
    for (const make of [() => bce(x, z, { reduction }), () => bce(x, 1, { reduction }), () => mseLoss(x, z, { reduction }), () => mseLoss(x, 0.5, { reduction })]) {
      const before = memory();
      make().dispose();
      const after = memory();
      assert.is(after.liveTensors, before.liveTensors, `${reduction}: live tensors`);
      assert.is(after.liveBuffers, before.liveBuffers, `${reduction}: live buffers`);
    }
  }
  [x, z].forEach((t) => t.dispose());
});

test('loss errors name both shapes, before GPU work', () => {
  const x = tensor(randomArray([2, 3], 1), [2, 3]);
  const z = tensor(randomArray([4], 2), [4]);
  const big = tensor(randomArray([3, 2, 3], 3), [3, 2, 3]);
  const labels = tensor([1, 0, 1, 0, 1, 0], [2, 3], { dtype: 'i32' });
  const before = memory().liveBuffers;
  const namesBoth = (e: Error) => e.message.includes('[2, 3]') && e.message.includes('[4]');
  assert.throws(() => bce(x, z), namesBoth);
  assert.throws(() => mseLoss(x, z), namesBoth);
  // A target larger than the input would change the loss's shape: refused.
  assert.throws(() => mseLoss(x, big), (e: Error) => e.message.includes('[2, 3]') && e.message.includes('[3, 2, 3]'));
  assert.throws(() => bce(x, labels), /f32/);
  assert.throws(() => bce(x, x, { reduction: 'avg' as Reduction }), /reduction/);
  assert.is(memory().liveBuffers, before, 'no buffers allocated by failed calls');
  [x, z, big, labels].forEach((t) => t.dispose());
});

test.run();
