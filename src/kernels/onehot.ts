// One-hot encoding: integer labels [N] → f32 [N, C], 1 at (n, label[n]), 0 elsewhere. A label
// outside [0, C) gives a row of zeros (checking would need a read-back; callers that can validate
// on the host do).
//
// Thread layout: one invocation per output element, 256 per workgroup (linearGrid). Each writes
// one float (coalesced); the C invocations of a row read the same label, which the cache serves.
// Labels come as i32/u32 words, or as f32 holding whole numbers (FLOAT_LABELS), so label tensors
// uploaded as floats need no conversion pass.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';

const WORKGROUP = 256;

const ONE_HOT_WGSL = /* wgsl */ `
struct Params { size: u32, classes: u32 }
override FLOAT_LABELS: bool = false;
@group(0) @binding(0) var<storage, read> labels: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.size) { return; }
  let raw = labels[i / params.classes];
  let c = i % params.classes;
  var hit: bool;
  if (FLOAT_LABELS) {
    hit = bitcast<f32>(raw) == f32(c);
  } else {
    // Negative i32 labels read as huge u32 values and never match a class.
    hit = raw == c;
  }
  output[i] = select(0.0, 1.0, hit);
}`;

/** One-hot of `count` labels over `classes` classes; labels are f32 when `floatLabels`. */
export function oneHotProgram(count: number, classes: number, floatLabels = false): Program {
  const size = count * classes;
  return {
    name: 'oneHot',
    wgsl: ONE_HOT_WGSL,
    overrides: { FLOAT_LABELS: floatLabels ? 1 : 0 },
    inputs: 1,
    outputs: 1,
    uniforms: [['u32', size], ['u32', classes]],
    grid: linearGrid(size, WORKGROUP),
    bytes: 4 * (size + count),
  };
}

/** Plain-loop reference: labels outside [0, classes) (or not whole numbers) give zero rows. */
export function oneHotReference(labels: ArrayLike<number>, classes: number): Float64Array {
  const out = new Float64Array(labels.length * classes);
  for (let n = 0; n < labels.length; n++) {
    const l = labels[n];
    if (Number.isInteger(l) && l >= 0 && l < classes) out[n * classes + l] = 1;
  }
  return out;
}
