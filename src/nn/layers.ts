// Layers as Keras names them, built only from core ops (no WGSL here). Dense keeps Keras's
// parameter names ('kernel' [in, out], 'bias' [out]) so a checkpoint reads like a Keras one.

import { Module } from './module.ts';
import { Tensor, formatShape, shapeSize, type Shape } from '../core/tensor.ts';
import { linear, relu, leakyRelu, sigmoid, tanh, reshape, flatten, globalMaxPool2d } from '../core/ops.ts';
import { checkPositiveInteger } from './option-checks.ts';
import { softmax } from '../core/softmax-ops.ts';
import { checkActivation, type Activation } from '../kernels/activation.ts';
import { glorotUniform, zeros } from './init.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

/**
 * The leaky-ReLU slope of the layers when none is given: 0.3, the default of Keras's LeakyReLU
 * layer (`alpha` in tf.keras 2, `negative_slope` in Keras 3: both 0.3) and of TensorFlow.js's
 * tf.layers.leakyReLU; the seed's DCGAN used it. It is also the default of the leakyRelu fused
 * into Dense, Conv2d and Conv2dTranspose, so that fusing the activation into a layer never
 * changes its slope: Dense({ activation: 'leakyRelu' }) computes what Dense then LeakyReLU() does.
 * The ops (src/core/ops.ts) default to 0.2 instead (OP_LEAKY_ALPHA), as keras.ops.leaky_relu,
 * tf.nn.leaky_relu and TensorFlow.js's tf.leakyRelu do: the same split as Keras and
 * TensorFlow.js. (Keras 3's Dense(activation='leaky_relu') would apply the function's 0.2; ours
 * keeps the layer's 0.3 for the reason above.) PyTorch's 0.01 is the default of neither: pass it.
 */
export const KERAS_LEAKY_ALPHA = 0.3;

export interface DenseOptions {
  inFeatures: number;
  units: number;
  /** Fused into the matmul's write (default 'linear'). */
  activation?: Activation;
  useBias?: boolean;
  /** Slope of 'leakyRelu' (default KERAS_LEAKY_ALPHA). */
  alpha?: number;
  /** Fixes the kernel's initial values; without it they come from the global generator. */
  seed?: number;
}

/**
 * activation(x · kernel + bias) over the last axis of x (any leading dimensions), in one fused
 * kernel. Kernel Glorot-uniform, bias zeros, as Keras.
 */
const DENSE_OPTIONS = knownOptions<DenseOptions>({ inFeatures: true, units: true, activation: true, useBias: true, alpha: true, seed: true });
const LEAKY_RELU_OPTIONS = knownOptions<{ alpha?: number }>({ alpha: true });

export class Dense extends Module {
  readonly inFeatures: number;
  readonly units: number;
  readonly activation: Activation;
  readonly alpha: number;
  readonly kernel: Tensor;
  readonly bias: Tensor | null;

  constructor(options: DenseOptions) {
    checkOptions('Dense', options, DENSE_OPTIONS);
    super();
    const { inFeatures, units, activation = 'linear', useBias = true, alpha = KERAS_LEAKY_ALPHA, seed } = options;
    checkPositiveInteger('Dense', 'inFeatures', inFeatures);
    checkPositiveInteger('Dense', 'units', units);
    checkActivation('Dense', activation);
    if (!Number.isFinite(alpha)) throw new RangeError(`Dense: alpha must be a finite number, got ${alpha}`);
    this.inFeatures = inFeatures;
    this.units = units;
    this.activation = activation;
    this.alpha = alpha;
    this.kernel = this.addParameter('kernel', glorotUniform(inFeatures, units, [inFeatures, units], seed));
    this.bias = useBias ? this.addParameter('bias', zeros([units])) : null;
  }

  override outputShape(inputShape: Shape): Shape {
    if (inputShape.length < 1 || inputShape[inputShape.length - 1] !== this.inFeatures) {
      throw new RangeError(`Dense(${this.inFeatures} → ${this.units}): input ${formatShape(inputShape)} must end in ${this.inFeatures} features`);
    }
    return [...inputShape.slice(0, -1), this.units];
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, units=${this.units}, activation='${this.activation}'` +
      (this.bias ? '' : ', useBias=false') + (this.activation === 'leakyRelu' ? `, alpha=${this.alpha}` : '');
  }

  forward(x: Tensor): Tensor {
    this.outputShape(x.shape);
    if (x.rank === 2) return linear(x, this.kernel, this.bias ?? undefined, this.activation, this.alpha);
    const lead = x.shape.slice(0, -1);
    const y = linear(reshape(x, [-1, this.inFeatures]), this.kernel, this.bias ?? undefined, this.activation, this.alpha);
    return reshape(y, [...lead, this.units]);
  }
}

export class ReLU extends Module {
  override outputShape(inputShape: Shape): Shape {
    return inputShape;
  }
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class LeakyReLU extends Module {
  readonly alpha: number;
  /** `alpha`: the slope below zero (default KERAS_LEAKY_ALPHA). */
  constructor(options: { alpha?: number } = {}) {
    checkOptions('LeakyReLU', options, LEAKY_RELU_OPTIONS);
    super();
    this.alpha = options.alpha ?? KERAS_LEAKY_ALPHA;
    if (!Number.isFinite(this.alpha)) throw new RangeError(`LeakyReLU: alpha must be a finite number, got ${this.alpha}`);
  }
  override outputShape(inputShape: Shape): Shape {
    return inputShape;
  }
  override extraRepr(): string {
    return `alpha=${this.alpha}`;
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.alpha);
  }
}

export class Sigmoid extends Module {
  override outputShape(inputShape: Shape): Shape {
    return inputShape;
  }
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Tanh extends Module {
  override outputShape(inputShape: Shape): Shape {
    return inputShape;
  }
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** Softmax over the last axis (for probabilities at inference; train on logits with crossEntropy). */
export class Softmax extends Module {
  override outputShape(inputShape: Shape): Shape {
    if (inputShape.length < 1) throw new RangeError(`Softmax needs at least one axis, got ${formatShape(inputShape)}`);
    return inputShape;
  }
  forward(x: Tensor): Tensor {
    return softmax(x);
  }
}

/** [B, ...] → [B, product of the rest] (no copy). */
export class Flatten extends Module {
  override outputShape(inputShape: Shape): Shape {
    if (inputShape.length < 1) throw new RangeError(`flatten needs a batch dimension, got ${formatShape(inputShape)}`);
    return [inputShape[0], shapeSize(inputShape.slice(1))];
  }
  forward(x: Tensor): Tensor {
    return flatten(x);
  }
}

/** [B, ...] → [B, ...targetShape] (no copy); targetShape excludes the batch and may hold one −1. */
export class Reshape extends Module {
  readonly targetShape: readonly number[];
  constructor(targetShape: readonly number[]) {
    super();
    if (targetShape.filter((d) => d === -1).length > 1 || targetShape.some((d) => !Number.isInteger(d) || (d < 1 && d !== -1))) {
      throw new RangeError(`Reshape: target shape ${formatShape(targetShape)} must hold positive integers and at most one -1`);
    }
    this.targetShape = Object.freeze([...targetShape]);
  }
  override outputShape(inputShape: Shape): Shape {
    if (inputShape.length < 1) throw new RangeError(`Reshape needs a batch dimension, got ${formatShape(inputShape)}`);
    const [batch, ...rest] = inputShape;
    const size = shapeSize(rest);
    const known = shapeSize(this.targetShape.filter((d) => d !== -1));
    const fits = this.targetShape.includes(-1) ? known > 0 && size % known === 0 : known === size;
    if (!fits) throw new RangeError(`reshape: cannot reshape ${formatShape(inputShape)} into ${formatShape([batch, ...this.targetShape])}`);
    return [batch, ...this.targetShape.map((d) => (d === -1 ? size / known : d))];
  }
  override extraRepr(): string {
    return `targetShape=${formatShape(this.targetShape)}`;
  }
  forward(x: Tensor): Tensor {
    if (x.rank < 1) throw new RangeError(`Reshape needs a batch dimension, got ${formatShape(x.shape)}`);
    return reshape(x, [x.shape[0], ...this.targetShape]);
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
