// What the tfjs training steps share: the contract of a step, the optimizer read from ours, the
// fixed batch, and the check that a step trains (and leaks nothing) before it is timed.

import type * as TfCore from '@tensorflow/tfjs-core';
import type { Shape } from '../../src/core/tensor.ts';
import type { Adam } from '../../src/nn/optim.ts';
import { uniformData } from '../case-kit.ts';

type Tf = typeof TfCore;
type T = TfCore.Tensor;

/** A model's training step in tfjs, checked before it is timed. */
export interface PeerTraining {
  /** One training step; nothing is read back. */
  step(): void;
  /** Throws unless the step trains (see lossesOfSteps). */
  check(): Promise<void>;
  dispose(): void;
}

/**
 * tf.train.adam with our optimizer's learning rate, β1, β2 and ε (Keras's update, as ours). A
 * schedule or gradient clipping has no counterpart here: refused rather than left out.
 */
export function adamLike(tf: Tf, ours: Adam, what: string): TfCore.AdamOptimizer {
  if (ours.schedule) throw new Error(`the tfjs peer runs a constant learning rate; the ${what} optimizer has a schedule`);
  if (ours.clipping) throw new Error(`the tfjs peer does not clip gradients; the ${what} optimizer clips (${ours.clipping.kind})`);
  return tf.train.adam(ours.lr, ours.beta1, ours.beta2, ours.epsilon);
}

/**
 * A fixed batch of random pixels, uniform in `range` (what our side's data loader is asked for):
 * a step's cost does not depend on the values.
 */
export function fixedImages(tf: Tf, shape: Shape, seed: number, range: readonly [number, number]): TfCore.Tensor4D {
  const size = shape.reduce((a, b) => a * b, 1);
  if (shape.length !== 4) throw new Error(`the tfjs peer wants images [batch, height, width, channels], got [${shape.join(', ')}]`);
  return tf.tensor4d(uniformData(size, seed, range[0], range[1]), [shape[0], shape[1], shape[2], shape[3]]);
}

/** BCE on logits, the mean over the batch, against all-ones or all-zeros targets. */
export function bceWithLogits(tf: Tf, logits: T, target: 0 | 1): TfCore.Scalar {
  return tf.losses.sigmoidCrossEntropy(target === 1 ? tf.onesLike(logits) : tf.zerosLike(logits), logits) as TfCore.Scalar;
}

/**
 * Runs `steps` training steps, reading back their losses (one list per loss, over the steps),
 * and throws unless every loss is finite and the number of live tfjs tensors is the same after
 * the last step as after the first (the first creates Adam's moments), or as `liveBefore` when
 * given (counted after an earlier step): a step that leaked would slow itself down as it is timed.
 */
export async function lossesOfSteps(tf: Tf, what: string, steps: number, run: () => T[], liveBefore?: number): Promise<number[][]> {
  const history: number[][] = [];
  let live = liveBefore;
  for (let i = 0; i < steps; i++) {
    const losses = run();
    for (let j = 0; j < losses.length; j++) (history[j] ??= []).push((await losses[j].data())[0]);
    tf.dispose(losses);
    live ??= tf.memory().numTensors;
  }
  const leaked = tf.memory().numTensors - live!;
  if (leaked !== 0) throw new Error(`its ${what} step leaks ${leaked} tensors in ${liveBefore === undefined ? steps - 1 : steps} steps`);
  if (!history.flat().every(Number.isFinite)) throw new Error(`its ${what} step does not train: losses ${showLosses(history)}`);
  return history;
}

export const showLosses = (history: number[][]) => history.map((h) => h.map((l) => l.toFixed(4)).join(', ')).join('; ');
