// Runs kernel Programs: compiles each once, records dispatches into one long-lived command
// encoder, and submits in batches. Reading a value back flushes.
//
// Three rules keep this correct:
//  - Buffers a tensor lets go of return to the pool only after the commands recorded so far are
//    submitted (see pool.ts), so `queue.writeBuffer`, which lands before unsubmitted commands,
//    never overwrites something a pending kernel still reads.
//  - Every dispatch gets its own slice of the batch's uniform arena; the arena is written once,
//    just before the batch is submitted, for the same reason.
//  - WebGPU reports errors asynchronously. Compile and validation errors are caught in error
//    scopes, named after the kernel, and thrown from the next flush or read-back.

import { getGpu, deviceLostReason, onDeviceClose } from './device.ts';
import { pool } from './pool.ts';
import { envVar } from './host.ts';
import { gridFoldLimit, type Program } from '../kernels/program.ts';
import { unrollLoops } from '../kernels/unroll.ts';

export class KernelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelError';
  }
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** Observes every dispatch (the bench's per-kernel profile uses it). */
export interface DispatchObserver {
  /** Returns timestamp writes for this dispatch's own compute pass, or undefined. */
  beforeDispatch(program: Program): GPUComputePassTimestampWrites | undefined;
  /** Called with the encoder just before a batch is submitted (to resolve queries). */
  beforeSubmit?(encoder: GPUCommandEncoder): void;
}

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment is at most 256 on every adapter
const ARENA_SLOTS = 512;
const MAX_DISPATCHES_PER_BATCH = 64;

const pipelines = new Map<string, CachedPipeline>();
const deferredErrors: string[] = [];
const pendingChecks: Promise<void>[] = [];
// Counts devices let go of: an error scope of a device already closed (or lost) may still
// resolve, and what it says must not be blamed on the device that replaced it.
let generation = 0;

function deferError(gen: number, message: string): void {
  if (gen === generation) deferredErrors.push(message);
}

let encoder: GPUCommandEncoder | undefined;
let pass: GPUComputePassEncoder | undefined;
let kernelsInBatch: string[] = [];
let arenaCpu = new ArrayBuffer(UNIFORM_SLOT * ARENA_SLOTS);
let arenaGpu: GPUBuffer | undefined;
let arenaUsed = 0;
let observer: DispatchObserver | undefined;
let dispatchCount = 0;
let pipelinesBuilt = 0;
let planning = false;
const debugEachDispatch = envVar('WEBGPU_DEBUG') === '1';

// The device is going away: submit what is recorded, then drop everything made on it (pipelines,
// the uniform arena, an open encoder), so that init() with another device starts clean.
onDeviceClose(() => {
  try {
    flush();
  } catch {
    // errors of the closing device's last batch (or the device was lost): nobody is left to act on them
  }
  try {
    endPass();
  } catch {
    // a lost device's pass
  }
  pass = undefined;
  encoder = undefined;
  kernelsInBatch = [];
  pipelines.clear();
  arenaGpu?.destroy();
  arenaGpu = undefined;
  arenaUsed = 0;
  deferredErrors.length = 0;
  // A lost device's error scopes may never settle; read-backs on the next device must not wait on them.
  pendingChecks.length = 0;
  generation++;
});

/**
 * Runs fn recording nothing: every launch is checked (shapes, grid) and its problem resolved by
 * the kernel policy as usual, but no kernel is compiled or dispatched and no copy recorded, so the
 * outputs hold no values. What a step would run, at no cost: the tuner finds a training step's
 * problems so. fn must be synchronous and must not read values back.
 */
export function planOnly<T>(fn: () => T): T {
  const before = planning;
  planning = true;
  try {
    const out = fn();
    if (out instanceof Promise) throw new TypeError('planOnly: fn must be synchronous (it returned a Promise)');
    return out;
  } finally {
    planning = before;
  }
}

export function setDispatchObserver(next: DispatchObserver | undefined): void {
  flush();
  observer = next;
}

/** Number of dispatches since start: lets tests and the bench count kernel launches. */
export function dispatchesSoFar(): number {
  return dispatchCount;
}

/**
 * Number of pipelines compiled since start (each kernel source and overrides once, again after a
 * device loss): the tuner tells by it whether a run it timed also compiled a kernel.
 */
export function pipelinesSoFar(): number {
  return pipelinesBuilt;
}

function track(check: Promise<void>): void {
  pendingChecks.push(check);
  void check.finally(() => {
    const i = pendingChecks.indexOf(check);
    if (i >= 0) pendingChecks.splice(i, 1);
  });
}

function pipelineFor(program: Program): CachedPipeline {
  const entryPoint = program.entryPoint ?? 'main';
  const overrides = program.overrides ?? {};
  const key = `${entryPoint}|${JSON.stringify(overrides)}|${program.wgsl}`;
  const cached = pipelines.get(key);
  if (cached) return cached;

  const { device, info } = getGpu();
  const code = program.unroll && info.unrollBlocks ? unrollLoops(program.wgsl, program.unroll) : program.wgsl;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code, label: program.name });
  const pipeline = device.createComputePipeline({
    label: program.name,
    layout: 'auto',
    compute: { module, entryPoint, constants: overrides },
  });
  const layout = pipeline.getBindGroupLayout(0);
  const name = program.name;
  const gen = generation;
  track(
    device.popErrorScope().then(async (error) => {
      if (!error) return;
      const info = await module.getCompilationInfo();
      const lines = info.messages
        .filter((m) => m.type === 'error')
        .map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`);
      deferError(gen, `kernel "${name}" failed to compile: ${error.message}${lines.length ? '\n' + lines.join('\n') : ''}`);
    }),
  );
  const entry = { pipeline, layout };
  pipelines.set(key, entry);
  pipelinesBuilt++;
  return entry;
}

function ensureEncoder(): GPUCommandEncoder {
  encoder ??= getGpu().device.createCommandEncoder();
  return encoder;
}

function endPass(): void {
  pass?.end();
  pass = undefined;
}

function uniformSlice(program: Program): GPUBufferBinding | undefined {
  const fields = program.uniforms;
  if (!fields || fields.length === 0) return undefined;
  const bytes = Math.ceil((fields.length * 4) / 16) * 16; // uniform structs round up to 16
  const slots = Math.ceil(bytes / UNIFORM_SLOT);
  if (arenaUsed + slots * UNIFORM_SLOT > arenaCpu.byteLength) flush();
  const offset = arenaUsed;
  const view = new DataView(arenaCpu, offset, bytes);
  fields.forEach(([type, value], i) => {
    if (type === 'f32') view.setFloat32(i * 4, value, true);
    else if (type === 'i32') view.setInt32(i * 4, value, true);
    else view.setUint32(i * 4, value, true);
  });
  arenaUsed += slots * UNIFORM_SLOT;
  arenaGpu ??= getGpu().device.createBuffer({
    label: 'uniform arena',
    size: arenaCpu.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  return { buffer: arenaGpu, offset, size: bytes };
}

/** Range of a storage buffer bound to a kernel (a tensor's whole storage, usually). */
export interface BufferRange {
  buffer: GPUBuffer;
  /** Bytes to bind; must be > 0. */
  size: number;
  offset?: number;
}

/**
 * Records `program` over the given buffers. Shapes were already checked by the caller; what can
 * still go wrong here is a kernel bug, which the error scopes report with the kernel's name.
 */
export function run(program: Program, inputs: BufferRange[], outputs: BufferRange[]): void {
  if (inputs.length !== program.inputs || outputs.length !== program.outputs) {
    throw new KernelError(
      `kernel "${program.name}" takes ${program.inputs} inputs and ${program.outputs} outputs, ` +
        `got ${inputs.length} and ${outputs.length}`,
    );
  }
  const [gx, gy, gz] = program.grid;
  if (gx === 0 || gy === 0 || gz === 0) return; // empty tensor: nothing to compute
  const { device, limits } = getGpu();
  // Every kernel folds its grid (foldGrid, src/kernels/program.ts), so a dimension over the limit
  // is a bug in the kernel's builder, not a shape to refuse. Checked against the fold limit too,
  // which tests lower, so that a builder that forgets to fold fails there on small tensors.
  const maxGroups = Math.min(limits.maxComputeWorkgroupsPerDimension, gridFoldLimit());
  if (gx > maxGroups || gy > maxGroups || gz > maxGroups) {
    throw new KernelError(`internal error: kernel "${program.name}" launched grid [${program.grid}], over ${maxGroups} workgroups in a dimension; this is a bug in that kernel's builder, which must fold its grid (foldGrid in src/kernels/program.ts)`);
  }
  if (planning) return;
  const { pipeline, layout } = pipelineFor(program);
  if (arenaUsed + UNIFORM_SLOT > arenaCpu.byteLength) flush();
  const uniform = uniformSlice(program);
  const entries: GPUBindGroupEntry[] = [...inputs, ...outputs].map((r, binding) => ({
    binding,
    resource: { buffer: r.buffer, offset: r.offset ?? 0, size: r.size },
  }));
  if (uniform) entries.push({ binding: entries.length, resource: uniform });

  device.pushErrorScope('validation');
  const bindGroup = device.createBindGroup({ label: program.name, layout, entries });
  const timestampWrites = observer?.beforeDispatch(program);
  if (timestampWrites) endPass();
  const enc = ensureEncoder();
  const p = timestampWrites ? enc.beginComputePass({ timestampWrites }) : (pass ??= enc.beginComputePass());
  p.setPipeline(pipeline);
  p.setBindGroup(0, bindGroup);
  p.dispatchWorkgroups(gx, gy, gz);
  if (timestampWrites) p.end();
  const name = program.name;
  const gen = generation;
  track(
    device.popErrorScope().then((error) => {
      if (error) deferError(gen, `kernel "${name}": ${error.message}`);
    }),
  );
  kernelsInBatch.push(name);
  dispatchCount++;
  if (debugEachDispatch || kernelsInBatch.length >= MAX_DISPATCHES_PER_BATCH) flush();
}

/** Records a buffer-to-buffer copy in stream order (used by read-back and by some ops). */
export function copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
  if (planning) return;
  endPass();
  ensureEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  kernelsInBatch.push('copy');
}

/** Submits everything recorded so far. Cheap when nothing is pending. */
export function flush(): void {
  throwDeferredErrors();
  if (!encoder) return;
  endPass();
  const { device } = getGpu();
  if (arenaUsed > 0 && arenaGpu) device.queue.writeBuffer(arenaGpu, 0, arenaCpu, 0, arenaUsed);
  observer?.beforeSubmit?.(encoder);
  const kernels = kernelsInBatch;
  device.pushErrorScope('validation');
  device.queue.submit([encoder.finish()]);
  const gen = generation;
  track(
    device.popErrorScope().then((error) => {
      if (error) {
        const names = [...new Set(kernels)].join(', ');
        deferError(gen, `a batch of kernels (${names}) was rejected: ${error.message}` +
          (debugEachDispatch ? '' : ' (set WEBGPU_DEBUG=1 to submit kernels one by one and pinpoint it)'));
      }
    }),
  );
  encoder = undefined;
  kernelsInBatch = [];
  arenaUsed = 0;
  pool.afterSubmit();
}

export function throwDeferredErrors(): void {
  const lost = deviceLostReason();
  if (lost) throw new KernelError(lost);
  if (deferredErrors.length === 0) return;
  const all = deferredErrors.splice(0);
  // A kernel that failed to compile makes every later use of it fail too: report the cause.
  const causes = all.filter((m) => !m.includes('is invalid due to a previous error'));
  const message = (causes.length ? causes : all).join('\n');
  throw new KernelError(message);
}

/** Flushes, waits for the GPU to finish, and throws any error reported on the way. */
export async function sync(): Promise<void> {
  flush();
  await getGpu().device.queue.onSubmittedWorkDone();
  await Promise.all([...pendingChecks]);
  throwDeferredErrors();
}

/** Copies `bytes` of `buffer` back to the CPU. Flushes first, so the result is current. */
export async function readBuffer(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  if (planning) throw new KernelError('a value was read back inside planOnly(), where nothing is computed');
  const staging = pool.acquireStaging(bytes);
  copyBuffer(buffer, offset, staging, 0, bytes);
  flush();
  try {
    await staging.mapAsync(GPUMapMode.READ, 0, bytes);
  } catch (e) {
    const lost = deviceLostReason();
    throw new KernelError(lost ?? `reading a buffer back failed: ${(e as Error).message}`);
  }
  const copy = staging.getMappedRange(0, bytes).slice(0);
  staging.unmap();
  pool.releaseStaging(staging);
  await Promise.all([...pendingChecks]);
  throwDeferredErrors();
  return copy;
}

/** Uploads bytes into a buffer the pool just handed out (safe: see the rules at the top). */
export function writeBuffer(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  getGpu().device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
}
