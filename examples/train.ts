// Trains one of the seed's models (or the judge classifier), draws its pictures after every epoch
// and at the end, checkpoints every epoch, and measures its quality.
//
//   npm run train -- --model vae|gan|cgan|classifier [--preset quick|seed] [--epochs N] ...
//   npm run train:vae   (and train:gan, train:cgan, train:classifier)
//
// Ctrl-C stops after the current step and leaves a checkpoint; --resume continues from it.

import { init, shutdownDevice } from '../src/index.ts';
import { parseFlagsOrExit, type FlagSpecs } from '../src/io/flags.ts';
import { MODEL_KINDS, PRESETS, runClassifierTraining, runTraining, type ModelKind, type PresetName } from '../src/models/run.ts';
import { printTrainSummary } from './report.ts';

const FLAGS = {
  model: { type: 'choice', choices: [...MODEL_KINDS, 'classifier'], required: true, help: 'which model to train' },
  preset: { type: 'choice', choices: ['quick', 'seed'], default: 'quick', help: "'seed' = the report's full settings; 'quick' = minutes on a CPU" },
  epochs: { type: 'int', min: 1, help: 'passes over the training images (default: the preset\'s)' },
  batchSize: { type: 'int', min: 1, help: "images per step (default: the preset's)" },
  limit: { type: 'int', min: 1, placeholder: 'N', help: "train on the first N images (default: the preset's)" },
  lr: { type: 'number', min: 0, exclusiveMin: true, help: 'learning rate (default: the model\'s)' },
  seed: { type: 'int', default: 0, min: 0, help: 'seed for weights, data order and noise' },
  out: { type: 'string', placeholder: 'DIR', help: 'output folder (default out/<model>)' },
  resume: { type: 'boolean', help: 'continue from <out>/checkpoint.safetensors if it exists' },
  samples: { type: 'int', min: 100, help: 'generated samples for the quality figures (default 10000)' },
  evaluate: { type: 'boolean', default: true, help: 'measure quality after training (--no-evaluate to skip)' },
  judge: { type: 'string', placeholder: 'FILE', help: 'judge classifier checkpoint (default: out/classifier, else the shipped one)' },
  init: { type: 'string', placeholder: 'FILE', help: 'classifier only: start from these weights (fine-tuning, fresh optimizer)' },
  verbose: { type: 'boolean', help: 'print the WebGPU adapter' },
} as const satisfies FlagSpecs;

// `npm run train:vae -- ...` passes the model as the first argument.
const argv = process.argv.slice(2);
if (argv[0] && !argv[0].startsWith('-')) argv.splice(0, 1, '--model', argv[0]);
const flags = parseFlagsOrExit(FLAGS, { program: 'npm run train --', description: 'Trains a VAE, DCGAN, conditional GAN or the judge classifier on MNIST.' }, argv);

const gpu = await init();
if (flags.verbose) console.log(`adapter: ${gpu.info.description}`);
try {
  if (flags.model === 'classifier') {
    const out = flags.out ?? 'out/classifier';
    const r = await runClassifierTraining({
      epochs: flags.epochs ?? 4,
      batchSize: flags.batchSize ?? 128,
      lr: flags.lr ?? 1e-3,
      seed: flags.seed,
      limit: flags.limit,
      out,
      init: flags.init,
    });
    console.log(`judge classifier: test accuracy ${(100 * r.testAccuracy).toFixed(2)}%, saved to ${r.path}`);
  } else {
    const kind = flags.model as ModelKind;
    const preset = PRESETS[kind][flags.preset as PresetName];
    const out = flags.out ?? `out/${kind}`;
    const summary = await runTraining({
      kind,
      epochs: flags.epochs ?? preset.epochs,
      batchSize: flags.batchSize ?? preset.batchSize,
      limit: flags.limit ?? preset.limit,
      lr: flags.lr ?? preset.lr,
      seed: flags.seed,
      out,
      resume: flags.resume,
      samples: flags.samples ?? preset.samples,
      evalImages: preset.evalImages,
      evaluate: flags.evaluate,
      judgePath: flags.judge,
      modelConfig: preset.model,
    });
    printTrainSummary(summary, out);
  }
} catch (error) {
  console.error(`train: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  shutdownDevice();
}
