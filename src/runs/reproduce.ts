// `npm run reproduce`: the report's three models at their seed presets, trained one after another
// into one folder (out/reproduce/<model>/), each resumable, each measured by the judge after every
// epoch (src/runs/epoch-figures.ts) and at the end, and one README.md with the figures side by
// side and, per model, epoch by epoch. Before training it measures this adapter's speed for
// each model (a warm-up step, then a few timed steps at the preset's batch size) and prints how
// long the training should take.

import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { getGpu } from '../core/device.ts';
import { sync } from '../core/dispatch.ts';
import { readCheckpointInfo } from '../nn/checkpoint-file.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { PRESETS, type Preset } from './presets.ts';
import { createModel, MODEL_KINDS, type ModelConfigs, type ModelKind } from '../models/kinds.ts';
import { runTraining, type TrainRunSummary } from './run.ts';
import { loadMnistGpu } from '../data/mnist-files.ts';
import { readEpochFigures, type EpochFigures } from './epoch-figures.ts';

export interface ReproduceOptions {
  /** Models to run, in this order (default all three). */
  kinds?: readonly ModelKind[];
  /** Folder of the runs and the README (default out/reproduce). */
  out?: string;
  /** Continue unfinished runs and skip finished ones; without it, a folder that holds a run is an error. */
  resume?: boolean;
  /** Epochs instead of the preset's (for trying it out). */
  epochs?: number;
  /** Train on the first N images instead of the preset's (for trying it out). */
  limit?: number;
  /** Generated samples for the figures instead of the preset's. */
  samples?: number;
  judgePath?: string;
  progress?: boolean;
  log?: (line: string) => void;
  // Test settings, not offered on the command line:
  /** Batch size instead of the preset's. */
  batchSize?: number;
  /** Test digits (default all 10,000). */
  testLimit?: number;
  /** Extra constructor options per model (a narrow GAN). */
  modelConfig?: { [K in ModelKind]?: ModelConfigs[K] };
  /** GANs: batches behind the recomputed BatchNorm statistics. */
  batchNormBatches?: number;
  /** Timed training steps per model for the estimate (default 3, after one warm-up step). */
  timingSteps?: number;
}

/** What one model's run is asked to do. */
export interface ReproducePlan {
  kind: ModelKind;
  preset: Preset;
  epochs: number;
  batchSize: number;
  limit?: number;
  samples: number;
  out: string;
  /** How the settings differ from the seed preset ('' when they do not). */
  overrides: string;
}

/** The speed measured for one model and the training time it implies. */
export interface TimeEstimate {
  kind: ModelKind;
  imagesPerSecond: number;
  /** Epochs still to train, and images per epoch. */
  epochs: number;
  images: number;
  /** Images already trained in an unfinished epoch (a resumed run). */
  alreadyDone: number;
  seconds: number;
}

export type RunState = 'finished' | 'unfinished' | 'new';

export interface ReproduceRow {
  plan: ReproducePlan;
  state: RunState;
  /** The run's summary.json, when it has one. */
  summary?: TrainRunSummary;
  /** Epochs done (from the summary, else the checkpoint). */
  epochsDone: number;
  /** The figures measured after each epoch so far (src/runs/epoch-figures.ts). */
  epochFigures: EpochFigures[];
}

export interface ReproduceResult {
  rows: ReproduceRow[];
  estimates: TimeEstimate[];
  /** Every requested model finished (false when a run was stopped by Ctrl-C). */
  finished: boolean;
  readmePath: string;
  readme: string;
}

export const DEFAULT_REPRODUCE_OUT = 'out/reproduce';

/** Parses --models: a comma-separated list of vae, gan, cgan without repeats. */
export function parseModelList(raw: string): ModelKind[] {
  const names = raw.split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (names.length === 0) throw new RangeError(`--models needs one or more of ${MODEL_KINDS.join(', ')} (comma-separated), got '${raw}'`);
  const kinds: ModelKind[] = [];
  for (const name of names) {
    if (!(MODEL_KINDS as string[]).includes(name)) throw new RangeError(`--models: '${name}' is not one of ${MODEL_KINDS.join(', ')}`);
    if (kinds.includes(name as ModelKind)) throw new RangeError(`--models names '${name}' twice`);
    kinds.push(name as ModelKind);
  }
  return kinds;
}

/** "42 s", "12 min", "3 h 05 min", "2.3 days". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError(`formatDuration: need a finite number of seconds ≥ 0, got ${seconds}`);
  if (seconds < 59.5) return `${Math.round(seconds)} s`;
  if (seconds < 3570) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) {
    const minutes = Math.round(seconds / 60);
    return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
  }
  return `${(seconds / 86400).toFixed(1)} days`;
}

export function planFor(kind: ModelKind, o: ReproduceOptions): ReproducePlan {
  const preset = PRESETS[kind].seed;
  const epochs = o.epochs ?? preset.epochs;
  const batchSize = o.batchSize ?? preset.batchSize;
  const limit = o.limit ?? preset.limit;
  const samples = o.samples ?? preset.samples;
  const overrides = [
    epochs !== preset.epochs ? `epochs ${epochs}` : '',
    batchSize !== preset.batchSize ? `batch ${batchSize}` : '',
    limit !== preset.limit ? `${limit} images` : '',
    samples !== preset.samples ? `${samples} samples` : '',
  ].filter(Boolean).join(', ');
  return { kind, preset, epochs, batchSize, limit, samples, out: join(o.out ?? DEFAULT_REPRODUCE_OUT, kind), overrides };
}

function readSummary(out: string): TrainRunSummary | undefined {
  const path = join(out, 'summary.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as TrainRunSummary;
  } catch {
    return undefined; // unreadable: the run is redone from its checkpoint
  }
}

/** Where a model's run stands: finished (measured, all epochs), unfinished (a checkpoint), or new. */
export function stateOf(plan: ReproducePlan): ReproduceRow {
  const checkpoint = join(plan.out, 'checkpoint.safetensors');
  const summary = readSummary(plan.out);
  if (!existsSync(checkpoint)) return { plan, state: 'new', epochsDone: 0, epochFigures: [] };
  const epochFigures = readEpochFigures(plan.out);
  const progress = readCheckpointInfo(checkpoint, plan.kind).progress;
  const finished = summary !== undefined && summary.model === plan.kind && !summary.interrupted && summary.quality !== undefined
    && summary.epochs >= plan.epochs && progress.epoch >= plan.epochs && progress.batchInEpoch === 0;
  return { plan, state: finished ? 'finished' : 'unfinished', summary, epochsDone: progress.epoch, epochFigures };
}

/**
 * Images per second of one training step of `plan`'s model at its batch size on this adapter:
 * one warm-up step (pipeline compilation), then `steps` timed ones, waiting for the GPU.
 */
export async function measureSpeed(plan: ReproducePlan, steps: number, modelConfig: ModelConfigs[ModelKind] = {}): Promise<number> {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`measureSpeed: steps must be a whole number ≥ 1, got ${steps}`);
  const range: [number, number] = plan.kind === 'vae' ? [0, 1] : [-1, 1];
  const data = loadMnistGpu('train', { limit: plan.batchSize, range });
  const model = createModel(plan.kind, { ...modelConfig, seed: 0, ...(plan.preset.lr !== undefined ? { lr: plan.preset.lr } : {}) });
  const batch = data.gather(Array.from({ length: data.count }, (_, i) => i));
  try {
    for (const t of model.trainStep(batch, 0)) t.dispose();
    await sync();
    const started = performance.now();
    for (let step = 1; step <= steps; step++) for (const t of model.trainStep(batch, step)) t.dispose();
    await sync();
    const seconds = (performance.now() - started) / 1000;
    return (steps * batch.size) / Math.max(seconds, 1e-9);
  } finally {
    batch.x.dispose();
    batch.y.dispose();
    model.dispose();
    data.dispose();
  }
}

/** Training time left for a row at a measured speed: remaining epochs × images ÷ images/s. */
export function estimateFor(row: ReproduceRow, imagesPerSecond: number, imagesPerEpoch: number): TimeEstimate {
  let epochs = row.plan.epochs;
  let alreadyDone = 0;
  const checkpoint = join(row.plan.out, 'checkpoint.safetensors');
  if (row.state === 'unfinished' && existsSync(checkpoint)) {
    const info = readCheckpointInfo(checkpoint, row.plan.kind);
    epochs = Math.max(0, row.plan.epochs - info.progress.epoch);
    alreadyDone = epochs > 0 ? Math.min(info.progress.batchInEpoch * row.plan.batchSize, imagesPerEpoch) : 0;
  }
  const images = epochs * imagesPerEpoch - alreadyDone;
  return { kind: row.plan.kind, imagesPerSecond, epochs, images: imagesPerEpoch, alreadyDone, seconds: images / imagesPerSecond };
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');
const fixed = (value: number | undefined, digits: number): string => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—');
const percent = (value: number | undefined): string => (typeof value === 'number' && Number.isFinite(value) ? `${(100 * value).toFixed(1)}%` : '—');

/** The estimate as printed: one line per model and a total. */
export function formatEstimate(estimates: readonly TimeEstimate[], adapter: string, timingSteps: number): string[] {
  const total = estimates.reduce((sum, e) => sum + e.seconds, 0);
  const lines = [`expected training time on ${adapter}: ${formatDuration(total)} in total (measured over ${timingSteps} step(s) per model after a warm-up step; evaluation comes on top)`];
  for (const e of estimates) {
    const work = `${e.epochs} epoch(s) × ${count(e.images)} images${e.alreadyDone ? ` − ${count(e.alreadyDone)} done` : ''}`;
    lines.push(`  ${e.kind.padEnd(4)} ${count(e.imagesPerSecond)} images/s × ${work} → ${formatDuration(e.seconds)}`);
  }
  return lines;
}

/**
 * The figures after each epoch as a markdown table, with each epoch's sample picture (drawn with
 * training's moving BatchNorm statistics, while the figures use recomputed ones).
 */
export function epochTable(row: ReproduceRow, out: string): string[] {
  const kind = row.plan.kind;
  const header = ['Epoch', 'Steps', 'Fréchet', 'Confidence', 'Coverage', ...(kind === 'cgan' ? ['Judge agreement'] : []), ...(kind === 'vae' ? ['Test −ELBO'] : []), 'Samples after the epoch'];
  const lines = [
    `Figures after each epoch (${count(row.epochFigures[0]!.samples)} samples; ${row.epochFigures.length} of ${row.plan.epochs} epochs measured so far):`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
  ];
  for (const e of row.epochFigures) {
    const picture = join(row.plan.out, 'epochs', `samples-epoch-${String(e.epoch).padStart(3, '0')}.png`);
    lines.push(`| ${[
      String(e.epoch),
      count(e.step),
      fixed(e.fid, 2),
      percent(e.confidence),
      fixed(e.coverage, 3),
      ...(kind === 'cgan' ? [percent(e.judgeAccuracy)] : []),
      ...(kind === 'vae' ? [fixed(e.testLoss, 2)] : []),
      existsSync(picture) ? `[epoch ${e.epoch}](${relative(out, picture)})` : '—',
    ].join(' | ')} |`);
  }
  return lines;
}

/** README.md of the folder: what was run, the table of figures, the pictures. */
export function readmeFor(rows: readonly ReproduceRow[], context: { adapter: string; estimate: readonly string[]; date: string; out: string }): string {
  const header = ['Model', 'Preset', 'Epochs done', 'Images/s', 'Fréchet', 'Floor', 'Confidence', 'Coverage', 'Judge agreement (cGAN)', 'Test −ELBO (VAE)', 'Pictures'];
  const table = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const s = row.summary;
    const q = row.state === 'finished' ? s?.quality : undefined;
    const preset = `seed${row.plan.overrides ? ` (${row.plan.overrides})` : ''}`;
    const epochs = `${row.epochsDone} of ${row.plan.epochs}${row.state === 'finished' ? '' : row.state === 'new' ? ' (not started)' : ' (unfinished)'}`;
    const pictures = s && row.state === 'finished'
      ? s.pictures.map((p) => `[${p.split('/').pop()!.replace(/\.png$/, '')}](${relative(context.out, p)})`).join(' · ')
      : '—';
    table.push(`| ${[
      row.plan.kind,
      preset,
      epochs,
      s && row.state === 'finished' ? count(s.imagesPerSecond) : '—',
      fixed(q?.fid, 2),
      fixed(q?.fidFloor, 2),
      percent(q?.confidence),
      fixed(q?.coverage, 3),
      row.plan.kind === 'cgan' ? percent(q?.judgeAccuracy) : '—',
      row.plan.kind === 'vae' ? fixed(q?.testLoss, 2) : '—',
      pictures,
    ].join(' | ')} |`);
  }
  const finished = rows.filter((r) => r.state === 'finished');
  const anyQuality = finished.find((r) => r.summary?.quality)?.summary?.quality;
  const lines = [
    '# Reproduction of the report\'s models (seed presets)',
    '',
    `Written by \`npm run reproduce\` on ${context.date}, adapter: ${context.adapter}.`,
    rows.every((r) => r.state === 'finished') ? '' : '\n**Unfinished**: run `npm run reproduce -- --resume` (with the same flags) to continue.\n',
    ...table,
    '',
    'Figures (generated samples judged by the classifier in assets/ or out/classifier; definitions in src/metrics/quality.ts and src/metrics/judge-labels.ts):',
    `- **Fréchet**: Fréchet distance between Gaussians fitted to the judge's penultimate features of the generated samples and of the ${anyQuality ? count(anyQuality.referenceImages) : '10,000'} test digits (lower is better).`,
    `- **Floor**: the same distance for ${anyQuality ? count(anyQuality.floorImages) : '10,000'} real training digits — what a perfect generator scores.`,
    '- **Confidence**: share of generated samples to which the judge gives softmax probability ≥ 0.9 for one digit.',
    '- **Coverage**: normalised entropy of the judge\'s labels of the samples over the 10 digits: 1 = all digits equally often, 0 = a single digit.',
    '- **Judge agreement**: share of the cGAN\'s samples the judge labels as the digit asked for. **Test −ELBO**: the VAE\'s negative ELBO per test digit.',
    '- GAN pictures and figures use inference mode, with the generator\'s BatchNorm statistics recomputed for the final weights.',
    '',
    'Time estimate printed at the start:',
    '',
    '```',
    ...context.estimate,
    '```',
  ];
  for (const row of rows) {
    const samples = row.state === 'finished' ? row.summary!.pictures.find((p) => p.endsWith('samples.png')) : undefined;
    if (!samples && row.epochFigures.length === 0) continue;
    lines.push('', `## ${row.plan.kind}`);
    if (samples) {
      lines.push('', `![${row.plan.kind} samples](${relative(context.out, samples)})`);
      const labels = row.summary!.quality?.labelShares;
      if (labels) lines.push('', `Judge's labels of the samples: ${labels.map((share, d) => `${d}: ${(100 * share).toFixed(1)}%`).join(', ')}`);
    }
    if (row.epochFigures.length) lines.push('', ...epochTable(row, context.out));
  }
  return lines.join('\n') + '\n';
}

/** Trains, measures and tabulates the requested models (see the file comment). */
export async function reproduce(o: ReproduceOptions = {}): Promise<ReproduceResult> {
  const log = o.log ?? ((line: string) => console.log(line));
  const out = o.out ?? DEFAULT_REPRODUCE_OUT;
  const kinds = o.kinds ?? MODEL_KINDS;
  if (kinds.length === 0) throw new RangeError('reproduce: no models to run');
  if (new Set(kinds).size !== kinds.length) throw new RangeError(`reproduce: a model is named twice (${kinds.join(', ')})`);
  for (const [name, value, min] of [['epochs', o.epochs, 1], ['limit', o.limit, 1], ['samples', o.samples, 2], ['batchSize', o.batchSize, 2], ['timingSteps', o.timingSteps, 1]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < min)) throw new RangeError(`reproduce: ${name} must be a whole number ≥ ${min}, got ${value}`);
  }
  const timingSteps = o.timingSteps ?? 3;
  const rows = kinds.map((kind) => stateOf(planFor(kind, { ...o, out })));
  if (!o.resume) {
    const taken = rows.filter((r) => r.state !== 'new');
    if (taken.length) {
      throw new Error(`${taken.map((r) => r.plan.out).join(', ')} already hold${taken.length === 1 ? 's' : ''} a run: pass --resume to continue (finished models are skipped), or choose another --out`);
    }
  }

  const adapter = getGpu().info.description;
  const estimates: TimeEstimate[] = [];
  for (const row of rows) {
    if (row.state === 'finished') {
      log(`${row.plan.kind}: finished in ${row.plan.out} (${row.epochsDone} epochs), skipped`);
      continue;
    }
    const imagesPerEpoch = Math.min(row.plan.limit ?? Infinity, 60_000);
    const speed = await measureSpeed(row.plan, timingSteps, { ...row.plan.preset.model, ...o.modelConfig?.[row.plan.kind] });
    estimates.push(estimateFor(row, speed, imagesPerEpoch));
  }
  const estimate = estimates.length ? formatEstimate(estimates, adapter, timingSteps) : ['nothing left to train'];
  for (const line of estimate) log(line);

  let finished = true;
  for (const row of rows) {
    if (row.state === 'finished') continue;
    const { plan } = row;
    log(`\n${plan.kind}: seed preset${plan.overrides ? ` (${plan.overrides})` : ''} → ${plan.out}`);
    const summary = await runTraining({
      kind: plan.kind,
      epochs: plan.epochs,
      batchSize: plan.batchSize,
      limit: plan.limit,
      lr: plan.preset.lr,
      seed: 0,
      out: plan.out,
      resume: true,
      samples: plan.samples,
      evalImages: plan.preset.evalImages,
      evaluate: true,
      judgePath: o.judgePath,
      progress: o.progress,
      testLimit: o.testLimit,
      modelConfig: { ...plan.preset.model, ...o.modelConfig?.[plan.kind] },
      batchNormBatches: o.batchNormBatches,
      measureEachEpoch: true,
      log,
    });
    Object.assign(row, stateOf(plan));
    if (summary.interrupted) {
      finished = false;
      log(`${plan.kind} stopped before its last epoch: run again with --resume to continue`);
      break;
    }
  }

  const readmePath = join(out, 'README.md');
  const readme = readmeFor(rows, { adapter, estimate, date: new Date().toISOString().slice(0, 10), out });
  writeFileAtomic(readmePath, new TextEncoder().encode(readme));
  log(`\ntable and pictures: ${readmePath}`);
  return { rows, estimates, finished: finished && rows.every((r) => r.state === 'finished'), readmePath, readme };
}
