// Reductions (sum, max) along one axis of a tensor viewed as [outer, length, inner]; any set of
// adjacent axes collapses to that form, and the ops layer chains passes for scattered axes.
//
// Two layouts, because the best one depends on where the reduced axis lies:
//  - inner == 1 (reducing the last, contiguous axis — e.g. a whole tensor to a scalar, or each
//    row of a matrix): one workgroup of 64 invocations per output. Invocation t sums elements
//    t, t+64, t+128… (neighbours read neighbours: coalesced), then the 64 partial sums meet in a
//    tree in workgroup memory. Partial sums also keep f32 rounding error down for long rows.
//  - inner > 1 (e.g. per-channel sums of an NHWC batch over N·H·W): one invocation per output,
//    walking the reduced axis with stride `inner`; neighbouring invocations own neighbouring
//    channels, so each step of the walk is a coalesced row read.
// Both launch a line of workgroups (linearGrid: folded past 65,535 workgroups a dimension); the
// row layout's workgroups past the last row still reach its barriers and store nothing.
// The result is multiplied by `scale` (1/length turns a sum into a mean for free).

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';

export type ReduceOp = 'sum' | 'max';

const ROW_WORKGROUP = 64;
const COLUMN_WORKGROUP = 64;

const IDENTITY: Record<ReduceOp, string> = { sum: '0.0', max: '-3.402823e+38' };
const COMBINE: Record<ReduceOp, (a: string, b: string) => string> = {
  sum: (a, b) => `${a} + ${b}`,
  max: (a, b) => `max(${a}, ${b})`,
};

function rowWgsl(op: ReduceOp): string {
  const c = COMBINE[op];
  return /* wgsl */ `
struct Params { outer: u32, length: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> partial: array<f32, ${ROW_WORKGROUP}>;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${ROW_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let row = linearWorkgroup(wid, nwg);
  // No early return: every invocation must reach the barriers below.
  let valid = row < params.outer;
  var acc = ${IDENTITY[op]};
  if (valid) {
    let base = row * params.length;
    for (var k = t; k < params.length; k += ${ROW_WORKGROUP}u) {
      acc = ${c('acc', 'input[base + k]')};
    }
  }
  partial[t] = acc;
  workgroupBarrier();
  for (var half = ${ROW_WORKGROUP / 2}u; half > 0u; half = half / 2u) {
    if (t < half) { partial[t] = ${c('partial[t]', 'partial[t + half]')}; }
    workgroupBarrier();
  }
  if (valid && t == 0u) { output[row] = partial[0] * params.scale; }
}`;
}

function columnWgsl(op: ReduceOp): string {
  return /* wgsl */ `
struct Params { outer: u32, length: u32, inner: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${COLUMN_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let o = linearWorkgroup(wid, nwg) * ${COLUMN_WORKGROUP}u + t;
  if (o >= params.outer * params.inner) { return; }
  let outerIndex = o / params.inner;
  let innerIndex = o % params.inner;
  var p = outerIndex * params.length * params.inner + innerIndex;
  var acc = ${IDENTITY[op]};
  for (var k = 0u; k < params.length; k++) {
    acc = ${COMBINE[op]('acc', 'input[p]')};
    p += params.inner;
  }
  output[o] = acc * params.scale;
}`;
}

/** Reduces [outer, length, inner] to [outer, inner]. */
export function reduceProgram(op: ReduceOp, outer: number, length: number, inner: number, scale = 1): Program {
  const common = { inputs: 1, outputs: 1, flops: outer * length * inner, bytes: 4 * outer * inner * (length + 1) };
  if (inner === 1) {
    return {
      name: `${op}Rows`,
      wgsl: rowWgsl(op),
      uniforms: [['u32', outer], ['u32', length], ['f32', scale]],
      grid: linearGrid(outer, 1),
      ...common,
    };
  }
  return {
    name: `${op}Columns`,
    wgsl: columnWgsl(op),
    uniforms: [['u32', outer], ['u32', length], ['u32', inner], ['f32', scale]],
    grid: linearGrid(outer * inner, COLUMN_WORKGROUP),
    ...common,
  };
}

/** Plain-loop reference of reduceProgram, in float64. */
export function reduceReference(
  op: ReduceOp,
  x: ArrayLike<number>,
  outer: number,
  length: number,
  inner: number,
  scale = 1,
): Float64Array {
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = op === 'sum' ? 0 : -Infinity;
      for (let k = 0; k < length; k++) {
        const v = x[(o * length + k) * inner + i];
        acc = op === 'sum' ? acc + v : Math.max(acc, v);
      }
      out[o * inner + i] = acc * scale;
    }
  }
  return out;
}
