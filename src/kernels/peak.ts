// Peak-throughput microkernels: what this adapter can do at best, so the bench can say what share
// of it each real kernel reaches. Neither computes anything useful.
//
//  - fmaPeak: arithmetic only. Each invocation runs `chains` independent chains of
//    x = fma(x, a, b), each a `width`-wide value (f32, vec2f or vec4f), for `iterations` steps and
//    writes the sum of its chains at the end, so memory traffic is nil and no chain can be dropped.
//    Flops, exactly: 2 (a multiply and an add) × width × chains per step and invocation.
//    Independent chains hide the FMA latency (a real GPU interleaves warps for that; a CPU driver
//    such as llvmpipe, which runs 8 invocations per SIMD register, needs the ILP inside one
//    invocation, and too many chains may spill its registers). Which shape is fastest differs by
//    adapter, so the bench searches the shapes `peakCandidates` lists (chains × width × workgroup
//    size, within the device's limits) and calls the fastest the peak. a and b come from a
//    uniform, so the compiler cannot fold the loop; with |a| < 1 the values converge to
//    b / (1 − a) and never overflow or go denormal.
//    Thread layout: a line of `workgroups` × `workgroup` invocations (linearGrid: folded past
//    65,535 workgroups a dimension, the few past the end returning); invocation g starts its
//    chain c at s + c per component, s = (g mod 8) / 8 + 0.1 × component (0, 0.1, 0.2, 0.3),
//    and writes output[g], one `width`-wide value.
//  - copyPeak: bandwidth only. Each invocation copies `perInvocation` vec4s, strided by the
//    workgroup size so that neighbours touch neighbours at every step (fully coalesced on a GPU).
//    The best shape differs by adapter: a GPU wants many invocations with one vec4 each; llvmpipe,
//    which pays a fixed cost per group of 8 invocations, wants few invocations that loop. The bench
//    tries both and takes the faster. Size it well past the caches.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';

/** One shape of the FMA loop: independent chains, their vector width, the workgroup size. */
export interface FmaShape {
  chains: number;
  width: 1 | 2 | 4;
  workgroup: number;
}

/** The shape the bench measured alone before it searched: 4 vec4 chains, 256-wide workgroups. */
export const FMA_BASELINE: FmaShape = { chains: 4, width: 4, workgroup: 256 };

export const FMA_CHAIN_COUNTS = [4, 8, 16, 32] as const;
export const FMA_WIDTHS = [1, 2, 4] as const;
export const FMA_WORKGROUPS = [64, 128, 256] as const;

/** The limits a candidate must respect. */
export type FmaLimits = Pick<GPUSupportedLimits, 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX'>;

/** "vec4×16 wg64", "f32×8 wg256": what the shape is, for names and table rows. */
export function fmaShapeName(s: FmaShape): string {
  return `${s.width === 1 ? 'f32' : `vec${s.width}`}×${s.chains} wg${s.workgroup}`;
}

/**
 * Every shape the search tries: chains × width × workgroup size, the workgroup sizes capped by
 * the device (a device allowing fewer than 64 invocations gets its largest allowed size instead).
 */
export function peakCandidates(limits: FmaLimits): FmaShape[] {
  const cap = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  const fitting = FMA_WORKGROUPS.filter((w) => w <= cap);
  const workgroups = fitting.length ? fitting : [cap];
  const out: FmaShape[] = [];
  for (const workgroup of workgroups) {
    for (const width of FMA_WIDTHS) {
      for (const chains of FMA_CHAIN_COUNTS) out.push({ chains, width, workgroup });
    }
  }
  return out;
}

function valueType(width: number): string {
  return width === 1 ? 'f32' : `vec${width}f`;
}

/** The whole WGSL module of one shape. */
export function fmaPeakWgsl(s: FmaShape): string {
  const t = valueType(s.width);
  const chains = Array.from({ length: s.chains }, (_, c) => c);
  const lanes = ['start', 'start + 0.1', 'start + 0.2', 'start + 0.3'].slice(0, s.width);
  const first = s.width === 1 ? 'start' : `${t}(${lanes.join(', ')})`;
  return /* wgsl */ `
struct Params { iterations: u32, a: f32, b: f32, invocations: u32 }
@group(0) @binding(0) var<storage, read_write> output: array<${t}>;
@group(0) @binding(1) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${s.workgroup})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let g = linearWorkgroup(wid, nwg) * ${s.workgroup}u + lid;
  if (g >= params.invocations) { return; }
  let start = f32(g % 8u) * 0.125;
${chains.map((c) => `  var x${c}: ${t} = ${first}${c === 0 ? '' : ` + ${c}.0`};`).join('\n')}
  let a = ${t}(params.a);
  let b = ${t}(params.b);
  for (var i = 0u; i < params.iterations; i++) {
${chains.map((c) => `    x${c} = fma(x${c}, a, b);`).join('\n')}
  }
  output[g] = ${chains.map((c) => `x${c}`).join(' + ')};
}`;
}

function checkShape(s: FmaShape): void {
  if (!Number.isInteger(s.chains) || s.chains < 1) throw new RangeError(`fmaPeak: ${s.chains} chains`);
  if (!Number.isInteger(s.workgroup) || s.workgroup < 1) throw new RangeError(`fmaPeak: workgroup ${s.workgroup}`);
}

/** `workgroups` × `shape.workgroup` invocations, each 2 × width × chains flops per iteration. */
export function fmaPeakProgram(workgroups: number, iterations: number, shape: FmaShape = FMA_BASELINE, a = 0.999, b = 0.001): Program {
  checkShape(shape);
  const invocations = workgroups * shape.workgroup;
  return {
    name: `peak.fma ${fmaShapeName(shape)}`,
    wgsl: fmaPeakWgsl(shape),
    inputs: 0,
    outputs: 1,
    uniforms: [['u32', iterations], ['f32', a], ['f32', b], ['u32', invocations]],
    grid: linearGrid(workgroups, 1),
    flops: 2 * shape.width * shape.chains * iterations * invocations,
    bytes: 4 * shape.width * invocations,
  };
}

/** Output length (in floats) of fmaPeakProgram. */
export function fmaPeakOutputSize(workgroups: number, shape: FmaShape = FMA_BASELINE): number {
  return workgroups * shape.workgroup * shape.width;
}

/** Float64 reference of fmaPeakProgram's output. */
export function fmaPeakReference(workgroups: number, iterations: number, shape: FmaShape = FMA_BASELINE, a = 0.999, b = 0.001): Float64Array {
  const { width } = shape;
  const out = new Float64Array(fmaPeakOutputSize(workgroups, shape));
  // Output depends on the invocation g only through g % 8: compute those 8 values once.
  const byResidue: number[][] = [];
  for (let r = 0; r < 8; r++) {
    const start = r * 0.125;
    const lanes: number[] = [];
    for (let lane = 0; lane < width; lane++) {
      let sum = 0;
      for (let chain = 0; chain < shape.chains; chain++) {
        let x = start + lane * 0.1 + chain;
        for (let i = 0; i < iterations; i++) x = x * a + b;
        sum += x;
      }
      lanes.push(sum);
    }
    byResidue.push(lanes);
  }
  for (let g = 0; g < out.length / width; g++) {
    for (let lane = 0; lane < width; lane++) out[g * width + lane] = byResidue[g % 8][lane];
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
