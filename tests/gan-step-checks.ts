// One training step of the DCGAN or the conditional GAN at width 1/32 against a float64 computation
// of the same step on the host (tests/gan-reference.ts), shared by tests/gan-step.test.ts (Dawn)
// and the Deno part on wgpu (tests/deno/wgpu.ts). GAN_STEP_VERBOSE=1 prints the losses.

import * as assert from 'uvu/assert';
import { randomArray, f32 } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import type { Tensor } from '../src/core/tensor.ts';
import { memory } from '../src/core/memory.ts';
import type { Batch } from '../src/data/batches.ts';
import { Gan } from '../src/models/gan.ts';
import type { Adam } from '../src/nn/optim.ts';
import { adamReference, type AdamHyper } from '../src/kernels/optimizers.ts';
import { cganStepReference, dcganStepReference, type GanDims, type GanState, type Named, type StepResult, type StepSettings } from './gan-reference.ts';

const BATCH = 4;
const NOISE = 100;
const CLASSES = 10;
export const WIDTH = 1 / 32; // generator 8/4/2 channels, discriminator 2/4
const LR = 2e-3; // not Adam's default 1e-3, so a learning rate that fails to arrive shows
const BETA1 = 0.5;
/** Keras's Adam defaults, which Gan keeps (only lr and β1 are configurable). */
const ADAM: AdamHyper = { lr: LR, beta1: BETA1, beta2: 0.999, epsilon: 1e-7 };

// ---------------------------------------------------------------------------------------------
// Tolerances (f32 on the GPU against float64 here, both fed the same f32 inputs and weights).
//
// Losses: a handful of 196-term dot products through log/exp; f32 rounding of the inputs and of
// every intermediate is ~1e-7 relative, and the generator's images pass through three
// BatchNorms over 4-row batches (bn0) whose 1/√(var + ε) amplifies it a little: 1e-4 is
// generous and still far from any semantic change (a flipped target moves a loss by O(1)).
const LOSS_RTOL = 1e-4;
// Gradients: long sums (up to 4·28·28·5·5 products per kernel element) of terms of both signs,
// so the f32 error is relative to the sum of |terms|, not to the result: an element far below
// its tensor's scale can carry a large relative error. Hence rtol 1e-3 on the element plus an
// absolute 1e-4 × the tensor's largest |gradient|. A leaked gradient, a wrong sign or a wrong
// BatchNorm backward moves many elements by O(their scale), orders of magnitude above this.
const GRAD_RTOL = 1e-3;
const GRAD_ATOL_OF_MAX = 1e-4;
// Moving statistics: means of ≤ 784 values per channel, mixed 0.99/0.01 into 0 and 1; f32 holds
// them to ~1e-7 relative; 1e-5 relative plus 1e-8 absolute (a moving mean of 0.01·mean ~ 1e-3)
// still rejects a wrong momentum, an unbiased variance, or a missing/extra update (≥ 1e-4 off).
const STAT_RTOL = 1e-5;
const STAT_ATOL = 1e-8;

const DIMS = (conditional: boolean): GanDims => ({ batch: BATCH, noiseDim: NOISE, numClasses: CLASSES, conditional, g: [8, 4, 2], d: [2, 4] });

/** The parameter shapes the reference assumes, as the model must have them at width 1/32. */
function expectedShapes(dims: GanDims): { g: Record<string, number[]>; d: Record<string, number[]> } {
  const [c0, c1, c2] = dims.g;
  const [d1, d2] = dims.d;
  const extra = dims.conditional ? dims.numClasses : 0;
  return {
    g: {
      'dense.kernel': [dims.noiseDim + extra, 7 * 7 * c0],
      'bn0.gamma': [7 * 7 * c0], 'bn0.beta': [7 * 7 * c0],
      'deconv1.kernel': [5, 5, c1, c0],
      'bn1.gamma': [c1], 'bn1.beta': [c1],
      'deconv2.kernel': [5, 5, c2, c1],
      'bn2.gamma': [c2], 'bn2.beta': [c2],
      'deconv3.kernel': [5, 5, 1, c2],
    },
    d: {
      'conv1.kernel': [5, 5, 1 + extra, d1], 'conv1.bias': [d1],
      'conv2.kernel': [5, 5, d1, d2], 'conv2.bias': [d2],
      'dense.kernel': [7 * 7 * d2, 1], 'dense.bias': [1],
    },
  };
}

async function read(pairs: readonly (readonly [string, Tensor])[]): Promise<Named> {
  const out: Named = new Map();
  for (const [name, t] of pairs) out.set(name, Float64Array.from(await t.toArray()));
  return out;
}

/** The gradient each parameter holds (they stay until the next step's zeroGrad). */
async function readGrads(what: string, pairs: readonly (readonly [string, Tensor])[]): Promise<Named> {
  const missing = pairs.filter(([, p]) => !p.grad).map(([n]) => n);
  assert.equal(missing, [], `${what}: parameters without a gradient after the step: ${missing.join(', ')}`);
  return read(pairs.map(([n, p]) => [n, p.grad!] as const));
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

/** Per-element tolerance of a gradient: GRAD_RTOL·|g| + GRAD_ATOL_OF_MAX·max|g| (see above). */
function gradTolerance(ref: Float64Array): Float64Array {
  const floor = GRAD_ATOL_OF_MAX * maxAbs(ref);
  return ref.map((g) => GRAD_RTOL * Math.abs(g) + floor);
}

/** Worst |actual − expected| / tolerance over the tensor (≤ 1 passes); reported on failure. */
function assertWithin(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: ArrayLike<number>): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const r = Math.abs(actual[i] - expected[i]) / tol[i];
    if (!(r <= worst)) {
      worst = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  if (process.env.GAN_STEP_VERBOSE) console.log(`  ${what}: worst error ${worst.toFixed(3)} of its tolerance`);
  if (worst > 1) assert.unreachable(`${what}: element ${at} is ${actual[at]}, expected ${expected[at]} ± ${tol[at]}`);
}

function compareGrads(what: string, gpu: Named, ref: Named): void {
  assert.equal([...gpu.keys()].sort(), [...ref.keys()].sort(), `${what}: gradient names`);
  for (const [name, r] of ref) assertWithin(`${what} gradient ${name}`, gpu.get(name)!, r, gradTolerance(r));
}

/**
 * Weights after the first Adam step. That step moves each weight by lr·g/(|g| + ε/√(1 − β2)):
 * about lr·sign(g) unless |g| ≲ 3e-6, so it is monotone in g and nearly flat. The GPU weight must
 * lie between the float64 updates from g_ref − tol and g_ref + tol (tol: the gradient tolerance
 * above), widened by f32 rounding of the weight (a few ulp: 1e-6·|w|) and of the step (1e-4·lr).
 * A gradient of the wrong sign moves the weight by 2·lr, far outside.
 */
function compareWeights(what: string, gpu: Named, before: Named, gradsRef: Named, ref: Named): void {
  assert.equal([...gpu.keys()].sort(), [...ref.keys()].sort(), `${what}: parameter names`);
  for (const [name, expected] of ref) {
    const g = gradsRef.get(name)!;
    const tol = gradTolerance(g);
    const low = Float64Array.from(before.get(name)!);
    const high = Float64Array.from(low);
    const n = low.length;
    adamReference(low, g.map((v, i) => v + tol[i]), new Float64Array(n), new Float64Array(n), ADAM, 1);
    adamReference(high, g.map((v, i) => v - tol[i]), new Float64Array(n), new Float64Array(n), ADAM, 1);
    const actual = gpu.get(name)!;
    const bound = expected.map((w, i) => Math.max(w - low[i], high[i] - w) + 1e-6 * Math.abs(w) + 1e-4 * LR);
    assertWithin(`${what} weight ${name}`, actual, expected, bound);
    // The step happened at all (a missing update stays inside no bound: |Δw| ≈ lr ≫ the slack).
    assert.ok(actual.some((w, i) => w !== Math.fround(before.get(name)![i])), `${what} weight ${name}: not updated`);
  }
}

/**
 * Adam's moments after its first step: m = (1 − β1)·g and v = (1 − β2)·g² (the weights alone
 * cannot show β1: the first step is lr·g/(|g| + ε/√(1 − β2)) whatever β1 is). Bounds follow
 * from the gradient tolerance tol: (1 − β1)·tol and (1 − β2)·(2|g| + tol)·tol, plus f32 rounding.
 */
interface AdamState {
  steps: number;
  m: Named;
  v: Named;
}

async function readAdamState(opt: Adam, names: readonly string[]): Promise<AdamState> {
  const state = opt.stateDict();
  const slot = async (s: 'm' | 'v') => read(names.map((n) => {
    const t = state.tensors.get(`${n}.${s}`);
    if (!t) throw new Error(`no Adam state ${n}.${s}`);
    return [n, t] as const;
  }));
  return { steps: state.step, m: await slot('m'), v: await slot('v') };
}

function compareAdamState(what: string, state: AdamState, gradsRef: Named): void {
  assert.is(state.steps, 1, `${what}: optimizer steps`);
  const b1 = 1 - ADAM.beta1;
  const b2 = 1 - ADAM.beta2;
  for (const [name, g] of gradsRef) {
    const tol = gradTolerance(g);
    assertWithin(`${what} Adam m of ${name}`, state.m.get(name)!, g.map((x) => b1 * x), g.map((x, i) => b1 * tol[i] + 1e-6 * b1 * Math.abs(x)));
    assertWithin(`${what} Adam v of ${name}`, state.v.get(name)!, g.map((x) => b2 * x * x), g.map((x, i) => b2 * (2 * Math.abs(x) + tol[i]) * tol[i] + 1e-6 * b2 * x * x));
  }
}

function compareStatistics(gpu: Named, ref: Named): void {
  assert.equal([...gpu.keys()].sort(), [...ref.keys()].sort(), 'generator buffer names');
  for (const [name, r] of ref) assertWithin(`generator ${name}`, gpu.get(name)!, r, r.map((v) => STAT_RTOL * Math.abs(v) + STAT_ATOL));
}

function assertShapes(what: string, pairs: readonly (readonly [string, Tensor])[], expected: Record<string, number[]>): void {
  assert.equal(Object.fromEntries(pairs.map(([n, t]) => [n, [...t.shape]])), expected, `${what}: parameter shapes`);
}

/** What one trainStep of the GPU model did, read back to the host. */
interface Observed {
  init: GanState;
  settings: StepSettings;
  images: Float64Array;
  labels: number[];
  dLoss: number;
  gLoss: number;
  gGrads: Named;
  dGrads: Named;
  after: GanState;
  gAdam: AdamState;
  dAdam: AdamState;
}

/** Builds a fresh width-1/32 model, reads its initial state, runs trainStep once, reads everything, frees it all. */
async function observeStep(dims: GanDims, seed: number, step: number, matchingAware: boolean): Promise<Observed> {
  const gan = new Gan({ width: WIDTH, seed, lr: LR, beta1: BETA1, conditional: dims.conditional, matchingAware });
  // Images in [−1, 1] (seeded, f32) and their digits.
  const images = f32(randomArray([dims.batch, 28, 28, 1], 1000 + seed, -1, 1));
  const labels = [3, 7, 0, 9, 4, 1].slice(0, dims.batch);
  const batch: Batch = { x: tensor(images, [dims.batch, 28, 28, 1]), y: Gan.digits(labels), labels: Int32Array.from(labels), index: 0, size: dims.batch };
  try {
    const gNamed = gan.generator.namedParameters();
    const dNamed = gan.discriminator.namedParameters();
    const shapes = expectedShapes(dims);
    assertShapes('generator', gNamed, shapes.g);
    assertShapes('discriminator', dNamed, shapes.d);
    const init: GanState = { g: await read(gNamed), d: await read(dNamed), gBuffers: await read(gan.generator.namedBuffers()) };
    const settings: StepSettings = {
      seed, step, adam: ADAM, bnMomentum: 0.99, bnEpsilon: 1e-3, leakyAlpha: 0.3, dropoutRate: 0.3,
      dropoutSeeds: [gan.discriminator.drop1.seed, gan.discriminator.drop2.seed], matchingAware,
    };

    const losses = gan.trainStep(batch, step);
    const [dLoss, gLoss] = await Promise.all(losses.map((t) => t.item()));
    losses.forEach((t) => t.dispose());
    return {
      init, settings, images, labels, dLoss, gLoss,
      gGrads: await readGrads('generator', gNamed),
      dGrads: await readGrads('discriminator', dNamed),
      after: { g: await read(gNamed), d: await read(dNamed), gBuffers: await read(gan.generator.namedBuffers()) },
      gAdam: await readAdamState(gan.gOptimizer, gNamed.map(([n]) => n)),
      dAdam: await readAdamState(gan.dOptimizer, dNamed.map(([n]) => n)),
    };
  } finally {
    batch.x.dispose();
    batch.y.dispose();
    gan.dispose();
  }
}

/** One trainStep of the GPU model (a fresh width-1/32 DCGAN, or cGAN) against the float64 reference of the same step. */
export async function checkOneStep(conditional: boolean, seed: number, step: number, matchingAware = false): Promise<void> {
  const liveBefore = memory().liveTensors;
  const dims = DIMS(conditional);
  const gpu = await observeStep(dims, seed, step, matchingAware);
  assert.is(memory().liveTensors, liveBefore, 'tensors left alive after the step and disposal');

  const ref: StepResult = conditional
    ? cganStepReference(gpu.init, gpu.images, gpu.labels, dims, gpu.settings)
    : dcganStepReference(gpu.init, gpu.images, dims, gpu.settings);
  const name = conditional ? (matchingAware ? 'matching-aware cGAN' : 'cGAN') : 'DCGAN';
  if (process.env.GAN_STEP_VERBOSE) console.log(`${name}: losses D ${gpu.dLoss} (ref ${ref.dLoss}), G ${gpu.gLoss} (ref ${ref.gLoss})`);
  assertWithin(`${name} discriminator loss`, [gpu.dLoss], [ref.dLoss], [LOSS_RTOL * Math.abs(ref.dLoss)]);
  assertWithin(`${name} generator loss`, [gpu.gLoss], [ref.gLoss], [LOSS_RTOL * Math.abs(ref.gLoss)]);
  compareGrads(`${name} generator`, gpu.gGrads, ref.gGrads);
  compareGrads(`${name} discriminator`, gpu.dGrads, ref.dGrads);
  compareWeights(`${name} generator`, gpu.after.g, gpu.init.g, ref.gGrads, ref.after.g);
  compareWeights(`${name} discriminator`, gpu.after.d, gpu.init.d, ref.dGrads, ref.after.d);
  compareAdamState(`${name} generator`, gpu.gAdam, ref.gGrads);
  compareAdamState(`${name} discriminator`, gpu.dAdam, ref.dGrads);
  compareStatistics(gpu.after.gBuffers, ref.after.gBuffers);
}

