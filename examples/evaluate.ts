// Measures a trained checkpoint: Fréchet distance of the judge's features (beside its floor, the
// distance of real training digits), the judge's confidence and the coverage of its labels on
// generated samples, the judge's accuracy (per digit for the cGAN, on reconstructions for the
// VAE), the VAE's test negative ELBO. GANs are sampled in inference mode with the BatchNorm
// statistics their checkpoint holds (recomputed for the final weights at the end of training).
//
//   npm run evaluate -- --model vae [--checkpoint FILE] [--samples 10000] [--judge FILE]

import { join, dirname } from 'node:path';
import { writeFileSync } from 'node:fs';
import { runScript } from '../src/io/cli.ts';
import { parseFlagsOrExit, type FlagSpecs } from '../src/io/flags.ts';
import { MODEL_KINDS, type ModelKind } from '../src/models/kinds.ts';
import { loadJudge } from '../src/metrics/judge.ts';
import { measureQuality } from '../src/metrics/quality.ts';
import { batchNormNote, formatQuality, loadTrained } from './report.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';

const FLAGS = {
  model: { type: 'choice', choices: MODEL_KINDS, required: true, help: 'which trained model' },
  checkpoint: { type: 'string', placeholder: 'FILE', help: 'checkpoint to measure (default out/<model>/checkpoint.safetensors)' },
  samples: { type: 'int', default: 10000, min: 100, help: 'generated samples' },
  judge: { type: 'string', placeholder: 'FILE', help: 'judge classifier checkpoint (default: out/classifier, else the shipped one)' },
} as const satisfies FlagSpecs;

const flags = parseFlagsOrExit(FLAGS, { program: 'npm run evaluate --', description: "Measures a trained model's samples with the judge classifier." });
const kind = flags.model as ModelKind;

await runScript('evaluate', async () => {
  const { checkpoint, info, model } = await loadTrained(kind, flags.checkpoint);
  const test = loadMnistGpu('test', { range: [0, 1] });
  const judge = await loadJudge(test, flags.judge);
  const quality = await measureQuality(model, judge, test, flags.samples);
  const note = batchNormNote(kind, info.extra);
  if (note) console.log(note);
  console.log(`${kind} from ${checkpoint} (epoch ${info.progress.epoch}):`);
  for (const line of formatQuality(quality, kind)) console.log(line);
  const path = join(dirname(checkpoint), 'evaluation.json');
  writeFileSync(path, JSON.stringify({ model: kind, checkpoint, epoch: info.progress.epoch, ...quality }, null, 2) + '\n');
  console.log(`written to ${path}`);
  judge.classifier.dispose();
  model.dispose();
  test.dispose();
});
