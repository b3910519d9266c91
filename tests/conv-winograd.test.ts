// The Winograd variant (src/kernels/conv/conv2d-winograd.ts): its transforms against the direct
// sum in float64, its forward and input-gradient kernels (and the transposed convolution's forward,
// which is the input-gradient) against the float64 references on awkward shapes, gradients through
// the ops, and its shape rule refused with a RangeError naming it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32, gradCheck } from './helpers.ts';
import { checkWinogradCase, winogradGeometry, winogradTolerance, type WinogradCase } from './conv-checks.ts';
import { tensor } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { dispatchesSoFar } from '../src/core/dispatch.ts';
import { conv2d, conv2dTranspose, conv2dWeightGradRaw, winogradRaw } from '../src/core/conv-ops.ts';
import {
  conv2dReference, conv2dInputGradReference, conv2dWeightGradReference, conv2dProgram, conv2dInputGradProgram,
  conv2dWeightGradProgram, weightGradSplits, winogradPrograms, NO_EPILOGUE,
} from '../src/kernels/conv/conv2d.ts';
import { conv2dTransposeProgram, conv2dTransposeReference } from '../src/kernels/conv/conv2d-transpose.ts';
import { winogradFits, winogradTileReference } from '../src/kernels/conv/conv2d-winograd.ts';
import { conv2dGeometry, conv2dTransposeGeometry, type Padding } from '../src/kernels/conv/geometry.ts';
import { ACTIVATIONS, type Activation } from '../src/kernels/activation.ts';

test.before(async () => {
  await ready;
});

test('the transforms: Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A equals the direct r×r sum over an (r+1)×(r+1) patch, in float64, r = 3 and 5', () => {
  for (const r of [3, 5]) {
    const a = r + 1;
    for (let seed = 1; seed <= 20; seed++) {
      const d = randomArray([a * a], seed);
      const g = randomArray([r * r], seed + 100);
      const direct = new Float64Array(4);
      for (let y = 0; y < 2; y++) {
        for (let x = 0; x < 2; x++) {
          for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) direct[y * 2 + x] += d[(y + i) * a + x + j] * g[i * r + j];
        }
      }
      assertClose(winogradTileReference(d, g, r), direct, `F(2×2, ${r}×${r}) tile ${seed}`, 1e-12, 1e-12);
    }
  }
});

// Awkward shapes: batch 1 and 3; spatial 1, 3, 7, 33 (odd: partial 2×2 tiles at the bottom and
// right); channels 1, 3, 7, 33, 65 (partial blocks of 4 output channels); both paddings. Few
// distinct Programs (each compiles on llvmpipe): the main kernel differs only by its channel block
// (1 to 4), the epilogue's overrides and nothing else; shapes travel in the uniform.
const CASES: WinogradCase[] = [
  { batch: 1, h: 7, w: 7, inC: 3, outC: 7, padding: 'same' },
  { batch: 3, h: 33, w: 7, inC: 1, outC: 3, padding: 'same' },
  { batch: 1, h: 1, w: 1, inC: 65, outC: 33, padding: 'same' },
  { batch: 3, h: 3, w: 3, inC: 33, outC: 1, padding: 'valid' },
  { batch: 1, h: 7, w: 33, inC: 7, outC: 65, padding: 'valid' },
  { batch: 3, h: 3, w: 7, inC: 7, outC: 3, padding: 'same' },
  { batch: 1, h: 33, w: 33, inC: 3, outC: 1, padding: 'valid' },
  // F(2×2, 5×5): the DCGAN generator's first layer in small (7×7, 'same'), and odd edges.
  { batch: 3, h: 7, w: 7, inC: 33, outC: 7, padding: 'same', k: 5 },
  { batch: 1, h: 5, w: 33, inC: 3, outC: 1, padding: 'valid', k: 5 },
  { batch: 1, h: 1, w: 3, inC: 7, outC: 65, padding: 'same', k: 5 },
];

test('forward and input-gradient vs the float64 references: odd sizes, partial tiles and channel blocks, both paddings', async () => {
  let seed = 10;
  for (const c of CASES) await checkWinogradCase(c, seed += 4, 'linear', false);
});

// One output channel here and in the tests below where the point is the epilogue or the
// gradients, not the channel blocks: the 1-channel kernel compiles several times faster than the
// 4-channel one on llvmpipe, and every activation is a pipeline of its own.
test('fused bias and every activation', async () => {
  let seed = 100;
  const c: WinogradCase = { batch: 3, h: 7, w: 3, inC: 3, outC: 1, padding: 'same' };
  for (const activation of ACTIVATIONS) await checkWinogradCase(c, seed += 4, activation, true);
});

test('conv2dTranspose, stride 1, 3×3 and 5×5, both paddings, with bias and activation', async () => {
  const shapes: [number[], number[], Padding, Activation][] = [
    [[3, 7, 5, 7], [3, 3, 1, 7], 'same', 'relu'],
    [[1, 7, 7, 33], [3, 3, 1, 33], 'valid', 'tanh'], // the VAE decoder's last layer, 32 → 1 channel, in small
    [[1, 1, 1, 65], [3, 3, 1, 65], 'valid', 'linear'],
    [[2, 7, 7, 9], [5, 5, 3, 9], 'same', 'leakyRelu'], // the DCGAN generator's first layer (5×5, stride 1), in small
    [[1, 3, 5, 2], [5, 5, 1, 2], 'valid', 'sigmoid'],
  ];
  let seed = 200;
  for (const [xShape, wShape, padding, activation] of shapes) {
    const g = conv2dTransposeGeometry(xShape, wShape, 1, padding);
    const what = `conv2dTranspose winograd x${JSON.stringify(xShape)} w${JSON.stringify(wShape)} ${padding}`;
    assert.is(conv2dTransposeProgram(g, undefined, 'winograd').name, 'conv2dTranspose.winograd', `${what}: runs as itself`);
    const x = f32(randomArray(xShape, seed++));
    const w = f32(randomArray(wShape, seed++));
    const b = f32(randomArray([wShape[2]], seed++));
    const y = tidy(() => conv2dTranspose(tensor(x, xShape), tensor(w, wShape), { padding, bias: tensor(b, [wShape[2]]), activation, alpha: 0.2, variant: 'winograd' }));
    const { rtol, atol } = winogradTolerance(wShape[0] * wShape[1] * xShape[3]);
    assertClose(await y.toArray(), conv2dTransposeReference(x, w, g, b, activation, 0.2), `${what}: forward`, rtol, atol);
    y.dispose();
  }
});

test('a batch too large for one storage binding runs in chunks of images, each written into the one output', async () => {
  // 7 images of 5×7 → 3·4 = 12 tiles each; V per image 16·12·3 floats, M 16·12·5: the limit holds 2 images of M.
  const g = winogradGeometry({ batch: 7, h: 5, w: 7, inC: 3, outC: 5, padding: 'same' });
  const limit = 2 * 4 * 16 * 12 * 5;
  const plan = winogradPrograms('forward', g, NO_EPILOGUE, 'conv2d', limit);
  assert.equal(plan.chunks.map((c) => c.mShape[1] / 12), [2, 2, 2, 1], 'images per chunk');
  const ig = winogradPrograms('inputGrad', g, NO_EPILOGUE, 'conv2dInputGrad', limit);
  assert.is(ig.chunks.length, 4);
  const x = f32(randomArray([7, 5, 7, 3], 500));
  const w = f32(randomArray([3, 3, 3, 5], 501));
  const b = f32(randomArray([5], 502));
  const dy = f32(randomArray([7, 5, 7, 5], 503));
  const [y, dx] = tidy(() => {
    const wt = tensor(w, [3, 3, 3, 5]);
    return [
      winogradRaw('conv2d', g, { hasBias: true, activation: 'relu', alpha: 0 }, tensor(x, [7, 5, 7, 3]), wt, tensor(b, [5]), limit),
      winogradRaw('conv2dInputGrad', g, NO_EPILOGUE, tensor(dy, [7, 5, 7, 5]), wt, undefined, limit),
    ];
  });
  const fwd = winogradTolerance(27);
  const back = winogradTolerance(45);
  assertClose(await y.toArray(), conv2dReference(x, w, g, b, 'relu'), 'chunked forward', fwd.rtol, fwd.atol);
  assertClose(await dx.toArray(), conv2dInputGradReference(dy, w, g), 'chunked input-gradient', back.rtol, back.atol);
  y.dispose();
  dx.dispose();
});

test("the names say what runs: winograd's forward and input-gradient, direct's weight-gradient", async () => {
  const g = winogradGeometry({ batch: 1, h: 5, w: 5, inC: 2, outC: 1, padding: 'same' });
  assert.is(conv2dProgram(g, undefined, 'winograd').name, 'conv2d.winograd');
  assert.is(conv2dInputGradProgram(g, undefined, 'winograd').name, 'conv2dInputGrad.winograd');
  const plan = winogradPrograms('forward', g, NO_EPILOGUE, 'conv2d');
  assert.equal([plan.weights.name, plan.chunks[0].input.name, plan.chunks[0].output.name], ['conv2d.winogradWeights', 'conv2d.winogradInput', 'conv2d.winograd']);
  assert.is(conv2dWeightGradProgram(g, weightGradSplits(g, 'winograd'), 'winograd').name, 'conv2dWeightGrad.direct');
  // … and that weight-gradient is right.
  const x = f32(randomArray([1, 5, 5, 2], 1));
  const dy = f32(randomArray([1, 5, 5, 1], 2));
  const dw = tidy(() => conv2dWeightGradRaw(tensor(x, [1, 5, 5, 2]), tensor(dy, [1, 5, 5, 1]), g, 'winograd'));
  assertClose(await dw.toArray(), conv2dWeightGradReference(x, dy, g), 'weight-gradient', 1e-4, 1e-4);
  dw.dispose();
});

test('gradient check through conv2d (3×3 and 5×5) and conv2dTranspose with variant winograd', async () => {
  let seed = 300;
  for (const padding of ['same', 'valid'] as Padding[]) {
    const xShape = [2, 5, 6, 2];
    const wShape = [3, 3, 2, 1];
    const g = conv2dGeometry(xShape, wShape, 1, padding);
    const activation: Activation = padding === 'same' ? 'tanh' : 'linear';
    await gradCheck(`conv2d winograd ${padding} ${activation}`, (x, w, b) => conv2d(x, w, { padding, bias: b, activation, variant: 'winograd' }), [
      { data: randomArray(xShape, seed++), shape: xShape },
      { data: randomArray(wShape, seed++), shape: wShape },
      { data: randomArray([1], seed++), shape: [1] },
    ], { reference: (x, w, b) => conv2dReference(x, w, g, b, activation) });
  }
  const xShape = [2, 3, 4, 3];
  const wShape = [3, 3, 1, 3];
  const g = conv2dTransposeGeometry(xShape, wShape, 1, 'same');
  await gradCheck('conv2dTranspose winograd same', (x, w, b) => conv2dTranspose(x, w, { padding: 'same', bias: b, variant: 'winograd' }), [
    { data: randomArray(xShape, seed++), shape: xShape },
    { data: randomArray(wShape, seed++), shape: wShape },
    { data: randomArray([1], seed++), shape: [1] },
  ], { reference: (x, w, b) => conv2dTransposeReference(x, w, g, b) });
  const x5 = [1, 4, 5, 2];
  const w5 = [5, 5, 2, 2];
  const g5 = conv2dGeometry(x5, w5, 1, 'same');
  await gradCheck('conv2d winograd 5×5 same', (x, w) => conv2d(x, w, { padding: 'same', variant: 'winograd' }), [
    { data: randomArray(x5, seed++), shape: x5 },
    { data: randomArray(w5, seed++), shape: w5 },
  ], { reference: (x, w) => conv2dReference(x, w, g5) });
});

test('off its rule (stride 2, 7×7, 1×1, 3×1) winograd is refused with a RangeError naming the rule, before any GPU work', () => {
  const off: [number[], number[], number][] = [
    [[1, 8, 8, 3], [3, 3, 3, 4], 2],
    [[1, 8, 8, 3], [7, 7, 3, 4], 1],
    [[1, 8, 8, 3], [5, 5, 3, 4], 2],
    [[1, 8, 8, 3], [1, 1, 3, 4], 1],
    [[1, 8, 8, 3], [3, 1, 3, 4], 1],
  ];
  for (const [xShape, wShape, s] of off) {
    const g = conv2dGeometry(xShape, wShape, s, 'same');
    const what = `w${JSON.stringify(wShape)} s${s}`;
    assert.not.ok(winogradFits('forward', g) || winogradFits('inputGrad', g), `${what}: off the rule`);
    assert.throws(() => conv2dProgram(g, undefined, 'winograd'), (e: unknown) => e instanceof RangeError && /winogradFits/.test(e.message), `${what}: forward`);
    assert.throws(() => conv2dInputGradProgram(g, undefined, 'winograd'), (e: unknown) => e instanceof RangeError && /winogradFits/.test(e.message), `${what}: input-gradient`);
    assert.throws(() => conv2dWeightGradProgram(g, 1, 'winograd'), (e: unknown) => e instanceof RangeError && /winogradFits/.test(e.message), `${what}: weight-gradient`);
    const x = tensor(new Float32Array(xShape.reduce((a, b) => a * b)), xShape);
    const w = tensor(new Float32Array(wShape.reduce((a, b) => a * b)), wShape);
    const before = dispatchesSoFar();
    assert.throws(() => tidy(() => conv2d(x, w, { stride: s, padding: 'same', variant: 'winograd' })), /conv2d: variant 'winograd' needs winogradFits/, `${what}: the op`);
    assert.is(dispatchesSoFar(), before, `${what}: no kernel may run before the error`);
    x.dispose();
    w.dispose();
  }
  const fits = conv2dGeometry([1, 8, 8, 3], [3, 3, 3, 4], 1, 'valid');
  assert.ok(winogradFits('forward', fits) && winogradFits('inputGrad', fits));
  assert.not.ok(winogradFits('weightGrad', fits), 'no Winograd weight-gradient');
});

test.run();
