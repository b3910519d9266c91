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
import { convOutSize, convTransposeOutSize, type PeerOp, type PeerTrainStep } from './peer-ops.ts';
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
      if (step.model !== 'vae') return undefined;
      const vae = vaeTrainStep(tf, step.batch);
      try {
        await vae.check();
      } catch (e) {
        vae.dispose();
        throw e;
      }
      return { record: vae.step, finish, dispose: vae.dispose };
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

/**
 * The seed's VAE training step (src/models/vae.ts) as a TensorFlow.js user writes it with
 * tfjs-core: fused conv2d/matMul with bias and ReLU where tfjs has them (what tfjs-layers
 * uses), conv2dTranspose plus bias, BCE on the logits summed per image, the KL term, and one
 * Adam update through optimizer.minimize. Weights are Glorot-uniform, biases zero, and the
 * batch is fixed random pixels in [0, 1]: the step's cost does not depend on the values.
 */
function vaeTrainStep(tf: Tf, batch: number): { step: () => void; check: () => Promise<void>; dispose: () => void } {
  let weightSeed = 500;
  const glorot = (shape: number[], fanIn: number, fanOut: number): TfCore.Variable => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const size = shape.reduce((a, b) => a * b, 1);
    return variableOf(tf.tensor(uniformData(size, weightSeed++, -limit, limit), shape));
  };
  // tf.variable shares the initial tensor's data but leaves that tensor alive: release it.
  const variableOf = (initial: T): TfCore.Variable => {
    const v = tf.variable(initial);
    initial.dispose();
    return v;
  };
  const conv = (kh: number, inC: number, outC: number) => glorot([kh, kh, inC, outC], kh * kh * inC, kh * kh * outC);
  // Transposed-conv filters are [kh, kw, outC, inC], as tf.conv2dTranspose wants them.
  const deconv = (kh: number, inC: number, outC: number) => glorot([kh, kh, outC, inC], kh * kh * inC, kh * kh * outC);
  const zeros = (n: number) => variableOf(tf.zeros([n]));
  const w = {
    conv1: conv(3, 1, 32), conv1b: zeros(32),
    conv2: conv(3, 32, 64), conv2b: zeros(64),
    dense: glorot([3136, 16], 3136, 16), denseb: zeros(16),
    zMean: glorot([16, 2], 16, 2), zMeanb: zeros(2),
    zLogVar: glorot([16, 2], 16, 2), zLogVarb: zeros(2),
    decDense: glorot([2, 3136], 2, 3136), decDenseb: zeros(3136),
    deconv1: deconv(3, 64, 64), deconv1b: zeros(64),
    deconv2: deconv(3, 64, 32), deconv2b: zeros(32),
    deconv3: deconv(3, 32, 1), deconv3b: zeros(1),
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
    /** A step is timed only if it trains: finite losses that fall over a few steps on one batch. */
    async check() {
      const losses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const cost = optimizer.minimize(loss, true, variables)!;
        losses.push((await cost.data())[0]);
        cost.dispose();
      }
      if (!losses.every(Number.isFinite) || !(losses[3] < losses[0])) {
        throw new Error(`its VAE step does not train: losses ${losses.map((l) => l.toFixed(2)).join(', ')}`);
      }
    },
    dispose() {
      optimizer.dispose();
      tf.dispose([x, ...variables]);
    },
  };
}
