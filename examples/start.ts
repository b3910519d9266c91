// `npm start`: the first thing a newcomer runs. Trains the seed's VAE with the quick preset
// (minutes on a CPU, well under a minute on a GPU), draws its pictures, and measures it with
// the judge classifier. Flags are those of `npm run train` (e.g. `npm start -- --preset seed`).

import { runScript } from '../src/io/cli.ts';
import { PRESETS } from '../src/runs/presets.ts';
import { runTraining } from '../src/runs/run.ts';
import { printTrainSummary } from './report.ts';
import { parseFlagsOrExit, type FlagSpecs } from '../src/io/flags.ts';

const FLAGS = {
  preset: { type: 'choice', choices: ['quick', 'seed'], default: 'quick', help: "'seed' = the report's 30 epochs on 60,000 digits" },
  out: { type: 'string', default: 'out/vae', placeholder: 'DIR', help: 'output folder' },
  resume: { type: 'boolean', help: 'continue an interrupted run' },
  force: { type: 'boolean', help: 'start over even if <out> holds a checkpoint (it is replaced)' },
  verbose: { type: 'boolean', help: 'print the WebGPU adapter' },
} as const satisfies FlagSpecs;

const flags = parseFlagsOrExit(FLAGS, { program: 'npm start --', description: 'Trains the VAE on MNIST, draws its pictures and measures them.' });
if (flags.resume && flags.force) {
  console.error('start: --resume and --force contradict each other: --resume continues the checkpoint, --force replaces it');
  process.exit(2);
}
await runScript('start', async (gpu) => {
  console.log(`WebGPU adapter: ${gpu.info.description}`);
  const preset = PRESETS.vae[flags.preset as 'quick' | 'seed'];
  console.log(
    `training the VAE (${flags.preset} preset: ${preset.epochs} epoch${preset.epochs > 1 ? 's' : ''} on ${preset.limit ?? 60000} digits, batch ${preset.batchSize}); ` +
      'Ctrl-C stops and keeps a checkpoint (resume with `npm start -- --resume`)',
  );
  const summary = await runTraining({
    kind: 'vae',
    epochs: preset.epochs,
    batchSize: preset.batchSize,
    lr: preset.lr,
    limit: preset.limit,
    seed: 0,
    out: flags.out,
    resume: flags.resume,
    force: flags.force,
    samples: preset.samples,
    evalImages: preset.evalImages,
    evaluate: true,
    modelConfig: preset.model,
  });
  printTrainSummary(summary, flags.out);
  return summary.interrupted ? 130 : 0;
});
