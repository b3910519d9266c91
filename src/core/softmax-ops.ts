// Differentiable softmax, log-softmax and softmax cross-entropy (PyTorch's F.cross_entropy on
// class indices), over the last axis. The kernels live in src/kernels/softmax.ts.

import { Tensor, formatShape } from './tensor.ts';
import { record } from './autograd.ts';
import { assertFloat, assertLive } from './checks.ts';
import { launch } from './launch.ts';
import { reduceRaw } from './ops.ts';
import {
  crossEntropyBackwardProgram,
  crossEntropyProgram,
  softmaxBackwardProgram,
  softmaxProgram,
  type SoftmaxMode,
} from '../kernels/softmax.ts';
import { checkOptions, knownOptions } from './options.ts';

function rowsAndClasses(op: string, x: Tensor, axis: number | undefined): [number, number] {
  assertLive(op, x);
  assertFloat(op, x);
  if (x.rank < 1) throw new RangeError(`${op} needs at least one dimension, got ${formatShape(x.shape)}`);
  if (axis !== undefined && axis !== -1 && axis !== x.rank - 1) {
    throw new RangeError(`${op}: only the last axis is supported (got axis ${axis} for ${formatShape(x.shape)}); move the axis last first`);
  }
  const classes = x.shape[x.rank - 1];
  return [classes === 0 ? 0 : x.size / classes, classes];
}

function softmaxLike(mode: SoftmaxMode, x: Tensor, axis: number | undefined): Tensor {
  const [rows, classes] = rowsAndClasses(mode, x, axis);
  const y = launch(softmaxProgram(mode, rows, classes), [x], x.shape);
  return record(y, mode, [x], (g) => [launch(softmaxBackwardProgram(mode, rows, classes), [y, g], x.shape)]);
}

/** exp(x) / Σ exp(x) along the last axis (`axis` may only name the last one). */
export function softmax(x: Tensor, axis?: number): Tensor {
  return softmaxLike('softmax', x, axis);
}

/** log(softmax(x)) along the last axis, computed stably as x − logsumexp(x). */
export function logSoftmax(x: Tensor, axis?: number): Tensor {
  return softmaxLike('logSoftmax', x, axis);
}

export type LossReduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  /** 'mean' (default) over all rows, 'sum', or 'none' for one loss per row. */
  reduction?: LossReduction;
}

/**
 * Softmax cross-entropy of `logits` [..., C] against integer class `labels` [...] (i32 or u32):
 * −log softmax(logits)[label] per row, then reduced as F.cross_entropy does. Only `logits` gets a
 * gradient. Labels live on the GPU, so their values cannot be checked before the kernel runs: a
 * label outside [0, C) makes its row's loss NaN (and so the mean), visible at read-back.
 * Unlike PyTorch, the class axis is the last one (channels-last), and there is no ignore_index.
 */
const CROSS_ENTROPY_OPTIONS = knownOptions<CrossEntropyOptions>({ reduction: true });

export function crossEntropy(logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}): Tensor {
  checkOptions('crossEntropy', options, CROSS_ENTROPY_OPTIONS);
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new RangeError(`crossEntropy: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  }
  const [rows, classes] = rowsAndClasses('crossEntropy', logits, undefined);
  assertLive('crossEntropy', labels);
  if (labels.dtype === 'f32') {
    throw new TypeError(`crossEntropy needs integer class labels (i32 or u32), got ${labels.describe()}; use binaryCrossEntropyWithLogits for probabilities`);
  }
  const leading = logits.shape.slice(0, -1);
  if (labels.rank !== leading.length || labels.shape.some((d, i) => d !== leading[i])) {
    throw new RangeError(
      `crossEntropy: labels ${formatShape(labels.shape)} must have the shape of logits ${formatShape(logits.shape)} without its class axis, ${formatShape(leading)}`,
    );
  }
  if (classes === 0) throw new RangeError(`crossEntropy: logits ${formatShape(logits.shape)} have no classes`);

  const perRow = launch(crossEntropyProgram(rows, classes), [logits, labels], leading);
  let loss = perRow;
  if (reduction !== 'none') {
    const flat = perRow.view([rows]);
    const reduced = reduceRaw('sum', flat, [0], reduction === 'mean' ? 1 / rows : 1);
    loss = reduced.view([]);
    for (const t of [flat, reduced, perRow]) t.dispose();
  }
  const scale = reduction === 'mean' ? 1 / rows : 1;
  return record(loss, `crossEntropy.${reduction}`, [logits], (g) => [
    launch(crossEntropyBackwardProgram(rows, classes, reduction === 'none', scale), [logits, labels, g], logits.shape),
  ]);
}
