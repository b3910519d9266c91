// Fused, in-place optimizer updates: one kernel per parameter per step, instead of the half-dozen
// elementwise passes (and temporaries) the same math costs as separate ops.
//
// Thread layout: one invocation per parameter element, 256 per workgroup, folded past 65,535
// workgroups (linearGrid). Memory traffic per element: Adam reads g, p, m, v and writes p, m, v
// (28 bytes); SGD with momentum reads g, p, buf and writes p, buf (20 bytes). Every access is
// at the invocation's own index, so loads and stores coalesce.
//
// The parameter and the state are bound once each, read-write (WebGPU forbids binding one buffer
// both read-only and writable in the same dispatch); the gradient is the only read-only input.
//
// Adam, as Keras (and the original paper's "efficient version", Kingma & Ba §2) computes it: the
// bias corrections fold into the step size on the host, in float64,
//   lr_t = lr · sqrt(1 − β2^t) / (1 − β1^t)
//   m ← β1·m + (1 − β1)·g      v ← β2·v + (1 − β2)·g²      p ← p − lr_t · m / (sqrt(v) + ε)
// (ε is added to sqrt(v) before the correction, as Keras does, not after as PyTorch does.)
//
// SGD as PyTorch: g' = g + wd·p; with momentum μ, buf ← μ·buf + g' and the step is buf (or
// g' + μ·buf with Nesterov); p ← p − lr·step. Without momentum there is no buffer to bind.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';

const WORKGROUP = 256;

const ADAM_WGSL = /* wgsl */ `
// 1 − β arrive precomputed in float64: 1.0 − f32(0.999) in f32 is off by 1.3e-5 relative.
struct Params { size: u32, lrT: f32, beta1: f32, beta2: f32, oneMinusBeta1: f32, oneMinusBeta2: f32, epsilon: f32 }
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.size) { return; }
  let g = grad[i];
  let mi = params.beta1 * m[i] + params.oneMinusBeta1 * g;
  let vi = params.beta2 * v[i] + params.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = param[i] - params.lrT * mi / (sqrt(vi) + params.epsilon);
}`;

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** The bias-corrected step size of Adam's step `t` (1-based), in float64. */
export function adamStepSize(h: AdamHyper, t: number): number {
  return (h.lr * Math.sqrt(1 - h.beta2 ** t)) / (1 - h.beta1 ** t);
}

/** One Adam step, step number `t` (1-based), over `size` elements: bindings grad, param, m, v. */
export function adamProgram(size: number, h: AdamHyper, t: number): Program {
  return {
    name: 'adam',
    wgsl: ADAM_WGSL,
    inputs: 1,
    outputs: 3,
    uniforms: [
      ['u32', size],
      ['f32', adamStepSize(h, t)],
      ['f32', h.beta1],
      ['f32', h.beta2],
      ['f32', 1 - h.beta1],
      ['f32', 1 - h.beta2],
      ['f32', h.epsilon],
    ],
    grid: linearGrid(size, WORKGROUP),
    flops: 12 * size,
    bytes: 28 * size,
  };
}

function sgdWgsl(withMomentum: boolean): string {
  const bufferBinding = withMomentum ? '@group(0) @binding(2) var<storage, read_write> buf: array<f32>;' : '';
  const uniformBinding = withMomentum ? 3 : 2;
  const step = withMomentum
    ? /* wgsl */ `
  let b = params.momentum * buf[i] + g;
  buf[i] = b;
  let step = select(b, g + params.momentum * b, NESTEROV);`
    : '  let step = g;';
  return /* wgsl */ `
struct Params { size: u32, lr: f32, momentum: f32, weightDecay: f32 }
override NESTEROV: bool = false;
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
${bufferBinding}
@group(0) @binding(${uniformBinding}) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.size) { return; }
  let p = param[i];
  let g = grad[i] + params.weightDecay * p;
${step}
  param[i] = p - params.lr * step;
}`;
}

export interface SgdHyper {
  lr: number;
  /** 0 means plain SGD: no momentum buffer is bound. */
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** One SGD step over `size` elements: bindings grad, param (and the momentum buffer when μ > 0). */
export function sgdProgram(size: number, h: SgdHyper): Program {
  const withMomentum = h.momentum !== 0;
  return {
    name: withMomentum ? 'sgdMomentum' : 'sgd',
    wgsl: sgdWgsl(withMomentum),
    overrides: withMomentum ? { NESTEROV: h.nesterov ? 1 : 0 } : {},
    inputs: 1,
    outputs: withMomentum ? 2 : 1,
    uniforms: [['u32', size], ['f32', h.lr], ['f32', h.momentum], ['f32', h.weightDecay]],
    grid: linearGrid(size, WORKGROUP),
    flops: 6 * size,
    bytes: (withMomentum ? 20 : 12) * size,
  };
}

// ---- Plain-loop references (float64), updating their arguments in place like the kernels ----

export function adamReference(
  param: Float64Array,
  grad: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  h: AdamHyper,
  t: number,
): void {
  const lrT = adamStepSize(h, t);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i];
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    param[i] -= (lrT * m[i]) / (Math.sqrt(v[i]) + h.epsilon);
  }
}

export function sgdReference(param: Float64Array, grad: ArrayLike<number>, buf: Float64Array | null, h: SgdHyper): void {
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] + h.weightDecay * param[i];
    let step = g;
    if (h.momentum !== 0) {
      if (!buf) throw new Error('sgdReference: momentum needs a buffer');
      buf[i] = h.momentum * buf[i] + g;
      step = h.nesterov ? g + h.momentum * buf[i] : buf[i];
    }
    param[i] -= h.lr * step;
  }
}
