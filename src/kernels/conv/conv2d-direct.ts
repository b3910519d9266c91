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
// the inner loops need no bounds checks. The block's registers are named, one statement per row
// or column of the block (`each`; ../unroll.ts says why: on wgpu an array indexed in a loop
// stays in memory): c{i}_{j} accumulates output row m0+i, column n0+j; a{i} and b{j} are one
// step's operands of row i and column j; row{i}, col{j}, tap{i} where they are read.
//
// Thread layout: 64 invocations per workgroup over a linear list of blocks; invocation i of the
// launch owns row block i / colBlocks and column block i % colBlocks, so neighbouring invocations
// share the rows (same input pixels: one broadcast load) and read neighbouring channels of the
// weights (coalesced). Natural grid: directTiles, that line of workgroups in x, the pass's phases
// or splits in z; launched folded past 65,535 workgroups a dimension (foldGrid in ../program.ts),
// the few workgroups past the last tile returning at once.

import type { Grid } from '../program.ts';
import { each, fmaBlock, zeroBlock } from '../unroll.ts';
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
// Where output row m's receptive field starts (ih, iw may be negative: padding), and its image.
struct Row { xBatch: u32, ih: i32, iw: i32 }
fn rowOf(m: u32) -> Row {
  let ow = m % params.outW;
  let t = m / params.outW;
  return Row((t / params.outH) * params.inH * params.inW * params.inC,
             i32((t % params.outH) * params.strideH) - i32(params.padTop),
             i32(ow * params.strideW) - i32(params.padLeft));
}
// What a row reads at tap (kh, kw): the address of its input channel 0, and whether that pixel is
// inside the image (outside it reads zeros).
struct Tap { at: u32, inside: bool }
fn tapOf(r: Row, kh: u32, kw: u32) -> Tap {
  let ih = r.ih + i32(kh);
  let iw = r.iw + i32(kw);
  let inside = ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW);
  return Tap(select(0u, r.xBatch + (u32(ih) * params.inW + u32(iw)) * params.inC, inside), inside);
}
// y[m][n] = activate(v + bias), for the rows and channels inside y.
fn put(m: u32, n: u32, v: f32) {
  if (m < params.batch * params.outH * params.outW && n < params.outC) {
    var r = v;
    if (HAS_BIAS) { r += bias[n]; }
    out[m * params.outC + n] = activate(r, params.alpha);
  }
}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let rows = params.batch * params.outH * params.outW;
  let blk = blockOf(tile, lid, rows);
  if (!blk.valid) { return; }
${each(tm, (i) => `  let row${i} = rowOf(min(blk.m0 + ${i}u, rows - 1u));`)}
${each(tn, (j) => `  let col${j} = min(blk.n0 + ${j}u, params.outC - 1u);`)}
${zeroBlock(tm, tn)}
  for (var kh = 0u; kh < params.kH; kh++) {
    for (var kw = 0u; kw < params.kW; kw++) {
${each(tm, (i) => `      let tap${i} = tapOf(row${i}, kh, kw);`)}
      var wAt = (kh * params.kW + kw) * params.inC * params.outC;
      for (var c = 0u; c < params.inC; c++) {
${each(tn, (j) => `        let b${j} = b[wAt + col${j}];`)}
${fmaBlock(tm, tn, '        ', (i) => `select(0.0, a[tap${i}.at + c], tap${i}.inside)`)}
        wAt += params.outC;
      }
    }
  }
${each(tm, (i) => `  ${each(tn, (j) => `put(blk.m0 + ${i}u, blk.n0 + ${j}u, c${i}_${j});`, ' ')}`)}
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
// Row m of phase p: its image's first element of dy, the output pixel (qh, qw) that tap (jh, jw) = (0, 0)
// reads (tap (jh, jw) reads (qh − jh, qw − jw)), and where its dx pixel sits.
struct Row { dyBatch: u32, qh: i32, qw: i32, dxAt: u32 }
fn rowOf(p: Phase, m: u32) -> Row {
  let iwI = m % p.nW;
  let t = m / p.nW;
  let bIdx = t / p.nH;
  let ih = p.ih0 + (t % p.nH) * params.strideH;
  let iw = p.iw0 + iwI * params.strideW;
  return Row(bIdx * params.outH * params.outW * params.outC,
             i32((ih + params.padTop) / params.strideH), i32((iw + params.padLeft) / params.strideW),
             ((bIdx * params.inH + ih) * params.inW + iw) * params.inC);
}
// What a row reads at tap (jh, jw): the address of its dy channel 0, and whether that pixel is inside dy.
struct Tap { at: u32, inside: bool }
fn tapOf(r: Row, jh: u32, jw: u32) -> Tap {
  let oh = r.qh - i32(jh);
  let ow = r.qw - i32(jw);
  let inside = oh >= 0 && oh < i32(params.outH) && ow >= 0 && ow < i32(params.outW);
  return Tap(select(0u, r.dyBatch + (u32(oh) * params.outW + u32(ow)) * params.outC, inside), inside);
}
// dx at row r (row m of the phase's rows), channel n = activate(v + bias), for the rows and channels inside.
fn put(r: Row, m: u32, rows: u32, n: u32, v: f32) {
  if (m < rows && n < params.inC) {
    var x = v;
    if (HAS_BIAS) { x += bias[n]; }
    out[r.dxAt + n] = activate(x, params.alpha);
  }
}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let p = phaseOf(tile.id.z);
  let rows = params.batch * p.nH * p.nW;
  let blk = blockOf(tile, lid, rows);
  if (!blk.valid) { return; }
${each(tm, (i) => `  let row${i} = rowOf(p, min(blk.m0 + ${i}u, rows - 1u));`)}
${each(tn, (j) => `  let col${j} = min(blk.n0 + ${j}u, params.inC - 1u);`)}
${zeroBlock(tm, tn)}
  for (var jh = 0u; jh < p.tapsH; jh++) {
    for (var jw = 0u; jw < p.tapsW; jw++) {
      let kh = p.ph + jh * params.strideH;
      let kw = p.pw + jw * params.strideW;
${each(tm, (i) => `      let tap${i} = tapOf(row${i}, jh, jw);`)}
      let tapAt = (kh * params.kW + kw) * params.inC;
      for (var c = 0u; c < params.outC; c++) {
${each(tn, (j) => `        let b${j} = b[(tapAt + col${j}) * params.outC + c];`)}
${fmaBlock(tm, tn, '        ', (i) => `select(0.0, a[tap${i}.at + c], tap${i}.inside)`)}
      }
    }
  }
${each(tm, (i) => `  ${each(tn, (j) => `put(row${i}, blk.m0 + ${i}u, rows, blk.n0 + ${j}u, c${i}_${j});`, ' ')}`)}
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
// dw[m][n] of this split = v, for the rows and channels inside dw.
fn put(split: u32, rows: u32, m: u32, n: u32, v: f32) {
  if (m < rows && n < params.outC) { out[(split * rows + m) * params.outC + n] = v; }
}
// Row m of dw: its tap's offset from an output pixel's receptive-field origin (may be negative: padding), and its input channel.
struct Row { tapH: i32, tapW: i32, chan: u32 }
fn rowOf(m: u32) -> Row {
  let t = m / params.inC;
  return Row(i32(t / params.kW) - i32(params.padTop), i32(t % params.kW) - i32(params.padLeft), m % params.inC);
}
// x at the row's tap of the output pixel whose receptive field starts at (ihBase, iwBase) in image xBatch; zero outside the image.
fn xAt(r: Row, xBatch: u32, ihBase: i32, iwBase: i32) -> f32 {
  let ih = ihBase + r.tapH;
  let iw = iwBase + r.tapW;
  let inside = ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW);
  let at = select(0u, xBatch + (u32(ih) * params.inW + u32(iw)) * params.inC + r.chan, inside);
  return select(0.0, a[at], inside);
}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let rows = params.kH * params.kW * params.inC;
  let blk = blockOf(tile, lid, rows);
  if (!blk.valid) { return; }
${each(tm, (i) => `  let row${i} = rowOf(min(blk.m0 + ${i}u, rows - 1u));`)}
${each(tn, (j) => `  let col${j} = min(blk.n0 + ${j}u, params.outC - 1u);`)}
  // This split's pixels k = (bIdx, oh, ow), walked in order without divisions.
  let pixels = params.batch * params.outH * params.outW;
  let kStart = tile.id.z * params.chunk;
  let kEnd = min(kStart + params.chunk, pixels);
  var ow = kStart % params.outW;
  var oh = (kStart / params.outW) % params.outH;
  var xBatch = (kStart / (params.outW * params.outH)) * params.inH * params.inW * params.inC;
  let batchStride = params.inH * params.inW * params.inC;
${zeroBlock(tm, tn)}
  for (var k = kStart; k < kEnd; k++) {
${each(tn, (j) => `    let b${j} = b[k * params.outC + col${j}];`)}
    let ihBase = i32(oh * params.strideH);
    let iwBase = i32(ow * params.strideW);
    if (SHARED_TAP) {
      let ih = ihBase + row0.tapH;
      let iw = iwBase + row0.tapW;
      if (ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW)) {
        let at = xBatch + (u32(ih) * params.inW + u32(iw)) * params.inC + row0.chan;
${fmaBlock(tm, tn, '        ', (i) => `a[at + ${i}u]`)}
      }
    } else {
${fmaBlock(tm, tn, '      ', (i) => `xAt(row${i}, xBatch, ihBase, iwBase)`)}
    }
    ow++;
    if (ow == params.outW) {
      ow = 0u;
      oh++;
      if (oh == params.outH) { oh = 0u; xBatch += batchStride; }
    }
  }
${each(tm, (i) => `  ${each(tn, (j) => `put(tile.id.z, rows, blk.m0 + ${i}u, blk.n0 + ${j}u, c${i}_${j});`, ' ')}`)}
}`;
}
