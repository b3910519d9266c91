// Learning-rate schedules, as Keras's `learning_rate=` takes them: a schedule is a plain function
// of the optimizer's step, `(step) => lr`, where `step` counts the updates done before this one
// (0 for the first: Keras's optimizer.iterations). Pass one as an optimizer's `lr`:
//
//   const opt = new Adam(model, { lr: cosineDecay({ initialLr: 1e-3, decaySteps: 10_000 }) });
//
// Any function of the step works; the ones below are Keras's (and PyTorch's StepLR) by name and
// formula. Because a schedule depends on nothing but the step, and checkpoints save the step
// count, a resumed run continues on the same curve, given the same schedule when the optimizer
// is rebuilt (a function is code: checkpoints cannot carry it).
//
// PyTorch's schedulers count epochs (scheduler.step() once an epoch); these count optimizer
// steps. For a per-epoch curve, multiply by the batches per epoch (DataLoader's `length`):
//   StepLR(step_size=5, gamma=0.5)  ≈  stepDecay({ initialLr, stepSize: 5 * loader.length, gamma: 0.5 })

import { checkOptions, knownOptions } from '../core/options.ts';

/** A learning rate that follows the optimizer's step (0 for the first update). */
export type LearningRateSchedule = (step: number) => number;

function positive(where: string, name: string, value: unknown, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${where}: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`);
  }
  return value;
}

function inRange(where: string, name: string, value: unknown, lo: number, hi: number): number {
  if (typeof value !== 'number' || !(value >= lo && value <= hi)) throw new RangeError(`${where}: ${name} must be in [${lo}, ${hi}], got ${String(value)}`);
  return value;
}

export interface ExponentialDecayOptions {
  initialLr: number;
  /** Steps over which the rate is multiplied by decayRate once. */
  decaySteps: number;
  decayRate: number;
  /** Decay in whole steps of decaySteps (a staircase) rather than smoothly (default false). */
  staircase?: boolean;
}

/** Keras ExponentialDecay: initialLr · decayRate^(step / decaySteps) (the exponent floored with staircase). */
const EXPONENTIAL_DECAY_OPTIONS = knownOptions<ExponentialDecayOptions>({ initialLr: true, decaySteps: true, decayRate: true, staircase: true });
const COSINE_DECAY_OPTIONS = knownOptions<CosineDecayOptions>({ initialLr: true, decaySteps: true, alpha: true });
const STEP_DECAY_OPTIONS = knownOptions<StepDecayOptions>({ initialLr: true, stepSize: true, gamma: true });
const LINEAR_WARMUP_OPTIONS = knownOptions<LinearWarmupOptions>({ lr: true, warmupSteps: true, startFactor: true });

export function exponentialDecay(o: ExponentialDecayOptions): LearningRateSchedule {
  checkOptions('exponentialDecay', o, EXPONENTIAL_DECAY_OPTIONS);
  const initialLr = positive('exponentialDecay', 'initialLr', o.initialLr);
  const decaySteps = positive('exponentialDecay', 'decaySteps', o.decaySteps);
  const decayRate = positive('exponentialDecay', 'decayRate', o.decayRate);
  const staircase = o.staircase ?? false;
  return (step) => {
    const p = step / decaySteps;
    return initialLr * decayRate ** (staircase ? Math.floor(p) : p);
  };
}

export interface CosineDecayOptions {
  initialLr: number;
  /** Steps from initialLr down to alpha · initialLr; the rate stays there afterwards. */
  decaySteps: number;
  /** The final rate as a fraction of initialLr (default 0). */
  alpha?: number;
}

/** Keras CosineDecay: initialLr · ((1 − alpha) · ½(1 + cos(π · min(step, decaySteps) / decaySteps)) + alpha). */
export function cosineDecay(o: CosineDecayOptions): LearningRateSchedule {
  checkOptions('cosineDecay', o, COSINE_DECAY_OPTIONS);
  const initialLr = positive('cosineDecay', 'initialLr', o.initialLr);
  const decaySteps = positive('cosineDecay', 'decaySteps', o.decaySteps);
  const alpha = inRange('cosineDecay', 'alpha', o.alpha ?? 0, 0, 1);
  return (step) => {
    const cosine = 0.5 * (1 + Math.cos((Math.PI * Math.min(step, decaySteps)) / decaySteps));
    return initialLr * ((1 - alpha) * cosine + alpha);
  };
}

export interface LinearWarmupOptions {
  /** The rate after the warm-up: a number, or a schedule that the warm-up scales (it sees the same step). */
  lr: number | LearningRateSchedule;
  /** Steps over which the factor rises from startFactor to 1. */
  warmupSteps: number;
  /** The factor at step 0 (default 1/3, as PyTorch's LinearLR). */
  startFactor?: number;
}

/**
 * A linear warm-up, PyTorch's LinearLR counted in optimizer steps (end_factor 1): the rate is
 * lr(step) · (startFactor + (1 − startFactor) · min(step, warmupSteps) / warmupSteps), so it
 * reaches lr at step warmupSteps and follows lr from then on. Adam's first steps move every
 * weight by about the rate whatever its gradient's size; a warm-up keeps those first steps small.
 */
export function linearWarmup(o: LinearWarmupOptions): LearningRateSchedule {
  checkOptions('linearWarmup', o, LINEAR_WARMUP_OPTIONS);
  const base = o.lr;
  if (typeof base !== 'function') positive('linearWarmup', 'lr', base);
  const warmupSteps = positive('linearWarmup', 'warmupSteps', o.warmupSteps, true);
  const startFactor = inRange('linearWarmup', 'startFactor', o.startFactor ?? 1 / 3, 0, 1);
  return (step) => {
    const factor = startFactor + ((1 - startFactor) * Math.min(step, warmupSteps)) / warmupSteps;
    return (typeof base === 'function' ? base(step) : base) * factor;
  };
}

export interface StepDecayOptions {
  initialLr: number;
  /** Steps between two decays. */
  stepSize: number;
  /** Factor applied at each decay (default 0.1, as PyTorch). */
  gamma?: number;
}

/** PyTorch's StepLR, counted in optimizer steps: initialLr · gamma^⌊step / stepSize⌋. */
export function stepDecay(o: StepDecayOptions): LearningRateSchedule {
  checkOptions('stepDecay', o, STEP_DECAY_OPTIONS);
  const initialLr = positive('stepDecay', 'initialLr', o.initialLr);
  const stepSize = positive('stepDecay', 'stepSize', o.stepSize, true);
  const gamma = positive('stepDecay', 'gamma', o.gamma ?? 0.1);
  return (step) => initialLr * gamma ** Math.floor(step / stepSize);
}

/**
 * Keras PiecewiseConstantDecay: values[0] while step ≤ boundaries[0], values[i] while
 * boundaries[i−1] < step ≤ boundaries[i], and the last value after the last boundary.
 */
export function piecewiseConstant(boundaries: readonly number[], values: readonly number[]): LearningRateSchedule {
  if (values.length !== boundaries.length + 1) {
    throw new RangeError(`piecewiseConstant: needs one value more than boundaries, got ${boundaries.length} boundaries and ${values.length} values`);
  }
  boundaries.forEach((b, i) => {
    if (!Number.isFinite(b) || (i > 0 && !(b > boundaries[i - 1]))) {
      throw new RangeError(`piecewiseConstant: boundaries must be finite and increasing, got [${boundaries.join(', ')}]`);
    }
  });
  values.forEach((v) => {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`piecewiseConstant: values must be finite and non-negative, got [${values.join(', ')}]`);
  });
  const b = [...boundaries];
  const v = [...values];
  return (step) => {
    const i = b.findIndex((boundary) => step <= boundary);
    return v[i < 0 ? v.length - 1 : i];
  };
}
