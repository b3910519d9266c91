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
  /**
   * The module constants (`const TM = 8u;`) whose loops may be written out before compiling, on the
   * engines whose compilers will not unroll them (unroll.ts; DeviceInfo.unrollBlocks decides).
   */
  unroll?: readonly string[];
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

/** WebGPU guarantees 65,535 workgroups per grid dimension (maxComputeWorkgroupsPerDimension). */
export const MAX_WORKGROUPS_PER_DIM = 65535;

// Folding. A kernel's natural grid (its "tiles": one workgroup per tile of its output, per batch
// item, per row…) may have more than 65,535 workgroups in a dimension for a shape whose buffers
// still fit the bindings. So every kernel launches foldGrid(tiles) instead: the tiles numbered
// linearly (x fastest, then y, then z), and that line of workgroups laid out over up to three
// dimensions of at most the limit each. The kernel numbers its workgroup the same way
// (foldedWorkgroup below) and unfolds it back into its tile. The grid is unchanged where no
// dimension is over the limit, so folding costs nothing then; where it folds, every tile is still
// computed by one workgroup, with the same loops in the same order, so results are bit-identical.
// A folded launch may start a few workgroups past the last tile: they must return without
// touching memory. Whether a workgroup is past the end depends on its workgroup id and uniforms
// only, so it is the same for all its invocations, and a kernel with barriers may return before
// them (WGSL's uniformity analysis checks exactly that when the pipeline is compiled).

let foldLimit = MAX_WORKGROUPS_PER_DIM;

/** The largest grid dimension kernels launch: WebGPU's 65,535, unless a test lowered it. */
export function gridFoldLimit(): number {
  return foldLimit;
}

/**
 * For tests only: fold every grid at `limit` workgroups per dimension (undefined: back to
 * 65,535), so that small tensors take the folded paths that only huge ones would otherwise reach.
 * Programs built while it is lowered carry their folded grids; dispatch checks grids against it.
 */
export function setGridFoldLimitForTests(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 2 && limit <= MAX_WORKGROUPS_PER_DIM)) {
    throw new RangeError(`setGridFoldLimitForTests: ${limit} must be a whole number 2…${MAX_WORKGROUPS_PER_DIM}`);
  }
  foldLimit = limit ?? MAX_WORKGROUPS_PER_DIM;
}

/**
 * The launch grid for a kernel whose natural grid is `tiles` workgroups: `tiles` itself where
 * every dimension is within the limit, else the same number of workgroups (a few more) folded
 * into up to three dimensions. The kernel must pass `tiles` to foldedWorkgroup (tileUniforms).
 */
export function foldGrid(tiles: Grid): Grid {
  const limit = foldLimit;
  if (tiles.every((d) => d <= limit)) return [...tiles];
  const total = tiles[0] * tiles[1] * tiles[2];
  const z = Math.ceil(total / (limit * limit));
  if (z > limit) throw new RangeError(`foldGrid: ${total} workgroups do not fit a grid of ${limit}³`);
  const perZ = Math.ceil(total / z);
  const y = Math.ceil(perZ / limit);
  return [Math.ceil(perZ / y), y, z];
}

/** The natural grid as three u32 uniforms (tilesX, tilesY, tilesZ), for foldedWorkgroup. */
export function tileUniforms(tiles: Grid): UniformField[] {
  return [['u32', tiles[0]], ['u32', tiles[1]], ['u32', tiles[2]]];
}

/**
 * Grid for `count` independent items handled `perWorkgroup` at a time: foldGrid of a 1-D line
 * of workgroups. Kernels that use it recover the linear workgroup index with linearWorkgroup
 * (LINEAR_WORKGROUP_WGSL) and must bounds-check the item, since folding can launch a few
 * workgroups too many.
 */
export function linearGrid(count: number, perWorkgroup: number): Grid {
  return foldGrid([Math.max(1, Math.ceil(count / perWorkgroup)), 1, 1]);
}

/** WGSL helper matching `linearGrid`: the workgroup's linear index. */
export const LINEAR_WORKGROUP_WGSL = /* wgsl */ `
fn linearWorkgroup(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + nwg.x * (wid.y + nwg.y * wid.z); }
`;

/**
 * WGSL matching foldGrid: the workgroup's linear index, and its tile in a natural grid of
 * tiles.x × tiles.y × tiles.z workgroups (valid false for the workgroups past the last tile).
 * tileOf(wid, nwg) is that tile for the launch's own natural grid: a kernel that includes this
 * names its uniform block `params` and gives it tilesX, tilesY and tilesZ (tileUniforms).
 */
export const FOLDED_WORKGROUP_WGSL = /* wgsl */ `${LINEAR_WORKGROUP_WGSL}
struct Tile { id: vec3u, valid: bool }
fn foldedWorkgroup(wid: vec3u, nwg: vec3u, tiles: vec3u) -> Tile {
  let i = linearWorkgroup(wid, nwg);
  let plane = tiles.x * tiles.y;
  return Tile(vec3u(i % tiles.x, (i / tiles.x) % tiles.y, i / plane), i < plane * tiles.z);
}
fn tileOf(wid: vec3u, nwg: vec3u) -> Tile {
  return foldedWorkgroup(wid, nwg, vec3u(params.tilesX, params.tilesY, params.tilesZ));
}
`;
