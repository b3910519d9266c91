// Measured quality, instead of the seed's "0 and 7 were sharp, 3 and 8 blurry":
//  - the judge's (src/models/classifier.ts) penultimate features of generated images against
//    those of the 10,000 test digits → Fréchet distance ("FID on MNIST features");
//  - the judge's labels for generated digits → accuracy per requested digit (cGAN), and on VAE
//    reconstructions of test digits;
//  - the VAE's negative ELBO per test image;
//  - the judge's softmax on generated digits → confidence (share with a top probability ≥ 0.9)
//    and coverage (the labels' spread over the 10 digits; src/metrics/judge-labels.ts);
//  - the floor: the Fréchet distance of real training digits to the same test digits, i.e. what
//    a generator that drew perfect digits would score (src/metrics/judge.ts loadJudge caches it).
// The judge's passes over images come first; then QualityFigures, the figures together for a
// trained model, and measureQuality, which measures them (and vaeTestLoss, the VAE's ELBO).

import type { Tensor } from '../core/tensor.ts';
import { randn, deriveSeed } from '../core/creation.ts';
import { tidy } from '../core/scope.ts';
import { noGrad } from '../core/autograd.ts';
import { addScalar, mulScalar } from '../core/ops.ts';
import { sync } from '../core/dispatch.ts';
import type { MnistGpu } from '../data/batches.ts';
import { featureStats, frechetDistance, accuracyByDigit, type GaussianStats, type DigitAccuracy } from './frechet.ts';
import { maxSoftmax, confidentShare, labelCoverage, CONFIDENCE_THRESHOLD, type LabelCoverage } from './judge-labels.ts';
import type { MnistClassifier } from '../models/classifier.ts';
import { Vae } from '../models/vae.ts';
import { Gan } from '../models/gan.ts';
import type { Judge } from './judge.ts';

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

export interface QualityFigures {
  /** Fréchet distance of the judge's features of `samples` generated digits to those of the test digits. */
  fid: number;
  /**
   * The floor: the same distance for `floorImages` real training digits (the first ones), i.e.
   * what a perfect generator would score with as many samples. Cached per judge (out/.cache).
   */
  fidFloor: number;
  floorImages: number;
  /** Share of generated samples to which the judge gives probability ≥ confidenceThreshold (0.9) for one digit. */
  confidence: number;
  confidenceThreshold: number;
  /**
   * Coverage: the normalised entropy of the judge's labels of the generated samples over the 10
   * digits, H(labelShares)/ln 10 — 1 = every digit a tenth, 0 = all one digit (mode collapse).
   */
  coverage: number;
  /** Share of the generated samples the judge labels as each digit 0..9. */
  labelShares: number[];
  /** Judge accuracy on generated digits of the requested class (cGAN) or on reconstructions (VAE). */
  judgeAccuracy?: number;
  perDigitAccuracy?: number[];
  /** VAE: negative ELBO per test image, and its two parts. */
  testLoss?: number;
  testReconstruction?: number;
  testKl?: number;
  samples: number;
  /** Test digits behind the per-image figures (VAE loss, reconstruction accuracy). */
  testImages: number;
  /** Test digits behind the Fréchet reference statistics. */
  referenceImages: number;
  /**
   * The judge file, relative to the project root ("assets/judge.safetensors") or, outside it, its
   * file name; never an absolute path (summaries and shipped weights travel to other machines).
   * Summaries written before judgeSha256 existed hold the judge's absolute path here.
   */
  judge: string;
  /** sha256 (hex) of the judge file: which judge it was, wherever it lies. */
  judgeSha256?: string;
  judgeTestAccuracy: number;
}

/** Confidence and coverage of judged generated samples, and the judge's reference figures. */
function labelFigures(outputs: JudgeOutputs): Pick<QualityFigures, 'confidence' | 'confidenceThreshold' | 'coverage' | 'labelShares'> {
  const coverage = coverageOf(outputs);
  return { confidence: confidenceOf(outputs), confidenceThreshold: CONFIDENCE_THRESHOLD, coverage: coverage.entropy, labelShares: coverage.shares };
}

/** The quality figures of docs/models.md for a trained model. */
export async function measureQuality(model: Vae | Gan, judgeModel: Judge, test: MnistGpu, samples: number, seed = 777): Promise<QualityFigures> {
  model.eval();
  if (!Number.isInteger(samples) || samples < 2) throw new RangeError(`measureQuality: samples must be a whole number ≥ 2, got ${samples}`);
  const base = {
    samples, testImages: test.count, referenceImages: judgeModel.testStats.count, judge: judgeModel.recorded, judgeSha256: judgeModel.sha256, judgeTestAccuracy: judgeModel.testAccuracy,
    fidFloor: judgeModel.floor.fid, floorImages: judgeModel.floor.images,
  };
  if (model instanceof Vae) {
    const dim = model.config.latentDim;
    const generated = await judge(judgeModel.classifier, samples, (start, size) =>
      model.decode(randn([size, dim], { seed: deriveSeed(seed, start) })),
    );
    // Reconstructions of the test digits (decoded from zMean), judged against their labels.
    const recon = await judge(judgeModel.classifier, test.count, (start, size) => {
      const batch = test.gather(Array.from({ length: size }, (_, i) => start + i));
      const out = model.decode(model.encoder.forward(batch.x));
      batch.x.dispose();
      batch.y.dispose();
      return out;
    });
    const reconAccuracy = accuracyAgainst(recon, test.hostLabels);
    const elbo = await vaeTestLoss(model, test, seed);
    return {
      ...base,
      fid: frechetTo(judgeModel.testStats, generated),
      // The VAE's samples are decoded random latent points, like a GAN's.
      ...labelFigures(generated),
      judgeAccuracy: reconAccuracy.overall,
      perDigitAccuracy: reconAccuracy.perDigit,
      testLoss: elbo.loss,
      testReconstruction: elbo.reconstruction,
      testKl: elbo.kl,
    };
  }
  const conditional = model.config.conditional;
  const requested = Array.from({ length: samples }, (_, i) => i % 10);
  const outputs = await judge(
    judgeModel.classifier,
    samples,
    (start, size) =>
      model.generate(model.noise(size, deriveSeed(seed, start)), conditional ? Gan.digits(requested.slice(start, start + size)) : undefined),
    [-1, 1],
  );
  const figures: QualityFigures = { ...base, fid: frechetTo(judgeModel.testStats, outputs), ...labelFigures(outputs) };
  if (conditional) {
    const acc = accuracyAgainst(outputs, requested);
    figures.judgeAccuracy = acc.overall;
    figures.perDigitAccuracy = acc.perDigit;
  }
  return figures;
}

/** Negative ELBO per test image (one posterior sample per image, as Keras's evaluate). */
export async function vaeTestLoss(vae: Vae, test: MnistGpu, seed: number, batchSize = 500): Promise<{ loss: number; reconstruction: number; kl: number }> {
  vae.eval();
  let loss = 0;
  let reconstruction = 0;
  let kl = 0;
  for (const batch of test.batches(0, { batchSize, shuffle: false })) {
    const terms = noGrad(() => tidy(() => {
      const t = vae.lossTerms(batch.x, deriveSeed(seed, 9, batch.index));
      return [t.loss, t.reconstruction, t.kl];
    }));
    const [l, r, k] = await Promise.all(terms.map((t) => t.item()));
    terms.forEach((t) => t.dispose());
    loss += l * batch.size;
    reconstruction += r * batch.size;
    kl += k * batch.size;
  }
  return { loss: loss / test.count, reconstruction: reconstruction / test.count, kl: kl / test.count };
}
