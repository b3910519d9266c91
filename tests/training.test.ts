import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, seededRandom } from './helpers.ts';
import { tensor, manualSeed } from '../src/core/creation.ts';
import { sync } from '../src/core/dispatch.ts';
import { memory } from '../src/core/memory.ts';
import { Sequential } from '../src/nn/sequential.ts';
import { Dense } from '../src/nn/layers.ts';
import { Adam } from '../src/nn/optim.ts';
import { MnistGpu } from '../src/data/batches.ts';
import { createMlp } from '../src/models/mlp.ts';
import { classifierStep } from './helpers.ts';
import { runMlp } from '../examples/train-mlp.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';

test.before(async () => {
  await ready;
});

test('200 Adam steps hold live buffers, live bytes and created buffers flat after warm-up', async () => {
  const model = new Sequential(new Dense({ inFeatures: 20, units: 16, activation: 'relu', seed: 1 }), new Dense({ inFeatures: 16, units: 4, seed: 2 }));
  const optimizer = new Adam(model);
  const r = seededRandom(3);
  const x = tensor(randomArray([8, 20], 4), [8, 20]);
  const y = tensor(Array.from({ length: 8 }, () => Math.floor(r() * 4)), [8], { dtype: 'i32' });
  let warm: ReturnType<typeof memory> | undefined;
  let firstLoss = 0;
  let lastLoss = 0;
  for (let step = 1; step <= 200; step++) {
    const loss = classifierStep(model, optimizer, x, y);
    // Read back every 10 steps, as the training loop does.
    if (step % 10 === 0) {
      lastLoss = await loss.item();
      if (step === 10) firstLoss = lastLoss;
    }
    loss.dispose();
    if (step === 20) {
      await sync();
      warm = memory();
    }
  }
  await sync();
  const end = memory();
  assert.is(end.liveBuffers, warm!.liveBuffers, 'live buffers grew');
  assert.is(end.liveBytes, warm!.liveBytes, 'live bytes grew');
  assert.is(end.createdBuffers, warm!.createdBuffers, 'new GPU buffers were created after warm-up');
  assert.is(end.liveTensors, warm!.liveTensors, 'live tensors grew');
  assert.ok(lastLoss < firstLoss, `the loss did not fall (${firstLoss} → ${lastLoss})`);
  for (const t of [x, y]) t.dispose();
  optimizer.dispose();
  model.dispose();
});

async function firstLosses(seed: number, steps: number, data: MnistGpu): Promise<Float32Array> {
  manualSeed(seed);
  const model = createMlp({ hidden: 32 });
  const optimizer = new Adam(model);
  const losses = new Float32Array(steps);
  const batches = data.batches(0, { batchSize: 32, seed });
  for (let i = 0; i < steps; i++) {
    const next = batches.next();
    if (next.done) throw new Error('not enough batches');
    const loss = classifierStep(model, optimizer, next.value.x, next.value.y);
    losses[i] = await loss.item();
    loss.dispose();
  }
  batches.return();
  optimizer.dispose();
  model.dispose();
  return losses;
}

test('the same seed gives the same first 20 losses, bit for bit, across fresh builds', async () => {
  const data = loadMnistGpu('train', { limit: 640 });
  const a = await firstLosses(5, 20, data);
  const b = await firstLosses(5, 20, data);
  const bits = (v: Float32Array) => [...new Uint32Array(v.buffer)];
  assert.equal(bits(a), bits(b));
  assert.ok(a.every(Number.isFinite));
  const c = await firstLosses(6, 20, data);
  assert.not.equal(bits(a), bits(c), 'a different seed gave the same losses');
  data.dispose();
});

test('a short real MLP run (2000 images, one epoch) beats chance by far', async () => {
  const summary = await runMlp({ epochs: 1, batchSize: 32, lr: 1e-3, seed: 0, limit: 2000, progress: false });
  assert.is(summary.trainImages, 2000);
  assert.ok(summary.testAccuracy > 0.8, `test accuracy ${summary.testAccuracy}`);
  assert.ok(Number.isFinite(summary.testLoss) && summary.testLoss < 1, `test loss ${summary.testLoss}`);
});

test.run();
