// The direct kernels (conv2d-direct.ts) with the column operand shared within a subgroup:
// forward, input-gradient and weight-gradient, each one whole WGSL module of its block shape TM×TN.
// The text repeats much of conv2d-direct.ts on purpose, so that each kernel reads in one piece;
// the arithmetic and the summation order are direct's, so the two give bit-identical results.
//
// The TN column values of a step (the weights, or dy for the weight-gradient) are the same for
// every invocation that works on the same columns. Here every invocation of a workgroup, so of
// each of its subgroups, works on the same columns n0 … n0+TN−1 and on its own rows: TN lanes
// load one column value each, and subgroupBroadcast hands them round, TN + 1 loads per TM·TN FMAs
// instead of TM + TN. On a CPU driver a load is a gather of one value per SIMD lane, the dearest
// instruction in the loop, and a broadcast is a register shuffle. Needs WebGPU's 'subgroups'
// feature with subgroups of at least 8 lanes (TN ≤ 8).
//
// Thread layout: 64 invocations per workgroup; a whole workgroup owns one column block and 64
// consecutive row blocks. Row blocks are padded to a multiple of the workgroup, so the column
// block is a function of the workgroup alone (uniform), and rows past the end are computed on
// clamped addresses and never stored: they cannot leave early, since a subgroup operation needs
// every lane. Only a whole workgroup past the last column block leaves. Grid: subgroupGrid.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Grid } from '../program.ts';
import type { ConvGeometry } from './geometry.ts';
import { gemmSize, PARAMS_WGSL, PHASE_WGSL, WEIGHT_GRAD_PARAMS_WGSL, WORKGROUP, type ConvPass } from './conv2d-common.ts';
import { directBlock } from './conv2d-direct.ts';

/** Row blocks per column block in the subgroup layout: padded to whole workgroups. */
function paddedRowBlocks(rowBlocks: number): number {
  return Math.ceil(rowBlocks / WORKGROUP) * WORKGROUP;
}

/** The launch of a subgroup kernel: every column block gets whole workgroups of row blocks, `z` slices deep. */
export function subgroupGrid(rows: number, cols: number, tm: number, tn: number, z: number): { grid: Grid; colBlocks: number } {
  const colBlocks = Math.ceil(cols / tn);
  const [x, y] = linearGrid(paddedRowBlocks(Math.ceil(rows / tm)) * colBlocks, WORKGROUP);
  return { grid: [x, y, z], colBlocks };
}

/**
 * Whether the subgroup kernel of a pass is faster than direct there (the kernel policy asks, for
 * 'auto'; named, the subgroup kernel runs on any shape, correct but perhaps slower). It pays
 * where there is something to share and little padding: blocks at least 8 columns wide (a
 * narrower block shares fewer values than its lanes), and rows padded to whole workgroups at most
 * doubling the work (a 1-input-channel weight-gradient has 25 rows, 4 blocks padded to 64).
 * docs/kernels.md has the measurements.
 */
export function subgroupPays(pass: ConvPass, g: ConvGeometry): boolean {
  const { rows, cols } = gemmSize(pass, g);
  const { tm, tn } = directBlock(cols);
  const rowBlocks = Math.ceil(rows / tm);
  return tn >= 8 && paddedRowBlocks(rowBlocks) <= 2 * rowBlocks;
}

// The output block of an invocation, in the thread layout above.
const BLOCK_WGSL = /* wgsl */ `
// The output block of this invocation: rows m0 … m0+TM−1, columns n0 … n0+TN−1.
struct Block { m0: u32, n0: u32, rows: u32, valid: bool }
fn paddedRowBlocks(rows: u32) -> u32 { return ((rows + TM - 1u) / TM + ${WORKGROUP - 1}u) / ${WORKGROUP}u * ${WORKGROUP}u; }
// The workgroup's first column (uniform: WGSL's analysis must see that lid plays no part).
fn sharedColumn(wid: vec3u, nwg: vec3u, rows: u32) -> u32 {
  return (linearWorkgroup(wid, nwg) * ${WORKGROUP}u / paddedRowBlocks(rows)) * TN;
}
fn blockOf(wid: vec3u, nwg: vec3u, lid: u32, rows: u32) -> Block {
  let m0 = (linearWorkgroup(wid, nwg) * ${WORKGROUP}u % paddedRowBlocks(rows) + lid) * TM;
  return Block(m0, sharedColumn(wid, nwg, rows), rows, m0 < rows);
}`;

// The step's TN column values from the one each lane loaded (lane l holds column n0 + l).
// subgroupBroadcast takes a constant lane, so the TN broadcasts are written out.
function broadcasts(tn: number): string {
  return Array.from({ length: tn }, (_, j) => `subgroupBroadcast(mine, ${j}u)`).join(', ');
}

/** Forward: a = x [batch, inH, inW, inC], b = w [kH, kW, inC, outC], out = y [batch, outH, outW, outC]. */
export function subgroupForwardWgsl(tm: number, tn: number): string {
  return /* wgsl */ `enable subgroups;
${PARAMS_WGSL}
${LINEAR_WORKGROUP_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
${BLOCK_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let rows = params.batch * params.outH * params.outW;
  let blk = blockOf(wid, nwg, lid, rows);
  if (sharedColumn(wid, nwg, rows) >= params.outC) { return; }
  let lane = min(blk.n0 + sid % TN, params.outC - 1u); // the column this lane loads for its subgroup
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
        let mine = b[wAt + lane];
        var bv = array<f32, TN>(${broadcasts(tn)});
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
    if (m >= rows) { break; }
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
}`;
}

/**
 * Input-gradient, one phase per z-slice: a = dy [batch, outH, outW, outC], b = w [kH, kW, inC, outC],
 * out = dx [batch, inH, inW, inC].
 */
export function subgroupInputGradWgsl(tm: number, tn: number): string {
  return /* wgsl */ `enable subgroups;
${PARAMS_WGSL}
${LINEAR_WORKGROUP_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
${BLOCK_WGSL}
${PHASE_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let p = phaseOf(wid.z);
  let rows = params.batch * p.nH * p.nW;
  let blk = blockOf(wid, nwg, lid, rows);
  if (sharedColumn(wid, nwg, rows) >= params.inC) { return; }
  let lane = min(blk.n0 + sid % TN, params.inC - 1u); // the column this lane loads for its subgroup
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
        let mine = b[(tapAt + lane) * params.outC + c];
        var bv = array<f32, TN>(${broadcasts(tn)});
        for (var i = 0u; i < TM; i++) {
          let av = select(0.0, a[dyAt[i] + c], inside[i]);
          for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
        }
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let m = blk.m0 + i;
    if (m >= rows) { break; }
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
}`;
}

/**
 * Weight-gradient, one split of K per z-slice: a = x, b = dy, out = partial dw [splits, kH, kW, inC, outC].
 * SHARED_TAP (inC a multiple of TM): the TM rows of a block are TM consecutive input channels of
 * one tap, so they share one bounds check and one address.
 */
export function subgroupWeightGradWgsl(tm: number, tn: number): string {
  return /* wgsl */ `enable subgroups;
${WEIGHT_GRAD_PARAMS_WGSL}
${LINEAR_WORKGROUP_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
${BLOCK_WGSL}
override SHARED_TAP: bool = false;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let rows = params.kH * params.kW * params.inC;
  let blk = blockOf(wid, nwg, lid, rows);
  if (sharedColumn(wid, nwg, rows) >= params.outC) { return; }
  let lane = min(blk.n0 + sid % TN, params.outC - 1u); // the column this lane loads for its subgroup
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
    let mine = b[k * params.outC + lane];
    var bv = array<f32, TN>(${broadcasts(tn)});
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
  for (var i = 0u; i < TM; i++) {
    let m = blk.m0 + i;
    if (m >= rows) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = blk.n0 + j;
      if (n < params.outC) {
        var v = acc[i][j];
        out[splitBase + m * params.outC + n] = v;
      }
    }
  }
}`;
}
