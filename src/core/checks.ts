// Argument checks that every op file runs before any GPU work: a disposed tensor, or one of the
// wrong dtype, is an error that names the op and the tensor, not a failed launch later.

import type { Tensor } from './tensor.ts';

/** Throws if any of `ts` was disposed (its GPU storage is gone or back in the pool). */
export function assertLive(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.isDisposed) throw new Error(`${op}: ${t.describe()} was disposed and cannot be used`);
}

/** Throws unless every one of `ts` is f32 (the kernels with arithmetic read f32 only). */
export function assertFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== 'f32') throw new TypeError(`${op} needs f32 tensors, got ${t.describe()}`);
  }
}
