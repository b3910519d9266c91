// Writes a trained model's sampling half, small, for a web page: the VAE's decoder or a GAN's
// generator (with its BatchNorm statistics), every weight in half precision (F16), and in the
// metadata the model's config and the recipe that trained it (preset, epochs, steps, seed, and
// the quality figures its run measured). The playground ships three such files.
//
//   npm run export-weights -- --model cgan --out playground/weights/cgan.safetensors
//   npm run export-weights -- --model vae --checkpoint runs/vae-seed/checkpoint.safetensors --out playground/weights/vae.safetensors

import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { runScript } from '../src/io/cli.ts';
import { parseFlagsOrExit, type FlagSpecs } from '../src/io/flags.ts';
import { saveCheckpoint } from '../src/nn/checkpoint-file.ts';
import { PRESETS } from '../src/runs/presets.ts';
import { MODEL_KINDS, type ModelKind } from '../src/models/kinds.ts';
import { Vae } from '../src/models/vae.ts';
import { loadTrained } from './report.ts';
import { fileSha256, recordedPath } from '../src/io/project-path.ts';
import type { QualityFigures } from '../src/metrics/quality.ts';

const FLAGS = {
  model: { type: 'choice', choices: MODEL_KINDS, required: true, help: 'which trained model' },
  checkpoint: { type: 'string', placeholder: 'FILE', help: 'checkpoint to export (default out/<model>/checkpoint.safetensors)' },
  out: { type: 'string', placeholder: 'FILE', required: true, help: 'safetensors file to write' },
  f32: { type: 'boolean', default: false, help: 'keep the weights in f32 (default: F16, half the size)' },
} as const satisfies FlagSpecs;

const flags = parseFlagsOrExit(FLAGS, { program: 'npm run export-weights --', description: "Writes a trained model's decoder or generator alone, small, for the playground page." });
const kind = flags.model as ModelKind;

/**
 * The figures as the file records them: a summary written before judges were recorded relatively
 * names its judge by an absolute path, which the shipped metadata must not carry; it gets the
 * project-relative name (or file name) and, when the file is still there, its sha256.
 */
function portableQuality(q: QualityFigures | undefined): QualityFigures | undefined {
  if (!q || !isAbsolute(q.judge)) return q;
  return { ...q, judge: recordedPath(q.judge), ...(q.judgeSha256 === undefined && existsSync(q.judge) ? { judgeSha256: fileSha256(q.judge) } : {}) };
}

await runScript('export-weights', async () => {
  const { checkpoint, info, model } = await loadTrained(kind, flags.checkpoint);
  const key = model instanceof Vae ? 'decoder' : 'generator';
  // The run's summary (written beside the checkpoint) holds the preset and measured figures.
  const summaryPath = join(dirname(checkpoint), 'summary.json');
  const summary = existsSync(summaryPath) ? (JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>) : {};
  // Which preset the run was (its epochs, batch size and images), if it was one.
  const preset = Object.entries(PRESETS[kind]).find(([, p]) => p.epochs === summary.epochs && p.batchSize === summary.batchSize && (p.limit ?? 60000) === summary.trainImages)?.[0];
  const recipe = {
    trainedBy: `npm run train -- --model ${kind}${preset ? ` --preset ${preset}` : ' (settings below)'}`,
    epochs: info.progress.epoch,
    steps: info.progress.step,
    seed: info.progress.seed,
    batchSize: summary.batchSize,
    trainImages: summary.trainImages,
    adapter: summary.adapter,
    quality: portableQuality(summary.quality as QualityFigures | undefined),
    exportedFrom: recordedPath(checkpoint),
    precision: flags.f32 ? 'f32' : 'f16 (rounded to nearest from the f32 weights)',
  };
  const extra: Record<string, string> = { recipe: JSON.stringify(recipe) };
  if (info.extra.batchNormStatistics) extra.batchNormStatistics = info.extra.batchNormStatistics;
  await saveCheckpoint(flags.out, { model: kind, config: model.config, modules: { [key]: model.modules[key] }, progress: info.progress, extra }, { half: !flags.f32 });
  model.dispose();
  console.log(`wrote the ${kind}'s ${key} to ${flags.out} (${(readFileSync(flags.out).length / 1024).toFixed(0)} KiB, ${flags.f32 ? 'f32' : 'f16'}; from ${checkpoint}, epoch ${info.progress.epoch}, step ${info.progress.step})`);
});
