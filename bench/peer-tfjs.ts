// TensorFlow.js's WebGPU backend as the bench's peer (--peer tfjs), on the same Dawn adapter.
//
// Getting it to run in Node:
//  - tfjs-backend-webgpu asks `navigator.gpu` for an adapter: we give it one from the `webgpu`
//    package (its own Dawn instance, the same adapter ours opens), plus Dawn's GPU* globals.
//  - tfjs-core's Node build ships no gradients (`tf.grad` then fails: "gradient function not
//    found for Conv2D"), and its ES-module build, which registers them, uses extension-less and
//    directory imports that Node's ESM loader refuses. So the first run bundles tfjs-core's ES
//    modules, register_all_gradients and the WebGPU backend into one CommonJS file with esbuild
//    (a dependency of tsx), cached under node_modules/.cache/bench-tfjs/.
// Nothing in src/ imports this: TensorFlow.js is a dev dependency, for comparison only.
//
// Timing methodology, the same for both sides (see harness.ts): record N repetitions, submit,
// await the queue's onSubmittedWorkDone(), wall clock around all of it. Backward rows call the
// kernels tfjs's own gradients call (Conv2DBackpropInput, Conv2DBackpropFilter, conv2d), so each
// row compares one operation with one operation; batchNorm fwd+bwd goes through tf.grads.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';
import type * as TfCore from '@tensorflow/tfjs-core';
import type { PeerInstance, PeerRunner } from './harness.ts';
import { convOutSize, convTransposeOutSize, type PeerGanStep, type PeerOp, type PeerTrainStep } from './peer-ops.ts';
import { uniformData } from './case-kit.ts';

type Tf = typeof TfCore;
type T = TfCore.Tensor;

/** The parts of tfjs's WebGPU backend the timing needs. */
interface WebGpuBackend {
  device: GPUDevice;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function packageVersion(name: string): string {
  const file = require.resolve(`${name}/package.json`, { paths: [root] });
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

async function bundle(): Promise<string> {
  const core = packageVersion('@tensorflow/tfjs-core');
  const backend = packageVersion('@tensorflow/tfjs-backend-webgpu');
  const out = path.join(root, 'node_modules', '.cache', 'bench-tfjs', `tfjs-webgpu-${core}-${backend}.cjs`);
  if (fs.existsSync(out)) return out;
  const { build } = await import('esbuild');
  await build({
    stdin: {
      contents: [
        "export * from '@tensorflow/tfjs-core';",
        "import '@tensorflow/tfjs-core/dist/register_all_gradients';",
        "import '@tensorflow/tfjs-backend-webgpu';",
      ].join('\n'),
      resolveDir: root,
      loader: 'js',
    },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    mainFields: ['module', 'main'],
    outfile: out,
    logLevel: 'error',
  });
  return out;
}

export interface TfjsPeer extends PeerRunner {
  /** Which version, on what. */
  description: string;
  tf: Tf;
  close(): void;
}

/** Loads TensorFlow.js with its WebGPU backend; throws with the reason when it cannot. */
export async function loadTfjsPeer(): Promise<TfjsPeer> {
  let version: string;
  try {
    version = packageVersion('@tensorflow/tfjs-backend-webgpu');
  } catch {
    throw new Error('--peer tfjs needs @tensorflow/tfjs-core and @tensorflow/tfjs-backend-webgpu (npm install, dev dependencies)');
  }
  Object.assign(globalThis, globals);
  // Node 20 has no navigator; later versions have one without `gpu`. Dawn keeps the process
  // alive while this instance is referenced, so close() takes it away again.
  const previous = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  const gpu = create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true, writable: true });
  const tf = require(await bundle()) as Tf;
  tf.enableProdMode();
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend on this adapter');
  await tf.ready();
  const backend = tf.backend() as unknown as WebGpuBackend;

  // What tfjs itself does before reading a buffer back: close the open pass, submit.
  const finish = async () => {
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
    await backend.device.queue.onSubmittedWorkDone();
  };

  return {
    name: 'tfjs',
    description: `tfjs ${version}, WebGPU backend, its own device on the same Dawn adapter`,
    tf,
    async prepare(op: PeerOp): Promise<PeerInstance | undefined> {
      const made = makeOp(tf, op);
      if (!made) return undefined;
      const { fn, inputs } = made;
      return {
        record() {
          const out = tf.tidy(fn);
          tf.dispose(out);
        },
        finish,
        dispose() {
          tf.dispose(inputs);
        },
      };
    },
    async prepareTrainStep(step: PeerTrainStep): Promise<PeerInstance | undefined> {
      const training = step.model === 'vae' ? vaeTrainStep(tf, step.batch) : ganTrainStep(tf, step);
      try {
        await training.check();
      } catch (e) {
        training.dispose();
        throw e;
      }
      return { record: training.step, finish, dispose: training.dispose };
    },
    close() {
      tf.disposeVariables();
      tf.engine().reset();
      backend.device.destroy();
      if (previous) Object.defineProperty(globalThis, 'navigator', previous);
      else delete (globalThis as { navigator?: unknown }).navigator;
    },
  };
}

let seed = 100;
function input(tf: Tf, shape: readonly number[]): T {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(uniformData(size, seed++), [...shape]);
}

/** The op as a tfjs thunk over inputs made once. */
function makeOp(tf: Tf, op: PeerOp): { fn: () => T | T[]; inputs: T[] } | undefined {
  switch (op.op) {
    case 'matmul': {
      const a = input(tf, op.a);
      const b = input(tf, op.b);
      const n = op.transB ? op.b[0] : op.b[1];
      if (!op.bias && (op.activation ?? 'linear') === 'linear') {
        return { fn: () => tf.matMul(a, b, op.transA, op.transB), inputs: [a, b] };
      }
      const bias = input(tf, [n]);
      return {
        fn: () => tf.fused.matMul({ a, b, transposeA: op.transA, transposeB: op.transB, bias: op.bias ? bias : undefined, activation: op.activation ?? 'linear' }),
        inputs: [a, b, bias],
      };
    }
    case 'unary': {
      const x = input(tf, op.shape);
      const alpha = op.alpha ?? 0.2;
      const fns = { relu: () => tf.relu(x), leakyRelu: () => tf.leakyRelu(x, alpha), sigmoid: () => tf.sigmoid(x), tanh: () => tf.tanh(x) };
      return { fn: fns[op.fn], inputs: [x] };
    }
    case 'binary': {
      const a = input(tf, op.a);
      const b = input(tf, op.b);
      return { fn: () => (op.fn === 'add' ? tf.add(a, b) : tf.mul(a, b)), inputs: [a, b] };
    }
    case 'sum': {
      const x = input(tf, op.shape);
      return { fn: () => tf.sum(x, op.axes), inputs: [x] };
    }
    case 'conv2d':
    case 'conv2dInputGrad':
    case 'conv2dWeightGrad': {
      const [b, h, w] = op.x;
      const [kh, kw, , outC] = op.w;
      const y = [b, convOutSize(h, kh, op.stride, op.padding), convOutSize(w, kw, op.stride, op.padding), outC];
      const x = input(tf, op.x) as TfCore.Tensor4D;
      const f = input(tf, op.w) as TfCore.Tensor4D;
      const dy = input(tf, y) as TfCore.Tensor4D;
      const fn =
        op.op === 'conv2d'
          ? () => tf.conv2d(x, f, op.stride, op.padding)
          : op.op === 'conv2dInputGrad'
            ? () => tf.conv2dTranspose(dy, f, [b, h, w, op.x[3]], op.stride, op.padding)
            : () => backpropFilter(tf, x, dy, op.w, op.stride, op.padding);
      return { fn, inputs: [x, f, dy] };
    }
    case 'conv2dTranspose':
    case 'conv2dTransposeInputGrad':
    case 'conv2dTransposeWeightGrad': {
      const [b, h, w] = op.x;
      const [kh, kw, outC] = op.w;
      const yShape: [number, number, number, number] = [
        b,
        convTransposeOutSize(h, kh, op.stride, op.padding),
        convTransposeOutSize(w, kw, op.stride, op.padding),
        outC,
      ];
      const x = input(tf, op.x) as TfCore.Tensor4D;
      const f = input(tf, op.w) as TfCore.Tensor4D;
      const dy = input(tf, yShape) as TfCore.Tensor4D;
      // conv2dTranspose is conv2d's input gradient, so its own gradients are conv2d (for x) and
      // the filter gradient with the roles of x and dy swapped (as tfjs's Conv2DBackpropInput_grad).
      const fn =
        op.op === 'conv2dTranspose'
          ? () => tf.conv2dTranspose(x, f, yShape, op.stride, op.padding)
          : op.op === 'conv2dTransposeInputGrad'
            ? () => tf.conv2d(dy, f, op.stride, op.padding)
            : () => backpropFilter(tf, dy, x, op.w, op.stride, op.padding);
      return { fn, inputs: [x, f, dy] };
    }
    case 'batchNorm': {
      const channels = op.shape[op.shape.length - 1];
      const axes = [...Array(op.shape.length - 1).keys()];
      const x = input(tf, op.shape);
      const gamma = input(tf, [channels]);
      const beta = input(tf, [channels]);
      const dy = input(tf, op.shape);
      const forward = (x: T, gamma: T, beta: T) => {
        const { mean, variance } = tf.moments(x, axes);
        return tf.batchNorm(x, mean, variance, beta, gamma, op.epsilon);
      };
      if (!op.backward) return { fn: () => forward(x, gamma, beta), inputs: [x, gamma, beta, dy] };
      const grads = tf.grads((x: T, gamma: T, beta: T) => forward(x, gamma, beta));
      return { fn: () => grads([x, gamma, beta], dy), inputs: [x, gamma, beta, dy] };
    }
  }
}

function backpropFilter(tf: Tf, x: T, dy: T, filterShape: readonly number[], stride: number, padding: 'same' | 'valid'): T {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
    strides: [stride, stride],
    pad: padding,
    dataFormat: 'NHWC',
    filterShape: [...filterShape],
  });
}

/** A model's training step in tfjs, checked before it is timed. */
interface PeerTraining {
  /** One training step; nothing is read back. */
  step(): void;
  /** Throws unless the step trains (see checkTraining). */
  check(): Promise<void>;
  dispose(): void;
}

/** Variables as Keras initialises them (Glorot-uniform weights from a seed sequence, zeros, ones). */
function weightMaker(tf: Tf, firstSeed: number) {
  let seed = firstSeed;
  // tf.variable shares the initial tensor's data but leaves that tensor alive: release it.
  const variableOf = (initial: T, trainable = true): TfCore.Variable => {
    const v = tf.variable(initial, trainable);
    initial.dispose();
    return v;
  };
  const glorot = (shape: number[], fanIn: number, fanOut: number): TfCore.Variable => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const size = shape.reduce((a, b) => a * b, 1);
    return variableOf(tf.tensor(uniformData(size, seed++, -limit, limit), shape));
  };
  return {
    glorot,
    /** Conv filters HWIO [kh, kw, inC, outC]. */
    conv: (k: number, inC: number, outC: number) => glorot([k, k, inC, outC], k * k * inC, k * k * outC),
    /** Transposed-conv filters [kh, kw, outC, inC], as tf.conv2dTranspose wants them. */
    deconv: (k: number, inC: number, outC: number) => glorot([k, k, outC, inC], k * k * inC, k * k * outC),
    zeros: (n: number, trainable = true) => variableOf(tf.zeros([n]), trainable),
    ones: (n: number, trainable = true) => variableOf(tf.ones([n]), trainable),
  };
}

/**
 * Runs `steps` training steps, reading back their losses (one list per loss, over the steps),
 * and throws unless every loss is finite and the number of live tfjs tensors is the same after
 * the last step as after the first (the first creates Adam's moments), or as `liveBefore` when
 * given (counted after an earlier step): a step that leaked would slow itself down as it is timed.
 */
async function lossesOfSteps(tf: Tf, what: string, steps: number, run: () => T[], liveBefore?: number): Promise<number[][]> {
  const history: number[][] = [];
  let live = liveBefore;
  for (let i = 0; i < steps; i++) {
    const losses = run();
    for (let j = 0; j < losses.length; j++) (history[j] ??= []).push((await losses[j].data())[0]);
    tf.dispose(losses);
    live ??= tf.memory().numTensors;
  }
  const leaked = tf.memory().numTensors - live!;
  if (leaked !== 0) throw new Error(`its ${what} step leaks ${leaked} tensors in ${liveBefore === undefined ? steps - 1 : steps} steps`);
  if (!history.flat().every(Number.isFinite)) throw new Error(`its ${what} step does not train: losses ${showLosses(history)}`);
  return history;
}

const showLosses = (history: number[][]) => history.map((h) => h.map((l) => l.toFixed(4)).join(', ')).join('; ');

/**
 * The seed's VAE training step (src/models/vae.ts) as a TensorFlow.js user writes it with
 * tfjs-core: fused conv2d/matMul with bias and ReLU where tfjs has them (what tfjs-layers
 * uses), conv2dTranspose plus bias, BCE on the logits summed per image, the KL term, and one
 * Adam update through optimizer.minimize. Weights are Glorot-uniform, biases zero, and the
 * batch is fixed random pixels in [0, 1]: the step's cost does not depend on the values.
 */
function vaeTrainStep(tf: Tf, batch: number): PeerTraining {
  const make = weightMaker(tf, 500);
  const w = {
    conv1: make.conv(3, 1, 32), conv1b: make.zeros(32),
    conv2: make.conv(3, 32, 64), conv2b: make.zeros(64),
    dense: make.glorot([3136, 16], 3136, 16), denseb: make.zeros(16),
    zMean: make.glorot([16, 2], 16, 2), zMeanb: make.zeros(2),
    zLogVar: make.glorot([16, 2], 16, 2), zLogVarb: make.zeros(2),
    decDense: make.glorot([2, 3136], 2, 3136), decDenseb: make.zeros(3136),
    deconv1: make.deconv(3, 64, 64), deconv1b: make.zeros(64),
    deconv2: make.deconv(3, 64, 32), deconv2b: make.zeros(32),
    deconv3: make.deconv(3, 32, 1), deconv3b: make.zeros(1),
  };
  const variables = Object.values(w);
  const x = tf.tensor4d(uniformData(batch * 784, 600, 0, 1), [batch, 28, 28, 1]);
  const optimizer = tf.train.adam(1e-3);

  const loss = (): TfCore.Scalar => {
    let h = tf.fused.conv2d({ x, filter: w.conv1 as TfCore.Tensor4D, strides: 2, pad: 'same', bias: w.conv1b, activation: 'relu' });
    h = tf.fused.conv2d({ x: h, filter: w.conv2 as TfCore.Tensor4D, strides: 2, pad: 'same', bias: w.conv2b, activation: 'relu' });
    const hidden = tf.fused.matMul({ a: tf.reshape(h, [batch, 3136]), b: w.dense, bias: w.denseb, activation: 'relu' });
    const zMean = tf.fused.matMul({ a: hidden, b: w.zMean, bias: w.zMeanb });
    const zLogVar = tf.fused.matMul({ a: hidden, b: w.zLogVar, bias: w.zLogVarb });
    const z = tf.add(zMean, tf.mul(tf.exp(tf.mul(zLogVar, 0.5)), tf.randomNormal([batch, 2])));
    const d0 = tf.reshape(tf.fused.matMul({ a: z, b: w.decDense, bias: w.decDenseb, activation: 'relu' }), [batch, 7, 7, 64]) as TfCore.Tensor4D;
    const d1 = tf.relu(tf.add(tf.conv2dTranspose(d0, w.deconv1 as TfCore.Tensor4D, [batch, 14, 14, 64], 2, 'same'), w.deconv1b)) as TfCore.Tensor4D;
    const d2 = tf.relu(tf.add(tf.conv2dTranspose(d1, w.deconv2 as TfCore.Tensor4D, [batch, 28, 28, 32], 2, 'same'), w.deconv2b)) as TfCore.Tensor4D;
    const logits = tf.add(tf.conv2dTranspose(d2, w.deconv3 as TfCore.Tensor4D, [batch, 28, 28, 1], 1, 'same'), w.deconv3b);
    const reconstruction = tf.div(tf.losses.sigmoidCrossEntropy(x, logits, undefined, 0, tf.Reduction.SUM), batch);
    const klTerms = tf.sub(tf.sub(tf.add(zLogVar, 1), tf.square(zMean)), tf.exp(zLogVar));
    const kl = tf.mul(tf.sum(klTerms), -0.5 / batch);
    return tf.add(reconstruction, kl) as TfCore.Scalar;
  };

  return {
    step() {
      optimizer.minimize(loss, false, variables);
    },
    /** A step is timed only if it trains: finite losses that fall over 4 steps on one batch. */
    async check() {
      const [l] = await lossesOfSteps(tf, 'VAE', 4, () => [optimizer.minimize(loss, true, variables)!]);
      if (!(l[3] < l[0])) throw new Error(`its VAE step does not train: losses ${showLosses([l])}`);
    },
    dispose() {
      optimizer.dispose();
      tf.dispose([x, ...variables]);
    },
  };
}

// src/models/gan.ts's constants: tf.keras 2's LeakyReLU slope, Keras BatchNormalization's
// defaults, the tutorial's dropout rate, Keras Adam's epsilon.
const LEAKY_ALPHA = 0.3;
const BN_MOMENTUM = 0.99;
const BN_EPSILON = 1e-3;
const DROPOUT_RATE = 0.3;
const ADAM_EPSILON = 1e-7;

/** A BatchNormalization layer's variables: γ and β trained, the moving statistics not. */
interface BatchNormVars {
  gamma: TfCore.Variable;
  beta: TfCore.Variable;
  movingMean: TfCore.Variable;
  movingVariance: TfCore.Variable;
}

/**
 * The seed's DCGAN or conditional-GAN training step (src/models/gan.ts) in tfjs-core, layer for
 * layer: the generator's Dense (no bias) → BatchNorm → LeakyReLU → reshape → three
 * conv2dTranspose (no bias; BN and LeakyReLU after the first two, tanh after the last); the
 * discriminator's two 'same' stride-2 convs (fused conv2d with its bias, then LeakyReLU: tfjs's
 * fused kernels have no gradient for a fused leakyrelu) each followed by tf.dropout, then a
 * fused matMul to one logit. BatchNorm runs in training mode: tf.moments over every axis but
 * the last (so its gradient flows through the batch statistics) and the moving statistics
 * updated with momentum 0.99, as Keras does. Losses are tf.losses.sigmoidCrossEntropy (BCE on
 * logits, mean over the batch); each network has its own tf.train.adam(lr, β1, 0.999, 1e-7).
 * Real images are fixed random pixels in [−1, 1] (with digits i mod 10 for the cGAN); noise is
 * drawn anew every step, and so are the cGAN's phase-2 digits.
 */
function ganTrainStep(tf: Tf, s: PeerGanStep): PeerTraining {
  const { batch, noiseDim, numClasses } = s;
  const conditional = s.model === 'cgan';
  const [g0, g1, g2] = s.channels.g;
  const [d1, d2] = s.channels.d;
  const make = weightMaker(tf, 700);
  const batchNormVars = (n: number): BatchNormVars => ({
    gamma: make.ones(n),
    beta: make.zeros(n),
    movingMean: make.zeros(n, false),
    movingVariance: make.ones(n, false),
  });
  const gIn = noiseDim + (conditional ? numClasses : 0);
  const gen = {
    dense: make.glorot([gIn, 49 * g0], gIn, 49 * g0),
    bn0: batchNormVars(49 * g0),
    deconv1: make.deconv(5, g0, g1),
    bn1: batchNormVars(g1),
    deconv2: make.deconv(5, g1, g2),
    bn2: batchNormVars(g2),
    deconv3: make.deconv(5, g2, 1),
  };
  const disc = {
    conv1: make.conv(5, 1 + (conditional ? numClasses : 0), d1),
    conv1b: make.zeros(d1),
    conv2: make.conv(5, d1, d2),
    conv2b: make.zeros(d2),
    dense: make.glorot([49 * d2, 1], 49 * d2, 1),
    denseb: make.zeros(1),
  };
  const bns = [gen.bn0, gen.bn1, gen.bn2];
  const gVars = [gen.dense, gen.deconv1, gen.deconv2, gen.deconv3, ...bns.flatMap((b) => [b.gamma, b.beta])];
  const dVars = Object.values(disc);
  const gOptimizer = tf.train.adam(s.lr, s.beta1, 0.999, ADAM_EPSILON);
  const dOptimizer = tf.train.adam(s.lr, s.beta1, 0.999, ADAM_EPSILON);
  const x = tf.tensor4d(uniformData(batch * 784, 800, -1, 1), [batch, 28, 28, 1]);
  const y = tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => i % numClasses), 'int32');

  const batchNorm = (h: T, p: BatchNormVars): T => {
    const { mean, variance } = tf.moments(h, [...Array(h.rank - 1).keys()]);
    p.movingMean.assign(tf.add(tf.mul(p.movingMean, BN_MOMENTUM), tf.mul(mean, 1 - BN_MOMENTUM)));
    p.movingVariance.assign(tf.add(tf.mul(p.movingVariance, BN_MOMENTUM), tf.mul(variance, 1 - BN_MOMENTUM)));
    return tf.batchNorm(h, mean, variance, p.beta, p.gamma, BN_EPSILON);
  };
  const leaky = (h: T) => tf.leakyRelu(h, LEAKY_ALPHA);
  const deconv = (h: T, filter: TfCore.Variable, size: number, channels: number, stride: number) =>
    tf.conv2dTranspose(h as TfCore.Tensor4D, filter as TfCore.Tensor4D, [batch, size, size, channels], stride, 'same');
  const generator = (input: T): T => {
    let h = leaky(batchNorm(tf.matMul(input, gen.dense), gen.bn0));
    h = tf.reshape(h, [batch, 7, 7, g0]);
    h = leaky(batchNorm(deconv(h, gen.deconv1, 7, g1, 1), gen.bn1));
    h = leaky(batchNorm(deconv(h, gen.deconv2, 14, g2, 2), gen.bn2));
    return tf.tanh(deconv(h, gen.deconv3, 28, 1, 2));
  };
  const conv = (h: T, filter: TfCore.Variable, bias: TfCore.Variable) =>
    tf.dropout(leaky(tf.fused.conv2d({ x: h as TfCore.Tensor4D, filter: filter as TfCore.Tensor4D, strides: 2, pad: 'same', bias })), DROPOUT_RATE, undefined, nextSeed());
  const discriminator = (images: T): T => {
    const h = conv(conv(images, disc.conv1, disc.conv1b), disc.conv2, disc.conv2b);
    return tf.fused.matMul({ a: tf.reshape(h, [batch, 49 * d2]), b: disc.dense, bias: disc.denseb });
  };
  const bce = (logits: T, target: 0 | 1): TfCore.Scalar =>
    tf.losses.sigmoidCrossEntropy(target === 1 ? tf.onesLike(logits) : tf.zerosLike(logits), logits) as TfCore.Scalar;
  // The check (below) draws the same noise, dropout masks and digits every step, from fixed
  // seeds; timed steps draw fresh ones. Same ops either way: only the seed argument differs.
  let fixedSeeds: number | undefined;
  let seedsDrawn = 0;
  const nextSeed = () => (fixedSeeds === undefined ? undefined : fixedSeeds + seedsDrawn++);
  const noise = () => tf.randomNormal([batch, noiseDim], 0, 1, 'float32', nextSeed());
  // The cGAN's inputs: noise ⊕ one-hot digit; the image ⊕ 10 planes holding the one-hot digit.
  const oneHot = (digits: T) => tf.oneHot(digits as TfCore.Tensor1D, numClasses, 1, 0, 'float32');
  const generatorInput = (z: T, digits: T) => tf.concat([z, oneHot(digits)], 1);
  const discriminatorInput = (images: T, digits: T) =>
    tf.concat([images, tf.broadcastTo(tf.reshape(oneHot(digits), [batch, 1, 1, numClasses]), [batch, 28, 28, numClasses])], 3);
  let digitSeed = 900;
  /** Random digits drawn on the host, as ours draws them (a few bytes). */
  const randomDigits = () =>
    tf.tensor1d(Int32Array.from(uniformData(batch, nextSeed() ?? digitSeed++, 0, numClasses), (v) => Math.min(numClasses - 1, Math.floor(v))), 'int32');

  /** The DCGAN's losses from one forward pass: G once (on fresh noise), D on fake and on real. */
  const dcganLosses = (): { dLoss: TfCore.Scalar; gLoss: TfCore.Scalar } => {
    const fakeLogits = discriminator(generator(noise()));
    const gLoss = bce(fakeLogits, 1);
    const dLoss = tf.add(bce(fakeLogits, 0), bce(discriminator(x), 1)) as TfCore.Scalar;
    return { dLoss, gLoss };
  };

  /**
   * The tutorial's step: one forward pass, then each network's gradients of its own loss.
   * TensorFlow keeps two tapes over that pass; a tfjs tape lives for one tf.variableGrads call,
   * so D's gradients are taken inside the call that takes G's: D's backward pass runs on the
   * shared forward, and G's backward pass (from the G loss, pruned to the paths from G's
   * variables) skips D's weight gradients and the ops D's backward pass added to the tape.
   */
  const dcganStep = (): T[] => {
    let dLoss: TfCore.Scalar | undefined;
    let gLoss: TfCore.Scalar | undefined;
    let dGrads: TfCore.NamedTensorMap = {};
    const g = tf.variableGrads(() => {
      const d = tf.variableGrads(() => {
        const losses = dcganLosses();
        gLoss = tf.keep(losses.gLoss);
        return losses.dLoss;
      }, dVars);
      dLoss = tf.keep(d.value);
      dGrads = d.grads;
      for (const grad of Object.values(dGrads)) tf.keep(grad);
      return gLoss!;
    }, gVars);
    const named = (grads: TfCore.NamedTensorMap) => Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    dOptimizer.applyGradients(named(dGrads));
    gOptimizer.applyGradients(named(g.grads));
    tf.dispose([...Object.values(dGrads), ...Object.values(g.grads)]);
    return [dLoss!, g.value];
  };

  // The cGAN's two phases. Phase 1: D's loss on the real images and on G's images, with their
  // digits (G runs outside any tape: no gradients through it; its BatchNorm in training mode).
  const phase1Fake = () => generator(generatorInput(noise(), y));
  const phase1Loss = (fake: T) =>
    tf.add(bce(discriminator(discriminatorInput(x, y)), 1), bce(discriminator(discriminatorInput(fake, y)), 0)) as TfCore.Scalar;
  // Phase 2: G's loss through D (D gets no gradients; its dropout still on), on fresh noise and
  // random digits.
  const phase2Loss = () => {
    const digits = randomDigits();
    return bce(discriminator(discriminatorInput(generator(generatorInput(noise(), digits)), digits)), 1);
  };
  let phase2Seeds = 0;
  const conditionalStep = (): T[] =>
    tf.tidy(() => {
      const fake = phase1Fake();
      const dLoss = dOptimizer.minimize(() => phase1Loss(fake), true, dVars)!;
      phase2Seeds = seedsDrawn;
      const gLoss = gOptimizer.minimize(phase2Loss, true, gVars)!;
      return [dLoss, gLoss];
    });

  const run = conditional ? conditionalStep : dcganStep;
  const what = conditional ? 'cGAN' : 'DCGAN';

  /**
   * Each network's update lowers its own loss: one step from fixed seeds (so its noise, dropout
   * masks and digits can be drawn again), then each loss recomputed on exactly those inputs with
   * its network updated and the other one as it was when that loss's gradient was taken (the
   * DCGAN: both networks before the step; the cGAN: G before it for D's loss, D after it for
   * G's). Returns [loss before, loss after] for D and for G.
   */
  const ownLossesAfterOneStep = async (): Promise<[number, number][]> => {
    const snapshot = (vars: TfCore.Variable[]) => vars.map((v) => tf.clone(v));
    const restore = (vars: TfCore.Variable[], values: T[]) => vars.forEach((v, i) => v.assign(values[i]));
    const read = async (t: T) => (await t.data())[0];
    const gBefore = snapshot(gVars);
    const dBefore = snapshot(dVars);
    seedsDrawn = 0;
    const [dLoss, gLoss] = run();
    const before = [await read(dLoss), await read(gLoss)];
    tf.dispose([dLoss, gLoss]);
    const gAfter = snapshot(gVars);
    const dAfter = snapshot(dVars);
    try {
      restore(gVars, gBefore);
      seedsDrawn = 0;
      const dAgain = tf.tidy(() => (conditional ? phase1Loss(phase1Fake()) : dcganLosses().dLoss));
      restore(gVars, gAfter);
      if (!conditional) restore(dVars, dBefore);
      seedsDrawn = conditional ? phase2Seeds : 0;
      const gAgain = tf.tidy(() => (conditional ? phase2Loss() : dcganLosses().gLoss));
      const after = [await read(dAgain), await read(gAgain)];
      tf.dispose([dAgain, gAgain]);
      return [[before[0], after[0]], [before[1], after[1]]];
    } finally {
      restore(gVars, gAfter);
      restore(dVars, dAfter);
      tf.dispose([...gBefore, ...dBefore, ...gAfter, ...dAfter]);
    }
  };

  return {
    step() {
      tf.dispose(run());
    },
    /**
     * Timed only if it trains: each network's update lowers its own loss on the inputs it was
     * computed from (ownLossesAfterOneStep: fails for a network updated from the other's loss,
     * with the wrong sign, or not at all), and one more step, with fresh noise, gives finite
     * losses and leaves as many live tfjs tensors as that first step did (lossesOfSteps).
     */
    async check() {
      fixedSeeds = 1000;
      let own: [number, number][];
      let live: number;
      try {
        own = await ownLossesAfterOneStep();
        live = tf.memory().numTensors;
      } finally {
        fixedSeeds = undefined;
      }
      const names = ['discriminator', 'generator'];
      own.forEach(([before, after], i) => {
        if (!(Number.isFinite(before) && after < before)) {
          throw new Error(`its ${what} step does not train: the ${names[i]}'s update moves its own loss from ${before.toFixed(5)} to ${after.toFixed(5)}`);
        }
      });
      await lossesOfSteps(tf, what, 1, run, live);
    },
    dispose() {
      gOptimizer.dispose();
      dOptimizer.dispose();
      tf.dispose([x, y, ...gVars, ...dVars, ...bns.flatMap((b) => [b.movingMean, b.movingVariance])]);
    },
  };
}
