// Optimizers: Adam (Keras defaults) and SGD with momentum. Each holds its parameters by name and
// a few state tensors per parameter ("0.kernel.m", "0.kernel.v"), updated in place by one fused
// kernel per parameter per step (core/optim-ops.ts). stateDict()/loadStateDict() carry the state
// and the step count, so a checkpoint can resume training exactly.
//
//   const opt = new Adam(model, { lr: 1e-3 });
//   opt.zeroGrad(); loss.backward(); opt.step();
//
// As Keras's optimizers, both take
//  - `lr`: a number, or a schedule `(step) => lr` (schedules.ts: exponentialDecay, cosineDecay,
//    stepDecay, piecewiseConstant, linearWarmup, or any function), evaluated at the step count before each
//    update; `opt.lr` reads the rate the next step will use, and assigning a number replaces the
//    schedule;
//  - one of `clipNorm` (each gradient to this L2 norm), `globalClipNorm` (all together, as
//    PyTorch's clip_grad_norm_) and `clipValue` (each element), applied to the gradients the
//    update uses, on the GPU, without changing p.grad (clip.ts; clipGradNorm / clipGradValue
//    there clip p.grad itself, PyTorch's way).

import { Module } from './module.ts';
import { Tensor, formatShape } from '../core/tensor.ts';
import { zeros } from '../core/creation.ts';
import { keep, tidy } from '../core/scope.ts';
import { copyBuffer } from '../core/dispatch.ts';
import { adamStep, sgdStep } from '../core/optim-ops.ts';
import { clippedGradients, type ClipRule } from './clip.ts';
import type { LearningRateSchedule } from './schedules.ts';

export { clipGradNorm, clipGradValue, type ClipParams } from './clip.ts';
export {
  exponentialDecay, cosineDecay, stepDecay, piecewiseConstant, linearWarmup, type LearningRateSchedule,
  type ExponentialDecayOptions, type CosineDecayOptions, type StepDecayOptions, type LinearWarmupOptions,
} from './schedules.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

/** A constant learning rate, or a schedule of the step (Keras's learning_rate). */
export type LearningRate = number | LearningRateSchedule;

/** Gradient clipping, as Keras's optimizer options (at most one of them). */
export interface ClipOptions {
  /** Clip each parameter's gradient to this L2 norm, on its own (Keras's clipnorm). */
  clipNorm?: number;
  /** Scale all gradients together to this global L2 norm at most (Keras's global_clipnorm, PyTorch's clip_grad_norm_). */
  globalClipNorm?: number;
  /** Clamp every gradient element into [−clipValue, clipValue] (Keras's clipvalue). */
  clipValue?: number;
}

const CLIP_OPTIONS = { clipNorm: true, globalClipNorm: true, clipValue: true } as const;
const ADAM_OPTIONS = knownOptions<AdamOptions>({ ...CLIP_OPTIONS, lr: true, beta1: true, beta2: true, epsilon: true });
const SGD_OPTIONS = knownOptions<SGDOptions>({ ...CLIP_OPTIONS, lr: true, momentum: true, weightDecay: true, nesterov: true });

const CLIP_KINDS = ['clipNorm', 'globalClipNorm', 'clipValue'] as const;

/** The clip options that are set, as hyper-parameters. */
function clipHyper(o: ClipOptions): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of CLIP_KINDS) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** What an optimizer updates: a module's parameters, named tensors, or tensors (named by position). */
export type ParamsInput = Module | Iterable<Tensor> | Iterable<readonly [string, Tensor]>;

export interface OptimizerState {
  /** step() calls so far. */
  step: number;
  /**
   * Hyper-parameters when saved (restored by loadStateDict, as PyTorch does). `lr` is the rate
   * the next step uses; with a schedule it is informational (the schedule, given again, and the
   * restored step give the rate). A clipping option appears only when set.
   */
  hyper: Record<string, number | boolean>;
  /** Per-parameter state by "<parameter name>.<slot>". These are the live tensors, not copies. */
  tensors: Map<string, Tensor>;
}

function namedParams(input: ParamsInput): [string, Tensor][] {
  if (input instanceof Module) return input.namedParameters();
  const out: [string, Tensor][] = [];
  let i = 0;
  for (const item of input as Iterable<Tensor | readonly [string, Tensor]>) {
    out.push(item instanceof Tensor ? [String(i), item] : [item[0], item[1]]);
    i++;
  }
  return out;
}

export abstract class Optimizer {
  readonly params: readonly (readonly [string, Tensor])[];
  /** step() calls so far; Adam's bias correction and learning-rate schedules use it. */
  stepCount = 0;
  private readonly slots: readonly string[];
  private readonly state = new Map<string, Tensor>();
  private constantLr = 0;
  private lrSchedule: LearningRateSchedule | null = null;
  private clipRule: ClipRule | null = null;

  protected constructor(params: ParamsInput, slots: readonly string[]) {
    const named = namedParams(params);
    if (named.length === 0) throw new Error(`${this.constructor.name}: no parameters to optimize`);
    const seenNames = new Set<string>();
    const seenTensors = new Set<Tensor>();
    for (const [name, p] of named) {
      if (seenNames.has(name)) throw new Error(`${this.constructor.name}: two parameters are named "${name}"`);
      if (seenTensors.has(p)) throw new Error(`${this.constructor.name}: parameter "${name}" is listed twice`);
      if (p.dtype !== 'f32') throw new TypeError(`${this.constructor.name}: parameter "${name}" must be f32, got ${p.describe()}`);
      seenNames.add(name);
      seenTensors.add(p);
    }
    this.params = named;
    this.slots = slots;
    for (const [name, p] of named) {
      for (const slot of slots) {
        const t = keep(zeros(p.shape));
        t.name = `${name}.${slot}`;
        this.state.set(t.name, t);
      }
    }
  }

  /** The update's own hyper-parameters (beyond lr and clipping), as saved in stateDict. */
  protected abstract updateHyper(): Record<string, number | boolean>;
  /** Checks and sets the update's own hyper-parameters from saved ones. */
  protected abstract setUpdateHyper(hyper: Record<string, number | boolean>): void;
  /** Updates one parameter in place from its gradient and its state slots (in `slots` order). */
  protected abstract update(param: Tensor, grad: Tensor, state: Tensor[], step: number, lr: number): void;

  /**
   * The learning rate the next step() uses: the constant, or the schedule at the current step
   * count. Assigning a number sets a constant rate (replacing any schedule).
   */
  get lr(): number {
    return this.lrSchedule ? this.scheduledLr(this.stepCount) : this.constantLr;
  }
  set lr(value: number) {
    this.setLearningRate(value);
  }

  /** The learning-rate schedule, or null for a constant rate. */
  get schedule(): LearningRateSchedule | null {
    return this.lrSchedule;
  }

  /** Sets a constant learning rate, or a schedule `(step) => lr` (checked at the current step). */
  setLearningRate(lr: LearningRate): void {
    if (typeof lr === 'function') {
      const previous = this.lrSchedule;
      this.lrSchedule = lr;
      try {
        this.scheduledLr(this.stepCount);
      } catch (e) {
        this.lrSchedule = previous;
        throw e;
      }
    } else {
      this.constantLr = checkRange(this.constructor.name, 'lr', lr, 0, Infinity, false);
      this.lrSchedule = null;
    }
  }

  private scheduledLr(step: number): number {
    const lr = this.lrSchedule!(step);
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
      throw new RangeError(`${this.constructor.name}: the learning-rate schedule gave ${String(lr)} at step ${step}; it must give a finite number ≥ 0`);
    }
    return lr;
  }

  /** The clipping in use: { kind, value }, or null. */
  get clipping(): ClipRule | null {
    return this.clipRule;
  }

  /** Hyper-parameters, as saved in stateDict. */
  hyper(): Record<string, number | boolean> {
    const clip = this.clipRule ? { [this.clipRule.kind]: this.clipRule.value } : {};
    return { lr: this.lr, ...this.updateHyper(), ...clip };
  }

  /**
   * Checks and sets hyper-parameters (from options or a saved state). With a schedule, the saved
   * `lr` is checked but the schedule stays: at the restored step it gives the rate.
   */
  protected setHyper(h: Record<string, number | boolean>): void {
    const name = this.constructor.name;
    const lr = checkRange(name, 'lr', h.lr, 0, Infinity, false);
    const set = CLIP_KINDS.filter((k) => h[k] !== undefined);
    if (set.length > 1) throw new RangeError(`${name}: set at most one of clipNorm, globalClipNorm and clipValue (as Keras), got ${set.join(' and ')}`);
    let clip: ClipRule | null = null;
    if (set.length === 1) {
      const kind = set[0];
      const value = h[kind];
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new RangeError(`${name}: ${kind} must be a positive finite number, got ${String(value)}`);
      clip = { kind, value };
    }
    this.setUpdateHyper(h);
    if (!this.lrSchedule) this.constantLr = lr;
    this.clipRule = clip;
  }

  /**
   * Applies one update to every parameter that has a gradient (others are left alone), at the
   * learning rate `lr` gives for this step, with the gradients clipped when an option says so.
   */
  step(): void {
    const lr = this.lr;
    const withGrad = this.params.filter(([, p]) => p.grad);
    this.stepCount++;
    tidy(() => {
      const grads = clippedGradients(withGrad.map(([, p]) => p.grad!), this.clipRule);
      withGrad.forEach(([name, p], i) => {
        const state = this.slots.map((slot) => this.state.get(`${name}.${slot}`)!);
        this.update(p, grads[i], state, this.stepCount, lr);
      });
    });
  }

  /** Drops the parameters' gradients (they accumulate across backward() calls otherwise). */
  zeroGrad(): void {
    for (const [, p] of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  stateDict(): OptimizerState {
    return { step: this.stepCount, hyper: this.hyper(), tensors: new Map(this.state) };
  }

  /** Copies saved state into this optimizer; names and shapes must match exactly. */
  loadStateDict(saved: OptimizerState, source = 'optimizer state'): void {
    if (!Number.isInteger(saved.step) || saved.step < 0) throw new Error(`${source}: step must be a non-negative integer, got ${saved.step}`);
    const missing = [...this.state.keys()].filter((k) => !saved.tensors.has(k));
    const unexpected = [...saved.tensors.keys()].filter((k) => !this.state.has(k));
    if (missing.length || unexpected.length) {
      throw new Error(
        `${source} does not match this ${this.constructor.name}:` +
          (missing.length ? ` missing ${missing.join(', ')};` : '') +
          (unexpected.length ? ` unexpected ${unexpected.join(', ')}` : ''),
      );
    }
    for (const [name, t] of this.state) {
      const src = saved.tensors.get(name)!;
      if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
        throw new Error(`${source}: tensor "${name}" has shape ${formatShape(src.shape)}, the optimizer expects ${formatShape(t.shape)}`);
      }
      if (src.dtype !== t.dtype) throw new Error(`${source}: tensor "${name}" is ${src.dtype}, the optimizer expects ${t.dtype}`);
      if (src.isDisposed) throw new Error(`${source}: tensor "${name}" was disposed`);
    }
    this.setHyper(saved.hyper);
    for (const [name, t] of this.state) {
      const src = saved.tensors.get(name)!;
      if (src !== t && t.size > 0) copyBuffer(src.gpu.buffer, 0, t.gpu.buffer, 0, t.size * 4);
    }
    this.stepCount = saved.step;
  }

  /** Frees the state tensors (not the parameters). */
  dispose(): void {
    for (const t of this.state.values()) t.dispose();
    this.state.clear();
  }
}

function checkRange(opt: string, name: string, value: unknown, lo: number, hi: number, hiOpen: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || (hiOpen ? value >= hi : value > hi)) {
    throw new RangeError(`${opt}: ${name} must be a number in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${String(value)}`);
  }
  return value;
}

export interface AdamOptions extends ClipOptions {
  /** A number or a schedule `(step) => lr` (default 1e-3). */
  lr?: LearningRate;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-7 (Keras; PyTorch uses 1e-8, added after the bias correction). */
  epsilon?: number;
}

/** Adam with Keras's defaults and update formula (see src/kernels/optimizers.ts). */
export class Adam extends Optimizer {
  beta1 = 0.9;
  beta2 = 0.999;
  epsilon = 1e-7;

  constructor(params: ParamsInput, options: AdamOptions = {}) {
    checkOptions('Adam', options, ADAM_OPTIONS);
    super(params, ['m', 'v']);
    this.setLearningRate(options.lr ?? 1e-3);
    this.setHyper({
      lr: this.lr,
      beta1: options.beta1 ?? this.beta1,
      beta2: options.beta2 ?? this.beta2,
      epsilon: options.epsilon ?? this.epsilon,
      ...clipHyper(options),
    });
  }

  protected updateHyper(): Record<string, number> {
    return { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  protected setUpdateHyper(h: Record<string, number | boolean>): void {
    this.beta1 = checkRange('Adam', 'beta1', h.beta1, 0, 1, true);
    this.beta2 = checkRange('Adam', 'beta2', h.beta2, 0, 1, true);
    this.epsilon = checkRange('Adam', 'epsilon', h.epsilon, 0, Infinity, false);
  }

  protected update(param: Tensor, grad: Tensor, [m, v]: Tensor[], step: number, lr: number): void {
    adamStep(param, grad, m, v, { lr, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, step });
  }
}

export interface SGDOptions extends ClipOptions {
  /** A number or a schedule `(step) => lr`. */
  lr: LearningRate;
  /** Default 0 (no momentum buffer). */
  momentum?: number;
  /** L2 penalty added to the gradient, as PyTorch's weight_decay (default 0). */
  weightDecay?: number;
  nesterov?: boolean;
}

/** SGD as PyTorch: buf ← μ·buf + g; p ← p − lr·buf (Nesterov: p ← p − lr·(g + μ·buf)). */
export class SGD extends Optimizer {
  momentum = 0;
  weightDecay = 0;
  nesterov = false;
  private readonly hasMomentumBuffers: boolean;

  constructor(params: ParamsInput, options: SGDOptions) {
    checkOptions('SGD', options, SGD_OPTIONS);
    const momentum = options.momentum ?? 0;
    super(params, momentum !== 0 ? ['momentum'] : []);
    this.hasMomentumBuffers = momentum !== 0;
    this.setLearningRate(options.lr);
    this.setHyper({ lr: this.lr, momentum, weightDecay: options.weightDecay ?? 0, nesterov: options.nesterov ?? false, ...clipHyper(options) });
  }

  protected updateHyper(): Record<string, number | boolean> {
    return { momentum: this.momentum, weightDecay: this.weightDecay, nesterov: this.nesterov };
  }

  protected setUpdateHyper(h: Record<string, number | boolean>): void {
    const momentum = checkRange('SGD', 'momentum', h.momentum, 0, 1, false);
    if ((momentum !== 0) !== this.hasMomentumBuffers) {
      throw new Error(`SGD: momentum cannot switch between zero and non-zero after construction (got ${momentum})`);
    }
    if (h.nesterov === true && momentum === 0) throw new RangeError('SGD: Nesterov momentum needs momentum > 0');
    this.momentum = momentum;
    this.weightDecay = checkRange('SGD', 'weightDecay', h.weightDecay, 0, Infinity, false);
    this.nesterov = h.nesterov === true;
  }

  protected update(param: Tensor, grad: Tensor, state: Tensor[], _step: number, lr: number): void {
    sgdStep(param, grad, state[0] ?? null, {
      lr,
      momentum: this.momentum,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
    });
  }
}
