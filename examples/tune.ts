// `npm run tune`: measures, on this machine's adapter, every candidate kernel of every problem
// (op, pass and shape) the models' training steps run, at the bench's batch sizes, verifies each
// against its float64 reference first, and remembers the fastest verified one in the cache of
// kernel choices (its path is printed here and by `npm run info`). Later runs use the choices
// by themselves (init's tune 'cached', the default). docs/kernels.md ("Tuning") has the method.
//
// The problems are found by planning one training step of each model (planOnly: every launch
// resolved, none run), with the layers labelled, so each problem is printed with the layer and
// pass it belongs to; the whole tuning shares one time budget, spent where the step's work is.
//
//   npm run tune [-- --models vae,gan,cgan,mlp] [--json FILE] [--again] [--budget SECONDS]

import { writeFileSync } from 'node:fs';
import { exitWithFlagError, parseFlagsOrExit } from '../src/io/flags.ts';
import { runScript } from '../src/io/cli.ts';
import { planOnly } from '../src/core/dispatch.ts';
import { tidy } from '../src/core/scope.ts';
import { problemKey, problemLayers, problemsSeen } from '../src/core/kernel-policy.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';
import { createModel, MODEL_KINDS } from '../src/models/kinds.ts';
import { createMlp } from '../src/models/mlp.ts';
import { Adam } from '../src/nn/optim.ts';
import { crossEntropy } from '../src/core/softmax-ops.ts';
import { SupervisedModel } from '../src/train/fit.ts';
import type { TrainableModel } from '../src/train/trainer.ts';
import { withLayerLabels } from '../src/nn/layer-labels.ts';
import { PRESETS } from '../src/runs/presets.ts';
import { tune, tuneCacheLocation } from '../src/tune/session.ts';
import type { TuneResult } from '../src/tune/tuner.ts';

/** The default budget of a whole `npm run tune`, in seconds. */
const TUNE_BUDGET_S = 120;

/** The models `--models` may name: the three generative models and the MLP of `npm run train:mlp`. */
const TUNED_MODELS = [...MODEL_KINDS, 'mlp'] as const;
type TunedModel = (typeof TUNED_MODELS)[number];
/** The MLP's batch: train:mlp's default and the bench's. */
const MLP_BATCH = 128;

const SPECS = {
  models: { type: 'string', default: TUNED_MODELS.join(','), placeholder: TUNED_MODELS.join(','), help: 'the models whose training steps are tuned' },
  json: { type: 'string', placeholder: 'FILE', help: 'also write every problem\'s candidates, times and choice here' },
  again: { type: 'boolean', help: 'measure problems the cache already has a choice for' },
  budget: { type: 'int', default: TUNE_BUDGET_S, min: 1, placeholder: 'SECONDS', help: 'time budget of the whole tuning, shared by the problems by their work, largest first' },
} as const;
const USAGE = {
  program: 'npm run tune --',
  description: "Measures and verifies the candidate kernels of the models' training steps on this adapter (seed presets' batch sizes: VAE 128, GANs 256; the MLP of train:mlp at 128) and keeps the fastest in the cache of kernel choices.",
};
const flags = parseFlagsOrExit(SPECS, USAGE);

const kinds = flags.models.split(',').map((m) => m.trim()).filter(Boolean);
for (const k of kinds) {
  if (!TUNED_MODELS.includes(k as TunedModel)) exitWithFlagError(`--models: '${k}' is not one of ${TUNED_MODELS.join(', ')}`, SPECS, USAGE);
}
if (kinds.length === 0) exitWithFlagError('--models names no model', SPECS, USAGE);

function print(r: TuneResult): void {
  const ms = (v?: number) => (v === undefined ? '' : `${v.toFixed(2)} ms`);
  const def = r.candidates.find((c) => c.kernel === r.default);
  const chosen = r.candidates.find((c) => c.kernel === r.chosen);
  const gain = def?.ms && chosen?.ms ? ` (${(def.ms / chosen.ms).toFixed(2)}× the default)` : '';
  const pass = r.problem.startsWith('conv.') ? r.problem.slice(5, r.problem.indexOf(' ')) : 'matmul';
  console.log(`\n${r.layers?.length ? r.layers.join(', ') : '(no layer)'} · ${pass}`);
  console.log(`${r.problem}  timed at batch ${r.timedBatch} (${r.clock}): ${r.chosen}${r.chosen === r.default ? ', the default' : ''}${gain}`);
  if (r.confirmation) {
    const c = r.confirmation;
    console.log(`  confirmed at the full batch ${c.batch}: ${c.challenger} ${c.challengerMs.toFixed(2)} ms, the default ${r.default} ${c.defaultMs.toFixed(2)} ms → ${r.chosen}`);
  }
  for (const c of r.candidates) console.log(`  ${c.kernel.padEnd(14)} ${ms(c.ms).padStart(10)}  ${c.status}${c.runs > 1 ? ` (median of ${c.runs})` : ''}${c.note ? `: ${c.note}` : ''}`);
}

/** The step `npm run tune` plans for a model: at the seed preset's batch (the MLP: train:mlp's), as its trainer runs it. */
function stepOf(kind: TunedModel): { batchSize: number; range: [number, number]; trainable: TrainableModel; dispose: () => void } {
  if (kind === 'mlp') {
    // train:mlp's model, loss and optimizer, stepped as fit() steps a Module.
    const mlp = createMlp({ seed: 1 });
    const optimizer = new Adam(mlp, { lr: 1e-3 });
    return { batchSize: MLP_BATCH, range: [0, 1], trainable: new SupervisedModel('mlp', {}, mlp, crossEntropy, optimizer), dispose: () => (optimizer.dispose(), mlp.dispose()) };
  }
  const preset = PRESETS[kind].seed;
  const model = createModel(kind, { ...(preset.model ?? {}), seed: 1 });
  return { batchSize: preset.batchSize, range: kind === 'vae' ? [0, 1] : [-1, 1], trainable: model, dispose: () => model.dispose() };
}

await runScript('tune', async (gpu) => {
  console.log(`adapter: ${gpu.info.description}`);
  console.log(`kernel choices: ${tuneCacheLocation() ?? 'not kept (no store on this host)'}`);
  console.log("(a transposed convolution's forward pass runs the convolution's inputGrad kernel, and its input gradient the forward kernel)");
  const started = performance.now();
  // One planned training step per model finds the problems its step runs (nothing is computed).
  problemsSeen(true);
  const batchSizes = new Map<string, number>();
  for (const kind of kinds as TunedModel[]) {
    const step = stepOf(kind);
    batchSizes.set(kind, step.batchSize);
    const data = loadMnistGpu('train', { limit: step.batchSize, range: step.range });
    try {
      const batch = data.batches(0, { batchSize: step.batchSize, seed: 1 }).next().value!;
      // Layers labelled from the model's kind: 'vae.encoder.conv1'; a module named as the kind itself (the MLP's) gives 'mlp.hidden'.
      const labelled = Object.fromEntries(Object.entries(step.trainable.modules).map(([name, m]) => [name === kind ? kind : `${kind}.${name}`, m]));
      planOnly(() => withLayerLabels(labelled, () => tidy(() => step.trainable.trainStep(batch, 0)))).forEach((t) => t.dispose());
    } finally {
      step.dispose();
      data.dispose();
    }
  }
  // A problem belongs to the models whose layers ran it (the labels begin with the model's kind).
  const found = problemsSeen();
  const layers = problemLayers();
  const perModel = kinds.map((kind) => ({ model: kind, problems: [...found.keys()].filter((k) => layers.get(k)?.some((l) => l.startsWith(`${kind}.`))) }));
  for (const m of perModel) console.log(`${m.model}: ${m.problems.length} problems in a training step at batch ${batchSizes.get(m.model)}`);
  const skipped: string[] = [];
  const results = await tune({ problems: [...found.values()], again: flags.again, totalBudgetMs: flags.budget * 1000 - (performance.now() - started), onResult: print, onSkipped: (p) => skipped.push(problemKey(p)) });
  const cached = found.size - results.length - skipped.length;
  if (cached > 0) console.log(`\n(${cached} problems already in the cache; --again measures them anew)`);
  if (skipped.length) {
    console.log(`\n${skipped.length} problems not reached within the budget (the smallest; they run the fixed rule's kernel; \`npm run tune\` again tunes them, or --budget more):`);
    for (const k of skipped) console.log(`  ${k}  (${layers.get(k)?.join(', ') ?? 'no layer'})`);
  }
  const seconds = (performance.now() - started) / 1000;
  const wrong = results.flatMap((r) => r.candidates.filter((c) => c.status === 'wrong' || c.status === 'failed').map((c) => `${r.problem}: ${c.kernel} ${c.note}`));
  console.log(`\ntuned ${results.length} problems in ${seconds.toFixed(1)} s (budget ${flags.budget} s; planning the steps included); ${results.filter((r) => r.chosen !== r.default).length} run another kernel than the fixed rule's`);
  if (wrong.length) console.log(`candidates refused (never chosen):\n  ${wrong.join('\n  ')}`);
  if (flags.json) {
    const byKey = new Map(results.map((r) => [r.problem, r]));
    const models = perModel.map((m) => ({ model: m.model, results: m.problems.map((k) => byKey.get(k)).filter((r): r is TuneResult => r !== undefined) }));
    writeFileSync(flags.json, JSON.stringify({ adapter: gpu.info, seconds, budgetSeconds: flags.budget, models, notReached: skipped }, null, 2) + '\n');
    console.log(`wrote ${flags.json}`);
  }
}, { tune: 'on' });
