// Building blocks for bench cases. Two kinds:
//  - programCase: one kernel Program over buffers the case owns (the kernel alone, as a learner
//    reads it in src/kernels).
//  - opCase: a differentiable op from src/core on tensors, however many kernels it launches
//    (batchNorm's statistics and normalisation, a layer's forward and backward, ...).
// Either way the reference is the plain float64 one from src/kernels, fed the f32-rounded inputs.

import { getGpu } from '../src/core/device.ts';
import { readBuffer, run, writeBuffer } from '../src/core/dispatch.ts';
import { fromData, type DType, type Tensor } from '../src/core/tensor.ts';
import { keep, tidy } from '../src/core/scope.ts';
import { noGrad } from '../src/core/autograd.ts';
import type { Program } from '../src/kernels/program.ts';
import type { Shape } from '../src/kernels/shapes.ts';
import { combine, compareOutputs, type CaseRun, type Tolerance, type Verification } from './harness.ts';

/** Expected values of one output: all of it, or only the listed elements. */
export type Expected = Float64Array | { values: Float64Array; indices: ArrayLike<number> };

/** Deterministic uniform numbers in [lo, hi), as f32 (mulberry32). */
export function uniformData(length: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

function check(outputs: Float32Array[], expected: Expected[], tolerance: Tolerance): Verification {
  if (outputs.length !== expected.length) throw new Error(`reference gave ${expected.length} outputs for ${outputs.length}`);
  return combine(
    outputs.map((out, i) => {
      const e = expected[i];
      return e instanceof Float64Array ? compareOutputs(out, e, tolerance) : compareOutputs(out, e.values, tolerance, e.indices);
    }),
  );
}

export interface ProgramCaseSpec {
  program: Program;
  /** Host data of each distinct input buffer. */
  data: Float32Array[];
  /** Which data buffer each of the program's inputs binds (default 0, 1, 2, ...). */
  bind?: number[];
  /** Length in floats of each output. */
  outputs: number[];
  /** Expected outputs from the f32-rounded inputs (as float64). */
  reference: (inputs: Float64Array[]) => Expected[];
  tolerance: Tolerance;
}

function storageBuffer(floats: number): GPUBuffer {
  return getGpu().device.createBuffer({
    size: Math.max(16, Math.ceil((floats * 4) / 16) * 16),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
}

/** One Program over its own buffers. */
export function programCase(spec: ProgramCaseSpec): CaseRun {
  const inputs = spec.data.map((d) => {
    const buffer = storageBuffer(d.length);
    if (d.length > 0) writeBuffer(buffer, 0, d);
    return { buffer, size: Math.max(4, d.length * 4) };
  });
  const outputs = spec.outputs.map((n) => ({ buffer: storageBuffer(n), size: Math.max(4, n * 4) }));
  const bind = spec.bind ?? spec.data.map((_, i) => i);
  const bound = bind.map((i) => inputs[i]);
  return {
    record: () => run(spec.program, bound, outputs),
    async verify() {
      const got = await Promise.all(outputs.map(async (o, i) => new Float32Array(await readBuffer(o.buffer, 0, spec.outputs[i] * 4))));
      const expected = spec.reference(spec.data.map((d) => Float64Array.from(d)));
      return check(got, expected, spec.tolerance);
    },
    dispose() {
      for (const b of [...inputs, ...outputs]) b.buffer.destroy();
    },
  };
}

export interface OpInput {
  data: Float32Array;
  shape: Shape;
  dtype?: DType;
  requiresGrad?: boolean;
}

export interface OpCaseSpec {
  inputs: OpInput[];
  /** The work of one repetition; runs inside tidy(), and under noGrad() unless `grad` is set. */
  fn: (xs: Tensor[]) => Tensor | Tensor[];
  grad?: boolean;
  reference: (inputs: Float64Array[]) => Expected[];
  tolerance: Tolerance;
}

/** An op (or a few) from src/core on tensors the case owns. */
export function opCase(spec: OpCaseSpec): CaseRun {
  const xs = spec.inputs.map((i) => {
    const t = keep(fromData(i.data, i.shape, i.dtype ?? 'f32'));
    t.requiresGrad = i.requiresGrad ?? false;
    return t;
  });
  let last: Tensor[] = [];
  const release = () => {
    for (const t of last) t.dispose();
    last = [];
  };
  return {
    record() {
      release();
      // A gradient from the last repetition was either returned (and just released) or
      // disposed by tidy(): start from none, so backward() does not accumulate into it.
      for (const x of xs) x.grad = null;
      const work = () => {
        const out = spec.fn(xs);
        return Array.isArray(out) ? out : [out];
      };
      last = tidy(() => (spec.grad ? work() : noGrad(work))).map((t) => keep(t));
    },
    async verify() {
      const got = await Promise.all(last.map((t) => t.toArray()));
      const expected = spec.reference(spec.inputs.map((i) => Float64Array.from(i.data)));
      return check(got, expected, spec.tolerance);
    },
    dispose() {
      release();
      for (const x of xs) x.dispose();
    },
  };
}
