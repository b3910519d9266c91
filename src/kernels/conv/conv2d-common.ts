// What every convolution kernel shares (conv2d-direct.ts, conv2d-subgroup.ts, conv2d-blocked.ts;
// conv2d.ts explains the three GEMMs and builds the Programs): the uniform block and the function
// that fills it (they must agree field by field, so they sit together), the bindings, the
// workgroup's tile in its kernel's natural grid (each kernel file gives its layout; the grid is
// launched folded past 65,535 workgroups a dimension: foldGrid in ../program.ts), the
// input-gradient's phase arithmetic, and each pass's GEMM size. A file of its own so that the
// kernel files and the builders in conv2d.ts import it without importing each other.

import { ACTIVATION_WGSL } from '../activation.ts';
import { FOLDED_WORKGROUP_WGSL, tileUniforms, type Grid, type Program } from '../program.ts';
import type { ConvGeometry } from './geometry.ts';

/** The three kernels of a convolution (the transposed convolution's forward is the input-gradient). */
export type ConvPass = 'forward' | 'inputGrad' | 'weightGrad';

/** Invocations per workgroup of the naive, direct and subgroup kernels. */
export const WORKGROUP = 64;

const PARAMS_STRUCT_WGSL = /* wgsl */ `
struct Params {
  batch: u32, inH: u32, inW: u32, inC: u32,
  outH: u32, outW: u32, outC: u32, kH: u32,
  kW: u32, strideH: u32, strideW: u32, padTop: u32,
  padLeft: u32, colBlocks: u32, chunk: u32, alpha: f32,
  tilesX: u32, tilesY: u32, tilesZ: u32,
}
// tileOf: this workgroup's tile in the launch's natural grid; !valid for the few past the last tile.
${FOLDED_WORKGROUP_WGSL}`;

/** The Params uniform in PARAMS_STRUCT_WGSL's order; colBlocks, chunk and the natural grid (tiles) are the launch's. */
export function uniforms(g: ConvGeometry, colBlocks: number, chunk: number, alpha: number, tiles: Grid): Program['uniforms'] {
  return [
    ['u32', g.batch], ['u32', g.inH], ['u32', g.inW], ['u32', g.inC],
    ['u32', g.outH], ['u32', g.outW], ['u32', g.outC], ['u32', g.kH],
    ['u32', g.kW], ['u32', g.strideH], ['u32', g.strideW], ['u32', g.padTop],
    ['u32', g.padLeft], ['u32', colBlocks], ['u32', chunk], ['f32', alpha],
    ...tileUniforms(tiles),
  ];
}

/** Params and the bindings of a kernel with a fused epilogue (forward, input-gradient): a, b, bias, out. */
export const PARAMS_WGSL = /* wgsl */ `${PARAMS_STRUCT_WGSL}

override HAS_BIAS: bool = false;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
${ACTIVATION_WGSL}`;

/** Params and the bindings of the weight-gradient, which has no epilogue: a, b, out. */
export const WEIGHT_GRAD_PARAMS_WGSL = /* wgsl */ `${PARAMS_STRUCT_WGSL}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;`;

// The phase arithmetic of the input-gradient (conv2d.ts explains phases): phase (ph, pw) = the tile's z;
// its first pixel (ih0, iw0); its pixel counts (nH, nW); its taps (tapsH, tapsW).
export const PHASE_WGSL = /* wgsl */ `
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

/**
 * The rows (m) and columns (n) of a pass's GEMM. The input-gradient's rows are those of its
 * busiest phase, ⌈inH/sh⌉·⌈inW/sw⌉ pixels per image (smaller phases leave early).
 */
export function gemmSize(pass: ConvPass, g: ConvGeometry): { rows: number; cols: number } {
  if (pass === 'forward') return { rows: g.batch * g.outH * g.outW, cols: g.outC };
  if (pass === 'inputGrad') return { rows: g.batch * Math.ceil(g.inH / g.strideH) * Math.ceil(g.inW / g.strideW), cols: g.inC };
  return { rows: g.kH * g.kW * g.inC, cols: g.outC };
}
