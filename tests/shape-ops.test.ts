import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, gradCheck, randomArray, assertClose, f32 } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { memory } from '../src/core/memory.ts';
import { tidy } from '../src/core/scope.ts';
import * as ops from '../src/core/ops.ts';
import * as so from '../src/core/shape-ops.ts';
import {
  concatReference, padReference, permuteReference, permutedShape, simplifyPermutation, sliceReference,
} from '../src/kernels/copy.ts';
import { oneHotReference } from '../src/kernels/onehot.ts';
import { binaryReference } from '../src/kernels/elementwise.ts';
import { sizeOf, type Shape } from '../src/kernels/shapes.ts';

test.before(async () => {
  await ready;
});

async function values(t: { toArray(): Promise<Float32Array>; dispose(): void }): Promise<Float32Array> {
  const v = await t.toArray();
  t.dispose();
  return v;
}

// Copies are exact: compare bit for bit.
function assertExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assertClose(actual, expected, what, 0, 0);
}

test('simplifyPermutation merges axes that move together', () => {
  assert.equal(simplifyPermutation([2, 3, 4, 5], [0, 2, 3, 1]), { shape: [2, 3, 20], perm: [0, 2, 1] });
  assert.equal(simplifyPermutation([2, 3, 4], [0, 1, 2]), { shape: [24], perm: [0] });
  assert.equal(simplifyPermutation([1, 3, 1, 4], [2, 0, 3, 1]), { shape: [3, 4], perm: [1, 0] });
});

const PERMS: [Shape, number[]][] = [
  [[7], [0]],
  [[3, 5], [1, 0]],
  [[33, 65], [1, 0]],
  [[2, 3, 5], [0, 2, 1]],
  [[2, 3, 5], [2, 0, 1]],
  [[3, 1, 4, 5], [0, 3, 1, 2]], // NHWC → NCHW with a size-1 axis
  [[2, 3, 4, 5], [0, 2, 3, 1]],
  [[2, 1, 3, 2, 2], [4, 2, 0, 3, 1]],
  [[2, 2, 1, 3, 2, 1, 2, 3], [7, 6, 5, 4, 3, 2, 1, 0]], // rank 8
  [[130, 7], [1, 0]],
];

test('transpose forward: every permutation case vs reference (f32 and i32)', async () => {
  for (const [shape, perm] of PERMS) {
    const data = randomArray(shape, sizeOf(shape));
    const x = tensor(data, shape);
    const y = so.transpose(x, perm);
    assert.equal([...y.shape], permutedShape(shape, perm));
    assertExact(await values(y), permuteReference(f32(data), shape, perm), `transpose ${shape} by [${perm}]`);
    x.dispose();
    const ints = Array.from({ length: sizeOf(shape) }, (_, i) => i - 50);
    const xi = tensor(ints, shape, { dtype: 'i32' });
    const yi = so.permute(xi, perm);
    assert.is(yi.dtype, 'i32');
    assertExact(await values(yi), permuteReference(ints, shape, perm), `permute i32 ${shape} by [${perm}]`);
    xi.dispose();
  }
});

test('transpose default reverses axes; negative axes', async () => {
  const data = randomArray([2, 3, 4], 3);
  const x = tensor(data, [2, 3, 4]);
  const y = so.transpose(x);
  assert.equal([...y.shape], [4, 3, 2]);
  assertExact(await values(y), permuteReference(f32(data), [2, 3, 4], [2, 1, 0]), 'default transpose');
  const z = so.transpose(x, [0, -1, -2]);
  assertExact(await values(z), permuteReference(f32(data), [2, 3, 4], [0, 2, 1]), 'negative axes');
  x.dispose();
});

test('transpose gradients', async () => {
  for (const [shape, perm] of [
    [[3, 5], [1, 0]],
    [[2, 3, 4], [2, 0, 1]],
    [[2, 1, 3, 2], [3, 1, 0, 2]],
  ] as [Shape, number[]][]) {
    await gradCheck(`transpose [${perm}]`, (x) => so.transpose(x, perm), [{ data: randomArray(shape, 11), shape }], {
      reference: (x) => permuteReference(x, shape, perm),
    });
  }
});

test('slice forward vs reference (tf.slice semantics)', async () => {
  const cases: [Shape, number[], number[], number[]][] = [
    // shape, begin, size as passed, resolved size
    [[7], [2], [3], [3]],
    [[7], [2], [-1], [5]],
    [[5, 6], [1, 2], [3, -1], [3, 4]],
    [[3, 5, 7, 2], [1, 0, 3, 1], [2, 5, 4, 1], [2, 5, 4, 1]],
    [[3, 5, 7, 2], [0, 2], [-1, 3], [3, 3, 7, 2]],
    [[65, 33], [64, 0], [1, 33], [1, 33]],
    [[4, 4], [1, 1], [0, 2], [0, 2]],
  ];
  for (const [shape, begin, size, resolved] of cases) {
    const data = randomArray(shape, 5);
    const x = tensor(data, shape);
    const y = so.slice(x, begin, size);
    assert.equal([...y.shape], resolved, `slice shape of ${shape}`);
    const full = [...begin, ...new Array(shape.length - begin.length).fill(0)];
    assertExact(await values(y), sliceReference(f32(data), shape, full, resolved), `slice ${shape} at [${begin}] size [${size}]`);
    x.dispose();
  }
  const x = tensor([0, 1, 2, 3, 4, 5], [3, 2]);
  assertExact(await values(so.slice(x, 1)), [2, 3, 4, 5], 'number begin');
  assertExact(await values(so.slice(x, 1, 1)), [2, 3], 'number begin and size');
  x.dispose();
});

test('slice gradient (pad) and pad reference', async () => {
  assertExact(padReference([1, 2, 3, 4], [2, 2], [1, 0], [3, 3]), [0, 0, 0, 1, 2, 0, 3, 4, 0], 'padReference');
  for (const [shape, begin, size] of [
    [[7], [2], [3]],
    [[3, 5, 4], [1, 1, 0], [2, 3, -1]],
  ] as [Shape, number[], number[]][]) {
    const resolved = size.map((s, d) => (s === -1 ? shape[d] - begin[d] : s));
    await gradCheck(`slice ${shape}`, (x) => so.slice(x, begin, size), [{ data: randomArray(shape, 4), shape }], {
      reference: (x) => sliceReference(x, shape, begin, resolved),
    });
  }
});

test('slice errors name the shape before GPU work', () => {
  const x = tensor(randomArray([3, 4], 1), [3, 4]);
  const before = memory().liveBuffers;
  assert.throws(() => so.slice(x, [2, 0], [2, 4]), /\[3, 4\]/);
  assert.throws(() => so.slice(x, [-1, 0], [1, 1]), /\[3, 4\]/);
  assert.throws(() => so.slice(x, [0, 0, 0]), /\[3, 4\]/);
  assert.throws(() => so.slice(x, [0, 0.5]), /\[3, 4\]/);
  assert.is(memory().liveBuffers, before, 'no buffer allocated by a failed slice');
  x.dispose();
});

test('concat along every axis, 1 to 3 inputs, vs reference', async () => {
  const base: Shape = [3, 5, 2];
  for (let axis = 0; axis < 3; axis++) {
    for (const lengths of [[4], [1, 7], [3, 1, 65]]) {
      const shapes = lengths.map((l) => base.map((d, i) => (i === axis ? l : d)));
      const datas = shapes.map((s, k) => randomArray(s, 10 * axis + k));
      const xs = datas.map((d, k) => tensor(d, shapes[k]));
      const y = so.concat(xs, axis);
      assertExact(await values(y), concatReference(datas.map(f32), shapes, axis), `concat axis ${axis} lengths [${lengths}]`);
      xs.forEach((t) => t.dispose());
    }
  }
  // Negative axis, i32, and an empty piece.
  const a = tensor([1, 2, 3, 4], [2, 2], { dtype: 'i32' });
  const b = tensor([5, 6], [2, 1], { dtype: 'i32' });
  const e = tensor([], [2, 0], { dtype: 'i32' });
  const y = so.concat([a, e, b], -1);
  assert.is(y.dtype, 'i32');
  assertExact(await values(y), [1, 2, 5, 3, 4, 6], 'concat i32 with an empty piece');
  [a, b, e].forEach((t) => t.dispose());
});

test('concat gradients flow to each input', async () => {
  const shapes: Shape[] = [[2, 3, 4], [2, 1, 4], [2, 5, 4]];
  await gradCheck('concat axis 1', (a, b, c) => so.concat([a, b, c], 1), shapes.map((shape, k) => ({ data: randomArray(shape, k + 1), shape })), {
    reference: (a, b, c) => concatReference([a, b, c], shapes, 1),
  });
  const s2: Shape[] = [[3, 2], [3, 5]];
  await gradCheck('concat last axis, one input without grad', (a, b) => so.concat([a, b], -1), [
    { data: randomArray(s2[0], 3), shape: s2[0] },
    { data: randomArray(s2[1], 4), shape: s2[1], check: false },
  ], { reference: (a, b) => concatReference([a, b], s2, 1) });
});

test('concat errors name the shapes', () => {
  const a = tensor(randomArray([2, 3], 1), [2, 3]);
  const b = tensor(randomArray([3, 3], 2), [3, 3]);
  const i = tensor([1, 2, 3], [1, 3], { dtype: 'i32' });
  assert.throws(() => so.concat([a, b], 1), (e: Error) => e.message.includes('[2, 3]') && e.message.includes('[3, 3]'));
  assert.throws(() => so.concat([a, i], 0), /dtype/);
  assert.throws(() => so.concat([a, b], 2), /axis 2/);
  assert.throws(() => so.concat([], 0), /at least one/);
  [a, b, i].forEach((t) => t.dispose());
});

test('stack, expandDims, squeeze', async () => {
  const d1 = randomArray([2, 3], 1);
  const d2 = randomArray([2, 3], 2);
  const a = tensor(d1, [2, 3]);
  const b = tensor(d2, [2, 3]);
  const s0 = so.stack([a, b]);
  assert.equal([...s0.shape], [2, 2, 3]);
  assertExact(await values(s0), [...f32(d1), ...f32(d2)], 'stack axis 0');
  const s2 = so.stack([a, b], -1);
  assert.equal([...s2.shape], [2, 3, 2]);
  assertExact(await values(s2), concatReference([f32(d1), f32(d2)], [[2, 3, 1], [2, 3, 1]], 2), 'stack last axis');
  assert.throws(() => so.stack([a, tensor([1, 2], [2])]), /\[2, 3\].*\[2\]/);

  assert.equal([...so.expandDims(a).shape], [1, 2, 3]);
  assert.equal([...so.expandDims(a, 1).shape], [2, 1, 3]);
  assert.equal([...so.expandDims(a, -1).shape], [2, 3, 1]);
  const x = tensor(randomArray([1, 3, 1, 2], 3), [1, 3, 1, 2]);
  assert.equal([...so.squeeze(x).shape], [3, 2]);
  assert.equal([...so.squeeze(x, 2).shape], [1, 3, 2]);
  assert.equal([...so.squeeze(x, [0, -2]).shape], [3, 2]);
  assert.throws(() => so.squeeze(x, 1), /\[1, 3, 1, 2\]/);

  await gradCheck('stack axis 1', (p, q) => so.stack([p, q], 1), [
    { data: d1, shape: [2, 3] },
    { data: d2, shape: [2, 3] },
  ], { reference: (p, q) => concatReference([p, q], [[2, 1, 3], [2, 1, 3]], 1) });
  await gradCheck('expandDims + squeeze', (t) => ops.mul(so.squeeze(so.expandDims(t, 1)), t), [{ data: d1, shape: [2, 3] }], {
    reference: (t) => t.map((v) => v * v),
  });
  [a, b, x].forEach((t) => t.dispose());
});

test('broadcastTo forward, gradient and errors', async () => {
  const cases: [Shape, Shape][] = [
    [[4], [3, 4]],
    [[2, 1, 5], [2, 3, 5]],
    [[], [2, 3]],
    [[3, 1], [2, 3, 7]],
  ];
  for (const [from, to] of cases) {
    const data = randomArray(from, 9);
    const x = tensor(data, from);
    const y = so.broadcastTo(x, to);
    assert.equal([...y.shape], [...to]);
    assertExact(await values(y), binaryReference('scaleLeft', f32(data), from, [0], [], to, 1), `broadcastTo ${from} → ${to}`);
    x.dispose();
    await gradCheck(`broadcastTo ${from} → ${to}`, (t) => so.broadcastTo(t, to), [{ data, shape: from }], {
      reference: (t) => binaryReference('scaleLeft', t, from, [0], [], to, 1),
    });
  }
  const x = tensor(randomArray([2, 3], 1), [2, 3]);
  assert.throws(() => so.broadcastTo(x, [4, 3]), (e: Error) => e.message.includes('[2, 3]') && e.message.includes('[4, 3]'));
  assert.throws(() => so.broadcastTo(x, [3]), (e: Error) => e.message.includes('[2, 3]') && e.message.includes('[3]'));
  x.dispose();
});

test('oneHot: i32, u32 and f32 labels; out of range gives zeros', async () => {
  const labels = [0, 3, 9, 1, 10, -1, 5];
  for (const dtype of ['i32', 'f32'] as const) {
    const l = tensor(labels, [7], { dtype });
    const y = so.oneHot(l, 10);
    assert.equal([...y.shape], [7, 10]);
    assertExact(await values(y), oneHotReference(labels, 10), `oneHot ${dtype}`);
    l.dispose();
  }
  const u = tensor([2, 0, 4000000000], [3], { dtype: 'u32' });
  assertExact(await values(so.oneHot(u, 3)), oneHotReference([2, 0, 4000000000], 3), 'oneHot u32');
  const frac = tensor([1.5, 2], [2]);
  assertExact(await values(so.oneHot(frac, 3)), [0, 0, 0, 0, 0, 1], 'non-integer float labels give zeros');
  // Larger: 130 labels of 65 classes, rank-2 labels.
  const many = Array.from({ length: 130 }, (_, i) => (i * 37) % 66);
  const m = tensor(many, [10, 13], { dtype: 'i32' });
  const y = so.oneHot(m, 65);
  assert.equal([...y.shape], [10, 13, 65]);
  assertExact(await values(y), oneHotReference(many, 65), 'oneHot 130 × 65');
  assert.throws(() => so.oneHot(m, 0), /numClasses/);
  assert.throws(() => so.oneHot(m, 2.5), /numClasses/);
  [u, frac, m].forEach((t) => t.dispose());
});

test('outside tidy, shape ops without gradients leave only their output', () => {
  const x = tensor(randomArray([2, 3], 1), [2, 3]);
  const cases = [
    () => so.transpose(x),
    () => so.transpose(x, [0, 1]),
    () => so.slice(x, [0, 1]),
    () => so.slice(x, [0, 0]),
    () => so.concat([x, x], 1),
    () => so.stack([x, x, x], 1),
    () => so.expandDims(x, 1),
    () => so.squeeze(x, []),
    () => so.broadcastTo(x, [4, 2, 3]),
  ];
  for (const [k, make] of cases.entries()) {
    const before = memory();
    make().dispose();
    const after = memory();
    assert.is(after.liveTensors, before.liveTensors, `case ${k}: live tensors`);
    assert.is(after.liveBuffers, before.liveBuffers, `case ${k}: live buffers`);
  }
  x.dispose();
});

test('shape ops inside tidy leak nothing', async () => {
  const x = tensor(randomArray([4, 6], 1), [4, 6], { requiresGrad: true });
  const before = memory().liveBuffers;
  tidy(() => {
    const y = so.concat([so.transpose(x), so.slice(so.transpose(x), [0, 1], [-1, 2])], 1);
    const l = ops.sum(ops.square(y));
    l.backward();
  });
  assert.is(memory().liveBuffers, before + 1, 'only x.grad remains');
  assert.ok(x.grad);
  x.grad!.dispose();
  x.dispose();
});

test.run();
