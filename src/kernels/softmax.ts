// Softmax, log-softmax and softmax cross-entropy over the last axis of a tensor viewed as
// [rows, classes].
//
// Thread layout: one workgroup per row (rows fold past 65,535 workgroups a dimension, linearGrid), its
// size picked from the row length (32 … 256) so short rows do not idle most invocations.
// Invocation t visits elements t, t+WG, t+2·WG… (neighbours read neighbours: coalesced).
// Numerically stable in two reductions through workgroup memory: first the row's maximum m, then
// s = Σ exp(x − m), whose every term is ≤ 1, so logits of ±80 (or ±1e30) never overflow.
//   softmax     y = exp(x − m) / s
//   logSoftmax  y = x − m − log(s)
// Memory traffic: the row is read twice (max, then exp-sum; the second read usually hits cache)
// and read once more to write the output.
//
// Backward passes need one more reduction per row, so they use the same layout:
//   softmax     dx = y · (g − Σ g·y)
//   logSoftmax  dx = g − exp(y) · Σ g
//
// Cross-entropy on integer labels is fused: the forward writes each row's loss lse − x[label]
// (lse = m + log s, the log-sum-exp) without materialising the softmax; the backward recomputes
// lse with the same two reductions (cheaper than keeping a tensor alive from forward to
// backward) and writes
//   dx[r, c] = (exp(x[r, c] − lse[r]) − [c = label[r]]) · g[r] · scale
// where g is the incoming gradient, per row (reduction 'none') or one scalar shared by every row
// (stride 0), and `scale` folds in the 1/rows of a mean. A label outside [0, classes) cannot
// throw from a kernel; its row's loss is NaN, which shows at the next read-back.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';

export type SoftmaxMode = 'softmax' | 'logSoftmax';

const NEG_HUGE = '-3.402823e+38';

/** Invocations per row: enough to cover short rows in one sweep, at most 256. */
export function rowWorkgroupSize(classes: number): number {
  if (classes <= 32) return 32;
  if (classes <= 64) return 64;
  if (classes <= 128) return 128;
  return 256;
}

// Shared by the forward kernels: the row's max and Σ exp(x − max) into `rowMax` and `rowSum`.
// Every invocation must reach the barriers, so rows past the end still run the reductions.
function rowStatsWgsl(wg: number): string {
  return /* wgsl */ `
var<workgroup> partial: array<f32, ${wg}>;
// Tree reduction of partial[] with max (op 0) or + (op 1); the result sits in partial[0].
fn reducePartial(t: u32, op: u32) {
  for (var half = ${wg / 2}u; half > 0u; half = half / 2u) {
    if (t < half) {
      if (op == 0u) { partial[t] = max(partial[t], partial[t + half]); }
      else { partial[t] = partial[t] + partial[t + half]; }
    }
    workgroupBarrier();
  }
}
// Returns vec2(max, Σ exp(x − max)) of the row starting at \`base\` (identical in every invocation).
fn rowStats(t: u32, base: u32, valid: bool) -> vec2f {
  var m = ${NEG_HUGE};
  if (valid) {
    for (var k = t; k < params.classes; k += ${wg}u) { m = max(m, logits[base + k]); }
  }
  partial[t] = m;
  workgroupBarrier();
  reducePartial(t, 0u);
  let rowMax = partial[0];
  workgroupBarrier(); // everyone has read partial[0] before it is overwritten
  var s = 0.0;
  if (valid) {
    for (var k = t; k < params.classes; k += ${wg}u) { s += exp(logits[base + k] - rowMax); }
  }
  partial[t] = s;
  workgroupBarrier();
  reducePartial(t, 1u);
  let rowSum = partial[0];
  return vec2f(rowMax, rowSum);
}`;
}

function forwardWgsl(mode: SoftmaxMode, wg: number): string {
  const write =
    mode === 'softmax'
      ? 'output[base + k] = exp(logits[base + k] - stats.x) * inv;'
      : 'output[base + k] = logits[base + k] - shift;';
  return /* wgsl */ `
struct Params { rows: u32, classes: u32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
${rowStatsWgsl(wg)}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let row = linearWorkgroup(wid, nwg);
  let valid = row < params.rows;
  let base = row * params.classes;
  let stats = rowStats(t, base, valid);
  if (!valid) { return; }
  let inv = 1.0 / stats.y;
  let shift = stats.x + log(stats.y);
  for (var k = t; k < params.classes; k += ${wg}u) { ${write} }
}`;
}

/** Softmax or log-softmax of each row of [rows, classes]. */
export function softmaxProgram(mode: SoftmaxMode, rows: number, classes: number): Program {
  const wg = rowWorkgroupSize(classes);
  return {
    name: mode,
    wgsl: forwardWgsl(mode, wg),
    inputs: 1,
    outputs: 1,
    uniforms: [['u32', rows], ['u32', classes]],
    grid: linearGrid(rows, 1),
    flops: 5 * rows * classes,
    bytes: 8 * rows * classes,
  };
}

function backwardWgsl(mode: SoftmaxMode, wg: number): string {
  // softmax: dx = y·(g − Σ g·y); logSoftmax: dx = g − exp(y)·Σ g.
  const term = mode === 'softmax' ? 'grad[base + k] * y[base + k]' : 'grad[base + k]';
  const write =
    mode === 'softmax'
      ? 'dx[base + k] = y[base + k] * (grad[base + k] - total);'
      : 'dx[base + k] = grad[base + k] - exp(y[base + k]) * total;';
  return /* wgsl */ `
struct Params { rows: u32, classes: u32 }
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
var<workgroup> partial: array<f32, ${wg}>;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let row = linearWorkgroup(wid, nwg);
  let valid = row < params.rows;
  let base = row * params.classes;
  var s = 0.0;
  if (valid) {
    for (var k = t; k < params.classes; k += ${wg}u) { s += ${term}; }
  }
  partial[t] = s;
  workgroupBarrier();
  for (var half = ${wg / 2}u; half > 0u; half = half / 2u) {
    if (t < half) { partial[t] = partial[t] + partial[t + half]; }
    workgroupBarrier();
  }
  if (!valid) { return; }
  let total = partial[0];
  for (var k = t; k < params.classes; k += ${wg}u) { ${write} }
}`;
}

/** Gradient of softmax / log-softmax from its output `y` and the incoming gradient. */
export function softmaxBackwardProgram(mode: SoftmaxMode, rows: number, classes: number): Program {
  const wg = rowWorkgroupSize(classes);
  return {
    name: `${mode}Backward`,
    wgsl: backwardWgsl(mode, wg),
    inputs: 2,
    outputs: 1,
    uniforms: [['u32', rows], ['u32', classes]],
    grid: linearGrid(rows, 1),
    flops: 4 * rows * classes,
    bytes: 12 * rows * classes,
  };
}

function crossEntropyWgsl(wg: number): string {
  return /* wgsl */ `
struct Params { rows: u32, classes: u32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
${rowStatsWgsl(wg)}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let row = linearWorkgroup(wid, nwg);
  let valid = row < params.rows;
  let base = row * params.classes;
  let stats = rowStats(t, base, valid);
  if (!valid || t != 0u) { return; }
  let label = labels[row];
  if (label < 0 || u32(label) >= params.classes) {
    let quietNan = 0x7fc00000u; // a let: WGSL rejects NaN constants
    loss[row] = bitcast<f32>(quietNan);
  } else {
    loss[row] = stats.x + log(stats.y) - logits[base + u32(label)];
  }
}`;
}

/** Per-row softmax cross-entropy of logits [rows, classes] against i32 labels [rows]. */
export function crossEntropyProgram(rows: number, classes: number): Program {
  const wg = rowWorkgroupSize(classes);
  return {
    name: 'crossEntropy',
    wgsl: crossEntropyWgsl(wg),
    inputs: 2,
    outputs: 1,
    uniforms: [['u32', rows], ['u32', classes]],
    grid: linearGrid(rows, 1),
    flops: 4 * rows * classes,
    bytes: 4 * rows * (classes + 2),
  };
}

function crossEntropyBackwardWgsl(wg: number): string {
  return /* wgsl */ `
struct Params { rows: u32, classes: u32, gradStride: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
${rowStatsWgsl(wg)}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let row = linearWorkgroup(wid, nwg);
  let valid = row < params.rows;
  let base = row * params.classes;
  let stats = rowStats(t, base, valid);
  if (!valid) { return; }
  let lse = stats.x + log(stats.y);
  let g = grad[row * params.gradStride] * params.scale;
  let label = labels[row];
  for (var k = t; k < params.classes; k += ${wg}u) {
    let isLabel = select(0.0, 1.0, i32(k) == label);
    dx[base + k] = (exp(logits[base + k] - lse) - isLabel) * g;
  }
}`;
}

/**
 * Gradient of the per-row cross-entropy w.r.t. the logits. `grad` holds one value per row, or a
 * single value for every row when `gradPerRow` is false; `scale` multiplies the result.
 */
export function crossEntropyBackwardProgram(rows: number, classes: number, gradPerRow: boolean, scale: number): Program {
  const wg = rowWorkgroupSize(classes);
  return {
    name: 'crossEntropyBackward',
    wgsl: crossEntropyBackwardWgsl(wg),
    inputs: 3,
    outputs: 1,
    uniforms: [['u32', rows], ['u32', classes], ['u32', gradPerRow ? 1 : 0], ['f32', scale]],
    grid: linearGrid(rows, 1),
    flops: 6 * rows * classes,
    bytes: 4 * (3 * rows * classes + 2 * rows),
  };
}

// ---- Plain-loop references (float64) ----

function rowLogSumExp(x: ArrayLike<number>, base: number, classes: number): number {
  let m = -Infinity;
  for (let k = 0; k < classes; k++) m = Math.max(m, x[base + k]);
  let s = 0;
  for (let k = 0; k < classes; k++) s += Math.exp(x[base + k] - m);
  return m + Math.log(s);
}

export function softmaxReference(mode: SoftmaxMode, x: ArrayLike<number>, rows: number, classes: number): Float64Array {
  const out = new Float64Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    const lse = rowLogSumExp(x, base, classes);
    for (let k = 0; k < classes; k++) {
      const ls = x[base + k] - lse;
      out[base + k] = mode === 'softmax' ? Math.exp(ls) : ls;
    }
  }
  return out;
}

export function softmaxBackwardReference(
  mode: SoftmaxMode,
  y: ArrayLike<number>,
  g: ArrayLike<number>,
  rows: number,
  classes: number,
): Float64Array {
  const out = new Float64Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let total = 0;
    for (let k = 0; k < classes; k++) total += mode === 'softmax' ? g[base + k] * y[base + k] : g[base + k];
    for (let k = 0; k < classes; k++) {
      const i = base + k;
      out[i] = mode === 'softmax' ? y[i] * (g[i] - total) : g[i] - Math.exp(y[i]) * total;
    }
  }
  return out;
}

/** Per-row loss −log softmax(x)[label]; NaN for a label outside [0, classes), as the kernel. */
export function crossEntropyReference(x: ArrayLike<number>, labels: ArrayLike<number>, rows: number, classes: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const label = labels[r];
    const base = r * classes;
    out[r] = Number.isInteger(label) && label >= 0 && label < classes ? rowLogSumExp(x, base, classes) - x[base + label] : NaN;
  }
  return out;
}

export function crossEntropyBackwardReference(
  x: ArrayLike<number>,
  labels: ArrayLike<number>,
  g: ArrayLike<number>,
  rows: number,
  classes: number,
  gradPerRow: boolean,
  scale: number,
): Float64Array {
  const out = new Float64Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    const lse = rowLogSumExp(x, base, classes);
    const gr = g[gradPerRow ? r : 0] * scale;
    for (let k = 0; k < classes; k++) {
      out[base + k] = (Math.exp(x[base + k] - lse) - (labels[r] === k ? 1 : 0)) * gr;
    }
  }
  return out;
}
