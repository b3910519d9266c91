import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32, gradCheck } from './helpers.ts';
import { tensor, ones, manualSeed } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { dispatchesSoFar } from '../src/core/dispatch.ts';
import { dropout } from '../src/core/dropout-ops.ts';
import { dropoutReference } from '../src/kernels/dropout.ts';
import { Dropout } from '../src/nn/dropout.ts';

test.before(async () => {
  await ready;
});

const N = 1 << 16;

async function values(fn: () => ReturnType<typeof dropout>): Promise<Float32Array> {
  const t = tidy(fn);
  const v = await t.toArray();
  t.dispose();
  return v;
}

test('zero fraction within statistical bounds of the rate; kept values scaled exactly', async () => {
  for (const rate of [0.1, 0.3, 0.5, 0.9]) {
    const y = await values(() => dropout(ones([N]), rate, { seed: 7, step: 3 }));
    const zeros = y.filter((v) => v === 0).length;
    const sigma = Math.sqrt((rate * (1 - rate)) / N);
    assert.ok(Math.abs(zeros / N - rate) < 5 * sigma, `rate ${rate}: zero fraction ${zeros / N} (5σ = ${5 * sigma})`);
    const scale = Math.fround(1 / (1 - rate));
    assert.ok(y.every((v) => v === 0 || v === scale), `rate ${rate}: kept ones must read exactly ${scale}`);
  }
});

test('mask is the reference hash of (seed, step, index), on any input', async () => {
  const x = f32(randomArray([5, 33, 7], 1));
  const y = await values(() => dropout(tensor(x, [5, 33, 7]), 0.3, { seed: 123, step: 9 }));
  assertClose(y, dropoutReference(x, 0.3, 123, 9), 'dropout vs reference', 0, 0);
});

test('same seed and step, same mask; another step or seed, another mask', async () => {
  const a = await values(() => dropout(ones([4096]), 0.5, { seed: 1, step: 0 }));
  const b = await values(() => dropout(ones([4096]), 0.5, { seed: 1, step: 0 }));
  const c = await values(() => dropout(ones([4096]), 0.5, { seed: 1, step: 1 }));
  const d = await values(() => dropout(ones([4096]), 0.5, { seed: 2, step: 0 }));
  assert.equal(Array.from(a), Array.from(b), 'same seed and step');
  const differ = (p: Float32Array, q: Float32Array) => p.filter((v, i) => v !== q[i]).length;
  assert.ok(differ(a, c) > 1500, `another step: ${differ(a, c)} of 4096 differ`);
  assert.ok(differ(a, d) > 1500, `another seed: ${differ(a, d)} of 4096 differ`);
  // Without a seed, the global generator: reproducible after manualSeed, fresh on each call.
  manualSeed(5);
  const e = await values(() => dropout(ones([4096]), 0.5));
  const f = await values(() => dropout(ones([4096]), 0.5));
  manualSeed(5);
  const e2 = await values(() => dropout(ones([4096]), 0.5));
  assert.equal(Array.from(e), Array.from(e2), 'manualSeed reproduces');
  assert.ok(differ(e, f) > 1500, 'successive unseeded calls differ');
});

test('eval mode and rate 0 are the identity; rate 1 gives zeros (and zero gradients)', async () => {
  const x = f32(randomArray([3, 5], 2));
  assertClose(await values(() => dropout(tensor(x, [3, 5]), 0.4, { training: false })), x, 'eval', 0, 0);
  assertClose(await values(() => dropout(tensor(x, [3, 5]), 0, { seed: 3 })), x, 'rate 0', 0, 0);
  assertClose(await values(() => dropout(tensor(x, [3, 5]), 1, { seed: 3 })), new Float64Array(15), 'rate 1', 0, 0);
  const xt = tensor(x, [3, 5], { requiresGrad: true });
  tidy(() => dropout(xt, 1, { seed: 3 }).backward(ones([3, 5])));
  assertClose(await xt.grad!.toArray(), new Float64Array(15), 'rate 1 gradient', 0, 0);
  xt.grad!.dispose();
  tidy(() => dropout(xt, 0.5, { training: false }).backward(ones([3, 5])));
  assertClose(await xt.grad!.toArray(), new Float64Array(15).fill(1), 'eval gradient', 0, 0);
  xt.grad!.dispose();
  xt.dispose();
});

test('gradient: the same mask, recomputed, scales the incoming gradient', async () => {
  const shape = [4, 9, 7];
  // Float64 reference for the finite differences: the mask (times the scale) from the reference, times x.
  const maskTimesScale = dropoutReference(new Float64Array(4 * 9 * 7).fill(1), 0.3, 11, 2);
  await gradCheck('dropout', (x) => dropout(x, 0.3, { seed: 11, step: 2 }), [{ data: randomArray(shape, 3), shape }], {
    reference: (x) => x.map((v, i) => v * maskTimesScale[i]),
  });
  // dL/dx with L = Σ y: exactly the mask times 1/(1 − rate), i.e. y / x.
  const x = tensor(new Float32Array(1000).fill(2), [1000], { requiresGrad: true });
  const y = dropout(x, 0.25, { seed: 4, step: 4 });
  y.backward(ones([1000]));
  const [yv, gv] = [await y.toArray(), await x.grad!.toArray()];
  assert.ok(gv.every((g, i) => g === yv[i] / 2), 'backward mask equals forward mask');
  [x, y, x.grad!].forEach((t) => t.dispose());
});

test('Dropout layer: train/eval, a new mask per call and per step, reproducible by step', async () => {
  const layer = new Dropout({ rate: 0.5, seed: 42 });
  const run = async () => values(() => layer.forward(ones([2048])));
  layer.step = 7;
  const first = await run();
  const second = await run();
  layer.step = 7;
  const again = await run();
  layer.step = 8;
  const next = await run();
  assert.equal(Array.from(first), Array.from(again), 'setting the step again replays its masks');
  assert.ok(first.some((v, i) => v !== second[i]), 'two calls in one step differ');
  assert.ok(first.some((v, i) => v !== next[i]), 'another step differs');
  layer.eval();
  assert.ok((await run()).every((v) => v === 1), 'eval: identity');
  layer.train();
  assert.ok((await run()).some((v) => v === 0), 'train again: drops');
  assert.throws(() => new Dropout({ rate: 1.5 }), /rate must be in \[0, 1\], got 1.5/);
  assert.throws(() => (layer.step = -1), /step must be a non-negative integer/);
});

test('bad input: errors before any GPU work', () => {
  const x = tensor([1, 2, 3], [3]);
  for (const [fn, pattern] of [
    [() => dropout(x, -0.1), /rate must be in \[0, 1\], got -0.1/],
    [() => dropout(x, 2), /rate must be in \[0, 1\], got 2/],
    [() => dropout(x, 0.5, { seed: 1.5 }), /seed must be an integer/],
    [() => dropout(x, 0.5, { seed: 1, step: -1 }), /step must be an integer/],
  ] as const) {
    const before = dispatchesSoFar();
    assert.throws(() => tidy(fn), pattern);
    assert.is(dispatchesSoFar(), before);
  }
  x.dispose();
});

test.run();
