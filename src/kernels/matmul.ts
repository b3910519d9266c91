// Matrix multiplication C = op(A) · op(B) (+ bias, then an activation), batched.
//   A: [batch, M, K], or [batch, K, M] when transA;  B: [batch, K, N], or [batch, N, K] when transB.
//   A batch of 1 broadcasts over B's batch and vice versa (strides of 0).
// Transposes are read in place (the backward pass needs Aᵀ·G and G·Bᵀ), never materialised.
//
// The kernel ladder (llm.c style: each version one idea on top of the last; `npm run bench --
// --filter matmul` measures them all, docs/kernels.md walks through the numbers):
//   v1 naive    one invocation per output; each reads a row of A and a column of B from global
//               memory: 2K loads per 2K flops, and B's column loads are strided.
//   v2 tiled    16×16 invocations share 16×16 tiles of A and B in workgroup memory: every
//               element loaded from global memory is reused 16 times.
//   v3 blocked  each invocation computes a 4×4 block of C from a 64×64 tile: per k step it reads
//               4 values of A and 4 of B from workgroup memory and does 16 FMAs in registers, so
//               workgroup-memory traffic per flop drops 4× again.
//   v4 vec4     v3's tiles, moved as vec4, 32 deep in k: each invocation loads two vec4s of A and
//               two of B per k step (a quarter of v3's load instructions, half its barriers),
//               reads its 4 rows of A and 4 columns of B from workgroup memory as one vec4 each,
//               and stores its 4×4 block as four vec4. Needs the contiguous dimension of A, B
//               and C to be a multiple of 4 (A's k, or m when transposed; B's n, or k when
//               transposed; C's n); other shapes run v3.
//   v5 direct   v3's register blocking, 8×8 per invocation, without workgroup memory: operands
//               straight from global memory, no barriers (conv2d's default kernel does the same).
//               Wins on a CPU driver, where "workgroup memory" is the same RAM behind the same
//               caches and a barrier is a round of coroutine switches; a GPU wants v4.
// Thread layout: each rung's grid has one workgroup per output tile (v1–v4: x the tile's column,
// y its row, z the batch item; v5: a line of 64-invocation workgroups over the blocks, batch in z).
// That natural grid is launched folded (foldGrid, src/kernels/program.ts): past 65,535 workgroups
// in a dimension the tiles are numbered linearly and laid over the three dimensions, and each
// workgroup unfolds its tile (tileOf below); the few workgroups past the last tile return at once.
// All variants fuse the epilogue: bias add and activation happen in registers before the single
// write of C, which saves Dense layers two extra passes over their output.
// Which one runs is decided in one place, src/core/kernel-policy.ts; matmulProgram builds exactly
// the variant it is given.

import { REGISTER_BLOCK } from './unroll.ts';
import { activationCode, activationReference, ACTIVATION_WGSL, type Activation } from './activation.ts';
import { foldGrid, FOLDED_WORKGROUP_WGSL, tileUniforms, type Grid, type Program } from './program.ts';

export type MatmulVariant = 'naive' | 'tiled' | 'blocked' | 'vec4' | 'direct';
export const MATMUL_VARIANTS: MatmulVariant[] = ['naive', 'tiled', 'blocked', 'vec4', 'direct'];

/**
 * A matmul kernel with its parameters: the variant, and for v5 `direct` its register block (TM
 * rows × TN columns per invocation; default 8×8, narrower where C has fewer columns). The kernel
 * policy's tuner (src/tune/) searches these; a bare variant name means its default parameters.
 */
export interface MatmulKernel {
  variant: MatmulVariant;
  block?: { tm: number; tn: number };
}

/** A kernel as matmulProgram takes it: a variant name (default parameters) or a MatmulKernel. */
export type MatmulKernelChoice = MatmulVariant | MatmulKernel;

export interface MatmulShape {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  /** Batch strides in elements (0 broadcasts a single matrix). */
  aBatchStride: number;
  bBatchStride: number;
}

export interface MatmulEpilogue {
  hasBias: boolean;
  activation: Activation;
  alpha: number;
}

const PARAMS_WGSL = /* wgsl */ `
struct Params { m: u32, n: u32, k: u32, aBatchStride: u32, bBatchStride: u32, alpha: f32, tilesX: u32, tilesY: u32, tilesZ: u32 }
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
${ACTIVATION_WGSL}
// tileOf: this workgroup's output tile in the natural grid (the thread layout above); !valid past the last.
${FOLDED_WORKGROUP_WGSL}

// Element (row, col) of op(A) and op(B) for batch z; callers bounds-check.
fn loadA(z: u32, row: u32, col: u32) -> f32 {
  let base = z * params.aBatchStride;
  if (TRANS_A) { return a[base + col * params.m + row]; }
  return a[base + row * params.k + col];
}
fn loadB(z: u32, row: u32, col: u32) -> f32 {
  let base = z * params.bBatchStride;
  if (TRANS_B) { return b[base + col * params.k + row]; }
  return b[base + row * params.n + col];
}
fn store(z: u32, row: u32, col: u32, v: f32) {
  var r = v;
  if (HAS_BIAS) { r += bias[col]; }
  c[(z * params.m + row) * params.n + col] = activate(r, params.alpha);
}`;

// v1: one invocation per output element.
const NAIVE_WGSL = /* wgsl */ `
${PARAMS_WGSL}
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let tile = tileOf(wid, nwg);
  let row = tile.id.y * 8u + lid.y;
  let col = tile.id.x * 8u + lid.x;
  let z = tile.id.z;
  if (!tile.valid || row >= params.m || col >= params.n) { return; }
  var acc = 0.0;
  for (var i = 0u; i < params.k; i++) {
    acc += loadA(z, row, i) * loadB(z, i, col);
  }
  store(z, row, col, acc);
}`;

// v2: 16×16 outputs per workgroup; A and B pass through workgroup memory 16 columns at a time.
const TILE = 16;
const TILED_WGSL = /* wgsl */ `
${PARAMS_WGSL}
var<workgroup> tileA: array<array<f32, ${TILE}>, ${TILE}>;
var<workgroup> tileB: array<array<f32, ${TILE}>, ${TILE}>;
@compute @workgroup_size(${TILE}, ${TILE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let tile = tileOf(wid, nwg);
  // A whole workgroup past the last tile leaves together (uniform: no barrier hazard).
  if (!tile.valid) { return; }
  let row = tile.id.y * ${TILE}u + lid.y;
  let col = tile.id.x * ${TILE}u + lid.x;
  let z = tile.id.z;
  var acc = 0.0;
  for (var k0 = 0u; k0 < params.k; k0 += ${TILE}u) {
    // Each invocation loads one element of each tile; zeros pad the ragged edges.
    let ka = k0 + lid.x;
    let kb = k0 + lid.y;
    tileA[lid.y][lid.x] = select(0.0, loadA(z, row, ka), row < params.m && ka < params.k);
    tileB[lid.y][lid.x] = select(0.0, loadB(z, kb, col), kb < params.k && col < params.n);
    workgroupBarrier();
    for (var i = 0u; i < ${TILE}u; i++) {
      acc += tileA[lid.y][i] * tileB[i][lid.x];
    }
    workgroupBarrier();
  }
  if (row < params.m && col < params.n) { store(z, row, col, acc); }
}`;

// v3: 16×16 invocations, each a 4×4 block of a 64×64 output tile; k advances 16 at a time.
const BM = 64;
const BN = 64;
const BK = 16;
const VBK = 32; // v4's k step
const TM = 4;
const TN = 4;
const BLOCKED_WGSL = /* wgsl */ `
${PARAMS_WGSL}
// Stored k-major, so the inner loop reads TM (and TN) consecutive floats for one k.
var<workgroup> tileA: array<f32, ${BK * BM}>;
var<workgroup> tileB: array<f32, ${BK * BN}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) t: u32) {
  let tile = tileOf(wid, nwg);
  // A whole workgroup past the last tile leaves together (uniform: no barrier hazard).
  if (!tile.valid) { return; }
  let z = tile.id.z;
  let rowBase = tile.id.y * ${BM}u;
  let colBase = tile.id.x * ${BN}u;
  var acc: array<array<f32, ${TN}>, ${TM}>;
  for (var k0 = 0u; k0 < params.k; k0 += ${BK}u) {
    // 256 invocations load the 64×16 slice of A and the 16×64 slice of B, 4 elements each.
    // Consecutive invocations take consecutive k (A) or columns (B): the global reads coalesce.
    for (var j = 0u; j < ${(BM * BK) / 256}u; j++) {
      let e = t + j * 256u;
      var r: u32; var kk: u32;
      if (TRANS_A) { kk = e / ${BM}u; r = e % ${BM}u; } else { r = e / ${BK}u; kk = e % ${BK}u; }
      let gr = rowBase + r;
      let gk = k0 + kk;
      tileA[kk * ${BM}u + r] = select(0.0, loadA(z, gr, gk), gr < params.m && gk < params.k);
    }
    for (var j = 0u; j < ${(BN * BK) / 256}u; j++) {
      let e = t + j * 256u;
      var cc: u32; var kk: u32;
      if (TRANS_B) { cc = e / ${BK}u; kk = e % ${BK}u; } else { kk = e / ${BN}u; cc = e % ${BN}u; }
      let gc = colBase + cc;
      let gk = k0 + kk;
      tileB[kk * ${BN}u + cc] = select(0.0, loadB(z, gk, gc), gk < params.k && gc < params.n);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      var av: array<f32, ${TM}>;
      var bv: array<f32, ${TN}>;
      for (var i = 0u; i < ${TM}u; i++) { av[i] = tileA[kk * ${BM}u + lid.y * ${TM}u + i]; }
      for (var j = 0u; j < ${TN}u; j++) { bv[j] = tileB[kk * ${BN}u + lid.x * ${TN}u + j]; }
      for (var i = 0u; i < ${TM}u; i++) {
        for (var j = 0u; j < ${TN}u; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < ${TM}u; i++) {
    let row = rowBase + lid.y * ${TM}u + i;
    for (var j = 0u; j < ${TN}u; j++) {
      let col = colBase + lid.x * ${TN}u + j;
      if (row < params.m && col < params.n) { store(z, row, col, acc[i][j]); }
    }
  }
}`;

// v4: v3's 64×64 tiles and 4×4 blocks, with every load and store four floats wide, and k
// advancing 32 at a time (half v3's barriers, for 16 KiB of workgroup memory: WebGPU's
// guaranteed minimum; docs/kernels.md compares it with 16 deep).
// The tiles stay k-major, packed so that one vec4 holds 4 rows of A (or 4 columns of B) at one k:
// the inner loop then reads one vec4 of each and does 4 vec4 FMAs.
const VEC4_WGSL = /* wgsl */ `
struct Params { m: u32, n: u32, k: u32, aBatchStride: u32, bBatchStride: u32, alpha: f32, tilesX: u32, tilesY: u32, tilesZ: u32 }
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;
@group(0) @binding(4) var<uniform> params: Params;
${ACTIVATION_WGSL}
${FOLDED_WORKGROUP_WGSL}
var<workgroup> tileA: array<vec4f, ${(VBK * BM) / 4}>; // [k][row / 4]
var<workgroup> tileB: array<vec4f, ${(VBK * BN) / 4}>; // [k][col / 4]
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) t: u32) {
  let tile = tileOf(wid, nwg);
  // A whole workgroup past the last tile leaves together (uniform: no barrier hazard).
  if (!tile.valid) { return; }
  let z = tile.id.z;
  let rowBase = tile.id.y * ${BM}u;
  let colBase = tile.id.x * ${BN}u;
  // Batch offsets in vec4s; the shape rule makes every stride and row length a multiple of 4.
  let aBase = z * (params.aBatchStride / 4u);
  let bBase = z * (params.bBatchStride / 4u);
  var acc: array<vec4f, ${TM}>; // acc[i] = 4 columns of row i of this invocation's block
  for (var k0 = 0u; k0 < params.k; k0 += ${VBK}u) {
    // Two vec4s of A and two of B per invocation (the tiles hold 512 vec4s each). Stored [k, m],
    // 16 vec4s make one k-row of the tile; stored [m, k], a vec4 is 4 k values of one row and is
    // spread over 4 k-rows of the tile. B likewise, with columns for rows.
    for (var part = 0u; part < ${VBK / 16}u; part++) {
      let e = t + part * 256u;
      if (TRANS_A) {
        let kk = e / 16u;
        let q = e % 16u;
        let gk = k0 + kk;
        let gm = rowBase + 4u * q;
        var v = vec4f(0.0);
        if (gk < params.k && gm < params.m) { v = a[aBase + (gk * params.m + gm) / 4u]; }
        tileA[kk * 16u + q] = v;
      } else {
        let r = e / ${VBK / 4}u;
        let q = e % ${VBK / 4}u;
        let gr = rowBase + r;
        let gk = k0 + 4u * q;
        var v = vec4f(0.0);
        if (gr < params.m && gk < params.k) { v = a[aBase + (gr * params.k + gk) / 4u]; }
        for (var j = 0u; j < 4u; j++) { tileA[(4u * q + j) * 16u + r / 4u][r % 4u] = v[j]; }
      }
      if (TRANS_B) {
        let cc = e / ${VBK / 4}u;
        let q = e % ${VBK / 4}u;
        let gc = colBase + cc;
        let gk = k0 + 4u * q;
        var v = vec4f(0.0);
        if (gc < params.n && gk < params.k) { v = b[bBase + (gc * params.k + gk) / 4u]; }
        for (var j = 0u; j < 4u; j++) { tileB[(4u * q + j) * 16u + cc / 4u][cc % 4u] = v[j]; }
      } else {
        let kk = e / 16u;
        let q = e % 16u;
        let gk = k0 + kk;
        let gc = colBase + 4u * q;
        var v = vec4f(0.0);
        if (gk < params.k && gc < params.n) { v = b[bBase + (gk * params.n + gc) / 4u]; }
        tileB[kk * 16u + q] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${VBK}u; kk++) {
      let av = tileA[kk * 16u + lid.y];
      let bv = tileB[kk * 16u + lid.x];
      acc[0] = fma(vec4f(av.x), bv, acc[0]);
      acc[1] = fma(vec4f(av.y), bv, acc[1]);
      acc[2] = fma(vec4f(av.z), bv, acc[2]);
      acc[3] = fma(vec4f(av.w), bv, acc[3]);
    }
    workgroupBarrier();
  }
  let col = colBase + lid.x * 4u;
  if (col >= params.n) { return; }
  var biasV = vec4f(0.0);
  if (HAS_BIAS) { biasV = vec4f(bias[col], bias[col + 1u], bias[col + 2u], bias[col + 3u]); }
  for (var i = 0u; i < ${TM}u; i++) {
    let row = rowBase + lid.y * ${TM}u + i;
    if (row < params.m) {
      let v = acc[i] + biasV;
      let al = params.alpha;
      c[((z * params.m + row) * params.n + col) / 4u] =
        vec4f(activate(v.x, al), activate(v.y, al), activate(v.z, al), activate(v.w, al));
    }
  }
}`;

// v5: register blocking without workgroup memory. Each invocation computes a TM×TN block of C
// (8×8 where C has 8 columns or more) straight from global memory: per k step it loads TM
// values of A and TN of B and does TM·TN FMAs, with no barriers and no tile stores; on a CPU
// driver the caches share the operands between neighbouring invocations, as workgroup memory
// would on a GPU. Rows and columns past the edge are clamped to the last one (computed, never
// stored), so the inner loop has no bounds checks. The same idea as conv2d's `direct` kernel,
// and like it written out on wgpu (unroll.ts: the loops over TM and TN, which may not break).
// Thread layout: 64 invocations per workgroup over a linear list of blocks (row block
// item / colBlocks, column block item % colBlocks): the tile's x; the batch item: its z.
function directWgsl(tm: number, tn: number): string {
  return /* wgsl */ `
${PARAMS_WGSL}
const TM = ${tm}u;
const TN = ${tn}u;
@compute @workgroup_size(${DIRECT_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let tile = tileOf(wid, nwg);
  let z = tile.id.z;
  let colBlocks = (params.n + TN - 1u) / TN;
  let item = tile.id.x * ${DIRECT_WORKGROUP}u + lid;
  let m0 = (item / colBlocks) * TM;
  let n0 = (item % colBlocks) * TN;
  if (!tile.valid || m0 >= params.m) { return; }
  // Element (row, k) of op(A) sits at aRow[i] + k * aStepK; (k, col) of op(B) at bCol[j] + k * bStepK.
  let aStepK = select(1u, params.m, TRANS_A);
  let bStepK = select(params.n, 1u, TRANS_B);
  var aRow: array<u32, TM>;
  var bCol: array<u32, TN>;
  for (var i = 0u; i < TM; i++) {
    let row = min(m0 + i, params.m - 1u);
    aRow[i] = z * params.aBatchStride + select(row * params.k, row, TRANS_A);
  }
  for (var j = 0u; j < TN; j++) {
    let col = min(n0 + j, params.n - 1u);
    bCol[j] = z * params.bBatchStride + select(col, col * params.k, TRANS_B);
  }
  var acc: array<array<f32, TN>, TM>;
  var aK = 0u;
  var bK = 0u;
  for (var k = 0u; k < params.k; k++) {
    var bv: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { bv[j] = b[bCol[j] + bK]; }
    for (var i = 0u; i < TM; i++) {
      let av = a[aRow[i] + aK];
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
    }
    aK += aStepK;
    bK += bStepK;
  }
  for (var i = 0u; i < TM; i++) {
    let row = m0 + i;
    if (row < params.m) {
      for (var j = 0u; j < TN; j++) {
        let col = n0 + j;
        if (col < params.n) { store(z, row, col, acc[i][j]); }
      }
    }
  }
}`;
}
const DIRECT_WORKGROUP = 64;

/** v5's block: 8×8, narrower where C has fewer than 8 columns (so no lane computes padding). */
function directBlock(n: number): { tm: number; tn: number } {
  return { tm: 8, tn: n >= 8 ? 8 : n >= 4 ? 4 : n };
}

// The variants with one WGSL source and a fixed output tile per workgroup (v5's depend on the shape).
const FIXED_TILE_VARIANTS: Record<Exclude<MatmulVariant, 'direct'>, { wgsl: string; outputsPerGroup: [number, number] }> = {
  naive: { wgsl: NAIVE_WGSL, outputsPerGroup: [8, 8] },
  tiled: { wgsl: TILED_WGSL, outputsPerGroup: [TILE, TILE] },
  blocked: { wgsl: BLOCKED_WGSL, outputsPerGroup: [BN, BM] },
  vec4: { wgsl: VEC4_WGSL, outputsPerGroup: [BN, BM] },
};

/** The kernel source and natural grid (its tiles: the thread layout above) of a kernel for a shape. */
function launchOf(kernel: MatmulKernel, s: MatmulShape): { wgsl: string; tiles: Grid } {
  const variant = kernel.variant;
  if (variant === 'direct') {
    const block = kernel.block ?? directBlock(s.n);
    const blocks = Math.ceil(s.m / block.tm) * Math.ceil(s.n / block.tn);
    return { wgsl: directWgsl(block.tm, block.tn), tiles: [Math.ceil(blocks / DIRECT_WORKGROUP), 1, s.batch] };
  }
  const v = FIXED_TILE_VARIANTS[variant];
  return { wgsl: v.wgsl, tiles: [Math.ceil(s.n / v.outputsPerGroup[0]), Math.ceil(s.m / v.outputsPerGroup[1]), s.batch] };
}

function isBlock(b: { tm: number; tn: number }): boolean {
  return [b.tm, b.tn].every((v) => Number.isInteger(v) && v >= 1 && v <= 16);
}

/** A kernel's key in the tuner's tables: 'vec4', 'direct' (default block), 'direct.4x4'. */
export function matmulKernelKey(choice: MatmulKernelChoice): string {
  const k = typeof choice === 'string' ? { variant: choice } : choice;
  return k.block ? `${k.variant}.${k.block.tm}x${k.block.tn}` : k.variant;
}

/** The kernel a key names for shape `s` (a bare variant name without parameters), or undefined when it names none that can run it. */
export function parseMatmulKernel(key: string, s: MatmulShape): MatmulKernelChoice | undefined {
  const m = /^([a-z0-9]+)(?:\.(\d+)x(\d+))?$/.exec(key);
  if (!m || !MATMUL_VARIANTS.includes(m[1] as MatmulVariant)) return undefined;
  const variant = m[1] as MatmulVariant;
  if (variant === 'vec4' && !vec4Fits(s)) return undefined;
  if (!m[2]) return variant;
  const block = { tm: Number(m[2]), tn: Number(m[3]) };
  return variant === 'direct' && isBlock(block) ? { variant, block } : undefined;
}

/**
 * The kernels the tuner tries on one matmul shape: every rung of the ladder (vec4 where its
 * multiple-of-4 rule holds), and v5 `direct` with 4×4 and 16×8 blocks beside its default.
 */
export function matmulCandidates(s: MatmulShape): MatmulKernel[] {
  const out: MatmulKernel[] = MATMUL_VARIANTS.filter((v) => v !== 'vec4' || vec4Fits(s)).map((variant) => ({ variant }));
  const d = directBlock(s.n);
  for (const block of [{ tm: 4, tn: Math.min(4, d.tn) }, { tm: 16, tn: d.tn }]) out.push({ variant: 'direct', block });
  return out;
}

/** Whether the vec4 variant can run this shape: its operands and output move as vec4. */
export function vec4Fits(s: MatmulShape): boolean {
  const aRow = s.transA ? s.m : s.k;
  const bRow = s.transB ? s.k : s.n;
  return aRow % 4 === 0 && bRow % 4 === 0 && s.n % 4 === 0;
}

/**
 * The variant's kernel for one shape, exactly the variant asked for (which one to ask for is
 * decided in src/core/kernel-policy.ts). vec4 off its shape rule is an error, not another rung.
 */
export function matmulProgram(
  s: MatmulShape,
  epilogue: MatmulEpilogue = { hasBias: false, activation: 'linear', alpha: 0 },
  choice: MatmulKernelChoice,
): Program {
  const kernel: MatmulKernel = typeof choice === 'string' ? { variant: choice } : choice;
  const variant = kernel.variant;
  if (!MATMUL_VARIANTS.includes(variant)) throw new RangeError(`matmul: variant '${String(variant)}' is not one of ${MATMUL_VARIANTS.join(', ')}`);
  if (kernel.block && (variant !== 'direct' || !isBlock(kernel.block))) {
    throw new RangeError(`matmul: a block (${kernel.block.tm}×${kernel.block.tn}) is a parameter of 'direct' only, rows and columns whole numbers 1…16`);
  }
  if (variant === 'vec4' && !vec4Fits(s)) {
    throw new RangeError(`matmul: variant 'vec4' needs the contiguous dimensions of A, B and C to be multiples of 4 (A's ${s.transA ? 'm' : 'k'}, B's ${s.transB ? 'k' : 'n'}, C's n); got m ${s.m}, n ${s.n}, k ${s.k}${s.transA ? ', A transposed' : ''}${s.transB ? ', B transposed' : ''}`);
  }
  const { wgsl, tiles } = launchOf(kernel, s);
  const d = directBlock(s.n);
  const custom = kernel.block && (kernel.block.tm !== d.tm || kernel.block.tn !== d.tn);
  return {
    name: custom ? `matmul.${variant}.${kernel.block!.tm}x${kernel.block!.tn}` : `matmul.${variant}`,
    wgsl,
    ...(variant === 'direct' ? { unroll: REGISTER_BLOCK } : {}),
    overrides: {
      TRANS_A: s.transA ? 1 : 0,
      TRANS_B: s.transB ? 1 : 0,
      HAS_BIAS: epilogue.hasBias ? 1 : 0,
      ACT: activationCode(epilogue.activation),
    },
    inputs: 3,
    outputs: 1,
    uniforms: [
      ['u32', s.m],
      ['u32', s.n],
      ['u32', s.k],
      ['u32', s.aBatchStride],
      ['u32', s.bBatchStride],
      ['f32', epilogue.alpha],
      ...tileUniforms(tiles),
    ],
    grid: foldGrid(tiles),
    flops: 2 * s.batch * s.m * s.n * s.k,
    bytes: 4 * s.batch * (s.m * s.k + s.k * s.n + s.m * s.n),
  };
}

/** Plain-loop float64 reference of matmulProgram (same layouts and epilogue). */
export function matmulReference(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  s: MatmulShape,
  bias?: ArrayLike<number>,
  activation: Activation = 'linear',
  alpha = 0,
): Float64Array {
  const { batch, m, n, k } = s;
  const out = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    const ao = z * s.aBatchStride;
    const bo = z * s.bBatchStride;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          const av = s.transA ? a[ao + p * m + i] : a[ao + i * k + p];
          const bv = s.transB ? b[bo + j * k + p] : b[bo + p * n + j];
          acc += av * bv;
        }
        if (bias) acc += bias[j];
        out[(z * m + i) * n + j] = activationReference(activation, acc, alpha);
      }
    }
  }
  return out;
}
