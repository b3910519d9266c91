// A kernel, as the rest of the framework sees it: a small descriptor with its WGSL, how many
// workgroups to launch, and the shape numbers it needs (in a uniform). The kernels folder builds
// these; src/core/dispatch.ts compiles them once per cache key and records them into the shared
// command encoder. Kernels never touch the device themselves, and know nothing of autograd.
//
// Binding convention, the same for every kernel so launchers stay short:
//   @group(0) @binding(0 .. nIn-1)            inputs, var<storage, read>
//   @group(0) @binding(nIn .. nIn+nOut-1)     outputs, var<storage, read_write>
//   @group(0) @binding(nIn+nOut)              the uniform block, when `uniforms` is given
// An in-place kernel (Adam) binds the buffer it updates once, as an output.

export type Grid = [number, number, number];

/** One scalar of a uniform block. WGSL lays scalars out 4 bytes apiece, in order. */
export type UniformField = ['u32' | 'i32' | 'f32', number];

export interface Program {
  /** Human name: used in error messages and in the per-kernel profile. */
  name: string;
  /** WGSL source of the module. The same source (and overrides) compiles once. */
  wgsl: string;
  entryPoint?: string;
  /** Pipeline-overridable constants (workgroup size, tile sizes). */
  overrides?: Record<string, number>;
  /** Number of read-only storage inputs and of read-write outputs, in binding order. */
  inputs: number;
  outputs: number;
  /** Scalars for the uniform block (shapes, strides, hyper-parameters). */
  uniforms?: UniformField[];
  /** Workgroups to launch in x, y, z. */
  grid: Grid;
  /** Useful work, for the bench's GFLOP/s and GB/s columns (optional). */
  flops?: number;
  bytes?: number;
}

/** WebGPU guarantees 65,535 workgroups per grid dimension; larger 1-D launches fold into y. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Grid for `count` independent items handled `perWorkgroup` at a time. Kernels that use it
 * recover the linear workgroup index as `wid.x + wid.y * nwg.x` (see `LINEAR_WORKGROUP_WGSL`)
 * and must bounds-check, since folding can launch a few workgroups too many.
 */
export function linearGrid(count: number, perWorkgroup: number): Grid {
  const groups = Math.max(1, Math.ceil(count / perWorkgroup));
  if (groups <= MAX_WORKGROUPS_PER_DIM) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(groups / y), y, 1];
}

/** WGSL helper matching `linearGrid`: the workgroup's linear index. */
export const LINEAR_WORKGROUP_WGSL = /* wgsl */ `
fn linearWorkgroup(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }
`;

