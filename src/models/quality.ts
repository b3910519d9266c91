// Measured quality, instead of the seed's "0 and 7 were sharp, 3 and 8 blurry":
//  - the judge's (src/models/classifier.ts) penultimate features of generated images against
//    those of the 10,000 test digits → Fréchet distance ("FID on MNIST features");
//  - the judge's labels for generated digits → accuracy per requested digit (cGAN), and on VAE
//    reconstructions of test digits;
//  - the VAE's negative ELBO per test image.

import type { Tensor } from '../core/tensor.ts';
import { tidy } from '../core/scope.ts';
import { noGrad } from '../core/autograd.ts';
import { addScalar, mulScalar } from '../core/ops.ts';
import { sync } from '../core/dispatch.ts';
import type { MnistGpu } from '../data/batches.ts';
import { featureStats, frechetDistance, accuracyByDigit, type GaussianStats, type DigitAccuracy } from '../metrics/frechet.ts';
import type { MnistClassifier } from './classifier.ts';

export interface JudgeOutputs {
  features: Float32Array;
  predictions: Uint8Array;
  count: number;
  dim: number;
}

function argmaxRows(logits: Float32Array, rows: number, cols: number, into: Uint8Array, offset: number): void {
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (logits[r * cols + c] > logits[r * cols + best]) best = c;
    into[offset + r] = best;
  }
}

/**
 * Runs the judge (in eval mode, no tape) over `count` images produced batch by batch by
 * `makeBatch(start, size)`: images [size, 28, 28, 1] in `range` (run inside tidy; the judge
 * disposes the images it returns).
 */
export async function judge(
  classifier: MnistClassifier,
  count: number,
  makeBatch: (start: number, size: number) => Tensor,
  range: readonly [number, number] = [0, 1],
  batchSize = 500,
): Promise<JudgeOutputs> {
  classifier.eval();
  const dim = classifier.config.features;
  const features = new Float32Array(count * dim);
  const predictions = new Uint8Array(count);
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    const images = noGrad(() => tidy(() => makeBatch(start, size)));
    const [f, logits] = noGrad(() =>
      tidy(() => {
        // The judge reads [0, 1]; map other ranges linearly.
        const x = range[0] === 0 && range[1] === 1 ? images : mulScalar(addScalar(images, -range[0]), 1 / (range[1] - range[0]));
        const feats = classifier.features(x);
        return [feats, classifier.classify(feats)];
      }),
    );
    images.dispose();
    features.set(await f.toArray(), start * dim);
    argmaxRows(await logits.toArray(), size, 10, predictions, start);
    f.dispose();
    logits.dispose();
  }
  await sync();
  return { features, predictions, count, dim };
}

/** The judge on a real split (the Fréchet reference and its accuracy check). */
export function judgeDataset(classifier: MnistClassifier, data: MnistGpu, count = data.count): Promise<JudgeOutputs> {
  const order = Array.from({ length: count }, (_, i) => i);
  return judge(classifier, count, (start, size) => {
    const batch = data.gather(order.slice(start, start + size));
    batch.y.dispose();
    return batch.x;
  }, data.range);
}

export function statsOf(outputs: JudgeOutputs): GaussianStats {
  return featureStats(outputs.features, outputs.count, outputs.dim);
}

export function frechetTo(reference: GaussianStats, outputs: JudgeOutputs): number {
  return frechetDistance(reference, statsOf(outputs));
}

export function accuracyAgainst(outputs: JudgeOutputs, requested: ArrayLike<number>): DigitAccuracy {
  return accuracyByDigit(outputs.predictions, requested);
}
