// The subgroup kernels (conv2d-subgroup.ts) with the row operand read once per window instead of
// once per tap: forward and input-gradient, each one whole WGSL module of its block shape and its
// kernel's width and stride. Its weight-gradient is the subgroup kernel's (conv2d.ts). The
// prologue and epilogue repeat the subgroup kernels' on purpose, so that each kernel reads whole.
//
// In the direct and subgroup kernels the TM rows of a block are any TM consecutive GEMM rows, and
// every tap of every row loads its own input value: TM loads per tap and channel. Here the TM rows
// of a block are TM neighbouring pixels of one image row, ow0 … ow0+TM−1. Along that row, tap kw of
// pixel ow reads input column ow·s + kw − padLeft, so the TM pixels and the kW taps of one kernel
// row together read only WIN = (TM − 1)·s + kW neighbouring inputs, not TM·kW. A step of the
// inner loop is now one kernel row kh and one input channel c:
//
//   load   win[0 … WIN−1]  = x[b, oh·s + kh − padTop, ow0·s − padLeft + 0 … WIN−1, c]   (zero outside)
//   for kw in 0 … kW−1:    the TN weights w[kh, kw, c, n0 … n0+TN−1], shared within the subgroup
//     for i, j:            acc[i][j] += win[i·s + kw] · w[kh, kw, c, n0 + j]
//
// so WIN + kW loads per kW·TM·TN FMAs instead of kW·(TM + 1). For a 3×3 layer at stride 1 and
// TM = 7 that is 9 + 3 loads per 168 FMAs, against 24 + 3 for the subgroup kernel; at stride 2,
// 15 + 3; for 5×5 at stride 1, 11 + 5 against 35 + 5. On a CPU driver, where each load is a gather
// of one value per SIMD lane and costs more than the FMAs it feeds, that is most of the time saved
// (docs/kernels.md has the measurements). The window lives in a small array indexed by constants
// once the driver unrolls the kw and i loops, which is why kW, the stride and TM are constants of
// the module (one pipeline per layer shape).
//
// The input-gradient reads dy the same way within one phase (conv2d.ts explains phases): its TM
// rows are TM neighbouring pixels of one phase row, iw = iw0 + (iwI0 + i)·s, which read dy at
// output column qw0 + i − jw for their taps jw = 0 … tapsW−1 (kw = pw + jw·s): a window of
// TM + KT − 1 values, KT = ⌈kW/s⌉ the most taps a phase has.
//
// The summation order is kh, c, kw (direct's is kh, kw, c), so the results may differ from
// direct's and subgroup's in the last bits; each kernel is checked against the float64 references.
//
// Thread layout: the subgroup kernels' (64 invocations per workgroup; a whole workgroup shares one
// block of TN output channels and owns 64 consecutive row blocks, padded to whole workgroups,
// the rows past the end computed on clamped addresses and never stored), with row blocks of
// ⌈W/TM⌉ per image row instead of TM consecutive GEMM rows. The block's width TM is best a
// divisor of the row (windowRows: 7 for the 7-, 14- and 28-wide rows of MNIST's layers), since
// the last block of a row computes its slots past the row's end and stores none of them.
// Natural grid: windowTiles, the phases in z; launched folded (foldGrid in ../program.ts).

import type { Grid } from '../program.ts';
import type { ConvGeometry } from './geometry.ts';
import { PARAMS_WGSL, PHASE_WGSL, WORKGROUP, type ConvPass } from './conv2d-common.ts';
import { directBlock } from './conv2d-direct.ts';
import { broadcasts, laneColumns, laneLoads, MIN_SUBGROUP_SIZE } from './conv2d-subgroup.ts';

/** The image rows and the row width a pass's blocks run along: output rows (forward), or the busiest phase's rows (input-gradient). */
export function windowRowsOf(pass: Exclude<ConvPass, 'weightGrad'>, g: ConvGeometry): { rows: number; width: number; cols: number } {
  if (pass === 'forward') return { rows: g.batch * g.outH, width: g.outW, cols: g.outC };
  return { rows: g.batch * Math.ceil(g.inH / g.strideH), width: Math.ceil(g.inW / g.strideW), cols: g.inC };
}

/**
 * The default block of a window kernel on rows `width` wide: TN as direct's, and TM from 8 down
 * to 4 the one that leaves the fewest unused slots at the ends of the rows (the larger on a tie):
 * 7 on rows of 7, 14 and 28 pixels, 8 on rows of 8, 16 and 32. Rows under 4 pixels get TM = width.
 */
export function windowBlock(width: number, cols: number): { tm: number; tn: number } {
  const tn = directBlock(cols).tn;
  if (width < 4) return { tm: Math.max(1, width), tn };
  let best = 8;
  for (let tm = 8; tm >= 4; tm--) {
    if (Math.ceil(width / tm) * tm < Math.ceil(width / best) * best) best = tm;
  }
  return { tm: best, tn };
}

/**
 * Whether the window kernel of a pass is the one to run there (the kernel policy asks, for
 * 'auto'; named, it runs on any shape): the forward and input-gradient passes, on subgroups of at
 * least the block's width (`lanes`: the device's subgroupMinSize; one load per step, the layout
 * measured), with rows padded to whole workgroups at most doubling the work. Measured faster than
 * direct and subgroup on every forward and input-gradient pass of the three models' layers,
 * 1-channel ones included (docs/kernels.md).
 */
export function windowPays(pass: ConvPass, g: ConvGeometry, lanes: number): boolean {
  if (pass === 'weightGrad') return false;
  const w = windowRowsOf(pass, g);
  const { tm, tn } = windowBlock(w.width, w.cols);
  const rowBlocks = w.rows * Math.ceil(w.width / tm);
  return lanes >= tn && Math.ceil(rowBlocks / WORKGROUP) * WORKGROUP <= 2 * rowBlocks;
}

/** The natural grid of a window kernel: every column block gets whole workgroups of row blocks (⌈width/TM⌉ per row), `z` slices deep. */
export function windowTiles(rows: number, width: number, cols: number, tm: number, tn: number, z: number): { tiles: Grid; colBlocks: number } {
  const colBlocks = Math.ceil(cols / tn);
  const rowBlocks = rows * Math.ceil(width / tm);
  return { tiles: [(Math.ceil(rowBlocks / WORKGROUP) * colBlocks), 1, z], colBlocks };
}

// The block of this invocation in the layout above: row block r of `rowBlocks` (clamped; !valid past
// the end), and the workgroup's first column n0, from a function of its own: WGSL's uniformity
// analysis sees a struct as one value, and n0 must be seen to be uniform (from the workgroup alone).
const BLOCK_WGSL = /* wgsl */ `
fn paddedRowBlocks(rowBlocks: u32) -> u32 { return (rowBlocks + ${WORKGROUP - 1}u) / ${WORKGROUP}u * ${WORKGROUP}u; }
fn sharedColumn(tile: Tile, rowBlocks: u32) -> u32 { return (tile.id.x * ${WORKGROUP}u / paddedRowBlocks(rowBlocks)) * TN; }
struct Block { r: u32, n0: u32, valid: bool }
fn blockOf(tile: Tile, lid: u32, rowBlocks: u32) -> Block {
  let first = tile.id.x * ${WORKGROUP}u % paddedRowBlocks(rowBlocks);
  return Block(min(first + lid, rowBlocks - 1u), sharedColumn(tile, rowBlocks), first + lid < rowBlocks);
}`;

/** Forward: a = x [batch, inH, inW, inC], b = w [kH, kW, inC, outC], out = y [batch, outH, outW, outC]; kW and the stride along W are the module's. */
export function windowForwardWgsl(tm: number, tn: number, kW: number, strideW: number, lanes = MIN_SUBGROUP_SIZE): string {
  return /* wgsl */ `enable subgroups;
${PARAMS_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
const KW = ${kW}u;
const SW = ${strideW}u;
const WIN = ${(tm - 1) * strideW + kW}u;
${BLOCK_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let perRow = (params.outW + TM - 1u) / TM;
  let rowBlocks = params.batch * params.outH * perRow;
  let blk = blockOf(tile, lid, rowBlocks);
  if (sharedColumn(tile, rowBlocks) >= params.outC) { return; }
  ${laneColumns(tn, lanes, 'params.outC')}
  // This block: pixels ow0 … ow0+TM−1 of output row oh of image bIdx (t = bIdx·outH + oh).
  let t = blk.r / perRow;
  let ow0 = (blk.r % perRow) * TM;
  let xBatch = (t / params.outH) * params.inH * params.inW * params.inC;
  let ih0 = i32((t % params.outH) * params.strideH) - i32(params.padTop);
  // The window's input columns, and which of them are inside the image (the rest is padding).
  var winAt: array<u32, WIN>;
  var winIn: array<bool, WIN>;
  for (var s = 0u; s < WIN; s++) {
    let iw = i32(ow0 * SW + s) - i32(params.padLeft);
    winIn[s] = iw >= 0 && iw < i32(params.inW);
    winAt[s] = select(0u, u32(iw) * params.inC, winIn[s]);
  }
  var acc: array<array<f32, TN>, TM>;
  for (var kh = 0u; kh < params.kH; kh++) {
    let ih = ih0 + i32(kh);
    let rowIn = ih >= 0 && ih < i32(params.inH);
    let rowAt = select(0u, xBatch + u32(ih) * params.inW * params.inC, rowIn);
    for (var c = 0u; c < params.inC; c++) {
      var win: array<f32, WIN>;
      for (var s = 0u; s < WIN; s++) { win[s] = select(0.0, a[rowAt + winAt[s] + c], rowIn && winIn[s]); }
      for (var kw = 0u; kw < KW; kw++) {
        let wAt = ((kh * KW + kw) * params.inC + c) * params.outC;
        ${laneLoads(tn, lanes, (lane) => `b[wAt + ${lane}]`)}
        var bv = array<f32, TN>(${broadcasts(tn, lanes)});
        for (var i = 0u; i < TM; i++) {
          let av = win[i * SW + kw];
          for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
        }
      }
    }
  }
  if (!blk.valid) { return; }
  let m0 = t * params.outW + ow0;
  for (var i = 0u; i < TM; i++) {
    if (ow0 + i >= params.outW) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = blk.n0 + j;
      if (n < params.outC) {
        var v = acc[i][j];
        if (HAS_BIAS) { v += bias[n]; }
        v = activate(v, params.alpha);
        out[(m0 + i) * params.outC + n] = v;
      }
    }
  }
}`;
}

/**
 * Input-gradient, one phase per z-slice: a = dy [batch, outH, outW, outC], b = w [kH, kW, inC, outC],
 * out = dx [batch, inH, inW, inC]; KT = ⌈kW/strideW⌉, the most taps along W a phase has, is the module's.
 */
export function windowInputGradWgsl(tm: number, tn: number, kW: number, strideW: number, lanes = MIN_SUBGROUP_SIZE): string {
  const kt = Math.ceil(kW / strideW);
  return /* wgsl */ `enable subgroups;
${PARAMS_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
const KT = ${kt}u;
const WIN = ${tm + kt - 1}u;
${BLOCK_WGSL}
${PHASE_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let tile = tileOf(wid, nwg);
  if (!tile.valid) { return; }
  let p = phaseOf(tile.id.z);
  let perRow = (p.nW + TM - 1u) / TM;
  let rowBlocks = params.batch * p.nH * perRow;
  if (rowBlocks == 0u) { return; } // a phase with no pixels (a stride larger than the input)
  let blk = blockOf(tile, lid, rowBlocks);
  if (sharedColumn(tile, rowBlocks) >= params.inC) { return; }
  ${laneColumns(tn, lanes, 'params.inC')}
  // This block: phase pixels iwI0 … iwI0+TM−1 of phase row ihI of image bIdx (t = bIdx·nH + ihI).
  let t = blk.r / perRow;
  let iwI0 = (blk.r % perRow) * TM;
  let bIdx = t / p.nH;
  let ih = p.ih0 + (t % p.nH) * params.strideH;
  let iw0 = p.iw0 + iwI0 * params.strideW;
  let dyBatch = bIdx * params.outH * params.outW * params.outC;
  let qh = i32((ih + params.padTop) / params.strideH); // the output row that tap jh = 0 reads; tap jh reads qh − jh
  // Slot s of the window is output column qw0 − (KT − 1) + s; pixel i's tap jw reads slot i − jw + KT − 1.
  let qwFirst = i32((iw0 + params.padLeft) / params.strideW) - i32(KT - 1u);
  var winAt: array<u32, WIN>;
  var winIn: array<bool, WIN>;
  for (var s = 0u; s < WIN; s++) {
    let ow = qwFirst + i32(s);
    winIn[s] = ow >= 0 && ow < i32(params.outW);
    winAt[s] = select(0u, u32(ow) * params.outC, winIn[s]);
  }
  var acc: array<array<f32, TN>, TM>;
  for (var jh = 0u; jh < p.tapsH; jh++) {
    let oh = qh - i32(jh);
    let rowIn = oh >= 0 && oh < i32(params.outH);
    let rowAt = select(0u, dyBatch + u32(oh) * params.outW * params.outC, rowIn);
    let kh = p.ph + jh * params.strideH;
    for (var c = 0u; c < params.outC; c++) {
      var win: array<f32, WIN>;
      for (var s = 0u; s < WIN; s++) { win[s] = select(0.0, a[rowAt + winAt[s] + c], rowIn && winIn[s]); }
      for (var jw = 0u; jw < KT; jw++) {
        if (jw < p.tapsW) {
          let tapAt = (kh * params.kW + p.pw + jw * params.strideW) * params.inC;
          ${laneLoads(tn, lanes, (lane) => `b[(tapAt + ${lane}) * params.outC + c]`)}
          var bv = array<f32, TN>(${broadcasts(tn, lanes)});
          for (var i = 0u; i < TM; i++) {
            let av = win[i + KT - 1u - jw];
            for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
          }
        }
      }
    }
  }
  if (!blk.valid) { return; }
  let dxRow = ((bIdx * params.inH + ih) * params.inW) * params.inC;
  for (var i = 0u; i < TM; i++) {
    if (iwI0 + i >= p.nW) { break; }
    let dxAt = dxRow + (iw0 + i * params.strideW) * params.inC;
    for (var j = 0u; j < TN; j++) {
      let n = blk.n0 + j;
      if (n < params.inC) {
        var v = acc[i][j];
        if (HAS_BIAS) { v += bias[n]; }
        v = activate(v, params.alpha);
        out[dxAt + n] = v;
      }
    }
  }
}`;
}
