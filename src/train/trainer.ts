// The training loop under fit() and the generative models alike (any TrainableModel): epochs of shuffled batches, a progress bar,
// losses read back in bulk, a checkpoint after every epoch, Ctrl-C that stops after the current
// step and leaves a checkpoint, and --resume that continues exactly (same data order, same noise,
// same optimizer state: a resumed run's losses equal the uninterrupted run's).
//
// It runs in a web page too. What only Node has (checkpoint files, the terminal's progress bar,
// Ctrl-C) is imported lazily, in Node; in a page there is no checkpoint path (keep the weights
// with checkpointToBytes in a callback instead), and each epoch ends with one line through `log`.

import { beginRunKernels, endRunKernels, parseRunKernels, settleRunKernels, type RunKernels } from '../tune/session.ts';
import type { Tensor } from '../core/tensor.ts';
import { keep, tidy } from '../core/scope.ts';
import { stack } from '../core/shape-ops.ts';
import type { Module } from '../nn/module.ts';
import type { Optimizer } from '../nn/optim.ts';
import { checkpointToBytes, loadCheckpointFromBytes, type CheckpointInfo, type CheckpointParts, type TrainingProgress } from '../nn/checkpoint.ts';
import type { Batch, BatchSource } from '../data/batches.ts';
import { envVar, importOwnNodeModule, nodeProcess } from '../core/host.ts';
import { DeviceError, deviceCanBeReplaced, deviceLossBehind, deviceLostReason, getGpu, replaceLostDevice, simulateDeviceLoss } from '../core/device.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

type CheckpointFiles = typeof import('../nn/checkpoint-file.ts');
type ProgressModule = typeof import('../io/progress.ts');

/** What the loop needs of a model. */
export interface TrainableModel {
  /** Checkpoint model name: "vae", "gan", "cgan". */
  readonly name: string;
  /** Constructor options, JSON-serialisable (kept in checkpoints). */
  readonly config: object;
  readonly modules: Record<string, Module>;
  readonly optimizers: Record<string, Optimizer>;
  /** Names of the scalars trainStep returns, in order; the first one is shown on the bar. */
  readonly lossNames: readonly string[];
  /** One optimisation step; returns detached scalar losses (the caller disposes them). */
  trainStep(batch: Batch, step: number): Tensor[];
}

export interface LossHistory {
  /** Per name, one value per step. */
  [name: string]: number[];
}

export interface TrainLoopOptions {
  model: TrainableModel;
  /** MnistGpu, a DataLoader, or anything else with BatchSource's interface. */
  data: BatchSource;
  epochs: number;
  batchSize: number;
  seed: number;
  /** Written after every epoch (and when stopped early); none without it. */
  checkpointPath?: string;
  /** More strings every checkpoint keeps (e.g. how the model was made). */
  extra?: Record<string, string>;
  /** Continue from checkpointPath (or this path) if it exists. */
  resume?: boolean | string;
  /** Read losses back every this many steps (default 20): each read waits for the GPU. */
  lossEvery?: number;
  /** Stop after this many steps in total (tests; the checkpoint then records the position). */
  maxSteps?: number;
  /** Show a progress bar (default true). */
  progress?: boolean;
  /** Called after each epoch's checkpoint: draw the samples, print figures. */
  onEpochEnd?: (epoch: number, losses: Record<string, number>, timing: EpochTiming) => Promise<void> | void;
  log?: (line: string) => void;
  /**
   * Test hook: lose the device (as a driver crash would) after each of these training steps
   * (global step numbers, counting from 1; a step listed twice is lost after twice). Each entry
   * fires once in this call. Without it, the environment variable WEBGPU_SIMULATE_DEVICE_LOSS
   * (`STEP` or `STEP,STEP,…`) does the same, each entry once per process.
   */
  simulateDeviceLoss?: number | readonly number[];
}

/** How long an epoch's training took (pictures, validation and checkpoint excluded). */
export interface EpochTiming {
  seconds: number;
  /** Images trained in it (fewer than the data's count in a resumed epoch). */
  images: number;
}

export interface TrainLoopResult {
  progress: TrainingProgress;
  history: LossHistory;
  /** Stopped by Ctrl-C (SIGINT) or maxSteps before the last epoch ended. */
  interrupted: boolean;
  /** Training time (excluding epoch-end callbacks), and images per second over it. */
  seconds: number;
  imagesPerSecond: number;
  resumedFrom?: TrainingProgress;
  /** Seconds spent tuning kernels after the first step (mode 'on'), not counted in `seconds`. */
  tuneSeconds: number;
  /** The kernels the run ran where the policy chose ('auto'): recorded in every checkpoint, and reused by a resume. */
  kernels?: RunKernels;
}

/** What the loop keeps in a checkpoint beyond the progress: a mid-epoch position means nothing without it. */
interface TrainerRecord {
  batchSize: number;
  images: number;
  /** The data's selection, where it says (BatchSource.selection). */
  data?: string;
}

/** Training produced a NaN or infinite loss; the run stopped without saving. */
export class DivergedError extends Error {
  constructor(
    /** The step (1-based count of steps done) whose loss it was. */
    readonly step: number,
    readonly lossName: string,
    readonly value: number,
    readonly checkpointPath: string | undefined,
    /** Whether a checkpoint from before the divergence is at checkpointPath. */
    checkpointKept = false,
  ) {
    const kept = checkpointPath === undefined ? 'no checkpoints are kept' : checkpointKept ? `the last good checkpoint, ${checkpointPath}, is kept` : 'no checkpoint was written';
    super(`training diverged: the ${lossName} loss of step ${step} is ${value}; stopped without saving (${kept}). A smaller learning rate (--lr) usually helps`);
    this.name = 'DivergedError';
  }
}

/** How many device losses in a row (without an epoch ending in between) stop a run. */
export const MAX_DEVICE_LOSSES_IN_A_ROW = 3;

/**
 * The device was lost MAX_DEVICE_LOSSES_IN_A_ROW times without an epoch ending in between: the
 * run stopped. The last epoch's checkpoint is kept (the file at checkpointPath, or, without one,
 * the host copy in `checkpoint`); the model holds its weights again when a new device could be opened.
 */
export class DeviceLostError extends Error {
  constructor(
    /** The last loss, as the device reported it. */
    readonly reason: string,
    readonly losses: number,
    /** Where the run stood at the checkpoint kept (the last epoch's end, or the run's start). */
    readonly progress: TrainingProgress,
    readonly checkpointPath: string | undefined,
    /** Without a checkpoint path: the host copy of that checkpoint (loadCheckpointFromBytes takes it). */
    readonly checkpoint?: Uint8Array,
  ) {
    const where = progress.step === 0 ? 'the start of the run' : `epoch ${progress.epoch}'s end (step ${progress.step})`;
    const kept = checkpointPath !== undefined && progress.step > 0
      ? `the last checkpoint, ${checkpointPath}, from ${where}, is kept: run again with --resume to continue from it`
      : checkpointPath !== undefined
        ? `no epoch had ended, so there is no checkpoint to keep (${checkpointPath} was not written)`
        : `the host copy of ${where} is kept (this error's \`checkpoint\`: loadCheckpointFromBytes takes it)`;
    super(`stopped: the WebGPU device was lost ${losses} times in a row with no epoch ending in between, so the GPU or its driver is not fit to train on (last: ${reason}); ${kept}`);
    this.name = 'DeviceLostError';
  }
}

/** Where a run goes back to after a device loss: its last checkpoint file, or a host copy of one. */
type RestorePoint = { path: string; progress: TrainingProgress } | { bytes: Uint8Array; progress: TrainingProgress };

/** The steps after which the device is lost on purpose (the test hook), each taken once. */
class LossSchedule {
  private readonly remaining = new Map<number, number>();

  constructor(steps: readonly number[]) {
    for (const s of steps) this.remaining.set(s, (this.remaining.get(s) ?? 0) + 1);
  }

  /** Whether the device is to be lost after `step`; the entry is used up. */
  take(step: number): boolean {
    const left = this.remaining.get(step) ?? 0;
    if (left === 0) return false;
    if (left === 1) this.remaining.delete(step);
    else this.remaining.set(step, left - 1);
    return true;
  }
}

function lossSteps(value: unknown, where: string): number[] {
  const list = typeof value === 'string'
    ? value.split(',').map((v) => v.trim()).filter(Boolean).map(Number)
    : typeof value === 'number' ? [value] : Array.isArray(value) ? (value as unknown[]) : [value];
  for (const s of list) {
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 1) {
      throw new RangeError(`${where}: '${String(value)}' is not a step number (an integer ≥ 1) or a comma-separated list of them`);
    }
  }
  return list as number[];
}

// WEBGPU_SIMULATE_DEVICE_LOSS's schedule: read once, each entry used once in the process.
let envLosses: LossSchedule | undefined;

function envLossSchedule(): LossSchedule {
  envLosses ??= new LossSchedule(lossSteps(envVar('WEBGPU_SIMULATE_DEVICE_LOSS') ?? '', 'WEBGPU_SIMULATE_DEVICE_LOSS'));
  return envLosses;
}

/** The loop's view of a progress display: EpochProgress on a terminal, EpochClock elsewhere. */
interface EpochBar {
  /** Seconds of training in this epoch so far. */
  readonly elapsed: number;
  update(done: number, loss?: number): void;
  finish(note?: string): void;
  abandon(): void;
}

/** Where there is no terminal (a web page): the epoch's clock, and one line through `log` at its end. */
class EpochClock implements EpochBar {
  private readonly started = performance.now();
  private stopped: number | undefined;
  private loss: number | undefined;

  constructor(
    private readonly label: string,
    private readonly log: ((line: string) => void) | undefined,
  ) {}

  get elapsed(): number {
    return ((this.stopped ?? performance.now()) - this.started) / 1000;
  }

  update(_done: number, loss?: number): void {
    if (loss !== undefined) this.loss = loss;
  }

  finish(note = ''): void {
    this.stopped ??= performance.now();
    this.log?.(`${this.label} done in ${this.elapsed.toFixed(1)} s: loss ${this.loss?.toFixed(4) ?? '…'}${note ? `, ${note}` : ''}`);
  }

  abandon(): void {
    this.stopped ??= performance.now();
  }
}

type BarMaker = (epoch: number, epochs: number, total: number, startAt: number) => EpochBar;

/** Node: the terminal's EpochProgress (loaded lazily: it needs cli-progress); elsewhere an EpochClock. */
async function barMaker(enabled: boolean, log: (line: string) => void): Promise<BarMaker> {
  if (!nodeProcess()) return (epoch, epochs) => new EpochClock(`epoch ${epoch}/${epochs}`, enabled ? log : undefined);
  const { EpochProgress } = await importOwnNodeModule<ProgressModule>(import.meta.url, '../io/progress');
  return (epoch, epochs, total, startAt) => new EpochProgress({ epoch, epochs, total, enabled, startAt });
}

/** Checkpoint files: Node only, loaded when a run has a checkpoint path. */
async function checkpointFiles(path: string): Promise<CheckpointFiles> {
  if (!nodeProcess()) {
    throw new Error(`checkpoint ${path}: checkpoint files need Node; in a web page leave the checkpoint path out and keep the weights with checkpointToBytes (in an onEpochEnd callback, say)`);
  }
  return importOwnNodeModule<CheckpointFiles>(import.meta.url, '../nn/checkpoint-file');
}

/** Node's process, for Ctrl-C; undefined in a page. */
function signals(): Pick<NodeJS.Process, 'on' | 'off' | 'exit'> | undefined {
  return nodeProcess() ? (globalThis as unknown as { process: NodeJS.Process }).process : undefined;
}

function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

const TRAIN_LOOP_OPTIONS = knownOptions<TrainLoopOptions>({
  model: true, data: true, epochs: true, batchSize: true, seed: true, checkpointPath: true, extra: true, resume: true,
  lossEvery: true, maxSteps: true, progress: true, onEpochEnd: true, log: true, simulateDeviceLoss: true,
});

export async function trainLoop(o: TrainLoopOptions): Promise<TrainLoopResult> {
  checkOptions('trainLoop', o, TRAIN_LOOP_OPTIONS);
  const { model, data, epochs, batchSize, seed } = o;
  const log = o.log ?? ((line: string) => console.log(line));
  const lossEvery = o.lossEvery ?? 20;
  const history: LossHistory = Object.fromEntries(model.lossNames.map((n) => [n, [] as number[]]));
  let progress: TrainingProgress = { epoch: 0, step: 0, batchInEpoch: 0, seed };
  let resumedFrom: TrainingProgress | undefined;
  let recordedKernels: RunKernels | undefined;

  const resumePath = typeof o.resume === 'string' ? o.resume : o.checkpointPath;
  if (o.resume === true && resumePath === undefined) throw new Error('resume needs a checkpoint path (checkpointPath, or resume: "<file>")');
  // resumePath is there whenever the run touches a file at all (a checkpoint to write or to resume).
  const files = resumePath === undefined ? undefined : await checkpointFiles(resumePath);
  const makeBar = await barMaker(o.progress ?? true, log);
  const lossSchedule = o.simulateDeviceLoss !== undefined ? new LossSchedule(lossSteps(o.simulateDeviceLoss, 'trainLoop({ simulateDeviceLoss })')) : envLossSchedule();
  const target = { model: model.name, modules: model.modules, optimizers: model.optimizers };
  // Puts the run where a checkpoint says, as --resume does: its progress, its loss history up to
  // there, the kernels it ran (loaded into the model by whoever read it). Also after a device loss.
  const takeCheckpoint = (info: CheckpointInfo, where: string): void => {
    progress = { ...info.progress };
    recordedKernels = info.extra.kernels ? parseRunKernels(info.extra.kernels, where) : undefined;
    const savedHistory = info.extra.history ? (JSON.parse(info.extra.history) as LossHistory) : {};
    for (const n of model.lossNames) history[n] = (savedHistory[n] ?? []).slice(0, progress.step);
  };
  let restorePoint: RestorePoint | undefined;
  if (o.resume && resumePath !== undefined && files!.checkpointExists(resumePath)) {
    const info = await files!.loadCheckpoint(resumePath, target);
    if (info.progress.seed !== seed) {
      log(`note: continuing with the checkpoint's seed ${info.progress.seed} (not ${seed}) so the run stays reproducible`);
    }
    // batchInEpoch counts batches of the saved run's size over its data: elsewhere it would skip
    // the wrong images (and at an epoch boundary the run goes on, but differently).
    const saved = info.extra.trainer ? (JSON.parse(info.extra.trainer) as Partial<TrainerRecord>) : {};
    const changes = [
      saved.batchSize !== undefined && saved.batchSize !== batchSize ? `batch size ${saved.batchSize}, now ${batchSize}` : '',
      saved.images !== undefined && saved.images !== data.count ? `${saved.images} training images, now ${data.count}` : '',
      saved.data !== undefined && data.selection !== undefined && saved.data !== data.selection ? `the training images "${saved.data}", now "${data.selection}"` : '',
    ].filter(Boolean);
    if (changes.length && info.progress.batchInEpoch > 0) {
      throw new Error(`cannot resume from ${resumePath}: it stopped in the middle of an epoch of a run with ${changes.join(' and ')}; resume with the same settings`);
    }
    if (changes.length) log(`note: the checkpoint's run had ${changes.join(' and ')}; the losses will differ from an uninterrupted run`);
    takeCheckpoint(info, resumePath);
    resumedFrom = { ...info.progress };
    // The kernels the saved run chose (none recorded: it ran the fixed rules).
    recordedKernels ??= { mode: 'off', choices: {}, since: {} };
    restorePoint = { path: resumePath, progress: { ...progress } };
    log(`resumed from ${resumePath}: epoch ${progress.epoch}, step ${progress.step}${progress.batchInEpoch ? ` (batch ${progress.batchInEpoch} of that epoch)` : ''}`);
  } else if (typeof o.resume === 'string') {
    throw new Error(`--resume: checkpoint ${o.resume} does not exist`);
  }
  const runSeed = progress.seed;

  // Ctrl-C stops after the current step and saves. A terminal's Ctrl-C may arrive twice (a
  // person presses again; a wrapper relays it): the second only says the save is coming, since
  // quitting in the middle would lose the run; a third quits at once, without the save.
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) log('\nstopping after this step and saving a checkpoint…');
    else if (interrupts === 2) log('still saving the checkpoint; Ctrl-C once more quits without it');
    else signals()?.exit(130);
  };
  signals()?.on('SIGINT', onSigint);

  const checkpointPath = o.checkpointPath;
  // A fresh run settles its kernels after its first step (tuning them there in mode 'on'); a
  // resumed one runs the recorded ones from its first step.
  let kernels = beginRunKernels(recordedKernels);
  const parts = (): CheckpointParts => ({
    model: model.name,
    config: model.config,
    modules: model.modules,
    optimizers: model.optimizers,
    progress,
    extra: {
      ...o.extra,
      history: JSON.stringify(history),
      trainer: JSON.stringify({ batchSize, images: data.count, ...(data.selection !== undefined ? { data: data.selection } : {}) } satisfies TrainerRecord),
      ...(kernels ? { kernels: JSON.stringify(kernels) } : {}),
    },
  });
  const save = async (): Promise<void> => {
    if (checkpointPath === undefined) return;
    await files!.saveCheckpoint(checkpointPath, parts());
  };
  // Where a device loss goes back to: the checkpoint just written, or (without a checkpoint path,
  // as in a page, or before the first epoch's) a host copy of the same checkpoint, in memory.
  const keepRestorePoint = async (justSaved: boolean): Promise<void> => {
    restorePoint = justSaved && checkpointPath !== undefined
      ? { path: checkpointPath, progress: { ...progress } }
      : { bytes: await checkpointToBytes(parts(), { source: 'the host copy of the last checkpoint' }), progress: { ...progress } };
  };
  if (!restorePoint) await keepRestorePoint(false);
  // After a device loss: a new device (every tensor gets storage there), and the run put back
  // where the restore point says, by the same loading as --resume.
  const restore = async (point: RestorePoint): Promise<void> => {
    await replaceLostDevice();
    const info = 'path' in point
      ? await files!.loadCheckpoint(point.path, target)
      : await loadCheckpointFromBytes(point.bytes, target, { source: 'the host copy of the last checkpoint' });
    takeCheckpoint(info, 'path' in point ? point.path : 'the host copy of the last checkpoint');
    endRunKernels();
    kernels = beginRunKernels(recordedKernels);
  };
  const saved = (where: string): string =>
    checkpointPath === undefined ? `stopped ${where} at step ${progress.step} (no checkpoint path: nothing saved)` : `checkpoint saved to ${checkpointPath} at step ${progress.step}; run again with --resume to continue`;

  let pending: Tensor[][] = [];
  const drain = async (): Promise<Record<string, number> | undefined> => {
    if (pending.length === 0) return undefined;
    const steps = pending;
    pending = [];
    // One read-back for all of them: stack the scalars on the GPU first.
    const packed = tidy(() => stack(steps.flat(), 0));
    for (const s of steps) for (const t of s) t.dispose();
    const values = await packed.toArray();
    packed.dispose();
    const k = model.lossNames.length;
    // The first non-finite loss stops the run before anything is saved: the weights after it
    // are garbage, and the checkpoint on disk (the last epoch's end) is the last good one.
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const kept = o.checkpointPath !== undefined && files!.checkpointExists(o.checkpointPath);
      throw new DivergedError(progress.step - steps.length + Math.floor(bad / k) + 1, model.lossNames[bad % k], values[bad], o.checkpointPath, kept);
    }
    steps.forEach((_, i) => model.lossNames.forEach((n, j) => history[n].push(values[i * k + j])));
    return Object.fromEntries(model.lossNames.map((n, j) => [n, values[(steps.length - 1) * k + j]]));
  };

  let trainSeconds = 0;
  let tuneSeconds = 0;
  let imagesTrained = 0;
  let interrupted = false;
  let bar: EpochBar | undefined;
  const batchesPerEpoch = data.batchCount(batchSize);
  const stopNow = (): boolean => interrupts > 0 || (o.maxSteps !== undefined && progress.step >= o.maxSteps);
  let lossesInARow = 0;
  let lostAgain = false;
  try {
    for (;;) {
      try {
        if (lostAgain) {
          const point = restorePoint!;
          await restore(point);
          lostAgain = false;
          log(`going on from ${point.progress.step === 0 ? 'the start' : `epoch ${point.progress.epoch}'s end (step ${point.progress.step})`} on a new device: ${getGpu().info.description}`);
        }
        for (let epoch = progress.epoch; epoch < epochs && !interrupted; epoch++) {
          const startBatch = progress.batchInEpoch;
          let done = Math.min(startBatch * batchSize, data.count);
          bar = makeBar(epoch + 1, epochs, data.count, done);
          const epochFirstStep = progress.step - startBatch; // history holds every step since the run began
          for (const batch of data.batches(epoch, { batchSize, seed: runSeed })) {
            if (batch.index < startBatch) continue;
            const losses = model.trainStep(batch, progress.step).map((t) => keep(t));
            pending.push(losses);
            progress = { ...progress, step: progress.step + 1, batchInEpoch: batch.index + 1 };
            if (lossSchedule.take(progress.step)) simulateDeviceLoss(`simulated after step ${progress.step}`);
            // A lost device runs nothing: go back to the restore point now rather than at the next read-back.
            const lost = deviceLostReason();
            if (lost !== undefined) throw new DeviceError(lost);
            if (!kernels) {
              const started = performance.now();
              kernels = await settleRunKernels(progress.step, log);
              tuneSeconds += (performance.now() - started) / 1000;
            }
            done += batch.size;
            imagesTrained += batch.size;
            const stopping = stopNow();
            if (pending.length >= lossEvery || stopping) {
              const last = await drain();
              bar.update(done, last?.[model.lossNames[0]]);
            } else {
              bar.update(done);
            }
            // A stop on the epoch's last batch lets the epoch end normally (checkpoint marked as the
            // next epoch's start, epoch-end pictures drawn) and stops below.
            if (stopping && batch.index + 1 < batchesPerEpoch) {
              interrupted = true;
              break;
            }
          }
          const last = await drain();
          bar.update(done, last?.[model.lossNames[0]]);
          const epochLosses = Object.fromEntries(model.lossNames.map((n) => [n, mean(history[n].slice(epochFirstStep))]));
          const note = model.lossNames.map((n) => `${n} ${epochLosses[n].toFixed(4)}`).join(', ');
          bar.finish(interrupted ? `stopped (epoch means: ${note})` : `epoch means: ${note}`);
          trainSeconds += bar.elapsed;
          if (!interrupted) progress = { ...progress, epoch: epoch + 1, batchInEpoch: 0 };
          await save();
          if (!interrupted) {
            await keepRestorePoint(checkpointPath !== undefined);
            lossesInARow = 0;
          }
          if (interrupted) {
            log(saved('in the epoch'));
            break;
          }
          await o.onEpochEnd?.(epoch, epochLosses, { seconds: bar.elapsed, images: done - startBatch * batchSize });
          // Also a Ctrl-C during onEpochEnd: the checkpoint above already holds this position.
          if (epoch + 1 < epochs && stopNow()) {
            interrupted = true;
            log(`stopped after epoch ${epoch + 1}; ${saved('there')}`);
            break;
          }
        }
        break;
      } catch (error) {
        const reason = await deviceLossBehind(error);
        if (reason === undefined) throw error;
        bar?.abandon();
        for (const s of pending) for (const t of s) t.dispose();
        pending = [];
        if (!deviceCanBeReplaced()) throw error;
        lossesInARow++;
        const point = restorePoint!;
        if (lossesInARow >= MAX_DEVICE_LOSSES_IN_A_ROW) {
          // Stop, with the model back at the restore point on a new device where one opens
          // (so that the caller can still use it); the checkpoint file is left as it is.
          try {
            await restore(point);
          } catch {
            // no device to be had: the error says what is kept
          }
          throw new DeviceLostError(reason, lossesInARow, point.progress, checkpointPath, 'bytes' in point ? point.bytes : undefined);
        }
        const from = 'path' in point ? point.path : 'the host copy';
        log(`${reason}, at step ${progress.step}; opening a new device and restoring ${point.progress.step === 0 ? 'the start of the run' : `epoch ${point.progress.epoch}'s end (step ${point.progress.step})`} from ${from} (loss ${lossesInARow} of ${MAX_DEVICE_LOSSES_IN_A_ROW} in a row)`);
        lostAgain = true;
      }
    }
  } finally {
    bar?.abandon(); // after finish() a no-op; after an error (a diverged loss) the bar must not go on drawing
    signals()?.off('SIGINT', onSigint);
    for (const s of pending) for (const t of s) t.dispose();
    endRunKernels();
  }
  return {
    progress,
    history,
    interrupted,
    seconds: trainSeconds - tuneSeconds,
    imagesPerSecond: imagesTrained / Math.max(trainSeconds - tuneSeconds, 1e-9),
    tuneSeconds,
    resumedFrom,
    kernels,
  };
}
