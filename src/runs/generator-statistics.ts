// A GAN generator's BatchNorm statistics recomputed for its current weights, before it is drawn
// or measured in inference mode: at the end of a run (src/runs/run.ts saves them into the
// checkpoint) and for the figures after each epoch (src/runs/epoch-figures.ts, which puts
// training's own statistics back afterwards). The averaging itself is src/nn/batchnorm-statistics.ts.

import { deriveSeed } from '../core/creation.ts';
import { recomputeBatchNormStatistics } from '../nn/batchnorm-statistics.ts';
import { Gan } from '../models/gan.ts';

/** What recomputeGeneratorStatistics did; kept in the checkpoint (extra.batchNormStatistics). */
export interface BatchNormRecompute {
  /** Batches averaged, of batchSize noise vectors each. */
  batches: number;
  batchSize: number;
  /** Noise seed. */
  seed: number;
  /** The training step of the weights they were computed for. */
  step: number;
}

/** Batches averaged for the generator's BatchNorm statistics at the end of training. */
export const BATCHNORM_BATCHES = 50;
/** Noise seed of those batches (fixed: the statistics depend on the weights only). */
export const BATCHNORM_SEED = 5150;

/**
 * Replaces the generator's BatchNorm moving statistics (an exponential average over training,
 * momentum 0.99, which lags the final weights after a short run) by the plain average of the
 * batch statistics of `batches` batches of `batchSize` fixed-seed noise vectors (for the cGAN
 * with the digits 0–9 in turn, i.e. uniform), in training mode under noGrad; the weights are
 * untouched (src/nn/batchnorm-statistics.ts). The pictures, the quality figures, `generate` and
 * `evaluate` all use inference mode, so they all see these statistics: runTraining saves them
 * into the checkpoint.
 */
export function recomputeGeneratorStatistics(gan: Gan, batches: number, batchSize: number, step: number): BatchNormRecompute {
  if (!Number.isInteger(batchSize) || batchSize < 2) {
    throw new RangeError(`recomputeGeneratorStatistics: batchSize must be a whole number ≥ 2 (a batch variance needs two samples), got ${batchSize}`);
  }
  const k = gan.config.numClasses;
  recomputeBatchNormStatistics(gan.generator, batches, (b) => {
    const labels = gan.config.conditional ? Gan.digits(Array.from({ length: batchSize }, (_, i) => (b * batchSize + i) % k)) : undefined;
    return gan.generate(gan.noise(batchSize, deriveSeed(BATCHNORM_SEED, b)), labels);
  });
  return { batches, batchSize, seed: BATCHNORM_SEED, step };
}
