// The register-blocked direct kernels of the convolution (conv2d.ts explains the three implicit
// GEMMs and builds the Programs): forward, input-gradient and weight-gradient, each one whole
// WGSL module of its block shape TM×TN. `naive` is these kernels with a 1×1 block.
//
// Each invocation computes a TM×TN block of the output (8 rows × 8 channels where the layer has
// 8 channels or more) and walks K in the convolution's natural loop order — taps outside, the
// contiguous channel axis inside — so each step reads TM + TN values and does TM·TN FMAs, with no
// index arithmetic in the inner loop (the im2col addresses change only per tap). Operands come
// straight from global memory (the caches do the sharing that workgroup memory would on a GPU),
// with no barriers. Rows past the end are clamped to the last row (computed, never stored), so
// the inner loops need no bounds checks. The block lives in small arrays walked by loops over TM
// and TN, which the driver unrolls into registers; on wgpu, whose translator keeps it from doing
// so, those loops are written out before compiling (../unroll.ts), so none of them may break.
//
// Thread layout: 64 invocations per workgroup over a linear list of blocks; invocation i of the
// launch owns row block i / colBlocks and column block i % colBlocks, so neighbouring invocations
// share the rows (same input pixels: one broadcast load) and read neighbouring channels of the
// weights (coalesced). Natural grid: directTiles, that line of workgroups in x, the pass's phases
// or splits in z; launched folded past 65,535 workgroups a dimension (foldGrid in ../program.ts),
// the few workgroups past the last tile returning at once.

import type { Grid } from '../program.ts';
import { PARAMS_WGSL, PHASE_WGSL, WEIGHT_GRAD_PARAMS_WGSL, WORKGROUP } from './conv2d-common.ts';

/**
 * The block of the direct (and subgroup) kernels: 8×8, 64 FMAs per 16 loads where 4×4 does 16 per
 * 8; the larger and oblong blocks tried did not do better (docs/kernels.md has the measurements:
 * 4×4, 16×8, 8×16, 4×8, 8×4). Outputs with fewer than 8 columns keep 8 rows, with as many
 * columns as there are, so that no lane computes padding.
 */
export function directBlock(cols: number): { tm: number; tn: number } {
  if (cols >= 8) return { tm: 8, tn: 8 };
  if (cols >= 4) return { tm: 8, tn: 4 };
  return { tm: 8, tn: cols };
}

/** The natural grid of a direct kernel: every (row block, column block) pair once, `z` slices deep. */
export function directTiles(rows: number, cols: number, tm: number, tn: number, z: number): { tiles: Grid; colBlocks: number } {
  const colBlocks = Math.ceil(cols / tn);
  return { tiles: [Math.ceil((Math.ceil(rows / tm) * colBlocks) / WORKGROUP), 1, z], colBlocks };
}

// The output block of an invocation, in the thread layout above.
const BLOCK_WGSL = /* wgsl */ `
// The output block of this invocation: rows m0 … m0+TM−1, columns n0 … n0+TN−1.
struct Block { m0: u32, n0: u32, rows: u32, valid: bool }
fn blockOf(tile: Tile, lid: u32, rows: u32) -> Block {
  let item = tile.id.x * ${WORKGROUP}u + lid;
  let m0 = (item / params.colBlocks) * TM;
  let n0 = (item % params.colBlocks) * TN;
  return Block(m0, n0, rows, m0 < rows);
}`;

/** Forward: a = x [batch, inH, inW, inC], b = w [kH, kW, inC, outC], out = y [batch, outH, outW, outC]. */
export function directForwardWgsl(tm: number, tn: number): string {
  return /* wgsl */ `
${PARAMS_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
${BLOCK_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let rows = params.batch * params.outH * params.outW;
  let blk = blockOf(tile, lid, rows);
  if (!blk.valid) { return; }
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
        var bv: array<f32, TN>;
        for (var j = 0u; j < TN; j++) { bv[j] = b[wAt + col[j]]; }
        for (var i = 0u; i < TM; i++) {
          let av = select(0.0, a[xAt[i] + c], inside[i]);
          for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
        }
        wAt += params.outC;
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let m = blk.m0 + i;
    if (m < rows) {
      for (var j = 0u; j < TN; j++) {
        let n = blk.n0 + j;
        if (n < params.outC) {
          var v = acc[i][j];
          if (HAS_BIAS) { v += bias[n]; }
          v = activate(v, params.alpha);
          out[m * params.outC + n] = v;
        }
      }
    }
  }
}`;
}

/**
 * Input-gradient, one phase per z-slice: a = dy [batch, outH, outW, outC], b = w [kH, kW, inC, outC],
 * out = dx [batch, inH, inW, inC].
 */
export function directInputGradWgsl(tm: number, tn: number): string {
  return /* wgsl */ `
${PARAMS_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
${BLOCK_WGSL}
${PHASE_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let p = phaseOf(tile.id.z);
  let rows = params.batch * p.nH * p.nW;
  let blk = blockOf(tile, lid, rows);
  if (!blk.valid) { return; }
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
        var bv: array<f32, TN>;
        for (var j = 0u; j < TN; j++) { bv[j] = b[(tapAt + col[j]) * params.outC + c]; }
        for (var i = 0u; i < TM; i++) {
          let av = select(0.0, a[dyAt[i] + c], inside[i]);
          for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
        }
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let m = blk.m0 + i;
    if (m < rows) {
      for (var j = 0u; j < TN; j++) {
        let n = blk.n0 + j;
        if (n < params.inC) {
          var v = acc[i][j];
          if (HAS_BIAS) { v += bias[n]; }
          v = activate(v, params.alpha);
          out[dxAt[i] + n] = v;
        }
      }
    }
  }
}`;
}

/**
 * Weight-gradient, one split of K per z-slice: a = x, b = dy, out = partial dw [splits, kH, kW, inC, outC].
 * SHARED_TAP (inC a multiple of TM): the TM rows of a block are TM consecutive input channels of
 * one tap, so they share one bounds check and one address.
 */
export function directWeightGradWgsl(tm: number, tn: number): string {
  return /* wgsl */ `
${WEIGHT_GRAD_PARAMS_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
${BLOCK_WGSL}
override SHARED_TAP: bool = false;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let rows = params.kH * params.kW * params.inC;
  let blk = blockOf(tile, lid, rows);
  if (!blk.valid) { return; }
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
  let kStart = tile.id.z * params.chunk;
  let kEnd = min(kStart + params.chunk, pixels);
  var ow = kStart % params.outW;
  var oh = (kStart / params.outW) % params.outH;
  var xBatch = (kStart / (params.outW * params.outH)) * params.inH * params.inW * params.inC;
  let batchStride = params.inH * params.inW * params.inC;
  var acc: array<array<f32, TN>, TM>;
  for (var k = kStart; k < kEnd; k++) {
    var bv: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { bv[j] = b[k * params.outC + col[j]]; }
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
  let splitBase = tile.id.z * rows * params.outC;
  for (var i = 0u; i < TM; i++) {
    let m = blk.m0 + i;
    if (m < rows) {
      for (var j = 0u; j < TN; j++) {
        let n = blk.n0 + j;
        if (n < params.outC) {
          var v = acc[i][j];
          out[splitBase + m * params.outC + n] = v;
        }
      }
    }
  }
}`;
}
