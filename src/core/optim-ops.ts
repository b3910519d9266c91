// In-place optimizer updates on tensors (src/kernels/optimizers.ts). Nothing here is recorded on
// the tape: an update is not part of any function being differentiated. The updated tensors keep
// their identity (layers hold references to their parameters).

import { Tensor, formatShape } from './tensor.ts';
import { run } from './dispatch.ts';
import { checkOptions, knownOptions } from './options.ts';
import { adamProgram, sgdProgram, type AdamHyper, type SgdHyper } from '../kernels/optimizers.ts';

export type { AdamHyper, SgdHyper };

function checkLike(op: string, param: Tensor, others: [string, Tensor][]): void {
  for (const [role, t] of [['param', param] as [string, Tensor], ...others]) {
    if (t.isDisposed) throw new Error(`${op}: ${role} ${t.describe()} was disposed and cannot be used`);
    if (t.dtype !== 'f32') throw new TypeError(`${op}: ${role} must be f32, got ${t.describe()}`);
    if (t.size !== param.size || t.shape.length !== param.shape.length || t.shape.some((d, i) => d !== param.shape[i])) {
      throw new RangeError(`${op}: ${role} ${formatShape(t.shape)} does not match param ${param.describe()} ${formatShape(param.shape)}`);
    }
  }
  const buffers = new Set([param, ...others.map(([, t]) => t)].map((t) => t.gpu.buffer));
  if (buffers.size !== others.length + 1) throw new Error(`${op}: param, gradient and state must be distinct tensors (${param.describe()})`);
}

function checkFinite(op: string, values: Record<string, number>): void {
  for (const [k, v] of Object.entries(values)) {
    if (!Number.isFinite(v)) throw new RangeError(`${op}: ${k} must be a finite number, got ${v}`);
  }
}

export interface AdamStepOptions extends AdamHyper {
  /** 1-based number of this step (the bias corrections depend on it). */
  step: number;
}

const ADAM_STEP_OPTIONS = knownOptions<AdamStepOptions>({ lr: true, beta1: true, beta2: true, epsilon: true, step: true });
const SGD_STEP_OPTIONS = knownOptions<SgdHyper>({ lr: true, momentum: true, weightDecay: true, nesterov: true });

/** One Adam update of `param` from `grad`, updating the moments `m` and `v` in place. */
export function adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, h: AdamStepOptions): void {
  checkOptions('adamStep', h, ADAM_STEP_OPTIONS);
  checkLike('adamStep', param, [['grad', grad], ['m', m], ['v', v]]);
  checkFinite('adamStep', { lr: h.lr, beta1: h.beta1, beta2: h.beta2, epsilon: h.epsilon });
  if (!Number.isInteger(h.step) || h.step < 1) throw new RangeError(`adamStep: step must be an integer ≥ 1, got ${h.step}`);
  if (!(h.beta1 >= 0 && h.beta1 < 1) || !(h.beta2 >= 0 && h.beta2 < 1)) {
    throw new RangeError(`adamStep: beta1 and beta2 must lie in [0, 1), got ${h.beta1} and ${h.beta2}`);
  }
  if (param.size === 0) return;
  run(adamProgram(param.size, h, h.step), [grad.gpu], [param.gpu, m.gpu, v.gpu]);
}

/** One SGD update of `param`; `momentumBuffer` is required (and updated) when momentum ≠ 0. */
export function sgdStep(param: Tensor, grad: Tensor, momentumBuffer: Tensor | null, h: SgdHyper): void {
  checkOptions('sgdStep', h, SGD_STEP_OPTIONS);
  const others: [string, Tensor][] = [['grad', grad]];
  if (h.momentum !== 0) {
    if (!momentumBuffer) throw new Error(`sgdStep: momentum ${h.momentum} needs a momentum buffer for ${param.describe()}`);
    others.push(['momentum buffer', momentumBuffer]);
  }
  checkLike('sgdStep', param, others);
  checkFinite('sgdStep', { lr: h.lr, momentum: h.momentum, weightDecay: h.weightDecay });
  if (param.size === 0) return;
  const outputs = h.momentum !== 0 ? [param.gpu, momentumBuffer!.gpu] : [param.gpu];
  run(sgdProgram(param.size, h), [grad.gpu], outputs);
}
