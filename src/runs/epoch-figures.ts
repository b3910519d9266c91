// Quality figures after every epoch: how a long run (a seed preset, 50 epochs of a GAN) is going,
// measured rather than eyeballed from the epoch pictures, and kept when the run is cut short.
//
// After each epoch's checkpoint, the model is measured as measureQuality (src/metrics/quality.ts)
// measures a finished one: the judge's Fréchet distance, confidence, coverage, and for the cGAN
// the agreement with the requested digit (the VAE adds its test −ELBO). A GAN is measured as it
// is drawn: in inference mode, with its generator's BatchNorm statistics recomputed for the
// weights of that epoch (src/runs/generator-statistics.ts), exactly as at the end of a run.
// Training's own moving statistics are copied before and put back after, and the modes restored,
// so training goes on from exactly what it would have without the figures: the losses and the
// checkpoints are the same bit for bit (tests/epoch-figures.test.ts).
//
// The figures go to <run>/epochs/figures.json, one entry per epoch, rewritten atomically after
// each. A resumed run keeps the entries up to its checkpoint's epoch (later ones belonged to a
// run that went further and was thrown away) and, when its checkpoint ends an epoch that has no
// entry (the run stopped while measuring), measures that epoch before training on.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { keepBatchNormStatistics } from '../nn/batchnorm-statistics.ts';
import type { MnistGpu } from '../data/batches.ts';
import { Gan } from '../models/gan.ts';
import type { Vae } from '../models/vae.ts';
import type { Judge } from '../metrics/judge.ts';
import { measureQuality, type QualityFigures } from '../metrics/quality.ts';
import { recomputeGeneratorStatistics } from './generator-statistics.ts';

/** One epoch's figures (QualityFigures' per-sample figures, without the judge's constants). */
export interface EpochFigures {
  /** Epochs finished (1 = after the first). */
  epoch: number;
  /** Training steps finished. */
  step: number;
  fid: number;
  confidence: number;
  coverage: number;
  labelShares: number[];
  /** cGAN: agreement with the requested digit; VAE: judge's accuracy on reconstructions. */
  judgeAccuracy?: number;
  perDigitAccuracy?: number[];
  /** VAE: test negative ELBO per image. */
  testLoss?: number;
  samples: number;
  /** GANs: batches × batch size behind the recomputed generator statistics. */
  batchNorm?: { batches: number; batchSize: number };
  /** Seconds the measuring took (not training time). */
  seconds: number;
}

export const EPOCH_FIGURES_FILE = join('epochs', 'figures.json');

/** How one epoch is measured. */
export interface EpochMeasure {
  judge: Judge;
  /** Test digits for the VAE's per-image figures. */
  test: MnistGpu;
  samples: number;
  /** GANs: generator statistics from this many batches of batchSize noise vectors. */
  batchNormBatches: number;
  batchSize: number;
}

/**
 * Measures `model` as it stands after `epoch` epochs (`step` steps), leaving it as it was: in
 * training mode, with training's BatchNorm moving statistics.
 */
export async function measureEpoch(model: Vae | Gan, epoch: number, step: number, m: EpochMeasure): Promise<EpochFigures> {
  const started = performance.now();
  const gan = model instanceof Gan ? model : undefined;
  const restore = gan ? keepBatchNormStatistics(gan.generator) : undefined;
  let q: QualityFigures;
  try {
    if (gan) recomputeGeneratorStatistics(gan, m.batchNormBatches, m.batchSize, step);
    q = await measureQuality(model, m.judge, m.test, m.samples);
  } finally {
    restore?.();
    model.train();
  }
  return {
    epoch,
    step,
    fid: q.fid,
    confidence: q.confidence,
    coverage: q.coverage,
    labelShares: q.labelShares,
    ...(q.judgeAccuracy !== undefined ? { judgeAccuracy: q.judgeAccuracy, perDigitAccuracy: q.perDigitAccuracy } : {}),
    ...(q.testLoss !== undefined ? { testLoss: q.testLoss } : {}),
    samples: q.samples,
    ...(gan ? { batchNorm: { batches: m.batchNormBatches, batchSize: m.batchSize } } : {}),
    seconds: (performance.now() - started) / 1000,
  };
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The figures of a run folder, by epoch; [] when it has none. A damaged file is an error naming it. */
export function readEpochFigures(out: string): EpochFigures[] {
  const path = join(out, EPOCH_FIGURES_FILE);
  if (!existsSync(path)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not JSON (${(e as Error).message}); delete it to measure the next epochs afresh`);
  }
  if (!Array.isArray(parsed)) throw new Error(`${path}: expected a list of epochs' figures, got ${typeof parsed}`);
  parsed.forEach((entry: Partial<EpochFigures>, i) => {
    if (typeof entry !== 'object' || entry === null || !Number.isInteger(entry.epoch) || !Number.isInteger(entry.step)
      || !finite(entry.fid) || !finite(entry.confidence) || !finite(entry.coverage)) {
      throw new Error(`${path}: entry ${i} is not an epoch's figures (needs whole epoch and step, and numbers fid, confidence, coverage)`);
    }
  });
  return (parsed as EpochFigures[]).slice().sort((a, b) => a.epoch - b.epoch);
}

/** Writes `entries`, sorted by epoch, to the run folder's figures file; returns them as written. */
export function writeEpochFigures(out: string, entries: readonly EpochFigures[]): EpochFigures[] {
  const sorted = entries.slice().sort((a, b) => a.epoch - b.epoch);
  writeFileAtomic(join(out, EPOCH_FIGURES_FILE), new TextEncoder().encode(JSON.stringify(sorted, null, 2) + '\n'));
  return sorted;
}

/** Adds (or replaces) one epoch's entry; returns the file's entries. */
export function recordEpochFigures(out: string, entry: EpochFigures): EpochFigures[] {
  return writeEpochFigures(out, [...readEpochFigures(out).filter((e) => e.epoch !== entry.epoch), entry]);
}

/** One line for the log: "epoch 3 (702 steps): Fréchet 88.1, confidence 41.2%, coverage 0.951, agreement 62.0%". */
export function formatEpochFigures(e: EpochFigures, kind: 'vae' | 'gan' | 'cgan'): string {
  const parts = [`Fréchet ${e.fid.toFixed(1)}`, `confidence ${(100 * e.confidence).toFixed(1)}%`, `coverage ${e.coverage.toFixed(3)}`];
  if (kind === 'cgan' && e.judgeAccuracy !== undefined) parts.push(`agreement ${(100 * e.judgeAccuracy).toFixed(1)}%`);
  if (kind === 'vae' && e.testLoss !== undefined) parts.push(`test −ELBO ${e.testLoss.toFixed(1)}`);
  return `epoch ${e.epoch} (${e.step.toLocaleString('en-US')} steps): ${parts.join(', ')} [measured in ${e.seconds.toFixed(0)} s on ${e.samples.toLocaleString('en-US')} samples]`;
}
