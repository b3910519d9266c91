// The convolution layers, Keras-shaped: Conv2d and Conv2dTranspose. Built only from core ops (no
// WGSL here). Parameter names follow Keras ('kernel', 'bias') so a checkpoint reads like a Keras one.

import { Module } from './module.ts';
import { Tensor, formatShape, type Shape } from '../core/tensor.ts';
import { conv2d, conv2dTranspose, type Padding, type Conv2dOptions } from '../core/conv-ops.ts';
import { checkActivation, type Activation } from '../kernels/activation.ts';
import { conv2dGeometry, conv2dTransposeGeometry, convInputShape, convOutputShape } from '../kernels/conv/geometry.ts';
import { glorotUniform, zeros } from './init.ts';
import { checkPositiveInteger } from './option-checks.ts';
import { KERAS_LEAKY_ALPHA } from './layers.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

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
  /** Slope of 'leakyRelu' (default KERAS_LEAKY_ALPHA). */
  alpha?: number;
  /** Fixes the kernel's initial values; without it they come from the global generator. */
  seed?: number;
}

const CONV_LAYER_OPTIONS = knownOptions<ConvLayerOptions>({
  inChannels: true, filters: true, kernelSize: true, strides: true, padding: true, useBias: true, activation: true, alpha: true, seed: true,
});

function checkConvOptions(layer: string, o: ConvLayerOptions): { k: [number, number]; s: [number, number] } {
  checkOptions(layer, o, CONV_LAYER_OPTIONS);
  checkPositiveInteger(layer, 'inChannels', o.inChannels);
  checkPositiveInteger(layer, 'filters', o.filters);
  const k: [number, number] = typeof o.kernelSize === 'number' ? [o.kernelSize, o.kernelSize] : [o.kernelSize[0], o.kernelSize[1]];
  const s: [number, number] = typeof o.strides === 'number' || o.strides === undefined
    ? [o.strides ?? 1, o.strides ?? 1]
    : [o.strides[0], o.strides[1]];
  k.forEach((v) => checkPositiveInteger(layer, 'kernelSize', v));
  s.forEach((v) => checkPositiveInteger(layer, 'strides', v));
  const padding = o.padding ?? 'valid';
  if (padding !== 'same' && padding !== 'valid') throw new RangeError(`${layer}: padding must be 'same' or 'valid', got '${padding}'`);
  checkActivation(layer, o.activation ?? 'linear');
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
