// Differentiable convolution-family ops: conv2d, conv2dTranspose, batchNorm, dropout,
// globalMaxPool2d. Each checks shapes before any GPU work (errors name them), launches its
// forward kernel, and records one backward rule — micrograd's shape, like ops.ts.
//
// The convolution's three kernels serve both convolutions:
//   conv2d           forward = conv2d            dx = input-grad      dw = weight-grad(x, dy)
//   conv2dTranspose  forward = input-grad        dx = conv2d          dw = weight-grad(dy, x)

import { Tensor, formatShape } from './tensor.ts';
import { run } from './dispatch.ts';
import { record } from './autograd.ts';
import { assertFloat, assertLive } from './checks.ts';
import { launch, reduceRaw, sumTo, activationGradFromOutput, max, OP_LEAKY_ALPHA } from './ops.ts';
import { ACTIVATIONS, type Activation } from '../kernels/activation.ts';
import {
  conv2dWeightGradProgram, conv2dInputGradProgram, conv2dProgram, weightGradSplits,
  CONV_VARIANTS, SUBGROUP_CONV_VARIANTS, type ConvEpilogue, type ConvVariant,
} from '../kernels/conv/conv2d.ts';
import { getGpu } from './device.ts';
import { conv2dTransposeProgram } from '../kernels/conv/conv2d-transpose.ts';
import {
  bnApplyProgram, bnChunks, bnFinalizeProgram, bnGradFinalizeProgram, bnGradInputProgram, bnGradPartialProgram,
  bnPartialStatsProgram, bnRunningStatsProgram, type BatchNormShape,
} from '../kernels/batchnorm.ts';
import { dropoutProgram } from '../kernels/dropout.ts';
import { fillProgram } from '../kernels/elementwise.ts';
import { nextRandomKey } from './creation.ts';
import {
  conv2dGeometry, conv2dTransposeGeometry, convInputShape, convOutputShape, convWeightShape,
  type ConvGeometry, type Padding, type Pair,
} from '../kernels/conv/geometry.ts';

export type { Padding, ConvVariant };

// ---------------------------------------------------------------- convolution

let chosenConvVariant: ConvVariant | undefined;
/**
 * Chooses the convolution kernels every op uses (the bench switches it); 'auto' (the start):
 * 'subgroup' where the device has subgroups, else 'direct'.
 */
export function setConvVariant(v: ConvVariant | 'auto'): void {
  if (v !== 'auto') checkVariant('setConvVariant', v);
  chosenConvVariant = v === 'auto' ? undefined : v;
}
/** The variant ops use unless told otherwise: setConvVariant's, else the fastest this device runs. */
export function getConvVariant(): ConvVariant {
  return chosenConvVariant ?? (getGpu().info.hasSubgroups ? 'subgroup' : 'direct');
}

function checkVariant(op: string, v: ConvVariant): void {
  if (!CONV_VARIANTS.includes(v)) throw new RangeError(`${op}: variant '${v}' is not one of ${CONV_VARIANTS.join(', ')}`);
  if (SUBGROUP_CONV_VARIANTS.includes(v) && !getGpu().info.hasSubgroups) {
    throw new RangeError(`${op}: variant '${v}' needs WebGPU's 'subgroups' feature with subgroups of at least 8, which this device (${getGpu().info.description}) lacks; use 'direct'`);
  }
}

export interface Conv2dOptions {
  /** One stride for both axes, or [strideH, strideW] (default 1). */
  stride?: Pair;
  /** TensorFlow's 'same' or 'valid' (default 'valid', as Keras). */
  padding?: Padding;
  /** Added per output channel before the activation, in the same kernel. */
  bias?: Tensor;
  /** Fused into the output write (default 'linear'). */
  activation?: Activation;
  /** Slope of 'leakyRelu' (default OP_LEAKY_ALPHA, 0.2, as every op; the conv layers pass 0.3). */
  alpha?: number;
  /** Kernel variant (default: setConvVariant's). */
  variant?: ConvVariant;
}

function epilogueOf(op: string, o: Conv2dOptions, channels: number): ConvEpilogue {
  const activation = o.activation ?? 'linear';
  if (!ACTIVATIONS.includes(activation)) throw new RangeError(`${op}: activation '${String(activation)}' is not one of ${ACTIVATIONS.join(', ')}`);
  const alpha = o.alpha ?? OP_LEAKY_ALPHA;
  if (!Number.isFinite(alpha)) throw new RangeError(`${op}: alpha must be a finite number, got ${alpha}`);
  if (o.bias) {
    assertLive(op, o.bias);
    assertFloat(op, o.bias);
    if (o.bias.rank !== 1 || o.bias.shape[0] !== channels) {
      throw new RangeError(`${op}: bias ${formatShape(o.bias.shape)} must be [${channels}], one per output channel`);
    }
  }
  if (o.variant !== undefined) checkVariant(op, o.variant);
  return { hasBias: !!o.bias, activation, alpha };
}

/** Forward-only conv2d for a checked geometry (also the transposed convolution's dx). */
export function conv2dRaw(x: Tensor, w: Tensor, g: ConvGeometry, epilogue?: ConvEpilogue, bias?: Tensor, variant = getConvVariant()): Tensor {
  return launch(conv2dProgram(g, epilogue, variant), [x, w, bias ?? x], convOutputShape(g));
}

/** Forward-only input-gradient of conv2d: dy [batch, outH, outW, outC] → dx. */
export function conv2dInputGradRaw(dy: Tensor, w: Tensor, g: ConvGeometry, variant = getConvVariant()): Tensor {
  return launch(conv2dInputGradProgram(g, undefined, variant), [dy, w, dy], convInputShape(g));
}

/** Forward-only weight-gradient of conv2d: x, dy → dw [kh, kw, inC, outC] (split-K, then a sum). */
export function conv2dWeightGradRaw(x: Tensor, dy: Tensor, g: ConvGeometry, variant = getConvVariant()): Tensor {
  const splits = weightGradSplits(g, variant);
  const wShape = convWeightShape(g);
  const partial = launch(conv2dWeightGradProgram(g, splits, variant), [x, dy], [splits, ...wShape]);
  if (splits === 1) {
    const dw = partial.view(wShape);
    partial.dispose();
    return dw;
  }
  const summed = reduceRaw('sum', partial, [0], 1);
  partial.dispose();
  const dw = summed.view(wShape);
  summed.dispose();
  return dw;
}

function checkInputs(op: string, x: Tensor, w: Tensor): void {
  assertLive(op, x, w);
  assertFloat(op, x, w);
}

/**
 * 2-D convolution, NHWC input × HWIO weights [kh, kw, inC, outC], TensorFlow padding rules,
 * with an optional bias and activation fused into the kernel's write.
 */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  checkInputs('conv2d', x, w);
  const g = conv2dGeometry(x.shape, w.shape, options.stride ?? 1, options.padding ?? 'valid');
  const epilogue = epilogueOf('conv2d', options, g.outC);
  const variant = options.variant ?? getConvVariant();
  const bias = options.bias;
  const y = conv2dRaw(x, w, g, epilogue, bias, variant);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, `conv2d.${epilogue.activation}`, inputs, (grad, needs) => {
    const gz = activationGradFromOutput(epilogue.activation, y, grad, epilogue.alpha);
    const grads = [
      needs[0] ? conv2dInputGradRaw(gz, w, g, variant) : null,
      needs[1] ? conv2dWeightGradRaw(x, gz, g, variant) : null,
      bias && needs[2] ? sumTo(gz, bias.shape) : null,
    ];
    gz.dispose();
    return grads;
  });
}

/**
 * Transposed 2-D convolution (tf.nn.conv2d_transpose, Keras Conv2DTranspose): x [batch, h, w,
 * inC], weights [kh, kw, outC, inC]. Output [batch, h·s, w·s, outC] for 'same', and
 * [batch, h·s + max(kh − s, 0), …] for 'valid' (= (h − 1)·s + kh when kh ≥ s), as Keras.
 */
export function conv2dTranspose(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  checkInputs('conv2dTranspose', x, w);
  const g = conv2dTransposeGeometry(x.shape, w.shape, options.stride ?? 1, options.padding ?? 'valid');
  const epilogue = epilogueOf('conv2dTranspose', options, g.inC);
  const variant = options.variant ?? getConvVariant();
  const bias = options.bias;
  const y = launch(conv2dTransposeProgram(g, epilogue, variant), [x, w, bias ?? x], convInputShape(g));
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, `conv2dTranspose.${epilogue.activation}`, inputs, (grad, needs) => {
    const gz = activationGradFromOutput(epilogue.activation, y, grad, epilogue.alpha);
    const grads = [
      needs[0] ? conv2dRaw(gz, w, g, undefined, undefined, variant) : null,
      needs[1] ? conv2dWeightGradRaw(gz, x, g, variant) : null,
      bias && needs[2] ? sumTo(gz, bias.shape) : null,
    ];
    gz.dispose();
    return grads;
  });
}

// ---------------------------------------------------------------- batch normalisation

export interface BatchNormOptions {
  /** Batch statistics (and a running-statistics update) when true; running statistics when false (default). */
  training?: boolean;
  /** [C]; updated in place in training mode, read in eval mode. */
  runningMean?: Tensor;
  runningVar?: Tensor;
  /** running = momentum·running + (1 − momentum)·batch (default 0.99, as Keras). */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-3, as Keras). */
  epsilon?: number;
}

function bnShape(x: Tensor, gamma: Tensor, beta: Tensor, o: BatchNormOptions): BatchNormShape {
  const tensors = [x, gamma, beta, ...(o.runningMean ? [o.runningMean] : []), ...(o.runningVar ? [o.runningVar] : [])];
  assertLive('batchNorm', ...tensors);
  assertFloat('batchNorm', ...tensors);
  if (x.rank < 2) throw new RangeError(`batchNorm: input ${formatShape(x.shape)} needs a batch axis and a channel (last) axis`);
  const channels = x.shape[x.rank - 1];
  const rows = x.size / Math.max(channels, 1);
  if (rows < 1 || channels < 1) throw new RangeError(`batchNorm: input ${formatShape(x.shape)} is empty`);
  const named: [string, Tensor | undefined][] = [['gamma', gamma], ['beta', beta], ['runningMean', o.runningMean], ['runningVar', o.runningVar]];
  for (const [name, t] of named) {
    if (t && (t.rank !== 1 || t.shape[0] !== channels)) {
      throw new RangeError(`batchNorm: ${name} ${formatShape(t.shape)} must be [${channels}] for input ${formatShape(x.shape)} (channels last)`);
    }
  }
  const momentum = o.momentum ?? 0.99;
  const epsilon = o.epsilon ?? 1e-3;
  if (!(momentum >= 0 && momentum <= 1)) throw new RangeError(`batchNorm: momentum must be in [0, 1], got ${momentum}`);
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new RangeError(`batchNorm: epsilon must be positive, got ${epsilon}`);
  if (!o.training && (!o.runningMean || !o.runningVar)) {
    throw new Error('batchNorm: eval mode (training: false) normalises with runningMean and runningVar; pass both, or training: true');
  }
  if ((o.runningMean === undefined) !== (o.runningVar === undefined)) {
    throw new Error('batchNorm: pass runningMean and runningVar together');
  }
  if (o.runningMean && o.runningMean === o.runningVar) throw new Error('batchNorm: runningMean and runningVar must be different tensors');
  return { rows, channels };
}

/** Batch statistics of x: stats [2, C] = (mean, 1/√(var + ε)); updates the running statistics in place. */
function batchStats(x: Tensor, s: BatchNormShape, o: BatchNormOptions): Tensor {
  const chunks = bnChunks(s);
  const partial = launch(bnPartialStatsProgram(s), [x], [2, chunks, s.channels]);
  const stats = new Tensor([2, s.channels], 'f32');
  const runningMean = o.runningMean ?? new Tensor([s.channels], 'f32');
  const runningVar = o.runningVar ?? new Tensor([s.channels], 'f32');
  run(bnFinalizeProgram(s, o.momentum ?? 0.99, o.epsilon ?? 1e-3), [partial.gpu], [stats.gpu, runningMean.gpu, runningVar.gpu]);
  partial.dispose();
  if (!o.runningMean) runningMean.dispose();
  if (!o.runningVar) runningVar.dispose();
  return stats;
}

/**
 * Batch normalisation over the last (channel) axis of x ([N, H, W, C] or [N, C]):
 * y = (x − mean)/√(var + ε)·γ + β. Training mode uses the batch's mean and biased variance and
 * updates runningMean/runningVar in place, with the biased variance too (as Keras 3; not the
 * unbiased n/(n − 1)·variance of tf.keras 2's fused 4-D path or PyTorch: see
 * src/kernels/batchnorm.ts); eval mode uses the running statistics. Gradients flow to x,
 * gamma and beta in both modes.
 */
export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, options: BatchNormOptions = {}): Tensor {
  const s = bnShape(x, gamma, beta, options);
  const training = options.training ?? false;
  const stats = training
    ? batchStats(x, s, options)
    : launch(bnRunningStatsProgram(s, options.epsilon ?? 1e-3), [options.runningMean!, options.runningVar!], [2, s.channels]);
  const y = launch(bnApplyProgram(s), [x, stats, gamma, beta], x.shape);
  const recorded = record(y, `batchNorm.${training ? 'train' : 'eval'}`, [x, gamma, beta], (g, needs) => {
    // dx needs the per-channel sums behind dγ and dβ, so those are computed whatever is asked.
    const partial = launch(bnGradPartialProgram(s), [x, g, stats], [2, bnChunks(s), s.channels]);
    const dGamma = new Tensor([s.channels], 'f32');
    const dBeta = new Tensor([s.channels], 'f32');
    run(bnGradFinalizeProgram(s), [partial.gpu], [dGamma.gpu, dBeta.gpu]);
    partial.dispose();
    const dx = needs[0] ? launch(bnGradInputProgram(s, training), [x, g, stats, gamma, dGamma, dBeta], x.shape) : null;
    return [dx, dGamma, dBeta];
  });
  if (!recorded.node) stats.dispose(); // nothing will ask for the backward pass
  return recorded;
}

// ---------------------------------------------------------------- dropout

export interface DropoutOptions {
  /** Drop when true (default); the identity when false (eval mode). */
  training?: boolean;
  /** Mask seed; without one, (seed, step) come from the global generator (manualSeed). */
  seed?: number;
  /** Mask stream: a new step gives a new mask for the same seed (default 0 with a seed). */
  step?: number;
}

/**
 * Inverted dropout: zeroes each element with probability `rate` and scales the rest by
 * 1/(1 − rate). The mask is a function of (seed, step, element index), recomputed in backward.
 */
export function dropout(x: Tensor, rate: number, options: DropoutOptions = {}): Tensor {
  assertLive('dropout', x);
  assertFloat('dropout', x);
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`dropout: rate must be in [0, 1], got ${rate}`);
  for (const [name, v] of [['seed', options.seed], ['step', options.step]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError(`dropout: ${name} must be an integer in [0, 2^32), got ${v}`);
    }
  }
  const training = options.training ?? true;
  if (!training || rate === 0) return record(x.view(), 'dropout.identity', [x], (g) => [g.view()]);
  if (rate === 1) {
    const zero = launch(fillProgram(x.size, 0), [], x.shape);
    return record(zero, 'dropout.all', [x], (g) => [launch(fillProgram(g.size, 0), [], g.shape)]);
  }
  const key = options.seed === undefined ? nextRandomKey() : { seed: options.seed, stream: options.step ?? 0 };
  const y = launch(dropoutProgram(x.size, rate, key.seed, key.stream), [x], x.shape);
  return record(y, 'dropout', [x], (g) => [launch(dropoutProgram(g.size, rate, key.seed, key.stream), [g], g.shape)]);
}

// ---------------------------------------------------------------- pooling

/**
 * Maximum over height and width: [N, H, W, C] → [N, C] (Keras GlobalMaxPooling2D). It is
 * tf.reduce_max over axes 1 and 2, and so is its gradient: ties share it equally.
 */
export function globalMaxPool2d(x: Tensor): Tensor {
  assertLive('globalMaxPool2d', x);
  if (x.rank !== 4) throw new RangeError(`globalMaxPool2d: input must be 4-D [batch, height, width, channels], got ${formatShape(x.shape)}`);
  if (x.shape[1] * x.shape[2] === 0) throw new RangeError(`globalMaxPool2d: input ${formatShape(x.shape)} has no pixels`);
  return max(x, [1, 2]);
}
