// Losses as differentiable ops. Binary cross-entropy works on logits through the stable form
// max(x, 0) − x·z + log(1 + e^−|x|), so saturated logits neither overflow nor lose the gradient;
// its backward is (σ(x) − z)·g. Reductions reuse mean()/sum(), whose backward broadcasts g.

import { Tensor, fromData, formatShape } from './tensor.ts';
import { record } from './autograd.ts';
import { assertFloat, assertLive } from './checks.ts';
import { binaryRaw, mean, square, sub, sum, sumTo } from './ops.ts';
import { broadcastShapes, sameShape } from '../kernels/shapes.ts';
import { checkOptions, knownOptions } from './options.ts';

export type Reduction = 'mean' | 'sum' | 'none';

export interface LossOptions {
  /** 'mean' (default) over every element, 'sum', or 'none' for the elementwise loss. */
  reduction?: Reduction;
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  return reduction === 'sum' ? sum(loss) : mean(loss);
}

const LOSS_OPTIONS = knownOptions<LossOptions>({ reduction: true });

function checkReduction(op: string, options: LossOptions): Reduction {
  checkOptions(op, options, LOSS_OPTIONS);
  const r = options.reduction ?? 'mean';
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new RangeError(`${op}: reduction must be 'mean', 'sum' or 'none', got '${r}'`);
  return r;
}

/** Checks that `target` broadcasts to `input`'s shape (the loss keeps the input's shape). */
function checkTarget(op: string, input: Tensor, target: Tensor | number): void {
  assertLive(op, input);
  assertFloat(op, input);
  if (typeof target === 'number') return;
  assertLive(op, target);
  assertFloat(op, target);
  let fits = true;
  try {
    fits = sameShape(broadcastShapes(input.shape, target.shape, op), input.shape);
  } catch {
    fits = false;
  }
  if (!fits) {
    throw new RangeError(`${op}: target ${formatShape(target.shape)} does not match the input ${formatShape(input.shape)}`);
  }
}

/**
 * Frees a tensor made along the way unless the graph of `output` holds on to it (outside tidy(),
 * a loss evaluated without gradients should not leave intermediates behind).
 */
function releaseUnlessRecorded(intermediate: Tensor, output: Tensor): void {
  if (intermediate !== output && !output.node) intermediate.dispose();
}

/**
 * Binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed from the logits
 * (tf.nn.sigmoid_cross_entropy_with_logits, PyTorch's BCEWithLogitsLoss). Targets broadcast to
 * the logits' shape (a number, e.g. 1 for "real" in a GAN, is fine).
 */
export function binaryCrossEntropyWithLogits(logits: Tensor, targets: Tensor | number, options: LossOptions = {}): Tensor {
  const reduction = checkReduction('binaryCrossEntropyWithLogits', options);
  checkTarget('binaryCrossEntropyWithLogits', logits, targets);
  const x = logits;
  const z = typeof targets === 'number' ? fromData([targets], []) : targets;
  const elementwise = record(binaryRaw('bceWithLogits', x, z), 'bceWithLogits', [x, z], (g, needs) => {
    let gx: Tensor | null = null;
    let gz: Tensor | null = null;
    if (needs[0]) {
      const d = binaryRaw('bceWithLogitsGrad', x, z);
      gx = binaryRaw('mul', d, g);
      d.dispose();
    }
    if (needs[1]) {
      // d/dz = −x·g, summed back over the dimensions z was broadcast along.
      const full = binaryRaw('mulScaled', x, g, -1);
      gz = sameShape(full.shape, z.shape) ? full : sumTo(full, z.shape);
      if (gz !== full) full.dispose();
    }
    return [gx, gz];
  });
  if (z !== targets) releaseUnlessRecorded(z, elementwise);
  const loss = reduce(elementwise, reduction);
  releaseUnlessRecorded(elementwise, loss);
  return loss;
}

/** Mean squared error (pred − target)², reduced as asked. Target broadcasts to pred's shape. */
export function mseLoss(pred: Tensor, target: Tensor | number, options: LossOptions = {}): Tensor {
  const reduction = checkReduction('mseLoss', options);
  checkTarget('mseLoss', pred, target);
  const difference = sub(pred, target);
  const squared = square(difference);
  releaseUnlessRecorded(difference, squared);
  const loss = reduce(squared, reduction);
  releaseUnlessRecorded(squared, loss);
  return loss;
}
