// Counter-based random numbers: the value at element i is a pure function of (seed, stream, i),
// a chain of PCG hashes (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020). Nothing is
// stored between calls, every invocation works alone, and the same seed gives the same numbers
// on the same device, run after run — which is what makes training runs reproducible and lets
// dropout recompute its mask in the backward pass instead of keeping it. The raw bits and the
// uniform values are the same on every device (integer hashing, then one exact scaling). Normal
// values are not quite: Box–Muller's log and cos are transcendental functions that WGSL lets
// each driver approximate (cos to an absolute error of 2⁻¹¹ on [−π, π]), so the same seed gives
// normals that differ slightly between, say, llvmpipe and a browser's SwiftShader.
//
// Thread layout: one invocation per output element, 256 per workgroup (linearGrid).

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';

export const RANDOM_WGSL = /* wgsl */ `
fn pcgHash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
// 32 random bits for element i of the stream (seed, stream).
fn randomBits(seed: u32, stream: u32, i: u32) -> u32 {
  return pcgHash(pcgHash(pcgHash(seed) + stream) + i);
}
// Uniform in [0, 1), 24 bits of resolution (exactly representable in f32).
fn randomUniform(seed: u32, stream: u32, i: u32) -> f32 {
  return f32(randomBits(seed, stream, i) >> 8u) * (1.0 / 16777216.0);
}`;

export type Distribution = 'uniform' | 'normal';

const WORKGROUP = 256;

const RANDOM_FILL_WGSL = /* wgsl */ `
struct Params { size: u32, seed: u32, stream: u32, a: f32, b: f32 }
override NORMAL: bool = false;
@group(0) @binding(0) var<storage, read_write> output: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
${RANDOM_WGSL}
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.size) { return; }
  if (NORMAL) {
    // Box–Muller on two independent uniforms; u1 in (0, 1] keeps log() finite. a = mean, b = std.
    let u1 = f32((randomBits(params.seed, params.stream, 2u * i) >> 8u) + 1u) * (1.0 / 16777216.0);
    let u2 = randomUniform(params.seed, params.stream, 2u * i + 1u);
    output[i] = params.a + params.b * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
  } else {
    // Uniform in [a, b).
    output[i] = params.a + (params.b - params.a) * randomUniform(params.seed, params.stream, i);
  }
}`;

/** Fills `size` floats: uniform in [a, b), or normal with mean a and standard deviation b. */
export function randomProgram(dist: Distribution, size: number, seed: number, stream: number, a: number, b: number): Program {
  return {
    name: dist === 'normal' ? 'randn' : 'rand',
    wgsl: RANDOM_FILL_WGSL,
    overrides: { NORMAL: dist === 'normal' ? 1 : 0 },
    inputs: 0,
    outputs: 1,
    uniforms: [['u32', size], ['u32', seed >>> 0], ['u32', stream >>> 0], ['f32', a], ['f32', b]],
    grid: linearGrid(size, WORKGROUP),
    bytes: size * 4,
  };
}

// ---- Reference (bit-exact for the integer part) ----

export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export function randomBits(seed: number, stream: number, i: number): number {
  return pcgHash((pcgHash((pcgHash(seed >>> 0) + (stream >>> 0)) >>> 0) + (i >>> 0)) >>> 0);
}

export function randomUniform(seed: number, stream: number, i: number): number {
  return (randomBits(seed, stream, i) >>> 8) / 16777216;
}

export function randomReference(dist: Distribution, size: number, seed: number, stream: number, a: number, b: number): Float64Array {
  const out = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    if (dist === 'normal') {
      const u1 = ((randomBits(seed, stream, 2 * i) >>> 8) + 1) / 16777216;
      const u2 = randomUniform(seed, stream, 2 * i + 1);
      out[i] = a + b * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    } else {
      out[i] = a + (b - a) * randomUniform(seed, stream, i);
    }
  }
  return out;
}
