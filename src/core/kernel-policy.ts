// Kernel policy: the one place that decides which kernel variant an op runs. The kernels
// (src/kernels/) build exactly the variant they are given and know nothing of devices; the ops ask
// here, with the shape in hand, before any GPU work.
//
// A variant is chosen in one of two ways:
//   by name   an op's `variant` option, or setConvVariant for every convolution. It runs as asked,
//             or throws saying why it cannot (a device without the feature it needs, a shape off
//             its rule); a named variant is never quietly replaced by another.
//   'auto'    the default: a fixed rule per kind of adapter and shape, below. docs/kernels.md has
//             the measurements behind each rule and says which are still reasoning, not measurement.

import { getGpu, isInitialized } from './device.ts';
import { MATMUL_VARIANTS, vec4Fits, type MatmulShape, type MatmulVariant } from '../kernels/matmul.ts';
import { CONV_VARIANTS, SUBGROUP_CONV_VARIANTS, type ConvPass, type ConvVariant } from '../kernels/conv/conv2d.ts';
import { subgroupPays } from '../kernels/conv/conv2d-subgroup.ts';
import type { ConvGeometry } from '../kernels/conv/geometry.ts';

// ---------------------------------------------------------------- matmul

/** A matmul variant by name, or 'auto' (matmulVariantFor decides per shape). */
export type MatmulChoice = MatmulVariant | 'auto';

/** What 'auto' chooses for: a software adapter running the kernels on CPU cores, or a GPU. */
export type KernelTarget = 'cpu' | 'gpu';

/** The open device's kind of hardware (a GPU until a device is open). */
export function kernelTarget(): KernelTarget {
  return isInitialized() && getGpu().info.isSoftware ? 'cpu' : 'gpu';
}

/**
 * The variant 'auto' runs for a matmul shape. On a CPU driver: v5 `direct` (the fastest rung
 * there at every dense shape of the models; docs/kernels.md). On a GPU, by the ladder's reasoning
 * (not yet measured on one): skinny products (under 32 rows or columns, or k under 16) leave v3's
 * and v4's 64×64 tiles mostly padding, so one invocation per output (v1) wastes least; the rest
 * run v4, or v3 where v4's multiple-of-4 rule does not hold.
 */
export function autoMatmulVariant(s: MatmulShape, target: KernelTarget = kernelTarget()): MatmulVariant {
  if (target === 'cpu') return 'direct';
  if (Math.min(s.m, s.n) < 32 || s.k < 16) return 'naive';
  return vec4Fits(s) ? 'vec4' : 'blocked';
}

/** The variant a matmul of shape `s` runs: 'auto' resolved; a name checked and kept. */
export function matmulVariantFor(s: MatmulShape, choice: MatmulChoice = 'auto', target: KernelTarget = kernelTarget()): MatmulVariant {
  if (choice === 'auto') return autoMatmulVariant(s, target);
  if (!MATMUL_VARIANTS.includes(choice)) throw new RangeError(`matmul: variant '${String(choice)}' is not one of ${MATMUL_VARIANTS.join(', ')}, or 'auto'`);
  return choice; // matmulProgram throws, naming the rule, where vec4 does not fit
}

// ---------------------------------------------------------------- convolutions

export type { ConvPass };

let convOverride: ConvVariant | undefined;

/** Makes every convolution run variant `v` (the bench compares them); 'auto' restores the rule. */
export function setConvVariant(v: ConvVariant | 'auto'): void {
  if (v !== 'auto') checkConvVariant('setConvVariant', v);
  convOverride = v === 'auto' ? undefined : v;
}

/** setConvVariant's variant, or 'auto'. */
export function getConvVariant(): ConvVariant | 'auto' {
  return convOverride ?? 'auto';
}

/** Throws unless `v` is a convolution variant this device can run. */
export function checkConvVariant(op: string, v: ConvVariant): void {
  if (!CONV_VARIANTS.includes(v)) throw new RangeError(`${op}: variant '${String(v)}' is not one of ${CONV_VARIANTS.join(', ')}`);
  if (SUBGROUP_CONV_VARIANTS.includes(v) && !getGpu().info.hasSubgroups) {
    throw new RangeError(`${op}: variant '${v}' needs WebGPU's 'subgroups' feature with subgroups of at least 8, which this device (${getGpu().info.description}) lacks; use 'direct'`);
  }
}

/**
 * The variant one pass of a convolution runs. Asked by name (`requested`, else setConvVariant's):
 * that one. 'auto': `subgroup` where the device has subgroups and sharing pays for this pass's
 * shape (blocks at least 8 channels wide, rows padded to whole workgroups at most doubling the
 * work), else `direct`. `blocked`, the GPU-shaped kernel, is never chosen by 'auto' yet: it has
 * only been measured on a CPU driver, where it loses. Nor is `winograd` (stride-1 3×3 and 5×5
 * only: winogradFits; its builders refuse other shapes with a RangeError): it wins or loses by
 * the layer's channels (docs/kernels.md).
 */
export function convVariantFor(pass: ConvPass, g: ConvGeometry, requested: ConvVariant | 'auto' = getConvVariant()): ConvVariant {
  if (requested !== 'auto') return requested;
  return getGpu().info.hasSubgroups && subgroupPays(pass, g) ? 'subgroup' : 'direct';
}

