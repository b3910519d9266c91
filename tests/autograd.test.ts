// Finite-difference gradient checks for every differentiable op of src/core/ops.ts (against the
// float64 references), then the tape's own behaviour: accumulation, noGrad, detach, tidy, errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, gradCheck, randomArray, assertClose } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { memory } from '../src/core/memory.ts';
import { tidy } from '../src/core/scope.ts';
import { noGrad, detach, record } from '../src/core/autograd.ts';
import { transpose } from '../src/core/shape-ops.ts';
import { setDispatchObserver } from '../src/core/dispatch.ts';
import { conv2d } from '../src/core/conv-ops.ts';
import { Tensor } from '../src/core/tensor.ts';
import * as ops from '../src/core/ops.ts';
import { binaryReference } from '../src/kernels/elementwise.ts';
import { matmulReference } from '../src/kernels/matmul.ts';
import { sizeOf, type Shape } from '../src/kernels/shapes.ts';
import { reduceAxesReference } from './references.ts';
import { SHAPE, awayFromZero, checkBinaryGradients, checkLinearGradients, checkUnaryGradients, mm } from './autograd-checks.ts';

test.before(async () => {
  await ready;
});

test('unary ops: gradient vs float64 reference', async () => {
  await checkUnaryGradients();
});

test('binary ops with broadcasting: gradients of both inputs vs float64 reference', async () => {
  await checkBinaryGradients();
});

test('binary ops with a number operand and an input without grad', async () => {
  await gradCheck('add(x, 2)', (x) => ops.add(x, 2), [{ data: randomArray(SHAPE, 1), shape: SHAPE }], { reference: (x) => x.map((v) => v + 2) });
  await gradCheck('sub(2, x)', (x) => ops.sub(2, x), [{ data: randomArray(SHAPE, 2), shape: SHAPE }], { reference: (x) => x.map((v) => 2 - v) });
  await gradCheck('div(1, x)', (x) => ops.div(1, x), [{ data: awayFromZero(SHAPE, 3, 0.5, 2), shape: SHAPE }], { reference: (x) => x.map((v) => 1 / v) });
  await gradCheck('pow(2, x)', (x) => ops.pow(2, x), [{ data: randomArray(SHAPE, 4), shape: SHAPE }], { reference: (x) => x.map((v) => 2 ** v) });
  await gradCheck('mul(a, b) with b constant', (a, b) => ops.mul(a, b), [
    { data: randomArray([3, 4], 5), shape: [3, 4] },
    { data: randomArray([4], 6), shape: [4], check: false },
  ], { reference: (a, b) => binaryReference('mul', a, [3, 4], b, [4], [3, 4]) });
});

test('reductions over axes (sum, mean, max), keepDims, negative axes', async () => {
  const shape: Shape = [3, 4, 5];
  const cases: (number[] | undefined)[] = [undefined, [0], [1], [2], [0, 2], [1, 2], [0, 1]];
  for (const axes of cases) {
    const all = axes ?? [0, 1, 2];
    for (const keepDims of [false, true]) {
      for (const op of ['sum', 'mean', 'max'] as const) {
        await gradCheck(`${op} over ${axes ? `[${axes}]` : 'all'} keepDims=${keepDims}`, (x) => ops[op](x, axes, { keepDims }), [
          { data: randomArray(shape, all.length * 7 + 1), shape },
        ], { reference: (x) => reduceAxesReference(op, x, shape, all) });
      }
    }
  }
  await gradCheck('sum axis -1', (x) => ops.sum(x, -1), [{ data: randomArray(shape, 9), shape }], {
    reference: (x) => reduceAxesReference('sum', x, shape, [2]),
  });
});

test('max splits the gradient equally between ties', async () => {
  const x = tensor([1, 3, 3, -1, -1, -2], [2, 3], { requiresGrad: true });
  const y = ops.sum(ops.max(x, 1));
  y.backward();
  assertClose(await x.grad!.toArray(), [0, 0.5, 0.5, 0.5, 0.5, 0], 'tie gradients', 0, 0);
  x.grad!.dispose();
  x.dispose();
});

test('reshape and flatten pass gradients through', async () => {
  const data = randomArray([2, 3, 4], 1);
  const times = (x: Float64Array) => x.map((v, i) => v * (i + 1));
  const weights = Float64Array.from({ length: 24 }, (_, i) => i + 1);
  // Multiply by a position-dependent constant after reshaping so a wrong reorder would show.
  await gradCheck('reshape', (x) => ops.mul(ops.reshape(x, [6, -1]), tensor(weights, [6, 4])), [{ data, shape: [2, 3, 4] }], { reference: times });
  await gradCheck('flatten', (x) => ops.mul(ops.flatten(x), tensor(weights, [2, 12])), [{ data, shape: [2, 3, 4] }], { reference: times });
});

test('matmul gradients: 2-D, batched, batch broadcasting both ways', async () => {
  const [m, n, k] = [3, 5, 7];
  const cases: [Shape, Shape, ReturnType<typeof mm>][] = [
    [[m, k], [k, n], mm(m, n, k)],
    [[1, k], [k, 1], mm(1, 1, k)],
    [[2, m, k], [2, k, n], mm(m, n, k, 2)],
    [[3, m, k], [k, n], mm(m, n, k, 3, 3, 1)],
    [[m, k], [3, k, n], mm(m, n, k, 3, 1, 3)],
    [[1, m, k], [3, k, n], mm(m, n, k, 3, 1, 3)],
  ];
  for (const [aShape, bShape, s] of cases) {
    await gradCheck(`matmul ${JSON.stringify(aShape)} · ${JSON.stringify(bShape)}`, (a, b) => ops.matmul(a, b), [
      { data: randomArray(aShape, sizeOf(aShape)), shape: aShape },
      { data: randomArray(bShape, sizeOf(bShape) + 1), shape: bShape },
    ], { reference: (a, b) => matmulReference(a, b, s) });
  }
});

test('linear: every activation, with and without bias', async () => {
  await checkLinearGradients();
});

test('a chain of ops (f32 numeric check, no reference)', async () => {
  await gradCheck('mean(tanh(x·w + b)²)', (x, w, b) => ops.mean(ops.square(ops.tanh(ops.add(ops.matmul(x, w), b)))), [
    { data: randomArray([5, 4], 1), shape: [5, 4] },
    { data: randomArray([4, 3], 2), shape: [4, 3] },
    { data: randomArray([3], 3), shape: [3] },
  ]);
});

test('gradient accumulation: a tensor used twice, and backward twice', async () => {
  const data = [0.5, -1, 2];
  const x = tensor(data, [3], { requiresGrad: true });
  // y = Σ x·x + x  →  dy/dx = 2x + 1
  const y = ops.sum(ops.add(ops.mul(x, x), x));
  y.backward();
  const once = data.map((v) => 2 * v + 1);
  assertClose(await x.grad!.toArray(), once, 'used twice', 1e-6, 1e-6);
  y.backward();
  assertClose(await x.grad!.toArray(), once.map((v) => 2 * v), 'backward twice accumulates', 1e-6, 1e-6);
  // Shared subexpression: z = (x·x) used by two branches.
  const w = tensor(data, [3], { requiresGrad: true });
  const s = ops.mul(w, w);
  const l = ops.sum(ops.add(ops.exp(s), s));
  l.backward();
  assertClose(await w.grad!.toArray(), data.map((v) => 2 * v * (Math.exp(v * v) + 1)), 'shared node', 1e-5, 1e-5);
  [x.grad!, x, w.grad!, w].forEach((t) => t.dispose());
});

test('noGrad records nothing; detach cuts the graph', async () => {
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  const y = noGrad(() => ops.mul(x, x));
  assert.is(y.requiresGrad, false);
  assert.is(y.node, null);
  assert.throws(() => ops.sum(y).backward(), /does not require grad/);

  const d = detach(x);
  assert.is(d.requiresGrad, false);
  assert.is(d.node, null);
  // z = Σ detach(x)·x  →  dz/dx = x (only the attached path)
  const z = ops.sum(ops.mul(d, x));
  z.backward();
  assertClose(await x.grad!.toArray(), [1, 2, 3], 'detach', 0, 0);
  assertClose(await d.toArray(), [1, 2, 3], 'detach keeps the values', 0, 0);
  [x.grad!, x].forEach((t) => t.dispose());
});

test('tidy disposes intermediates and keeps returned tensors', async () => {
  const x = tensor(randomArray([4, 4], 1), [4, 4], { requiresGrad: true });
  const w = tensor(randomArray([4, 2], 2), [4, 2], { requiresGrad: true });
  const before = memory();
  const out = tidy(() => {
    const h = ops.relu(ops.matmul(x, w));
    const loss = ops.mean(ops.square(h));
    loss.backward();
    return { loss, h };
  });
  const after = memory();
  // Kept: loss, h, and the two gradients (x.grad, w.grad).
  assert.is(after.liveTensors - before.liveTensors, 4, `live tensors ${before.liveTensors} → ${after.liveTensors}`);
  assert.is(after.liveBuffers - before.liveBuffers, 4, `live buffers ${before.liveBuffers} → ${after.liveBuffers}`);
  assert.ok(Number.isFinite(await out.loss.item()));
  assert.is(out.h.isDisposed, false);
  // A steady loop leaks nothing.
  const start = memory();
  for (let i = 0; i < 5; i++) {
    tidy(() => {
      x.grad?.dispose();
      w.grad?.dispose();
      x.grad = null;
      w.grad = null;
      ops.sum(ops.tanh(ops.matmul(x, w))).backward();
    });
  }
  const end = memory();
  assert.is(end.liveTensors, start.liveTensors, 'live tensors flat across steps');
  assert.is(end.liveBuffers, start.liveBuffers, 'live buffers flat across steps');
  assert.is(end.liveBytes, start.liveBytes, 'live bytes flat across steps');
  // Nested tidy: the inner result moves to the outer scope, then is disposed with it.
  let inner: Tensor | undefined;
  tidy(() => {
    inner = tidy(() => ops.exp(ops.neg(x)));
    assert.is(inner.isDisposed, false);
  });
  assert.is(inner!.isDisposed, true);
  [out.loss, out.h, x.grad!, w.grad!, x, w].forEach((t) => t.dispose());
});

test('outside tidy, an op without gradients leaves only its output (max, number operands)', async () => {
  const x = tensor(randomArray([2, 3], 1, 0.5, 2), [2, 3]);
  const w = tensor(randomArray([3, 2], 2), [3, 2]);
  const cases: [string, () => Tensor][] = [
    ['max', () => ops.max(x, 1)],
    ['max all', () => ops.max(x)],
    ['sum', () => ops.sum(x, [0])],
    ['mean', () => ops.mean(x)],
    ['sub(2, x)', () => ops.sub(2, x)],
    ['div(1, x)', () => ops.div(1, x)],
    ['pow(2, x)', () => ops.pow(2, x)],
    ['maximum(x, 1)', () => ops.maximum(x, 1)],
    ['matmul', () => ops.matmul(x, w)],
    ['linear', () => ops.linear(x, w, undefined, 'relu')],
  ];
  for (const [name, make] of cases) {
    const before = memory();
    make().dispose();
    const xg = tensor(randomArray([2, 3], 3), [2, 3], { requiresGrad: true });
    noGrad(() => ops.max(xg, 0)).dispose();
    xg.dispose();
    const after = memory();
    assert.is(after.liveTensors, before.liveTensors, `${name}: live tensors`);
    assert.is(after.liveBuffers, before.liveBuffers, `${name}: live buffers`);
  }
  x.dispose();
  w.dispose();
});

test('errors: mismatched shapes name both, before any GPU work', () => {
  const a = tensor(randomArray([2, 3], 1), [2, 3]);
  const b = tensor(randomArray([4], 2), [4]);
  const before = memory();
  const namesBoth = (e: Error) => e.message.includes('[2, 3]') && e.message.includes('[4]');
  for (const fn of [ops.add, ops.sub, ops.mul, ops.div, ops.pow, ops.maximum, ops.minimum]) {
    assert.throws(() => fn(a, b), namesBoth, fn.name);
  }
  assert.throws(() => ops.reshape(a, [4, 2]), (e: Error) => e.message.includes('[2, 3]') && e.message.includes('[4, 2]'));
  assert.throws(() => ops.reshape(a, [-1, 4]), /\[2, 3\]/);
  const after = memory();
  assert.is(after.liveBuffers, before.liveBuffers, 'no buffers allocated by failed ops');
  assert.is(after.liveTensors, before.liveTensors, 'no tensors made by failed ops');
  a.dispose();
  b.dispose();
});

test('errors: matmul inner-dimension mismatch, linear misfit', () => {
  const a = tensor(randomArray([2, 3], 1), [2, 3]);
  const b = tensor(randomArray([4, 5], 2), [4, 5]);
  assert.throws(() => ops.matmul(a, b), (e: Error) => /inner dimensions/.test(e.message) && e.message.includes('[2, 3]') && e.message.includes('[4, 5]'));
  assert.throws(() => ops.linear(a, b), (e: Error) => e.message.includes('[2, 3]') && e.message.includes('[4, 5]'));
  a.dispose();
  b.dispose();
});

test('errors: toArray on a disposed tensor, ops on disposed tensors', async () => {
  const a = tensor([1, 2, 3], [3], { requiresGrad: true });
  a.name = 'weights';
  a.dispose();
  a.dispose(); // twice is harmless
  let message = '';
  try {
    await a.toArray();
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /"weights".*disposed/);
  assert.throws(() => ops.exp(a), /disposed/);
  assert.throws(() => ops.add(a, a), /disposed/);
  assert.throws(() => ops.sum(a), /disposed/);
});

test('errors: backward on a non-scalar without a gradient; wrong gradient shape', () => {
  const x = tensor([1, 2, 3, 4], [2, 2], { requiresGrad: true });
  const y = ops.mul(x, x);
  assert.throws(() => y.backward(), (e: Error) => /non-scalar/.test(e.message) && e.message.includes('[2, 2]'));
  const g = tensor([1, 1, 1], [3]);
  assert.throws(() => y.backward(g), (e: Error) => e.message.includes('[3]') && e.message.includes('[2, 2]'));
  const c = tensor([1], []);
  assert.throws(() => c.backward(), /does not require grad/);
  [x, y, g, c].forEach((t) => t.dispose());
});

test('errors: a backward rule whose gradient has the right size but the wrong shape is named, not reshaped', async () => {
  const x = tensor(randomArray([3, 5], 1), [3, 5], { requiresGrad: true });
  const before = memory();
  // A planted rule on a real op's output: exp's value, but a gradient transposed to [5, 3]
  // (15 elements, as many as x has), which a silent reshape would hand to x scrambled.
  const planted = () =>
    tidy(() => {
      const y = record(noGrad(() => ops.exp(x)), 'planted', [x], (g) => [transpose(g)]);
      ops.sum(y).backward();
    });
  assert.throws(planted, (e: Error) => e.message === 'planted backward gave a gradient of shape [5, 3] for its input 0 of shape [3, 5]', 'the error names the op and both shapes');
  assert.is(x.grad, null, 'no gradient reaches x');
  const after = memory();
  assert.is(after.liveTensors, before.liveTensors, `live tensors ${before.liveTensors} → ${after.liveTensors} after the failed backward`);
  assert.is(after.liveBuffers, before.liveBuffers, `live buffers ${before.liveBuffers} → ${after.liveBuffers}`);
  // The same rule returning x's own shape passes.
  tidy(() => {
    const y = record(noGrad(() => ops.exp(x)), 'fixed', [x], (g) => [transpose(transpose(g))]);
    ops.sum(y).backward();
  });
  assert.equal(x.grad!.shape, [3, 5]);
  assertClose(await x.grad!.toArray(), new Float64Array(15).fill(1), 'the gradient of sum');
  x.grad!.dispose();
  x.dispose();
});

/** Names of the kernels fn dispatches. */
function kernelsOf(fn: () => void): string[] {
  const names: string[] = [];
  setDispatchObserver({ beforeDispatch: (p) => { names.push(p.name.split('.')[0]); return undefined; } });
  try {
    fn();
  } finally {
    setDispatchObserver(undefined);
  }
  return names;
}

test('backward({ inputs }) computes only what the requested leaves need, and the same values', async () => {
  // x → conv(w1) → conv(w2) → mean: a GAN in miniature (w1 the generator, w2 the discriminator).
  const x = tensor(randomArray([2, 6, 6, 3], 1, -1, 1), [2, 6, 6, 3]);
  const w1 = tensor(randomArray([3, 3, 3, 4], 2, -0.5, 0.5), [3, 3, 3, 4], { requiresGrad: true });
  const w2 = tensor(randomArray([3, 3, 4, 5], 3, -0.5, 0.5), [3, 3, 4, 5], { requiresGrad: true });
  const graph = () => ops.mean(conv2d(conv2d(x, w1, { padding: 'same', activation: 'tanh' }), w2, { stride: 2, padding: 'same' }));
  const full = tidy(() => {
    graph().backward();
    return [w1.grad!, w2.grad!];
  });
  const expected = await Promise.all(full.map((g) => g.toArray()));
  for (const w of [w1, w2]) {
    w.grad!.dispose();
    w.grad = null;
  }
  // Backward restricted to `target`: how many weight- and input-gradient kernels it launches, and
  // the same gradient as the full backward; `other` gets none.
  const restricted = async (target: Tensor, other: Tensor, expectedGrad: Float32Array, weightGrads: number, inputGrads: number) => {
    let names: string[] = [];
    tidy(() => {
      const loss = graph();
      names = kernelsOf(() => loss.backward(undefined, { inputs: [target] }));
    });
    assert.is(names.filter((n) => n === 'conv2dWeightGrad').length, weightGrads, names.join(' '));
    assert.is(names.filter((n) => n === 'conv2dInputGrad').length, inputGrads, names.join(' '));
    assert.is(other.grad, null);
    assertClose(await target.grad!.toArray(), expectedGrad, 'restricted gradient', 1e-6, 1e-7);
    target.grad!.dispose();
    target.grad = null;
  };
  // Only w2's weight gradient: no input gradient (x and w1 are not asked for), no w1 gradient.
  await restricted(w2, w1, expected[1], 1, 0);
  // w1 needs the second conv's input gradient but not its weight gradient.
  await restricted(w1, w2, expected[0], 1, 1);
  for (const t of [x, w1, w2, ...full]) t.dispose();
});

test.run();
