// The presets the example scripts train each generative model with: the report's `seed`
// settings and the CPU-sized `quick` ones (the models and createModel: src/models/kinds.ts).

import type { ModelConfigs, ModelKind } from '../models/kinds.ts';

export type PresetName = 'quick' | 'seed';

export interface Preset<K extends ModelKind = ModelKind> {
  epochs: number;
  batchSize: number;
  /** Training images used (undefined: all 60,000). */
  limit?: number;
  /** Learning rate (undefined: the model's default). */
  lr?: number;
  /** Generated samples for the Fréchet distance and the judge's accuracy. */
  samples: number;
  /** Test digits for the VAE's test loss and reconstruction accuracy (default all 10,000). */
  evalImages?: number;
  /**
   * The model's constructor options beyond lr and seed; undefined: the seed's. GANs: widths,
   * Adam's beta1, the cGAN's matching-aware loss. VAE: the KL warm-up, the learning rate's
   * cosine decay and Adam's β1 and β2 (the model and its loss at the end are the seed's).
   */
  model?: Omit<ModelConfigs[K], 'lr' | 'seed'>;
}

/**
 * `seed` is the report's settings; `quick` is sized for a 2-core machine without a GPU, where
 * WebGPU runs on the CPU (each quick run, training and measuring, is meant to fit in 20 minutes
 * there). The quick VAE buys steps rather than images (batch 32, learning rate 3e-3): the 2-D
 * latent space needs many small steps to pull apart into digits. Its Adam has ε 1e-2 (Keras's
 * 1e-7 in the seed) and the rate is warmed up over the first 100 steps: with the seed's Adam at
 * that rate, the first few steps switch off most of the encoder's 16 ReLU units for good, and
 * the run then ends with the middle of the latent space one blur on three seeds in five. The
 * loss is the seed's from the first step. The quick GANs keep the
 * tutorial's layers with fewer channels: the generator at 1/8 (32/16/8), the discriminator at
 * 1/4 (16/32), which costs little (D is the cheap network) and teaches G faster per step than D
 * at 1/8. Both use the DCGAN paper's Adam β1 0.5, a learning rate of 5e-4 and batch 32. At full
 * width a CPU affords too few steps to draw digits. The cGAN trains half the DCGAN's epochs (a
 * step does twice the generator work and three discriminator passes) with the matching-aware
 * discriminator (GanConfig), without which it learns the requested digit far more slowly.
 * docs/models.md has the measurements behind each choice. Every preset's Fréchet distance is
 * measured on 10,000 samples.
 */
export const PRESETS: { [K in ModelKind]: Record<PresetName, Preset<K>> } = {
  vae: { quick: { epochs: 2, batchSize: 32, lr: 3e-3, limit: 16000, samples: 10000, evalImages: 2000, model: { epsilon: 1e-2, lrWarmupSteps: 100 } }, seed: { epochs: 30, batchSize: 128, samples: 10000 } },
  gan: {
    quick: { epochs: 4, batchSize: 32, limit: 36000, lr: 5e-4, samples: 10000, model: { width: 0.125, discriminatorWidth: 0.25, beta1: 0.5 } },
    seed: { epochs: 50, batchSize: 256, samples: 10000 },
  },
  cgan: {
    quick: { epochs: 2, batchSize: 32, limit: 36000, lr: 5e-4, samples: 10000, model: { width: 0.125, discriminatorWidth: 0.25, beta1: 0.5, matchingAware: true } },
    seed: { epochs: 50, batchSize: 256, samples: 10000 },
  },
};

