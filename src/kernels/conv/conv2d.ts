// 2-D convolution, NHWC × HWIO, as three implicit GEMMs: the forward pass and the two gradients.
// No im2col matrix is ever stored; each kernel computes im2col addresses on the fly.
//
//   forward       y[m, n]  = Σ_k X[m, k] · W[k, n]       m = (b, oh, ow)   n = oc   k = (kh, kw, ic)
//   input-grad    dx[m, n] = Σ_k DY[m, k] · Wᵀ[k, n]     m = (b, ih, iw)   n = ic   k = (kh, kw, oc)
//   weight-grad   dw[m, n] = Σ_k Xᵀ[m, k] · DY[k, n]     m = (kh, kw, ic)  n = oc   k = (b, oh, ow)
// X[m, k] is the input pixel that tap k of output pixel m reads (zero in the padding). W's HWIO
// layout is already the [K, N] matrix of the forward GEMM, and DY's NHWC layout the [K, N] of the
// weight-gradient GEMM, so those operands are read as plain matrices.
//
// The input-gradient is a gather, never a scatter: dx at (ih, iw) sums the taps (kh, kw) and
// output pixels (oh, ow) with oh·stride − padTop + kh = ih. For stride s only every s-th tap
// qualifies, and which ones depends on (ih + padTop) mod s — the pixel's "phase". The launch has
// one z-slice per phase (s_h·s_w of them); within a phase every pixel uses the same kh_p·kw_p
// taps (kh = phase, phase + s, …), so the GEMM is dense again with K = ⌈kH/s⌉·⌈kW/s⌉·outC instead
// of a K full of multiplications by zero. This kernel is also the transposed convolution's forward
// pass (conv2d-transpose.ts).
//
// The weight-gradient has a small output (kH·kW·inC × outC) and a long reduction (every pixel of
// the batch), so its K is split over the launch's z dimension ("split-K"): each z-slice writes a
// partial sum of its share of pixels, and a second pass (a column reduction) adds the slices. WGSL
// has no float atomics, and this two-pass sum is deterministic.
//
// The variants, one file each, every kernel in it one whole WGSL module (`npm run bench --
// --filter conv` measures them, docs/kernels.md has the figures):
//   naive     one invocation per output element: K loads of each operand per 2K flops. It is
//             direct with a 1×1 block.
//   direct    register-blocked implicit GEMM (conv2d-direct.ts): each invocation computes an
//             8×8 block (8 output rows × 8 channels; fewer channels when the layer has fewer),
//             taps outside, the contiguous channel axis inside, so a step reads 8 + 8 values for
//             64 FMAs with no index arithmetic; operands straight from global memory, no barriers.
//   subgroup  direct with the 8 column values of a step loaded once per subgroup and handed
//             round with subgroupBroadcast (conv2d-subgroup.ts): 8 + 1 loads per 64 FMAs. Needs
//             WebGPU's 'subgroups' feature; pays only on some shapes (subgroupPays).
//   window    subgroup with each block TM neighbouring pixels of one image row, so that the TM
//             pixels and kW taps of a kernel row read one window of (TM − 1)·s + kW inputs
//             instead of TM·kW (conv2d-window.ts): forward and input-gradient; its
//             weight-gradient is subgroup's. Needs 'subgroups'.
//   blocked   matmul.ts's v3 over the implicit GEMM (conv2d-blocked.ts): 64×64 output tiles
//             staged through workgroup memory, a 4×4 register block per invocation. Shaped for a
//             GPU; on a CPU driver the barriers and per-element im2col divisions cost more than
//             the loads it saves. Mostly padding under BLOCKED_MIN_COLUMNS output columns.
//   winograd  Winograd F(2×2, 3×3) and F(2×2, 5×5) for stride-1 kernels (conv2d-winograd.ts):
//             α² multiplies per 2×2 output tile and channel pair instead of 4r² (16 for 36, 36
//             for 100), as α² batched matmuls between transforms. Forward and input-gradient
//             only, on winogradFits's shapes (the builders throw a RangeError elsewhere); its
//             weight-gradient is direct's. Several launches (winogradPrograms; conv-ops runs them).
// All variants fuse the epilogue (bias, activation) into the single write of the output, and all
// but winograd are correct on every shape. Which one runs is decided in one place,
// src/core/kernel-policy.ts; the builders here build exactly the variant they are given, named `<op>.<variant>`.

import { activationCode, activationReference, type Activation } from '../activation.ts';
import { foldGrid, type Program } from '../program.ts';
import { convFlops, type ConvGeometry } from './geometry.ts';
import { gemmSize, uniforms, type ConvPass } from './conv2d-common.ts';
import { REGISTER_BLOCK } from '../unroll.ts';
import { directBlock, directForwardWgsl, directInputGradWgsl, directTiles, directWeightGradWgsl } from './conv2d-direct.ts';
import { MIN_SUBGROUP_SIZE, subgroupForwardWgsl, subgroupInputGradWgsl, subgroupTiles, subgroupWeightGradWgsl } from './conv2d-subgroup.ts';
import { windowBlock, windowForwardWgsl, windowInputGradWgsl, windowRowsOf, windowTiles } from './conv2d-window.ts';
import { blockedInvocations, blockedTiles, blockedWgsl } from './conv2d-blocked.ts';
import {
  WINOGRAD_RULE, winogradGeometry, winogradGrid, winogradImagesPerChunk, winogradInputWgsl, winogradMatrices, winogradOutputWgsl,
  winogradFits, winogradShapeFits, winogradTiles, winogradUniforms, winogradWeightsWgsl,
} from './conv2d-winograd.ts';

export type { ConvPass };

/**
 * A convolution kernel variant. A named variant covers the forward pass and the input-gradient;
 * 'winograd' has no weight-gradient of its own and runs direct's (named `….direct`).
 */
export type ConvVariant = 'naive' | 'direct' | 'subgroup' | 'window' | 'blocked' | 'winograd';
export const CONV_VARIANTS: ConvVariant[] = ['naive', 'direct', 'subgroup', 'window', 'blocked', 'winograd'];
/** Variants whose WGSL needs the device's 'subgroups' feature (of any subgroup size: conv2d-subgroup.ts). */
export const SUBGROUP_CONV_VARIANTS: readonly ConvVariant[] = ['subgroup', 'window'];

/**
 * A convolution kernel with its parameters: the variant, and for direct, subgroup and window the
 * register block (TM output rows × TN channels per invocation; default directBlock's, 8×8 or
 * narrower where the layer has fewer channels; window's windowBlock's, TM pixels of one row). The kernel policy's tuner (src/tune/) searches these; a
 * bare variant name means its default parameters.
 */
export interface ConvKernel {
  variant: ConvVariant;
  block?: { tm: number; tn: number };
  /** Weight-gradient only: the split-K slices (default weightGradSplits's rule), at most one per pixel and 1024. */
  splits?: number;
  /**
   * 'subgroup' only: the fewest lanes the device's subgroups have (its subgroupMinSize; default
   * 4, WebGPU's least), which the kernel counts on and nothing more. The device's, not a choice:
   * the kernel policy fills it in (withSubgroupLanes), and it is no part of the kernel's key.
   */
  lanes?: number;
}

/** A kernel as the builders take it: a variant name (default parameters) or a ConvKernel. */
export type ConvKernelChoice = ConvVariant | ConvKernel;

/** The ConvKernel a choice names. */
export function convKernelOf(choice: ConvKernelChoice): ConvKernel {
  return typeof choice === 'string' ? { variant: choice } : choice;
}

/** 'direct', or 'direct.4x8' for a block other than the default (`fallback`, the variant's default block there): the kernel's name in profiles. */
export function convKernelName(choice: ConvKernelChoice, cols: number, fallback = directBlock(cols)): string {
  const k = convKernelOf(choice);
  if (!k.block || k.variant === 'naive' || k.variant === 'blocked') return k.variant;
  const d = fallback;
  return k.block.tm === d.tm && k.block.tn === d.tn ? k.variant : `${k.variant}.${k.block.tm}x${k.block.tn}`;
}

/** A kernel's key in the tuner's tables: 'direct' (default parameters), 'direct.4x8', 'subgroup.16x8', 'blocked'. */
export function convKernelKey(choice: ConvKernelChoice): string {
  const k = convKernelOf(choice);
  return `${k.variant}${k.block ? `.${k.block.tm}x${k.block.tn}` : ''}${k.splits ? `.s${k.splits}` : ''}`;
}

/** The kernel a key names (a bare variant name without parameters), or undefined when it names none this device can run (a cache from elsewhere). */
export function parseConvKernel(key: string, hasSubgroups: boolean): ConvKernelChoice | undefined {
  const m = /^([a-z]+)(?:\.(\d+)x(\d+))?(?:\.s(\d+))?$/.exec(key);
  if (!m || !CONV_VARIANTS.includes(m[1] as ConvVariant)) return undefined;
  const variant = m[1] as ConvVariant;
  if (SUBGROUP_CONV_VARIANTS.includes(variant) && !hasSubgroups) return undefined;
  if (!m[2] && !m[4]) return variant;
  const kernel: ConvKernel = { variant, ...(m[2] ? { block: { tm: Number(m[2]), tn: Number(m[3]) } } : {}), ...(m[4] ? { splits: Number(m[4]) } : {}) };
  try {
    checkVariant('parseConvKernel', kernel);
  } catch {
    return undefined;
  }
  return kernel;
}

/**
 * The kernels the tuner tries on one pass of one convolution: `direct` with its default block
 * and with blocks of 4 and 16 rows (and 4 or 16 channels where the layer has them), `subgroup`
 * likewise where the device has subgroups, and there `window` for the forward and input-gradient
 * (its default block, 8 or 7 pixels, and twice the default where the rows are that wide), and
 * `blocked`, the GPU-shaped one. `naive` is left
 * out: it is direct with a 1×1 block, the ladder's first rung, never the fastest (and on a large
 * layer of a CPU driver, seconds a run). `winograd` joins where it fits (winogradFits: stride 1,
 * 3×3 or 5×5, forward and input-gradient).
 */
export function convCandidates(pass: ConvPass, g: ConvGeometry, device: { subgroups: boolean }): ConvKernel[] {
  const { cols } = gemmSize(pass, g);
  const d = directBlock(cols);
  const blocks = [{ tm: 4, tn: d.tn }, { tm: 16, tn: d.tn }];
  if (d.tn === 8) blocks.push({ tm: 8, tn: 4 });
  if (cols >= 16) blocks.push({ tm: 8, tn: 16 });
  const out: ConvKernel[] = [{ variant: 'direct' }, ...blocks.map((block) => ({ variant: 'direct' as const, block }))];
  if (device.subgroups) {
    out.push({ variant: 'subgroup' }, ...blocks.filter((b) => b.tn <= 8).map((block) => ({ variant: 'subgroup' as const, block })));
    if (pass !== 'weightGrad') {
      // The window's default block, and 8 pixels besides (7 where the default is 8), and twice the default where the rows are that wide.
      const w = windowRowsOf(pass, g);
      const rule = windowBlock(w.width, cols);
      const tms = [...new Set([rule.tm === 8 ? 7 : 8, rule.tm * 2 <= Math.min(16, w.width) ? rule.tm * 2 : 0].filter((tm) => tm > 0 && tm !== rule.tm && tm <= Math.max(4, w.width)))];
      out.push({ variant: 'window' }, ...tms.map((tm) => ({ variant: 'window' as const, block: { tm, tn: rule.tn } })));
    }
  }
  out.push({ variant: 'blocked' });
  if (winogradFits(pass, g)) out.push({ variant: 'winograd' });
  if (pass === 'weightGrad') {
    // The split-K depth: a quarter and four times the rule's, for the default kernel.
    const rule = weightGradSplits(g, 'direct');
    for (const splits of [Math.max(1, Math.floor(rule / 4)), Math.min(1024, rule * 4, g.batch * g.outH * g.outW)]) {
      if (splits !== rule) out.push({ variant: 'direct', splits });
    }
  }
  return out;
}

export interface ConvEpilogue {
  hasBias: boolean;
  activation: Activation;
  /** Slope of leakyRelu. */
  alpha: number;
}

export const NO_EPILOGUE: ConvEpilogue = { hasBias: false, activation: 'linear', alpha: 0 };

// ------------------------------------------------------------------ Program builders

type BlockKernel = (tm: number, tn: number) => string;
type SubgroupKernel = (tm: number, tn: number, lanes: number) => string;
const DIRECT_KERNELS: Record<ConvPass, BlockKernel> = { forward: directForwardWgsl, inputGrad: directInputGradWgsl, weightGrad: directWeightGradWgsl };
const SUBGROUP_KERNELS: Record<ConvPass, SubgroupKernel> = { forward: subgroupForwardWgsl, inputGrad: subgroupInputGradWgsl, weightGrad: subgroupWeightGradWgsl };

/** The register block of a block kernel: 1×1 for naive; the kernel's own, else directBlock's, for direct and subgroup. */
function registerBlock(k: ConvKernel, cols: number): { tm: number; tn: number } {
  return k.variant === 'naive' ? { tm: 1, tn: 1 } : k.block ?? directBlock(cols);
}

function checkVariant(name: string, choice: ConvKernelChoice): ConvKernel {
  const k = convKernelOf(choice);
  if (!CONV_VARIANTS.includes(k.variant)) throw new RangeError(`${name}: variant '${String(k.variant)}' is not one of ${CONV_VARIANTS.join(', ')}`);
  if (k.splits !== undefined && !(Number.isInteger(k.splits) && k.splits >= 1 && k.splits <= 1024)) {
    throw new RangeError(`${name}: splits ${k.splits} must be a whole number 1…1024`);
  }
  if (k.lanes !== undefined && !(Number.isInteger(k.lanes) && k.lanes >= 1)) {
    throw new RangeError(`${name}: lanes ${k.lanes} (the device's smallest subgroup) must be a whole number ≥ 1`);
  }
  if (k.block) {
    const { tm, tn } = k.block;
    const maxTn = k.variant === 'subgroup' || k.variant === 'window' ? 8 : 16;
    if (!(Number.isInteger(tm) && Number.isInteger(tn) && tm >= 1 && tn >= 1 && tm <= 16 && tn <= maxTn)) {
      throw new RangeError(`${name}: block ${tm}×${tn} of '${k.variant}' must be whole numbers, rows 1…16 and channels 1…${maxTn}`);
    }
  }
  return k;
}

// The kernel a variant's weight-gradient runs, under its own name: winograd has none (direct's
// runs), nor has window (subgroup's, with its default block: window's block is pixels of a row).
function weightGradKernel(k: ConvKernel): ConvKernel {
  if (k.variant === 'winograd') return { ...k, variant: 'direct' };
  if (k.variant === 'window') return { variant: 'subgroup', ...(k.lanes ? { lanes: k.lanes } : {}), ...(k.splits ? { splits: k.splits } : {}) };
  return k;
}

// The Program of one pass in one variant: z slices (phases, or splits of `chunk` pixels each).
function build(pass: ConvPass, name: string, g: ConvGeometry, z: number, chunk: number,
  epilogue: ConvEpilogue, choice: ConvKernelChoice, bytes: number): Program {
  const asked = checkVariant(name, choice);
  if (asked.variant === 'winograd') checkWinograd(name, g);
  const kernel = pass === 'weightGrad' ? weightGradKernel(asked) : asked;
  const variant = kernel.variant;
  const { rows, cols } = gemmSize(pass, g);
  const withEpilogue = pass !== 'weightGrad';
  const overrides: Record<string, number> = withEpilogue ? { HAS_BIAS: epilogue.hasBias ? 1 : 0, ACT: activationCode(epilogue.activation) } : {};
  const windowed = variant === 'window' && pass !== 'weightGrad' ? windowRowsOf(pass, g) : undefined;
  const common = { name: `${name}.${convKernelName(kernel, cols, windowed && windowBlock(windowed.width, cols))}`, overrides, inputs: withEpilogue ? 3 : 2, outputs: 1, flops: convFlops(g), bytes };
  if (variant === 'blocked') {
    const tiles = blockedTiles(rows, cols, z);
    return { ...common, wgsl: blockedWgsl(pass), uniforms: uniforms(g, 0, chunk, epilogue.alpha, tiles), grid: foldGrid(tiles) };
  }
  if (variant === 'winograd') return winogradPrograms(pass === 'forward' ? 'forward' : 'inputGrad', g, epilogue, name).chunks[0].output;
  if (windowed) {
    const { tm, tn } = kernel.block ?? windowBlock(windowed.width, cols);
    const { tiles, colBlocks } = windowTiles(windowed.rows, windowed.width, cols, tm, tn, z);
    const lanes = kernel.lanes ?? MIN_SUBGROUP_SIZE;
    const wgsl = pass === 'forward' ? windowForwardWgsl(tm, tn, g.kW, g.strideW, lanes) : windowInputGradWgsl(tm, tn, g.kW, g.strideW, lanes);
    return { ...common, wgsl, uniforms: uniforms(g, colBlocks, chunk, epilogue.alpha, tiles), grid: foldGrid(tiles) };
  }
  const { tm, tn } = registerBlock(kernel, cols);
  if (pass === 'weightGrad') overrides.SHARED_TAP = g.inC % tm === 0 ? 1 : 0;
  const subgroup = variant === 'subgroup';
  const { tiles, colBlocks } = (subgroup ? subgroupTiles : directTiles)(rows, cols, tm, tn, z);
  const wgsl = subgroup ? SUBGROUP_KERNELS[pass](tm, tn, kernel.lanes ?? MIN_SUBGROUP_SIZE) : DIRECT_KERNELS[pass](tm, tn);
  return { ...common, wgsl, ...(subgroup ? {} : { unroll: REGISTER_BLOCK }), uniforms: uniforms(g, colBlocks, chunk, epilogue.alpha, tiles), grid: foldGrid(tiles) };
}

// The builders' check of winograd's shape rule (checkConvVariant has no shape to check it on).
function checkWinograd(name: string, g: ConvGeometry): void {
  if (!winogradShapeFits(g)) {
    throw new RangeError(`${name}: variant 'winograd' needs ${WINOGRAD_RULE}; this convolution has a ${g.kH}×${g.kW} kernel with strides [${g.strideH}, ${g.strideW}] (use 'direct')`);
  }
}

// The constants that bound the transforms' loops: the patch side A (and, in the weights', the kernel side R).
const WINOGRAD_CONSTS: readonly string[] = ['A'];

/** Winograd's launches for one pass, in order; conv-ops runs them (conv2d-winograd.ts explains each). */
export interface WinogradPlan {
  /** w → U [α², inC', outC'] (inC', outC': winogradGeometry's channels; for the input-gradient, the swapped ones). */
  weights: Program;
  uShape: number[];
  /** The rest, per chunk of images (one chunk unless V or M would exceed a storage binding). */
  chunks: WinogradChunk[];
}

export interface WinogradChunk {
  /** The pass's input (x, or dy) → V [α², tiles, inC'] for this chunk's images. */
  input: Program;
  vShape: number[];
  /** Then M = V · U, α² batched matmuls [tiles × inC'] · [inC' × outC'] (matmul.ts), M [α², tiles, outC']. */
  mShape: number[];
  /**
   * M, bias → this chunk's images of the pass's output, with the fused epilogue; named
   * `<op>.winograd`. Bindings: M, bias (any buffer when unused), out (the whole output tensor).
   */
  output: Program;
}

/**
 * The launches of 'winograd' for the forward pass or the input-gradient, `op` naming them; V and
 * M at most `maxBindingBytes` each (the device's maxStorageBufferBindingSize).
 */
export function winogradPrograms(pass: 'forward' | 'inputGrad', g: ConvGeometry, epilogue: ConvEpilogue, op: string, maxBindingBytes = Infinity): WinogradPlan {
  checkWinograd(op, g);
  const f = winogradGeometry(pass, g);
  const { r, alpha } = winogradMatrices(f.kH);
  const t = alpha * alpha;
  const perChunk = winogradImagesPerChunk(f, alpha, maxBindingBytes);
  const chunks: WinogradChunk[] = [];
  for (let batch0 = 0; batch0 < f.batch; batch0 += perChunk) {
    const images = Math.min(perChunk, f.batch - batch0);
    const part = { ...f, batch: images };
    const tiles = winogradTiles(part);
    const params = winogradUniforms(f, epilogue.alpha, batch0, images);
    chunks.push({
      input: {
        name: `${op}.winogradInput`, wgsl: winogradInputWgsl(r), unroll: WINOGRAD_CONSTS, inputs: 1, outputs: 1, uniforms: params,
        grid: winogradGrid(tiles * f.inC), bytes: 4 * (images * f.inH * f.inW * f.inC + t * tiles * f.inC),
      },
      vShape: [t, tiles, f.inC],
      mShape: [t, tiles, f.outC],
      output: {
        name: `${op}.winograd`, wgsl: winogradOutputWgsl(r), unroll: WINOGRAD_CONSTS, inputs: 2, outputs: 1, uniforms: params,
        overrides: { HAS_BIAS: epilogue.hasBias ? 1 : 0, ACT: activationCode(epilogue.activation) },
        // The launches together declare the convolution's usual count (every tap, as the other
        // variants do, so the bench compares equal work): the matmul declares its own multiplies,
        // this launch the rest.
        grid: winogradGrid(tiles * f.outC), flops: Math.max(0, convFlops(part) - 2 * t * tiles * f.inC * f.outC),
        bytes: 4 * (t * tiles * f.outC + images * f.outH * f.outW * f.outC),
      },
    });
  }
  return {
    weights: {
      name: `${op}.winogradWeights`, wgsl: winogradWeightsWgsl(r), unroll: ['R', ...WINOGRAD_CONSTS], inputs: 1, outputs: 1,
      uniforms: [['u32', f.inC], ['u32', f.outC], ['u32', pass === 'inputGrad' ? 1 : 0]],
      grid: winogradGrid(f.inC * f.outC), bytes: 4 * (r * r + t) * f.inC * f.outC,
    },
    uShape: [t, f.inC, f.outC],
    chunks,
  };
}

function sizes(g: ConvGeometry): { x: number; y: number; w: number } {
  return {
    x: g.batch * g.inH * g.inW * g.inC,
    y: g.batch * g.outH * g.outW * g.outC,
    w: g.kH * g.kW * g.inC * g.outC,
  };
}

/**
 * y = activation(conv2d(x, w) + bias), in `variant`. Bindings: x, w, bias (any buffer when unused),
 * y; for 'winograd', the last of its launches (winogradPrograms: bindings M, bias, y), on one chunk.
 */
export function conv2dProgram(g: ConvGeometry, epilogue: ConvEpilogue = NO_EPILOGUE, variant: ConvKernelChoice): Program {
  const s = sizes(g);
  return build('forward', 'conv2d', g, 1, 0, epilogue, variant, 4 * (s.x + s.w + s.y));
}

/**
 * dx = conv2d's input-gradient of dy, in `variant` (with an optional epilogue: this is also the
 * transposed convolution's forward pass). Bindings: dy, w, bias, dx (for 'winograd', the last
 * of its launches: winogradPrograms). Every element of dx is written.
 */
export function conv2dInputGradProgram(g: ConvGeometry, epilogue: ConvEpilogue = NO_EPILOGUE, variant: ConvKernelChoice, name = 'conv2dInputGrad'): Program {
  const s = sizes(g);
  return build('inputGrad', name, g, g.strideH * g.strideW, 0, epilogue, variant, 4 * (s.x + s.w + s.y));
}

/** How many z-slices the weight-gradient's reduction over the batch's pixels is split into, in `variant`. */
export function weightGradSplits(g: ConvGeometry, variant: ConvKernelChoice): number {
  const kernel = weightGradKernel(checkVariant('weightGradSplits', variant));
  const pixels = g.batch * g.outH * g.outW;
  if (kernel.splits) return Math.min(kernel.splits, pixels);
  const { rows, cols } = gemmSize('weightGrad', g);
  // Enough invocations to fill a GPU (~16k), but every split at least 256 pixels long.
  let invocations: number;
  if (kernel.variant === 'blocked') {
    invocations = blockedInvocations(rows, cols);
  } else {
    const { tm, tn } = registerBlock(kernel, cols);
    invocations = Math.ceil(rows / tm) * Math.ceil(cols / tn);
  }
  const wanted = Math.ceil(16384 / invocations);
  return Math.max(1, Math.min(wanted, Math.floor(pixels / 256), 1024));
}

/**
 * Partial weight-gradients in `variant` ('winograd': direct's, on winograd's shapes): out [splits, kH, kW, inC, outC], each slice summing
 * ⌈pixels/splits⌉ pixels of the batch; the caller adds the slices (a column reduction) when
 * splits > 1. Bindings: x, dy, out.
 */
export function conv2dWeightGradProgram(g: ConvGeometry, splits: number, variant: ConvKernelChoice, name = 'conv2dWeightGrad'): Program {
  const s = sizes(g);
  const pixels = g.batch * g.outH * g.outW;
  const chunk = Math.ceil(pixels / splits);
  return build('weightGrad', name, g, splits, chunk, NO_EPILOGUE, variant, 4 * (s.x + s.y + splits * s.w));
}

// ------------------------------------------------------------------ float64 references

/** Plain-loop conv2d, NHWC × HWIO, with optional bias and activation. */
export function conv2dReference(
  x: ArrayLike<number>, w: ArrayLike<number>, g: ConvGeometry,
  bias?: ArrayLike<number>, activation: Activation = 'linear', alpha = 0,
): Float64Array {
  const y = new Float64Array(g.batch * g.outH * g.outW * g.outC);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let oc = 0; oc < g.outC; oc++) {
          let acc = bias ? bias[oc] : 0;
          for (let kh = 0; kh < g.kH; kh++) {
            const ih = oh * g.strideH - g.padTop + kh;
            if (ih < 0 || ih >= g.inH) continue;
            for (let kw = 0; kw < g.kW; kw++) {
              const iw = ow * g.strideW - g.padLeft + kw;
              if (iw < 0 || iw >= g.inW) continue;
              for (let ic = 0; ic < g.inC; ic++) {
                acc += x[((b * g.inH + ih) * g.inW + iw) * g.inC + ic] * w[((kh * g.kW + kw) * g.inC + ic) * g.outC + oc];
              }
            }
          }
          y[((b * g.outH + oh) * g.outW + ow) * g.outC + oc] = activationReference(activation, acc, alpha);
        }
      }
    }
  }
  return y;
}

/** dx of conv2d, by scattering each dy element back along the taps that produced it. */
export function conv2dInputGradReference(dy: ArrayLike<number>, w: ArrayLike<number>, g: ConvGeometry): Float64Array {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.inC);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let kh = 0; kh < g.kH; kh++) {
          const ih = oh * g.strideH - g.padTop + kh;
          if (ih < 0 || ih >= g.inH) continue;
          for (let kw = 0; kw < g.kW; kw++) {
            const iw = ow * g.strideW - g.padLeft + kw;
            if (iw < 0 || iw >= g.inW) continue;
            for (let ic = 0; ic < g.inC; ic++) {
              let acc = 0;
              for (let oc = 0; oc < g.outC; oc++) {
                acc += dy[((b * g.outH + oh) * g.outW + ow) * g.outC + oc] * w[((kh * g.kW + kw) * g.inC + ic) * g.outC + oc];
              }
              dx[((b * g.inH + ih) * g.inW + iw) * g.inC + ic] += acc;
            }
          }
        }
      }
    }
  }
  return dx;
}

/** dw of conv2d: every (input pixel, output gradient) pair a tap connects. */
export function conv2dWeightGradReference(x: ArrayLike<number>, dy: ArrayLike<number>, g: ConvGeometry): Float64Array {
  const dw = new Float64Array(g.kH * g.kW * g.inC * g.outC);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let kh = 0; kh < g.kH; kh++) {
          const ih = oh * g.strideH - g.padTop + kh;
          if (ih < 0 || ih >= g.inH) continue;
          for (let kw = 0; kw < g.kW; kw++) {
            const iw = ow * g.strideW - g.padLeft + kw;
            if (iw < 0 || iw >= g.inW) continue;
            for (let ic = 0; ic < g.inC; ic++) {
              const xv = x[((b * g.inH + ih) * g.inW + iw) * g.inC + ic];
              for (let oc = 0; oc < g.outC; oc++) {
                dw[((kh * g.kW + kw) * g.inC + ic) * g.outC + oc] += xv * dy[((b * g.outH + oh) * g.outW + ow) * g.outC + oc];
              }
            }
          }
        }
      }
    }
  }
  return dw;
}
