// The GPU-timestamp clock: where the adapter offers 'timestamp-query', every dispatch gets its
// own compute pass with a timestamp at its start and end (through dispatch.ts's observer hook),
// so a dispatch's time is the kernel's alone, without host overhead or gaps between kernels.
// The bench (bench/clock.ts) and the tuner (src/tune/tuner.ts) read time through it.

import { getGpu } from './device.ts';
import { setDispatchObserver, sync, type DispatchObserver } from './dispatch.ts';
import type { Program } from '../kernels/program.ts';

/** One timed dispatch. */
export interface DispatchTiming {
  name: string;
  /** Caller-chosen label of the repetition (or step) the dispatch belonged to. */
  tag: number;
  ns: number;
  flops: number;
  bytes: number;
}

/** WebGPU caps a query set at 4096 queries: two per dispatch. */
export const MAX_TIMED_DISPATCHES = 2048;

/**
 * Collects per-dispatch GPU timestamps. Install with `start()`, record work (setting `tag`), then
 * `collect()` after the work was submitted. Holds `capacity` dispatches between collections;
 * dispatches past that run untimed and are counted in `untimed`.
 */
export class TimestampRecorder implements DispatchObserver {
  tag = 0;
  untimed = 0;
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;
  private used = 0;
  private resolved = 0;
  private pending: { name: string; tag: number; flops: number; bytes: number }[] = [];

  readonly capacity: number;

  constructor(capacity = 1024) {
    this.capacity = Math.min(capacity, MAX_TIMED_DISPATCHES);
    const { device } = getGpu();
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * this.capacity });
    const size = 2 * this.capacity * 8;
    this.resolveBuffer = device.createBuffer({ size, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.readBuffer = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Dispatches that can still be timed before the next collect(). */
  get free(): number {
    return this.capacity - this.pending.length;
  }

  start(): void {
    setDispatchObserver(this);
  }

  stop(): void {
    setDispatchObserver(undefined);
  }

  beforeDispatch(program: Program): GPUComputePassTimestampWrites | undefined {
    if (this.pending.length >= this.capacity) {
      this.untimed++;
      return undefined;
    }
    const i = this.pending.length;
    this.pending.push({ name: program.name, tag: this.tag, flops: program.flops ?? 0, bytes: program.bytes ?? 0 });
    this.used = 2 * (i + 1);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  beforeSubmit(encoder: GPUCommandEncoder): void {
    if (this.used === this.resolved) return;
    encoder.resolveQuerySet(this.querySet, this.resolved, this.used - this.resolved, this.resolveBuffer, this.resolved * 8);
    this.resolved = this.used;
  }

  /** Waits for the recorded work and returns its timings; the recorder is then empty again. */
  async collect(): Promise<DispatchTiming[]> {
    await sync();
    const count = this.pending.length;
    if (count === 0) return [];
    const { device } = getGpu();
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, count * 16);
    device.queue.submit([encoder.finish()]);
    await this.readBuffer.mapAsync(GPUMapMode.READ, 0, count * 16);
    const stamps = new BigUint64Array(this.readBuffer.getMappedRange(0, count * 16).slice(0));
    this.readBuffer.unmap();
    const out = this.pending.map((p, i) => ({ ...p, ns: Math.max(0, Number(stamps[2 * i + 1] - stamps[2 * i])) }));
    this.pending = [];
    this.used = 0;
    this.resolved = 0;
    return out;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}
