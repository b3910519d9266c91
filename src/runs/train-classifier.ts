// An MNIST classifier's evaluation: accuracy and softmax cross-entropy on integer labels. Its
// training goes through fit() (src/train/fit.ts).

import type { Module } from '../nn/module.ts';
import { crossEntropy } from '../core/softmax-ops.ts';
import type { BatchSource } from '../data/batches.ts';
import { evaluate } from '../train/fit.ts';

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
