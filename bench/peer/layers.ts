// Our layers as TensorFlow.js computes them, read from the layer objects themselves: a model of
// ours is built, each of its layers is turned into tfjs variables (copies of our initial values)
// and a tfjs forward from that layer's own options (kernel shape, strides, padding, bias,
// activation and slope; BatchNorm's momentum and epsilon; Dropout's rate; Reshape's target), and
// shapes come from the layer's outputShape. So when a model of ours changes a layer, the peer
// computes the changed layer; a layer class the peer does not know is refused, not guessed.
//
// The tfjs ops are the ones a TensorFlow.js user (and tfjs-layers) would pick: fused conv2d and
// matMul with their bias and ReLU where tfjs has them. tfjs's fused kernels have gradients for
// 'linear' and 'relu' only, so another activation runs after the fused op; tfjs has no fused
// transposed convolution, so conv2dTranspose is followed by the bias and the activation.

import type * as TfCore from '@tensorflow/tfjs-core';
import type { Module } from '../../src/nn/module.ts';
import type { Shape } from '../../src/core/tensor.ts';
import type { Activation } from '../../src/kernels/activation.ts';
import { Dense, Flatten, LeakyReLU, Reshape } from '../../src/nn/layers.ts';
import { Conv2d, Conv2dTranspose } from '../../src/nn/conv-layers.ts';
import { BatchNorm } from '../../src/nn/batchnorm.ts';
import { Dropout } from '../../src/nn/dropout.ts';

type Tf = typeof TfCore;
type T = TfCore.Tensor;

/** A network of ours in tfjs: its layers in forward order, as one function. */
export interface TfNetwork {
  /** What the optimizer trains: kernels, biases, BatchNorm's γ and β. */
  trainable: TfCore.Variable[];
  /** What the forward updates but nothing trains: BatchNorm's moving statistics. */
  state: TfCore.Variable[];
  forward(x: T): T;
  /** The output shape for an input shape, from our layers' outputShape. */
  outputShape(input: Shape): Shape;
}

/** Dropout's seeds: undefined draws a fresh mask; a number fixes it (the steps' checks). */
export type SeedSource = () => number | undefined;

/** A layer's forward in tfjs, with the variables it made. */
interface TfLayer {
  trainable: TfCore.Variable[];
  state: TfCore.Variable[];
  forward(h: T): T;
}

function shapeAfter(layer: Module, input: Shape): Shape {
  const out = layer.outputShape(input);
  if (!out) throw new Error(`the tfjs peer cannot tell the output shape of ${layer.constructor.name}`);
  return out;
}

/** The activation our layers fuse, as a tfjs op on its own. */
function activate(tf: Tf, h: T, activation: Activation, alpha: number): T {
  switch (activation) {
    case 'linear':
      return h;
    case 'relu':
      return tf.relu(h);
    case 'leakyRelu':
      return tf.leakyRelu(h, alpha);
    case 'sigmoid':
      return tf.sigmoid(h);
    case 'tanh':
      return tf.tanh(h);
  }
}

/** The activations tfjs's fused conv2d and matMul can differentiate. */
const fusable = (a: Activation): a is 'linear' | 'relu' => a === 'linear' || a === 'relu';

/** A variable holding a copy of one of our tensors (read back from our device). */
async function copyOf(tf: Tf, t: { shape: Shape; toArray(): Promise<Float32Array> }, trainable: boolean): Promise<TfCore.Variable> {
  const initial = tf.tensor(await t.toArray(), [...t.shape]);
  // tf.variable shares the initial tensor's data but leaves that tensor alive: release it.
  const v = tf.variable(initial, trainable);
  initial.dispose();
  return v;
}

async function tfLayer(tf: Tf, layer: Module, seeds: SeedSource): Promise<TfLayer> {
  const none = { trainable: [], state: [] };
  if (layer instanceof Dense || layer instanceof Conv2d || layer instanceof Conv2dTranspose) {
    const kernel = await copyOf(tf, layer.kernel, true);
    const bias = layer.bias ? await copyOf(tf, layer.bias, true) : undefined;
    const trainable = bias ? [kernel, bias] : [kernel];
    const { activation, alpha } = layer;
    const fused = fusable(activation) ? activation : 'linear';
    const after = (h: T) => (fusable(activation) ? h : activate(tf, h, activation, alpha));
    if (layer instanceof Dense) {
      const b = kernel as TfCore.Tensor2D;
      const forward = (h: T) => {
        const a = h.rank === 2 ? h : tf.reshape(h, [-1, layer.inFeatures]);
        const y = bias || fused !== 'linear' ? tf.fused.matMul({ a: a as TfCore.Tensor2D, b, bias, activation: fused }) : tf.matMul(a, b);
        return after(h.rank === 2 ? y : tf.reshape(y, [...shapeAfter(layer, h.shape)]));
      };
      return { trainable, state: [], forward };
    }
    const filter = kernel as TfCore.Tensor4D;
    const { strides, padding } = layer;
    if (layer instanceof Conv2d) {
      const forward = (h: T) => {
        const x = h as TfCore.Tensor4D;
        return after(bias || fused !== 'linear' ? tf.fused.conv2d({ x, filter, strides, pad: padding, bias, activation: fused }) : tf.conv2d(x, filter, strides, padding));
      };
      return { trainable, state: [], forward };
    }
    const forward = (h: T) => {
      const [b, oh, ow, oc] = shapeAfter(layer, h.shape);
      const y = tf.conv2dTranspose(h as TfCore.Tensor4D, filter, [b, oh, ow, oc], strides, padding);
      return activate(tf, bias ? tf.add(y, bias) : y, activation, alpha);
    };
    return { trainable, state: [], forward };
  }
  if (layer instanceof BatchNorm) {
    const gamma = await copyOf(tf, layer.gamma, true);
    const beta = await copyOf(tf, layer.beta, true);
    const movingMean = await copyOf(tf, layer.movingMean, false);
    const movingVariance = await copyOf(tf, layer.movingVariance, false);
    // Training mode as Keras: the batch's statistics (the gradient flows through them), and the
    // moving ones updated with the layer's momentum. Eval mode: the moving statistics.
    const { training, momentum: m, epsilon } = layer;
    const forward = (h: T) => {
      if (!training) return tf.batchNorm(h, movingMean, movingVariance, beta, gamma, epsilon);
      const { mean, variance } = tf.moments(h, [...Array(h.rank - 1).keys()]);
      movingMean.assign(tf.add(tf.mul(movingMean, m), tf.mul(mean, 1 - m)));
      movingVariance.assign(tf.add(tf.mul(movingVariance, m), tf.mul(variance, 1 - m)));
      return tf.batchNorm(h, mean, variance, beta, gamma, epsilon);
    };
    return { trainable: [gamma, beta], state: [movingMean, movingVariance], forward };
  }
  if (layer instanceof LeakyReLU) {
    const { alpha } = layer;
    return { ...none, forward: (h) => tf.leakyRelu(h, alpha) };
  }
  if (layer instanceof Reshape || layer instanceof Flatten) return { ...none, forward: (h) => tf.reshape(h, [...shapeAfter(layer, h.shape)]) };
  if (layer instanceof Dropout) {
    const { training, rate } = layer;
    return { ...none, forward: (h) => (training && rate > 0 ? tf.dropout(h, rate, undefined, seeds()) : h) };
  }
  throw new Error(`the tfjs peer has no counterpart for a ${layer.constructor.name} layer`);
}

/**
 * Throws unless `layers` holds every child module of `owner`: a layer added to our model and not
 * to the peer's forward order would otherwise be silently skipped.
 */
export function assertCovers(owner: Module, layers: Iterable<Module>): void {
  const listed = new Set(layers);
  const missing = owner.namedModules().filter(([name, m]) => !name.includes('.') && !listed.has(m));
  if (missing.length) {
    throw new Error(`the tfjs peer's ${owner.constructor.name} leaves out its layer(s) ${missing.map(([n]) => n).join(', ')}: update its forward order in bench/peer/`);
  }
}

/**
 * `layers`, in the order our forward applies them (an object may repeat: one LeakyReLU used
 * thrice), as one tfjs network with its own variables.
 */
async function tfNetwork(tf: Tf, layers: readonly Module[], seeds: SeedSource, made: TfCore.Variable[]): Promise<TfNetwork> {
  const byLayer = new Map<Module, TfLayer>();
  for (const layer of layers) {
    if (byLayer.has(layer)) continue;
    const l = await tfLayer(tf, layer, seeds);
    made.push(...l.trainable, ...l.state);
    byLayer.set(layer, l);
  }
  const steps = layers.map((l) => byLayer.get(l)!);
  const unique = [...byLayer.values()];
  return {
    trainable: unique.flatMap((l) => l.trainable),
    state: unique.flatMap((l) => l.state),
    forward: (x) => steps.reduce((h, l) => l.forward(h), x),
    outputShape: (input) => layers.reduce((shape, l) => shapeAfter(l, shape), input),
  };
}

/** Builds a tfjs network from layers of ours (see tfNetwork); `seeds` feeds its Dropout layers. */
export type NetworkMaker = (layers: readonly Module[], seeds?: SeedSource) => Promise<TfNetwork>;

/**
 * Reads a model of ours into tfjs: `read` builds the networks it needs (copying our initial
 * values), then our model is disposed (it only lends its architecture and weights). Returns what
 * `read` returned and every tfjs variable made, for the step's dispose; on failure those
 * variables are released before the error goes on.
 */
export async function readModel<M extends { dispose(): void }, R>(
  tf: Tf,
  model: M,
  read: (model: M, network: NetworkMaker) => Promise<R>,
): Promise<{ parts: R; variables: TfCore.Variable[] }> {
  const variables: TfCore.Variable[] = [];
  try {
    const parts = await read(model, (layers, seeds = () => undefined) => tfNetwork(tf, layers, seeds, variables));
    return { parts, variables };
  } catch (e) {
    tf.dispose(variables);
    throw e;
  } finally {
    model.dispose();
  }
}
