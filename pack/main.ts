// The program `run.sh` of a GPU pack runs (`npm run gpu-pack` builds the pack; README, "On a bare
// GPU machine"). It runs from JavaScript compiled from this file, src/ and bench/, with the
// pack's own Node, on a machine that has a GPU and its driver and nothing else of ours:
//
//   node app/pack/main.js [--smoke] OUT
//
// In order, each phase on the clock of one deadline (9 minutes for a full run from the moment
// run.sh started, about a minute for --smoke):
//   1. the adapter, its limits and features;
//   2. every kernel of the bench verified against its float64 reference, and timed (--smoke: the
//      bench's --quick rows);
//   3. the tuner over the problems of the seed presets' training steps (--smoke: three problems
//      of a small VAE step);
//   4. the bench's model steps (MLP, VAE at batch 128, DCGAN and cGAN at 256; --smoke: the quick ones);
//   5. the VAE seed preset (30 epochs) and as many seed epochs of the DCGAN and the cGAN as the
//      time left holds, each measured by the judge (--smoke: a few steps of each, unmeasured).
// It writes at most 8 files into OUT: results.json (everything), results.md (the tables),
// bench.json (the bench's own record), the models' sample grids as PNG, and the VAE's latent map;
// run.sh adds run.log, what was printed. Training's own files (checkpoints, pictures per epoch)
// go to a scratch folder that is removed at the end.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, shutdownDevice } from '../src/core/device.ts';
import { planOnly } from '../src/core/dispatch.ts';
import { tidy } from '../src/core/scope.ts';
import { problemLayers, problemsSeen } from '../src/core/kernel-policy.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';
import { createModel, type ModelKind } from '../src/models/kinds.ts';
import { withLayerLabels } from '../src/nn/layer-labels.ts';
import { PRESETS } from '../src/runs/presets.ts';
import { runTraining, type TrainRunSummary } from '../src/runs/run.ts';
import { tune } from '../src/tune/session.ts';
import type { TuneResult } from '../src/tune/tuner.ts';
import { runBench } from '../bench/run.ts';
import type { BenchReport } from '../bench/report.ts';
import type { StepProfile } from '../bench/train.ts';

/** The most files a run may leave in OUT (run.log included). */
export const MAX_RESULT_FILES = 8;
/** The whole run's deadline, in seconds from run.sh's start. */
const FULL_BUDGET_S = 9 * 60;
/** The smoke run's target: it runs every phase whatever the clock says, and reports the time. */
const SMOKE_BUDGET_S = 90;
/** Kept free at the end of a full run: the last measurement, the files, the device's close. */
const END_MARGIN_S = 25;

const USAGE = `usage: run.sh [--smoke] OUT

  OUT       folder for the results (created; must be empty or hold only run.log)
  --smoke   a one-minute check: the adapter, the bench's quick kernel checks, a tiny tuning,
            a few training steps of each model
  --help    this text`;

class UsageError extends Error {}

function parseArgs(argv: string[]): { smoke: boolean; out: string } | 'help' {
  let smoke = false;
  let out: string | undefined;
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--smoke') {
      if (smoke) throw new UsageError('--smoke given twice');
      smoke = true;
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg} (known: --smoke, --help)`);
    } else if (out !== undefined) {
      throw new UsageError(`one output folder only (got '${out}' and '${arg}')`);
    } else {
      out = arg;
    }
  }
  if (out === undefined) throw new UsageError('no output folder given');
  return { smoke, out: resolve(out) };
}

/** What run.sh tells us about the pack (environment variables it sets). */
function packInfo(): Record<string, unknown> {
  const manifest = join(fileURLToPath(new URL('../..', import.meta.url)), 'manifest.json');
  let built: unknown;
  try {
    built = JSON.parse(readFileSync(manifest, 'utf8'));
  } catch {
    built = null;
  }
  return {
    built,
    node: process.version,
    nodeBinary: process.execPath,
    vulkanLoader: process.env.GPU_PACK_VULKAN_LOADER ?? null,
    vulkanDriverFiles: process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES ?? null,
  };
}

class Clock {
  readonly deadline: number;
  constructor(startedMs: number, budgetS: number) {
    this.deadline = startedMs + budgetS * 1000;
  }
  /** Seconds left until the deadline. */
  left(): number {
    return (this.deadline - Date.now()) / 1000;
  }
}

interface Phase {
  name: string;
  seconds: number;
  status: 'ok' | 'failed' | 'skipped';
  note?: string;
}

const fmt = (v: number | undefined, digits = 1): string => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits));

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`run.sh: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (args === 'help') {
    console.log(USAGE);
    return 0;
  }
  const { smoke, out } = args;
  mkdirSync(out, { recursive: true });
  const already = readdirSync(out).filter((f) => f !== 'run.log');
  if (already.length) {
    console.error(`run.sh: ${out} already holds ${already.slice(0, 3).join(', ')}${already.length > 3 ? ', …' : ''}; give an empty or new folder`);
    return 2;
  }
  const startedMs = Number(process.env.GPU_PACK_STARTED_MS) || Date.now();
  const clock = new Clock(startedMs, smoke ? SMOKE_BUDGET_S : FULL_BUDGET_S);

  // Training's files, the judge's caches ('out/.cache' under the working directory) and the
  // tuner's cache of choices (so a run starts untuned and tunes for itself) live here.
  const work = mkdtempSync(join(process.env.GPU_PACK_WORK ?? tmpdir(), 'webgpu-mini-dl-run-'));
  process.env.XDG_CACHE_HOME = join(work, 'cache');
  process.chdir(work);

  const phases: Phase[] = [];
  const results: Record<string, unknown> = { mode: smoke ? 'smoke' : 'full', date: new Date().toISOString(), pack: packInfo(), phases };
  const written: string[] = [];
  const write = (name: string, content: string): void => {
    writeFileSync(join(out, name), content);
    written.push(name);
  };
  const copy = (from: string, name: string): void => {
    if (!existsSync(from)) return;
    copyFileSync(from, join(out, name));
    written.push(name);
  };
  // A full run skips a phase that the time left cannot hold; the smoke run does every phase.
  const phase = async (name: string, body: () => Promise<string | void>, minSeconds = 0): Promise<void> => {
    const started = performance.now();
    if (!smoke && clock.left() < minSeconds) {
      phases.push({ name, seconds: 0, status: 'skipped', note: `${fmt(clock.left(), 0)} s left, needs ${minSeconds}` });
      console.log(`\n== ${name}: skipped (${fmt(clock.left(), 0)} s left)`);
      return;
    }
    console.log(`\n== ${name} (${fmt(clock.left(), 0)} s left)`);
    try {
      const note = await body();
      phases.push({ name, seconds: (performance.now() - started) / 1000, status: 'ok', ...(note ? { note } : {}) });
    } catch (e) {
      const message = (e as Error).message?.split('\n')[0] ?? String(e);
      console.error(`${name} failed: ${process.env.DEBUG ? (e as Error).stack : message}`);
      phases.push({ name, seconds: (performance.now() - started) / 1000, status: 'failed', note: message });
    }
  };

  let failed = false;
  try {
    // 1. The adapter.
    await phase('adapter', async () => {
      const gpu = await init({ tune: 'cached' });
      const { info, limits } = gpu;
      console.log(`adapter: ${info.description}`);
      console.log(`vendor ${info.vendor || '?'}, architecture ${info.architecture || '?'}, backend ${info.backend}, timestamps ${info.hasTimestampQuery ? 'yes' : 'no'}, subgroups ${info.hasSubgroups ? 'yes' : 'no'}${info.isSoftware ? ' (a software adapter: this is the CPU)' : ''}`);
      const wanted = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension'] as const;
      results.adapter = { ...info, limits: Object.fromEntries(wanted.map((l) => [l, limits[l]])) };
    });
    if (!results.adapter) throw new Error('no adapter: nothing else can run');

    // 2. Every kernel against its reference.
    let kernelReport: BenchReport | undefined;
    await phase('kernel checks', async () => {
      // The smoke run skips the FMA and copy peak searches (the rows' %peak), seconds on a CPU adapter.
      kernelReport = await runBench({ quick: smoke, train: false, ...(smoke ? { peak: false } : { reps: 20 }) });
      const bad = kernelReport.rows.filter((r) => r.verdict === 'WRONG' || r.verdict === 'ERROR');
      results.kernels = {
        rows: kernelReport.rows.length,
        ok: kernelReport.rows.filter((r) => r.verdict === 'OK').length,
        failed: bad.map((r) => ({ kernel: r.kernel, variant: r.variant, shape: r.shape, verdict: r.verdict, detail: r.detail })),
        peak: kernelReport.peak,
      };
      if (bad.length) failed = true;
      return `${kernelReport.rows.length} rows, ${bad.length} wrong or failed`;
    });

    // 3. Tuning the training steps' problems.
    let tuneResults: TuneResult[] = [];
    await phase('tune', async () => {
      const kinds: ModelKind[] = smoke ? ['vae'] : ['vae', 'gan', 'cgan'];
      problemsSeen(true);
      for (const kind of kinds) {
        const batchSize = smoke ? 16 : PRESETS[kind].seed.batchSize;
        const data = loadMnistGpu('train', { limit: batchSize, range: kind === 'vae' ? [0, 1] : [-1, 1] });
        const model = createModel(kind, { ...(PRESETS[kind].seed.model ?? {}), seed: 1 });
        try {
          const batch = data.batches(0, { batchSize, seed: 1 }).next().value!;
          const labelled = Object.fromEntries(Object.entries(model.modules).map(([name, m]) => [`${kind}.${name}`, m]));
          planOnly(() => withLayerLabels(labelled, () => tidy(() => model.trainStep(batch, 0)))).forEach((t) => t.dispose());
        } finally {
          model.dispose();
          data.dispose();
        }
      }
      const problems = [...problemsSeen().values()];
      const chosen = smoke ? problems.slice(0, 3) : problems;
      // A full run gives the tuner a tenth of what is left (at most 60 s); the smoke run 3 s.
      const budgetMs = smoke ? 3000 : Math.min(60, Math.max(10, clock.left() / 10)) * 1000;
      tuneResults = await tune({
        problems: chosen,
        totalBudgetMs: budgetMs,
        onResult: (r) => console.log(`${r.problem}: ${r.chosen}${r.chosen === r.default ? ' (the default)' : ` (default ${r.default})`}`),
      });
      const layers = problemLayers();
      results.tune = {
        budgetSeconds: budgetMs / 1000,
        problems: tuneResults.map((r) => ({ problem: r.problem, layers: r.layers ?? layers.get(r.problem) ?? [], default: r.default, chosen: r.chosen, candidates: r.candidates.map((c) => ({ kernel: c.kernel, ms: c.ms, status: c.status })) })),
      };
      const changed = tuneResults.filter((r) => r.chosen !== r.default).length;
      return `${tuneResults.length} of ${problems.length} problems tuned, ${changed} run another kernel than the fixed rule's`;
    }, smoke ? 0 : 60);

    // 4. The bench's model steps.
    let steps: StepProfile[] = [];
    await phase('model steps', async () => {
      const report = await runBench({ quick: smoke, train: true, filter: 'train', peak: false });
      steps = report.training;
      results.modelSteps = steps.map((p) => ({ model: p.model, batch: p.batch, stepMs: p.stepMs.median, imagesPerSec: p.imagesPerSec, gflopPerStep: p.gflopPerStep, stepGflops: p.stepGflops, untunedImagesPerSec: p.tuning?.untunedImagesPerSec, kernels: p.kernels?.slice(0, 5) }));
      if (report.trainingErrors.length) {
        failed = true;
        throw new Error(report.trainingErrors.join('; '));
      }
      if (kernelReport) kernelReport = { ...kernelReport, training: steps };
      return steps.map((p) => `${p.model} ${fmt(p.imagesPerSec, 0)} img/s`).join(', ');
    }, smoke ? 0 : 60);
    if (kernelReport) write('bench.json', JSON.stringify(kernelReport, null, 2) + '\n');

    // 5. Training.
    const training: Record<string, TrainRunSummary & { plannedEpochs: number; presetEpochs: number }> = {};
    results.training = training;
    const stepMsOf = (model: string, batch: number): number | undefined => steps.find((p) => p.model === model && p.batch === batch)?.stepMs.median;
    const train = async (kind: ModelKind, epochs: number, hardStopS = Infinity): Promise<void> => {
      const preset = PRESETS[kind].seed;
      const dir = join(work, kind);
      // A run that would overrun stops after its current step as on Ctrl-C (the trainer listens
      // for SIGINT): its checkpoint and pictures are kept, and the summary says 'interrupted'.
      const timer = Number.isFinite(hardStopS)
        ? setTimeout(() => {
          console.log(`\n${kind}: out of time, stopping after this step`);
          process.emit('SIGINT');
        }, Math.max(1, hardStopS) * 1000)
        : undefined;
      try {
        const summary = await runTraining({
          kind,
          epochs,
          batchSize: smoke ? 32 : preset.batchSize,
          ...(smoke ? { limit: 64, testLimit: 100, batchNormBatches: 2 } : {}),
          seed: 1,
          ...(preset.lr !== undefined ? { lr: preset.lr } : {}),
          out: dir,
          force: true,
          samples: smoke ? 64 : preset.samples,
          evaluate: !smoke,
          progress: false,
          ...(smoke ? { maxSteps: 2, modelConfig: kind === 'vae' ? {} : { width: 0.125, discriminatorWidth: 0.25 } } : { modelConfig: preset.model ?? {} }),
        });
        training[kind] = { ...summary, plannedEpochs: epochs, presetEpochs: preset.epochs };
        console.log(`${kind}: ${summary.epochs} epochs in ${fmt(summary.seconds)} s, ${fmt(summary.imagesPerSecond, 0)} img/s${summary.quality ? `, Fréchet ${fmt(summary.quality.fid)} (floor ${fmt(summary.quality.fidFloor, 2)})` : ''}`);
      } finally {
        clearTimeout(timer);
      }
      copy(join(dir, 'samples.png'), `${kind}-samples.png`);
      if (kind === 'vae' && !smoke) copy(join(dir, 'latent-map.png'), 'vae-latent-map.png');
    };
    // Seconds an epoch of a seed preset should take, from the bench's step time (with a fifth
    // more for data, loss read-backs and the pictures after each epoch), and the fixed cost of
    // the end of a run: pictures, BatchNorm statistics, the judge over 10,000 samples.
    const epochSeconds = (kind: ModelKind): number => {
      const preset = PRESETS[kind].seed;
      const ms = stepMsOf(kind, preset.batchSize) ?? (kind === 'vae' ? 50 : 250);
      return (Math.ceil(60000 / preset.batchSize) * ms * 1.2) / 1000 + 2;
    };
    const END_COST_S = 20;

    if (smoke) {
      for (const kind of ['vae', 'gan', 'cgan'] as const) await phase(`train ${kind} (a few steps)`, () => train(kind, 1));
    } else {
      const vaeEpoch = epochSeconds('vae');
      const ganEpoch = epochSeconds('gan');
      const cganEpoch = epochSeconds('cgan');
      // The VAE's 30 epochs first, leaving at least one epoch of each GAN.
      await phase('train vae (seed preset)', async () => {
        const room = clock.left() - END_MARGIN_S - 3 * END_COST_S - ganEpoch - cganEpoch;
        const epochs = Math.max(1, Math.min(PRESETS.vae.seed.epochs, Math.floor(room / vaeEpoch)));
        console.log(`planned: ${epochs} of ${PRESETS.vae.seed.epochs} epochs, about ${fmt(vaeEpoch)} s each`);
        await train('vae', epochs, clock.left() - END_MARGIN_S - 2 * END_COST_S - ganEpoch - cganEpoch);
      }, END_COST_S + vaeEpoch);
      // Then the GANs, the same number of epochs each, as many as the time left holds.
      const ganEpochs = (): number => Math.max(1, Math.min(PRESETS.gan.seed.epochs, Math.floor((clock.left() - END_MARGIN_S - 2 * END_COST_S) / (ganEpoch + cganEpoch))));
      const planned = ganEpochs();
      await phase('train gan (seed preset)', async () => {
        console.log(`planned: ${planned} of ${PRESETS.gan.seed.epochs} epochs, about ${fmt(ganEpoch)} s each`);
        await train('gan', planned, clock.left() - END_MARGIN_S - END_COST_S - cganEpoch * planned);
      }, END_COST_S + ganEpoch);
      await phase('train cgan (seed preset)', async () => {
        const epochs = Math.max(1, Math.min(PRESETS.cgan.seed.epochs, Math.floor((clock.left() - END_MARGIN_S - END_COST_S) / cganEpoch)));
        console.log(`planned: ${epochs} of ${PRESETS.cgan.seed.epochs} epochs, about ${fmt(cganEpoch)} s each`);
        await train('cgan', epochs, clock.left() - END_MARGIN_S);
      }, END_COST_S + cganEpoch);
    }
  } finally {
    shutdownDevice();
    results.seconds = (Date.now() - startedMs) / 1000;
    if (phases.some((p) => p.status === 'failed')) failed = true;
    results.ok = !failed;
    write('results.json', JSON.stringify(results, null, 2) + '\n');
    write('results.md', markdown(results));
    rmSync(work, { recursive: true, force: true });
  }
  const files = readdirSync(out);
  if (files.length > MAX_RESULT_FILES) throw new Error(`wrote ${files.length} files into ${out}, more than ${MAX_RESULT_FILES}: ${files.join(', ')}`);
  console.log(`\n${failed ? 'FAILED' : 'done'} in ${fmt(results.seconds as number)} s; wrote ${[...written, ...(files.includes('run.log') ? ['run.log'] : [])].join(', ')} into ${out}`);
  return failed ? 1 : 0;
}

/** The tables of results.md. */
function markdown(r: Record<string, unknown>): string {
  const lines: string[] = [];
  const adapter = r.adapter as { description?: string; isSoftware?: boolean } | undefined;
  lines.push(`# GPU pack results (${r.mode})`, '', `- adapter: ${adapter?.description ?? 'none'}`, `- date: ${r.date}`, `- run: ${fmt(r.seconds as number)} s in all, ${r.ok ? 'every check passed' : 'something FAILED (results.json says what)'}`);
  const pack = r.pack as { built?: { commit?: string; version?: string } | null; node?: string };
  lines.push(`- pack: webgpu-mini-dl ${pack.built?.version ?? '?'} (commit ${pack.built?.commit ?? '?'}), Node ${pack.node}`, '');
  lines.push('| phase | seconds | status |', '|---|---|---|');
  for (const p of r.phases as Phase[]) lines.push(`| ${p.name} | ${fmt(p.seconds)} | ${p.status}${p.note ? `: ${p.note}` : ''} |`);
  const kernels = r.kernels as { rows: number; ok: number; failed: unknown[]; peak: { gflops: number; gbs: number } | null } | undefined;
  if (kernels) {
    lines.push('', `Kernels against their float64 references: ${kernels.ok} of ${kernels.rows} rows OK, ${kernels.failed.length} wrong or failed.${kernels.peak ? ` Measured peaks: FMA ${fmt(kernels.peak.gflops, 0)} GFLOP/s, copy ${fmt(kernels.peak.gbs, 0)} GB/s.` : ''}`);
  }
  const steps = r.modelSteps as { model: string; batch: number; stepMs: number; imagesPerSec: number; stepGflops?: number; untunedImagesPerSec?: number }[] | undefined;
  if (steps?.length) {
    lines.push('', '| model step | batch | step (ms) | images/s | GFLOP/s | untuned images/s |', '|---|---|---|---|---|---|');
    for (const s of steps) lines.push(`| ${s.model} | ${s.batch} | ${fmt(s.stepMs, 2)} | ${fmt(s.imagesPerSec, 0)} | ${fmt(s.stepGflops, 0)} | ${fmt(s.untunedImagesPerSec, 0)} |`);
  }
  const training = r.training as Record<string, TrainRunSummary & { plannedEpochs: number; presetEpochs: number }> | undefined;
  if (training && Object.keys(training).length) {
    lines.push('', '| model | epochs (of the preset) | training s | images/s | Fréchet ↓ (floor) | confidence | coverage | other |', '|---|---|---|---|---|---|---|---|');
    for (const [kind, s] of Object.entries(training)) {
      const q = s.quality;
      const other = q?.testLoss !== undefined ? `−ELBO ${fmt(q.testLoss)}` : q?.judgeAccuracy !== undefined ? `agreement ${fmt(100 * q.judgeAccuracy)}%` : '';
      lines.push(`| ${kind} | ${s.epochs} of ${s.presetEpochs}${s.interrupted ? ' (stopped in an epoch)' : ''} | ${fmt(s.seconds)} | ${fmt(s.imagesPerSecond, 0)} | ${q ? `${fmt(q.fid)} (${fmt(q.fidFloor, 2)})` : ''} | ${q ? `${fmt(100 * q.confidence)}%` : ''} | ${q ? fmt(q.coverage, 3) : ''} | ${other} |`);
    }
  }
  return lines.join('\n') + '\n';
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`run.sh: ${process.env.DEBUG ? (e as Error).stack : (e as Error).message}`);
    process.exit(1);
  },
);
