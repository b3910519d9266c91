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
// feature.
//
// Subgroup sizes: the kernel assumes nothing of the size but what the device reports, the
// smallest subgroup it may run (adapter info's subgroupMinSize, `lanes` here; WebGPU guarantees at
// least 4, GPUs have 8 to 128, llvmpipe its SIMD width). Only lanes 0 … L−1, L = min(lanes, TN),
// hand values round, and every subgroup has them, whatever size it runs at (sizes may differ from
// one dispatch to the next, and a subgroup may be larger than the 64-invocation workgroup, then
// partly filled). Where L < TN each lane loads ⌈TN/L⌉ column values (lane l holds columns l, l+L,
// …), so column j comes from lane j mod L: 8×8 blocks on 4-lane subgroups load 2 + 8 values per
// 64 FMAs. Which invocations share a subgroup does not matter either: all of a workgroup's share
// its column block, and each computes only its own rows.
//
// Thread layout: 64 invocations per workgroup; a whole workgroup owns one column block and 64
// consecutive row blocks. Row blocks are padded to a multiple of the workgroup, so the column
// block is a function of the workgroup alone (uniform), and rows past the end are computed on
// clamped addresses and never stored: they cannot leave early, since a subgroup operation needs
// every lane. Only a whole workgroup past the last column block leaves. Natural grid:
// subgroupTiles, that line of workgroups in x, the pass's phases or splits in z; launched folded
// past 65,535 workgroups a dimension (foldGrid in ../program.ts), and the few workgroups past the
// last tile leave as a whole too (the test is uniform, as the subgroup operations need).

import type { Grid } from '../program.ts';
import type { ConvGeometry } from './geometry.ts';
import { gemmSize, PARAMS_WGSL, PHASE_WGSL, WEIGHT_GRAD_PARAMS_WGSL, WORKGROUP, type ConvPass } from './conv2d-common.ts';
import { directBlock } from './conv2d-direct.ts';

/** The fewest lanes a WebGPU subgroup has (the spec's bound on subgroupMinSize): the builders' default. */
export const MIN_SUBGROUP_SIZE = 4;

/** The lanes that hand values round for a TN-wide block (lanes ≥ 1: the subgroups' smallest size), and how many values each loads. */
export function sharingLanes(tn: number, lanes: number): { l: number; loads: number } {
  if (!(Number.isInteger(lanes) && lanes >= 1)) throw new RangeError(`subgroup kernel: a subgroup size of ${lanes} lanes is not a whole number ≥ 1`);
  const l = Math.min(lanes, tn);
  return { l, loads: Math.ceil(tn / l) };
}

/** Row blocks per column block in the subgroup layout: padded to whole workgroups. */
function paddedRowBlocks(rowBlocks: number): number {
  return Math.ceil(rowBlocks / WORKGROUP) * WORKGROUP;
}

/** The natural grid of a subgroup kernel: every column block gets whole workgroups of row blocks, `z` slices deep. */
export function subgroupTiles(rows: number, cols: number, tm: number, tn: number, z: number): { tiles: Grid; colBlocks: number } {
  const colBlocks = Math.ceil(cols / tn);
  return { tiles: [(paddedRowBlocks(Math.ceil(rows / tm)) * colBlocks) / WORKGROUP, 1, z], colBlocks };
}

/**
 * Whether the subgroup kernel of a pass is faster than direct there (the kernel policy asks, for
 * 'auto'; named, the subgroup kernel runs on any shape, correct but perhaps slower). It pays
 * where there is something to share and little padding: blocks at least 8 columns wide (a
 * narrower block shares fewer values than its lanes), and rows padded to whole workgroups at most
 * doubling the work (a 1-input-channel weight-gradient has 25 rows, 4 blocks padded to 64), on
 * subgroups of at least the block's width (`lanes`: the device's subgroupMinSize), the one-load
 * layout it was measured in. docs/kernels.md has the measurements.
 */
export function subgroupPays(pass: ConvPass, g: ConvGeometry, lanes: number): boolean {
  const { rows, cols } = gemmSize(pass, g);
  const { tm, tn } = directBlock(cols);
  const rowBlocks = Math.ceil(rows / tm);
  // Measured with one load per step (subgroups of at least TN lanes); narrower subgroups load more.
  return tn >= 8 && lanes >= tn && paddedRowBlocks(rowBlocks) <= 2 * rowBlocks;
}

// The output block of an invocation, in the thread layout above.
const BLOCK_WGSL = /* wgsl */ `
// The output block of this invocation: rows m0 … m0+TM−1, columns n0 … n0+TN−1.
struct Block { m0: u32, n0: u32, rows: u32, valid: bool }
fn paddedRowBlocks(rows: u32) -> u32 { return ((rows + TM - 1u) / TM + ${WORKGROUP - 1}u) / ${WORKGROUP}u * ${WORKGROUP}u; }
// The workgroup's first column (uniform: WGSL's analysis must see that lid plays no part).
fn sharedColumn(tile: Tile, rows: u32) -> u32 {
  return (tile.id.x * ${WORKGROUP}u / paddedRowBlocks(rows)) * TN;
}
fn blockOf(tile: Tile, lid: u32, rows: u32) -> Block {
  let m0 = (tile.id.x * ${WORKGROUP}u % paddedRowBlocks(rows) + lid) * TM;
  return Block(m0, sharedColumn(tile, rows), rows, m0 < rows);
}`;

// The sharing of the column operand, also the window kernels' (conv2d-window.ts), written into the
// WGSL of each kernel:
// the columns this lane loads for its subgroup: lane l, load r holds column n0 + (l + r·L) mod TN
// (clamped to the last column), `cols` the GEMM's columns, blk.n0 the block's first column.
export function laneColumns(tn: number, lanes: number, cols: string): string {
  const { l, loads } = sharingLanes(tn, lanes);
  return Array.from({ length: loads }, (_, r) => `let lane${r} = min(blk.n0 + ${r === 0 ? 'sid' : `(sid + ${r * l}u)`} % TN, ${cols} - 1u);`).join('\n  ');
}

// The step's loads, `load` giving the address of a lane's column.
export function laneLoads(tn: number, lanes: number, load: (lane: string) => string): string {
  const { loads } = sharingLanes(tn, lanes);
  return Array.from({ length: loads }, (_, r) => `let mine${r} = ${load(`lane${r}`)};`).join(' ');
}

// The step's TN column values from the ones the lanes loaded: column j from lane j mod L, its
// load j / L. subgroupBroadcast takes a constant lane, so the TN broadcasts are written out.
export function broadcasts(tn: number, lanes: number): string {
  const { l } = sharingLanes(tn, lanes);
  return Array.from({ length: tn }, (_, j) => `subgroupBroadcast(mine${Math.floor(j / l)}, ${j % l}u)`).join(', ');
}

/** Forward: a = x [batch, inH, inW, inC], b = w [kH, kW, inC, outC], out = y [batch, outH, outW, outC]. */
export function subgroupForwardWgsl(tm: number, tn: number, lanes = MIN_SUBGROUP_SIZE): string {
  return /* wgsl */ `enable subgroups;
${PARAMS_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
${BLOCK_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let rows = params.batch * params.outH * params.outW;
  let blk = blockOf(tile, lid, rows);
  if (sharedColumn(tile, rows) >= params.outC) { return; }
  ${laneColumns(tn, lanes, 'params.outC')}
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
        ${laneLoads(tn, lanes, (lane) => `b[wAt + ${lane}]`)}
        var bv = array<f32, TN>(${broadcasts(tn, lanes)});
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
export function subgroupInputGradWgsl(tm: number, tn: number, lanes = MIN_SUBGROUP_SIZE): string {
  return /* wgsl */ `enable subgroups;
${PARAMS_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
${BLOCK_WGSL}
${PHASE_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let p = phaseOf(tile.id.z);
  let rows = params.batch * p.nH * p.nW;
  let blk = blockOf(tile, lid, rows);
  if (sharedColumn(tile, rows) >= params.inC) { return; }
  ${laneColumns(tn, lanes, 'params.inC')}
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
        ${laneLoads(tn, lanes, (lane) => `b[(tapAt + ${lane}) * params.outC + c]`)}
        var bv = array<f32, TN>(${broadcasts(tn, lanes)});
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
export function subgroupWeightGradWgsl(tm: number, tn: number, lanes = MIN_SUBGROUP_SIZE): string {
  return /* wgsl */ `enable subgroups;
${WEIGHT_GRAD_PARAMS_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
${BLOCK_WGSL}
override SHARED_TAP: bool = false;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let rows = params.kH * params.kW * params.inC;
  let blk = blockOf(tile, lid, rows);
  if (sharedColumn(tile, rows) >= params.outC) { return; }
  ${laneColumns(tn, lanes, 'params.outC')}
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
  let kStart = tile.id.z * params.chunk;
  let kEnd = min(kStart + params.chunk, pixels);
  var ow = kStart % params.outW;
  var oh = (kStart / params.outW) % params.outH;
  var xBatch = (kStart / (params.outW * params.outH)) * params.inH * params.inW * params.inC;
  let batchStride = params.inH * params.inW * params.inC;
  var acc: array<array<f32, TN>, TM>;
  for (var k = kStart; k < kEnd; k++) {
    ${laneLoads(tn, lanes, (lane) => `b[k * params.outC + ${lane}]`)}
    var bv = array<f32, TN>(${broadcasts(tn, lanes)});
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
