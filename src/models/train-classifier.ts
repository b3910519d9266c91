// Training and evaluating an MNIST classifier (the MLP here; the CNN judge later): softmax
// cross-entropy on integer labels, any optimizer.
//
// The loop never waits for the GPU except where it must: each step records its kernels and
// moves on; the losses are summed on the GPU and read back only every `lossEvery` steps (a read
// drains the queue, so reading every step would leave the GPU idle while the CPU records).

import type { Module } from '../nn/module.ts';
import type { Optimizer } from '../nn/optim.ts';
import type { Tensor } from '../core/tensor.ts';
import { tidy, keep } from '../core/scope.ts';
import { detach, noGrad } from '../core/autograd.ts';
import { add } from '../core/ops.ts';
import { zeros } from '../core/creation.ts';
import { crossEntropy } from '../core/softmax-ops.ts';
import type { MnistGpu } from '../data/batches.ts';
import { EpochProgress } from '../io/progress.ts';

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

export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy per image. */
  loss: number;
  /** Correct predictions per digit, and how many of each digit there were. */
  correctPerClass: number[];
  countPerClass: number[];
}

/** Accuracy and mean loss over a whole split, in eval mode and without recording gradients. */
export async function evaluateClassifier(model: Module, data: MnistGpu, batchSize = 1000): Promise<Evaluation> {
  const wasTraining = model.training;
  model.eval();
  let lossSum = keep(zeros([]));
  let correct = 0;
  let seen = 0;
  const correctPerClass: number[] = [];
  const countPerClass: number[] = [];
  try {
    for (const { x, y, size } of data.batches(0, { batchSize, shuffle: false })) {
      const logits = noGrad(() =>
        tidy(() => {
          const out = model.forward(x);
          const next = add(lossSum, crossEntropy(out, y, { reduction: 'sum' }));
          lossSum.dispose();
          lossSum = keep(next);
          return out;
        }),
      );
      const values = await logits.toArray();
      logits.dispose();
      const classes = values.length / size;
      for (let r = 0; r < size; r++) {
        let best = 0;
        for (let c = 1; c < classes; c++) if (values[r * classes + c] > values[r * classes + best]) best = c;
        const label = data.hostLabels[seen + r];
        countPerClass[label] = (countPerClass[label] ?? 0) + 1;
        if (best === label) {
          correct++;
          correctPerClass[label] = (correctPerClass[label] ?? 0) + 1;
        }
      }
      seen += size;
    }
    const loss = (await lossSum.item()) / Math.max(seen, 1);
    const classes = countPerClass.length;
    return {
      accuracy: correct / Math.max(seen, 1),
      loss,
      correctPerClass: Array.from({ length: classes }, (_, i) => correctPerClass[i] ?? 0),
      countPerClass: Array.from({ length: classes }, (_, i) => countPerClass[i] ?? 0),
    };
  } finally {
    lossSum.dispose();
    model.train(wasTraining);
  }
}

export interface EpochResult {
  epoch: number;
  /** Mean training loss over the epoch's batches. */
  trainLoss: number;
  /** Training time of the epoch (evaluation excluded), seconds. */
  seconds: number;
  imagesPerSecond: number;
  test?: Evaluation;
}

export interface TrainClassifierOptions {
  model: Module;
  optimizer: Optimizer;
  train: MnistGpu;
  /** Evaluated after every epoch when given. */
  test?: MnistGpu;
  epochs: number;
  batchSize: number;
  /** Shuffling seed: epoch e's order is seededPermutation(n, seed, e). */
  seed: number;
  /** Steps between loss read-backs (default 20). */
  lossEvery?: number;
  /** Live progress on stdout (default true). */
  progress?: boolean;
  /** Epoch numbers start here (1-based; a resumed run passes its next epoch). */
  firstEpoch?: number;
  onEpoch?: (result: EpochResult) => void;
}

export async function trainClassifier(o: TrainClassifierOptions): Promise<EpochResult[]> {
  const lossEvery = o.lossEvery ?? 20;
  const firstEpoch = o.firstEpoch ?? 1;
  const results: EpochResult[] = [];
  o.model.train();
  for (let epoch = firstEpoch; epoch < firstEpoch + o.epochs; epoch++) {
    const bar = new EpochProgress({ epoch, epochs: firstEpoch + o.epochs - 1, total: o.train.count, enabled: o.progress ?? true });
    // Σ loss since the last read-back, on the GPU; and the epoch's total on the host.
    let pending = keep(zeros([]));
    let pendingSteps = 0;
    let epochLossSum = 0;
    let epochSteps = 0;
    let done = 0;
    const readBack = async (): Promise<void> => {
      const sum = await pending.item();
      epochLossSum += sum;
      epochSteps += pendingSteps;
      bar.update(done, sum / pendingSteps);
      pending.dispose();
      pending = keep(zeros([]));
      pendingSteps = 0;
    };
    try {
      for (const { x, y, size } of o.train.batches(epoch - 1, { batchSize: o.batchSize, seed: o.seed })) {
        const loss = classifierStep(o.model, o.optimizer, x, y);
        const next = add(pending, loss);
        loss.dispose();
        pending.dispose();
        pending = keep(next);
        pendingSteps++;
        done += size;
        if (pendingSteps >= lossEvery) await readBack();
        else bar.update(done);
      }
      if (pendingSteps > 0) await readBack();
    } finally {
      pending.dispose();
    }
    bar.stop();
    const seconds = bar.elapsed;
    const result: EpochResult = {
      epoch,
      trainLoss: epochLossSum / Math.max(epochSteps, 1),
      seconds,
      imagesPerSecond: done / seconds,
    };
    if (o.test) result.test = await evaluateClassifier(o.model, o.test);
    bar.finish(result.test ? `test accuracy ${(100 * result.test.accuracy).toFixed(2)}%` : '');
    results.push(result);
    o.onEpoch?.(result);
  }
  return results;
}
