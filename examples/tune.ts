// `npm run tune`: measures, on this machine's adapter, every candidate kernel of every problem
// (op, pass and shape) the models' training steps run, at the bench's batch sizes, verifies each
// against its float64 reference first, and remembers the fastest verified one in the cache of
// kernel choices (its path is printed here and by `npm run info`). Later runs use the choices
// by themselves (init's tune 'cached', the default). docs/kernels.md ("Tuning") has the method.
//
//   npm run tune [-- --models vae,gan,cgan] [--json FILE] [--again] [--budget MS]

import { writeFileSync } from 'node:fs';
import { exitWithFlagError, parseFlagsOrExit } from '../src/io/flags.ts';
import { runScript } from '../src/io/cli.ts';
import { sync } from '../src/core/dispatch.ts';
import { tidy } from '../src/core/scope.ts';
import { problemsSeen } from '../src/core/kernel-policy.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';
import { createModel, MODEL_KINDS, type ModelKind } from '../src/models/kinds.ts';
import { PRESETS } from '../src/runs/presets.ts';
import { tune, tuneCacheLocation } from '../src/tune/session.ts';
import { PROBLEM_BUDGET_MS, type TuneResult } from '../src/tune/tuner.ts';

const SPECS = {
  models: { type: 'string', default: MODEL_KINDS.join(','), placeholder: 'vae,gan,cgan', help: 'the models whose training steps are tuned' },
  json: { type: 'string', placeholder: 'FILE', help: 'also write every problem\'s candidates, times and choice here' },
  again: { type: 'boolean', help: 'measure problems the cache already has a choice for' },
  budget: { type: 'int', default: PROBLEM_BUDGET_MS, min: 100, placeholder: 'MS', help: 'time budget per problem, in milliseconds' },
} as const;
const USAGE = {
  program: 'npm run tune --',
  description: "Measures and verifies the candidate kernels of the models' training steps on this adapter (seed presets' batch sizes: VAE 128, GANs 256) and keeps the fastest in the cache of kernel choices.",
};
const flags = parseFlagsOrExit(SPECS, USAGE);

const kinds = flags.models.split(',').map((m) => m.trim()).filter(Boolean);
for (const k of kinds) {
  if (!MODEL_KINDS.includes(k as ModelKind)) exitWithFlagError(`--models: '${k}' is not one of ${MODEL_KINDS.join(', ')}`, SPECS, USAGE);
}
if (kinds.length === 0) exitWithFlagError('--models names no model', SPECS, USAGE);

function print(r: TuneResult): void {
  const ms = (v?: number) => (v === undefined ? '' : `${v.toFixed(2)} ms`);
  const def = r.candidates.find((c) => c.kernel === r.default);
  const chosen = r.candidates.find((c) => c.kernel === r.chosen);
  const gain = def?.ms && chosen?.ms ? ` (${(def.ms / chosen.ms).toFixed(2)}× the default)` : '';
  console.log(`\n${r.problem}  timed at batch ${r.timedBatch} (${r.clock}): ${r.chosen}${r.chosen === r.default ? ', the default' : ''}${gain}`);
  if (r.confirmation) {
    const c = r.confirmation;
    console.log(`  confirmed at the full batch ${c.batch}: ${c.challenger} ${c.challengerMs.toFixed(2)} ms, the default ${r.default} ${c.defaultMs.toFixed(2)} ms → ${r.chosen}`);
  }
  for (const c of r.candidates) console.log(`  ${c.kernel.padEnd(14)} ${ms(c.ms).padStart(10)}  ${c.status}${c.runs > 1 ? ` (median of ${c.runs})` : ''}${c.note ? `: ${c.note}` : ''}`);
}

await runScript('tune', async (gpu) => {
  console.log(`adapter: ${gpu.info.description}`);
  console.log(`kernel choices: ${tuneCacheLocation() ?? 'not kept (no store on this host)'}`);
  const all: { model: string; results: TuneResult[] }[] = [];
  const started = performance.now();
  for (const kind of kinds as ModelKind[]) {
    const preset = PRESETS[kind].seed;
    const data = loadMnistGpu('train', { limit: preset.batchSize, range: kind === 'vae' ? [0, 1] : [-1, 1] });
    const model = createModel(kind, { ...(preset.model ?? {}), seed: 1 });
    try {
      // One training step, to find the problems the step runs (the weights it changes are thrown away).
      problemsSeen(true);
      const batch = data.batches(0, { batchSize: preset.batchSize, seed: 1 }).next().value!;
      tidy(() => model.trainStep(batch, 0)).forEach((t) => t.dispose());
      await sync();
      const problems = [...problemsSeen().values()];
      console.log(`\n== ${kind}: ${problems.length} problems in a training step at batch ${preset.batchSize}`);
      const results = await tune({ problems, again: flags.again, budgetMs: flags.budget, onResult: print });
      if (results.length < problems.length) console.log(`  (${problems.length - results.length} already in the cache; --again measures them anew)`);
      all.push({ model: kind, results });
    } finally {
      model.dispose();
      data.dispose();
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const tuned = all.flatMap((m) => m.results);
  const wrong = tuned.flatMap((r) => r.candidates.filter((c) => c.status === 'wrong' || c.status === 'failed').map((c) => `${r.problem}: ${c.kernel} ${c.note}`));
  console.log(`\ntuned ${tuned.length} problems in ${seconds.toFixed(1)} s; ${tuned.filter((r) => r.chosen !== r.default).length} run another kernel than the fixed rule's`);
  if (wrong.length) console.log(`candidates refused (never chosen):\n  ${wrong.join('\n  ')}`);
  if (flags.json) {
    writeFileSync(flags.json, JSON.stringify({ adapter: gpu.info, seconds, models: all }, null, 2) + '\n');
    console.log(`wrote ${flags.json}`);
  }
}, { tune: 'on' });
