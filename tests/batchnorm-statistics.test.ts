// recomputeBatchNormStatistics (src/nn/batchnorm-statistics.ts): after it, every BatchNorm
// layer's moving mean and variance are the plain averages of its batch mean and biased batch
// variance over the batches given, computed here on the host in float64 from the inputs alone
// (the upstream layers in inference mode, BatchNorm in training mode), whatever the moving
// statistics held before (even NaN); parameters, training modes and momenta are left as they were.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32 } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { Tensor } from '../src/core/tensor.ts';
import { copyBuffer, flush } from '../src/core/dispatch.ts';
import { Sequential } from '../src/nn/sequential.ts';
import { Dense } from '../src/nn/layers.ts';
import { Dropout } from '../src/nn/dropout.ts';
import { BatchNorm } from '../src/nn/batchnorm.ts';
import { recomputeBatchNormStatistics, batchNormLayers } from '../src/nn/batchnorm-statistics.ts';

test.before(async () => {
  await ready;
});

const EPS = 1e-3; // BatchNorm's default epsilon

/** Per-channel mean and biased variance of rows × channels values (channels last), float64. */
function channelStats(values: Float64Array, channels: number): { mean: Float64Array; variance: Float64Array } {
  const rows = values.length / channels;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let r = 0; r < rows; r++) for (let c = 0; c < channels; c++) mean[c] += values[r * channels + c] / rows;
  for (let r = 0; r < rows; r++) for (let c = 0; c < channels; c++) variance[c] += (values[r * channels + c] - mean[c]) ** 2 / rows;
  return { mean, variance };
}

/** [BatchNorm 4] → Dropout 0.5 → Dense 4→3 → [BatchNorm 3], on [3, 2, 2, 4] inputs. */
function network(): { net: Sequential; bn0: BatchNorm; dense: Dense; bn1: BatchNorm } {
  const bn0 = new BatchNorm({ features: 4 });
  const dense = new Dense({ inFeatures: 4, units: 3, seed: 11 });
  const bn1 = new BatchNorm({ features: 3 });
  const net = new Sequential(bn0, new Dropout({ rate: 0.5, seed: 5 }), dense, bn1);
  return { net, bn0, dense, bn1 };
}

const SHAPE = [3, 2, 2, 4];

/** Batch k: values whose mean and spread move with k, so the average of the batch statistics differs from the statistics of all batches pooled. */
function batchValues(k: number): Float64Array {
  return f32(randomArray(SHAPE, 100 + k, -1 + 2 * k, 1 + 3 * k));
}

test('the moving statistics become the averages of the batch mean and biased variance, layer by layer', async () => {
  const { net, bn0, dense, bn1 } = network();
  // Training-mode passes first, so the moving statistics hold something else (an EMA), and a NaN.
  net.train();
  for (let k = 0; k < 2; k++) net.forward(tensor(batchValues(50 + k), SHAPE)).dispose();
  const nan = tensor(new Float64Array(4).fill(NaN), [4]);
  copyBuffer(nan.gpu.buffer, 0, bn0.movingMean.gpu.buffer, 0, 16);
  flush();
  nan.dispose();
  assert.ok(Number.isNaN((await bn0.movingMean.toArray())[0]), 'the moving mean was not poisoned');
  const paramsBefore = await Promise.all(net.parameters().map((p) => p.toArray()));

  const batches = 3;
  const updated = recomputeBatchNormStatistics(net, batches, (k) => net.forward(tensor(batchValues(k), SHAPE)));
  assert.is(updated, 2);

  // The host's version of the same passes.
  const kernel = Float64Array.from(await dense.kernel.toArray()); // [4, 3]
  const bias = Float64Array.from(await dense.bias!.toArray());
  const expected = { mean0: new Float64Array(4), var0: new Float64Array(4), mean1: new Float64Array(3), var1: new Float64Array(3) };
  for (let k = 0; k < batches; k++) {
    const x = batchValues(k);
    const s0 = channelStats(x, 4);
    const rows = x.length / 4;
    const y = new Float64Array(rows * 3);
    for (let r = 0; r < rows; r++) {
      for (let u = 0; u < 3; u++) {
        let sum = bias[u];
        // γ = 1, β = 0: BatchNorm's initial parameters; Dropout is off (inference mode).
        for (let c = 0; c < 4; c++) sum += ((x[r * 4 + c] - s0.mean[c]) / Math.sqrt(s0.variance[c] + EPS)) * kernel[c * 3 + u];
        y[r * 3 + u] = sum;
      }
    }
    const s1 = channelStats(y, 3);
    for (let c = 0; c < 4; c++) {
      expected.mean0[c] += s0.mean[c] / batches;
      expected.var0[c] += s0.variance[c] / batches;
    }
    for (let c = 0; c < 3; c++) {
      expected.mean1[c] += s1.mean[c] / batches;
      expected.var1[c] += s1.variance[c] / batches;
    }
  }
  assertClose(await bn0.movingMean.toArray(), expected.mean0, 'first BatchNorm: moving mean', 1e-5, 1e-5);
  assertClose(await bn0.movingVariance.toArray(), expected.var0, 'first BatchNorm: moving variance', 1e-5, 1e-5);
  assertClose(await bn1.movingMean.toArray(), expected.mean1, 'second BatchNorm: moving mean', 1e-4, 1e-5);
  assertClose(await bn1.movingVariance.toArray(), expected.var1, 'second BatchNorm: moving variance', 1e-4, 1e-5);

  // The pooled variance of all batches is much larger (their means differ): not what we want.
  const pooled = new Float64Array(batches * 48);
  for (let k = 0; k < batches; k++) pooled.set(batchValues(k), k * 48);
  const pooledVariance = channelStats(pooled, 4).variance;
  assert.ok(pooledVariance[0] > 1.5 * expected.var0[0], `test data: pooled variance ${pooledVariance[0]} vs average ${expected.var0[0]}`);

  const paramsAfter = await Promise.all(net.parameters().map((p) => p.toArray()));
  paramsAfter.forEach((after, i) => assert.equal([...after], [...paramsBefore[i]], `parameter ${i} changed`));
  for (const [name, m] of [['net', net], ...net.namedModules()] as const) assert.ok(m.training, `${name} left out of training mode`);
  assert.is(bn0.momentum, 0.99);
  assert.is(bn1.momentum, 0.99);
  net.dispose();
});

test('one batch: the statistics of that batch; a later inference pass normalises with them', async () => {
  const bn = new BatchNorm({ features: 4 });
  bn.eval();
  const x = batchValues(7);
  assert.is(recomputeBatchNormStatistics(bn, 1, () => bn.forward(tensor(x, SHAPE))), 1);
  const { mean, variance } = channelStats(x, 4);
  assert.not.ok(bn.training, 'eval mode was not restored');
  const y = bn.forward(tensor(x, SHAPE));
  const normalised = Float64Array.from(x, (v, i) => (v - mean[i % 4]) / Math.sqrt(variance[i % 4] + EPS));
  assertClose(await y.toArray(), normalised, 'inference output', 1e-4, 1e-4);
  y.dispose();
  bn.dispose();
});

test('bad inputs: a clear error, and modes and momenta restored when the forward pass throws', () => {
  const { net, bn0, bn1 } = network();
  net.eval();
  const run = (batches: number) => recomputeBatchNormStatistics(net, batches, () => undefined);
  assert.throws(() => run(0), /batches must be a positive integer, got 0/);
  assert.throws(() => run(2.5), /batches must be a positive integer, got 2.5/);
  const plain = new Dense({ inFeatures: 2, units: 2, seed: 1 });
  assert.throws(() => recomputeBatchNormStatistics(plain, 3, () => undefined), /Dense has no BatchNorm layer/);
  plain.dispose();
  assert.throws(() => recomputeBatchNormStatistics(net, 2, () => {
    throw new Error('boom');
  }), /boom/);
  assert.not.ok(bn0.training || bn1.training, 'a BatchNorm layer was left in training mode');
  assert.is(bn0.momentum, 0.99);
  assert.is(bn1.momentum, 0.99);
  assert.equal(batchNormLayers(net), [bn0, bn1]);
  assert.throws(() => {
    bn0.momentum = 1.5;
  }, /momentum must be in \[0, 1\], got 1.5/);
  net.dispose();
});

test('tensors made for the passes are freed', () => {
  const bn = new BatchNorm({ features: 4 });
  const made: Tensor[] = [];
  recomputeBatchNormStatistics(bn, 2, (k) => {
    const x = tensor(batchValues(k), SHAPE);
    made.push(x);
    return bn.forward(x);
  });
  assert.ok(made.every((t) => t.isDisposed), 'an input tensor outlived its pass');
  bn.dispose();
});

test.run();
