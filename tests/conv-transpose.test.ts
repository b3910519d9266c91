import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, gradCheck } from './helpers.ts';
import { checkTransposeCase } from './conv-checks.ts';
import { tensor } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { dispatchesSoFar } from '../src/core/dispatch.ts';
import { conv2dTranspose } from '../src/core/conv-ops.ts';
import { conv2dTransposeReference } from '../src/kernels/conv/conv2d-transpose.ts';
import { conv2dTransposeGeometry, convTransposeAxis, type Padding } from '../src/kernels/conv/geometry.ts';
import type { Activation } from '../src/kernels/activation.ts';

test.before(async () => {
  await ready;
});

const PADDINGS: Padding[] = ['same', 'valid'];
const STRIDES = [1, 2, 3];
const KERNELS = [1, 3, 4, 5, 7];

test("output sizes are Keras Conv2DTranspose's", () => {
  assert.is(convTransposeAxis(7, 5, 2, 'same'), 14);
  assert.is(convTransposeAxis(7, 3, 1, 'same'), 7);
  assert.is(convTransposeAxis(7, 3, 2, 'valid'), 15); // (7 − 1)·2 + 3
  assert.is(convTransposeAxis(7, 4, 2, 'valid'), 16);
  assert.is(convTransposeAxis(4, 1, 2, 'valid'), 8); // k < s: in·s, as Keras's deconv_output_length
  // Padding is the forward convolution's: 'same' with k 4, s 2 on 14 → total 2, 1 before.
  const g = conv2dTransposeGeometry([1, 7, 7, 3], [4, 4, 2, 3], 2, 'same');
  assert.equal([g.inH, g.inW, g.inC, g.padTop, g.padLeft], [14, 14, 2, 1, 1]);
});

test('forward vs the scatter reference, every kernel × stride × padding, odd sizes, batch 1', async () => {
  const inCs = [3, 10, 1];
  const outCs = [1, 5];
  let i = 0;
  for (const k of KERNELS) {
    for (const s of STRIDES) {
      for (const padding of PADDINGS) {
        await checkTransposeCase({ batch: 1 + (i % 2), h: 5, w: 3, inC: inCs[i % 3], outC: outCs[i % 2], k, s, padding }, 20 + i);
        i++;
      }
    }
  }
});

test('fused bias and activations; naive and blocked variants', async () => {
  await checkTransposeCase({ batch: 2, h: 4, w: 3, inC: 3, outC: 5, k: 3, s: 2, padding: 'same' }, 70, { activation: 'relu', bias: true });
  await checkTransposeCase({ batch: 1, h: 3, w: 4, inC: 10, outC: 1, k: 5, s: 2, padding: 'same' }, 71, { activation: 'sigmoid', bias: true });
  await checkTransposeCase({ batch: 2, h: 3, w: 3, inC: 3, outC: 5, k: 4, s: 2, padding: 'valid' }, 72, { activation: 'tanh', bias: false });
  await checkTransposeCase({ batch: 2, h: 5, w: 3, inC: 3, outC: 5, k: 4, s: 2, padding: 'same' }, 80, undefined, 'naive');
  await checkTransposeCase({ batch: 1, h: 3, w: 4, inC: 10, outC: 1, k: 3, s: 3, padding: 'valid' }, 81, undefined, 'naive');
  // Blocked on layers with at least BLOCKED_MIN_COLUMNS output channels, and on a narrow one
  // (mostly padding in its 64-wide tiles: slow, and still right).
  await checkTransposeCase({ batch: 2, h: 5, w: 3, inC: 18, outC: 17, k: 4, s: 2, padding: 'same' }, 82, undefined, 'blocked');
  await checkTransposeCase({ batch: 1, h: 3, w: 4, inC: 20, outC: 16, k: 5, s: 3, padding: 'valid' }, 83, { activation: 'relu', bias: true }, 'blocked');
  await checkTransposeCase({ batch: 2, h: 4, w: 3, inC: 3, outC: 5, k: 3, s: 2, padding: 'same' }, 84, { activation: 'tanh', bias: true }, 'blocked');
});

test('gradient check: input, weights and bias in every padding × stride', async () => {
  let seed = 400;
  for (const padding of PADDINGS) {
    for (const s of STRIDES) {
      const xShape = [2, 3, 4, 3];
      const wShape = [3, 3, 2, 3];
      const g = conv2dTransposeGeometry(xShape, wShape, s, padding);
      const activation: Activation = s === 2 ? 'tanh' : 'linear';
      await gradCheck(`conv2dTranspose s${s} ${padding} ${activation}`, (x, w, b) => conv2dTranspose(x, w, { stride: s, padding, bias: b, activation }), [
        { data: randomArray(xShape, seed++), shape: xShape },
        { data: randomArray(wShape, seed++), shape: wShape },
        { data: randomArray([2], seed++), shape: [2] },
      ], { reference: (x, w, b) => conv2dTransposeReference(x, w, g, b, activation) });
    }
  }
});

test('gradient check: 4×4 kernel, stride 2 (the keras.io cGAN generator) and 5×5 stride 2 (DCGAN)', async () => {
  for (const k of [4, 5]) {
    const xShape = [1, 3, 3, 2];
    const wShape = [k, k, 3, 2];
    const g = conv2dTransposeGeometry(xShape, wShape, 2, 'same');
    await gradCheck(`conv2dTranspose ${k}×${k} s2 same`, (x, w) => conv2dTranspose(x, w, { stride: 2, padding: 'same' }), [
      { data: randomArray(xShape, k), shape: xShape },
      { data: randomArray(wShape, k + 1), shape: wShape },
    ], { reference: (x, w) => conv2dTransposeReference(x, w, g) });
  }
});

test('bad input: clear errors naming the shapes, thrown before any GPU work', () => {
  const x = tensor(new Float32Array(2 * 4 * 4 * 3), [2, 4, 4, 3]);
  const w = tensor(new Float32Array(3 * 3 * 8 * 5), [3, 3, 8, 5]);
  const ok = tensor(new Float32Array(3 * 3 * 8 * 3), [3, 3, 8, 3]);
  const check = (fn: () => unknown, pattern: RegExp, what: string) => {
    const before = dispatchesSoFar();
    assert.throws(() => tidy(fn), pattern, what);
    assert.is(dispatchesSoFar(), before, `${what}: no kernel may run before the error`);
  };
  check(() => conv2dTranspose(x, w), /input \[2, 4, 4, 3\] has 3 channels but weights \[3, 3, 8, 5\] expect 5/, 'channel mismatch');
  check(() => conv2dTranspose(x, ok, { stride: 0 }), /strides must be positive integers, got \[0, 0\]/, 'zero stride');
  check(() => conv2dTranspose(x, ok, { stride: -2 }), /strides must be positive integers/, 'negative stride');
  check(() => conv2dTranspose(x, ok, { bias: tensor([1, 2, 3], [3]) }), /bias \[3\] must be \[8\]/, 'bias shape');
  check(() => conv2dTranspose(tensor([1], [1, 1]), ok), /input must be 4-D/, 'rank');
  [x, w, ok].forEach((t) => t.dispose());
});

test.run();
