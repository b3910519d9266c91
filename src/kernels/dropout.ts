// Inverted dropout with a counter-based mask: element i is kept when
//   randomUniform(seed, step, i) ≥ rate
// (random.ts's PCG hash chain), and kept values are scaled by 1/(1 − rate) so the expected output
// equals the input and eval mode is the identity. The mask is a pure function of (seed, step, i),
// so the backward pass recomputes it with the same kernel applied to the gradient: nothing is
// stored, and the same seed and step reproduce the same mask on any device.
//
// Thread layout: one invocation per element, 256 per workgroup (linearGrid); each reads and
// writes one float, neighbours touching neighbours.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';
import { RANDOM_WGSL, randomUniform } from './random.ts';

const WORKGROUP = 256;

const DROPOUT_WGSL = /* wgsl */ `
struct Params { size: u32, seed: u32, step: u32, rate: f32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${RANDOM_WGSL}
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.size) { return; }
  let keep = randomUniform(params.seed, params.step, i) >= params.rate;
  y[i] = select(0.0, x[i] * params.scale, keep);
}`;

/** y = x·mask/(1 − rate); the same (seed, step) gives the same mask (forward and backward). */
export function dropoutProgram(size: number, rate: number, seed: number, step: number): Program {
  return {
    name: 'dropout',
    wgsl: DROPOUT_WGSL,
    inputs: 1,
    outputs: 1,
    uniforms: [['u32', size], ['u32', seed >>> 0], ['u32', step >>> 0], ['f32', rate], ['f32', 1 / (1 - rate)]],
    grid: linearGrid(size, WORKGROUP),
    flops: size,
    bytes: 8 * size,
  };
}

/** Reference: the same mask (bit-exact hash) and the same f32 product the kernel computes. */
export function dropoutReference(x: ArrayLike<number>, rate: number, seed: number, step: number): Float64Array {
  const scale = Math.fround(1 / (1 - rate));
  const r = Math.fround(rate);
  return Float64Array.from(x, (v, i) => (randomUniform(seed, step, i) >= r ? Math.fround(v * scale) : 0));
}
