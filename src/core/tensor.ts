// Tensor: a shape over a pooled GPU storage buffer, plus what autograd needs (requiresGrad,
// grad, and the node that made it). Storage is reference-counted so reshape is a free view.
// Layout is always contiguous row-major (NHWC for images).

import { pool } from './pool.ts';
import { onDeviceReplaced } from './device.ts';
import { readBuffer, writeBuffer, type BufferRange } from './dispatch.ts';
import { registerInScope, forgetFromScopes } from './scope.ts';
import { runBackward, type BackwardOptions, type GradNode } from './autograd.ts';

import { formatShape, sizeOf as shapeSize, type Shape } from '../kernels/shapes.ts';
import { formatValues, PRINT_OPTIONS, type PrintOptions } from './format.ts';
import { checkOptions } from './options.ts';

export type DType = 'f32' | 'i32' | 'u32';
export type { Shape, PrintOptions };
export { formatShape, shapeSize };

/** Host data a storage can be filled from again on a new device (see setHostSource). */
export type HostSource = () => ArrayBufferView;

// Every storage some tensor still holds: after a device loss each gets a new buffer on the new device.
const liveStorages = new Set<Storage>();

class Storage {
  refs = 1;
  /** Where its values come from on the host, when its owner said (setHostSource). */
  hostSource: HostSource | undefined;
  constructor(
    private gpuBuffer: GPUBuffer,
    readonly bytes: number,
  ) {
    liveStorages.add(this);
  }
  get buffer(): GPUBuffer {
    return this.gpuBuffer;
  }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) {
      pool.release(this.gpuBuffer);
      liveStorages.delete(this);
    }
  }
  /** The device was replaced: a new buffer on it, filled from the host source where there is one. */
  rehome(): boolean {
    this.gpuBuffer = pool.acquire(Math.max(this.bytes, 4));
    if (!this.hostSource) return false;
    const data = this.hostSource();
    if (data.byteLength !== this.bytes) throw new RangeError(`a host source of ${data.byteLength} bytes cannot refill a tensor of ${this.bytes}`);
    if (this.bytes > 0) writeBuffer(this.gpuBuffer, 0, data);
    return true;
  }
}

let unrestoredAfterReplace = 0;

// After replaceLostDevice(): every live tensor gets storage on the new device. Those with a host
// source get their values back; the others (weights, optimizer state) are for the caller to
// restore, from a checkpoint.
onDeviceReplaced(() => {
  unrestoredAfterReplace = 0;
  for (const storage of liveStorages) if (!storage.rehome()) unrestoredAfterReplace++;
});

/** How many live storages the last device replacement left without values (they are zero until restored). */
export function storagesWithoutHostSource(): number {
  return unrestoredAfterReplace;
}

/**
 * Says where a tensor's values come from on the host, so that after a device loss
 * (replaceLostDevice) its new storage is filled from there: for data that never changes on the
 * GPU (a data set's examples), which no checkpoint keeps. `source` is called only then; it must
 * return the tensor's bytes (its size × 4). Views share their storage, and its source.
 */
export function setHostSource(t: Tensor, source: HostSource): void {
  // (The storage is private to Tensor; this file's own function may reach it.)
  const storage = (t as unknown as { storage: Storage | null }).storage;
  if (!storage) throw new Error(`${t.describe()} was disposed and cannot be used`);
  storage.hostSource = source;
}

let nextId = 0;
let liveTensors = 0;

export function liveTensorCount(): number {
  return liveTensors;
}

export function checkShape(shape: Shape, what = 'shape'): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${what} ${formatShape(shape)} must hold non-negative integers`);
  }
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Set by differentiable ops: how to send this tensor's gradient to its inputs. */
  node: GradNode | null = null;
  /** Optional name, shown in error messages and checkpoints. */
  name?: string;
  private storage: Storage | null;

  /** Use `tensor()`, `zeros()`… or an op; this wraps storage an op already filled. */
  constructor(shape: Shape, dtype: DType, storage?: Storage) {
    checkShape(shape);
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.storage = storage ?? new Storage(pool.acquire(Math.max(this.size, 1) * 4), this.size * 4);
    liveTensors++;
    registerInScope(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  /** The GPU range kernels bind. Throws for a disposed tensor, naming it. */
  get gpu(): BufferRange {
    if (!this.storage) throw new Error(`${this.describe()} was disposed and cannot be used`);
    return { buffer: this.storage.buffer, size: Math.max(this.size, 1) * 4 };
  }

  describe(): string {
    return `tensor${this.name ? ` "${this.name}"` : ''} #${this.id} ${formatShape(this.shape)} ${this.dtype}`;
  }

  /** A new tensor over the same storage (no copy): the basis of reshape. */
  view(shape: Shape = this.shape): Tensor {
    if (!this.storage) throw new Error(`${this.describe()} was disposed and cannot be used`);
    if (shapeSize(shape) !== this.size) {
      throw new RangeError(`cannot view ${this.describe()} as ${formatShape(shape)}: sizes ${this.size} and ${shapeSize(shape)} differ`);
    }
    return new Tensor(shape, this.dtype, this.storage.retain());
  }

  /** Reads the values back (flushes pending work). Integer tensors convert exactly up to 2^24. */
  async toArray(): Promise<Float32Array> {
    const raw = await this.readRaw();
    if (this.dtype === 'f32') return new Float32Array(raw);
    return Float32Array.from(this.dtype === 'i32' ? new Int32Array(raw) : new Uint32Array(raw));
  }

  async toInt32Array(): Promise<Int32Array> {
    if (this.dtype === 'f32') throw new TypeError(`toInt32Array() needs an i32 or u32 tensor, got ${this.describe()}`);
    return new Int32Array(await this.readRaw());
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new RangeError(`item() needs a tensor with one element, got ${this.describe()}`);
    return (await this.toArray())[0];
  }

  /**
   * Shape and dtype, without the values: WebGPU reads buffers back only asynchronously, so a
   * synchronous toString() cannot show them (tf.js's dataSync() has no WebGPU equivalent here).
   * Use `await t.print()` or `await t.format()` for the values.
   */
  toString(): string {
    const parts = [`shape=${formatShape(this.shape)}`, `dtype=${this.dtype}`];
    if (this.name) parts.push(`name="${this.name}"`);
    if (this.requiresGrad) parts.push('requiresGrad=true');
    if (this.isDisposed) parts.push('disposed');
    return `Tensor(${parts.join(', ')})`;
  }

  /** console.log(tensor) in Node prints toString() rather than the object's internals. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /**
   * Reads the values back and formats them under a header line: nested brackets, one row per
   * line, summarised with '…' past `threshold` elements (default 1000), as PyTorch and NumPy do.
   */
  async format(options: PrintOptions = {}): Promise<string> {
    checkOptions('format', options, PRINT_OPTIONS);
    const integer = this.dtype !== 'f32';
    const values = this.dtype === 'f32' ? await this.toArray() : this.dtype === 'i32' ? new Int32Array(await this.readRaw()) : new Uint32Array(await this.readRaw());
    return `${this.toString()}\n${formatValues(values, this.shape, integer, options)}`;
  }

  /** Prints format()'s text with console.log, as tf.js's tensor.print(). */
  async print(options: PrintOptions = {}): Promise<void> {
    checkOptions('print', options, PRINT_OPTIONS);
    console.log(await this.format(options));
  }

  private async readRaw(): Promise<ArrayBuffer> {
    const { buffer } = this.gpu;
    if (this.size === 0) return new ArrayBuffer(0);
    return readBuffer(buffer, 0, this.size * 4);
  }

  /**
   * Back-propagates from this tensor; a non-scalar needs the gradient of its own shape.
   * `inputs` restricts which leaves receive (accumulate) gradients, as in PyTorch.
   */
  backward(grad?: Tensor, options?: BackwardOptions): void {
    runBackward(this, grad, options);
  }

  /** Frees the GPU buffer (returned to the pool). Safe to call twice. */
  dispose(): void {
    if (!this.storage) return;
    this.storage.release();
    this.storage = null;
    this.node = null;
    liveTensors--;
    forgetFromScopes(this);
  }
}

/** Uploads host data into a new tensor. */
export function fromData(data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32'): Tensor {
  checkShape(shape);
  const size = shapeSize(shape);
  if (data.length !== size) {
    throw new RangeError(`data of length ${data.length} does not fit shape ${formatShape(shape)} (${size} elements)`);
  }
  const t = new Tensor(shape, dtype);
  if (size > 0) {
    const typed =
      dtype === 'f32' ? Float32Array.from(data) : dtype === 'i32' ? Int32Array.from(data) : Uint32Array.from(data);
    writeBuffer(t.gpu.buffer, 0, typed);
  }
  return t;
}
