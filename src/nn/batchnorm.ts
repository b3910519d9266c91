// Keras's BatchNormalization layer, over the last (channel) axis. Its parameters and buffers keep
// Keras's names ('gamma', 'beta', 'moving_mean', 'moving_variance'); the moving statistics are
// module buffers, so checkpoints carry them, and train()/eval() switches the mode.

import { Module } from './module.ts';
import { formatShape, type Tensor, type Shape } from '../core/tensor.ts';
import { batchNorm } from '../core/batchnorm-ops.ts';
import { ones, zeros } from './init.ts';
import { checkPositiveInteger } from './option-checks.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

const BATCHNORM_LAYER_OPTIONS = knownOptions<BatchNormLayerOptions>({ features: true, momentum: true, epsilon: true });

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
 * mode normalises with the batch's statistics and updates the moving ones (the batchNorm op);
 * eval mode uses the moving statistics.
 */
export class BatchNorm extends Module {
  readonly features: number;
  private currentMomentum: number;
  readonly epsilon: number;
  readonly gamma: Tensor;
  readonly beta: Tensor;

  constructor(options: BatchNormLayerOptions) {
    checkOptions('BatchNorm', options, BATCHNORM_LAYER_OPTIONS);
    super();
    checkPositiveInteger('BatchNorm', 'features', options.features);
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
