// How the scripts print results: a few lines a person reads, pointing at the pictures.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { QualityFigures } from '../src/metrics/quality.ts';
import { loadCheckpoint, readCheckpointInfo } from '../src/nn/checkpoint-file.ts';
import type { CheckpointInfo } from '../src/nn/checkpoint.ts';
import { createModel, modelConfigFrom, type ModelKind } from '../src/models/kinds.ts';
import type { Vae } from '../src/models/vae.ts';
import type { Gan } from '../src/models/gan.ts';
import type { TrainRunSummary } from '../src/runs/run.ts';

const percent = (share: number, digits = 1): string => `${(100 * share).toFixed(digits)}%`;

export function formatQuality(q: QualityFigures, kind: string): string[] {
  // Summaries written before the floor and the label figures existed lack them.
  const floor = typeof q.fidFloor === 'number' ? ` (floor ${q.fidFloor.toFixed(2)}: ${q.floorImages.toLocaleString('en-US')} real training digits)` : '';
  const lines = [`Fréchet distance (judge features, ${q.samples} samples vs ${q.referenceImages.toLocaleString('en-US')} test digits): ${q.fid.toFixed(2)}${floor}`];
  if (typeof q.confidence === 'number') {
    lines.push(`confidence (share of samples the judge gives ≥ ${q.confidenceThreshold} probability for one digit): ${percent(q.confidence)}`);
  }
  if (typeof q.coverage === 'number') {
    lines.push(`coverage (normalised entropy of the judge's labels: 1 = all 10 digits equally, 0 = one digit): ${q.coverage.toFixed(3)}`);
    lines.push('  labels: ' + q.labelShares.map((share, d) => `${d}: ${percent(share, 0)}`).join('  '));
  }
  if (kind === 'vae') {
    lines.push(`test negative ELBO (${q.testImages.toLocaleString('en-US')} test digits): ${q.testLoss!.toFixed(2)} per image (reconstruction ${q.testReconstruction!.toFixed(2)} + KL ${q.testKl!.toFixed(2)})`);
    lines.push(`judge accuracy on reconstructions of test digits: ${(100 * q.judgeAccuracy!).toFixed(2)}%`);
  }
  if (kind === 'cgan') lines.push(`judge agrees with the requested digit: ${(100 * q.judgeAccuracy!).toFixed(2)}%`);
  if (q.perDigitAccuracy && kind !== 'gan') {
    lines.push('  per digit: ' + q.perDigitAccuracy.map((a, d) => `${d}: ${(100 * a).toFixed(0)}%`).join('  '));
  }
  lines.push(`(judge: ${q.judge}, ${(100 * q.judgeTestAccuracy).toFixed(2)}% on the test set)`);
  return lines;
}

export function printTrainSummary(s: TrainRunSummary, out: string): void {
  const losses = Object.entries(s.finalLosses).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
  console.log(`\n${s.model}: ${s.epochs} epoch(s) on ${s.trainImages} images in ${s.seconds.toFixed(1)} s (${Math.round(s.imagesPerSecond)} images/s); last step: ${losses}`);
  if (s.channels && s.channels.width !== 1) {
    const c = s.channels;
    const widths = c.discriminatorWidth === c.width ? `${c.width} of the tutorial's` : `generator ${c.width}, discriminator ${c.discriminatorWidth} of the tutorial's`;
    console.log(`channels: ${widths} (generator ${c.generator.join('/')}, discriminator ${c.discriminator.join('/')}; the tutorial's: 256/128/64, 64/128)`);
  }
  if (s.matchingAware) console.log("discriminator: matching-aware (real digits shown with a wrong label count as fakes too; docs/models.md)");
  if (s.interrupted) console.log('stopped early: run again with --resume to continue');
  if (s.batchNormStatistics) {
    const b = s.batchNormStatistics;
    console.log(`generator BatchNorm statistics: recomputed for the final weights over ${b.batches} batches of ${b.batchSize} (the pictures and figures use them, as does the checkpoint)`);
  }
  if (s.quality) for (const line of formatQuality(s.quality, s.model)) console.log(line);
  console.log(`pictures: ${s.pictures.join(', ')}`);
  console.log(`summary: ${join(out, 'summary.json')}; checkpoint: ${join(out, 'checkpoint.safetensors')}`);
}

/** A note for a GAN checkpoint whose BatchNorm statistics are still training's moving averages. */
export function batchNormNote(kind: string, extra: Record<string, string>): string | undefined {
  if (kind === 'vae' || extra.batchNormStatistics) return undefined;
  return "note: this checkpoint's generator BatchNorm statistics are training's moving averages (an unfinished run, or one from before they were recomputed at the end of training)";
}

/** The checkpoint `generate` / `evaluate` read; when it is missing, the error says how to make one. */
export function checkpointFor(kind: string, given: string | undefined): string {
  const path = given ?? `out/${kind}/checkpoint.safetensors`;
  if (!existsSync(path)) {
    throw new Error(
      given
        ? `checkpoint ${path} does not exist`
        : `no ${kind} checkpoint at ${path}: train one with \`npm run train:${kind}\` (about 5–20 minutes on a CPU), or name one with --checkpoint FILE`,
    );
  }
  return path;
}

/** A trained model rebuilt from its checkpoint (checkpointFor's default or the one given), weights loaded. */
export async function loadTrained(kind: ModelKind, given: string | undefined): Promise<{ checkpoint: string; info: CheckpointInfo; model: Vae | Gan }> {
  const checkpoint = checkpointFor(kind, given);
  const info = readCheckpointInfo(checkpoint, kind);
  const model = createModel(kind, modelConfigFrom(kind, info.config, checkpoint));
  await loadCheckpoint(checkpoint, { model: kind, modules: model.modules });
  return { checkpoint, info, model };
}
