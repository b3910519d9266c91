// Kernel policy: the one place that decides which kernel an op runs. The kernels (src/kernels/)
// build exactly the kernel they are given and know nothing of devices; the ops ask here, with the
// shape in hand, before any GPU work.
//
// A kernel is chosen in one of three ways:
//   by name   an op's `variant` option, or setConvVariant for every convolution. It runs as asked,
//             or throws saying why it cannot (a device without the feature it needs, a shape off
//             its rule); a named variant is never quietly replaced by another.
//   tuned     'auto' (the default) on a problem (op, pass and shape) the tuner has measured on this
//             adapter (src/tune/): the candidate it verified and found fastest, kept in the table
//             below (filled from the cache by init() unless tune is 'off', or by tune()).
//   'auto'    otherwise: a fixed rule per kind of adapter and shape, below. docs/kernels.md has
//             the measurements behind each rule and says which are still reasoning, not measurement.
// Every problem 'auto' resolves is noted (problemsSeen), with the layers it ran in where they are
// labelled (problemLayers; layer-label.ts), so the tuner can measure what a program actually
// runs; a training run freezes the table (freezeChoices) so that it runs the same kernels from
// its first step to its last, and records them in its checkpoint.

import { getGpu, isInitialized } from './device.ts';
import { currentLayerLabel } from './layer-label.ts';
import { MATMUL_VARIANTS, parseMatmulKernel, vec4Fits, type MatmulEpilogue, type MatmulKernelChoice, type MatmulShape, type MatmulVariant } from '../kernels/matmul.ts';
import {
  CONV_VARIANTS, NO_EPILOGUE, SUBGROUP_CONV_VARIANTS, convKernelOf, parseConvKernel,
  type ConvEpilogue, type ConvKernelChoice, type ConvPass, type ConvVariant,
} from '../kernels/conv/conv2d.ts';
import { MIN_SUBGROUP_SIZE, subgroupPays } from '../kernels/conv/conv2d-subgroup.ts';
import { windowPays } from '../kernels/conv/conv2d-window.ts';
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

/** The kernel a matmul of shape `s` runs: 'auto' resolved (tuned, else the rule); a name checked and kept. */
export function matmulVariantFor(s: MatmulShape, choice: MatmulChoice = 'auto', target: KernelTarget = kernelTarget(), epilogue?: MatmulEpilogue): MatmulKernelChoice {
  if (choice === 'auto') {
    const problem: TuneProblem = { op: 'matmul', s, epilogue: epilogue ?? { hasBias: false, activation: 'linear', alpha: 0 } };
    const tuned = tunedChoice(problem);
    return (tuned && parseMatmulKernel(tuned, s)) || autoMatmulVariant(s, target);
  }
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
  const info = getGpu().info;
  if (SUBGROUP_CONV_VARIANTS.includes(v) && !info.hasSubgroups) {
    // wgpu (Deno, Firefox) offers no 'subgroups' feature: its shader compiler, naga, refuses `enable subgroups;`.
    const engine = info.engine === 'wgpu' ? ": wgpu, this device's WebGPU engine, offers no subgroups" : '';
    throw new RangeError(`${op}: variant '${v}' needs WebGPU's 'subgroups' feature, which this device (${info.description}) lacks${engine}; use 'direct'`);
  }
}

/**
 * The variant one pass of a convolution runs. Asked by name (`requested`, else setConvVariant's):
 * that one. 'auto' (the fixed rule, where the tuner has not measured the problem): on a device
 * with subgroups, `window` for the forward and input-gradient passes where it pays (windowPays:
 * subgroups at least a block wide, rows padded to whole workgroups at most doubling the work),
 * `subgroup` where sharing pays for the pass's shape (blocks at least 8 channels wide, the same
 * padding bound), else `direct`. `blocked`, the GPU-shaped kernel, is never chosen by 'auto' yet: it has
 * only been measured on a CPU driver, where it loses. Nor is `winograd` (stride-1 3×3 and 5×5
 * only: winogradFits; its builders refuse other shapes with a RangeError): it wins or loses by
 * the layer's channels (docs/kernels.md).
 */
export function convVariantFor(pass: ConvPass, g: ConvGeometry, requested: ConvKernelChoice | 'auto' = getConvVariant(), epilogue: ConvEpilogue = NO_EPILOGUE): ConvKernelChoice {
  if (requested !== 'auto') {
    // The raw ops (conv2dInputGradRaw, …) reach here with a name or a ConvKernel the options' check never saw.
    checkConvVariant(`conv ${pass}`, convKernelOf(requested).variant);
    return requested;
  }
  const tuned = tunedChoice({ op: 'conv', pass, g, epilogue });
  const hasSubgroups = getGpu().info.hasSubgroups;
  return (tuned && parseConvKernel(tuned, hasSubgroups)) || autoConvVariant(pass, g, hasSubgroups);
}

/** The fixed rule's convolution variant (what 'auto' runs on a problem not tuned, and what tune 'off' runs). */
export function autoConvVariant(pass: ConvPass, g: ConvGeometry, hasSubgroups: boolean, lanes = subgroupLanes()): ConvVariant {
  if (hasSubgroups && windowPays(pass, g, lanes)) return 'window';
  return hasSubgroups && subgroupPays(pass, g, lanes) ? 'subgroup' : 'direct';
}

/** The fewest lanes the open device's subgroups have, as it reports them (WebGPU's least, 4, where it does not say). */
export function subgroupLanes(): number {
  const reported = isInitialized() ? getGpu().info.subgroupSizes[0] : 0;
  return reported >= 1 ? reported : MIN_SUBGROUP_SIZE;
}

/**
 * A subgroup kernel with the open device's smallest subgroup filled in (what the builders are
 * handed); any other kernel as it is. A kernel may count on fewer lanes than that (the tests do),
 * never on more.
 */
export function withSubgroupLanes(choice: ConvKernelChoice): ConvKernelChoice {
  const k = typeof choice === 'string' ? { variant: choice } : choice;
  if (!SUBGROUP_CONV_VARIANTS.includes(k.variant)) return choice;
  return { ...k, lanes: Math.min(k.lanes ?? Infinity, subgroupLanes()) };
}

// ---------------------------------------------------------------- tuned choices

/**
 * A problem the tuner measures: one op (and pass) on one shape. The epilogue is the first one
 * seen (the tuner times with it); it is not part of the key, as it does not change which kernel
 * is fastest.
 */
export type TuneProblem =
  | { op: 'conv'; pass: ConvPass; g: ConvGeometry; epilogue: ConvEpilogue }
  | { op: 'matmul'; s: MatmulShape; epilogue: MatmulEpilogue };

/** 'conv.forward 128x28x28x1 k3x3 s2x2 p0,0 → 14x14x32', 'matmul 1x128x256x784 tB': the key of a problem. */
export function problemKey(p: TuneProblem): string {
  if (p.op === 'conv') {
    const g = p.g;
    return `conv.${p.pass} ${g.batch}x${g.inH}x${g.inW}x${g.inC} k${g.kH}x${g.kW} s${g.strideH}x${g.strideW} p${g.padTop},${g.padLeft} → ${g.outH}x${g.outW}x${g.outC}`;
  }
  const s = p.s;
  const flags = [s.transA ? 'tA' : '', s.transB ? 'tB' : '', s.batch > 1 && s.aBatchStride === 0 ? 'a0' : '', s.batch > 1 && s.bBatchStride === 0 ? 'b0' : ''].filter(Boolean);
  return `matmul ${s.batch}x${s.m}x${s.n}x${s.k}${flags.length ? ' ' + flags.join(' ') : ''}`;
}

/** on: measure problems not yet tuned (tune(), and a training run after its first step); cached: use what the cache has; off: the fixed rules. */
export type TuneMode = 'on' | 'cached' | 'off';
export const TUNE_MODES: readonly TuneMode[] = ['on', 'cached', 'off'];

let tuneMode: TuneMode = 'off';
// problem key → kernel key, the choices in effect (unless frozen).
const choices = new Map<string, string>();
// During a training run: exactly these choices, nothing else (not even the table's later entries).
let frozen: ReadonlyMap<string, string> | undefined;
// Problems 'auto' resolved (key → problem), for the tuner, and the layers each ran in.
const seen = new Map<string, TuneProblem>();
const seenLayers = new Map<string, Set<string>>();

export function setTuneMode(mode: TuneMode): void {
  if (!TUNE_MODES.includes(mode)) throw new RangeError(`tune: '${String(mode)}' is not one of ${TUNE_MODES.join(', ')}`);
  tuneMode = mode;
}

export function getTuneMode(): TuneMode {
  return tuneMode;
}

function tunedChoice(p: TuneProblem): string | undefined {
  const key = problemKey(p);
  if (!seen.has(key)) seen.set(key, p);
  const layer = currentLayerLabel();
  if (layer !== undefined) {
    const layers = seenLayers.get(key) ?? new Set<string>();
    layers.add(layer);
    seenLayers.set(key, layers);
  }
  if (frozen) return frozen.get(key);
  return tuneMode === 'off' ? undefined : choices.get(key);
}

/** Puts tuned choices (problem key → kernel key) into the table. */
export function installChoices(entries: Iterable<[string, string]>): void {
  for (const [problem, kernel] of entries) choices.set(problem, kernel);
}

/** The table's choices (problem key → kernel key). */
export function installedChoices(): Map<string, string> {
  return new Map(choices);
}

/** Empties the table (a new device, or tests). */
export function clearChoices(): void {
  choices.clear();
}

/** The problems 'auto' has resolved since the last call with `clear` (in first-seen order). */
export function problemsSeen(clear = false): Map<string, TuneProblem> {
  const out = new Map(seen);
  if (clear) {
    seen.clear();
    seenLayers.clear();
  }
  return out;
}

/** The layers (layer-label.ts) each problem seen since the last clear ran in, in first-seen order: problem key → labels. */
export function problemLayers(): Map<string, string[]> {
  return new Map([...seenLayers].map(([key, layers]) => [key, [...layers]]));
}

/** Runs every 'auto' problem with exactly `table`'s choices (others: the fixed rules) until unfreezeChoices(). */
export function freezeChoices(table: ReadonlyMap<string, string>): void {
  frozen = new Map(table);
}

export function unfreezeChoices(): void {
  frozen = undefined;
}


