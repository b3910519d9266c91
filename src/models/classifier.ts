// The judge: a small MNIST CNN trained with this framework, used to measure the generative
// models (its accuracy on their samples, and the Fréchet distance between its penultimate
// features of generated and of real test digits — "FID on MNIST features").
//
//   28×28×1 → Conv 32 3×3 s1 ReLU → Conv 64 3×3 s2 ReLU (14×14) → Conv 64 3×3 s2 ReLU (7×7)
//           → Flatten → Dense 128 ReLU (the features) → Dropout 0.3 → Dense 10 (logits)
//
// Inputs are images in [0, 1] (generators in [−1, 1] are mapped first).

import { Module } from '../nn/module.ts';
import { Dense, Flatten } from '../nn/layers.ts';
import { Conv2d } from '../nn/conv-layers.ts';
import { Dropout } from '../nn/dropout.ts';
import type { Tensor } from '../core/tensor.ts';
import { deriveSeed } from '../core/creation.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

const MNISTCLASSIFIER_CONFIG = knownOptions<ClassifierConfig>({ seed: true, features: true });

export interface ClassifierConfig {
  seed: number;
  /** Width of the feature layer. */
  features: number;
}

export const CLASSIFIER_DEFAULTS: ClassifierConfig = { seed: 0, features: 128 };

export class MnistClassifier extends Module {
  readonly config: ClassifierConfig;
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly conv3: Conv2d;
  readonly flatten = new Flatten();
  readonly hidden: Dense;
  readonly dropout: Dropout;
  readonly output: Dense;

  constructor(config: Partial<ClassifierConfig> = {}) {
    checkOptions('MnistClassifier', config, MNISTCLASSIFIER_CONFIG);
    super();
    this.config = { ...CLASSIFIER_DEFAULTS, ...config };
    const s = (i: number) => deriveSeed(this.config.seed, 5, i);
    const relu = { activation: 'relu', padding: 'same', kernelSize: 3 } as const;
    this.conv1 = this.addModule('conv1', new Conv2d({ inChannels: 1, filters: 32, strides: 1, ...relu, seed: s(1) }));
    this.conv2 = this.addModule('conv2', new Conv2d({ inChannels: 32, filters: 64, strides: 2, ...relu, seed: s(2) }));
    this.conv3 = this.addModule('conv3', new Conv2d({ inChannels: 64, filters: 64, strides: 2, ...relu, seed: s(3) }));
    this.hidden = this.addModule('hidden', new Dense({ inFeatures: 7 * 7 * 64, units: this.config.features, activation: 'relu', seed: s(4) }));
    this.dropout = this.addModule('dropout', new Dropout({ rate: 0.3, seed: s(5) }));
    this.output = this.addModule('output', new Dense({ inFeatures: this.config.features, units: 10, seed: s(6) }));
  }

  /** Penultimate activations [B, features]: what the Fréchet distance compares. */
  features(x: Tensor): Tensor {
    return this.hidden.forward(this.flatten.forward(this.conv3.forward(this.conv2.forward(this.conv1.forward(x)))));
  }

  /** Class logits [B, 10] from the features. */
  classify(features: Tensor): Tensor {
    return this.output.forward(this.dropout.forward(features));
  }

  forward(x: Tensor): Tensor {
    return this.classify(this.features(x));
  }
}
