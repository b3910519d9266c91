// What the GPU memory is doing: tests assert on it (no leaks), the bench and --verbose print it.

import { pool } from './pool.ts';
import { liveTensorCount } from './tensor.ts';
import { flush } from './dispatch.ts';
import { getGpu } from './device.ts';

export interface MemoryStats {
  /** Tensors not yet disposed (views count separately from their storage). */
  liveTensors: number;
  /** Buffers held by live tensors and their rounded bytes. */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers kept in the pool for reuse. */
  pooledBuffers: number;
  pooledBytes: number;
  /** GPU buffers created since start: flat across training steps means nothing leaks. */
  createdBuffers: number;
}

export function memory(): MemoryStats {
  return { liveTensors: liveTensorCount(), ...pool.info() };
}

/** Gives pooled (unused) buffers back to the driver. */
export function emptyCache(): void {
  flush();
  pool.emptyCache();
}

export function adapterDescription(): string {
  return getGpu().info.description;
}
