// fit(): Keras's model.fit for this framework. Give it a Module with a loss and an optimizer (or a
// model with its own trainStep, as the VAE and GANs have) and any data with BatchSource's interface
// (a DataLoader over your arrays, or MnistGpu); it runs the training loop of trainer.ts: shuffled
// epochs, a progress bar, losses read back in bulk, a checkpoint after every epoch when asked,
// Ctrl-C that stops and saves, --resume that continues exactly, a NaN loss that stops the run.
//
//   const loader = new DataLoader(new TensorDataset(x, y), { batchSize: 32, seed: 0 });
//   const history = await fit(model, loader, {
//     epochs: 5, loss: crossEntropy, optimizer: new Adam(model, { lr: 1e-3 }),
//     validationData: new DataLoader(new TensorDataset(xTest, yTest), { batchSize: 256, shuffle: false }),
//   });
//   history.history.val_accuracy; // one value per epoch, as Keras's History
//
// A model with its own step (TrainableModel) brings its modules and optimizers; `loss` and
// `optimizer` are then refused, since they would do nothing.

import type { RunKernels } from '../tune/session.ts';
import type { Tensor } from '../core/tensor.ts';
import { keep, tidy } from '../core/scope.ts';
import { detach, noGrad } from '../core/autograd.ts';
import { add, mulScalar } from '../core/ops.ts';
import { zeros } from '../core/creation.ts';
import { Module } from '../nn/module.ts';
import { Dropout } from '../nn/dropout.ts';
import type { Optimizer } from '../nn/optim.ts';
import type { TrainingProgress } from '../nn/checkpoint.ts';
import type { Batch, BatchSource } from '../data/batches.ts';
import { trainLoop, type EpochTiming, type LossHistory, type TrainableModel } from './trainer.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

/** The loss of a model's output against a batch's targets: crossEntropy, mseLoss, … */
export type LossFunction = (output: Tensor, target: Tensor) => Tensor;

/** Figures of one epoch: the mean training loss(es), and val_loss / val_accuracy with validationData. */
export type EpochLogs = Record<string, number>;

/** Hooks into fit, as Keras's callbacks (all optional, awaited in order). */
export interface Callback {
  onTrainBegin?(): void | Promise<void>;
  /** `epoch` counts from 0. */
  onEpochEnd?(epoch: number, logs: EpochLogs): void | Promise<void>;
  onTrainEnd?(history: History): void | Promise<void>;
}

export interface FitOptions {
  epochs: number;
  /** Examples per step. Default: the DataLoader's own; required for other data (MnistGpu). */
  batchSize?: number;
  /** Shuffling seed: epoch e's order is seededPermutation(count, seed, e). Default: the DataLoader's, else 0. */
  seed?: number;
  /** For a Module: the training loss of its output against the targets. */
  loss?: LossFunction;
  /** For a Module: the optimizer over its parameters. */
  optimizer?: Optimizer;
  /** Measured after every epoch (the Module's loss and, for class scores, accuracy). */
  validationData?: BatchSource;
  /** Examples per validation batch (default 500). */
  validationBatchSize?: number;
  callbacks?: Callback[];
  /** Save a checkpoint here after every epoch (and on Ctrl-C). */
  checkpoint?: string;
  /** Continue from `checkpoint` (true) or from this file, exactly where it stopped. */
  resume?: boolean | string;
  /** Checkpoint model name for a Module (default 'model'); its modules and optimizer are saved under it. */
  name?: string;
  /** A Module's constructor options, kept in the checkpoint (JSON). */
  config?: object;
  /** Further strings every checkpoint keeps. */
  extra?: Record<string, string>;
  /** The progress bar (default true). */
  progress?: boolean;
  /** Steps between loss read-backs (default 20; each waits for the GPU). */
  lossEvery?: number;
  /** Stop after this many steps in all (tests, try-outs). */
  maxSteps?: number;
  log?: (line: string) => void;
  /**
   * Test hook: lose the device after each of these steps (see TrainLoopOptions.simulateDeviceLoss;
   * without it, WEBGPU_SIMULATE_DEVICE_LOSS=STEP[,STEP…] does it, each entry once per process).
   */
  simulateDeviceLoss?: number | readonly number[];
}

/** What fit returns: Keras's History (one value per epoch and figure) and more. */
export interface History {
  /** Epochs run in this call (0-based), one per entry of every `history` list. */
  epoch: number[];
  /** Per figure ('loss', 'val_loss', 'val_accuracy', or the model's own loss names), one value per epoch. */
  history: Record<string, number[]>;
  /** Every step's losses since the run began (a resumed run includes the steps before). */
  steps: LossHistory;
  progress: TrainingProgress;
  /** Stopped by Ctrl-C or maxSteps before the last epoch ended. */
  interrupted: boolean;
  /** Training time (validation and callbacks excluded), and images per second over it. */
  seconds: number;
  imagesPerSecond: number;
  /** Each epoch's training time and images, as `epoch`. */
  epochTimes: EpochTiming[];
  /** The kernels the run ran where the policy chose, and when each took effect (checkpoints keep them; a resume reuses them). */
  kernels?: RunKernels;
  /** Seconds spent tuning kernels (init's tune 'on'), not counted in `seconds`. */
  tuneSeconds: number;
}

export interface Evaluation {
  /** Mean loss per example. */
  loss: number;
  /** Share of examples whose highest score is the target, when the output is class scores [B, C] and the targets integers [B]. */
  accuracy?: number;
  /** With accuracy: correct predictions per class, and how many examples of each class there were. */
  correctPerClass?: number[];
  countPerClass?: number[];
}

/**
 * A model's mean loss (and accuracy, for class scores against integer targets) over all of
 * `data`, in inference mode and without recording gradients; the model's mode is restored.
 */
const FIT_OPTIONS = knownOptions<FitOptions>({
  epochs: true, batchSize: true, seed: true, loss: true, optimizer: true, validationData: true, validationBatchSize: true, callbacks: true,
  checkpoint: true, resume: true, name: true, config: true, extra: true, progress: true, lossEvery: true, maxSteps: true, log: true,
  simulateDeviceLoss: true,
});
const EVALUATE_OPTIONS = knownOptions<{ loss: LossFunction; batchSize?: number }>({ loss: true, batchSize: true });

export async function evaluate(model: Module, data: BatchSource, options: { loss: LossFunction; batchSize?: number }): Promise<Evaluation> {
  checkOptions('evaluate', options, EVALUATE_OPTIONS);
  const wasTraining = model.training;
  model.eval();
  let lossSum = keep(zeros([]));
  let seen = 0;
  let correct = 0;
  let classification = true;
  const correctPerClass: number[] = [];
  const countPerClass: number[] = [];
  try {
    for (const batch of data.batches(0, { batchSize: options.batchSize ?? 500, shuffle: false })) {
      const output = noGrad(() =>
        tidy(() => {
          const out = model.forward(batch.x);
          const batchLoss = options.loss(out, batch.y);
          // Summed as the mean times the batch's size, so a smaller last batch weighs less.
          const next = add(lossSum, mulScalar(batchLoss, batch.size));
          lossSum.dispose();
          lossSum = keep(next);
          return out;
        }),
      );
      classification &&= output.shape.length === 2 && batch.y.dtype === 'i32' && batch.y.shape.length === 1;
      if (classification) {
        const scores = await output.toArray();
        const targets = batch.labels ?? (await batch.y.toInt32Array());
        const classes = output.shape[1];
        for (let r = 0; r < batch.size; r++) {
          let best = 0;
          for (let c = 1; c < classes; c++) if (scores[r * classes + c] > scores[r * classes + best]) best = c;
          const label = targets[r];
          countPerClass[label] = (countPerClass[label] ?? 0) + 1;
          if (best === label) {
            correct++;
            correctPerClass[label] = (correctPerClass[label] ?? 0) + 1;
          }
        }
      }
      output.dispose();
      seen += batch.size;
    }
    const loss = (await lossSum.item()) / Math.max(seen, 1);
    if (!classification || seen === 0) return { loss };
    const classes = countPerClass.length;
    return {
      loss,
      accuracy: correct / seen,
      correctPerClass: Array.from({ length: classes }, (_, i) => correctPerClass[i] ?? 0),
      countPerClass: Array.from({ length: classes }, (_, i) => countPerClass[i] ?? 0),
    };
  } finally {
    lossSum.dispose();
    model.train(wasTraining);
  }
}

/** A Module with a loss and an optimizer, as the training loop's TrainableModel (what fit() trains a Module as). */
export class SupervisedModel implements TrainableModel {
  readonly lossNames = ['loss'] as const;
  readonly modules: Record<string, Module>;
  readonly optimizers: Record<string, Optimizer>;
  /** The model's Dropout layers, found once: each step sets their step. */
  private readonly dropouts: Dropout[];

  constructor(
    readonly name: string,
    readonly config: object,
    private readonly model: Module,
    private readonly loss: LossFunction,
    private readonly optimizer: Optimizer,
  ) {
    this.modules = { [name]: model };
    this.optimizers = { [name]: optimizer };
    this.dropouts = model.namedModules().flatMap(([, m]) => (m instanceof Dropout ? [m] : []));
  }

  trainStep(batch: Batch, step: number): Tensor[] {
    // Dropout masks are a function of (seed, step): every Dropout starts this step's masks, so a
    // resumed run draws the same masks as an uninterrupted one.
    for (const d of this.dropouts) d.step = step;
    return [
      tidy(() => {
        this.optimizer.zeroGrad();
        const loss = this.loss(this.model.forward(batch.x), batch.y);
        loss.backward();
        this.optimizer.step();
        return detach(loss);
      }),
    ];
  }
}

function isTrainable(model: Module | TrainableModel): model is TrainableModel {
  return !(model instanceof Module) && typeof (model as TrainableModel).trainStep === 'function';
}

function hasOwnBatchSize(data: BatchSource): data is BatchSource & { batchSize: number; seed?: number } {
  return typeof (data as { batchSize?: unknown }).batchSize === 'number';
}

/** Trains `model` on `data` for `options.epochs` epochs; see the top of this file. */
export async function fit(model: Module | TrainableModel, data: BatchSource, options: FitOptions): Promise<History> {
  checkOptions('fit', options, FIT_OPTIONS);
  const log = options.log ?? ((line: string) => console.log(line));
  if (!Number.isInteger(options.epochs) || options.epochs < 1) throw new RangeError(`fit: epochs must be a positive integer, got ${options.epochs}`);
  const batchSize = options.batchSize ?? (hasOwnBatchSize(data) ? data.batchSize : undefined);
  if (batchSize === undefined) throw new TypeError('fit: batchSize is required for data without its own (a DataLoader has one; MnistGpu does not)');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`fit: batchSize must be a positive integer, got ${batchSize}`);
  const seed = options.seed ?? (hasOwnBatchSize(data) && typeof data.seed === 'number' ? data.seed : 0);

  let trainable: TrainableModel;
  let module: Module | undefined;
  if (isTrainable(model)) {
    for (const key of ['loss', 'optimizer', 'name', 'config', 'validationData'] as const) {
      if (options[key] !== undefined) {
        throw new TypeError(`fit: '${key}' does not apply to a model with its own trainStep (${model.name}): it brings its own losses, optimizers, name and config${key === 'validationData' ? '; measure it in an onEpochEnd callback' : ''}`);
      }
    }
    trainable = model;
  } else {
    if (!options.loss) throw new TypeError('fit: a Module needs a loss (e.g. crossEntropy, mseLoss), as Keras needs one in compile()');
    if (!options.optimizer) throw new TypeError('fit: a Module needs an optimizer over its parameters (e.g. new Adam(model))');
    module = model;
    trainable = new SupervisedModel(options.name ?? 'model', options.config ?? {}, model, options.loss, options.optimizer);
  }
  if (options.validationData && !module) throw new TypeError('fit: validationData needs a Module and a loss');

  const history: History['history'] = {};
  const epochsRun: number[] = [];
  const epochTimes: EpochTiming[] = [];
  const callbacks = options.callbacks ?? [];
  for (const c of callbacks) await c.onTrainBegin?.();
  module?.train();
  const result = await trainLoop({
    model: trainable,
    data,
    epochs: options.epochs,
    batchSize,
    seed,
    checkpointPath: options.checkpoint,
    resume: options.resume,
    extra: options.extra,
    progress: options.progress,
    lossEvery: options.lossEvery,
    maxSteps: options.maxSteps,
    log,
    ...(options.simulateDeviceLoss !== undefined ? { simulateDeviceLoss: options.simulateDeviceLoss } : {}),
    onEpochEnd: async (epoch, losses, timing) => {
      const logs: EpochLogs = { ...losses };
      if (options.validationData && module && options.loss) {
        const v = await evaluate(module, options.validationData, { loss: options.loss, batchSize: options.validationBatchSize });
        logs.val_loss = v.loss;
        if (v.accuracy !== undefined) logs.val_accuracy = v.accuracy;
        log(`  validation: loss ${v.loss.toFixed(4)}${v.accuracy !== undefined ? `, accuracy ${(100 * v.accuracy).toFixed(2)}%` : ''}`);
      }
      epochsRun.push(epoch);
      epochTimes.push(timing);
      for (const [k, v] of Object.entries(logs)) (history[k] ??= []).push(v);
      for (const c of callbacks) await c.onEpochEnd?.(epoch, logs);
    },
  });
  const done: History = {
    epoch: epochsRun,
    history,
    steps: result.history,
    progress: result.progress,
    interrupted: result.interrupted,
    seconds: result.seconds,
    imagesPerSecond: result.imagesPerSecond,
    epochTimes,
    kernels: result.kernels,
    tuneSeconds: result.tuneSeconds,
  };
  for (const c of callbacks) await c.onTrainEnd?.(done);
  return done;
}
