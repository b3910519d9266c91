// Winograd F(2×2, 3×3) convolution for stride-1 3×3 kernels (conv2d.ts explains the three implicit
// GEMMs and builds the Programs): the forward pass, and the input-gradient (which is also the
// transposed convolution's forward pass). The weight-gradient has no Winograd form here; the
// variant 'winograd' runs direct's weight-gradient.
//
// The idea. A 2×2 tile of outputs of a 3×3 stride-1 convolution reads a 4×4 patch d of the input
// (per input channel) and the 3×3 kernel g (per input × output channel). Written as
//
//   y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A          ⊙: elementwise product of two 4×4 matrices
//
//        ⎡ 1  0 −1  0 ⎤          ⎡  1    0    0  ⎤
//   Bᵀ = ⎢ 0  1  1  0 ⎥      G = ⎢ 1/2  1/2  1/2 ⎥      Aᵀ = ⎡ 1  1  1  0 ⎤
//        ⎢ 0 −1  1  0 ⎥          ⎢ 1/2 −1/2  1/2 ⎥           ⎣ 0  1 −1 −1 ⎦
//        ⎣ 0  1  0 −1 ⎦          ⎣  0    0    1  ⎦
//
// (the 1-D F(2, 3) of Lavin & Gray, 2015, nested along both axes) the tile costs 16 multiplies
// per (input channel, output channel) pair where the direct sum costs 2·2·9 = 36: 2.25× fewer.
// The transforms are the price: V = Bᵀ d B is 32 additions per input channel and tile, shared by
// every output channel; U = G g Gᵀ is computed once per (input, output channel) for the whole
// launch; Aᵀ m A is 24 additions per output channel and tile, once after the whole reduction. So
// for C input and K output channels a tile costs 16·C·K multiply-adds + 32·C + 24·K additions,
// against 36·C·K multiply-adds directly: with C = K = 32, 17,920 operations instead of 36,864.
// The reduction over input channels happens in the transformed domain (the 16 products are
// summed over channels before Aᵀ · A, which is linear), as in every Winograd convolution.
//
// The input-gradient of a stride-1 convolution is itself a stride-1 convolution: dy with the
// kernel flipped in both spatial axes, input and output channels swapped, and padding
// kH − 1 − padTop before (a 'full'-style convolution of the gradient). winogradGeometry below
// rewrites the input-gradient's geometry as that forward convolution, and the weight transform
// reads g flipped and transposed, so one main kernel serves both passes.
//
// Two launches (src/core/conv-ops.ts launches both; the Program of the main kernel binds the
// transformed weights U where the other variants bind w):
//   1. weights   one invocation per (ic, oc): U[e, ic, oc] = (G g Gᵀ)[e], e = 0 … 15 (row-major
//                4×4), so that for one e and ic the output channels are contiguous.
//   2. main      one invocation per 2×2 output tile × TN output channels. For each input channel
//                it loads the tile's 4×4 input patch (zero outside the image: padding and the
//                partial tiles at the bottom and right edges of an odd-sized output), transforms
//                it (Bᵀ d B), and accumulates V ⊙ U into 16·TN sums; then Aᵀ m A, bias and
//                activation, and the (up to) 4·TN stores of the tile. No workgroup memory, no
//                barriers (the house style for the CPU driver, as direct): the 16 loads of the
//                patch and its transform are shared by TN output channels, and the 16·TN loads of
//                U by nothing (the caches share them between the invocations of neighbouring
//                tiles).
// Thread layout of the main kernel: 64 invocations per workgroup over a linear list; invocation i
// owns tile i / colBlocks and channel block i % colBlocks (as direct: neighbours read the same
// patch and neighbouring channels of U). Tiles run (batch, tile row, tile column), row-major.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Grid } from '../program.ts';
import { PARAMS_WGSL, WORKGROUP, type ConvPass } from './conv2d-common.ts';
import type { ConvGeometry } from './geometry.ts';

/** The shape rule of 'winograd', in words (the builders' RangeError quotes it). */
export const WINOGRAD_RULE = 'winogradFits: stride 1 and a 3×3 kernel, forward or input-gradient';

/** Whether 'winograd' has a kernel for this pass and shape: stride 1, 3×3, forward or input-gradient. */
export function winogradFits(pass: ConvPass, g: ConvGeometry): boolean {
  return pass !== 'weightGrad' && g.strideH === 1 && g.strideW === 1 && g.kH === 3 && g.kW === 3;
}

/**
 * The forward convolution the main kernel computes for a pass: the forward pass itself, or, for
 * the input-gradient, the stride-1 convolution of dy [batch, outH, outW, outC] with the flipped,
 * channel-swapped kernel and padding k − 1 − pad before, whose output is dx [batch, inH, inW, inC].
 */
export function winogradGeometry(pass: ConvPass, g: ConvGeometry): ConvGeometry {
  if (pass === 'forward') return g;
  return {
    batch: g.batch, inH: g.outH, inW: g.outW, inC: g.outC, outH: g.inH, outW: g.inW, outC: g.inC,
    kH: g.kH, kW: g.kW, strideH: 1, strideW: 1, padTop: g.kH - 1 - g.padTop, padLeft: g.kW - 1 - g.padLeft,
  };
}

/** Output channels per invocation of the main kernel: 4 (64 sums), fewer when the layer has fewer. */
export function winogradBlock(cols: number): number {
  return Math.min(4, cols);
}

/** Tiles of the main kernel's output for geometry `f` (winogradGeometry's): batch · ⌈outH/2⌉ · ⌈outW/2⌉. */
export function winogradTiles(f: ConvGeometry): number {
  return f.batch * Math.ceil(f.outH / 2) * Math.ceil(f.outW / 2);
}

/** The launch of the main kernel: every (tile, channel block) pair once. */
export function winogradGrid(f: ConvGeometry, tn: number): { grid: Grid; colBlocks: number } {
  const colBlocks = Math.ceil(f.outC / tn);
  return { grid: linearGrid(winogradTiles(f) * colBlocks, WORKGROUP), colBlocks };
}

/** The launch of the weight transform: one invocation per (ic, oc) of geometry `f`. */
export function winogradWeightsGrid(f: ConvGeometry): Grid {
  return linearGrid(f.inC * f.outC, WORKGROUP);
}

/**
 * The weight transform, U = G g Gᵀ for every (ic, oc) of the forward convolution `f` the main
 * kernel computes. Bindings: w [3, 3, inC, outC] as given to the pass (HWIO of the original
 * convolution), U [16, f.inC, f.outC]. Uniform: f.inC, f.outC, flip (1 for the input-gradient:
 * read g rotated by 180° with the channels swapped, w[2 − r, 2 − c, oc, ic]).
 */
export function winogradWeightsWgsl(): string {
  return /* wgsl */ `
struct Params { inC: u32, outC: u32, flip: u32 }
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let pair = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  let plane = params.inC * params.outC;
  if (pair >= plane) { return; }
  let ic = pair / params.outC;
  let oc = pair % params.outC;
  // g, the 3×3 kernel of this channel pair, row-major.
  var g: array<f32, 9>;
  for (var t = 0u; t < 9u; t++) {
    if (params.flip == 1u) {
      g[t] = w[(8u - t) * plane + oc * params.inC + ic];
    } else {
      g[t] = w[t * plane + pair];
    }
  }
  // G g: 4×3, the rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 of each column.
  var s: array<f32, 12>;
  for (var c = 0u; c < 3u; c++) {
    let g0 = g[c];
    let g1 = g[3u + c];
    let g2 = g[6u + c];
    s[c] = g0;
    s[3u + c] = 0.5 * (g0 + g1 + g2);
    s[6u + c] = 0.5 * (g0 - g1 + g2);
    s[9u + c] = g2;
  }
  // (G g) Gᵀ: the same along each row, 4×4, stored as U[e, ic, oc].
  for (var r = 0u; r < 4u; r++) {
    let g0 = s[3u * r];
    let g1 = s[3u * r + 1u];
    let g2 = s[3u * r + 2u];
    let at = 4u * r * plane + pair;
    u[at] = g0;
    u[at + plane] = 0.5 * (g0 + g1 + g2);
    u[at + 2u * plane] = 0.5 * (g0 - g1 + g2);
    u[at + 3u * plane] = g2;
  }
}`;
}

/**
 * The main kernel, TN output channels per invocation, for the forward convolution whose Params
 * are given (winogradGeometry's, colBlocks the launch's). Bindings: a = x [batch, inH, inW, inC],
 * b = U [16, inC, outC] (the weight transform's output), bias [outC], out = y [batch, outH, outW, outC].
 */
export function winogradWgsl(tn: number): string {
  return /* wgsl */ `
${PARAMS_WGSL}
${LINEAR_WORKGROUP_WGSL}
const TN = ${tn}u;

// V = Bᵀ d B for a 4×4 patch d (row-major): additions only.
fn inputTransform(d: array<f32, 16>) -> array<f32, 16> {
  var t: array<f32, 16>; // Bᵀ d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3 of each column
  for (var c = 0u; c < 4u; c++) {
    t[c] = d[c] - d[8u + c];
    t[4u + c] = d[4u + c] + d[8u + c];
    t[8u + c] = d[8u + c] - d[4u + c];
    t[12u + c] = d[4u + c] - d[12u + c];
  }
  var v: array<f32, 16>; // (Bᵀ d) B: the same along each row
  for (var r = 0u; r < 4u; r++) {
    let o = 4u * r;
    v[o] = t[o] - t[o + 2u];
    v[o + 1u] = t[o + 1u] + t[o + 2u];
    v[o + 2u] = t[o + 2u] - t[o + 1u];
    v[o + 3u] = t[o + 1u] - t[o + 3u];
  }
  return v;
}

// Y = Aᵀ m A, the 2×2 outputs (y00, y01, y10, y11) of a 4×4 sum m of products.
fn outputTransform(m: array<f32, 16>) -> vec4f {
  var s: array<f32, 8>; // Aᵀ m: rows m0 + m1 + m2 and m1 − m2 − m3 of each column
  for (var c = 0u; c < 4u; c++) {
    s[c] = m[c] + m[4u + c] + m[8u + c];
    s[4u + c] = m[4u + c] - m[8u + c] - m[12u + c];
  }
  return vec4f(s[0] + s[1] + s[2], s[1] - s[2] - s[3], s[4] + s[5] + s[6], s[5] - s[6] - s[7]);
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tilesW = (params.outW + 1u) / 2u;
  let tilesH = (params.outH + 1u) / 2u;
  let item = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  let tile = item / params.colBlocks;
  if (tile >= params.batch * tilesH * tilesW) { return; }
  let n0 = (item % params.colBlocks) * TN;
  let bIdx = tile / (tilesH * tilesW);
  let oh0 = ((tile / tilesW) % tilesH) * 2u;
  let ow0 = (tile % tilesW) * 2u;
  // The 4×4 input patch of the tile: its addresses at channel 0, and which pixels are inside the
  // image (the rest are zeros: padding, or past the edge for a partial tile).
  let ih0 = i32(oh0) - i32(params.padTop);
  let iw0 = i32(ow0) - i32(params.padLeft);
  let xBatch = bIdx * params.inH * params.inW * params.inC;
  var at: array<u32, 16>;
  var inside: array<bool, 16>;
  for (var e = 0u; e < 16u; e++) {
    let ih = ih0 + i32(e / 4u);
    let iw = iw0 + i32(e % 4u);
    inside[e] = ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW);
    at[e] = select(0u, xBatch + (u32(ih) * params.inW + u32(iw)) * params.inC, inside[e]);
  }
  var col: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { col[j] = min(n0 + j, params.outC - 1u); }
  let plane = params.inC * params.outC; // U's stride from one element e to the next
  var acc: array<array<f32, 16>, TN>;
  for (var c = 0u; c < params.inC; c++) {
    var d: array<f32, 16>;
    for (var e = 0u; e < 16u; e++) { d[e] = select(0.0, a[at[e] + c], inside[e]); }
    let v = inputTransform(d);
    let uAt = c * params.outC;
    for (var j = 0u; j < TN; j++) {
      for (var e = 0u; e < 16u; e++) { acc[j][e] = fma(v[e], b[e * plane + uAt + col[j]], acc[j][e]); }
    }
  }
  for (var j = 0u; j < TN; j++) {
    let n = n0 + j;
    if (n >= params.outC) { break; }
    var y = outputTransform(acc[j]);
    if (HAS_BIAS) { y += vec4f(bias[n]); }
    for (var q = 0u; q < 4u; q++) {
      let oh = oh0 + q / 2u;
      let ow = ow0 + q % 2u;
      if (oh < params.outH && ow < params.outW) {
        out[((bIdx * params.outH + oh) * params.outW + ow) * params.outC + n] = activate(y[q], params.alpha);
      }
    }
  }
}`;
}

// ------------------------------------------------------------------ float64 reference of the transforms

/**
 * One output tile the Winograd way, in float64: Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A for a 4×4 patch d and a
 * 3×3 kernel g (both row-major), the 2×2 result row-major. Tests compare it with the direct sum
 * (the transforms are exact in real arithmetic), which checks the matrices above.
 */
export function winogradTileReference(d: ArrayLike<number>, g: ArrayLike<number>): Float64Array {
  const BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]];
  const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
  const AT = [[1, 1, 1, 0], [0, 1, -1, -1]];
  // X Y Zᵀ for row-major matrices given as arrays of rows.
  const sandwich = (x: number[][], y: number[][], z: number[][]): number[][] =>
    x.map((xr) => z.map((zr) => {
      let s = 0;
      for (let i = 0; i < xr.length; i++) for (let j = 0; j < zr.length; j++) s += xr[i] * y[i][j] * zr[j];
      return s;
    }));
  const rows = (v: ArrayLike<number>, n: number): number[][] => Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => v[r * n + c]));
  const V = sandwich(BT, rows(d, 4), BT);
  const U = sandwich(G, rows(g, 3), G);
  const M = V.map((vr, r) => vr.map((v, c) => v * U[r][c]));
  return Float64Array.from(sandwich(AT, M, AT).flat());
}
