// What the example scripts' training does, as functions (so tests and `npm start` run the same
// code): runTraining builds a model (src/runs/presets.ts), trains it with checkpoints, draws its
// pictures (pictures.ts) and measures it (quality.ts, with judge.ts's judge); runClassifierTraining
// trains the judge. A finished GAN run also recomputes its generator's BatchNorm statistics for
// the final weights and saves them in its checkpoint (recomputeGeneratorStatistics): that is the
// last step of training, which everything drawn or measured afterwards reads back, so it lives
// here with the run rather than with the measuring.

import type { RunKernels } from '../tune/session.ts';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getGpu, onDeviceReplaced } from '../core/device.ts';
import { checkOptions, knownOptions } from '../core/options.ts';
import { Adam } from '../nn/optim.ts';
import { type TrainingProgress } from '../nn/checkpoint.ts';
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from '../nn/checkpoint-file.ts';
import { evaluateClassifier } from './train-classifier.ts';
import { fit } from '../train/fit.ts';
import { crossEntropy } from '../core/softmax-ops.ts';
import { MnistClassifier, type ClassifierConfig } from '../models/classifier.ts';
import type { Vae } from '../models/vae.ts';
import { createModel, modelConfigFrom, type ModelConfigs, type ModelKind } from '../models/kinds.ts';
import { Gan, ganChannels, type GanConfig } from '../models/gan.ts';
import type { LossHistory } from '../train/trainer.ts';
import { measureQuality, type QualityFigures } from '../metrics/quality.ts';
import { DEFAULT_JUDGE, loadJudge, SHIPPED_JUDGE, type Judge } from '../metrics/judge.ts';
import { BATCHNORM_BATCHES, BATCHNORM_SEED, recomputeGeneratorStatistics, type BatchNormRecompute } from './generator-statistics.ts';
import { drawEpochSamples, drawPictures } from './pictures.ts';
import { formatEpochFigures, measureEpoch, readEpochFigures, recordEpochFigures, writeEpochFigures } from './epoch-figures.ts';
import type { MnistGpu } from '../data/batches.ts';
import type { Callback } from '../train/fit.ts';
import { loadMnistGpu } from '../data/mnist-files.ts';

/** What runTraining trains, and how; `kind` decides which constructor options `modelConfig` takes. */
export interface TrainRunOptions<K extends ModelKind = ModelKind> extends TrainRunSettings {
  kind: K;
  /** Extra constructor options of the model for a fresh run (tests: a narrow GAN); a resumed run keeps its checkpoint's. */
  modelConfig?: ModelConfigs[K];
}

export interface TrainRunSettings {
  epochs: number;
  batchSize: number;
  limit?: number;
  /** With limit: train on limit / 10 of each digit (the first of each in the file) instead of the first limit (loadMnist's balanced). */
  balanced?: boolean;
  seed: number;
  lr?: number;
  out: string;
  resume?: boolean | string;
  /** Replace a checkpoint already in <out> (without it, a fresh run there is refused). */
  force?: boolean;
  samples: number;
  /** Test digits for the VAE's per-image figures (default: all). */
  evalImages?: number;
  /** Measure quality after training (needs a judge). */
  evaluate?: boolean;
  /**
   * Also measure it after every epoch, with `samples` samples, into <out>/epochs/figures.json
   * (src/runs/epoch-figures.ts; training goes on exactly as without). `npm run reproduce` does.
   */
  measureEachEpoch?: boolean;
  judgePath?: string;
  progress?: boolean;
  maxSteps?: number;
  /** Test images for the pictures and quality figures (undefined: all 10,000; tests use a few hundred). */
  testLimit?: number;
  /** GANs: batches behind the recomputed BatchNorm statistics (default 50; see recomputeGeneratorStatistics). */
  batchNormBatches?: number;
  log?: (line: string) => void;
  /** Test hook: lose the device after these training steps (FitOptions.simulateDeviceLoss; else WEBGPU_SIMULATE_DEVICE_LOSS). */
  simulateDeviceLoss?: number | readonly number[];
}

export interface TrainRunSummary {
  model: ModelKind;
  epochs: number;
  batchSize: number;
  trainImages: number;
  seed: number;
  seconds: number;
  imagesPerSecond: number;
  finalLosses: Record<string, number>;
  adapter: string;
  interrupted: boolean;
  /** GANs: the channel multiplier and the channel counts it gave (width 1: the tutorial's). */
  channels?: { width: number; discriminatorWidth: number; generator: number[]; discriminator: number[] };
  /** cGAN: trained with the matching-aware discriminator loss (GanConfig.matchingAware). */
  matchingAware?: boolean;
  pictures: string[];
  /** GANs: how the generator's BatchNorm statistics behind the pictures and figures were recomputed. */
  batchNormStatistics?: BatchNormRecompute;
  quality?: QualityFigures;
  /** The kernels the run chose (problem → kernel, and the step each took effect from): replay with them for the same figures. */
  kernels?: RunKernels;
  /** Seconds spent tuning kernels (tune 'on'), outside `seconds`. */
  tuneSeconds?: number;
}

/** A GAN's width and the channel counts it gives, for the summary. */
function channelsOf(config: GanConfig): NonNullable<TrainRunSummary['channels']> {
  const discriminatorWidth = config.discriminatorWidth ?? config.width;
  const { g, d } = ganChannels(config.width, discriminatorWidth);
  return { width: config.width, discriminatorWidth, generator: g, discriminator: d };
}

function lastOf(history: LossHistory): Record<string, number> {
  return Object.fromEntries(Object.entries(history).map(([k, v]) => [k, v.length ? v[v.length - 1] : NaN]));
}

/** Trains a model, with pictures after each epoch and at the end; measures it; writes summary.json. */
const TRAIN_RUN_OPTIONS = knownOptions<TrainRunOptions>({
  kind: true, modelConfig: true, epochs: true, batchSize: true, limit: true, balanced: true, seed: true, lr: true, out: true, resume: true,
  force: true, samples: true, evalImages: true, evaluate: true, measureEachEpoch: true, judgePath: true, progress: true,
  maxSteps: true, testLimit: true, batchNormBatches: true, log: true, simulateDeviceLoss: true,
});

export async function runTraining<K extends ModelKind>(o: TrainRunOptions<K>): Promise<TrainRunSummary> {
  checkOptions('runTraining', o, TRAIN_RUN_OPTIONS);
  const log = o.log ?? ((line: string) => console.log(line));
  const gpu = getGpu();
  mkdirSync(o.out, { recursive: true });
  const checkpointPath = join(o.out, 'checkpoint.safetensors');
  guardCheckpoint(checkpointPath, { ...o, log });
  const range: [number, number] = o.kind === 'vae' ? [0, 1] : [-1, 1];
  const train = loadMnistGpu('train', { limit: o.limit, range, balanced: o.balanced });
  const test = loadMnistGpu('test', { limit: o.testLimit, range: [0, 1] });
  let model: Vae | Gan;
  const resumePath = typeof o.resume === 'string' ? o.resume : checkpointPath;
  let resumedFrom: { path: string; progress: TrainingProgress } | undefined;
  if (o.resume && existsSync(resumePath)) {
    // Rebuild the model the checkpoint describes (its config wins over the flags).
    const info = readCheckpointInfo(resumePath, o.kind);
    model = createModel(o.kind, modelConfigFrom(o.kind, info.config, resumePath));
    resumedFrom = { path: resumePath, progress: info.progress };
  } else {
    model = createModel(o.kind, { ...o.modelConfig, seed: o.seed, ...(o.lr !== undefined ? { lr: o.lr } : {}) });
  }
  let judgeModel: Judge | undefined;
  // The VAE's per-test-image figures may use its first evalImages digits to save time on a CPU.
  let evalTest: MnistGpu | undefined;
  // After a device loss (fit goes on, on a new device) the judge's weights, which no training
  // checkpoint holds, are read from its file again; the test digits refill themselves.
  let judgeLost = false;
  const stopWatching = onDeviceReplaced(() => (judgeLost = true));
  const judgeAndTest = async (): Promise<{ judge: Judge; test: MnistGpu }> => {
    if (judgeModel && judgeLost) await loadCheckpoint(judgeModel.path, { model: 'classifier', modules: { classifier: judgeModel.classifier } });
    judgeLost = false;
    // The Fréchet reference is always the whole test split (cached per judge).
    judgeModel ??= await loadJudge(test, o.judgePath);
    evalTest ??= o.evalImages && o.evalImages < test.count ? loadMnistGpu('test', { limit: o.evalImages, range: [0, 1] }) : test;
    return { judge: judgeModel, test: evalTest };
  };
  /** Measures the model after `epoch` epochs, adds the entry to <out>/epochs/figures.json and logs it. */
  const measureAndRecord = async (epoch: number, step: number): Promise<void> => {
    const { judge, test: images } = await judgeAndTest();
    const entry = await measureEpoch(model, epoch, step, {
      judge, test: images, samples: o.samples, batchNormBatches: o.batchNormBatches ?? BATCHNORM_BATCHES, batchSize: Math.max(2, o.batchSize),
    });
    recordEpochFigures(o.out, entry);
    log(formatEpochFigures(entry, o.kind));
  };
  try {
    mkdirSync(join(o.out, 'epochs'), { recursive: true });
    const callbacks: Callback[] = [{ onEpochEnd: (epoch) => drawEpochSamples(model, join(o.out, 'epochs', `samples-epoch-${String(epoch + 1).padStart(3, '0')}.png`)) }];
    if (o.measureEachEpoch) {
      const stepsPerEpoch = train.batchCount(o.batchSize);
      let figures = readEpochFigures(o.out);
      if (resumedFrom) {
        // Entries past the checkpoint belong to a run that went further and was thrown away; an
        // epoch the checkpoint ends but the file lacks (stopped while measuring) is measured now.
        const { epoch, batchInEpoch, step } = resumedFrom.progress;
        figures = figures.filter((e) => e.epoch <= epoch);
        writeEpochFigures(o.out, figures);
        if (epoch > 0 && batchInEpoch === 0 && !figures.some((e) => e.epoch === epoch)) {
          // The weights of that epoch end are the checkpoint's (fit loads them again, with the rest).
          await loadCheckpoint(resumedFrom.path, { model: model.name, modules: model.modules });
          await measureAndRecord(epoch, step);
        }
      } else {
        writeEpochFigures(o.out, []);
      }
      callbacks.push({ onEpochEnd: (epoch) => measureAndRecord(epoch + 1, (epoch + 1) * stepsPerEpoch) });
    }
    const fitted = await fit(model, train, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      checkpoint: checkpointPath,
      resume: o.resume,
      progress: o.progress,
      maxSteps: o.maxSteps,
      log,
      callbacks,
      ...(o.simulateDeviceLoss !== undefined ? { simulateDeviceLoss: o.simulateDeviceLoss } : {}),
    });
    const result = { ...fitted, history: fitted.steps };
    // A finished GAN's BatchNorm statistics are recomputed for its final weights before anything
    // is drawn or measured, and saved with them; an interrupted run keeps training's moving
    // averages (its checkpoint must continue exactly as an uninterrupted run), and so do its pictures.
    const batchNormStatistics = model instanceof Gan && !result.interrupted
      ? await settleBatchNorm(model, checkpointPath, o.batchNormBatches ?? BATCHNORM_BATCHES, Math.max(2, o.batchSize), result.progress, log)
      : undefined;
    const pictures = await drawPictures(model, o.out, result.history, test);
    const summary: TrainRunSummary = {
      model: o.kind,
      epochs: result.progress.epoch,
      batchSize: o.batchSize,
      trainImages: train.count,
      seed: result.progress.seed,
      seconds: result.seconds,
      imagesPerSecond: result.imagesPerSecond,
      finalLosses: lastOf(result.history),
      adapter: gpu.info.description,
      interrupted: result.interrupted,
      ...(model instanceof Gan ? { channels: channelsOf(model.config) } : {}),
      ...(model instanceof Gan && model.config.conditional ? { matchingAware: model.config.matchingAware } : {}),
      pictures,
      ...(batchNormStatistics ? { batchNormStatistics } : {}),
      ...(result.kernels ? { kernels: result.kernels } : {}),
      tuneSeconds: result.tuneSeconds,
    };
    if (o.evaluate && !result.interrupted) {
      const { judge, test: images } = await judgeAndTest();
      summary.quality = await measureQuality(model, judge, images, o.samples);
    }
    writeFileSync(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    return summary;
  } finally {
    stopWatching();
    judgeModel?.classifier.dispose();
    if (evalTest && evalTest !== test) evalTest.dispose();
    model.dispose();
    train.dispose();
    test.dispose();
  }
}

/**
 * The end of a finished GAN run: the generator's BatchNorm statistics recomputed for the final
 * weights (recomputeGeneratorStatistics) and written into the checkpoint, with a record of how
 * (extra.batchNormStatistics). A checkpoint that already records them for this step and these
 * settings (a finished run resumed) was loaded with them and is left alone.
 */
async function settleBatchNorm(gan: Gan, checkpointPath: string, batches: number, batchSize: number, progress: TrainingProgress, log: (line: string) => void): Promise<BatchNormRecompute> {
  // (No checkpoint here yet when a finished run was resumed from a checkpoint elsewhere.)
  const info = existsSync(checkpointPath) ? readCheckpointInfo(checkpointPath, gan.name) : { progress, extra: {} as Record<string, string> };
  const step = progress.step;
  const wanted: BatchNormRecompute = { batches, batchSize, seed: BATCHNORM_SEED, step };
  if (info.extra.batchNormStatistics) {
    try {
      const saved = JSON.parse(info.extra.batchNormStatistics) as Partial<BatchNormRecompute>;
      if (saved.batches === batches && saved.batchSize === batchSize && saved.seed === BATCHNORM_SEED && saved.step === step && info.progress.step === step) return wanted;
    } catch {
      // An unreadable record: recompute.
    }
  }
  const started = performance.now();
  const done = recomputeGeneratorStatistics(gan, batches, batchSize, step);
  await saveCheckpoint(checkpointPath, {
    model: gan.name,
    config: gan.config,
    modules: gan.modules,
    optimizers: gan.optimizers,
    progress: info.progress,
    extra: { ...info.extra, batchNormStatistics: JSON.stringify(done) },
  });
  log(`generator BatchNorm statistics recomputed over ${batches} batches of ${batchSize} (${((performance.now() - started) / 1000).toFixed(1)} s) and saved in ${checkpointPath}`);
  return done;
}

export interface ClassifierRunOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  limit?: number;
  /** Test images it is evaluated on (undefined: all 10,000). */
  testLimit?: number;
  out: string;
  progress?: boolean;
  /** Start from this classifier checkpoint's weights (fine-tuning), with a fresh optimizer. */
  init?: string;
  /** Continue <out>/checkpoint.safetensors where it stopped (weights, optimizer, data order). */
  resume?: boolean;
  /** Replace a checkpoint already in <out> (without it, that is refused). */
  force?: boolean;
  maxSteps?: number;
  log?: (line: string) => void;
}

/** One stage of how a judge was trained; a checkpoint keeps the whole list. */
export interface RecipeStage {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  images: number;
  testAccuracy: number;
}

/**
 * Refuses to start a fresh run over a checkpoint already at `path` (of any model): a first
 * epoch's save would silently replace it. `resume` continues it instead, `force` replaces it.
 */
export function guardCheckpoint(path: string, o: { resume?: boolean | string; force?: boolean; log?: (line: string) => void }): void {
  if (o.resume || !existsSync(path)) return;
  let what: string;
  try {
    const info = readCheckpointInfo(path);
    what = `a ${info.model} checkpoint (epoch ${info.progress.epoch}, step ${info.progress.step})`;
  } catch (error) {
    what = `a file that is not a readable checkpoint (${(error as Error).message})`;
  }
  if (!o.force) {
    throw new Error(`${path} already holds ${what}: --resume continues it, --force starts over and replaces it, --out DIR trains elsewhere`);
  }
  (o.log ?? console.log)(`--force: starting over; ${path} (${what}) will be replaced at the first checkpoint`);
}

/** Trains the judge (or any MNIST classifier) with fit(): a checkpoint per epoch, Ctrl-C and --resume. */
const CLASSIFIER_RUN_OPTIONS = knownOptions<ClassifierRunOptions>({
  epochs: true, batchSize: true, lr: true, seed: true, limit: true, testLimit: true, out: true, progress: true, init: true,
  resume: true, force: true, maxSteps: true, log: true,
});

export async function runClassifierTraining(o: ClassifierRunOptions): Promise<{ testAccuracy: number; path: string; seconds: number; interrupted: boolean }> {
  checkOptions('runClassifierTraining', o, CLASSIFIER_RUN_OPTIONS);
  const log = o.log ?? ((line: string) => console.log(line));
  const path = join(o.out, 'checkpoint.safetensors');
  if (o.init && o.resume) throw new Error('--init and --resume cannot go together: --init starts a new run from other weights, --resume continues this one');
  guardCheckpoint(path, { ...o, log });
  const isDefaultJudge = resolve(path) === resolve(DEFAULT_JUDGE);
  const replacesJudge = isDefaultJudge && existsSync(path);
  mkdirSync(o.out, { recursive: true });
  const train = loadMnistGpu('train', { limit: o.limit, range: [0, 1] });
  const test = loadMnistGpu('test', { limit: o.testLimit, range: [0, 1] });
  // Stages before this run: an --init file's recipe, or (resumed) the one this run started with.
  let earlier: RecipeStage[] = [];
  let classifier: MnistClassifier;
  const resuming = Boolean(o.resume && existsSync(path));
  if (resuming) {
    const info = readCheckpointInfo(path, 'classifier');
    classifier = new MnistClassifier(info.config as Partial<ClassifierConfig>);
    earlier = info.extra.earlierRecipe ? (JSON.parse(info.extra.earlierRecipe) as RecipeStage[]) : [];
  } else if (o.init) {
    const info = readCheckpointInfo(o.init, 'classifier');
    classifier = new MnistClassifier(info.config as Partial<ClassifierConfig>);
    await loadCheckpoint(o.init, { model: 'classifier', modules: { classifier } });
    earlier = info.extra.recipe ? (JSON.parse(info.extra.recipe) as RecipeStage[]) : [];
  } else {
    classifier = new MnistClassifier({ seed: o.seed });
  }
  const optimizer = new Adam(classifier, { lr: o.lr });
  try {
    const history = await fit(classifier, train, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      loss: crossEntropy,
      optimizer,
      validationData: test,
      validationBatchSize: 1000,
      checkpoint: path,
      resume: o.resume,
      name: 'classifier',
      config: classifier.config,
      extra: { earlierRecipe: JSON.stringify(earlier) },
      progress: o.progress,
      maxSteps: o.maxSteps,
      log,
    });
    if (history.interrupted) return { testAccuracy: Number.NaN, path, seconds: history.seconds, interrupted: true };
    // The last epoch was just evaluated on the test set; a resumed run that had nothing left to do was not.
    const h = history.history;
    const final = h.val_accuracy?.length ? { accuracy: h.val_accuracy[h.val_accuracy.length - 1], loss: h.val_loss[h.val_loss.length - 1] } : await evaluateClassifier(classifier, test);
    const info = readCheckpointInfo(path, 'classifier');
    await saveCheckpoint(path, {
      model: 'classifier',
      config: classifier.config,
      modules: { classifier },
      optimizers: { classifier: optimizer },
      progress: info.progress,
      extra: {
        ...info.extra,
        testAccuracy: String(final.accuracy),
        recipe: JSON.stringify([...earlier, { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, seed: o.seed, images: train.count, testAccuracy: final.accuracy }]),
      },
    });
    const perEpoch = history.epoch.map((e, i) => ({ epoch: e + 1, trainLoss: h.loss[i], testAccuracy: h.val_accuracy[i], testLoss: h.val_loss[i], seconds: history.epochTimes[i].seconds }));
    writeFileSync(join(o.out, 'summary.json'), JSON.stringify({ testAccuracy: final.accuracy, testLoss: final.loss, epochs: o.epochs, seconds: history.seconds, adapter: getGpu().info.description, perEpoch }, null, 2) + '\n');
    if (isDefaultJudge) {
      log(
        `note: ${path} is the judge that \`evaluate\` and \`train\` use by default (test accuracy ${(100 * final.accuracy).toFixed(2)}%)` +
          (replacesJudge ? ', replacing the one that was there' : `, instead of the shipped ${relativeToRepo(SHIPPED_JUDGE)}`) +
          '; delete it to go back to the shipped judge',
      );
    }
    return { testAccuracy: final.accuracy, path, seconds: history.seconds, interrupted: false };
  } finally {
    optimizer.dispose();
    classifier.dispose();
    train.dispose();
    test.dispose();
  }
}

/** The repository root (src/models/../..), for messages that name its files. */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function relativeToRepo(path: string): string {
  return path.startsWith(repoRoot) ? path.slice(repoRoot.length + 1) : path;
}
