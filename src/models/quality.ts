// Measured quality, instead of the seed's "0 and 7 were sharp, 3 and 8 blurry":
//  - the judge's (src/models/classifier.ts) penultimate features of generated images against
//    those of the 10,000 test digits → Fréchet distance ("FID on MNIST features");
//  - the judge's labels for generated digits → accuracy per requested digit (cGAN), and on VAE
//    reconstructions of test digits;
//  - the VAE's negative ELBO per test image;
//  - the judge's softmax on generated digits → confidence (share with a top probability ≥ 0.9)
//    and coverage (the labels' spread over the 10 digits; src/metrics/judge-labels.ts);
//  - the floor: the Fréchet distance of real training digits to the same test digits, i.e. what
//    a generator that drew perfect digits would score (src/models/judge.ts loadJudge caches it).

import type { Tensor } from '../core/tensor.ts';
import { tidy } from '../core/scope.ts';
import { noGrad } from '../core/autograd.ts';
import { addScalar, mulScalar } from '../core/ops.ts';
import { sync } from '../core/dispatch.ts';
import type { MnistGpu } from '../data/batches.ts';
import { featureStats, frechetDistance, accuracyByDigit, type GaussianStats, type DigitAccuracy } from '../metrics/frechet.ts';
import { maxSoftmax, confidentShare, labelCoverage, CONFIDENCE_THRESHOLD, type LabelCoverage } from '../metrics/judge-labels.ts';
import type { MnistClassifier } from './classifier.ts';

export interface JudgeOutputs {
  features: Float32Array;
  predictions: Uint8Array;
  /** The judge's softmax probability of its predicted digit, per image. */
  topProbabilities: Float64Array;
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
  const topProbabilities = new Float64Array(count);
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
    const values = await logits.toArray();
    argmaxRows(values, size, 10, predictions, start);
    topProbabilities.set(maxSoftmax(values, size, 10), start);
    f.dispose();
    logits.dispose();
  }
  await sync();
  return { features, predictions, topProbabilities, count, dim };
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

/** Share of the images to which the judge gives probability ≥ `threshold` (0.9) for one digit. */
export function confidenceOf(outputs: JudgeOutputs, threshold = CONFIDENCE_THRESHOLD): number {
  return confidentShare(outputs.topProbabilities, threshold);
}

/** The spread of the judge's labels over the 10 digits (shares, and their normalised entropy). */
export function coverageOf(outputs: JudgeOutputs): LabelCoverage {
  return labelCoverage(outputs.predictions, 10);
}
