// Loads a trained model's checkpoint and writes a PNG grid of new samples.
//
//   npm run generate -- --model cgan --digit 7 --count 16
//   npm run generate -- --model vae --count 64 --seed 3

import { join } from 'node:path';
import { runScript } from '../src/io/cli.ts';
import { parseFlagsOrExit, type FlagSpecs } from '../src/io/flags.ts';
import { MODEL_KINDS, type ModelKind } from '../src/models/kinds.ts';
import { saveGrid } from '../src/runs/pictures.ts';
import { Vae } from '../src/models/vae.ts';
import { Gan } from '../src/models/gan.ts';
import { randn } from '../src/core/creation.ts';
import { batchNormNote, loadTrained } from './report.ts';

const FLAGS = {
  model: { type: 'choice', choices: MODEL_KINDS, required: true, help: 'which trained model' },
  checkpoint: { type: 'string', placeholder: 'FILE', help: 'checkpoint to load (default out/<model>/checkpoint.safetensors)' },
  count: { type: 'int', default: 16, min: 1, max: 1024, help: 'how many images' },
  digit: { type: 'int', min: 0, max: 9, help: 'the digit to draw (cgan only)' },
  seed: { type: 'int', default: 0, min: 0, help: 'noise seed' },
  out: { type: 'string', placeholder: 'FILE', help: 'PNG to write (default out/<model>/generated[-digit].png)' },
} as const satisfies FlagSpecs;

const flags = parseFlagsOrExit(FLAGS, { program: 'npm run generate --', description: 'Draws new digits from a trained checkpoint.' });
const kind = flags.model as ModelKind;
if (flags.digit !== undefined && kind !== 'cgan') {
  console.error(`generate: --digit needs --model cgan (a ${kind} cannot be told which digit to draw)`);
  process.exit(2);
}
const out = flags.out ?? join(`out/${kind}`, `generated${flags.digit !== undefined ? `-${flags.digit}` : ''}.png`);

await runScript('generate', async () => {
  const { checkpoint, info, model } = await loadTrained(kind, flags.checkpoint);
  model.eval();
  const note = batchNormNote(kind, info.extra);
  if (note) console.log(note);
  const cols = Math.ceil(Math.sqrt(flags.count));
  if (model instanceof Vae) {
    await saveGrid(out, () => model.decode(randn([flags.count, model.config.latentDim], { seed: flags.seed })), flags.count, cols, [0, 1]);
  } else {
    const gan = model as Gan;
    const digits = kind === 'cgan' ? Array.from({ length: flags.count }, (_, i) => flags.digit ?? i % 10) : undefined;
    await saveGrid(out, () => gan.generate(gan.noise(flags.count, flags.seed), digits && Gan.digits(digits)), flags.count, cols, [-1, 1]);
  }
  model.dispose();
  console.log(`wrote ${flags.count} ${kind === 'cgan' && flags.digit !== undefined ? `images of the digit ${flags.digit}` : 'samples'} to ${out} (from ${checkpoint}, epoch ${info.progress.epoch})`);
});
