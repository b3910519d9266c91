// Winograd convolution, F(2×2, 3×3) and F(2×2, 5×5), for stride-1 convolutions with 3×3 or 5×5
// kernels (conv2d.ts explains the three implicit GEMMs and builds the Programs): the forward
// pass, and the input-gradient (which is also the transposed convolution's forward pass). The
// weight-gradient has no Winograd form here; the variant 'winograd' runs direct's weight-gradient.
//
// The idea. A 2×2 tile of outputs of an r×r stride-1 convolution reads an α×α patch d of the
// input, α = r + 1, per input channel, and the r×r kernel g per (input, output) channel pair.
// Written as
//
//   y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A          ⊙: elementwise product of two α×α matrices
//
// the tile costs α² multiplies per channel pair where the direct sum costs 2·2·r²:
//
//   F(2×2, 3×3)  α = 4:  16 instead of 36, 2.25× fewer
//        ⎡ 1  0 −1  0 ⎤          ⎡  1    0    0  ⎤
//   Bᵀ = ⎢ 0  1  1  0 ⎥      G = ⎢ 1/2  1/2  1/2 ⎥      Aᵀ = ⎡ 1  1  1  0 ⎤
//        ⎢ 0 −1  1  0 ⎥          ⎢ 1/2 −1/2  1/2 ⎥           ⎣ 0  1 −1 −1 ⎦
//        ⎣ 0  1  0 −1 ⎦          ⎣  0    0    1  ⎦
//
//   F(2×2, 5×5)  α = 6:  36 instead of 100, 2.78× fewer
//        ⎡ 4  0 −5  0  1  0 ⎤          ⎡  1/4    0     0     0     0  ⎤
//        ⎢ 0 −4 −4  1  1  0 ⎥          ⎢ −1/6  −1/6  −1/6  −1/6  −1/6 ⎥
//   Bᵀ = ⎢ 0  4 −4 −1  1  0 ⎥      G = ⎢ −1/6   1/6  −1/6   1/6  −1/6 ⎥   Aᵀ = ⎡ 1  1  1  1  1  0 ⎤
//        ⎢ 0 −2 −1  2  1  0 ⎥          ⎢ 1/24  1/12   1/6   1/3   2/3 ⎥        ⎣ 0  1 −1  2 −2  1 ⎦
//        ⎢ 0  2 −1 −2  1  0 ⎥          ⎢ 1/24 −1/12   1/6  −1/3   2/3 ⎥
//        ⎣ 0  4  0 −5  0  1 ⎦          ⎣   0     0     0     0     1  ⎦
//
// These are Toom-Cook's 1-D F(2, r) (Lavin & Gray, 2015) at the points 0, 1, −1 (and 2, −2)
// and ∞, nested along both axes; winogradTileReference at the bottom checks them against the
// direct sum. Because Aᵀ · A is linear, the sum over input channels can be taken in the
// transformed domain: for each of the α² elements e,
//
//   M_e[tile, oc] = Σ_ic V_e[tile, ic] · U_e[ic, oc]        V = Bᵀ d B,  U = G g Gᵀ
//
// is a plain matrix product, [tiles × inC] · [inC × outC], so the multiplies become α² batched
// GEMMs, run by matmul.ts's kernels at matmul speed. The transforms are the price: V costs up to
// 2α³ multiply-adds by constants per (tile, input channel), shared by every output channel; U as
// much per (input, output channel), once per launch; Aᵀ M A about 2α² + 4α per (tile, output
// channel), once after the whole reduction; and V and M make a round trip through memory, α²/4
// times the size of the input and of the output (4× for 3×3, 9× for 5×5).
//
// The input-gradient of a stride-1 convolution is itself a stride-1 convolution: dy with the
// kernel rotated by 180°, input and output channels swapped, and padding k − 1 − pad before.
// winogradGeometry below rewrites the input-gradient's geometry as that forward convolution, and
// the weight transform reads g rotated and transposed, so the same kernels serve both passes.
//
// Four launches (src/core/conv-ops.ts runs them; winogradPrograms in conv2d.ts builds them):
//   1. weights   U [α², inC, outC]: one invocation per (ic, oc), U[e, ic, oc] = (G g Gᵀ)[e]
//                (e row-major over the α×α tile).
//   2. input     V [α², tiles, inC]: one invocation per (tile, ic), consecutive invocations
//                consecutive channels (the loads of x and the stores of V are contiguous across
//                them). The α×α patch is zero outside the image: the padding, and the partial
//                tiles at the bottom and right edges of an odd-sized output.
//   3. product   M [α², tiles, outC] = V · U, α² batched matmuls (matmul.ts; the kernel policy
//                picks its variant, as for any matmul).
//   4. output    y [batch, outH, outW, outC]: one invocation per (tile, oc), consecutive
//                invocations consecutive channels; Aᵀ M A, the fused bias and activation, and the
//                stores of the tile's pixels that lie inside the output.
// Launches 1, 2 and 4 are lines of 64-invocation workgroups (winogradGrid: linearGrid, folded
// past 65,535 workgroups a dimension; every invocation bounds-checks its item); 3 folds as matmul.ts says.
// Tiles run (batch, tile row, tile column), row-major: tile t covers outputs (2·row, 2·col) to
// (2·row + 1, 2·col + 1) of image t / (tilesH·tilesW). V and M are α²/4 times the input and the
// output: where they would not fit in one storage binding (the DCGAN generator's 5×5 layer at
// batch 256: V would be 151 MB), steps 2–4 run over chunks of images (winogradImagesPerChunk).
//
// (A first version fused 2–4 into one kernel: each invocation transformed its own patch and
// accumulated 16 products per output channel, loading U per channel. It ran 3× slower than
// direct here: 16 loads of U per 16 FMAs, each a gather on this driver. As GEMMs, the products
// get matmul's register blocking.)

import { ACTIVATION_WGSL } from '../activation.ts';
import { linearGrid, LINEAR_WORKGROUP_WGSL, type Grid, type UniformField } from '../program.ts';
import { WORKGROUP, type ConvPass } from './conv2d-common.ts';
import type { ConvGeometry } from './geometry.ts';

/** The shape rule of 'winograd', in words (the builders' RangeError quotes it). */
export const WINOGRAD_RULE = 'winogradFits: stride 1 and a 3×3 or 5×5 kernel, forward or input-gradient';

/** Whether 'winograd' has a kernel for this pass and shape: stride 1, 3×3 or 5×5, forward or input-gradient. */
export function winogradFits(pass: ConvPass, g: ConvGeometry): boolean {
  return pass !== 'weightGrad' && winogradShapeFits(g);
}

/** The shape half of winogradFits: stride 1 and a square 3×3 or 5×5 kernel. */
export function winogradShapeFits(g: ConvGeometry): boolean {
  return g.strideH === 1 && g.strideW === 1 && g.kH === g.kW && (g.kH === 3 || g.kH === 5);
}

/**
 * The forward convolution the kernels compute for a pass: the forward pass itself, or, for the
 * input-gradient, the stride-1 convolution of dy [batch, outH, outW, outC] with the rotated,
 * channel-swapped kernel and padding k − 1 − pad before, whose output is dx [batch, inH, inW, inC].
 */
export function winogradGeometry(pass: ConvPass, g: ConvGeometry): ConvGeometry {
  if (pass === 'forward') return g;
  return {
    batch: g.batch, inH: g.outH, inW: g.outW, inC: g.outC, outH: g.inH, outW: g.inW, outC: g.inC,
    kH: g.kH, kW: g.kW, strideH: 1, strideW: 1, padTop: g.kH - 1 - g.padTop, padLeft: g.kW - 1 - g.padLeft,
  };
}

/** The transform matrices of F(2, r), row-major (the header writes them out). */
export interface WinogradMatrices {
  r: number;
  /** α = r + 1: the side of the transformed tile. */
  alpha: number;
  BT: number[][];
  G: number[][];
  AT: number[][];
}

export function winogradMatrices(r: number): WinogradMatrices {
  if (r === 3) {
    return {
      r, alpha: 4,
      BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
      G: [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
      AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
    };
  }
  if (r === 5) {
    return {
      r, alpha: 6,
      BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
      G: [[1 / 4, 0, 0, 0, 0], [-1 / 6, -1 / 6, -1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3], [1 / 24, -1 / 12, 1 / 6, -1 / 3, 2 / 3], [0, 0, 0, 0, 1]],
      AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1]],
    };
  }
  throw new RangeError(`winogradMatrices: F(2, ${r}) is not built (3 and 5 are)`);
}

/** Tiles of geometry `f`'s output (winogradGeometry's): batch · ⌈outH/2⌉ · ⌈outW/2⌉. */
export function winogradTiles(f: ConvGeometry): number {
  return f.batch * Math.ceil(f.outH / 2) * Math.ceil(f.outW / 2);
}

/**
 * Images per launch of the input and output transforms, so that V and M [α², tiles, channels]
 * each fit in one storage binding of `maxBindingBytes` (a large batch is transformed and
 * multiplied in chunks of images: conv-ops runs the chunks one after another).
 */
export function winogradImagesPerChunk(f: ConvGeometry, alpha: number, maxBindingBytes: number): number {
  const perImage = 4 * alpha * alpha * Math.ceil(f.outH / 2) * Math.ceil(f.outW / 2) * Math.max(f.inC, f.outC);
  return Math.max(1, Math.min(f.batch, Math.floor(maxBindingBytes / perImage)));
}

/**
 * The uniform block of the input and output transforms, in WINOGRAD_PARAMS_WGSL's order, for the
 * chunk of `images` images starting at image `batch0`.
 */
export function winogradUniforms(f: ConvGeometry, alpha: number, batch0: number, images: number): UniformField[] {
  return [
    ['u32', images], ['u32', f.inH], ['u32', f.inW], ['u32', f.inC],
    ['u32', f.outH], ['u32', f.outW], ['u32', f.outC], ['u32', f.padTop],
    ['u32', f.padLeft], ['u32', Math.ceil(f.outH / 2)], ['u32', Math.ceil(f.outW / 2)], ['f32', alpha],
    ['u32', batch0],
  ];
}

// batch: the images of this launch, from image batch0 of the pass's tensors.
const WINOGRAD_PARAMS_WGSL = /* wgsl */ `
struct Params {
  batch: u32, inH: u32, inW: u32, inC: u32,
  outH: u32, outW: u32, outC: u32, padTop: u32,
  padLeft: u32, tilesH: u32, tilesW: u32, alpha: f32,
  batch0: u32,
}`;

/** The launch of a kernel with one invocation per `items`. */
export function winogradGrid(items: number): Grid {
  return linearGrid(items, WORKGROUP);
}

// A matrix as a WGSL module-scope array, row-major.
function matrixWgsl(name: string, m: number[][]): string {
  const values = m.flat().map((v) => (Number.isInteger(v) ? `${v}.0` : `${v}`));
  return `var<private> ${name}: array<f32, ${values.length}> = array<f32, ${values.length}>(${values.join(', ')});`;
}

/**
 * The weight transform of F(2, r): U = G g Gᵀ for every (ic, oc) of the forward convolution the
 * kernels compute. Bindings: w [r, r, …] as given to the pass (HWIO of the original convolution),
 * U [α², inC, outC]. Uniform: inC, outC (winogradGeometry's) and flip (1 for the input-gradient:
 * read g rotated by 180° with the channels swapped, w[r − 1 − i, r − 1 − j, oc, ic]).
 */
export function winogradWeightsWgsl(r: number): string {
  const { alpha, G } = winogradMatrices(r);
  return /* wgsl */ `
struct Params { inC: u32, outC: u32, flip: u32 }
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
const R = ${r}u;
const A = ${alpha}u;
${matrixWgsl('G', G)} // A×R
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let pair = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  let plane = params.inC * params.outC;
  if (pair >= plane) { return; }
  let ic = pair / params.outC;
  let oc = pair % params.outC;
  // g, the R×R kernel of this channel pair, row-major.
  var g: array<f32, R * R>;
  for (var t = 0u; t < R * R; t++) {
    if (params.flip == 1u) {
      g[t] = w[(R * R - 1u - t) * plane + oc * params.inC + ic];
    } else {
      g[t] = w[t * plane + pair];
    }
  }
  var s: array<f32, A * R>; // G g
  for (var i = 0u; i < A; i++) {
    for (var j = 0u; j < R; j++) {
      var v = 0.0;
      for (var k = 0u; k < R; k++) { v += G[i * R + k] * g[k * R + j]; }
      s[i * R + j] = v;
    }
  }
  for (var i = 0u; i < A; i++) { // (G g) Gᵀ, stored as U[e, ic, oc]
    for (var j = 0u; j < A; j++) {
      var v = 0.0;
      for (var k = 0u; k < R; k++) { v += s[i * R + k] * G[j * R + k]; }
      u[(i * A + j) * plane + pair] = v;
    }
  }
}`;
}

/**
 * The input transform of F(2, r): V [α², tiles, inC], V[e, tile, ic] = (Bᵀ d B)[e] for the tile's
 * α×α patch d of channel ic (zero outside the image). Bindings: x [batch, inH, inW, inC], V.
 */
export function winogradInputWgsl(r: number): string {
  const { alpha, BT } = winogradMatrices(r);
  return /* wgsl */ `
${WINOGRAD_PARAMS_WGSL}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> v: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
const A = ${alpha}u;
${matrixWgsl('BT', BT)} // A×A
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let item = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  let tiles = params.batch * params.tilesH * params.tilesW;
  if (item >= tiles * params.inC) { return; }
  let c = item % params.inC;
  let tile = item / params.inC;
  let bIdx = params.batch0 + tile / (params.tilesH * params.tilesW);
  let ih0 = i32(((tile / params.tilesW) % params.tilesH) * 2u) - i32(params.padTop);
  let iw0 = i32((tile % params.tilesW) * 2u) - i32(params.padLeft);
  let xBatch = bIdx * params.inH * params.inW * params.inC + c;
  var d: array<f32, A * A>; // the patch, zero outside the image
  for (var i = 0u; i < A; i++) {
    let ih = ih0 + i32(i);
    for (var j = 0u; j < A; j++) {
      let iw = iw0 + i32(j);
      let inside = ih >= 0 && ih < i32(params.inH) && iw >= 0 && iw < i32(params.inW);
      let at = select(0u, xBatch + (u32(ih) * params.inW + u32(iw)) * params.inC, inside);
      d[i * A + j] = select(0.0, x[at], inside);
    }
  }
  var t: array<f32, A * A>; // Bᵀ d
  for (var i = 0u; i < A; i++) {
    for (var j = 0u; j < A; j++) {
      var s = 0.0;
      for (var k = 0u; k < A; k++) { s += BT[i * A + k] * d[k * A + j]; }
      t[i * A + j] = s;
    }
  }
  let plane = tiles * params.inC; // V's stride from one element e to the next
  for (var i = 0u; i < A; i++) { // (Bᵀ d) B
    for (var j = 0u; j < A; j++) {
      var s = 0.0;
      for (var k = 0u; k < A; k++) { s += t[i * A + k] * BT[j * A + k]; }
      v[(i * A + j) * plane + item] = s;
    }
  }
}`;
}

/**
 * The output transform of F(2, r) with the fused epilogue: y[b, 2·row + i, 2·col + j, oc] =
 * activate((Aᵀ M A)[i, j] + bias[oc]) for the pixels inside the output. Bindings: M [α², tiles,
 * outC] (the product's), bias [outC] (any buffer when HAS_BIAS is off), y [batch, outH, outW, outC].
 */
export function winogradOutputWgsl(r: number): string {
  const { alpha, AT } = winogradMatrices(r);
  return /* wgsl */ `
${WINOGRAD_PARAMS_WGSL}
override HAS_BIAS: bool = false;
@group(0) @binding(0) var<storage, read> m: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${ACTIVATION_WGSL}
${LINEAR_WORKGROUP_WGSL}
const A = ${alpha}u;
${matrixWgsl('AT', AT)} // 2×A
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let item = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  let tiles = params.batch * params.tilesH * params.tilesW;
  if (item >= tiles * params.outC) { return; }
  let oc = item % params.outC;
  let tile = item / params.outC;
  let plane = tiles * params.outC; // M's stride from one element e to the next
  var mt: array<f32, A * A>;
  for (var e = 0u; e < A * A; e++) { mt[e] = m[e * plane + item]; }
  var s: array<f32, 2u * A>; // Aᵀ M
  for (var i = 0u; i < 2u; i++) {
    for (var j = 0u; j < A; j++) {
      var v = 0.0;
      for (var k = 0u; k < A; k++) { v += AT[i * A + k] * mt[k * A + j]; }
      s[i * A + j] = v;
    }
  }
  let bIdx = params.batch0 + tile / (params.tilesH * params.tilesW);
  let oh0 = ((tile / params.tilesW) % params.tilesH) * 2u;
  let ow0 = (tile % params.tilesW) * 2u;
  for (var i = 0u; i < 2u; i++) { // (Aᵀ M) A, the tile's 2×2 pixels
    for (var j = 0u; j < 2u; j++) {
      let oh = oh0 + i;
      let ow = ow0 + j;
      if (oh < params.outH && ow < params.outW) {
        var v = 0.0;
        for (var k = 0u; k < A; k++) { v += s[i * A + k] * AT[j * A + k]; }
        if (HAS_BIAS) { v += bias[oc]; }
        y[((bIdx * params.outH + oh) * params.outW + ow) * params.outC + oc] = activate(v, params.alpha);
      }
    }
  }
}`;
}

// ------------------------------------------------------------------ float64 reference of the transforms

/**
 * One output tile the Winograd way, in float64: Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A for an α×α patch d
 * and an r×r kernel g (both row-major), the 2×2 result row-major. Tests compare it with the
 * direct sum (the transforms are exact in real arithmetic), which checks the matrices above.
 */
export function winogradTileReference(d: ArrayLike<number>, g: ArrayLike<number>, r = 3): Float64Array {
  const { alpha, BT, G, AT } = winogradMatrices(r);
  // X Y Zᵀ for row-major matrices given as arrays of rows.
  const sandwich = (x: number[][], y: number[][], z: number[][]): number[][] =>
    x.map((xr) => z.map((zr) => {
      let s = 0;
      for (let i = 0; i < xr.length; i++) for (let j = 0; j < zr.length; j++) s += xr[i] * y[i][j] * zr[j];
      return s;
    }));
  const rows = (v: ArrayLike<number>, n: number): number[][] => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => v[i * n + j]));
  const V = sandwich(BT, rows(d, alpha), BT);
  const U = sandwich(G, rows(g, r), G);
  const M = V.map((vr, i) => vr.map((v, j) => v * U[i][j]));
  return Float64Array.from(sandwich(AT, M, AT).flat());
}
