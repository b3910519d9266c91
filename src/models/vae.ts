// The seed's VAE (keras.io "Variational AutoEncoder"), layer for layer; see docs/models.md.
//
//   encoder: 28×28×1 → Conv 32 s2 → Conv 64 s2 → Flatten → Dense 16 → (zMean, zLogVar) ∈ R²
//   decoder: z → Dense 7·7·64 → Reshape → ConvT 64 s2 → ConvT 32 s2 → ConvT 1 s1 → logits 28×28×1
//
// Loss per batch = mean over images of [Σ pixels BCE(x, x̂) + Σ latent −½(1 + logσ² − μ² − σ²)].
// The BCE is computed from the decoder's logits (stable); images come from sigmoid(logits).

import { Module } from '../nn/module.ts';
import { Dense, Flatten, Reshape } from '../nn/layers.ts';
import { Conv2d, Conv2dTranspose } from '../nn/conv-layers.ts';
import { Adam } from '../nn/optim.ts';
import { cosineDecay, linearWarmup } from '../nn/schedules.ts';
import type { Tensor } from '../core/tensor.ts';
import { tidy } from '../core/scope.ts';
import { detach } from '../core/autograd.ts';
import { add, addScalar, exp, mul, mulScalar, sigmoid, square, sub, sum } from '../core/ops.ts';
import { binaryCrossEntropyWithLogits } from '../core/loss-ops.ts';
import { deriveSeed, randn } from '../core/creation.ts';
import type { Batch } from '../data/batches.ts';
import type { TrainableModel } from '../train/trainer.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

const VAE_CONFIG = knownOptions<VaeConfig>({ latentDim: true, lr: true, seed: true, klWarmupSteps: true, lrWarmupSteps: true, lrDecaySteps: true, lrFinal: true, beta1: true, beta2: true, epsilon: true });

export interface VaeConfig {
  latentDim: number;
  /** Adam learning rate (Keras default 1e-3); with lrDecaySteps, the rate it starts from. */
  lr: number;
  /** Seeds the initial weights and the sampling noise of every step. */
  seed: number;
  /**
   * KL warm-up: the KL term's weight rises linearly from 0 (first step) to 1 over this many
   * steps, and is 1 from then on, so a run longer than the warm-up ends on the seed's loss
   * (0: the seed's loss from the first step, the default). Early on, with little KL pressure, the
   * encoder can spread the digits apart in the 2-D latent space before it is pulled to N(0, I).
   */
  klWarmupSteps: number;
  /**
   * Linear warm-up of the learning rate from lr / lrWarmupSteps (first step) to lr over this many
   * steps (linearWarmup; 0: none, the default). Adam's first steps move every weight by about the
   * rate: at 2e-3 and batch 32 they switch off most of the encoder's 16 ReLU units within five
   * steps for good, and the 2-D latent space then hangs on one or two of them (docs/models.md).
   */
  lrWarmupSteps: number;
  /** Cosine decay of the learning rate from lr to lr · lrFinal over this many steps (0: constant, the default; counted from the first step, warm-up included). */
  lrDecaySteps: number;
  /** The rate at the end of lrDecaySteps, as a fraction of lr (default 0.1). */
  lrFinal: number;
  /** Adam's β1, the decay of its running mean of gradients (default 0.9, Keras's and the seed's). */
  beta1: number;
  /** Adam's β2, the decay of its running mean of squared gradients (default 0.999, Keras's and the seed's). */
  beta2: number;
  /** Adam's ε, added to the root of the running mean of squared gradients (default 1e-7, Keras's and the seed's). */
  epsilon: number;
}

export const VAE_DEFAULTS: VaeConfig = { latentDim: 2, lr: 1e-3, seed: 0, klWarmupSteps: 0, lrWarmupSteps: 0, lrDecaySteps: 0, lrFinal: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/** The KL term's weight at `step` (0 for the first) under a warm-up of `warmupSteps`. */
export function klWeight(step: number, warmupSteps: number): number {
  return warmupSteps > 0 ? Math.min(1, step / warmupSteps) : 1;
}

export class VaeEncoder extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly flatten = new Flatten();
  readonly dense: Dense;
  readonly zMean: Dense;
  readonly zLogVar: Dense;

  constructor(latentDim: number, seed: number) {
    super();
    const s = (i: number) => deriveSeed(seed, 1, i);
    this.conv1 = this.addModule('conv1', new Conv2d({ inChannels: 1, filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', seed: s(1) }));
    this.conv2 = this.addModule('conv2', new Conv2d({ inChannels: 32, filters: 64, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', seed: s(2) }));
    this.dense = this.addModule('dense', new Dense({ inFeatures: 7 * 7 * 64, units: 16, activation: 'relu', seed: s(3) }));
    this.zMean = this.addModule('z_mean', new Dense({ inFeatures: 16, units: latentDim, seed: s(4) }));
    this.zLogVar = this.addModule('z_log_var', new Dense({ inFeatures: 16, units: latentDim, seed: s(5) }));
  }

  /** Both heads: the posterior's mean and log-variance, [B, latentDim] each. */
  encode(x: Tensor): { zMean: Tensor; zLogVar: Tensor } {
    const h = this.dense.forward(this.flatten.forward(this.conv2.forward(this.conv1.forward(x))));
    return { zMean: this.zMean.forward(h), zLogVar: this.zLogVar.forward(h) };
  }

  /** The mean head alone (what the latent-space scatter plots). */
  forward(x: Tensor): Tensor {
    return this.encode(x).zMean;
  }
}

export class VaeDecoder extends Module {
  readonly dense: Dense;
  readonly reshape = new Reshape([7, 7, 64]);
  readonly deconv1: Conv2dTranspose;
  readonly deconv2: Conv2dTranspose;
  readonly deconv3: Conv2dTranspose;

  constructor(latentDim: number, seed: number) {
    super();
    const s = (i: number) => deriveSeed(seed, 2, i);
    this.dense = this.addModule('dense', new Dense({ inFeatures: latentDim, units: 7 * 7 * 64, activation: 'relu', seed: s(1) }));
    this.deconv1 = this.addModule('deconv1', new Conv2dTranspose({ inChannels: 64, filters: 64, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', seed: s(2) }));
    this.deconv2 = this.addModule('deconv2', new Conv2dTranspose({ inChannels: 64, filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', seed: s(3) }));
    this.deconv3 = this.addModule('deconv3', new Conv2dTranspose({ inChannels: 32, filters: 1, kernelSize: 3, strides: 1, padding: 'same', seed: s(4) }));
  }

  /** Pre-sigmoid outputs [B, 28, 28, 1]: the loss wants these. */
  logits(z: Tensor): Tensor {
    return this.deconv3.forward(this.deconv2.forward(this.deconv1.forward(this.reshape.forward(this.dense.forward(z)))));
  }

  /** Images in [0, 1]. */
  forward(z: Tensor): Tensor {
    return sigmoid(this.logits(z));
  }
}

export interface VaeLossTerms {
  loss: Tensor;
  reconstruction: Tensor;
  kl: Tensor;
}

export class Vae implements TrainableModel {
  readonly name = 'vae';
  readonly config: VaeConfig;
  readonly encoder: VaeEncoder;
  readonly decoder: VaeDecoder;
  readonly optimizer: Adam;
  readonly lossNames = ['loss', 'reconstruction', 'kl'] as const;

  constructor(config: Partial<VaeConfig> = {}) {
    checkOptions('Vae', config, VAE_CONFIG);
    this.config = { ...VAE_DEFAULTS, ...config };
    const c = this.config;
    for (const key of ['klWarmupSteps', 'lrWarmupSteps', 'lrDecaySteps'] as const) {
      if (!Number.isInteger(c[key]) || c[key] < 0) throw new RangeError(`Vae: ${key} must be a whole number of steps ≥ 0, got ${c[key]}`);
    }
    if (typeof c.epsilon !== 'number' || !(c.epsilon > 0 && Number.isFinite(c.epsilon))) throw new RangeError(`Vae: epsilon must be a positive number, got ${String(c.epsilon)}`);
    if (!(c.lrFinal > 0 && c.lrFinal <= 1)) throw new RangeError(`Vae: lrFinal must be in (0, 1], got ${c.lrFinal}`);
    for (const key of ['beta1', 'beta2'] as const) {
      if (typeof c[key] !== 'number' || !(c[key] >= 0 && c[key] < 1)) throw new RangeError(`Vae: ${key} must be a number in [0, 1), got ${String(c[key])}`);
    }
    this.encoder = new VaeEncoder(this.config.latentDim, this.config.seed);
    this.decoder = new VaeDecoder(this.config.latentDim, this.config.seed);
    // One optimizer over both halves, as the keras.io example's single model.
    const rate = c.lrDecaySteps > 0 ? cosineDecay({ initialLr: c.lr, decaySteps: c.lrDecaySteps, alpha: c.lrFinal }) : c.lr;
    this.optimizer = new Adam([
      ...this.encoder.namedParameters('encoder.'),
      ...this.decoder.namedParameters('decoder.'),
    ], { lr: c.lrWarmupSteps > 0 ? linearWarmup({ lr: rate, warmupSteps: c.lrWarmupSteps, startFactor: 1 / c.lrWarmupSteps }) : rate, beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon });
  }

  get modules(): Record<string, Module> {
    return { encoder: this.encoder, decoder: this.decoder };
  }

  get optimizers(): Record<string, Adam> {
    return { vae: this.optimizer };
  }

  /**
   * The negative ELBO of a batch (per image, averaged), with the reparameterised sample drawn
   * from `noiseSeed`: z = μ + exp(½ logσ²) · ε.
   */
  lossTerms(x: Tensor, noiseSeed: number): VaeLossTerms {
    const batch = x.shape[0];
    const { zMean, zLogVar } = this.encoder.encode(x);
    const eps = randn(zMean.shape, { seed: noiseSeed });
    const z = add(zMean, mul(exp(mulScalar(zLogVar, 0.5)), eps));
    const logits = this.decoder.logits(z);
    const reconstruction = mulScalar(binaryCrossEntropyWithLogits(logits, x, { reduction: 'sum' }), 1 / batch);
    // −½ Σ (1 + logσ² − μ² − σ²), averaged over the batch
    const klTerms = sub(sub(addScalar(zLogVar, 1), square(zMean)), exp(zLogVar));
    const kl = mulScalar(sum(klTerms), -0.5 / batch);
    return { loss: add(reconstruction, kl), reconstruction, kl };
  }

  trainStep(batch: Batch, step: number): Tensor[] {
    return tidy(() => {
      this.optimizer.zeroGrad();
      const { loss, reconstruction, kl } = this.lossTerms(batch.x, deriveSeed(this.config.seed, 100, step));
      // During a KL warm-up the gradient is the weighted loss's; the losses logged are the −ELBO's.
      const w = klWeight(step, this.config.klWarmupSteps);
      (w === 1 ? loss : add(reconstruction, mulScalar(kl, w))).backward();
      this.optimizer.step();
      return [detach(loss), detach(reconstruction), detach(kl)];
    });
  }

  /** Decoded images in [0, 1] for latent points z [B, latentDim]. */
  decode(z: Tensor): Tensor {
    return this.decoder.forward(z);
  }

  train(): void {
    this.encoder.train();
    this.decoder.train();
  }

  eval(): void {
    this.encoder.eval();
    this.decoder.eval();
  }

  dispose(): void {
    this.optimizer.dispose();
    this.encoder.dispose();
    this.decoder.dispose();
  }
}
