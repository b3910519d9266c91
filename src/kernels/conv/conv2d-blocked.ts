// The workgroup-memory kernel of the convolution: matmul.ts's v3 `blocked` over the implicit
// GEMMs (conv2d.ts explains them and builds the Programs). 256 invocations stage a 64×8 slice of
// the im2col matrix and an 8×64 slice of the other operand in workgroup memory, then each
// computes a 4×4 block of the workgroup's 64×64 output tile from it, so every global load is
// reused 16 times. The im2col address of every staged element is computed with divisions.
//
// One body serves the three passes; what differs is the addressing, which each pass supplies as
// one block of WGSL (as matmul's rungs share loadA and loadB):
//   gemmOf(z)            the GEMM of z-slice z: m × n, k running over [kBegin, kEnd)
//   rowInfo(g, m)        the per-row part of row m's im2col addresses (computed once per loaded row)
//   loadA(g, info, k)    element (m, k) of the im2col operand, zero outside the image
//   loadB(g, k, n)       element (k, n) of the other operand
//   outIndex(g, m)       where output row m starts
// The kernel is blockedWgsl(pass): the pass's block (FORWARD_WGSL, INPUT_GRAD_WGSL or
// WEIGHT_GRAD_WGSL, below it), then the body.
//
// Thread layout: 16×16 invocations per workgroup, one 64×64 output tile per workgroup, natural
// grid (⌈n/64⌉, ⌈m/64⌉, z) (blockedTiles), launched folded past 65,535 workgroups a dimension
// (foldGrid in ../program.ts; the few workgroups past the last tile leave together, before the
// barriers). Every load and store is bounds-checked, so any shape is correct; outputs with fewer
// than BLOCKED_MIN_COLUMNS columns leave most of the tile idle.

import type { Grid } from '../program.ts';
import { PARAMS_WGSL, PHASE_WGSL, WEIGHT_GRAD_PARAMS_WGSL, type ConvPass } from './conv2d-common.ts';

const BM = 64;
const BN = 64;
// k advances 8 at a time, not the matmul's 16: no slower here, and the unrolled inner loop is half
// as long, so llvmpipe compiles each pipeline several times faster (docs/kernels.md).
const BK = 8;

/**
 * Below this many output columns (channels) a 64-wide tile is mostly padding: the kernel is
 * correct there but slow (docs/kernels.md), a policy's cue to run another variant.
 */
export const BLOCKED_MIN_COLUMNS = 16;

/** The natural grid of the blocked kernel over an m × n GEMM, `z` slices deep. */
export function blockedTiles(m: number, n: number, z: number): Grid {
  return [Math.ceil(n / BN), Math.ceil(m / BM), z];
}

/** Invocations in one z-slice of that launch. */
export function blockedInvocations(m: number, n: number): number {
  return Math.ceil(m / BM) * Math.ceil(n / BN) * 256;
}

/** The whole kernel of a pass: its addressing block, then the shared body. */
export function blockedWgsl(pass: ConvPass): string {
  const { addressing, epilogue } = PASSES[pass];
  return /* wgsl */ `
${addressing}
// Stored k-major, so the inner loop reads 4 consecutive floats of A and of B for one k.
var<workgroup> tileA: array<f32, ${BK * BM}>;
var<workgroup> tileB: array<f32, ${BK * BN}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) t: u32) {
  let tile = tileOf(wid, nwg);
  // Whole workgroups past the last tile, or past the end of this z-slice, leave together
  // (uniform: no barrier hazard).
  if (!tile.valid) { return; }
  let g = gemmOf(tile.id.z);
  let rowBase = tile.id.y * ${BM}u;
  let colBase = tile.id.x * ${BN}u;
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
        ${epilogue}
        out[at + col] = v;
      }
    }
  }
}`;
}

// Forward: a = x [batch, inH, inW, inC], b = w [kH, kW, inC, outC] (already the [K, N] matrix),
// out = y. m = (b, oh, ow), k = (kh, kw, ic).
const FORWARD_WGSL = /* wgsl */ `
${PARAMS_WGSL}

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
fn outIndex(g: Gemm, m: u32) -> u32 { return m * params.outC; }`;

// Input-gradient, one phase per z-slice: a = dy, b = w read transposed, out = dx.
// m = the phase's pixels (b, ih, iw), k = the phase's taps and output channels (jh, jw, oc).
const INPUT_GRAD_WGSL = /* wgsl */ `
${PARAMS_WGSL}
${PHASE_WGSL}

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
}`;

// Weight-gradient, one split of K per z-slice: a = x read as Xᵀ, b = dy (already the [K, N]
// matrix), out = partial dw [splits, kH, kW, inC, outC]. m = (kh, kw, ic), k = (b, oh, ow).
const WEIGHT_GRAD_WGSL = /* wgsl */ `
${WEIGHT_GRAD_PARAMS_WGSL}

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
fn outIndex(g: Gemm, m: u32) -> u32 { return (g.z * g.m + m) * params.outC; }`;

// Each pass's addressing block, and what its store does to a sum before writing it (the
// weight-gradient writes partial sums, with no epilogue).
const FUSED_EPILOGUE = 'if (HAS_BIAS) { v += bias[col]; }\n        v = activate(v, params.alpha);';
const PASSES: Record<ConvPass, { addressing: string; epilogue: string }> = {
  forward: { addressing: FORWARD_WGSL, epilogue: FUSED_EPILOGUE },
  inputGrad: { addressing: INPUT_GRAD_WGSL, epilogue: FUSED_EPILOGUE },
  weightGrad: { addressing: WEIGHT_GRAD_WGSL, epilogue: '' },
};
