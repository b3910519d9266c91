// The seed's DCGAN (TensorFlow's DCGAN tutorial) and its conditional variant; see
// docs/models.md for every layer. Images live in [−1, 1] (tanh output).
//
//   generator:     noise(100) [+ one-hot(10)] → Dense 7·7·256 (no bias) → BN → LeakyReLU → Reshape
//                  → ConvT 128 5×5 s1 → BN → LReLU → ConvT 64 5×5 s2 → BN → LReLU → ConvT 1 5×5 s2 tanh
//   discriminator: 28×28×1 [+ 10 label planes] → Conv 64 5×5 s2 → LReLU → Dropout 0.3
//                  → Conv 128 5×5 s2 → LReLU → Dropout 0.3 → Flatten → Dense 1 (a logit)
//
// LeakyReLU slope 0.3 (tf.keras 2's default, which the tutorial used), fused into the convs.

import { Module } from '../nn/module.ts';
import { Dense, Flatten, LeakyReLU, Reshape, KERAS_LEAKY_ALPHA } from '../nn/layers.ts';
import { Conv2d, Conv2dTranspose } from '../nn/conv-layers.ts';
import { Dropout } from '../nn/dropout.ts';
import { BatchNorm } from '../nn/batchnorm.ts';
import { Adam } from '../nn/optim.ts';
import type { Tensor } from '../core/tensor.ts';
import { tidy } from '../core/scope.ts';
import { detach, noGrad } from '../core/autograd.ts';
import { add, mulScalar, reshape } from '../core/ops.ts';
import { broadcastTo, concat, oneHot } from '../core/shape-ops.ts';
import { binaryCrossEntropyWithLogits } from '../core/loss-ops.ts';
import { deriveSeed, randn, tensor } from '../core/creation.ts';
import type { Batch } from '../data/batches.ts';
import type { TrainableModel } from '../train/trainer.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

const GAN_CONFIG = knownOptions<GanConfig>({ noiseDim: true, lr: true, beta1: true, width: true, discriminatorWidth: true, conditional: true, matchingAware: true, numClasses: true, seed: true });

export interface GanConfig {
  noiseDim: number;
  /** Adam learning rate of each network (the tutorial: 1e-4). */
  lr: number;
  /** Adam's β1 for both networks (the tutorial: Keras's 0.9; the DCGAN paper: 0.5). */
  beta1: number;
  /**
   * Channel multiplier of every convolution and of the generator's dense layer (1: the
   * tutorial's 256/128/64 and 64/128). Tests train narrow copies; the presets keep 1.
   */
  width: number;
  /** The discriminator's own channel multiplier (default: `width`): D costs a step far less than G. */
  discriminatorWidth?: number;
  /** Conditional: the generator and discriminator also see the digit. */
  conditional: boolean;
  /**
   * cGAN only: a matching-aware discriminator (Reed et al., 2016, "Generative Adversarial Text
   * to Image Synthesis"). Phase 1 also shows D real images with a wrong digit, as fakes, so D
   * must check that image and digit agree rather than learn it only through G's mistakes; its
   * loss is BCE(D(x, y), 1) + ½·[BCE(D(G(z, y), y), 0) + BCE(D(x, y′), 0)], y′ ≠ y. Same
   * layers; one more D pass per step. false: the seed's (the tutorial's) loss.
   */
  matchingAware: boolean;
  numClasses: number;
  seed: number;
}

export const GAN_DEFAULTS: GanConfig = { noiseDim: 100, lr: 1e-4, beta1: 0.9, width: 1, conditional: false, matchingAware: false, numClasses: 10, seed: 0 };

/** The tutorial's channel counts scaled by `width` (D's by `discriminatorWidth`; at least one channel each). */
export function ganChannels(width: number, discriminatorWidth = width): { g: [number, number, number]; d: [number, number] } {
  for (const [name, w] of [['width', width], ['discriminatorWidth', discriminatorWidth]] as const) {
    if (!(w > 0) || !Number.isFinite(w)) throw new RangeError(`GAN ${name} must be a positive number, got ${w}`);
  }
  const c = (n: number, w: number) => Math.max(1, Math.round(n * w));
  return { g: [c(256, width), c(128, width), c(64, width)], d: [c(64, discriminatorWidth), c(128, discriminatorWidth)] };
}

export class Generator extends Module {
  readonly dense: Dense;
  readonly bn0: BatchNorm;
  readonly act = new LeakyReLU({ alpha: KERAS_LEAKY_ALPHA });
  readonly reshape: Reshape;
  readonly deconv1: Conv2dTranspose;
  readonly bn1: BatchNorm;
  readonly deconv2: Conv2dTranspose;
  readonly bn2: BatchNorm;
  readonly deconv3: Conv2dTranspose;

  constructor(inFeatures: number, seed: number, width = 1) {
    super();
    const s = (i: number) => deriveSeed(seed, 3, i);
    const [c0, c1, c2] = ganChannels(width).g;
    this.dense = this.addModule('dense', new Dense({ inFeatures, units: 7 * 7 * c0, useBias: false, seed: s(1) }));
    this.bn0 = this.addModule('bn0', new BatchNorm({ features: 7 * 7 * c0 }));
    this.reshape = new Reshape([7, 7, c0]);
    this.deconv1 = this.addModule('deconv1', new Conv2dTranspose({ inChannels: c0, filters: c1, kernelSize: 5, strides: 1, padding: 'same', useBias: false, seed: s(2) }));
    this.bn1 = this.addModule('bn1', new BatchNorm({ features: c1 }));
    this.deconv2 = this.addModule('deconv2', new Conv2dTranspose({ inChannels: c1, filters: c2, kernelSize: 5, strides: 2, padding: 'same', useBias: false, seed: s(3) }));
    this.bn2 = this.addModule('bn2', new BatchNorm({ features: c2 }));
    this.deconv3 = this.addModule('deconv3', new Conv2dTranspose({ inChannels: c2, filters: 1, kernelSize: 5, strides: 2, padding: 'same', useBias: false, activation: 'tanh', seed: s(4) }));
  }

  /** Noise (with the one-hot label appended, for the cGAN) [B, in] → images [B, 28, 28, 1] in [−1, 1]. */
  forward(input: Tensor): Tensor {
    let h = this.act.forward(this.bn0.forward(this.dense.forward(input)));
    h = this.reshape.forward(h);
    h = this.act.forward(this.bn1.forward(this.deconv1.forward(h)));
    h = this.act.forward(this.bn2.forward(this.deconv2.forward(h)));
    return this.deconv3.forward(h);
  }
}

export class Discriminator extends Module {
  readonly conv1: Conv2d;
  readonly drop1: Dropout;
  readonly conv2: Conv2d;
  readonly drop2: Dropout;
  readonly flatten = new Flatten();
  readonly dense: Dense;

  constructor(inChannels: number, seed: number, width = 1) {
    super();
    const s = (i: number) => deriveSeed(seed, 4, i);
    const [c1, c2] = ganChannels(width).d;
    const leaky = { activation: 'leakyRelu', alpha: KERAS_LEAKY_ALPHA } as const;
    this.conv1 = this.addModule('conv1', new Conv2d({ inChannels, filters: c1, kernelSize: 5, strides: 2, padding: 'same', ...leaky, seed: s(1) }));
    this.drop1 = this.addModule('drop1', new Dropout({ rate: 0.3, seed: s(2) }));
    this.conv2 = this.addModule('conv2', new Conv2d({ inChannels: c1, filters: c2, kernelSize: 5, strides: 2, padding: 'same', ...leaky, seed: s(3) }));
    this.drop2 = this.addModule('drop2', new Dropout({ rate: 0.3, seed: s(4) }));
    this.dense = this.addModule('dense', new Dense({ inFeatures: 7 * 7 * c2, units: 1, seed: s(5) }));
  }

  /** Images (with label planes, for the cGAN) [B, 28, 28, C] → logits [B, 1]. */
  forward(x: Tensor): Tensor {
    const h = this.drop2.forward(this.conv2.forward(this.drop1.forward(this.conv1.forward(x))));
    return this.dense.forward(this.flatten.forward(h));
  }

  /** Dropout masks are a function of (seed, step): set the step before each training forward. */
  setStep(step: number): void {
    this.drop1.step = step;
    this.drop2.step = step;
  }
}

export class Gan implements TrainableModel {
  readonly name: 'gan' | 'cgan';
  readonly config: GanConfig;
  readonly generator: Generator;
  readonly discriminator: Discriminator;
  readonly gOptimizer: Adam;
  readonly dOptimizer: Adam;
  readonly lossNames = ['discriminator', 'generator'] as const;

  constructor(config: Partial<GanConfig> = {}) {
    checkOptions('Gan', config, GAN_CONFIG);
    this.config = { ...GAN_DEFAULTS, ...config };
    const { noiseDim, numClasses, conditional, seed, lr, beta1, width } = this.config;
    if (this.config.matchingAware && !conditional) {
      throw new RangeError('GAN: matchingAware applies to the conditional GAN only (there are no digits to mismatch)');
    }
    if (this.config.matchingAware && numClasses < 2) throw new RangeError(`GAN: matchingAware needs at least 2 classes, got ${numClasses}`);
    this.name = conditional ? 'cgan' : 'gan';
    this.generator = new Generator(noiseDim + (conditional ? numClasses : 0), seed, width);
    this.discriminator = new Discriminator(1 + (conditional ? numClasses : 0), seed, this.config.discriminatorWidth ?? width);
    this.gOptimizer = new Adam(this.generator, { lr, beta1 });
    this.dOptimizer = new Adam(this.discriminator, { lr, beta1 });
  }

  get modules(): Record<string, Module> {
    return { generator: this.generator, discriminator: this.discriminator };
  }

  get optimizers(): Record<string, Adam> {
    return { generator: this.gOptimizer, discriminator: this.dOptimizer };
  }

  /** Gaussian noise [count, noiseDim] from a seed. */
  noise(count: number, seed: number): Tensor {
    return randn([count, this.config.noiseDim], { seed });
  }

  /** Generator input: noise, with the one-hot digit appended for the cGAN. */
  private generatorInput(noise: Tensor, labels?: Tensor): Tensor {
    if (!this.config.conditional) return noise;
    if (!labels) throw new Error('the conditional GAN needs the digits to generate (labels)');
    return concat([noise, oneHot(labels, this.config.numClasses)], 1);
  }

  /** Discriminator input: images, with each digit's one-hot value as 10 extra planes for the cGAN. */
  private discriminatorInput(images: Tensor, labels?: Tensor): Tensor {
    if (!this.config.conditional) return images;
    if (!labels) throw new Error('the conditional GAN discriminator needs the labels of the images');
    const [b, h, w] = images.shape;
    const k = this.config.numClasses;
    const planes = broadcastTo(reshape(oneHot(labels, k), [b, 1, 1, k]), [b, h, w, k]);
    return concat([images, planes], 3);
  }

  /** Images in [−1, 1] from noise (and digits, for the cGAN). */
  generate(noise: Tensor, labels?: Tensor): Tensor {
    return this.generator.forward(this.generatorInput(noise, labels));
  }

  /** Discriminator logits for images (and their digits, for the cGAN). */
  discriminate(images: Tensor, labels?: Tensor): Tensor {
    return this.discriminator.forward(this.discriminatorInput(images, labels));
  }

  trainStep(batch: Batch, step: number): Tensor[] {
    return this.config.conditional ? this.conditionalStep(batch, step) : this.dcganStep(batch, step);
  }

  /**
   * The tutorial's step: generate once, run D on real and fake, and update both networks from
   * that one forward pass — each from its own loss (backward restricted to its own parameters).
   */
  private dcganStep(batch: Batch, step: number): Tensor[] {
    return tidy(() => {
      const seed = this.config.seed;
      this.discriminator.setStep(step);
      this.gOptimizer.zeroGrad();
      this.dOptimizer.zeroGrad();
      const fake = this.generate(this.noise(batch.size, deriveSeed(seed, 200, step)));
      const realLogits = this.discriminate(batch.x);
      const fakeLogits = this.discriminate(fake);
      const dLoss = add(binaryCrossEntropyWithLogits(realLogits, 1), binaryCrossEntropyWithLogits(fakeLogits, 0));
      const gLoss = binaryCrossEntropyWithLogits(fakeLogits, 1);
      gLoss.backward(undefined, { inputs: this.generator.parameters() });
      dLoss.backward(undefined, { inputs: this.discriminator.parameters() });
      this.gOptimizer.step();
      this.dOptimizer.step();
      return [detach(dLoss), detach(gLoss)];
    });
  }

  /**
   * The seed's two phases: (1) update D on real and generated images with their labels (and,
   * matching-aware, on real images with wrong digits); (2) update G through D with D frozen (its
   * gradients are never applied; its BatchNorm-free layers and Dropout still run in training
   * mode), on fresh noise and random digits.
   */
  private conditionalStep(batch: Batch, step: number): Tensor[] {
    const seed = this.config.seed;
    const dLoss = tidy(() => {
      this.discriminator.setStep(2 * step);
      this.dOptimizer.zeroGrad();
      // D's update needs G's images, not a tape through G (BatchNorm still runs in training mode).
      const fake = noGrad(() => this.generate(this.noise(batch.size, deriveSeed(seed, 300, step)), batch.y));
      const realLoss = binaryCrossEntropyWithLogits(this.discriminate(batch.x, batch.y), 1);
      const fakeLoss = binaryCrossEntropyWithLogits(this.discriminate(fake, batch.y), 0);
      const loss = this.config.matchingAware
        ? add(realLoss, mulScalar(add(fakeLoss, binaryCrossEntropyWithLogits(this.discriminate(batch.x, this.wrongDigits(batch, step)), 0)), 0.5))
        : add(realLoss, fakeLoss);
      loss.backward(undefined, { inputs: this.discriminator.parameters() });
      this.dOptimizer.step();
      return detach(loss);
    });
    const gLoss = tidy(() => {
      this.discriminator.setStep(2 * step + 1);
      this.gOptimizer.zeroGrad();
      const labels = this.randomDigits(batch.size, deriveSeed(seed, 301, step));
      const fake = this.generate(this.noise(batch.size, deriveSeed(seed, 302, step)), labels);
      const loss = binaryCrossEntropyWithLogits(this.discriminate(fake, labels), 1);
      loss.backward(undefined, { inputs: this.generator.parameters() });
      this.gOptimizer.step();
      return detach(loss);
    });
    return [dLoss, gLoss];
  }

  /**
   * For each image a digit other than its own, uniformly among the other numClasses − 1:
   * (y + 1 + deriveSeed(deriveSeed(seed, 303, step), i) mod (k − 1)) mod k. Drawn on the host
   * from the batch's digits.
   */
  wrongDigits(batch: Batch, step: number): Tensor {
    const k = this.config.numClasses;
    const labels = batch.labels;
    if (!labels || labels.length !== batch.size) {
      throw new Error(`the matching-aware cGAN needs the batch's digits on the host (Batch.labels, ${batch.size} of them), as MnistGpu's batches carry`);
    }
    const seed = deriveSeed(this.config.seed, 303, step);
    return Gan.digits(Array.from(labels, (y, i) => (y + 1 + (deriveSeed(seed, i) % (k - 1))) % k));
  }

  /** Uniformly random digits [count] (i32), from a seed (drawn on the host: a few bytes). */
  randomDigits(count: number, seed: number): Tensor {
    const k = this.config.numClasses;
    return Gan.digits(Array.from({ length: count }, (_, i) => deriveSeed(seed, i) % k));
  }

  /** Digits as an i32 tensor (the cGAN's labels). */
  static digits(values: readonly number[]): Tensor {
    return tensor(values, [values.length], { dtype: 'i32' });
  }

  train(): void {
    this.generator.train();
    this.discriminator.train();
  }

  eval(): void {
    this.generator.eval();
    this.discriminator.eval();
  }

  dispose(): void {
    this.gOptimizer.dispose();
    this.dOptimizer.dispose();
    this.generator.dispose();
    this.discriminator.dispose();
  }
}
