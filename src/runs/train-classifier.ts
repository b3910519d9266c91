// An MNIST classifier's training step and its evaluation: softmax cross-entropy on integer labels,
// any optimizer. Whole runs go through fit() (src/train/fit.ts), which takes these same steps.

import type { Module } from '../nn/module.ts';
import type { Optimizer } from '../nn/optim.ts';
import type { Tensor } from '../core/tensor.ts';
import { tidy } from '../core/scope.ts';
import { detach } from '../core/autograd.ts';
import { crossEntropy } from '../core/softmax-ops.ts';
import type { BatchSource } from '../data/batches.ts';
import { evaluate } from '../train/fit.ts';

/**
 * One optimisation step on a batch: forward, mean cross-entropy, backward, update. Everything
 * made on the way is freed; the returned scalar loss (no graph attached) is the caller's.
 */
export function classifierStep(model: Module, optimizer: Optimizer, x: Tensor, y: Tensor): Tensor {
  return tidy(() => {
    optimizer.zeroGrad();
    const loss = crossEntropy(model.forward(x), y);
    loss.backward();
    optimizer.step();
    return detach(loss);
  });
}

export interface ClassifierEvaluation {
  accuracy: number;
  /** Mean cross-entropy per image. */
  loss: number;
  /** Correct predictions per digit, and how many of each digit there were. */
  correctPerClass: number[];
  countPerClass: number[];
}

/** Accuracy and mean cross-entropy over a whole split, in eval mode and without recording gradients. */
export async function evaluateClassifier(model: Module, data: BatchSource, batchSize = 1000): Promise<ClassifierEvaluation> {
  const e = await evaluate(model, data, { loss: crossEntropy, batchSize });
  return { loss: e.loss, accuracy: e.accuracy ?? 0, correctPerClass: e.correctPerClass ?? [], countPerClass: e.countPerClass ?? [] };
}
