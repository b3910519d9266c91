// Peak-throughput microkernels: what this adapter can do at best, so the bench can say what share
// of it each real kernel reaches. Neither computes anything useful.
//
//  - fmaPeak: arithmetic only. Each invocation runs CHAINS independent vec4 chains of
//    x = fma(x, a, b) for `iterations` steps and writes one vec4 at the end, so memory traffic is
//    nil. Independent chains hide the FMA latency (a real GPU interleaves warps for that; a CPU
//    driver such as llvmpipe, which runs 8 invocations per SIMD register, needs the ILP inside
//    one invocation). a and b come from a uniform, so the compiler cannot fold the loop; with
//    |a| < 1 the values converge to b / (1 − a) and never overflow or go denormal.
//  - copyPeak: bandwidth only. Each invocation copies `perInvocation` vec4s, strided by the
//    workgroup size so that neighbours touch neighbours at every step (fully coalesced on a GPU).
//    The best shape differs by adapter: a GPU wants many invocations with one vec4 each; llvmpipe,
//    which pays a fixed cost per group of 8 invocations, wants few invocations that loop. The bench
//    tries both and takes the faster. Size it well past the caches.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';

const WORKGROUP = 256;
export const FMA_CHAINS = 4;

const FMA_WGSL = /* wgsl */ `
struct Params { iterations: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read_write> output: array<vec4f>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let start = f32(gid.x % 8u) * 0.125;
  var x0 = vec4f(start, start + 0.1, start + 0.2, start + 0.3);
  var x1 = x0 + 1.0;
  var x2 = x0 + 2.0;
  var x3 = x0 + 3.0;
  let a = vec4f(params.a);
  let b = vec4f(params.b);
  for (var i = 0u; i < params.iterations; i++) {
    x0 = fma(x0, a, b);
    x1 = fma(x1, a, b);
    x2 = fma(x2, a, b);
    x3 = fma(x3, a, b);
  }
  output[gid.x] = x0 + x1 + x2 + x3;
}`;

/** `workgroups` × 256 invocations, each 16 FMAs (32 flops) per iteration. */
export function fmaPeakProgram(workgroups: number, iterations: number, a = 0.999, b = 0.001): Program {
  const invocations = workgroups * WORKGROUP;
  return {
    name: 'peak.fma',
    wgsl: FMA_WGSL,
    inputs: 0,
    outputs: 1,
    uniforms: [['u32', iterations], ['f32', a], ['f32', b]],
    grid: [workgroups, 1, 1],
    flops: 2 * 4 * FMA_CHAINS * iterations * invocations,
    bytes: 16 * invocations,
  };
}

/** Output length (in floats) of fmaPeakProgram. */
export function fmaPeakOutputSize(workgroups: number): number {
  return workgroups * WORKGROUP * 4;
}

/** Float64 reference of fmaPeakProgram's output. */
export function fmaPeakReference(workgroups: number, iterations: number, a = 0.999, b = 0.001): Float64Array {
  const out = new Float64Array(fmaPeakOutputSize(workgroups));
  // Output depends on gid.x only through gid.x % 8: compute those 8 vec4s once.
  const byResidue: number[][] = [];
  for (let r = 0; r < 8; r++) {
    const start = r * 0.125;
    const lanes: number[] = [];
    for (let lane = 0; lane < 4; lane++) {
      let sum = 0;
      for (let chain = 0; chain < FMA_CHAINS; chain++) {
        let x = start + lane * 0.1 + chain;
        for (let i = 0; i < iterations; i++) x = x * a + b;
        sum += x;
      }
      lanes.push(sum);
    }
    byResidue.push(lanes);
  }
  for (let g = 0; g < out.length / 4; g++) {
    for (let lane = 0; lane < 4; lane++) out[g * 4 + lane] = byResidue[g % 8][lane];
  }
  return out;
}

const COPY_WGSL = /* wgsl */ `
struct Params { count: u32 }
override WORKGROUP: u32 = 256u;
override PER_INVOCATION: u32 = 1u;
@group(0) @binding(0) var<storage, read> input: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> output: array<vec4f>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let first = linearWorkgroup(wid, nwg) * WORKGROUP * PER_INVOCATION + lid;
  for (var j = 0u; j < PER_INVOCATION; j++) {
    let i = first + j * WORKGROUP;
    if (i < params.count) { output[i] = input[i]; }
  }
}`;

/** Copies `floats` floats (a multiple of 4) as vec4s: 8 bytes of traffic per float. */
export function copyPeakProgram(floats: number, workgroup = 256, perInvocation = 1): Program {
  if (floats % 4 !== 0) throw new RangeError(`copyPeakProgram: ${floats} floats is not a multiple of 4`);
  const count = floats / 4;
  return {
    name: 'peak.copy',
    wgsl: COPY_WGSL,
    overrides: { WORKGROUP: workgroup, PER_INVOCATION: perInvocation },
    inputs: 1,
    outputs: 1,
    uniforms: [['u32', count]],
    grid: linearGrid(count, workgroup * perInvocation),
    bytes: 8 * floats,
  };
}
