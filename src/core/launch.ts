// The one step between a kernel and a tensor: run a Program (src/kernels/program.ts) on tensors'
// buffers through the dispatcher and wrap its single output in a new tensor. Every op launches
// its kernels through here; dispatch.ts below it knows buffers only, never tensors.

import { Tensor, type DType, type Shape } from './tensor.ts';
import { run } from './dispatch.ts';
import type { Program } from '../kernels/program.ts';

/** Launches `program` on tensors and wraps its single output in a new tensor. */
export function launch(program: Program, inputs: Tensor[], outShape: Shape, dtype: DType = 'f32'): Tensor {
  const out = new Tensor(outShape, dtype);
  run(program, inputs.map((t) => t.gpu), [out.gpu]);
  return out;
}

/** Launches `program` on tensors, writing into an existing tensor (a kernel that fills part of it). */
export function launchInto(program: Program, inputs: Tensor[], out: Tensor): void {
  run(program, inputs.map((t) => t.gpu), [out.gpu]);
}
