// Data movement: permute (transpose), slice, its backward (pad), and concat. No arithmetic, so the
// kernels move raw 32-bit words: the same pipelines serve f32, i32 and u32 tensors.
//
// Gather (permute, slice): one invocation per output element, 256 per workgroup (linearGrid).
//   Each invocation peels its output coordinates off the flat index and reads the source at
//   `offset + Σ coord[d] · stride[d]`. Permute passes the source strides in output order; slice
//   passes the source's own strides and the window's start as `offset`. Writes are contiguous
//   (coalesced); reads are contiguous along every axis that keeps its place and strided along
//   moved ones. A tiled transpose through workgroup memory would coalesce both sides, but the
//   transposes here are small (matmul reads its transposes in place) and this one kernel serves
//   every permutation of up to 8 axes. Adjacent axes that move together are merged on the host
//   first, so e.g. [B, H, W, C] → [B, C, H, W] costs rank-3 index arithmetic, not rank-4.
// Pad (slice's backward): the same walk over the *larger* tensor; elements outside the window get
//   zero. One pass writes every output element exactly once, with no separate zero fill.
// Concat: tensors viewed as [outer, length, inner] along the axis. One dispatch per input copies
//   it into its band [outer, offset .. offset+length, inner] of the output, one invocation per
//   input element: reads coalesce fully, writes in runs of length·inner. One dispatch per input
//   rather than one for all: a single dispatch would need every input bound at once (capped by
//   maxStorageBuffersPerShaderStage, 8 by default) and a WGSL variant per input count, and each
//   invocation would first have to search which input it belongs to. Memory traffic is the same
//   either way (every element read once, written once); only launches differ, and concats here
//   join 2–3 tensors. Concat's backward is one slice per input.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';
import { formatShape, sizeOf, stridesOf, type Shape } from './shapes.ts';

export const MAX_COPY_RANK = 8;
const WORKGROUP = 256;

const GATHER_WGSL = /* wgsl */ `
// shape/strides hold ${MAX_COPY_RANK} dimensions as two vec4s each: uniform arrays need 16-byte elements.
struct Params {
  size: u32, rank: u32, offset: u32, _pad: u32,
  shape: array<vec4u, 2>, strides: array<vec4u, 2>,
  // PAD only: the window inside the output and the source's extents.
  begin: array<vec4u, 2>, window: array<vec4u, 2>,
}
override PAD: bool = false;
@group(0) @binding(0) var<storage, read> source: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
fn at(v: array<vec4u, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.size) { return; }
  var src = params.offset;
  var inside = true;
  var rest = i;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let coord = rest % at(params.shape, u32(d));
    rest = rest / at(params.shape, u32(d));
    if (PAD) {
      // Unsigned wrap-around makes coords before the window huge, so one compare covers both ends.
      let local = coord - at(params.begin, u32(d));
      inside = inside && local < at(params.window, u32(d));
      src += local * at(params.strides, u32(d));
    } else {
      src += coord * at(params.strides, u32(d));
    }
  }
  // Outside the window src is garbage: branch rather than select, which would read it anyway.
  if (inside) {
    output[i] = source[src];
  } else {
    output[i] = 0u;
  }
}`;

function packed(values: readonly number[]): number[] {
  const out = new Array<number>(MAX_COPY_RANK).fill(0);
  values.forEach((v, i) => (out[i] = v));
  return out;
}

function gatherProgram(name: string, outShape: Shape, strides: number[], offset: number, pad?: { begin: number[]; window: number[] }): Program {
  if (outShape.length > MAX_COPY_RANK) throw new RangeError(`${name}: rank ${outShape.length} exceeds ${MAX_COPY_RANK}`);
  const size = sizeOf(outShape);
  const uniforms: Program['uniforms'] = [['u32', size], ['u32', outShape.length], ['u32', offset], ['u32', 0]];
  const blocks = [outShape, strides, pad?.begin ?? [], pad?.window ?? []];
  for (const block of blocks) for (const v of packed(block)) uniforms.push(['u32', v]);
  return {
    name,
    wgsl: GATHER_WGSL,
    overrides: { PAD: pad ? 1 : 0 },
    inputs: 1,
    outputs: 1,
    uniforms,
    grid: linearGrid(size, WORKGROUP),
    bytes: 8 * size,
  };
}

/** The shape of `shape` permuted: out[i] = shape[perm[i]]. */
export function permutedShape(shape: Shape, perm: readonly number[]): number[] {
  return perm.map((p) => shape[p]);
}

/**
 * Merges axes that stay adjacent and in order under `perm` (and drops size-1 axes), which leaves
 * the same copy with fewer dimensions. Returns the reduced source shape and permutation.
 */
export function simplifyPermutation(shape: Shape, perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = perm.filter((p) => shape[p] !== 1);
  // Groups of source axes, in output order, each a run of consecutive source axes.
  const groups: number[][] = [];
  for (const p of kept) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] + 1 === p) last.push(p);
    else groups.push([p]);
  }
  const bySource = [...groups].sort((a, b) => a[0] - b[0]);
  const newShape = bySource.map((g) => sizeOf(g.map((p) => shape[p])));
  const newPerm = groups.map((g) => bySource.indexOf(g));
  return { shape: newShape, perm: newPerm };
}

/** Copies x [shape] to out [shape[perm[0]], shape[perm[1]], …]. */
export function permuteProgram(shape: Shape, perm: readonly number[]): Program {
  if (perm.length !== shape.length) throw new RangeError(`permute: permutation [${perm}] does not fit shape ${formatShape(shape)}`);
  const s = simplifyPermutation(shape, perm);
  const strides = stridesOf(s.shape);
  return gatherProgram('permute', permutedShape(s.shape, s.perm), s.perm.map((p) => strides[p]), 0);
}

/** Copies the window [begin, begin + size) of x [shape] to a contiguous out [size]. */
export function sliceProgram(shape: Shape, begin: readonly number[], size: readonly number[]): Program {
  const strides = stridesOf(shape);
  const offset = begin.reduce((acc, b, d) => acc + b * strides[d], 0);
  return gatherProgram('slice', size, strides, offset);
}

/** Slice's backward: x [size] placed at `begin` inside a zero tensor of `outShape`. */
export function padProgram(size: Shape, begin: readonly number[], outShape: Shape): Program {
  return gatherProgram('pad', outShape, stridesOf(size), 0, { begin: [...begin], window: [...size] });
}

const CONCAT_WGSL = /* wgsl */ `
struct Params { size: u32, band: u32, outBand: u32, offset: u32 }
@group(0) @binding(0) var<storage, read> source: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.size) { return; }
  // band = length·inner of this input; outBand = total length·inner; offset = start·inner.
  let o = i / params.band;
  output[o * params.outBand + params.offset + i % params.band] = source[i];
}`;

/**
 * Writes one input of a concat, x viewed as [outer, length, inner], into its band of the output
 * [outer, total, inner], starting at `start` along the axis. The other bands are left as they are.
 */
export function concatProgram(outer: number, length: number, inner: number, total: number, start: number): Program {
  const size = outer * length * inner;
  return {
    name: 'concat',
    wgsl: CONCAT_WGSL,
    inputs: 1,
    outputs: 1,
    uniforms: [['u32', size], ['u32', length * inner], ['u32', total * inner], ['u32', start * inner]],
    grid: linearGrid(size, WORKGROUP),
    bytes: 8 * size,
  };
}

/** Views `shape` as [outer, shape[axis], inner]. */
export function axisView(shape: Shape, axis: number): { outer: number; length: number; inner: number } {
  return { outer: sizeOf(shape.slice(0, axis)), length: shape[axis], inner: sizeOf(shape.slice(axis + 1)) };
}

// ---- Plain-loop references ----

function coordsOf(i: number, shape: Shape): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return c;
}

export function permuteReference(x: ArrayLike<number>, shape: Shape, perm: readonly number[]): Float64Array {
  const outShape = permutedShape(shape, perm);
  const strides = stridesOf(shape);
  const out = new Float64Array(sizeOf(outShape));
  for (let i = 0; i < out.length; i++) {
    const c = coordsOf(i, outShape);
    let src = 0;
    for (let d = 0; d < c.length; d++) src += c[d] * strides[perm[d]];
    out[i] = x[src];
  }
  return out;
}

export function sliceReference(x: ArrayLike<number>, shape: Shape, begin: readonly number[], size: readonly number[]): Float64Array {
  const strides = stridesOf(shape);
  const out = new Float64Array(sizeOf(size));
  for (let i = 0; i < out.length; i++) {
    const c = coordsOf(i, size);
    let src = 0;
    for (let d = 0; d < c.length; d++) src += (c[d] + begin[d]) * strides[d];
    out[i] = x[src];
  }
  return out;
}

export function padReference(x: ArrayLike<number>, size: Shape, begin: readonly number[], outShape: Shape): Float64Array {
  const strides = stridesOf(size);
  const out = new Float64Array(sizeOf(outShape));
  for (let i = 0; i < out.length; i++) {
    const c = coordsOf(i, outShape);
    let src = 0;
    let inside = true;
    for (let d = 0; d < c.length; d++) {
      const local = c[d] - begin[d];
      if (local < 0 || local >= size[d]) inside = false;
      src += local * strides[d];
    }
    out[i] = inside ? x[src] : 0;
  }
  return out;
}

export function concatReference(xs: ArrayLike<number>[], shapes: Shape[], axis: number): Float64Array {
  const total = shapes.reduce((acc, s) => acc + s[axis], 0);
  const outShape = [...shapes[0]];
  outShape[axis] = total;
  const out = new Float64Array(sizeOf(outShape));
  const { outer, inner } = axisView(outShape, axis);
  let start = 0;
  xs.forEach((x, k) => {
    const length = shapes[k][axis];
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < length * inner; j++) out[(o * total + start) * inner + j] = x[o * length * inner + j];
    }
    start += length;
  });
  return out;
}
