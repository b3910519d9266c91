import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { deriveSeed, rand } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { detach } from '../src/core/autograd.ts';
import { mean, mul, mulScalar } from '../src/core/ops.ts';
import { crossEntropy } from '../src/core/softmax-ops.ts';
import { memory } from '../src/core/memory.ts';
import type { Tensor } from '../src/core/tensor.ts';
import type { Module } from '../src/nn/module.ts';
import type { Sequential } from '../src/nn/sequential.ts';
import { Adam, type Optimizer } from '../src/nn/optim.ts';
import { readCheckpointInfo } from '../src/nn/checkpoint-file.ts';
import { MnistGpu, type Batch } from '../src/data/batches.ts';
import { createMlp } from '../src/models/mlp.ts';
import { DivergedError, trainLoop, type TrainableModel, type TrainLoopOptions, type TrainLoopResult } from '../src/train/trainer.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'trainer-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
const freshPath = (): string => join(dir, `run-${fileCounter++}.safetensors`);

// 480 images in batches of 64: 7 full batches and a last one of 32 per epoch.
const LIMIT = 480;
const BATCH = 64;
const BATCHES_PER_EPOCH = 8;
const EPOCHS = 2;
const TOTAL_STEPS = EPOCHS * BATCHES_PER_EPOCH;
const SEED = 21;
const NOISE_SEED = 5;

/**
 * An MLP classifier whose inputs are scaled by noise drawn from (seed, step), as the VAE's and
 * GANs' noise is: its losses only repeat if the trainer hands every step its true step number.
 */
class NoisyMlp implements TrainableModel {
  readonly name = 'noisy-mlp';
  readonly config: { hidden: number; weightSeed: number };
  readonly modules: Record<string, Module>;
  readonly optimizers: Record<string, Optimizer>;
  readonly lossNames = ['loss', 'noiseMean'] as const;
  readonly net: Sequential;
  readonly optimizer: Adam;
  /** The step numbers trainStep was given, in order. */
  readonly stepsSeen: number[] = [];
  /** Called after each step (the SIGINT test sends the signal from here). */
  afterStep?: (step: number) => void;
  /** From this step on the inputs are scaled by NaN, as a diverging run's activations end up. */
  poisonFrom?: number;

  /** Different weight seeds give different starting weights: a resumed model must load them all. */
  constructor(weightSeed: number) {
    this.config = { hidden: 16, weightSeed };
    this.net = createMlp({ hidden: 16, seed: weightSeed });
    this.optimizer = new Adam(this.net, { lr: 3e-3 });
    this.modules = { net: this.net };
    this.optimizers = { adam: this.optimizer };
  }

  trainStep(batch: Batch, step: number): Tensor[] {
    this.stepsSeen.push(step);
    const losses = tidy(() => {
      this.optimizer.zeroGrad();
      const drawn = rand([batch.size, 1, 1, 1], { low: 0.5, high: 1.5, seed: deriveSeed(NOISE_SEED, step) });
      const noise = this.poisonFrom !== undefined && step >= this.poisonFrom ? mulScalar(drawn, Number.NaN) : drawn;
      const loss = crossEntropy(this.net.forward(mul(batch.x, noise)), batch.y);
      loss.backward();
      this.optimizer.step();
      // A second named value, so several losses are read back and restored in order.
      return [detach(loss), mean(noise)];
    });
    try {
      this.afterStep?.(step);
    } catch (e) {
      for (const t of losses) t.dispose();
      throw e;
    }
    return losses;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.net.dispose();
  }
}

let data: MnistGpu;

test.before(async () => {
  await ready;
  data = loadMnistGpu('train', { limit: LIMIT });
});

test.after(() => data.dispose());

async function stateBytes(model: NoisyMlp): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const named = [...model.net.stateDict(), ...[...model.optimizer.stateDict().tensors].map(([n, t]) => [`adam.${n}`, t] as const)];
  for (const [name, t] of named) {
    const values = await t.toArray();
    out.set(name, Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  }
  return out;
}

function assertSameState(actual: Map<string, Buffer>, expected: Map<string, Buffer>, what: string): void {
  assert.equal([...actual.keys()], [...expected.keys()]);
  for (const [name, bytes] of expected) assert.ok(actual.get(name)!.equals(bytes), `${what}: tensor "${name}" differs`);
}

/** f32 bit patterns: losses equal bit for bit, not just within a tolerance. */
function bits(values: readonly number[]): number[] {
  return [...new Uint32Array(Float32Array.from(values).buffer)];
}

interface Run {
  result: TrainLoopResult;
  state: Map<string, Buffer>;
  stepsSeen: number[];
  epochsEnded: number[];
  logs: string[];
}

async function train(all: Partial<TrainLoopOptions> & { checkpointPath: string; weightSeed?: number; afterStep?: (step: number) => void; poisonFrom?: number }): Promise<Run> {
  // The test's own settings, apart from trainLoop's options (which refuses keys it does not know).
  const { weightSeed, afterStep, poisonFrom, ...options } = all;
  const model = new NoisyMlp(weightSeed ?? 1);
  model.afterStep = afterStep;
  model.poisonFrom = poisonFrom;
  const epochsEnded: number[] = [];
  const logs: string[] = [];
  try {
    const result = await trainLoop({
      model,
      data,
      epochs: EPOCHS,
      batchSize: BATCH,
      seed: SEED,
      progress: false,
      log: (line) => logs.push(line),
      onEpochEnd: (epoch) => {
        epochsEnded.push(epoch);
      },
      ...options,
    });
    return { result, state: await stateBytes(model), stepsSeen: model.stepsSeen, epochsEnded, logs };
  } finally {
    model.dispose();
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

let reference: Run;

test('an uninterrupted run trains 2 epochs, records every loss and ends with an epoch-2 checkpoint', async () => {
  const path = freshPath();
  const liveBefore = memory().liveTensors;
  reference = await train({ checkpointPath: path });
  const { result } = reference;
  assert.is(memory().liveTensors, liveBefore, 'the run leaked tensors');
  assert.is(result.interrupted, false);
  assert.equal(result.progress, { epoch: 2, step: TOTAL_STEPS, batchInEpoch: 0, seed: SEED });
  assert.is(result.resumedFrom, undefined);
  assert.equal(reference.stepsSeen, range(0, TOTAL_STEPS));
  assert.equal(reference.epochsEnded, [0, 1]);
  assert.is(result.history.loss.length, TOTAL_STEPS);
  assert.is(result.history.noiseMean.length, TOTAL_STEPS);
  assert.ok(result.history.loss.every(Number.isFinite));
  assert.ok(result.history.noiseMean.every((v) => v > 0.5 && v < 1.5), 'the second loss is not the mean noise');
  const firstEpoch = result.history.loss.slice(0, 4).reduce((a, b) => a + b) / 4;
  const lastEpoch = result.history.loss.slice(-4).reduce((a, b) => a + b) / 4;
  assert.ok(lastEpoch < firstEpoch, `the loss did not fall (${firstEpoch} → ${lastEpoch})`);

  const info = readCheckpointInfo(path, 'noisy-mlp');
  assert.equal(info.progress, { epoch: 2, step: TOTAL_STEPS, batchInEpoch: 0, seed: SEED });
  assert.equal(info.config, { hidden: 16, weightSeed: 1 });
  assert.equal(bits(JSON.parse(info.extra.history).loss), bits(result.history.loss));
});

test('reading losses back in other group sizes changes nothing (the run is deterministic)', async () => {
  const again = await train({ checkpointPath: freshPath(), lossEvery: 3 });
  assert.equal(bits(again.result.history.loss), bits(reference.result.history.loss));
  assert.equal(bits(again.result.history.noiseMean), bits(reference.result.history.noiseMean));
  assertSameState(again.state, reference.state, 'a second run');
});

/** Stops a run with `stop`, resumes it in a model built from other weights, and checks it equals the reference. */
async function stopAndResume(
  stop: Partial<TrainLoopOptions> & { afterStep?: (step: number) => void },
  stoppedAfter: number,
  expectedProgress: { epoch: number; batchInEpoch: number },
): Promise<{ first: Run; second: Run }> {
  const path = freshPath();
  const first = await train({ checkpointPath: path, ...stop });
  assert.is(first.result.interrupted, true);
  assert.equal(first.stepsSeen, range(0, stoppedAfter));
  const stoppedAt = { ...expectedProgress, step: stoppedAfter, seed: SEED };
  assert.equal(first.result.progress, stoppedAt);
  assert.equal(readCheckpointInfo(path, 'noisy-mlp').progress, stoppedAt, 'the checkpoint left behind');
  assert.equal(bits(first.result.history.loss), bits(reference.result.history.loss.slice(0, stoppedAfter)));

  const second = await train({ checkpointPath: path, resume: true, weightSeed: 77, lossEvery: 5 });
  assert.is(second.result.interrupted, false);
  assert.equal(second.result.resumedFrom, stoppedAt);
  assert.equal(second.stepsSeen, range(stoppedAfter, TOTAL_STEPS));
  assert.equal(second.result.progress, { epoch: 2, step: TOTAL_STEPS, batchInEpoch: 0, seed: SEED });
  assert.equal(bits(second.result.history.loss), bits(reference.result.history.loss));
  assert.equal(bits(second.result.history.noiseMean), bits(reference.result.history.noiseMean));
  assert.equal(
    bits([...first.result.history.loss, ...second.result.history.loss.slice(stoppedAfter)]),
    bits(reference.result.history.loss),
    'the concatenated loss history',
  );
  assertSameState(second.state, reference.state, 'the resumed run');
  assert.equal(readCheckpointInfo(path, 'noisy-mlp').progress.epoch, 2);
  // Every epoch ends (and draws its samples) exactly once across the two runs.
  assert.equal([...first.epochsEnded, ...second.epochsEnded], [0, 1]);
  return { first, second };
}

test('stopped in the middle of the first epoch (maxSteps) and resumed: the same losses and weights, bit for bit', async () => {
  await stopAndResume({ maxSteps: 3 }, 3, { epoch: 0, batchInEpoch: 3 });
});

test('stopped in the middle of the second epoch and resumed: the same losses and weights, bit for bit', async () => {
  await stopAndResume({ maxSteps: BATCHES_PER_EPOCH + 3, lossEvery: 4 }, BATCHES_PER_EPOCH + 3, { epoch: 1, batchInEpoch: 3 });
});

test('stopped exactly at an epoch boundary: the epoch counts as done, and resuming continues exactly', async () => {
  const { first } = await stopAndResume({ maxSteps: BATCHES_PER_EPOCH }, BATCHES_PER_EPOCH, { epoch: 1, batchInEpoch: 0 });
  assert.equal(first.epochsEnded, [0]);
});

test('maxSteps equal to the whole run is not an interruption', async () => {
  const run = await train({ checkpointPath: freshPath(), maxSteps: TOTAL_STEPS });
  assert.is(run.result.interrupted, false);
  assert.equal(run.result.progress, { epoch: 2, step: TOTAL_STEPS, batchInEpoch: 0, seed: SEED });
  assert.equal(run.epochsEnded, [0, 1]);
});

test('Ctrl-C (SIGINT) stops after the current step, saves, removes its handler, and the run resumes exactly', async () => {
  const listenersBefore = process.listenerCount('SIGINT');
  const { first } = await stopAndResume(
    {
      afterStep: (step) => {
        if (step === 5) {
          assert.is(process.listenerCount('SIGINT'), listenersBefore + 1, 'the trainer installed no SIGINT handler');
          process.emit('SIGINT');
        }
      },
    },
    6,
    { epoch: 0, batchInEpoch: 6 },
  );
  assert.is(process.listenerCount('SIGINT'), listenersBefore, 'the SIGINT handler was left installed');
  assert.ok(first.logs.some((l) => l.includes('stopping after this step')), first.logs.join('\n'));
  assert.ok(first.logs.some((l) => l.includes('--resume')), first.logs.join('\n'));
});

test('Ctrl-C during the last step of an epoch finishes that epoch and stops there', async () => {
  const listenersBefore = process.listenerCount('SIGINT');
  await stopAndResume(
    {
      afterStep: (step) => {
        if (step === BATCHES_PER_EPOCH - 1) process.emit('SIGINT');
      },
    },
    BATCHES_PER_EPOCH,
    { epoch: 1, batchInEpoch: 0 },
  );
  assert.is(process.listenerCount('SIGINT'), listenersBefore);
});

test('Ctrl-C while the epoch-end pictures are drawn stops before the next epoch', async () => {
  const path = freshPath();
  const run = await train({ checkpointPath: path, onEpochEnd: () => void process.emit('SIGINT') });
  assert.is(run.result.interrupted, true);
  assert.equal(run.stepsSeen, range(0, BATCHES_PER_EPOCH));
  assert.equal(readCheckpointInfo(path, 'noisy-mlp').progress, { epoch: 1, step: BATCHES_PER_EPOCH, batchInEpoch: 0, seed: SEED });
});

test('a failing step still removes the SIGINT handler and frees the pending losses', async () => {
  const listenersBefore = process.listenerCount('SIGINT');
  const liveBefore = memory().liveTensors;
  try {
    await train({
      checkpointPath: freshPath(),
      afterStep: (step) => {
        if (step === 2) throw new Error('boom');
      },
    });
    assert.unreachable('the error was swallowed');
  } catch (e) {
    assert.is((e as Error).message, 'boom');
  }
  assert.is(process.listenerCount('SIGINT'), listenersBefore);
  assert.is(memory().liveTensors, liveBefore, 'tensors leaked');
});

test('resume refuses a missing explicit checkpoint and a mid-epoch checkpoint made with another batch size or other images', async () => {
  const missing = join(dir, 'nope.safetensors');
  try {
    await train({ checkpointPath: freshPath(), resume: missing });
    assert.unreachable('resumed from nothing');
  } catch (e) {
    assert.ok((e as Error).message.includes(missing), (e as Error).message);
  }
  const path = freshPath();
  await train({ checkpointPath: path, maxSteps: 3 });
  try {
    await train({ checkpointPath: path, resume: true, batchSize: 32 });
    assert.unreachable('resumed mid-epoch with another batch size');
  } catch (e) {
    const message = (e as Error).message;
    assert.ok(message.includes('batch size') && message.includes('64') && message.includes('32'), message);
  }
  // As many images, but other ones (the first of each digit, not the first of the file).
  assert.is(data.selection, `MNIST train: the first ${LIMIT}`);
  const balanced = loadMnistGpu('train', { limit: LIMIT, balanced: true });
  try {
    assert.is(balanced.count, data.count);
    assert.is(balanced.selection, `MNIST train: the first ${LIMIT / 10} of each digit`);
    await train({ checkpointPath: path, resume: true, data: balanced });
    assert.unreachable('resumed mid-epoch on other images');
  } catch (e) {
    const message = (e as Error).message;
    assert.ok(message.includes(`"MNIST train: the first ${LIMIT}", now "MNIST train: the first ${LIMIT / 10} of each digit"`), message);
  } finally {
    balanced.dispose();
  }
});

test('a NaN loss stops the run at once, names the step and the loss, and keeps the last good checkpoint', async () => {
  const listenersBefore = process.listenerCount('SIGINT');
  const liveBefore = memory().liveTensors;
  const path = freshPath();
  // Poisoned from the 4th step of epoch 2: epoch 1's checkpoint is the last good one.
  const poisonFrom = BATCHES_PER_EPOCH + 3;
  let stepsSeen: number[] = [];
  try {
    await train({ checkpointPath: path, poisonFrom, lossEvery: 5, afterStep: (step) => void stepsSeen.push(step) });
    assert.unreachable('a NaN loss went unnoticed');
  } catch (e) {
    assert.instance(e, DivergedError, String(e));
    const d = e as DivergedError;
    assert.is(d.step, poisonFrom + 1, 'the step, counted from 1');
    // The first non-finite value read back: that step's noise mean (its loss was still finite,
    // since ReLU maps NaN to 0 here; the NaN weights show in the next step's loss).
    assert.is(d.lossName, 'noiseMean');
    assert.ok(Number.isNaN(d.value));
    for (const fragment of [`step ${poisonFrom + 1}`, 'NaN', path, 'is kept', '--lr']) assert.ok(d.message.includes(fragment), `message lacks "${fragment}": ${d.message}`);
  }
  // Noticed at the first read-back after the poison (every 5 steps), not at the epoch's end.
  assert.ok(stepsSeen.length < 2 * BATCHES_PER_EPOCH, `trained on to step ${stepsSeen.length}`);
  const info = readCheckpointInfo(path, 'noisy-mlp');
  assert.equal(info.progress, { epoch: 1, step: BATCHES_PER_EPOCH, batchInEpoch: 0, seed: SEED });
  assert.is(process.listenerCount('SIGINT'), listenersBefore);
  assert.is(memory().liveTensors, liveBefore, 'tensors leaked');
  // Poisoned in the first epoch: nothing is written at all.
  stepsSeen = [];
  const early = freshPath();
  try {
    await train({ checkpointPath: early, poisonFrom: 1 });
    assert.unreachable('a NaN loss went unnoticed');
  } catch (e) {
    assert.match((e as Error).message, /step 2 .*no checkpoint was written/);
  }
  assert.not.ok(existsSync(early));
});

test('a second Ctrl-C waits for the save; only a third quits at once', async () => {
  const path = freshPath();
  const exit = process.exit;
  let exited: number | undefined;
  process.exit = ((code?: number) => {
    exited = code;
  }) as typeof process.exit;
  try {
    const run = await train({
      checkpointPath: path,
      afterStep: (step) => {
        if (step === 2) {
          process.emit('SIGINT');
          process.emit('SIGINT');
        }
      },
    });
    assert.is(exited, undefined, 'the second Ctrl-C quit');
    assert.is(run.result.interrupted, true);
    assert.equal(readCheckpointInfo(path, 'noisy-mlp').progress.step, 3);
    assert.ok(run.logs.some((l) => l.includes('still saving')), run.logs.join('\n'));
    await train({
      checkpointPath: freshPath(),
      afterStep: (step) => {
        if (step === 1) for (let i = 0; i < 3; i++) process.emit('SIGINT');
      },
    });
    assert.is(exited, 130, 'the third Ctrl-C did not quit');
  } finally {
    process.exit = exit;
  }
});

test.run();