// GPU buffers are expensive to create and a training step makes hundreds of short-lived
// tensors, so buffers are recycled through a pool keyed by a rounded size. A buffer that is let
// go of waits in `released` until the commands recorded so far are submitted; only then may it be
// handed out again (queue.writeBuffer would otherwise overwrite data a pending kernel reads).
//
// Sizes round up to one of 8 steps per power of two, so a reused buffer wastes at most 12.5%.

import { getGpu, onDeviceClose } from './device.ts';

export interface MemoryInfo {
  /** Buffers held by live tensors, and their bytes (as allocated, rounded). */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers kept in the pool for reuse. */
  pooledBuffers: number;
  pooledBytes: number;
  /** Every GPU buffer this pool has created so far (growth here means something leaks). */
  createdBuffers: number;
}

const STORAGE_USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function bucketSize(bytes: number): number {
  const min = 16;
  if (bytes <= min) return min;
  const pow = 2 ** Math.floor(Math.log2(bytes - 1));
  if (pow < 64) return Math.ceil(bytes / 16) * 16;
  const step = pow / 8;
  return Math.ceil(bytes / step) * step;
}

class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private released: GPUBuffer[] = [];
  private staging = new Map<number, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  private stats = { liveBytes: 0, pooledBuffers: 0, pooledBytes: 0, created: 0 };

  acquire(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const { device, limits } = getGpu();
    if (size > limits.maxStorageBufferBindingSize) {
      throw new RangeError(
        `a tensor of ${bytes} bytes is larger than this device's largest storage binding ` +
          `(maxStorageBufferBindingSize, ${limits.maxStorageBufferBindingSize} bytes${getGpu().info.limits === 'default' ? `: WebGPU's default, as init({ limits: 'default' }) or WEBGPU_LIMITS=default asked` : ''}): split the work into smaller batches`,
      );
    }
    let buffer = this.free.get(size)?.pop();
    if (buffer) {
      this.stats.pooledBuffers--;
      this.stats.pooledBytes -= size;
    } else {
      buffer = device.createBuffer({ size, usage: STORAGE_USAGE() });
      this.stats.created++;
    }
    this.live.add(buffer);
    this.stats.liveBytes += size;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.live.delete(buffer)) return;
    this.stats.liveBytes -= buffer.size;
    this.released.push(buffer);
  }

  /** Called by dispatch.flush() once the recorded commands are submitted. */
  afterSubmit(): void {
    for (const buffer of this.released) {
      const list = this.free.get(buffer.size);
      if (list) list.push(buffer);
      else this.free.set(buffer.size, [buffer]);
      this.stats.pooledBuffers++;
      this.stats.pooledBytes += buffer.size;
    }
    this.released = [];
  }

  acquireStaging(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const buffer = this.staging.get(size)?.pop();
    if (buffer) return buffer;
    return getGpu().device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  releaseStaging(buffer: GPUBuffer): void {
    const list = this.staging.get(buffer.size);
    if (list) list.push(buffer);
    else this.staging.set(buffer.size, [buffer]);
  }

  info(): MemoryInfo {
    return {
      liveBuffers: this.live.size,
      liveBytes: this.stats.liveBytes,
      pooledBuffers: this.stats.pooledBuffers,
      pooledBytes: this.stats.pooledBytes,
      createdBuffers: this.stats.created,
    };
  }

  /** Destroys pooled buffers (not live ones): gives memory back to the driver. */
  emptyCache(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    for (const list of this.staging.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.staging.clear();
    this.stats.pooledBuffers = 0;
    this.stats.pooledBytes = 0;
  }

  /**
   * The device is going away: destroy every buffer made on it, live ones included (a device
   * handed to init() stays the caller's, and must not keep our memory), and forget them.
   */
  destroyAll(): void {
    for (const list of [...this.free.values(), ...this.staging.values(), this.released, [...this.live]]) for (const b of list) b.destroy();
    this.free.clear();
    this.staging.clear();
    this.released = [];
    this.live.clear();
    this.stats = { liveBytes: 0, pooledBuffers: 0, pooledBytes: 0, created: 0 };
  }
}

export const pool = new BufferPool();
onDeviceClose(() => pool.destroyAll());
