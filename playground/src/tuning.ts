// Section 4's engine: `npm run tune` (examples/tune.ts) on the visitor's adapter. One planned
// training step of a model (planOnly: every launch resolved, none run), its layers labelled,
// finds the problems (op, pass, shape) that step runs and the layer of each; tune()
// verifies each problem's candidate kernels against their float64 references, times the
// verified ones, installs the fastest and keeps the choices in this browser's localStorage (the
// store session.ts set when the page's init() opened the device).
//
// The models are the quick presets' (PRESETS[kind].quick.model: the GANs at a fraction of their
// width), so a step is quick in a browser; the batch is the page's choice. The data needs no
// download: the shapes are what matter, so the images are uniform noise in the model's range and
// the digits (the cGAN's labels) are drawn on the host.

import {
  createModel, Gan, nn, planOnly, problemsSeen, PRESETS, rand, tidy, tune,
  type Batch, type ModelKind, type Tensor, type TuneProblem, type TuneResult,
} from '../../src/index.ts';
import { onGpu } from './gpu.ts';

export type TuneKind = ModelKind;

export const TUNE_KINDS: readonly { kind: TuneKind; label: string }[] = [
  { kind: 'vae', label: 'VAE' },
  { kind: 'gan', label: 'DCGAN' },
  { kind: 'cgan', label: 'cGAN' },
];

/** The page's default batch: small, so a browser on a modest GPU is done in a minute or so. */
export const DEFAULT_TUNE_BATCH = 32;

/** A batch of the shape a model trains on: images [B, 28, 28, 1] in its range, and digits. */
function randomBatch(kind: TuneKind, size: number, seed: number): Batch {
  const [low, high] = kind === 'vae' ? [0, 1] : [-1, 1];
  const x = rand([size, 28, 28, 1], { seed, low, high });
  let s = seed >>> 0;
  const labels = Int32Array.from({ length: size }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % 10;
  });
  return { x, y: Gan.digits(Array.from(labels)), labels, index: 0, size };
}

/**
 * The problems one training step of `kind`'s quick model runs at `batchSize`, found without
 * running it (planOnly); problemLayers() then names the layer of each.
 */
export async function problemsOfStep(kind: TuneKind, batchSize: number): Promise<TuneProblem[]> {
  return onGpu(async () => {
    const model = createModel(kind, { ...(PRESETS[kind].quick.model ?? {}), seed: 1 });
    const batch = randomBatch(kind, batchSize, 1);
    try {
      problemsSeen(true);
      planOnly(() => nn.withLayerLabels(model.modules, () => tidy(() => model.trainStep(batch, 0)))).forEach((t: Tensor) => t.dispose());
      return [...problemsSeen().values()];
    } finally {
      batch.x.dispose();
      batch.y.dispose();
      model.dispose();
    }
  });
}

export interface TuneRun {
  kind: TuneKind;
  batchSize: number;
  problems: number;
  results: TuneResult[];
  /** Results whose choice differs from the fixed rule's kernel. */
  changed: number;
  seconds: number;
  /** The clock the candidates were timed with (the last result's; one adapter, one clock). */
  clock?: TuneResult['clock'];
}

/**
 * Finds the problems of one training step and tunes every one of them anew (`again`: a second
 * click measures again rather than trusting what the first one kept), reporting each result as it
 * is done.
 */
export async function tuneModel(kind: TuneKind, batchSize: number, o: { budgetMs?: number; onProblems?: (n: number) => void; onResult?: (r: TuneResult) => void } = {}): Promise<TuneRun> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`the batch size must be a whole number from 1 up, got ${batchSize}`);
  const started = performance.now();
  const problems = await problemsOfStep(kind, batchSize);
  o.onProblems?.(problems.length);
  const results = await onGpu(() => tune({ problems, again: true, budgetMs: o.budgetMs, onResult: o.onResult }));
  return {
    kind,
    batchSize,
    problems: problems.length,
    results,
    changed: results.filter((r) => r.chosen !== r.default).length,
    seconds: (performance.now() - started) / 1000,
    clock: results[results.length - 1]?.clock,
  };
}
