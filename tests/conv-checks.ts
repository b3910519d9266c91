// Checks of the convolution kernels against their float64 references, shared by the Dawn tests
// (conv-transpose.test.ts, conv-winograd.test.ts; conv.test.ts uses conv-cases.ts) and the Deno part on wgpu
// (tests/deno/wgpu.ts): each runs one case in one variant and asserts every pass it computes.

import * as assert from 'uvu/assert';
import { randomArray, assertClose, f32 } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { conv2d, conv2dInputGradRaw, conv2dTranspose } from '../src/core/conv-ops.ts';
import { conv2dReference, conv2dInputGradReference, type ConvVariant } from '../src/kernels/conv/conv2d.ts';
import { conv2dTransposeProgram, conv2dTransposeReference } from '../src/kernels/conv/conv2d-transpose.ts';
import { conv2dGeometry, conv2dTransposeGeometry, convTransposeAxis, type ConvGeometry, type Padding } from '../src/kernels/conv/geometry.ts';
import type { Activation } from '../src/kernels/activation.ts';
import { ATOL, RTOL, type Case as ConvCase } from './conv-cases.ts';

// conv2d's cases and their check (forward, input- and weight-gradient) live in conv-cases.ts;
// the transposed and Winograd checks below build on them.
export { checkCase as checkConvCase, geometryOf, type Case as ConvCase } from './conv-cases.ts';

/** conv2dTranspose in `variant` vs the scatter reference (and, without an epilogue, the reference vs conv2d's input-gradient). */
export async function checkTransposeCase(c: ConvCase, seed: number, epilogue?: { activation: Activation; bias: boolean }, variant: ConvVariant = 'direct'): Promise<void> {
  const xShape = [c.batch, c.h, c.w, c.inC];
  const wShape = [c.k, c.k, c.outC, c.inC];
  const g = conv2dTransposeGeometry(xShape, wShape, c.s, c.padding);
  const what = `${variant} x${JSON.stringify(xShape)} w${JSON.stringify(wShape)} s${c.s} ${c.padding}`;
  assert.is(conv2dTransposeProgram(g, undefined, variant).name, `conv2dTranspose.${variant}`, `${what}: runs as itself`);
  const x = f32(randomArray(xShape, seed));
  const w = f32(randomArray(wShape, seed + 1));
  const b = epilogue?.bias ? f32(randomArray([c.outC], seed + 2)) : undefined;
  const activation = epilogue?.activation ?? 'linear';
  const y = tidy(() => conv2dTranspose(tensor(x, xShape), tensor(w, wShape), {
    stride: c.s, padding: c.padding, bias: b && tensor(b, [c.outC]), activation, alpha: 0.2, variant,
  }));
  const outH = convTransposeAxis(c.h, c.k, c.s, c.padding);
  const outW = convTransposeAxis(c.w, c.k, c.s, c.padding);
  assert.equal([...y.shape], [c.batch, outH, outW, c.outC], `${what}: output shape`);
  const expected = conv2dTransposeReference(x, w, g, b, activation, 0.2);
  assertClose(await y.toArray(), expected, `${what}: forward`, RTOL, ATOL);
  if (!epilogue) {
    // The definition: the transposed convolution is the input-gradient of the convolution.
    assertClose(expected, conv2dInputGradReference(x, w, g), `${what}: reference = conv2d input-gradient`, 1e-12, 1e-12);
  }
  y.dispose();
}

// Tolerance. Winograd's float32 error differs from direct's: the products are of transformed
// values (V sums up to α² inputs with coefficients up to 5 for 5×5, U up to r² weights scaled by
// as little as 1/24), and Aᵀ M A adds partial sums larger than the outputs they cancel down to.
// Each is a constant factor on the rounding of a sum of K = r²·channels terms, so the error grows
// with K as direct's does. Measured here (inputs and weights uniform in [−1, 1], 9×9 images, 256
// input channels): largest error / K = 1.3e-8 for F(2×2, 3×3) (direct: 3.5e-8, its sums run in
// another order) and 1.2e-7 for F(2×2, 5×5) (direct: 2.9e-8, so 4× direct's). Every term is at
// most 1, an output at most K: we allow 1e-4·|expected| + 4e-6·K + 1e-5, twice the bench's
// allowance for matmul and direct (2e-6·K + 1e-5) and 30× the worst measured. A wrong transform
// coefficient gives errors of the order of the outputs themselves (~√K), far above it.
export function winogradTolerance(k: number): { rtol: number; atol: number } {
  return { rtol: 1e-4, atol: 4e-6 * k + 1e-5 };
}

/** A stride-1 case for winograd: its rule (winogradFits) takes 3×3 and 5×5 kernels only. */
export interface WinogradCase {
  batch: number;
  h: number;
  w: number;
  inC: number;
  outC: number;
  padding: Padding;
  /** Kernel size (default 3). */
  k?: number;
}

export function winogradGeometry(c: WinogradCase): ConvGeometry {
  const k = c.k ?? 3;
  return conv2dGeometry([c.batch, c.h, c.w, c.inC], [k, k, c.inC, c.outC], 1, c.padding);
}

/** conv2d in winograd: its forward (bias and `activation`) and input-gradient vs the float64 references. */
export async function checkWinogradCase(c: WinogradCase, seed: number, activation: Activation, withBias: boolean): Promise<void> {
  const g = winogradGeometry(c);
  const k = g.kH;
  const what = `winograd x[${c.batch}, ${c.h}, ${c.w}, ${c.inC}] w[${k}, ${k}, ${c.inC}, ${c.outC}] ${c.padding} ${activation}${withBias ? ' +bias' : ''}`;
  const xShape = [c.batch, c.h, c.w, c.inC];
  const wShape = [k, k, c.inC, c.outC];
  const dyShape = [c.batch, g.outH, g.outW, c.outC];
  const x = f32(randomArray(xShape, seed));
  const w = f32(randomArray(wShape, seed + 1));
  const b = withBias ? f32(randomArray([c.outC], seed + 2)) : undefined;
  const dy = f32(randomArray(dyShape, seed + 3));
  const [y, dx] = tidy(() => {
    const wt = tensor(w, wShape);
    return [
      conv2d(tensor(x, xShape), wt, { padding: c.padding, bias: b && tensor(b, [c.outC]), activation, alpha: 0.3, variant: 'winograd' }),
      conv2dInputGradRaw(tensor(dy, dyShape), wt, g, 'winograd'),
    ];
  });
  assert.equal([...y.shape], dyShape, `${what}: output shape`);
  const fwd = winogradTolerance(k * k * c.inC);
  const back = winogradTolerance(k * k * c.outC);
  assertClose(await y.toArray(), conv2dReference(x, w, g, b, activation, 0.3), `${what}: forward`, fwd.rtol, fwd.atol);
  assertClose(await dx.toArray(), conv2dInputGradReference(dy, w, g), `${what}: input-gradient`, back.rtol, back.atol);
  y.dispose();
  dx.dispose();
}
