// Convolution-family layers, Keras-shaped: Conv2d, Conv2dTranspose, BatchNorm, Dropout,
// GlobalMaxPool2d. Built only from core ops (no WGSL here). Parameter and buffer names follow
// Keras ('kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance') so a checkpoint
// reads like a Keras one; BatchNorm's moving statistics are module buffers, so checkpoints
// carry them, and train()/eval() switches BatchNorm and Dropout.

import { Module } from './module.ts';
import { Tensor, formatShape, type Shape } from '../core/tensor.ts';
import { deriveSeed, nextRandomKey } from '../core/creation.ts';
import { conv2d, conv2dTranspose, batchNorm, dropout, globalMaxPool2d, type Padding, type Conv2dOptions } from '../core/conv-ops.ts';
import { ACTIVATIONS, type Activation } from '../kernels/activation.ts';
import { conv2dGeometry, conv2dTransposeGeometry, convInputShape, convOutputShape } from '../kernels/conv/geometry.ts';
import { glorotUniform, zeros, ones } from './init.ts';
import { KERAS_LEAKY_ALPHA } from './layers.ts';

export interface ConvLayerOptions {
  /** Channels of the input (Keras infers them on first call; we need them to make the kernel). */
  inChannels: number;
  /** Output channels. */
  filters: number;
  /** Kernel height and width: one number or [kh, kw]. */
  kernelSize: number | readonly [number, number];
  /** Default 1. */
  strides?: number | readonly [number, number];
  /** 'valid' (default, as Keras) or 'same'. */
  padding?: Padding;
  /** Default true. */
  useBias?: boolean;
  /** Fused into the convolution's write (default 'linear'). */
  activation?: Activation;
  /** Slope of 'leakyRelu' (default KERAS_LEAKY_ALPHA, 0.3, as every layer; the ops' is 0.2). */
  alpha?: number;
  /** Fixes the kernel's initial values; without it they come from the global generator. */
  seed?: number;
}

function positiveInteger(layer: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${layer}: ${name} must be a positive integer, got ${v}`);
}

function checkConvOptions(layer: string, o: ConvLayerOptions): { k: [number, number]; s: [number, number] } {
  positiveInteger(layer, 'inChannels', o.inChannels);
  positiveInteger(layer, 'filters', o.filters);
  const k: [number, number] = typeof o.kernelSize === 'number' ? [o.kernelSize, o.kernelSize] : [o.kernelSize[0], o.kernelSize[1]];
  const s: [number, number] = typeof o.strides === 'number' || o.strides === undefined
    ? [o.strides ?? 1, o.strides ?? 1]
    : [o.strides[0], o.strides[1]];
  k.forEach((v) => positiveInteger(layer, 'kernelSize', v));
  s.forEach((v) => positiveInteger(layer, 'strides', v));
  const padding = o.padding ?? 'valid';
  if (padding !== 'same' && padding !== 'valid') throw new RangeError(`${layer}: padding must be 'same' or 'valid', got '${padding}'`);
  const activation = o.activation ?? 'linear';
  if (!ACTIVATIONS.includes(activation)) throw new RangeError(`${layer}: activation '${String(activation)}' is not one of ${ACTIVATIONS.join(', ')}`);
  if (!Number.isFinite(o.alpha ?? KERAS_LEAKY_ALPHA)) throw new RangeError(`${layer}: alpha must be a finite number, got ${o.alpha}`);
  return { k, s };
}

/** What Conv2d and Conv2dTranspose share: options, Keras's initialisation, the input check. */
abstract class ConvLayer extends Module {
  readonly inChannels: number;
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  readonly activation: Activation;
  readonly alpha: number;
  readonly kernel: Tensor;
  readonly bias: Tensor | null;

  /** `kernelShape` maps (kh, kw, inChannels, filters) to the layer's weight layout. */
  protected constructor(
    private readonly layerName: string,
    options: ConvLayerOptions,
    kernelShape: (kh: number, kw: number, inChannels: number, filters: number) => number[],
  ) {
    super();
    const { k, s } = checkConvOptions(layerName, options);
    this.inChannels = options.inChannels;
    this.filters = options.filters;
    this.kernelSize = k;
    this.strides = s;
    this.padding = options.padding ?? 'valid';
    this.activation = options.activation ?? 'linear';
    this.alpha = options.alpha ?? KERAS_LEAKY_ALPHA;
    const shape = kernelShape(k[0], k[1], this.inChannels, this.filters);
    // Keras computes fans from the kernel's last two axes: fanIn = kh·kw·shape[2], fanOut = kh·kw·shape[3].
    const field = k[0] * k[1];
    this.kernel = this.addParameter('kernel', glorotUniform(field * shape[2], field * shape[3], shape, options.seed));
    this.bias = (options.useBias ?? true) ? this.addParameter('bias', zeros([this.filters])) : null;
  }

  protected abstract convolve(x: Tensor, options: Conv2dOptions): Tensor;
  /** The output shape of the layer's op for a checked input shape (the op's own checks apply). */
  protected abstract convolvedShape(inputShape: Shape): Shape;

  private checkInput(inputShape: Shape): void {
    if (inputShape.length !== 4 || inputShape[3] !== this.inChannels) {
      throw new RangeError(`${this.layerName}(${this.inChannels} → ${this.filters}): input ${formatShape(inputShape)} must be [batch, height, width, ${this.inChannels}]`);
    }
  }

  override outputShape(inputShape: Shape): Shape {
    this.checkInput(inputShape);
    return this.convolvedShape(inputShape);
  }

  override extraRepr(): string {
    return `inChannels=${this.inChannels}, filters=${this.filters}, kernelSize=${formatShape(this.kernelSize)}, strides=${formatShape(this.strides)}, ` +
      `padding='${this.padding}', activation='${this.activation}'` + (this.bias ? '' : ', useBias=false') +
      (this.activation === 'leakyRelu' ? `, alpha=${this.alpha}` : '');
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x.shape);
    return this.convolve(x, {
      stride: this.strides, padding: this.padding, bias: this.bias ?? undefined, activation: this.activation, alpha: this.alpha,
    });
  }
}

/**
 * Keras Conv2D: activation(conv2d(x, kernel) + bias), NHWC, kernel [kh, kw, inChannels, filters]
 * Glorot-uniform (fans kh·kw·inChannels and kh·kw·filters), bias zeros.
 */
export class Conv2d extends ConvLayer {
  constructor(options: ConvLayerOptions) {
    super('Conv2d', options, (kh, kw, inChannels, filters) => [kh, kw, inChannels, filters]);
  }
  protected convolve(x: Tensor, options: Conv2dOptions): Tensor {
    return conv2d(x, this.kernel, options);
  }
  protected convolvedShape(inputShape: Shape): Shape {
    return convOutputShape(conv2dGeometry(inputShape, this.kernel.shape, this.strides, this.padding));
  }
}

/**
 * Keras Conv2DTranspose: kernel [kh, kw, filters, inChannels] (tf.nn.conv2d_transpose's layout),
 * output [batch, h·s, w·s, filters] for 'same', [batch, h·s + max(kh − s, 0), …] for 'valid'.
 */
export class Conv2dTranspose extends ConvLayer {
  constructor(options: ConvLayerOptions) {
    super('Conv2dTranspose', options, (kh, kw, inChannels, filters) => [kh, kw, filters, inChannels]);
  }
  protected convolve(x: Tensor, options: Conv2dOptions): Tensor {
    return conv2dTranspose(x, this.kernel, options);
  }
  protected convolvedShape(inputShape: Shape): Shape {
    // The geometry describes the forward convolution this one is the input-gradient of: that
    // convolution's input is our output.
    return convInputShape(conv2dTransposeGeometry(inputShape, this.kernel.shape, this.strides, this.padding));
  }
}

export interface BatchNormLayerOptions {
  /** Size of the last (channel) axis. */
  features: number;
  /** Default 0.99 (Keras). */
  momentum?: number;
  /** Default 1e-3 (Keras). */
  epsilon?: number;
}

/**
 * Keras BatchNormalization over the last axis, for [N, H, W, C] and [N, C] inputs. Training
 * mode normalises with the batch's statistics and updates the moving ones (in place, with the
 * biased batch variance, as Keras 3 for every rank; tf.keras 2's fused path for 4-D inputs and
 * PyTorch used the unbiased one: src/kernels/batchnorm.ts); eval mode uses the moving
 * statistics.
 */
export class BatchNorm extends Module {
  readonly features: number;
  private currentMomentum: number;
  readonly epsilon: number;
  readonly gamma: Tensor;
  readonly beta: Tensor;

  constructor(options: BatchNormLayerOptions) {
    super();
    positiveInteger('BatchNorm', 'features', options.features);
    this.features = options.features;
    this.currentMomentum = BatchNorm.checkMomentum(options.momentum ?? 0.99);
    this.epsilon = options.epsilon ?? 1e-3;
    if (!(this.epsilon > 0)) throw new RangeError(`BatchNorm: epsilon must be positive, got ${this.epsilon}`);
    this.gamma = this.addParameter('gamma', ones([this.features]));
    this.beta = this.addParameter('beta', zeros([this.features]));
    this.addBuffer('moving_mean', zeros([this.features]));
    this.addBuffer('moving_variance', ones([this.features]));
  }

  private static checkMomentum(value: number): number {
    if (!(value >= 0 && value <= 1)) throw new RangeError(`BatchNorm: momentum must be in [0, 1], got ${value}`);
    return value;
  }

  /**
   * moving = momentum·moving + (1 − momentum)·batch after each training-mode forward. Settable:
   * recomputeBatchNormStatistics (src/nn/batchnorm-statistics.ts) sets (k − 1)/k for the k-th of
   * its batches, which makes the moving statistics the plain average of the batches' statistics.
   */
  get momentum(): number {
    return this.currentMomentum;
  }
  set momentum(value: number) {
    this.currentMomentum = BatchNorm.checkMomentum(value);
  }

  get movingMean(): Tensor {
    return this.getBuffer('moving_mean');
  }
  get movingVariance(): Tensor {
    return this.getBuffer('moving_variance');
  }

  override outputShape(inputShape: Shape): Shape {
    if (inputShape.length < 2 || inputShape[inputShape.length - 1] !== this.features) {
      throw new RangeError(`BatchNorm(${this.features}): input ${formatShape(inputShape)} must end in ${this.features} channels`);
    }
    return inputShape;
  }

  override extraRepr(): string {
    return `features=${this.features}, momentum=${this.momentum}, epsilon=${this.epsilon}`;
  }

  forward(x: Tensor): Tensor {
    this.outputShape(x.shape);
    return batchNorm(x, this.gamma, this.beta, {
      training: this.training, runningMean: this.movingMean, runningVar: this.movingVariance, momentum: this.momentum, epsilon: this.epsilon,
    });
  }
}

export interface DropoutLayerOptions {
  /** Fraction of elements zeroed in training mode, in [0, 1]. */
  rate: number;
  /** Fixes the masks; without it a seed is drawn from the global generator (manualSeed). */
  seed?: number;
}

/**
 * Keras Dropout (inverted: kept values scaled by 1/(1 − rate)); the identity in eval mode.
 * Masks are a function of (seed, step, call): set `step` each training step (a resumed run then
 * draws the same masks), and every call within a step gets its own mask — a GAN's discriminator
 * run on real and on fake images drops different units, as in Keras.
 */
export class Dropout extends Module {
  readonly rate: number;
  readonly seed: number;
  private currentStep = 0;
  private callsThisStep = 0;

  constructor(options: DropoutLayerOptions) {
    super();
    if (!(options.rate >= 0 && options.rate <= 1)) throw new RangeError(`Dropout: rate must be in [0, 1], got ${options.rate}`);
    this.rate = options.rate;
    if (options.seed !== undefined) this.seed = options.seed >>> 0;
    else {
      const key = nextRandomKey();
      this.seed = deriveSeed(key.seed, key.stream);
    }
  }

  get step(): number {
    return this.currentStep;
  }
  /** Starts a new step: masks restart from this step's first. */
  set step(value: number) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`Dropout: step must be a non-negative integer, got ${value}`);
    this.currentStep = value;
    this.callsThisStep = 0;
  }

  override outputShape(inputShape: Shape): Shape {
    return inputShape;
  }

  override extraRepr(): string {
    return `rate=${this.rate}`;
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.rate === 0) return dropout(x, this.rate, { training: false });
    const call = this.callsThisStep++;
    return dropout(x, this.rate, { seed: deriveSeed(this.seed, call), step: this.currentStep >>> 0 });
  }
}

/** Keras GlobalMaxPooling2D: [N, H, W, C] → [N, C]; ties in the maximum share its gradient. */
export class GlobalMaxPool2d extends Module {
  override outputShape(inputShape: Shape): Shape {
    if (inputShape.length !== 4) throw new RangeError(`globalMaxPool2d: input must be 4-D [batch, height, width, channels], got ${formatShape(inputShape)}`);
    if (inputShape[1] * inputShape[2] === 0) throw new RangeError(`globalMaxPool2d: input ${formatShape(inputShape)} has no pixels`);
    return [inputShape[0], inputShape[3]];
  }
  forward(x: Tensor): Tensor {
    return globalMaxPool2d(x);
  }
}
