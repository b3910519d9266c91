// The convolution tests' cases and their check against the float64 references, shared by
// tests/conv.test.ts and tests/conv-subgroup.test.ts (a file of its own: a test file imported by
// another would register its tests twice).

import * as assert from 'uvu/assert';
import { randomArray, assertClose, f32 } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { conv2d, conv2dInputGradRaw, conv2dRaw, conv2dWeightGradRaw } from '../src/core/conv-ops.ts';
import {
  conv2dReference, conv2dInputGradReference, conv2dWeightGradReference, weightGradSplits, convKernelKey, convKernelOf,
  conv2dProgram, conv2dInputGradProgram, conv2dWeightGradProgram, type ConvKernelChoice, type ConvPass, type ConvVariant,
} from '../src/kernels/conv/conv2d.ts';
import type { ConvGeometry } from '../src/kernels/conv/geometry.ts';
import { conv2dGeometry, type Padding } from '../src/kernels/conv/geometry.ts';
import type { Activation } from '../src/kernels/activation.ts';

export const PADDINGS: Padding[] = ['same', 'valid'];
export const STRIDES = [1, 2, 3];
export const KERNELS = [1, 3, 4, 5, 7];
export const RTOL = 1e-4;
export const ATOL = 1e-4;

export interface Case {
  batch: number;
  h: number;
  w: number;
  inC: number;
  outC: number;
  k: number;
  s: number;
  padding: Padding;
}

// Every kernel size × stride × padding on a 9×7 image, with channel counts that are not
// multiples of 4 (and 1), batch 1 and 2, cycling so that each appears with several kernels.
// (Few distinct channel counts: each block shape is its own pipeline, and llvmpipe takes a
// second or two to compile one.)
export function allCases(): Case[] {
  const inCs = [1, 5];
  const outCs = [3, 10, 1];
  const cases: Case[] = [];
  let i = 0;
  for (const k of KERNELS) {
    for (const s of STRIDES) {
      for (const padding of PADDINGS) {
        cases.push({ batch: 1 + (i % 2), h: 9, w: 7, inC: inCs[i % inCs.length], outC: outCs[i % outCs.length], k, s, padding });
        i++;
      }
    }
  }
  return cases;
}

export const PASSES: ConvPass[] = ['forward', 'inputGrad', 'weightGrad'];

export function geometryOf(c: Case): ConvGeometry {
  return conv2dGeometry([c.batch, c.h, c.w, c.inC], [c.k, c.k, c.inC, c.outC], c.s, c.padding);
}

/** The names of the three Programs the builders make for `variant`: what runs when it is asked for. */
export function programNames(g: ConvGeometry, variant: ConvVariant): string[] {
  return [conv2dProgram(g, undefined, variant), conv2dInputGradProgram(g, undefined, variant), conv2dWeightGradProgram(g, weightGradSplits(g, variant), variant)].map((p) => p.name);
}

export async function checkCase(c: Case, kernel: ConvKernelChoice, seed: number, activation: Activation = 'leakyRelu'): Promise<void> {
  const variant = convKernelOf(kernel).variant;
  const xShape = [c.batch, c.h, c.w, c.inC];
  const wShape = [c.k, c.k, c.inC, c.outC];
  const g = conv2dGeometry(xShape, wShape, c.s, c.padding);
  // window has no weight-gradient of its own: subgroup's runs.
  const runs = (op: string) => (op === 'conv2dWeightGrad' && variant === 'window' ? 'subgroup' : variant);
  assert.equal(programNames(g, variant), ['conv2d', 'conv2dInputGrad', 'conv2dWeightGrad'].map((op) => `${op}.${runs(op)}`), `${variant} runs as itself`);
  const what = `${convKernelKey(kernel)}${convKernelOf(kernel).lanes ? ` (${convKernelOf(kernel).lanes} lanes)` : ''} x${JSON.stringify(xShape)} w${JSON.stringify(wShape)} s${c.s} ${c.padding}`;
  const x = f32(randomArray(xShape, seed));
  const w = f32(randomArray(wShape, seed + 1));
  const b = f32(randomArray([c.outC], seed + 2));
  const dy = f32(randomArray([c.batch, g.outH, g.outW, c.outC], seed + 3));
  const [y, dx, dw] = tidy(() => {
    const xt = tensor(x, xShape);
    const wt = tensor(w, wShape);
    const dyt = tensor(dy, [c.batch, g.outH, g.outW, c.outC]);
    return [
      typeof kernel === 'string'
        ? conv2d(xt, wt, { stride: c.s, padding: c.padding, bias: tensor(b, [c.outC]), activation, alpha: 0.3, variant: kernel })
        : conv2dRaw(xt, wt, g, { hasBias: true, activation, alpha: 0.3 }, tensor(b, [c.outC]), kernel), // a kernel with parameters: below the op
      conv2dInputGradRaw(dyt, wt, g, kernel),
      conv2dWeightGradRaw(xt, dyt, g, kernel),
    ];
  });
  assert.equal([...y.shape], [c.batch, g.outH, g.outW, c.outC], `${what}: output shape`);
  assertClose(await y.toArray(), conv2dReference(x, w, g, b, activation, 0.3), `${what}: forward (${activation})`, RTOL, ATOL);
  assertClose(await dx.toArray(), conv2dInputGradReference(dy, w, g), `${what}: input-gradient`, RTOL, ATOL);
  assertClose(await dw.toArray(), conv2dWeightGradReference(x, dy, g), `${what}: weight-gradient`, RTOL, ATOL);
  [y, dx, dw].forEach((t) => t.dispose());
}
