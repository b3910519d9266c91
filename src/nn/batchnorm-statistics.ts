// BatchNorm's moving statistics recomputed from the finished network, before it is sampled.
//
// During training, every BatchNorm layer keeps an exponential moving average of its batch
// statistics (momentum 0.99, as Keras): after n steps, the weight of the statistics from before
// the last ~100 steps is 0.99ⁿ⁰⁰… of a network that has since changed. A short GAN run has
// averages that lag its generator (and still remember the initial mean 0 / variance 1), so
// inference mode — which normalises with the moving statistics — draws from a network that
// never existed. Recomputing them once training is done makes inference mode describe the final
// weights: the plain average, over N batches pushed through the network in training mode, of
// each layer's batch mean and biased batch variance (what the op keeps in training mode; see
// src/core/conv-ops.ts batchNorm). That is a cumulative average, which the op's own update
// computes when the k-th batch (k = 1, 2, …) uses momentum (k − 1)/k:
//   moving_k = (k − 1)/k · moving_{k−1} + 1/k · batch_k  =  (batch_1 + … + batch_k)/k.
// (PyTorch's torch.optim.swa_utils.update_bn does the same with momentum=None.)
//
// Only the BatchNorm layers run in training mode here: Dropout and everything else stay in
// inference mode, so each layer sees the inputs it will see when the network is sampled. Nothing
// is recorded for backward and no parameter changes; training modes and momenta are restored.
//
// To measure a network in the middle of training (figures after each epoch) without changing
// what training goes on from, keepBatchNormStatistics copies the moving statistics first and
// gives back a function that puts them back.

import { Module } from './module.ts';
import { BatchNorm } from './batchnorm.ts';
import { zeros, ones } from './init.ts';
import type { Tensor } from '../core/tensor.ts';
import { noGrad } from '../core/autograd.ts';
import { keep, tidy } from '../core/scope.ts';
import { copyBuffer, flush } from '../core/dispatch.ts';

/** Every BatchNorm layer of `module` (itself included), in definition order. */
export function batchNormLayers(module: Module): BatchNorm[] {
  const all = [module, ...module.namedModules().map(([, m]) => m)];
  return all.filter((m): m is BatchNorm => m instanceof BatchNorm);
}

/**
 * Replaces the moving mean and variance of every BatchNorm layer in `module` by the average of
 * the batch statistics of `batches` forward passes: `forward(k)` (k = 0 … batches − 1) runs the
 * network on the k-th batch (make the inputs inside it; whatever it creates or returns is
 * disposed). Returns the number of BatchNorm layers updated. Throws when `batches` is not a
 * positive integer or the module has no BatchNorm layer. The work is queued on the GPU; read the
 * statistics (or save a checkpoint) to wait for it.
 */
export function recomputeBatchNormStatistics(module: Module, batches: number, forward: (batch: number) => Tensor | Tensor[] | void): number {
  if (!(module instanceof Module)) throw new TypeError('recomputeBatchNormStatistics: the first argument must be a Module');
  if (!Number.isInteger(batches) || batches < 1) {
    throw new RangeError(`recomputeBatchNormStatistics: batches must be a positive integer, got ${batches}`);
  }
  if (typeof forward !== 'function') throw new TypeError('recomputeBatchNormStatistics: forward must be a function (batch index) => output');
  const layers = batchNormLayers(module);
  if (layers.length === 0) {
    throw new Error(`recomputeBatchNormStatistics: ${module.constructor.name} has no BatchNorm layer, so there are no statistics to recompute`);
  }
  const modules = [module, ...module.namedModules().map(([, m]) => m)];
  const modes = modules.map((m) => m.training);
  const momenta = layers.map((l) => l.momentum);
  try {
    // The first batch uses momentum 0, which overwrites the old values; they are reset anyway so
    // that a NaN or infinity left by a diverged run cannot survive as 0·NaN.
    const fresh: Tensor[] = [];
    for (const layer of layers) {
      const mean = zeros([layer.features]);
      const variance = ones([layer.features]);
      fresh.push(mean, variance);
      copyBuffer(mean.gpu.buffer, 0, layer.movingMean.gpu.buffer, 0, 4 * layer.features);
      copyBuffer(variance.gpu.buffer, 0, layer.movingVariance.gpu.buffer, 0, 4 * layer.features);
    }
    flush(); // the copies are submitted before their sources go back to the pool
    for (const t of fresh) t.dispose();

    for (const m of modules) m.training = false;
    for (const layer of layers) layer.training = true;
    for (let k = 0; k < batches; k++) {
      for (const layer of layers) layer.momentum = k / (k + 1);
      noGrad(() =>
        tidy(() => {
          forward(k);
        }),
      );
    }
  } finally {
    modules.forEach((m, i) => {
      m.training = modes[i]!;
    });
    layers.forEach((l, i) => {
      l.momentum = momenta[i]!;
    });
  }
  return layers.length;
}

/**
 * Copies the moving mean and variance of every BatchNorm layer in `module` (on the GPU) and
 * returns a function that writes the copies back and frees them: call it once, after whatever
 * changed the statistics in between (recomputeBatchNormStatistics, say). A module without
 * BatchNorm layers gets a function that does nothing.
 */
export function keepBatchNormStatistics(module: Module): () => void {
  if (!(module instanceof Module)) throw new TypeError('keepBatchNormStatistics: the argument must be a Module');
  const layers = batchNormLayers(module);
  const copies = layers.map((layer) => {
    const mean = keep(zeros([layer.features])); // outlives any tidy() the caller is in
    const variance = keep(zeros([layer.features]));
    copyBuffer(layer.movingMean.gpu.buffer, 0, mean.gpu.buffer, 0, 4 * layer.features);
    copyBuffer(layer.movingVariance.gpu.buffer, 0, variance.gpu.buffer, 0, 4 * layer.features);
    return { layer, mean, variance };
  });
  let restored = false;
  return () => {
    if (restored) throw new Error('keepBatchNormStatistics: the statistics were already put back (the function restores once)');
    restored = true;
    for (const { layer, mean, variance } of copies) {
      copyBuffer(mean.gpu.buffer, 0, layer.movingMean.gpu.buffer, 0, 4 * layer.features);
      copyBuffer(variance.gpu.buffer, 0, layer.movingVariance.gpu.buffer, 0, 4 * layer.features);
    }
    flush(); // the copies are submitted before their sources go back to the pool
    for (const { mean, variance } of copies) {
      mean.dispose();
      variance.dispose();
    }
  };
}
