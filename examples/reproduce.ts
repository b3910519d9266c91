// Trains the report's three models at their seed presets one after another, measures each with
// the judge after every epoch and at the end, and writes out/reproduce/README.md with the figures
// side by side and epoch by epoch (src/runs/reproduce.ts).
// It starts by timing a few training steps of each model here and printing the expected time.
//
//   npm run reproduce                       (all three; days on a CPU, about an hour on a GPU)
//   npm run reproduce -- --resume           (continue: unfinished runs go on, finished ones are skipped)
//   npm run reproduce -- --models vae --epochs 1 --limit 2000   (a try-out)
//
// Ctrl-C stops after the current step and leaves a checkpoint; --resume continues from it.

import { runScript } from '../src/io/cli.ts';
import { parseFlagsOrExit, usage, type FlagSpecs } from '../src/io/flags.ts';
import { MODEL_KINDS, type ModelKind } from '../src/models/kinds.ts';
import { DEFAULT_REPRODUCE_OUT, parseModelList, reproduce } from '../src/runs/reproduce.ts';

const FLAGS = {
  models: { type: 'string', default: MODEL_KINDS.join(','), placeholder: 'LIST', help: `which models, comma-separated (${MODEL_KINDS.join(', ')})` },
  epochs: { type: 'int', min: 1, help: "epochs instead of each preset's (to try it out)" },
  limit: { type: 'int', min: 1, placeholder: 'N', help: 'train on the first N images instead of all 60,000 (to try it out)' },
  samples: { type: 'int', min: 100, help: "generated samples for the figures (after every epoch and at the end) instead of the preset's 10,000" },
  out: { type: 'string', default: DEFAULT_REPRODUCE_OUT, placeholder: 'DIR', help: 'folder for the runs (<out>/<model>/) and README.md' },
  resume: { type: 'boolean', help: 'continue unfinished runs in <out>, skip finished ones' },
  judge: { type: 'string', placeholder: 'FILE', help: 'judge classifier checkpoint (default: out/classifier, else the shipped one)' },
} as const satisfies FlagSpecs;

const info = { program: 'npm run reproduce --', description: "Trains the VAE, DCGAN and conditional GAN at their seed presets, measures them after every epoch and at the end, and writes a README with the tables." };
const flags = parseFlagsOrExit(FLAGS, info);
let kinds: ModelKind[];
try {
  kinds = parseModelList(flags.models);
} catch (error) {
  process.stderr.write(`error: ${(error as Error).message}\n\n${usage(FLAGS, info)}\n`);
  process.exit(2);
}

await runScript('reproduce', async () => {
  const result = await reproduce({
    kinds,
    out: flags.out,
    resume: flags.resume,
    epochs: flags.epochs,
    limit: flags.limit,
    samples: flags.samples,
    judgePath: flags.judge,
  });
  return result.finished ? 0 : 130;
});
