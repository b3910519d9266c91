// Batch normalisation as a differentiable op: the statistics, the normalisation and its backward
// rule, over the last (channel) axis. Shapes are checked before any GPU work. The kernels and the
// math of each pass are in src/kernels/batchnorm.ts.

import { Tensor, formatShape } from './tensor.ts';
import { run } from './dispatch.ts';
import { launch } from './launch.ts';
import { record } from './autograd.ts';
import { assertFloat, assertLive } from './checks.ts';
import {
  bnApplyProgram, bnChunks, bnFinalizeProgram, bnGradFinalizeProgram, bnGradInputProgram, bnGradPartialProgram,
  bnPartialStatsProgram, bnRunningStatsProgram, type BatchNormShape,
} from '../kernels/batchnorm.ts';
import { checkOptions, knownOptions } from './options.ts';

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
 * updates runningMean/runningVar in place with them (why biased: see
 * src/kernels/batchnorm.ts); eval mode uses the running statistics. Gradients flow to x,
 * gamma and beta in both modes.
 */
const BATCHNORM_OPTIONS = knownOptions<BatchNormOptions>({ training: true, runningMean: true, runningVar: true, momentum: true, epsilon: true });

export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, options: BatchNormOptions = {}): Tensor {
  checkOptions('batchNorm', options, BATCHNORM_OPTIONS);
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
