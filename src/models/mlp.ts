// The end-to-end proof's model: a multilayer perceptron for MNIST, 784 → 256 (ReLU) → 10 logits,
// as the Keras "hello world" classifier. Weights come from the global generator (manualSeed)
// unless a seed is given.

import { Sequential } from '../nn/sequential.ts';
import { Dense, Flatten } from '../nn/layers.ts';

export interface MlpOptions {
  /** Width of the hidden layer (default 256). */
  hidden?: number;
  inputs?: number;
  classes?: number;
  seed?: number;
}

/** Sequential(flatten, hidden: Dense ReLU, output: Dense) over images [B, 28, 28, 1]. */
export function createMlp(options: MlpOptions = {}): Sequential {
  const { hidden = 256, inputs = 28 * 28, classes = 10, seed } = options;
  return new Sequential({
    flatten: new Flatten(),
    hidden: new Dense({ inFeatures: inputs, units: hidden, activation: 'relu', seed }),
    output: new Dense({ inFeatures: hidden, units: classes, seed: seed === undefined ? undefined : seed + 1 }),
  });
}
