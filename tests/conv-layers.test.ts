import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32, gradCheck } from './helpers.ts';
import { tensor, zeros, manualSeed } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { noGrad } from '../src/core/autograd.ts';
import { memory } from '../src/core/memory.ts';
import type { Tensor } from '../src/core/tensor.ts';
import { reshape, flatten, leakyRelu, linear, activate, OP_LEAKY_ALPHA } from '../src/core/ops.ts';
import { broadcastTo, concat } from '../src/core/shape-ops.ts';
import { conv2d, conv2dTranspose } from '../src/core/conv-ops.ts';
import { globalMaxPool2d } from '../src/core/ops.ts';
import { Conv2d, Conv2dTranspose } from '../src/nn/conv-layers.ts';
import { GlobalMaxPool2d } from '../src/nn/layers.ts';
import { Dropout } from '../src/nn/dropout.ts';
import { BatchNorm } from '../src/nn/batchnorm.ts';
import { Dense, LeakyReLU, KERAS_LEAKY_ALPHA } from '../src/nn/layers.ts';
import { glorotLimit } from '../src/nn/init.ts';
import type { Module } from '../src/nn/module.ts';

test.before(async () => {
  await ready;
});

const B = 2;

/** Runs `x` through `layers`, asserting each output shape (per image, as docs/models.md lists them). */
function expectShapes(name: string, x: Tensor, steps: [Module | ((t: Tensor) => Tensor), number[]][]): void {
  noGrad(() =>
    tidy(() => {
      let h = x;
      steps.forEach(([layer, shape], i) => {
        h = typeof layer === 'function' ? layer(h) : layer.forward(h);
        assert.equal([...h.shape], [B, ...shape], `${name}, step ${i + 1}: shape ${JSON.stringify(h.shape)}, Keras gives ${JSON.stringify([B, ...shape])}`);
      });
    }),
  );
}

/** One-hot labels [B, 10] broadcast to label planes [B, h, w, 10] (the cGAN's extra channels). */
function labelPlanes(oneHot: Tensor, h: number, w: number): Tensor {
  return broadcastTo(reshape(oneHot, [oneHot.shape[0], 1, 1, oneHot.shape[1]]), [oneHot.shape[0], h, w, oneHot.shape[1]]);
}

function oneHotRows(labels: number[]): Tensor {
  const data = new Float32Array(labels.length * 10);
  labels.forEach((l, i) => (data[i * 10 + l] = 1));
  return tensor(data, [labels.length, 10]);
}

test("output shapes equal Keras's for every layer of docs/models.md", () => {
  manualSeed(1);
  const image = zeros([B, 28, 28, 1]);
  const relu = { activation: 'relu', padding: 'same' } as const;
  const lrelu = (alpha: number) => new LeakyReLU({ alpha });
  const dispose: Module[] = [];
  const m = <M extends Module>(x: M): M => (dispose.push(x), x);

  expectShapes('VAE encoder', image, [
    [m(new Conv2d({ inChannels: 1, filters: 32, kernelSize: 3, strides: 2, ...relu })), [14, 14, 32]],
    [m(new Conv2d({ inChannels: 32, filters: 64, kernelSize: 3, strides: 2, ...relu })), [7, 7, 64]],
    [flatten, [3136]],
    [m(new Dense({ inFeatures: 3136, units: 16, activation: 'relu' })), [16]],
    [m(new Dense({ inFeatures: 16, units: 2 })), [2]],
  ]);
  expectShapes('VAE decoder', zeros([B, 2]), [
    [m(new Dense({ inFeatures: 2, units: 7 * 7 * 64, activation: 'relu' })), [3136]],
    [(t) => reshape(t, [B, 7, 7, 64]), [7, 7, 64]],
    [m(new Conv2dTranspose({ inChannels: 64, filters: 64, kernelSize: 3, strides: 2, ...relu })), [14, 14, 64]],
    [m(new Conv2dTranspose({ inChannels: 64, filters: 32, kernelSize: 3, strides: 2, ...relu })), [28, 28, 32]],
    [m(new Conv2dTranspose({ inChannels: 32, filters: 1, kernelSize: 3, strides: 1, padding: 'same', activation: 'sigmoid' })), [28, 28, 1]],
  ]);
  for (const [name, noise] of [['DCGAN generator', 100], ['cGAN generator (noise + one-hot)', 110]] as const) {
    const g = (filters: number, inChannels: number, strides: number, activation: 'linear' | 'tanh' = 'linear') =>
      m(new Conv2dTranspose({ inChannels, filters, kernelSize: 5, strides, padding: 'same', useBias: false, activation }));
    expectShapes(name, zeros([B, noise]), [
      [m(new Dense({ inFeatures: noise, units: 7 * 7 * 256, useBias: false })), [12544]],
      [m(new BatchNorm({ features: 12544 })), [12544]],
      [lrelu(0.3), [12544]],
      [(t) => reshape(t, [B, 7, 7, 256]), [7, 7, 256]],
      [g(128, 256, 1), [7, 7, 128]],
      [m(new BatchNorm({ features: 128 })), [7, 7, 128]],
      [g(64, 128, 2), [14, 14, 64]],
      [m(new BatchNorm({ features: 64 })), [14, 14, 64]],
      [g(1, 64, 2, 'tanh'), [28, 28, 1]],
    ]);
  }
  const labels = oneHotRows([3, 8]);
  const withPlanes = concat([image, labelPlanes(labels, 28, 28)], 3);
  assert.equal([...withPlanes.shape], [B, 28, 28, 11], 'cGAN discriminator input: image + 10 label planes');
  for (const [name, input] of [['DCGAN discriminator', image], ['cGAN discriminator (11 channels)', withPlanes]] as const) {
    const c = input.shape[3];
    expectShapes(name, input, [
      [m(new Conv2d({ inChannels: c, filters: 64, kernelSize: 5, strides: 2, padding: 'same', activation: 'leakyRelu', alpha: 0.3 })), [14, 14, 64]],
      [m(new Dropout({ rate: 0.3, seed: 1 })), [14, 14, 64]],
      [m(new Conv2d({ inChannels: 64, filters: 128, kernelSize: 5, strides: 2, padding: 'same', activation: 'leakyRelu', alpha: 0.3 })), [7, 7, 128]],
      [flatten, [6272]],
      [m(new Dense({ inFeatures: 6272, units: 1 })), [1]],
    ]);
  }
  // keras.io "Conditional GAN": latent 128 + 10 classes.
  const leaky = { activation: 'leakyRelu', alpha: 0.2, padding: 'same' } as const;
  expectShapes('keras.io cGAN generator', zeros([B, 138]), [
    [m(new Dense({ inFeatures: 138, units: 7 * 7 * 138, activation: 'leakyRelu', alpha: 0.2 })), [6762]],
    [(t) => reshape(t, [B, 7, 7, 138]), [7, 7, 138]],
    [m(new Conv2dTranspose({ inChannels: 138, filters: 128, kernelSize: 4, strides: 2, ...leaky })), [14, 14, 128]],
    [m(new Conv2dTranspose({ inChannels: 128, filters: 128, kernelSize: 4, strides: 2, ...leaky })), [28, 28, 128]],
    [m(new Conv2d({ inChannels: 128, filters: 1, kernelSize: 7, padding: 'same', activation: 'sigmoid' })), [28, 28, 1]],
  ]);
  expectShapes('keras.io cGAN discriminator', withPlanes, [
    [m(new Conv2d({ inChannels: 11, filters: 64, kernelSize: 3, strides: 2, ...leaky })), [14, 14, 64]],
    [m(new Conv2d({ inChannels: 64, filters: 128, kernelSize: 3, strides: 2, ...leaky })), [7, 7, 128]],
    [m(new GlobalMaxPool2d()), [128]],
    [m(new Dense({ inFeatures: 128, units: 1 })), [1]],
  ]);
  // 'valid' padding and the Keras default (valid) shrink the image; transposed 'valid' grows it by k − s.
  expectShapes('valid padding', image, [
    [m(new Conv2d({ inChannels: 1, filters: 3, kernelSize: 5 })), [24, 24, 3]],
    [m(new Conv2d({ inChannels: 3, filters: 3, kernelSize: 4, strides: 3 })), [7, 7, 3]],
    [m(new Conv2dTranspose({ inChannels: 3, filters: 2, kernelSize: 3, strides: 2 })), [15, 15, 2]],
  ]);
  dispose.forEach((x) => x.dispose());
  [image, labels, withPlanes].forEach((t) => t.dispose());
});

test('leaky slope defaults: 0.2 for every op, fused or not; 0.3 for every layer, fused or not (the Keras / TF.js split)', async () => {
  assert.is(OP_LEAKY_ALPHA, 0.2);
  assert.is(KERAS_LEAKY_ALPHA, 0.3);
  // The ops: x = −1 through an identity weight gives −0.2 whichever op applies the activation.
  const x = tensor([-1], [1, 1, 1, 1]);
  const w = tensor([1], [1, 1, 1, 1]);
  const x2 = tensor([-1], [1, 1]);
  const w2 = tensor([1], [1, 1]);
  const leaky = { activation: 'leakyRelu' } as const;
  const outs: [string, Tensor][] = [
    ['leakyRelu', leakyRelu(x2)],
    ['activate', activate(x2, 'leakyRelu')],
    ['linear', linear(x2, w2, undefined, 'leakyRelu')],
    ['conv2d', conv2d(x, w, leaky)],
    ['conv2dTranspose', conv2dTranspose(x, w, leaky)],
  ];
  for (const [name, y] of outs) {
    assertClose(await y.toArray(), [-0.2], `${name}'s default slope`, 1e-7, 0);
    y.dispose();
  }
  // The layers, the fused activation included.
  const layers = [
    new LeakyReLU(),
    new Dense({ inFeatures: 1, units: 1, ...leaky }),
    new Conv2d({ inChannels: 1, filters: 1, kernelSize: 1, ...leaky }),
    new Conv2dTranspose({ inChannels: 1, filters: 1, kernelSize: 1, ...leaky }),
  ];
  for (const layer of layers) {
    assert.is(layer.alpha, 0.3, `${layer.constructor.name}'s default slope`);
    layer.dispose();
  }
  for (const t of [x, w, x2, w2]) t.dispose();
});

test('Conv2d and Conv2dTranspose: Keras parameter names, shapes and Glorot-uniform bounds', async () => {
  const conv = new Conv2d({ inChannels: 3, filters: 8, kernelSize: 5, seed: 3 });
  const deconv = new Conv2dTranspose({ inChannels: 8, filters: 4, kernelSize: [4, 3], strides: 2, useBias: false, seed: 4 });
  assert.equal(conv.namedParameters().map(([n, t]) => [n, [...t.shape]]), [['kernel', [5, 5, 3, 8]], ['bias', [8]]]);
  assert.equal(deconv.namedParameters().map(([n, t]) => [n, [...t.shape]]), [['kernel', [4, 3, 4, 8]]]);
  const limit = glorotLimit(25 * 3, 25 * 8);
  const k = await conv.kernel.toArray();
  assert.ok(k.every((v) => Math.abs(v) <= limit) && k.some((v) => Math.abs(v) > 0.9 * limit), `kernel within ±${limit}`);
  assert.ok((await conv.bias!.toArray()).every((v) => v === 0), 'bias starts at zero');
  const dk = await deconv.kernel.toArray();
  assert.ok(dk.every((v) => Math.abs(v) <= glorotLimit(12 * 4, 12 * 8)), 'transposed kernel bound');
  assert.throws(() => new Conv2d({ inChannels: 3, filters: 0, kernelSize: 3 }), /filters must be a positive integer, got 0/);
  assert.throws(() => new Conv2d({ inChannels: 3, filters: 4, kernelSize: 3, strides: 0 }), /strides must be a positive integer, got 0/);
  assert.throws(() => conv.forward(zeros([1, 9, 9, 2])), /input \[1, 9, 9, 2\] must be \[batch, height, width, 3\]/);
  conv.dispose();
  deconv.dispose();
});

test('BatchNorm layer: moving statistics are buffers (in the state dict), train/eval switch them', async () => {
  const bn = new BatchNorm({ features: 3, momentum: 0.5 });
  assert.equal([...bn.stateDict().keys()], ['gamma', 'beta', 'moving_mean', 'moving_variance']);
  assert.equal(bn.namedParameters().map(([n]) => n), ['gamma', 'beta']);
  const data = f32(randomArray([4, 2, 2, 3], 5, 1, 3));
  const x = tensor(data, [4, 2, 2, 3]);
  tidy(() => bn.forward(x)); // training: batch statistics, moving ones updated
  const mean = new Float64Array(3);
  for (let i = 0; i < data.length; i++) mean[i % 3] += data[i] / 16;
  assertClose(await bn.movingMean.toArray(), Float64Array.from(mean, (m) => 0.5 * m), 'moving mean after one step', 1e-5, 1e-6);
  // A copy made through the state dict carries the moving statistics.
  const copy = new BatchNorm({ features: 3, momentum: 0.5 });
  copy.loadStateDict(bn.stateDict());
  assertClose(await copy.movingMean.toArray(), await bn.movingMean.toArray(), 'loaded moving mean', 0, 0);
  bn.eval();
  const before = await bn.movingMean.toArray();
  const y = tidy(() => bn.forward(x));
  assertClose(await bn.movingMean.toArray(), before, 'eval leaves the moving mean alone', 0, 0);
  const mv = await bn.movingVariance.toArray();
  const mm = before;
  assertClose(await y.toArray(), Float64Array.from(data, (v, i) => (v - mm[i % 3]) / Math.sqrt(mv[i % 3] + 1e-3)), 'eval output', 1e-5, 1e-5);
  [x, y].forEach((t) => t.dispose());
  bn.dispose();
  copy.dispose();
});

test('GlobalMaxPool2d: maximum over height and width; ties share the gradient (tf.reduce_max)', async () => {
  const shape = [2, 3, 5, 4];
  const data = f32(randomArray(shape, 9));
  data[(0 * 15 + 7) * 4 + 1] = 5; // a tie at image 0, channel 1
  data[(0 * 15 + 2) * 4 + 1] = 5;
  const expected = new Float64Array(8).fill(-Infinity);
  for (let i = 0; i < data.length; i++) {
    const b = Math.floor(i / 60);
    expected[b * 4 + (i % 4)] = Math.max(expected[b * 4 + (i % 4)], data[i]);
  }
  const x = tensor(data, shape, { requiresGrad: true });
  const y = globalMaxPool2d(x);
  assert.equal([...y.shape], [2, 4]);
  assertClose(await y.toArray(), expected, 'global max', 0, 0);
  y.backward(tensor(new Float32Array(8).fill(1), [2, 4]));
  const g = await x.grad!.toArray();
  assert.is(g[(0 * 15 + 7) * 4 + 1], 0.5, 'tied maxima share');
  assert.is(g[(0 * 15 + 2) * 4 + 1], 0.5);
  assert.is(g.reduce((a, b) => a + b, 0), 8, 'one unit of gradient per output');
  assert.throws(() => globalMaxPool2d(tensor([1, 2], [1, 2])), /must be 4-D .* got \[1, 2\]/);
  [x, y, x.grad!].forEach((t) => t.dispose());
  await gradCheck('globalMaxPool2d', (x) => globalMaxPool2d(x), [{ data: randomArray([2, 3, 3, 2], 10), shape: [2, 3, 3, 2] }], {
    reference: (x) => {
      const out = new Float64Array(4).fill(-Infinity);
      x.forEach((v, i) => (out[Math.floor(i / 18) * 2 + (i % 2)] = Math.max(out[Math.floor(i / 18) * 2 + (i % 2)], v)));
      return out;
    },
  });
});

test('label planes: one-hot [B, 10] → [B, 28, 28, 10] by reshape + broadcastTo, with a gradient', async () => {
  const labels = oneHotRows([0, 9]);
  const planes = labelPlanes(labels, 28, 28);
  const v = await planes.toArray();
  assert.is(v[(0 * 784 + 400) * 10 + 0], 1);
  assert.is(v[(1 * 784 + 783) * 10 + 9], 1);
  assert.is(v.reduce((a, b) => a + b, 0), 2 * 784, 'one hot channel per pixel');
  [labels, planes].forEach((t) => t.dispose());
  await gradCheck('label planes', (l) => labelPlanes(l, 3, 2), [{ data: randomArray([2, 10], 1), shape: [2, 10] }], {
    reference: (l) => {
      const out = new Float64Array(2 * 3 * 2 * 10);
      out.forEach((_, i) => (out[i] = l[Math.floor(i / 60) * 10 + (i % 10)]));
      return out;
    },
  });
});

test('a DCGAN-style block trains end to end: conv → BN → leaky ReLU → dropout, gradients reach every parameter', async () => {
  const conv = new Conv2d({ inChannels: 2, filters: 3, kernelSize: 3, strides: 2, padding: 'same', seed: 1 });
  const bn = new BatchNorm({ features: 3 });
  const act = new LeakyReLU({ alpha: 0.3 });
  const drop = new Dropout({ rate: 0.3, seed: 2 });
  const x = tensor(randomArray([2, 5, 5, 2], 3), [2, 5, 5, 2]);
  const step = () => tidy(() => {
    const y = drop.forward(act.forward(bn.forward(conv.forward(x))));
    y.backward(tensor(randomArray(y.shape, 4), y.shape));
  });
  const params = [...conv.namedParameters(), ...bn.namedParameters()];
  const before = memory().liveTensors;
  step();
  // Nothing survives the step but the parameters' gradients.
  assert.is(memory().liveTensors - before, params.length, 'live tensors after one step');
  step(); // gradients accumulate in place of the old ones
  assert.is(memory().liveTensors - before, params.length, 'live tensors after two steps');
  for (const [name, p] of params) {
    assert.ok(p.grad && (await p.grad.toArray()).some((v) => v !== 0), `${name} got a gradient`);
  }
  x.dispose();
  conv.dispose();
  bn.dispose();
});

test.run();
