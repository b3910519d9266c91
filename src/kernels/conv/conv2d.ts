// 2-D convolution, NHWC × HWIO, as three implicit GEMMs: the forward pass and the two gradients.
// No im2col matrix is ever stored; each kernel computes im2col addresses on the fly.
//
//   forward       y[m, n]  = Σ_k X[m, k] · W[k, n]       m = (b, oh, ow)   n = oc   k = (kh, kw, ic)
//   input-grad    dx[m, n] = Σ_k DY[m, k] · Wᵀ[k, n]     m = (b, ih, iw)   n = ic   k = (kh, kw, oc)
//   weight-grad   dw[m, n] = Σ_k Xᵀ[m, k] · DY[k, n]     m = (kh, kw, ic)  n = oc   k = (b, oh, ow)
// X[m, k] is the input pixel that tap k of output pixel m reads (zero in the padding). W's HWIO
// layout is already the [K, N] matrix of the forward GEMM, and DY's NHWC layout the [K, N] of the
// weight-gradient GEMM, so those operands are read as plain matrices.
//
// The input-gradient is a gather, never a scatter: dx at (ih, iw) sums the taps (kh, kw) and
// output pixels (oh, ow) with oh·stride − padTop + kh = ih. For stride s only every s-th tap
// qualifies, and which ones depends on (ih + padTop) mod s — the pixel's "phase". The launch has
// one z-slice per phase (s_h·s_w of them); within a phase every pixel uses the same kh_p·kw_p
// taps (kh = phase, phase + s, …), so the GEMM is dense again with K = ⌈kH/s⌉·⌈kW/s⌉·outC instead
// of a K full of multiplications by zero. This kernel is also the transposed convolution's forward
// pass (conv2d-transpose.ts).
//
// The weight-gradient has a small output (kH·kW·inC × outC) and a long reduction (every pixel of
// the batch), so its K is split over the launch's z dimension ("split-K"): each z-slice writes a
// partial sum of its share of pixels, and a second pass (a column reduction) adds the slices. WGSL
// has no float atomics, and this two-pass sum is deterministic.
//
// Variants (choose with the `variant` argument; the bench compares them):
//   naive   one invocation per output element: K loads of each operand per 2K flops.
//   direct  register-blocked implicit GEMM, the default where the device has no subgroups: each
//           invocation computes an 8×8 block (8 output rows × 8 channels; fewer channels when
//           the layer has fewer) and walks K in the convolution's natural loop order — taps
//           outside, the contiguous channel axis inside — so each step reads 8 + 8 values and
//           does 64 FMAs, with no index arithmetic in the inner loop (the im2col addresses change
//           only per tap). Operands come straight from global memory (caches do the sharing),
//           with no barriers.
//   subgroup direct, but the TN column values of a step (the weights, or dy for the weight-
//           gradient), which every invocation of a subgroup needs alike, are loaded once per
//           subgroup, one per lane, and handed round with subgroupBroadcast: 8 loads + 1 load
//           per 64 FMAs instead of 8 + 8. On a CPU driver every load is a gather of one value
//           per SIMD lane, the dearest instruction in the loop; a broadcast is a register
//           shuffle. Needs WebGPU's 'subgroups' feature (the default where the device has it).
//   tiled   the matmul's workgroup tiling (matmul.ts v3): 256 invocations stage a 64×8 slice
//           of the im2col matrix and an 8×64 slice of the other operand in workgroup memory,
//           then each computes a 4×4 block from it, so every global load is reused 16 times.
//           The im2col address of every staged element is computed with divisions. Outputs
//           with fewer than 16 columns (channels) would be mostly padding; they run direct.
// On llvmpipe (the CPU driver this project is developed on) direct runs every layer of the models
// (docs/models.md) several times faster than tiled, and faster than TensorFlow.js's WebGPU
// backend (its implicit-GEMM conv2d, its naive weight-gradient); docs/kernels.md has the measured
// figures (`npm run bench -- --filter conv`). Whether tiled wins on a discrete GPU has not been
// measured yet.
// Thread layout of naive and direct: 64 invocations per workgroup; invocation i of the launch
// owns row block i / colBlocks and column block i % colBlocks, so neighbouring invocations
// share the rows (same input pixels: one broadcast load) and read neighbouring channels of the
// weights (coalesced). Subgroup turns this round: a whole workgroup owns one column block and
// 64 consecutive row blocks (see SHARED_BLOCK_WGSL). Thread layout of tiled: 16×16 invocations
// per workgroup, one 64×64 output tile per workgroup, grid (N/64, M/64, z). All variants fuse the epilogue (bias, activation)
// into the single write of the output.

import { activationCode, ACTIVATION_WGSL, activationReference, type Activation } from '../activation.ts';
import { linearGrid, LINEAR_WORKGROUP_WGSL, type Grid, type Program } from '../program.ts';
import { convFlops, type ConvGeometry } from './geometry.ts';

export type ConvVariant = 'naive' | 'direct' | 'subgroup' | 'tiled';
export const CONV_VARIANTS: ConvVariant[] = ['naive', 'direct', 'subgroup', 'tiled'];
/** Variants whose WGSL needs the device's 'subgroups' feature (with subgroups of at least 8). */
export const SUBGROUP_CONV_VARIANTS: readonly ConvVariant[] = ['subgroup'];

export interface ConvEpilogue {
  hasBias: boolean;
  activation: Activation;
  /** Slope of leakyRelu. */
  alpha: number;
}

export const NO_EPILOGUE: ConvEpilogue = { hasBias: false, activation: 'linear', alpha: 0 };

type Mode = 'forward' | 'inputGrad' | 'weightGrad';

const WORKGROUP = 64;

const PARAMS_WGSL = /* wgsl */ `
struct Params {
  batch: u32, inH: u32, inW: u32, inC: u32,
  outH: u32, outW: u32, outC: u32, kH: u32,
  kW: u32, strideH: u32, strideW: u32, padTop: u32,
  padLeft: u32, colBlocks: u32, chunk: u32, alpha: f32,
}`;

// Kernels with an epilogue bind (a, b, bias, out); the weight-gradient has none and binds (a, b, out).
function bindingsWgsl(epilogue: boolean): string {
  if (!epilogue) {
    return /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;`;
  }
  return /* wgsl */ `
override HAS_BIAS: bool = false;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
${ACTIVATION_WGSL}`;
}

function uniforms(g: ConvGeometry, colBlocks: number, chunk: number, alpha: number): Program['uniforms'] {
  return [
    ['u32', g.batch], ['u32', g.inH], ['u32', g.inW], ['u32', g.inC],
    ['u32', g.outH], ['u32', g.outW], ['u32', g.outC], ['u32', g.kH],
    ['u32', g.kW], ['u32', g.strideH], ['u32', g.strideW], ['u32', g.padTop],
    ['u32', g.padLeft], ['u32', colBlocks], ['u32', chunk], ['f32', alpha],
  ];
}

// ------------------------------------------------------------------ naive and direct

// Shared head of the register-blocked kernels: bindings (inputs a, b, bias; output out) and the
// invocation's block. Rows past the end are clamped to the last row (computed, never stored), so
// the inner loops need no bounds checks.
function directHead(tm: number, tn: number, rowsExpr: string, epilogue: boolean, shared: boolean): string {
  return /* wgsl */ `${shared ? 'enable subgroups;' : ''}
${PARAMS_WGSL}
${bindingsWgsl(epilogue)}
${LINEAR_WORKGROUP_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;

// The output block of this invocation: rows m0 … m0+TM−1, columns n0 … n0+TN−1.
struct Block { m0: u32, n0: u32, rows: u32, valid: bool }
${shared ? SHARED_BLOCK_WGSL : `fn blockOf(wid: vec3u, nwg: vec3u, lid: u32, rows: u32) -> Block {
  let item = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  let m0 = (item / params.colBlocks) * TM;
  let n0 = (item % params.colBlocks) * TN;
  return Block(m0, n0, rows, m0 < ${rowsExpr});
}`}`;
}

// The subgroup variant's block: every invocation of a workgroup (so of each of its subgroups)
// works on the same columns n0 … n0+TN−1 and on its own rows, so the TN column values of a step
// are the same for the whole subgroup: TN lanes load one each, and subgroupBroadcast hands them
// round. Row blocks are padded to a multiple of the workgroup, so the column block is a function
// of the workgroup alone (uniform), and rows past the end are computed on clamped addresses and
// never stored (they cannot leave early: a subgroup operation needs every lane).
const SHARED_BLOCK_WGSL = /* wgsl */ `
fn paddedRowBlocks(rows: u32) -> u32 { return ((rows + TM - 1u) / TM + ${WORKGROUP - 1}u) / ${WORKGROUP}u * ${WORKGROUP}u; }
// The workgroup's first column (uniform: WGSL's analysis must see that lid plays no part).
fn sharedColumn(wid: vec3u, nwg: vec3u, rows: u32) -> u32 {
  return (linearWorkgroup(wid, nwg) * ${WORKGROUP}u / paddedRowBlocks(rows)) * TN;
}
fn blockOf(wid: vec3u, nwg: vec3u, lid: u32, rows: u32) -> Block {
  let m0 = (linearWorkgroup(wid, nwg) * ${WORKGROUP}u % paddedRowBlocks(rows) + lid) * TM;
  return Block(m0, sharedColumn(wid, nwg, rows), rows, m0 < rows);
}`;

// The TN column values of one step, \`bv\`: loaded by every invocation (direct), or loaded once
// per subgroup, lane l holding column n0 + l, and broadcast (subgroup; TN ≤ 8 ≤ subgroup size).
// \`at\` is the index expression of a column.
function columnValuesWgsl(tn: number, shared: boolean, at: (col: string) => string): string {
  if (!shared) return `var bv: array<f32, TN>;
        for (var j = 0u; j < TN; j++) { bv[j] = b[${at('col[j]')}]; }`;
  const lanes = Array.from({ length: tn }, (_, j) => `subgroupBroadcast(mine, ${j}u)`).join(', ');
  return `let mine = b[${at('lane')}];
        var bv = array<f32, TN>(${lanes});`;
}

// How an invocation leaves before its loops: at once when its rows are past the end (direct);
// only with its whole workgroup (subgroup), when the workgroup is past the last column block.
function earlyExitWgsl(shared: boolean, cols: string): string {
  return shared
    ? `if (sharedColumn(wid, nwg, rows) >= ${cols}) { return; }
  let lane = min(blk.n0 + sid % TN, ${cols} - 1u); // the column this lane loads for its subgroup`
    : 'if (!blk.valid) { return; }';
}

function entryWgsl(shared: boolean): string {
  return `@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32${shared ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {`;
}

function storeWgsl(rowsVar: string, cols: string, index: string, epilogue: boolean): string {
  return /* wgsl */ `
  for (var i = 0u; i < TM; i++) {
    let m = blk.m0 + i;
    if (m >= ${rowsVar}) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = blk.n0 + j;
      if (n < ${cols}) {
        var v = acc[i][j];
        ${epilogue ? 'if (HAS_BIAS) { v += bias[n]; }\n        v = activate(v, params.alpha);' : ''}
        out[${index}] = v;
      }
    }
  }`;
}

// Forward: a = x [batch, inH, inW, inC], b = w [kH, kW, inC, outC], out = y.
function directForwardWgsl(tm: number, tn: number, shared: boolean): string {
  return /* wgsl */ `${directHead(tm, tn, 'rows', true, shared)}
${entryWgsl(shared)}
  let rows = params.batch * params.outH * params.outW;
  let blk = blockOf(wid, nwg, lid, rows);
  ${earlyExitWgsl(shared, 'params.outC')}
  // Where each output row's receptive field starts (may be negative: padding).
  var xBatch: array<u32, TM>;
  var ihBase: array<i32, TM>;
  var iwBase: array<i32, TM>;
  for (var i = 0u; i < TM; i++) {
    let m = min(blk.m0 + i, rows - 1u);
    let ow = m % params.outW;
    let t = m / params.outW;
    xBatch[i] = (t / params.outH) * params.inH * params.inW * params.inC;
    ihBase[i] = i32((t % params.outH) * params.strideH) - i32(params.padTop);
    iwBase[i] = i32(ow * params.strideW) - i32(params.padLeft);
  }
  var col: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { col[j] = min(blk.n0 + j, params.outC - 1u); }
  var acc: array<array<f32, TN>, TM>;
  for (var kh = 0u; kh < params.kH; kh++) {
    for (var kw = 0u; kw < params.kW; kw++) {
      var xAt: array<u32, TM>;
      var inside: array<bool, TM>;
      for (var i = 0u; i < TM; i++) {
        let ih = ihBase[i] + i32(kh);
        let iw = iwBase[i] + i32(kw);
        inside[i] = ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW);
        xAt[i] = select(0u, xBatch[i] + (u32(ih) * params.inW + u32(iw)) * params.inC, inside[i]);
      }
      var wAt = (kh * params.kW + kw) * params.inC * params.outC;
      for (var c = 0u; c < params.inC; c++) {
        ${columnValuesWgsl(tn, shared, (n) => `wAt + ${n}`)}
        for (var i = 0u; i < TM; i++) {
          let av = select(0.0, a[xAt[i] + c], inside[i]);
          for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
        }
        wAt += params.outC;
      }
    }
  }
  ${storeWgsl('rows', 'params.outC', 'm * params.outC + n', true)}
}`;
}

// The phase arithmetic of the input-gradient, shared by the direct and tiled kernels: phase
// (ph, pw) = wid.z; its first pixel (ih0, iw0); its pixel counts (nH, nW); its taps (tapsH, tapsW).
const PHASE_WGSL = /* wgsl */ `
struct Phase { ph: u32, pw: u32, ih0: u32, iw0: u32, nH: u32, nW: u32, tapsH: u32, tapsW: u32 }
fn phaseOf(z: u32) -> Phase {
  let sh = params.strideH;
  let sw = params.strideW;
  let ph = z / sw;
  let pw = z % sw;
  // The first ih with (ih + padTop) mod sh == ph, and how many follow at steps of sh.
  let ih0 = (ph + sh - params.padTop % sh) % sh;
  let iw0 = (pw + sw - params.padLeft % sw) % sw;
  let nH = select(0u, (params.inH - ih0 + sh - 1u) / sh, ih0 < params.inH);
  let nW = select(0u, (params.inW - iw0 + sw - 1u) / sw, iw0 < params.inW);
  // Taps kh = ph, ph + sh, … below kH.
  let tapsH = select(0u, (params.kH - ph + sh - 1u) / sh, ph < params.kH);
  let tapsW = select(0u, (params.kW - pw + sw - 1u) / sw, pw < params.kW);
  return Phase(ph, pw, ih0, iw0, nH, nW, tapsH, tapsW);
}`;

// Input-gradient: a = dy [batch, outH, outW, outC], b = w [kH, kW, inC, outC], out = dx.
function directInputGradWgsl(tm: number, tn: number, shared: boolean): string {
  return /* wgsl */ `${directHead(tm, tn, 'rows', true, shared)}
${PHASE_WGSL}
${entryWgsl(shared)}
  let p = phaseOf(wid.z);
  let rows = params.batch * p.nH * p.nW;
  let blk = blockOf(wid, nwg, lid, rows);
  ${earlyExitWgsl(shared, 'params.inC')}
  var dyBatch: array<u32, TM>;
  var qh: array<i32, TM>; // the output row that tap jh = 0 reads; tap jh reads qh − jh
  var qw: array<i32, TM>;
  var dxAt: array<u32, TM>;
  for (var i = 0u; i < TM; i++) {
    let m = min(blk.m0 + i, rows - 1u);
    let iwI = m % p.nW;
    let t = m / p.nW;
    let bIdx = t / p.nH;
    let ih = p.ih0 + (t % p.nH) * params.strideH;
    let iw = p.iw0 + iwI * params.strideW;
    dyBatch[i] = bIdx * params.outH * params.outW * params.outC;
    qh[i] = i32((ih + params.padTop) / params.strideH);
    qw[i] = i32((iw + params.padLeft) / params.strideW);
    dxAt[i] = ((bIdx * params.inH + ih) * params.inW + iw) * params.inC;
  }
  var col: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { col[j] = min(blk.n0 + j, params.inC - 1u); }
  var acc: array<array<f32, TN>, TM>;
  for (var jh = 0u; jh < p.tapsH; jh++) {
    for (var jw = 0u; jw < p.tapsW; jw++) {
      let kh = p.ph + jh * params.strideH;
      let kw = p.pw + jw * params.strideW;
      var dyAt: array<u32, TM>;
      var inside: array<bool, TM>;
      for (var i = 0u; i < TM; i++) {
        let oh = qh[i] - i32(jh);
        let ow = qw[i] - i32(jw);
        inside[i] = oh >= 0 && oh < i32(params.outH) && ow >= 0 && ow < i32(params.outW);
        dyAt[i] = select(0u, dyBatch[i] + (u32(oh) * params.outW + u32(ow)) * params.outC, inside[i]);
      }
      let tapAt = (kh * params.kW + kw) * params.inC;
      for (var c = 0u; c < params.outC; c++) {
        ${columnValuesWgsl(tn, shared, (n) => `(tapAt + ${n}) * params.outC + c`)}
        for (var i = 0u; i < TM; i++) {
          let av = select(0.0, a[dyAt[i] + c], inside[i]);
          for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
        }
      }
    }
  }
  ${storeWgsl('rows', 'params.inC', 'dxAt[i] + n', true)}
}`;
}

// Weight-gradient, one split of K: a = x, b = dy, out = partial dw [splits, kH, kW, inC, outC].
// SHARED_TAP (inC a multiple of TM): the TM rows of a block are TM consecutive input channels of
// one tap, so they share one bounds check and one address.
function directWeightGradWgsl(tm: number, tn: number, shared: boolean): string {
  return /* wgsl */ `${directHead(tm, tn, 'rows', false, shared)}
override SHARED_TAP: bool = false;
${entryWgsl(shared)}
  let rows = params.kH * params.kW * params.inC;
  let blk = blockOf(wid, nwg, lid, rows);
  ${earlyExitWgsl(shared, 'params.outC')}
  var tapH: array<i32, TM>;
  var tapW: array<i32, TM>;
  var chan: array<u32, TM>;
  for (var i = 0u; i < TM; i++) {
    let m = min(blk.m0 + i, rows - 1u);
    chan[i] = m % params.inC;
    let t = m / params.inC;
    tapH[i] = i32(t / params.kW) - i32(params.padTop);
    tapW[i] = i32(t % params.kW) - i32(params.padLeft);
  }
  var col: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { col[j] = min(blk.n0 + j, params.outC - 1u); }
  // This split's pixels k = (bIdx, oh, ow), walked in order without divisions.
  let pixels = params.batch * params.outH * params.outW;
  let kStart = wid.z * params.chunk;
  let kEnd = min(kStart + params.chunk, pixels);
  var ow = kStart % params.outW;
  var oh = (kStart / params.outW) % params.outH;
  var xBatch = (kStart / (params.outW * params.outH)) * params.inH * params.inW * params.inC;
  let batchStride = params.inH * params.inW * params.inC;
  var acc: array<array<f32, TN>, TM>;
  for (var k = kStart; k < kEnd; k++) {
    ${columnValuesWgsl(tn, shared, (n) => `k * params.outC + ${n}`)}
    let ihBase = i32(oh * params.strideH);
    let iwBase = i32(ow * params.strideW);
    if (SHARED_TAP) {
      let ih = ihBase + tapH[0];
      let iw = iwBase + tapW[0];
      if (ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW)) {
        let at = xBatch + (u32(ih) * params.inW + u32(iw)) * params.inC + chan[0];
        for (var i = 0u; i < TM; i++) {
          let av = a[at + i];
          for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
        }
      }
    } else {
      for (var i = 0u; i < TM; i++) {
        let ih = ihBase + tapH[i];
        let iw = iwBase + tapW[i];
        let inside = ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW);
        let at = select(0u, xBatch + (u32(ih) * params.inW + u32(iw)) * params.inC + chan[i], inside);
        let av = select(0.0, a[at], inside);
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
      }
    }
    ow++;
    if (ow == params.outW) {
      ow = 0u;
      oh++;
      if (oh == params.outH) { oh = 0u; xBatch += batchStride; }
    }
  }
  let splitBase = wid.z * rows * params.outC;
  ${storeWgsl('rows', 'params.outC', 'splitBase + m * params.outC + n', false)}
}`;
}

// Block shape of the direct kernels. On llvmpipe 8×8 beat 4×4 clearly (64 FMAs per 16 loads
// instead of 16 per 8), and 16×8, 8×16, 4×8 and 8×4 too (measured on the VAE decoder's layers;
// docs/kernels.md); narrower outputs keep 8 rows so that few columns waste no lanes.
function directTile(variant: ConvVariant, cols: number): { tm: number; tn: number } {
  if (variant === 'naive') return { tm: 1, tn: 1 };
  if (cols >= 8) return { tm: 8, tn: 8 };
  if (cols >= 4) return { tm: 8, tn: 4 };
  return { tm: 8, tn: cols };
}

function directWgsl(mode: Mode, tm: number, tn: number, shared: boolean): string {
  if (mode === 'forward') return directForwardWgsl(tm, tn, shared);
  if (mode === 'inputGrad') return directInputGradWgsl(tm, tn, shared);
  return directWeightGradWgsl(tm, tn, shared);
}

// ------------------------------------------------------------------ tiled (workgroup memory)

const BM = 64;
const BN = 64;
// k advances 8 at a time (the matmul uses 16): the same speed here, and llvmpipe compiles the
// unrolled inner loop in a tenth of the time (0.7 s instead of 2.5–8 s per pipeline).
const BK = 8;
/** Narrower outputs fall back from tiled to direct (see build()). */
export const TILED_MIN_COLUMNS = 16;

// One 64×64 output tile per workgroup of 16×16 invocations, each a 4×4 block (matmul.ts v3).
// The mode supplies three functions: rowInfo(m) (per-row addressing, computed once per loaded
// row), loadA(info, m, k) (the im2col element, zero outside the image) and loadB(k, n).
function tiledWgsl(mode: Mode): string {
  const modeCode = TILED_MODE[mode];
  const epilogue = mode !== 'weightGrad';
  return /* wgsl */ `
${PARAMS_WGSL}
${bindingsWgsl(epilogue)}
${mode === 'inputGrad' ? PHASE_WGSL : ''}
${modeCode}
// Stored k-major, so the inner loop reads 4 consecutive floats of A and of B for one k.
var<workgroup> tileA: array<f32, ${BK * BM}>;
var<workgroup> tileB: array<f32, ${BK * BN}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let g = gemmOf(wid.z);
  let rowBase = wid.y * ${BM}u;
  let colBase = wid.x * ${BN}u;
  // Whole workgroups past the end of this z-slice leave together (uniform: no barrier hazard).
  if (rowBase >= g.m) { return; }
  // Each invocation loads the same 4 rows of the A tile at every k step (row t % 64, k lane
  // t / 64 + 4j), so their addressing is computed once, here.
  let aRow = rowBase + t % ${BM}u;
  let aInfo = rowInfo(g, min(aRow, g.m - 1u));
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = g.kBegin; k0 < g.kEnd; k0 += ${BK}u) {
    for (var j = 0u; j < ${(BM * BK) / 256}u; j++) {
      let kk = t / ${BM}u + 4u * j;
      let gk = k0 + kk;
      tileA[kk * ${BM}u + t % ${BM}u] = select(0.0, loadA(g, aInfo, gk), aRow < g.m && gk < g.kEnd);
    }
    for (var j = 0u; j < ${(BN * BK) / 256}u; j++) {
      let e = t + j * 256u;
      let kk = e / ${BN}u;
      let cc = e % ${BN}u;
      let gk = k0 + kk;
      let gc = colBase + cc;
      tileB[kk * ${BN}u + cc] = select(0.0, loadB(g, gk, min(gc, g.n - 1u)), gk < g.kEnd && gc < g.n);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { av[i] = tileA[kk * ${BM}u + lid.y * 4u + i]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = tileB[kk * ${BN}u + lid.x * 4u + j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = rowBase + lid.y * 4u + i;
    if (row >= g.m) { break; }
    let at = outIndex(g, row);
    for (var j = 0u; j < 4u; j++) {
      let col = colBase + lid.x * 4u + j;
      if (col < g.n) {
        var v = acc[i][j];
        ${epilogue ? 'if (HAS_BIAS) { v += bias[col]; }\n        v = activate(v, params.alpha);' : ''}
        out[at + col] = v;
      }
    }
  }
}`;
}

// The GEMM each z-slice computes: m × n, k running over [kBegin, kEnd).
const TILED_MODE: Record<Mode, string> = {
  forward: /* wgsl */ `
struct Gemm { m: u32, n: u32, kBegin: u32, kEnd: u32 }
fn gemmOf(z: u32) -> Gemm {
  return Gemm(params.batch * params.outH * params.outW, params.outC, 0u, params.kH * params.kW * params.inC);
}
struct RowInfo { xBatch: u32, ih: i32, iw: i32 }
fn rowInfo(g: Gemm, m: u32) -> RowInfo {
  let ow = m % params.outW;
  let t = m / params.outW;
  return RowInfo((t / params.outH) * params.inH * params.inW * params.inC,
                 i32((t % params.outH) * params.strideH) - i32(params.padTop),
                 i32(ow * params.strideW) - i32(params.padLeft));
}
// k = (kh, kw, ic)
fn loadA(g: Gemm, r: RowInfo, k: u32) -> f32 {
  let c = k % params.inC;
  let t = k / params.inC;
  let ih = r.ih + i32(t / params.kW);
  let iw = r.iw + i32(t % params.kW);
  let inside = ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW);
  return select(0.0, a[select(0u, r.xBatch + (u32(ih) * params.inW + u32(iw)) * params.inC + c, inside)], inside);
}
fn loadB(g: Gemm, k: u32, n: u32) -> f32 { return b[min(k, g.kEnd - 1u) * params.outC + n]; }
fn outIndex(g: Gemm, m: u32) -> u32 { return m * params.outC; }`,

  inputGrad: /* wgsl */ `
struct Gemm { m: u32, n: u32, kBegin: u32, kEnd: u32, p: Phase }
fn gemmOf(z: u32) -> Gemm {
  let p = phaseOf(z);
  return Gemm(params.batch * p.nH * p.nW, params.inC, 0u, p.tapsH * p.tapsW * params.outC, p);
}
struct RowInfo { dyBatch: u32, qh: i32, qw: i32 }
fn rowInfo(g: Gemm, m: u32) -> RowInfo {
  let t = m / g.p.nW;
  let ih = g.p.ih0 + (t % g.p.nH) * params.strideH;
  let iw = g.p.iw0 + (m % g.p.nW) * params.strideW;
  return RowInfo((t / g.p.nH) * params.outH * params.outW * params.outC,
                 i32((ih + params.padTop) / params.strideH), i32((iw + params.padLeft) / params.strideW));
}
// k = (jh, jw, oc): tap (ph + jh·sh, pw + jw·sw) reads output pixel (qh − jh, qw − jw).
fn loadA(g: Gemm, r: RowInfo, k: u32) -> f32 {
  let c = k % params.outC;
  let t = k / params.outC;
  let oh = r.qh - i32(t / g.p.tapsW);
  let ow = r.qw - i32(t % g.p.tapsW);
  let inside = oh >= 0 && oh < i32(params.outH) && ow >= 0 && ow < i32(params.outW);
  return select(0.0, a[select(0u, r.dyBatch + (u32(oh) * params.outW + u32(ow)) * params.outC + c, inside)], inside);
}
fn loadB(g: Gemm, k: u32, n: u32) -> f32 {
  let kk = min(k, g.kEnd - 1u);
  let c = kk % params.outC;
  let t = kk / params.outC;
  let kh = g.p.ph + (t / g.p.tapsW) * params.strideH;
  let kw = g.p.pw + (t % g.p.tapsW) * params.strideW;
  return b[((kh * params.kW + kw) * params.inC + n) * params.outC + c];
}
fn outIndex(g: Gemm, m: u32) -> u32 {
  let t = m / g.p.nW;
  let bIdx = t / g.p.nH;
  let ih = g.p.ih0 + (t % g.p.nH) * params.strideH;
  let iw = g.p.iw0 + (m % g.p.nW) * params.strideW;
  return ((bIdx * params.inH + ih) * params.inW + iw) * params.inC;
}`,

  weightGrad: /* wgsl */ `
struct Gemm { m: u32, n: u32, kBegin: u32, kEnd: u32, z: u32 }
fn gemmOf(z: u32) -> Gemm {
  let pixels = params.batch * params.outH * params.outW;
  let begin = z * params.chunk;
  return Gemm(params.kH * params.kW * params.inC, params.outC, begin, min(begin + params.chunk, pixels), z);
}
struct RowInfo { c: u32, th: i32, tw: i32 }
fn rowInfo(g: Gemm, m: u32) -> RowInfo {
  let t = m / params.inC;
  return RowInfo(m % params.inC, i32(t / params.kW) - i32(params.padTop), i32(t % params.kW) - i32(params.padLeft));
}
// k = (bIdx, oh, ow): the pixel of the batch this tap of row m reads.
fn loadA(g: Gemm, r: RowInfo, k: u32) -> f32 {
  let ow = k % params.outW;
  let t = k / params.outW;
  let ih = i32((t % params.outH) * params.strideH) + r.th;
  let iw = i32(ow * params.strideW) + r.tw;
  let inside = ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW);
  let at = (((t / params.outH) * params.inH + u32(ih)) * params.inW + u32(iw)) * params.inC + r.c;
  return select(0.0, a[select(0u, at, inside)], inside);
}
fn loadB(g: Gemm, k: u32, n: u32) -> f32 { return b[min(k, g.kEnd - 1u) * params.outC + n]; }
fn outIndex(g: Gemm, m: u32) -> u32 { return (g.z * g.m + m) * params.outC; }`,
};

// ------------------------------------------------------------------ Program builders

function tiledGrid(m: number, n: number, z: number): Grid {
  return [Math.ceil(n / BN), Math.ceil(m / BM), z];
}

/** The subgroup layout's row blocks per column block: padded to whole workgroups (SHARED_BLOCK_WGSL). */
function paddedRowBlocks(rowBlocks: number): number {
  return Math.ceil(rowBlocks / WORKGROUP) * WORKGROUP;
}

function directGrid(rows: number, cols: number, tm: number, tn: number, z: number, shared: boolean): { grid: Grid; colBlocks: number } {
  const colBlocks = Math.ceil(cols / tn);
  const rowBlocks = Math.ceil(rows / tm);
  const [x, y] = linearGrid((shared ? paddedRowBlocks(rowBlocks) : rowBlocks) * colBlocks, WORKGROUP);
  return { grid: [x, y, z], colBlocks };
}

/**
 * Where subgroup sharing pays, measured on llvmpipe: with blocks narrower than 8 columns there is
 * little to share (a 1-channel layer ran slower than direct), and rows padded to whole workgroups
 * must not more than double the work (a 1-input-channel weight-gradient has 25 rows, 4 blocks
 * padded to 64: it ran many times slower). Elsewhere the subgroup variant falls back to direct,
 * under that name. docs/kernels.md has the figures.
 */
function subgroupPays(rows: number, tm: number, tn: number): boolean {
  const rowBlocks = Math.ceil(rows / tm);
  return tn >= 8 && paddedRowBlocks(rowBlocks) <= 2 * rowBlocks;
}

function build(mode: Mode, name: string, g: ConvGeometry, rows: number, cols: number, z: number, chunk: number,
  epilogue: ConvEpilogue, variant: ConvVariant, bytes: number): Program {
  const withEpilogue = mode !== 'weightGrad';
  const overrides: Record<string, number> = withEpilogue ? { HAS_BIAS: epilogue.hasBias ? 1 : 0, ACT: activationCode(epilogue.activation) } : {};
  const inputs = withEpilogue ? 3 : 2;
  // A 64-wide tile over a layer with a few output columns is mostly padding (a 1-channel layer
  // ran far slower than direct: docs/kernels.md): such layers run direct, under that name.
  if (variant === 'tiled' && cols < TILED_MIN_COLUMNS) variant = 'direct';
  if (variant === 'tiled') {
    return {
      name: `${name}.tiled`, wgsl: tiledWgsl(mode), overrides, inputs, outputs: 1,
      uniforms: uniforms(g, 0, chunk, epilogue.alpha), grid: tiledGrid(rows, cols, z), flops: convFlops(g), bytes,
    };
  }
  const { tm, tn } = directTile(variant, cols);
  if (variant === 'subgroup' && !subgroupPays(rows, tm, tn)) variant = 'direct';
  if (mode === 'weightGrad') overrides.SHARED_TAP = g.inC % tm === 0 ? 1 : 0;
  const shared = variant === 'subgroup';
  const { grid, colBlocks } = directGrid(rows, cols, tm, tn, z, shared);
  return {
    name: `${name}.${variant}`, wgsl: directWgsl(mode, tm, tn, shared), overrides, inputs, outputs: 1,
    uniforms: uniforms(g, colBlocks, chunk, epilogue.alpha), grid, flops: convFlops(g), bytes,
  };
}

function sizes(g: ConvGeometry): { x: number; y: number; w: number } {
  return {
    x: g.batch * g.inH * g.inW * g.inC,
    y: g.batch * g.outH * g.outW * g.outC,
    w: g.kH * g.kW * g.inC * g.outC,
  };
}

/** y = activation(conv2d(x, w) + bias). Bindings: x, w, bias (any buffer when unused), y. */
export function conv2dProgram(g: ConvGeometry, epilogue: ConvEpilogue = NO_EPILOGUE, variant: ConvVariant = 'direct'): Program {
  const s = sizes(g);
  return build('forward', 'conv2d', g, g.batch * g.outH * g.outW, g.outC, 1, 0, epilogue, variant, 4 * (s.x + s.w + s.y));
}

/**
 * dx = conv2d's input-gradient of dy (with an optional epilogue: this is also the transposed
 * convolution's forward pass). Bindings: dy, w, bias, dx. Every element of dx is written.
 */
export function conv2dInputGradProgram(g: ConvGeometry, epilogue: ConvEpilogue = NO_EPILOGUE, variant: ConvVariant = 'direct', name = 'conv2dInputGrad'): Program {
  const s = sizes(g);
  // The busiest phase has ⌈inH/sh⌉·⌈inW/sw⌉ pixels per image; smaller phases leave early.
  const rows = g.batch * Math.ceil(g.inH / g.strideH) * Math.ceil(g.inW / g.strideW);
  return build('inputGrad', name, g, rows, g.inC, g.strideH * g.strideW, 0, epilogue, variant, 4 * (s.x + s.w + s.y));
}

/** How many z-slices the weight-gradient's reduction over the batch's pixels is split into. */
export function weightGradSplits(g: ConvGeometry, variant: ConvVariant = 'direct'): number {
  const pixels = g.batch * g.outH * g.outW;
  const rows = g.kH * g.kW * g.inC;
  // Enough invocations to fill a GPU (~16k), but every split at least 256 pixels long.
  const tiled = variant === 'tiled' && g.outC >= TILED_MIN_COLUMNS;
  const invocations = tiled
    ? Math.ceil(rows / BM) * Math.ceil(g.outC / BN) * 256
    : Math.ceil(rows / directTile(variant, g.outC).tm) * Math.ceil(g.outC / directTile(variant, g.outC).tn);
  const wanted = Math.ceil(16384 / invocations);
  return Math.max(1, Math.min(wanted, Math.floor(pixels / 256), 1024));
}

/**
 * Partial weight-gradients: out [splits, kH, kW, inC, outC], each slice summing ⌈pixels/splits⌉
 * pixels of the batch; the caller adds the slices (a column reduction) when splits > 1.
 * Bindings: x, dy, out.
 */
export function conv2dWeightGradProgram(g: ConvGeometry, splits: number, variant: ConvVariant = 'direct', name = 'conv2dWeightGrad'): Program {
  const s = sizes(g);
  const pixels = g.batch * g.outH * g.outW;
  const chunk = Math.ceil(pixels / splits);
  return build('weightGrad', name, g, g.kH * g.kW * g.inC, g.outC, splits, chunk, NO_EPILOGUE, variant, 4 * (s.x + s.y + splits * s.w));
}

// ------------------------------------------------------------------ float64 references

/** Plain-loop conv2d, NHWC × HWIO, with optional bias and activation. */
export function conv2dReference(
  x: ArrayLike<number>, w: ArrayLike<number>, g: ConvGeometry,
  bias?: ArrayLike<number>, activation: Activation = 'linear', alpha = 0,
): Float64Array {
  const y = new Float64Array(g.batch * g.outH * g.outW * g.outC);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let oc = 0; oc < g.outC; oc++) {
          let acc = bias ? bias[oc] : 0;
          for (let kh = 0; kh < g.kH; kh++) {
            const ih = oh * g.strideH - g.padTop + kh;
            if (ih < 0 || ih >= g.inH) continue;
            for (let kw = 0; kw < g.kW; kw++) {
              const iw = ow * g.strideW - g.padLeft + kw;
              if (iw < 0 || iw >= g.inW) continue;
              for (let ic = 0; ic < g.inC; ic++) {
                acc += x[((b * g.inH + ih) * g.inW + iw) * g.inC + ic] * w[((kh * g.kW + kw) * g.inC + ic) * g.outC + oc];
              }
            }
          }
          y[((b * g.outH + oh) * g.outW + ow) * g.outC + oc] = activationReference(activation, acc, alpha);
        }
      }
    }
  }
  return y;
}

/** dx of conv2d, by scattering each dy element back along the taps that produced it. */
export function conv2dInputGradReference(dy: ArrayLike<number>, w: ArrayLike<number>, g: ConvGeometry): Float64Array {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.inC);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let kh = 0; kh < g.kH; kh++) {
          const ih = oh * g.strideH - g.padTop + kh;
          if (ih < 0 || ih >= g.inH) continue;
          for (let kw = 0; kw < g.kW; kw++) {
            const iw = ow * g.strideW - g.padLeft + kw;
            if (iw < 0 || iw >= g.inW) continue;
            for (let ic = 0; ic < g.inC; ic++) {
              let acc = 0;
              for (let oc = 0; oc < g.outC; oc++) {
                acc += dy[((b * g.outH + oh) * g.outW + ow) * g.outC + oc] * w[((kh * g.kW + kw) * g.inC + ic) * g.outC + oc];
              }
              dx[((b * g.inH + ih) * g.inW + iw) * g.inC + ic] += acc;
            }
          }
        }
      }
    }
  }
  return dx;
}

/** dw of conv2d: every (input pixel, output gradient) pair a tap connects. */
export function conv2dWeightGradReference(x: ArrayLike<number>, dy: ArrayLike<number>, g: ConvGeometry): Float64Array {
  const dw = new Float64Array(g.kH * g.kW * g.inC * g.outC);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let kh = 0; kh < g.kH; kh++) {
          const ih = oh * g.strideH - g.padTop + kh;
          if (ih < 0 || ih >= g.inH) continue;
          for (let kw = 0; kw < g.kW; kw++) {
            const iw = ow * g.strideW - g.padLeft + kw;
            if (iw < 0 || iw >= g.inW) continue;
            for (let ic = 0; ic < g.inC; ic++) {
              const xv = x[((b * g.inH + ih) * g.inW + iw) * g.inC + ic];
              for (let oc = 0; oc < g.outC; oc++) {
                dw[((kh * g.kW + kw) * g.inC + ic) * g.outC + oc] += xv * dy[((b * g.outH + oh) * g.outW + ow) * g.outC + oc];
              }
            }
          }
        }
      }
    }
  }
  return dw;
}
