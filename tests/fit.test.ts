// fit(): Keras's model.fit over any BatchSource. Checked against a hand-written loop of the same
// steps (same batches, same order: the losses must agree bit for bit), its validation against
// evaluate(), its callbacks' order, checkpoint and resume, and the options it refuses.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, seededRandom } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { crossEntropy } from '../src/core/softmax-ops.ts';
import { mseLoss } from '../src/core/loss-ops.ts';
import { memory } from '../src/core/memory.ts';
import { Sequential } from '../src/nn/sequential.ts';
import { Dense } from '../src/nn/layers.ts';
import { Adam } from '../src/nn/optim.ts';
import { readCheckpointInfo } from '../src/nn/checkpoint-file.ts';
import { DataLoader, TensorDataset } from '../src/data/dataset.ts';
import { classifierStep } from './helpers.ts';
import { evaluate, fit, type EpochLogs } from '../src/train/fit.ts';
import type { TrainableModel } from '../src/train/trainer.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'fit-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// 67 examples of 5 features in 3 classes (the class is where the first 3 features peak, plus
// noise): batches of 16 leave a last batch of 3.
const N = 67;
const r = seededRandom(4);
const xs = Float32Array.from(randomArray([N, 5], 5));
const ys = Int32Array.from({ length: N }, (_, i) => {
  const c = Math.floor(r() * 3);
  xs[i * 5 + c] += 2;
  return c;
});
const net = (seed: number): Sequential => new Sequential(new Dense({ inFeatures: 5, units: 8, activation: 'relu', seed }), new Dense({ inFeatures: 8, units: 3, seed: seed + 1 }));
const bits = (values: readonly number[]): number[] => [...new Uint32Array(Float32Array.from(values).buffer)];

let data: TensorDataset;

test.before(async () => {
  await ready;
  data = new TensorDataset({ data: xs, shape: [N, 5] }, { data: ys, shape: [N] });
});
test.after(() => data.dispose());

test('fit takes exactly the steps of a hand-written loop over the same batches, and learns', async () => {
  const liveBefore = memory().liveTensors;
  const loader = new DataLoader(data, { batchSize: 16, seed: 9 });
  const a = net(1);
  const optA = new Adam(a, { lr: 0.02 });
  const history = await fit(a, loader, { epochs: 3, loss: crossEntropy, optimizer: optA, progress: false, log: () => {} });
  const b = net(1);
  const optB = new Adam(b, { lr: 0.02 });
  const manual: number[] = [];
  for (let epoch = 0; epoch < 3; epoch++) {
    for (const batch of loader.batches(epoch)) {
      const loss = classifierStep(b, optB, batch.x, batch.y);
      manual.push(await loss.item());
      loss.dispose();
    }
  }
  assert.is(manual.length, 15);
  assert.equal(bits(history.steps.loss), bits(manual));
  assert.equal(history.epoch, [0, 1, 2]);
  // Per-epoch means of the steps, as Keras's History.
  for (let e = 0; e < 3; e++) {
    const mean = manual.slice(e * 5, e * 5 + 5).reduce((s, v) => s + v, 0) / 5;
    assert.ok(Math.abs(history.history.loss[e] - mean) < 1e-6, `epoch ${e}: ${history.history.loss[e]} vs ${mean}`);
  }
  assert.ok(history.history.loss[2] < 0.7 * history.history.loss[0], `did not learn: ${history.history.loss}`);
  assert.is(history.epochTimes.length, 3);
  assert.is(history.epochTimes[0].images, N);
  for (const t of [optA, optB, a, b]) t.dispose();
  assert.is(memory().liveTensors, liveBefore, 'tensors leaked');
});

test('validation figures are evaluate() in inference mode; callbacks run in order; the model is back in training mode', async () => {
  const loader = new DataLoader(data, { batchSize: 16, seed: 2 });
  const validation = new DataLoader(data, { batchSize: 50, shuffle: false });
  const model = net(3);
  const optimizer = new Adam(model, { lr: 0.01 });
  const calls: string[] = [];
  const seen: EpochLogs[] = [];
  const history = await fit(model, loader, {
    epochs: 2,
    loss: crossEntropy,
    optimizer,
    validationData: validation,
    progress: false,
    log: () => {},
    callbacks: [
      { onTrainBegin: () => void calls.push('begin'), onEpochEnd: (e, logs) => void (calls.push(`epoch ${e}`), seen.push(logs)), onTrainEnd: () => void calls.push('end') },
      { onEpochEnd: (e) => void calls.push(`second ${e}`) },
    ],
  });
  assert.equal(calls, ['begin', 'epoch 0', 'second 0', 'epoch 1', 'second 1', 'end']);
  assert.equal(Object.keys(seen[1]).sort(), ['loss', 'val_accuracy', 'val_loss']);
  assert.is(model.training, true);
  const direct = await evaluate(model, validation, { loss: crossEntropy });
  assert.is(history.history.val_loss[1], direct.loss);
  assert.is(history.history.val_accuracy[1], direct.accuracy);
  // Accuracy against the host labels, counted independently.
  const scores = await model.forward(tensor(xs, [N, 5])).toArray();
  let correct = 0;
  for (let i = 0; i < N; i++) {
    const row = [0, 1, 2].map((c) => scores[i * 3 + c]);
    if (row.indexOf(Math.max(...row)) === ys[i]) correct++;
  }
  assert.is(direct.accuracy, correct / N);
  // A regression loss has no accuracy.
  const targets = new TensorDataset({ data: xs, shape: [N, 5] }, { data: new Float32Array(N * 3), shape: [N, 3] });
  const mse = await evaluate(model, new DataLoader(targets, { batchSize: 20, shuffle: false }), { loss: mseLoss });
  assert.is(mse.accuracy, undefined);
  assert.ok(mse.loss > 0);
  targets.dispose();
  optimizer.dispose();
  model.dispose();
});

test('fit checkpoints every epoch; stopped early and resumed, it ends with the same losses bit for bit', async () => {
  const loader = new DataLoader(data, { batchSize: 16, seed: 5 });
  const run = async (path: string, options: { maxSteps?: number; resume?: boolean }) => {
    const model = net(7);
    const optimizer = new Adam(model, { lr: 0.01 });
    try {
      return await fit(model, loader, { epochs: 2, loss: crossEntropy, optimizer, checkpoint: path, name: 'mlp', config: { hidden: 8 }, progress: false, log: () => {}, ...options });
    } finally {
      optimizer.dispose();
      model.dispose();
    }
  };
  const whole = await run(join(dir, 'whole.safetensors'), {});
  const path = join(dir, 'parts.safetensors');
  const first = await run(path, { maxSteps: 7 });
  assert.is(first.interrupted, true);
  const info = readCheckpointInfo(path, 'mlp');
  assert.equal(info.progress, { epoch: 1, step: 7, batchInEpoch: 2, seed: 5 });
  assert.equal(info.config, { hidden: 8 });
  const second = await run(path, { resume: true });
  assert.is(second.interrupted, false);
  assert.equal(bits(second.steps.loss), bits(whole.steps.loss));
});

test('fit refuses what would do nothing or cannot work, before any step', async () => {
  const model = net(1);
  const optimizer = new Adam(model);
  const loader = new DataLoader(data, { batchSize: 8 });
  const own: TrainableModel = { name: 'own', config: {}, modules: {}, optimizers: {}, lossNames: ['loss'], trainStep: () => assert.unreachable('stepped') as never };
  const rejects = async (call: () => Promise<unknown>, pattern: RegExp): Promise<void> => {
    try {
      await call();
    } catch (e) {
      assert.match((e as Error).message, pattern);
      return;
    }
    assert.unreachable(`not refused: ${pattern}`);
  };
  await rejects(() => fit(model, loader, { epochs: 1, optimizer }), /needs a loss/);
  await rejects(() => fit(model, loader, { epochs: 1, loss: crossEntropy }), /needs an optimizer/);
  await rejects(() => fit(own, loader, { epochs: 1, loss: crossEntropy }), /'loss' does not apply/);
  await rejects(() => fit(own, loader, { epochs: 1, optimizer }), /'optimizer' does not apply/);
  await rejects(() => fit(model, loader, { epochs: 0, loss: crossEntropy, optimizer }), /epochs must be a positive integer/);
  await rejects(() => fit(model, loader, { epochs: 1, loss: crossEntropy, optimizer, resume: true }), /resume needs a checkpoint/);
  const mnist = loadMnistGpu('test', { limit: 10 });
  await rejects(() => fit(model, mnist, { epochs: 1, loss: crossEntropy, optimizer }), /batchSize is required/);
  mnist.dispose();
  assert.not.ok(existsSync(join(dir, 'model.safetensors')));
  optimizer.dispose();
  model.dispose();
});

test.run();
