import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32 } from './helpers.ts';
import { tensor, zeros } from '../src/core/creation.ts';
import { Tensor } from '../src/core/tensor.ts';
import { add, sum } from '../src/core/ops.ts';
import { tidy, keep } from '../src/core/scope.ts';
import { memory } from '../src/core/memory.ts';
import { adamReference, sgdReference } from '../src/kernels/optimizers.ts';
import { Dense } from '../src/nn/layers.ts';
import { saveCheckpoint, loadCheckpoint } from '../src/nn/checkpoint-file.ts';
import {
  Adam, SGD, clipGradNorm, clipGradValue, exponentialDecay, cosineDecay, stepDecay, piecewiseConstant, linearWarmup, type LearningRateSchedule,
} from '../src/nn/optim.ts';

test.before(async () => {
  await ready;
});

const SIZES = [1, 3, 7, 33, 65];

/** Parameters of awkward sizes with f32-exact random gradients; returns them and the gradients' float64 copies. */
function paramsWithGrads(seed: number, scale = 1): { params: Tensor[]; grads: Float64Array[] } {
  const params: Tensor[] = [];
  const grads: Float64Array[] = [];
  SIZES.forEach((n, i) => {
    const p = keep(tensor(f32(randomArray([n], seed + i)), [n], { requiresGrad: true }));
    const g = f32(randomArray([n], seed + 100 + i, -scale, scale));
    p.grad = keep(tensor(g, [n]));
    params.push(p);
    grads.push(g);
  });
  return { params, grads };
}

function norm64(grads: Float64Array[]): number {
  let s = 0;
  for (const g of grads) for (const v of g) s += v * v;
  return Math.sqrt(s);
}

function disposeAll(params: Tensor[]): void {
  for (const p of params) {
    p.grad?.dispose();
    p.dispose();
  }
}

test('schedules follow the Keras (and PyTorch StepLR) formulas', () => {
  const exp = exponentialDecay({ initialLr: 0.1, decaySteps: 10, decayRate: 0.5 });
  assertClose([exp(0), exp(5), exp(10), exp(25)], [0.1, 0.1 * Math.SQRT1_2, 0.05, 0.1 * 0.5 ** 2.5], 'exponentialDecay', 1e-12, 0);
  const stairs = exponentialDecay({ initialLr: 0.1, decaySteps: 10, decayRate: 0.5, staircase: true });
  assert.equal([stairs(0), stairs(9), stairs(10), stairs(29)], [0.1, 0.1, 0.05, 0.025]);
  const cos = cosineDecay({ initialLr: 1, decaySteps: 4, alpha: 0.1 });
  // ½(1 + cos(π·k/4)) for k = 0, 2, 4, then flat: 1, ½, 0 → 0.1 + 0.9·that.
  assertClose([cos(0), cos(1), cos(2), cos(4), cos(100)], [1, 0.1 + 0.9 * (0.5 + Math.SQRT1_2 / 2), 0.55, 0.1, 0.1], 'cosineDecay', 1e-12, 1e-15);
  const steps = stepDecay({ initialLr: 1, stepSize: 3, gamma: 0.5 });
  assert.equal([0, 1, 2, 3, 4, 5, 6].map(steps), [1, 1, 1, 0.5, 0.5, 0.5, 0.25]);
  const pieces = piecewiseConstant([2, 5], [1, 0.5, 0.1]);
  assert.equal([0, 1, 2, 3, 5, 6, 1000].map(pieces), [1, 1, 1, 0.5, 0.5, 0.1, 0.1]);
  assert.throws(() => piecewiseConstant([5, 2], [1, 2, 3]), /boundaries must be finite and increasing/);
  assert.throws(() => piecewiseConstant([5], [1]), /one value more than boundaries/);
  assert.throws(() => stepDecay({ initialLr: 1, stepSize: 0.5 }), /stepSize must be a positive integer, got 0\.5/);
  assert.throws(() => cosineDecay({ initialLr: 1, decaySteps: 10, alpha: 2 }), /alpha must be in \[0, 1\]/);
  // PyTorch LinearLR (end_factor 1): the factor goes from startFactor (default 1/3) to 1 in warmupSteps.
  const warm = linearWarmup({ lr: 0.3, warmupSteps: 3 });
  assertClose([0, 1, 2, 3, 4, 100].map(warm), [0.1, 0.1 + 0.2 / 3, 0.1 + 0.4 / 3, 0.3, 0.3, 0.3], 'linearWarmup', 1e-15, 0);
  // Over a schedule: the factor scales the schedule's own rate at the same step.
  const warmCos = linearWarmup({ lr: cos, warmupSteps: 2, startFactor: 0 });
  assertClose([0, 1, 2, 3, 4].map(warmCos), [0, 0.5 * cos(1), cos(2), cos(3), cos(4)], 'linearWarmup over cosineDecay', 1e-15, 0);
  assert.throws(() => linearWarmup({ lr: 1, warmupSteps: 0 }), /warmupSteps must be a positive integer, got 0/);
  assert.throws(() => linearWarmup({ lr: 1, warmupSteps: 3, startFactor: 1.5 }), /startFactor must be in \[0, 1\]/);
  assert.throws(() => linearWarmup({ lr: -1, warmupSteps: 3 }), /lr must be a positive number/);
  assert.throws(() => linearWarmup({ lr: 1, warmup_steps: 3 } as never), /warmup_steps/);
});

test('the learning rate used at step k is the schedule\'s (SGD and Adam against float64), and opt.lr tells it', async () => {
  const schedule: LearningRateSchedule = (step) => 0.1 / (step + 1);
  const n = 33;
  const p0 = f32(randomArray([n], 1));
  const sgdParam = tensor(p0, [n], { requiresGrad: true });
  const adamParam = tensor(p0, [n], { requiresGrad: true });
  const sgd = new SGD([sgdParam], { lr: schedule });
  const adam = new Adam([adamParam], { lr: schedule });
  const refSgd = Float64Array.from(p0);
  const refAdam = Float64Array.from(p0);
  const m = new Float64Array(n);
  const v = new Float64Array(n);
  for (let k = 0; k < 4; k++) {
    assert.is(sgd.lr, schedule(k), `opt.lr before step ${k}`);
    const g = f32(randomArray([n], 10 + k, -2, 2));
    for (const p of [sgdParam, adamParam]) {
      p.grad?.dispose();
      p.grad = keep(tensor(g, [n]));
    }
    sgd.step();
    adam.step();
    sgdReference(refSgd, g, null, { lr: schedule(k), momentum: 0, weightDecay: 0, nesterov: false });
    adamReference(refAdam, g, m, v, { lr: schedule(k), beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, k + 1);
    assertClose(await sgdParam.toArray(), refSgd, `SGD after step ${k}`, 1e-5, 1e-6);
    assertClose(await adamParam.toArray(), refAdam, `Adam after step ${k}`, 1e-5, 1e-6);
  }
  // The schedule is not saved (it is code) but the step is: rebuilt with it, an optimizer resumes on the curve.
  const saved = adam.stateDict();
  assert.is(saved.hyper.lr, schedule(4));
  const resumed = new Adam([adamParam], { lr: schedule });
  resumed.loadStateDict(saved);
  assert.is(resumed.lr, schedule(4));
  assert.is(resumed.schedule, schedule);
  // A number replaces the schedule.
  resumed.lr = 0.5;
  assert.is(resumed.schedule, null);
  assert.is(resumed.lr, 0.5);
  // A schedule that gives nonsense stops the step before anything changes.
  const bad = new SGD([sgdParam], { lr: (step) => (step < 1 ? 0.1 : NaN) });
  bad.step();
  assert.throws(() => bad.step(), /SGD: the learning-rate schedule gave NaN at step 1/);
  assert.is(bad.stepCount, 1);
  assert.throws(() => new SGD([sgdParam], { lr: () => -1 }), /schedule gave -1 at step 0/);
  for (const o of [sgd, adam, resumed, bad]) o.dispose();
  for (const p of [sgdParam, adamParam]) {
    p.grad?.dispose();
    p.dispose();
  }
});

test('clipGradNorm scales all gradients to the global norm (float64 check), returns the norm, leaks nothing', async () => {
  const { params, grads } = paramsWithGrads(3);
  const norm = norm64(grads);
  const maxNorm = norm / 3;
  const live = memory().liveTensors;
  const returned = clipGradNorm(params, maxNorm);
  assert.equal([...returned.shape], []);
  assertClose([await returned.item()], [norm], 'returned norm', 1e-5, 0);
  returned.dispose();
  assert.is(memory().liveTensors, live, 'clipGradNorm leaked tensors');
  const clipped: Float64Array[] = [];
  for (let i = 0; i < params.length; i++) {
    const got = Float64Array.from(await params[i].grad!.toArray());
    assertClose(got, grads[i].map((g) => (g * maxNorm) / norm), `clipped grad ${i}`, 1e-5, 1e-7);
    clipped.push(got);
  }
  assert.ok(norm64(clipped) <= maxNorm * (1 + 1e-5), `norm after clipping ${norm64(clipped)} > ${maxNorm}`);

  // Under the limit: every gradient stays exactly as it was.
  const small = paramsWithGrads(4, 0.01);
  const n = clipGradNorm(small.params, norm64(small.grads) * 1.0001);
  for (let i = 0; i < small.params.length; i++) assert.equal([...(await small.params[i].grad!.toArray())], [...small.grads[i]], `grad ${i} changed`);
  n.dispose();
  // Within tidy, the norm is freed like any op's result.
  const before = memory().liveTensors;
  tidy(() => void clipGradNorm(small.params, 1));
  assert.is(memory().liveTensors, before);
  assert.throws(() => clipGradNorm(small.params, 0), /maxNorm must be a positive finite number, got 0/);
  disposeAll(params);
  disposeAll(small.params);
});

test('clipGradNorm scales gradients that share storage once each', async () => {
  // d(sum(a + b))/da and /db are views of one buffer: an in-place write would scale it twice.
  const a = tensor([1, 2, 3], [3], { requiresGrad: true });
  const b = tensor([4, 5, 6], [3], { requiresGrad: true });
  tidy(() => sum(add(a, b)).backward());
  const norm = clipGradNorm([a, b], 1);
  assertClose([await norm.item()], [Math.sqrt(6)], 'norm of six ones');
  for (const t of [a, b]) assertClose(await t.grad!.toArray(), [1, 1, 1].map(() => 1 / Math.sqrt(6)), 'shared gradient', 1e-6, 1e-7);
  norm.dispose();
  disposeAll([a, b]);
});

test('clipGradValue clamps each element and leaves the others exactly', async () => {
  const { params, grads } = paramsWithGrads(5, 2);
  clipGradValue(params, 0.5);
  for (let i = 0; i < params.length; i++) {
    assert.equal([...(await params[i].grad!.toArray())], [...grads[i].map((g) => Math.min(0.5, Math.max(-0.5, g)))], `grad ${i}`);
  }
  disposeAll(params);
});

test('optimizer clipping options (Keras clipNorm, globalClipNorm, clipValue): the update uses clipped gradients, p.grad stays', async () => {
  const lr = 0.5;
  const cases: [string, number, (grads: Float64Array[]) => Float64Array[]][] = [
    ['globalClipNorm', 0.8, (gs) => gs.map((g) => g.map((x) => x * Math.min(1, 0.8 / norm64(gs))))],
    ['clipNorm', 0.8, (gs) => gs.map((g) => g.map((x) => x * Math.min(1, 0.8 / norm64([g]))))],
    ['clipValue', 0.3, (gs) => gs.map((g) => g.map((x) => Math.min(0.3, Math.max(-0.3, x))))],
  ];
  for (const [kind, value, clip] of cases) {
    const { params, grads } = paramsWithGrads(7);
    const start = await Promise.all(params.map((p) => p.toArray()));
    const opt = new SGD(params, { lr, [kind]: value });
    assert.equal(opt.clipping, { kind, value });
    assert.is(opt.hyper()[kind], value);
    const live = memory().liveTensors;
    opt.step();
    assert.is(memory().liveTensors, live, `${kind}: step leaked tensors`);
    const expected = clip(grads);
    // Sanity: the case really clips some gradients and not others (clipNorm: the size-1 one stays).
    assert.ok(expected.some((g, i) => g.some((x, j) => x !== grads[i][j])), `${kind} clipped nothing`);
    for (let i = 0; i < params.length; i++) {
      assertClose(await params[i].toArray(), Float64Array.from(start[i]).map((p, j) => p - lr * expected[i][j]), `${kind} param ${i}`, 1e-5, 1e-6);
      assert.equal([...(await params[i].grad!.toArray())], [...grads[i]], `${kind}: p.grad ${i} changed`);
    }
    // Saved and restored with the other hyper-parameters; a state without it turns clipping off.
    const other = new SGD(params, { lr });
    other.loadStateDict(opt.stateDict());
    assert.equal(other.clipping, { kind, value });
    opt.loadStateDict(new SGD(params, { lr }).stateDict());
    assert.is(opt.clipping, null);
    opt.dispose();
    other.dispose();
    disposeAll(params);
  }
  const p = zeros([2]);
  assert.throws(() => new Adam([p], { clipNorm: 1, clipValue: 1 }), /at most one of clipNorm, globalClipNorm and clipValue \(as Keras\), got clipNorm and clipValue/);
  assert.throws(() => new Adam([p], { globalClipNorm: -1 }), /globalClipNorm must be a positive finite number, got -1/);
  p.dispose();
});

test('a checkpoint carries the clipping and the step; the same schedule, given again, resumes on its curve', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'optim-test-'));
  const path = join(dir, 'checkpoint.safetensors');
  const schedule = stepDecay({ initialLr: 0.1, stepSize: 2, gamma: 0.5 });
  const model = new Dense({ inFeatures: 3, units: 2, seed: 1 });
  const opt = new Adam(model, { lr: schedule, clipNorm: 0.25 });
  for (let k = 0; k < 3; k++) {
    opt.zeroGrad();
    tidy(() => sum(model.forward(tensor([1, 2, 3, 4, 5, 6], [2, 3]))).backward());
    opt.step();
  }
  const progress = { epoch: 0, step: 3, batchInEpoch: 3, seed: 0 };
  await saveCheckpoint(path, { model: 'optim-test', config: {}, modules: { model }, optimizers: { opt }, progress });
  const again = new Adam(model, { lr: schedule });
  await loadCheckpoint(path, { model: 'optim-test', modules: { model }, optimizers: { opt: again } });
  assert.is(again.stepCount, 3);
  assert.is(again.lr, 0.05, 'the schedule at the restored step');
  assert.equal(again.clipping, { kind: 'clipNorm', value: 0.25 });
  for (const o of [opt, again]) o.dispose();
  model.zeroGrad();
  model.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
