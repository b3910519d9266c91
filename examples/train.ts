// Trains one of the seed's models (or the judge classifier), draws its pictures after every epoch
// and at the end, checkpoints every epoch, and measures its quality.
//
//   npm run train -- --model vae|gan|cgan|classifier [--preset quick|seed] [--epochs N] ...
//   npm run train:vae   (and train:gan, train:cgan, train:classifier)
//
// Ctrl-C stops after the current step and leaves a checkpoint; --resume continues from it.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { exitWithFlagError, kebabCase, parseFlagsGivenOrExit, type FlagSpecs } from '../src/io/flags.ts';
import { runScript } from '../src/io/cli.ts';
import { readCheckpointInfo } from '../src/nn/checkpoint-file.ts';
import { PRESETS, type PresetName } from '../src/runs/presets.ts';
import { MODEL_KINDS, type ModelKind } from '../src/models/kinds.ts';
import { runClassifierTraining, runTraining } from '../src/runs/run.ts';
import { printTrainSummary } from './report.ts';

const FLAGS = {
  model: { type: 'choice', choices: [...MODEL_KINDS, 'classifier'], required: true, help: 'which model to train' },
  preset: { type: 'choice', choices: ['quick', 'seed'], default: 'quick', help: "vae/gan/cgan: 'seed' = the report's full settings; 'quick' = minutes on a CPU" },
  epochs: { type: 'int', min: 1, help: 'passes over the training images (default: the preset\'s)' },
  batchSize: { type: 'int', min: 1, help: "images per step (default: the preset's)" },
  limit: { type: 'int', min: 1, placeholder: 'N', help: "train on the first N images (default: the preset's)" },
  lr: { type: 'number', min: 0, exclusiveMin: true, help: 'learning rate (default: the model\'s; a resumed run keeps its own)' },
  seed: { type: 'int', default: 0, min: 0, help: 'seed for weights, data order and noise (a resumed run keeps its own)' },
  out: { type: 'string', placeholder: 'DIR', help: 'output folder (default out/<model>)' },
  resume: { type: 'boolean', help: 'continue from <out>/checkpoint.safetensors if it exists' },
  force: { type: 'boolean', help: 'start over even if <out> holds a checkpoint (it is replaced)' },
  samples: { type: 'int', min: 100, help: 'vae/gan/cgan: generated samples for the quality figures (default 10000)' },
  evaluate: { type: 'boolean', default: true, help: 'vae/gan/cgan: measure quality after training (--no-evaluate to skip)' },
  judge: { type: 'string', placeholder: 'FILE', help: 'vae/gan/cgan: judge classifier checkpoint (default: out/classifier, else the shipped one)' },
  init: { type: 'string', placeholder: 'FILE', help: 'classifier only: start from these weights (fine-tuning, fresh optimizer)' },
  verbose: { type: 'boolean', help: 'print the WebGPU adapter' },
} as const satisfies FlagSpecs;

const INFO = { program: 'npm run train --', description: 'Trains a VAE, DCGAN, conditional GAN or the judge classifier on MNIST.' };

// `npm run train:vae -- ...` passes the model as the first argument.
const argv = process.argv.slice(2);
const named = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
if (named) {
  const other = argv.slice(1).findIndex((a) => a === '--model' || a.startsWith('--model='));
  if (other >= 0) {
    const flag = argv[other + 1];
    const value = flag.includes('=') ? flag.slice(flag.indexOf('=') + 1) : argv[other + 2];
    exitWithFlagError(`this command already names the model (${named}, as in \`npm run train:${named}\`); --model ${value ?? ''} contradicts it: use \`npm run train -- --model ${value ?? '…'}\``, FLAGS, INFO);
  }
  argv.splice(0, 1, '--model', named);
}
const { flags, given } = parseFlagsGivenOrExit(FLAGS, INFO, argv);

/** A flag the command line gave that does nothing for this run: refused, with the reason. */
function refuse(flag: keyof typeof FLAGS, reason: string): void {
  if (given.has(flag)) exitWithFlagError(`--${kebabCase(flag)} ${reason}`, FLAGS, INFO);
}

const isClassifier = flags.model === 'classifier';
const out = flags.out ?? `out/${flags.model}`;
if (isClassifier) {
  const why = 'does not apply to the classifier (it has no presets, samples or judge; its test accuracy is measured every epoch)';
  for (const flag of ['preset', 'samples', 'judge', 'evaluate'] as const) refuse(flag, why);
} else {
  refuse('init', `is for the classifier only (it fine-tunes the judge); to continue a ${flags.model} run use --resume`);
}
if (flags.resume && flags.force) exitWithFlagError('--resume and --force contradict each other: --resume continues the checkpoint, --force replaces it', FLAGS, INFO);
const checkpoint = join(out, 'checkpoint.safetensors');
if (flags.resume && existsSync(checkpoint)) {
  // A resumed run continues exactly: its learning rate and seed are the checkpoint's.
  const info = readCheckpointInfo(checkpoint, flags.model);
  const optimizers = JSON.parse(info.metadata.optimizers ?? '{}') as Record<string, { hyper?: { lr?: number } }>;
  const savedLr = Object.values(optimizers)[0]?.hyper?.lr ?? (info.config as { lr?: number }).lr;
  if (given.has('lr') && savedLr !== undefined && Math.fround(flags.lr!) !== Math.fround(savedLr)) {
    refuse('lr', `cannot change a resumed run's learning rate (the checkpoint's is ${savedLr}): drop --lr, or start a new run with --out DIR (or --force)`);
  }
  if (given.has('seed') && flags.seed !== info.progress.seed) {
    refuse('seed', `cannot change a resumed run's seed (the checkpoint's is ${info.progress.seed}): drop --seed, or start a new run`);
  }
}

await runScript('train', async (gpu) => {
  if (flags.verbose) console.log(`adapter: ${gpu.info.description}`);
  if (isClassifier) {
    const r = await runClassifierTraining({
      epochs: flags.epochs ?? 4,
      batchSize: flags.batchSize ?? 128,
      lr: flags.lr ?? 1e-3,
      seed: flags.seed,
      limit: flags.limit,
      out,
      init: flags.init,
      resume: flags.resume,
      force: flags.force,
    });
    if (r.interrupted) return 130;
    console.log(`judge classifier: test accuracy ${(100 * r.testAccuracy).toFixed(2)}%, saved to ${r.path}`);
    return 0;
  }
  const kind = flags.model as ModelKind;
  const preset = PRESETS[kind][flags.preset as PresetName];
  const summary = await runTraining({
    kind,
    epochs: flags.epochs ?? preset.epochs,
    batchSize: flags.batchSize ?? preset.batchSize,
    limit: flags.limit ?? preset.limit,
    lr: flags.lr ?? preset.lr,
    seed: flags.seed,
    out,
    resume: flags.resume,
    force: flags.force,
    samples: flags.samples ?? preset.samples,
    evalImages: preset.evalImages,
    evaluate: flags.evaluate,
    judgePath: flags.judge,
    modelConfig: preset.model,
  });
  printTrainSummary(summary, out);
  return summary.interrupted ? 130 : 0;
});
