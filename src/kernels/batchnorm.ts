// Batch normalisation over the channel (last) axis: the input is viewed as [rows, C], rows =
// N·H·W for NHWC images and N for [N, C] features.
//
// Statistics, numerically sound for 128·28·28 rows per channel: the rows are cut into chunks of
// CHUNK_ROWS; each chunk computes its own mean and sum of squared deviations from it (two passes
// over a chunk that sits in cache), and a second kernel merges the chunks with Chan et al.'s
// parallel formula, M2 = Σ M2_s + Σ n_s·(mean_s − mean)². No sum of squares minus a squared sum
// anywhere, so no catastrophic cancellation when |mean| ≫ std; and the means themselves are sums
// of deviations from a shift (a chunk's first value, the first chunk's mean), so they keep their
// digits too.
//
// Kernels and their thread layouts:
//   bnPartialStats   workgroup = 64 consecutive channels × one chunk of rows (grid: channel
//                    blocks × chunks). Each invocation walks its channel down the chunk; at every
//                    row the 64 invocations read 64 neighbouring floats, so loads coalesce.
//   bnFinalize       one invocation per channel, 64 per workgroup (grid: channel blocks): merges the chunks, writes (mean, 1/√(var+ε)) and
//                    updates the running statistics in place (bound read-write, once).
//   bnRunningStats   one invocation per channel: (mean, 1/√(var+ε)) from the running statistics
//                    (eval mode).
//   bnApply          one invocation per element: y = (x − mean)·invStd·γ + β (a line of
//                    workgroups, linearGrid).
//   bnGradPartial    as bnPartialStats: per chunk Σ dy and Σ dy·x̂ (x̂ recomputed, not stored).
//   bnGradFinalize   one invocation per channel: adds the chunks → dβ = Σ dy, dγ = Σ dy·x̂.
//   bnGradInput      one invocation per element: dx = γ·invStd·(dy − dβ/n − x̂·dγ/n) with batch
//                    statistics; dx = γ·invStd·dy in eval mode (the statistics are constants).
// Every grid above is the kernel's natural one, launched folded past 65,535 workgroups a
// dimension (foldGrid, linearGrid in program.ts); the few workgroups a fold starts past the last
// tile return at once.
// The running variance is updated with the batch's biased variance, M2 / n (the one the output
// is normalised with). That is what Keras 3's BatchNormalization (ops.moments) and TensorFlow.js's
// do, and what tf.keras 2's non-fused path did (tf.nn.moments; [N, C] inputs took it).
// tf.keras 2's fused path, its default for 4-D inputs, updated moving_variance with the unbiased
// n/(n − 1)·variance that TensorFlow's FusedBatchNorm kernel returns (Bessel's correction), and
// PyTorch's running_var is unbiased too. We follow Keras 3, for every input rank: at a 4-D
// BatchNorm the two differ by the factor n/(n − 1), n = batch·height·width rows per channel.

import { foldGrid, FOLDED_WORKGROUP_WGSL, linearGrid, LINEAR_WORKGROUP_WGSL, tileUniforms, type Grid, type Program } from './program.ts';

export const CHUNK_ROWS = 256;
const CHANNELS_PER_GROUP = 64;
const ELEMENTWISE_GROUP = 256;

export interface BatchNormShape {
  rows: number;
  channels: number;
}

export function bnChunks(s: BatchNormShape): number {
  return Math.max(1, Math.ceil(s.rows / CHUNK_ROWS));
}

const CHUNK_HEAD = /* wgsl */ `
// momentum and epsilon are used by bnFinalize only; tiles* is the launch's natural grid.
struct Params { rows: u32, channels: u32, chunks: u32, chunkRows: u32, momentum: f32, epsilon: f32, tilesX: u32, tilesY: u32, tilesZ: u32 }
// tileOf: this workgroup's tile (x: its block of 64 channels, y: its chunk); !valid past the last.
${FOLDED_WORKGROUP_WGSL}
fn chunkRange(s: u32) -> vec2u {
  let begin = s * params.chunkRows;
  return vec2u(begin, min(begin + params.chunkRows, params.rows));
}`;

function chunkUniforms(s: BatchNormShape, tiles: Grid, momentum = 0, epsilon = 0): Program['uniforms'] {
  return [['u32', s.rows], ['u32', s.channels], ['u32', bnChunks(s)], ['u32', CHUNK_ROWS], ['f32', momentum], ['f32', epsilon], ...tileUniforms(tiles)];
}

// The natural grids: channel blocks × chunks (the partial kernels), channel blocks (the per-channel ones).
function chunkTiles(s: BatchNormShape): Grid {
  return [Math.ceil(s.channels / CHANNELS_PER_GROUP), bnChunks(s), 1];
}
function channelTiles(s: BatchNormShape): Grid {
  return [Math.ceil(s.channels / CHANNELS_PER_GROUP), 1, 1];
}

const PARTIAL_STATS_WGSL = /* wgsl */ `
${CHUNK_HEAD}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>; // [2, chunks, channels]: mean, M2
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(${CHANNELS_PER_GROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  let c = tile.id.x * ${CHANNELS_PER_GROUP}u + lid;
  let s = tile.id.y;
  if (!tile.valid || c >= params.channels) { return; }
  let range = chunkRange(s);
  // Sum deviations from the chunk's first value: small numbers, so the sum stays exact-ish even
  // when |mean| ≫ std (summing 256 values near 1000 directly would lose ~3 digits).
  let shift = x[range.x * params.channels + c];
  var sum = 0.0;
  for (var r = range.x; r < range.y; r++) { sum += x[r * params.channels + c] - shift; }
  let mean = shift + sum / f32(range.y - range.x);
  var m2 = 0.0;
  for (var r = range.x; r < range.y; r++) {
    let d = x[r * params.channels + c] - mean;
    m2 = fma(d, d, m2);
  }
  partial[s * params.channels + c] = mean;
  partial[(params.chunks + s) * params.channels + c] = m2;
}`;

/** Per-chunk means and M2 of x viewed as [rows, channels]: output [2, chunks, channels]. */
export function bnPartialStatsProgram(s: BatchNormShape): Program {
  const chunks = bnChunks(s);
  return {
    name: 'bnPartialStats',
    wgsl: PARTIAL_STATS_WGSL,
    inputs: 1,
    outputs: 1,
    uniforms: chunkUniforms(s, chunkTiles(s)),
    grid: foldGrid(chunkTiles(s)),
    flops: 4 * s.rows * s.channels,
    bytes: 4 * (2 * s.rows * s.channels + 2 * chunks * s.channels),
  };
}

const FINALIZE_WGSL = /* wgsl */ `
${CHUNK_HEAD}
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;       // [2, channels]: mean, invStd
@group(0) @binding(2) var<storage, read_write> runningMean: array<f32>; // updated in place
@group(0) @binding(3) var<storage, read_write> runningVar: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@compute @workgroup_size(${CHANNELS_PER_GROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  let c = tile.id.x * ${CHANNELS_PER_GROUP}u + lid;
  if (!tile.valid || c >= params.channels) { return; }
  let n = f32(params.rows);
  // The weighted mean of the chunk means, again as deviations from the first one.
  let shift = partial[c];
  var offset = 0.0;
  for (var s = 0u; s < params.chunks; s++) {
    let range = chunkRange(s);
    offset += (partial[s * params.channels + c] - shift) * (f32(range.y - range.x) / n);
  }
  let mean = shift + offset;
  var m2 = 0.0;
  for (var s = 0u; s < params.chunks; s++) {
    let range = chunkRange(s);
    let d = (partial[s * params.channels + c] - shift) - offset;
    m2 += partial[(params.chunks + s) * params.channels + c] + f32(range.y - range.x) * d * d;
  }
  let variance = m2 / n;
  stats[c] = mean;
  stats[params.channels + c] = inverseSqrt(variance + params.epsilon);
  runningMean[c] = params.momentum * runningMean[c] + (1.0 - params.momentum) * mean;
  runningVar[c] = params.momentum * runningVar[c] + (1.0 - params.momentum) * variance;
}`;

/**
 * Merges the chunks: writes stats [2, channels] (mean, 1/√(var + ε)) and updates runningMean and
 * runningVar in place: running = momentum·running + (1 − momentum)·batch, with the biased
 * variance (as Keras 3; the header says how tf.keras 2 and PyTorch differ).
 * Bindings: partial; stats, runningMean, runningVar.
 */
export function bnFinalizeProgram(s: BatchNormShape, momentum: number, epsilon: number): Program {
  return {
    name: 'bnFinalize',
    wgsl: FINALIZE_WGSL,
    inputs: 1,
    outputs: 3,
    uniforms: chunkUniforms(s, channelTiles(s), momentum, epsilon),
    grid: foldGrid(channelTiles(s)),
    bytes: 4 * (2 * bnChunks(s) * s.channels + 6 * s.channels),
  };
}

const RUNNING_STATS_WGSL = /* wgsl */ `
${CHUNK_HEAD}
@group(0) @binding(0) var<storage, read> runningMean: array<f32>;
@group(0) @binding(1) var<storage, read> runningVar: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(${CHANNELS_PER_GROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  let c = tile.id.x * ${CHANNELS_PER_GROUP}u + lid;
  if (!tile.valid || c >= params.channels) { return; }
  stats[c] = runningMean[c];
  stats[params.channels + c] = inverseSqrt(runningVar[c] + params.epsilon);
}`;

/** Eval mode: stats [2, channels] = (running mean, 1/√(running var + ε)). Bindings: mean, var; stats. */
export function bnRunningStatsProgram(s: BatchNormShape, epsilon: number): Program {
  return {
    name: 'bnRunningStats',
    wgsl: RUNNING_STATS_WGSL,
    inputs: 2,
    outputs: 1,
    uniforms: chunkUniforms(s, channelTiles(s), 0, epsilon),
    grid: foldGrid(channelTiles(s)),
    bytes: 16 * s.channels,
  };
}

const ELEMENTWISE_HEAD = /* wgsl */ `
struct Params { size: u32, channels: u32, rows: f32 }
${LINEAR_WORKGROUP_WGSL}`;

const APPLY_WGSL = /* wgsl */ `
${ELEMENTWISE_HEAD}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
@compute @workgroup_size(${ELEMENTWISE_GROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${ELEMENTWISE_GROUP}u + lid;
  if (i >= params.size) { return; }
  let c = i % params.channels;
  let scale = stats[params.channels + c] * gamma[c];
  y[i] = fma(x[i] - stats[c], scale, beta[c]);
}`;

/** y = (x − mean)·invStd·γ + β, channel = index mod channels. Bindings: x, stats, gamma, beta; y. */
export function bnApplyProgram(s: BatchNormShape): Program {
  const size = s.rows * s.channels;
  return {
    name: 'bnApply',
    wgsl: APPLY_WGSL,
    inputs: 4,
    outputs: 1,
    uniforms: [['u32', size], ['u32', s.channels], ['f32', s.rows]],
    grid: linearGrid(size, ELEMENTWISE_GROUP),
    flops: 3 * size,
    bytes: 8 * size,
  };
}

const GRAD_PARTIAL_WGSL = /* wgsl */ `
${CHUNK_HEAD}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>; // [2, chunks, channels]: Σdy, Σdy·x̂
@group(0) @binding(4) var<uniform> params: Params;
@compute @workgroup_size(${CHANNELS_PER_GROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  let c = tile.id.x * ${CHANNELS_PER_GROUP}u + lid;
  let s = tile.id.y;
  if (!tile.valid || c >= params.channels) { return; }
  let range = chunkRange(s);
  let mean = stats[c];
  let invStd = stats[params.channels + c];
  var sumDy = 0.0;
  var sumDyXhat = 0.0;
  for (var r = range.x; r < range.y; r++) {
    let i = r * params.channels + c;
    let g = dy[i];
    sumDy += g;
    sumDyXhat = fma(g, (x[i] - mean) * invStd, sumDyXhat);
  }
  partial[s * params.channels + c] = sumDy;
  partial[(params.chunks + s) * params.channels + c] = sumDyXhat;
}`;

/** Per-chunk Σ dy and Σ dy·x̂: output [2, chunks, channels]. Bindings: x, dy, stats; partial. */
export function bnGradPartialProgram(s: BatchNormShape): Program {
  const chunks = bnChunks(s);
  return {
    name: 'bnGradPartial',
    wgsl: GRAD_PARTIAL_WGSL,
    inputs: 3,
    outputs: 1,
    uniforms: chunkUniforms(s, chunkTiles(s)),
    grid: foldGrid(chunkTiles(s)),
    flops: 4 * s.rows * s.channels,
    bytes: 4 * (2 * s.rows * s.channels + 2 * chunks * s.channels),
  };
}

const GRAD_FINALIZE_WGSL = /* wgsl */ `
${CHUNK_HEAD}
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> dGamma: array<f32>;
@group(0) @binding(2) var<storage, read_write> dBeta: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(${CHANNELS_PER_GROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  let c = tile.id.x * ${CHANNELS_PER_GROUP}u + lid;
  if (!tile.valid || c >= params.channels) { return; }
  var sumDy = 0.0;
  var sumDyXhat = 0.0;
  for (var s = 0u; s < params.chunks; s++) {
    sumDy += partial[s * params.channels + c];
    sumDyXhat += partial[(params.chunks + s) * params.channels + c];
  }
  dGamma[c] = sumDyXhat;
  dBeta[c] = sumDy;
}`;

/** dγ = Σ dy·x̂ and dβ = Σ dy from the chunks. Bindings: partial; dGamma, dBeta. */
export function bnGradFinalizeProgram(s: BatchNormShape): Program {
  return {
    name: 'bnGradFinalize',
    wgsl: GRAD_FINALIZE_WGSL,
    inputs: 1,
    outputs: 2,
    uniforms: chunkUniforms(s, channelTiles(s)),
    grid: foldGrid(channelTiles(s)),
    bytes: 4 * (2 * bnChunks(s) * s.channels + 2 * s.channels),
  };
}

const GRAD_INPUT_WGSL = /* wgsl */ `
${ELEMENTWISE_HEAD}
override TRAINING: bool = true;
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> dGamma: array<f32>;
@group(0) @binding(5) var<storage, read> dBeta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;
@compute @workgroup_size(${ELEMENTWISE_GROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${ELEMENTWISE_GROUP}u + lid;
  if (i >= params.size) { return; }
  let c = i % params.channels;
  let invStd = stats[params.channels + c];
  var g = dy[i];
  // Both sums are read in either mode (every binding must be used); eval mode scales them by 0.
  let batch = select(0.0, 1.0 / params.rows, TRAINING);
  let xhat = (x[i] - stats[c]) * invStd;
  g -= (dBeta[c] + xhat * dGamma[c]) * batch;
  dx[i] = gamma[c] * invStd * g;
}`;

/**
 * dx of batch normalisation. Training: dx = γ·invStd·(dy − (dβ + x̂·dγ)/rows), the batch
 * statistics' own gradients included. Eval: dx = γ·invStd·dy.
 * Bindings: x, dy, stats, gamma, dGamma, dBeta; dx.
 */
export function bnGradInputProgram(s: BatchNormShape, training: boolean): Program {
  const size = s.rows * s.channels;
  return {
    name: 'bnGradInput',
    wgsl: GRAD_INPUT_WGSL,
    overrides: { TRAINING: training ? 1 : 0 },
    inputs: 6,
    outputs: 1,
    uniforms: [['u32', size], ['u32', s.channels], ['f32', s.rows]],
    grid: linearGrid(size, ELEMENTWISE_GROUP),
    flops: 8 * size,
    bytes: 12 * size,
  };
}

// ---- float64 references ----

export interface BatchNormReference {
  y: Float64Array;
  mean: Float64Array;
  /** Biased variance. */
  variance: Float64Array;
}

/** Forward with batch statistics (training mode), two-pass in float64. */
export function batchNormReference(
  x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, s: BatchNormShape, epsilon: number,
): BatchNormReference {
  const { rows, channels: C } = s;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) mean[c] += x[r * C + c] / rows;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const d = x[r * C + c] - mean[c];
      variance[c] += (d * d) / rows;
    }
  }
  const y = new Float64Array(rows * C);
  for (let i = 0; i < y.length; i++) {
    const c = i % C;
    y[i] = ((x[i] - mean[c]) / Math.sqrt(variance[c] + epsilon)) * gamma[c] + beta[c];
  }
  return { y, mean, variance };
}

/** Forward with given (running) statistics: eval mode. */
export function batchNormEvalReference(
  x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>,
  runningMean: ArrayLike<number>, runningVar: ArrayLike<number>, channels: number, epsilon: number,
): Float64Array {
  return Float64Array.from(x, (v, i) => {
    const c = i % channels;
    return ((v - runningMean[c]) / Math.sqrt(runningVar[c] + epsilon)) * gamma[c] + beta[c];
  });
}

export interface BatchNormGradReference {
  dx: Float64Array;
  dGamma: Float64Array;
  dBeta: Float64Array;
}

/**
 * Backward of training mode for upstream gradient dy, in float64: dβ = Σ dy, dγ = Σ dy·x̂ and
 * dx = γ·invStd/rows·(rows·dy − dβ − x̂·dγ), the batch statistics' own gradients included (what
 * bnGradPartial, bnGradFinalize and bnGradInput compute, with batchNormReference's statistics).
 */
export function batchNormGradReference(
  x: ArrayLike<number>, gamma: ArrayLike<number>, dy: ArrayLike<number>, s: BatchNormShape, epsilon: number,
): BatchNormGradReference {
  const { rows, channels: C } = s;
  const { mean, variance } = batchNormReference(x, gamma, new Float64Array(C), s, epsilon);
  const inv = variance.map((v) => 1 / Math.sqrt(v + epsilon));
  const dGamma = new Float64Array(C);
  const dBeta = new Float64Array(C);
  for (let i = 0; i < rows * C; i++) {
    const c = i % C;
    dBeta[c] += dy[i];
    dGamma[c] += dy[i] * (x[i] - mean[c]) * inv[c];
  }
  const dx = Float64Array.from(x, (v, i) => {
    const c = i % C;
    const xhat = (v - mean[c]) * inv[c];
    return ((gamma[c] * inv[c]) / rows) * (rows * dy[i] - dBeta[c] - xhat * dGamma[c]);
  });
  return { dx, dGamma, dBeta };
}
