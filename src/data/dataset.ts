// Datasets and a DataLoader, named and behaving as PyTorch users expect, for any data (MnistGpu is
// one such source; this file serves everything else).
//
//   const data = new TensorDataset({ data: xs, shape: [n, 4] }, { data: labels, shape: [n] });
//   const loader = new DataLoader(data, { batchSize: 32, seed: 1 });
//   for (const { x, y } of loader) { ... }          // one epoch, reshuffled each time it is iterated
//   for (const { x, y } of loader.batches(epoch)) { ... }   // or name the epoch yourself
//
// The data is uploaded once, when the dataset is made; each batch is gathered on the GPU
// (gatherRowsProgram, src/kernels/gather.ts) from the epoch's indices. The CPU only shuffles:
// seededPermutation(count, seed, epoch), so an epoch's order depends on nothing but (seed, epoch)
// and a resumed run sees the same batches.
//
// A DataLoader offers the same interface as MnistGpu (BatchSource in batches.ts): `count`,
// `batchCount()`, `batches(epoch, options)` yielding Batch objects. A batch's tensors belong to
// the iterator: they stay valid until the loop moves on (or ends), then they are disposed.

import { Tensor, fromData, formatShape, setHostSource, shapeSize, type DType, type Shape } from '../core/tensor.ts';
import { keep } from '../core/scope.ts';
import { run } from '../core/dispatch.ts';
import { getGpu, isInitialized } from '../core/device.ts';
import { gatherRowsProgram } from '../kernels/gather.ts';
import { seededPermutation } from './shuffle.ts';
import type { Batch, BatchOptions, BatchSource } from './batches.ts';
import { checkOptions as checkOptionKeys, knownOptions } from '../core/options.ts';

/**
 * Anything a DataLoader can batch: a number of examples, and a way to gather some of them (by
 * index) into a batch the caller owns. TensorDataset and MnistGpu are datasets.
 */
export interface Dataset<Y extends Tensor | undefined = Tensor> {
  readonly count: number;
  /** The examples at `indices` (host numbers in 0..count−1), as a new batch the caller disposes. */
  gather(indices: ArrayLike<number>): Batch<Y>;
}

/** Host values and the shape they fill: [examples, ...one example's shape], row-major. */
export interface HostTensor {
  data: Float32Array | Int32Array | readonly number[];
  shape: Shape;
  /** Default: 'i32' for an Int32Array, 'f32' otherwise. */
  dtype?: 'f32' | 'i32';
}

/** A dataset's x or y: a tensor already on the GPU (used, not copied), or host values to upload. */
export type DatasetInput = Tensor | HostTensor;

/** One of x and y, checked and uploaded. */
interface Column {
  tensor: Tensor;
  /** Whether the dataset uploaded it (and so disposes it). */
  owned: boolean;
  rowShape: number[];
  rowSize: number;
  /** The values on the host when they were given there as i32 with one value per example. */
  hostLabels?: Int32Array;
}

/** Everything about a column that can be known without touching the GPU. */
interface CheckedInput {
  shape: number[];
  dtype: DType;
  tensor?: Tensor;
  host?: Float32Array | Int32Array;
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

function describeInput(role: string, input: DatasetInput): string {
  return input instanceof Tensor ? `${role} (${input.describe()})` : `${role} (${formatShape(input.shape)})`;
}

function checkInput(role: 'x' | 'y', input: unknown): CheckedInput {
  if (input instanceof Tensor) {
    if (input.isDisposed) throw new Error(`TensorDataset: ${role} ${input.describe()} was disposed`);
    if (input.rank < 1) throw new RangeError(`TensorDataset: ${role} ${input.describe()} needs a first (examples) dimension`);
    return { shape: [...input.shape], dtype: input.dtype, tensor: input };
  }
  if (typeof input !== 'object' || input === null || !('data' in input) || !('shape' in input)) {
    throw new TypeError(`TensorDataset: ${role} must be a Tensor or { data, shape, dtype? }, got ${input === null ? 'null' : typeof input}`);
  }
  const { data, shape, dtype } = input as HostTensor;
  if (!(data instanceof Float32Array || data instanceof Int32Array || Array.isArray(data))) {
    throw new TypeError(`TensorDataset: ${role}.data must be a Float32Array, an Int32Array or an array of numbers`);
  }
  if (!Array.isArray(shape) || shape.length < 1 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`TensorDataset: ${role}.shape must be [examples, ...] of non-negative integers, got ${Array.isArray(shape) ? formatShape(shape) : String(shape)}`);
  }
  if (dtype !== undefined && dtype !== 'f32' && dtype !== 'i32') {
    throw new TypeError(`TensorDataset: ${role}.dtype must be 'f32' or 'i32', got '${String(dtype)}'`);
  }
  const size = shapeSize(shape);
  if (data.length !== size) {
    throw new RangeError(`TensorDataset: ${role} has ${data.length} values, but shape ${formatShape(shape)} holds ${size}`);
  }
  const resolved: 'f32' | 'i32' = dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
  if (data instanceof Float32Array && resolved === 'i32') {
    throw new TypeError(`TensorDataset: ${role} is a Float32Array but dtype is 'i32': pass an Int32Array (or a number[]) for integers`);
  }
  if (data instanceof Int32Array && resolved === 'f32') {
    throw new TypeError(`TensorDataset: ${role} is an Int32Array but dtype is 'f32': pass a Float32Array (or a number[]) for floats`);
  }
  if (resolved === 'i32') {
    if (!(data instanceof Int32Array)) {
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (!Number.isInteger(v) || v < I32_MIN || v > I32_MAX) {
          throw new RangeError(`TensorDataset: ${role} is i32 but value ${i} is ${v}, not a 32-bit integer`);
        }
      }
    }
    return { shape: [...shape], dtype: 'i32', host: data instanceof Int32Array ? data : Int32Array.from(data) };
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new RangeError(`TensorDataset: ${role} value ${i} is ${data[i]}: the data must be finite`);
  }
  return { shape: [...shape], dtype: 'f32', host: data instanceof Float32Array ? data : Float32Array.from(data) };
}

function checkFitsBinding(role: string, c: CheckedInput): void {
  if (!isInitialized()) return; // uploading will say so, naming init()
  const bytes = shapeSize(c.shape) * 4;
  const limit = getGpu().limits.maxStorageBufferBindingSize;
  if (bytes > limit) {
    throw new RangeError(
      `TensorDataset: ${role} ${formatShape(c.shape)} ${c.dtype} is ${bytes} bytes, over this adapter's ${limit}-byte storage binding limit: ` +
        'split the data into several datasets, or store it more compactly (MnistGpu keeps bytes)',
    );
  }
}

function upload(checked: CheckedInput, oneValuePerExample: boolean): Column {
  const rowShape = checked.shape.slice(1);
  const rowSize = shapeSize(rowShape);
  if (checked.tensor) return { tensor: checked.tensor, owned: false, rowShape, rowSize };
  const host = checked.host!;
  const tensor = keep(fromData(host, checked.shape, checked.dtype));
  // Uploaded again from the same host array after a device loss (replaceLostDevice).
  setHostSource(tensor, () => host);
  const hostLabels = oneValuePerExample && checked.dtype === 'i32' && rowSize === 1 ? (host as Int32Array) : undefined;
  return { tensor, owned: true, rowShape, rowSize, hostLabels };
}

/**
 * Examples as rows of x (and of y when given), on the GPU: PyTorch's TensorDataset. Host data is
 * checked (counts agree, shapes fill, dtypes match, values finite or 32-bit integers) before
 * anything is uploaded, and uploaded once; tensors are used as they are (not copied; you keep
 * owning them). Batches carry `labels` (y on the host) when y was given as host i32 values with
 * one value per example.
 */
class TensorDataset<Y extends Tensor | undefined> implements Dataset<Y> {
  readonly count: number;
  private readonly x: Column;
  private readonly y: Column | undefined;

  constructor(x: DatasetInput, y?: DatasetInput) {
    if (x === undefined) throw new TypeError('TensorDataset: x is required');
    const cx = checkInput('x', x);
    const cy = y === undefined ? undefined : checkInput('y', y);
    const count = cx.shape[0];
    if (cy && cy.shape[0] !== count) {
      throw new RangeError(
        `TensorDataset: x and y must hold the same number of examples: ${describeInput('x', x)} has ${count}, ${describeInput('y', y!)} has ${cy.shape[0]}`,
      );
    }
    checkFitsBinding('x', cx);
    if (cy) checkFitsBinding('y', cy);
    this.count = count;
    this.x = upload(cx, false);
    try {
      this.y = cy ? upload(cy, true) : undefined;
    } catch (e) {
      if (this.x.owned) this.x.tensor.dispose();
      throw e;
    }
    if (this.x.owned) this.x.tensor.name = 'dataset x';
    if (this.y?.owned) this.y.tensor.name = 'dataset y';
  }

  /** One example's shape in x (without the examples dimension). */
  get xShape(): Shape {
    return this.x.rowShape;
  }

  /** One example's shape in y, or undefined without y. */
  get yShape(): Shape | undefined {
    return this.y?.rowShape;
  }

  gather(indices: ArrayLike<number>): Batch<Y> {
    for (let i = 0; i < indices.length; i++) {
      const v = indices[i];
      if (!Number.isInteger(v) || v < 0 || v >= this.count) {
        throw new RangeError(`TensorDataset.gather: index ${v} (position ${i}) is outside 0..${this.count - 1}`);
      }
    }
    const size = indices.length;
    const idx = size > 0 ? fromData(indices, [size], 'u32') : undefined;
    const x = gatherColumn(this.x, idx, size);
    const y = this.y ? gatherColumn(this.y, idx, size) : undefined;
    idx?.dispose();
    const batch: Batch<Y> = { x, y: y as Y, index: 0, size };
    const hostLabels = this.y?.hostLabels;
    if (hostLabels) batch.labels = Int32Array.from({ length: size }, (_, i) => hostLabels[indices[i]]);
    return batch;
  }

  /** Frees the tensors the dataset uploaded (tensors you passed in stay yours). */
  dispose(): void {
    if (this.x.owned) this.x.tensor.dispose();
    if (this.y?.owned) this.y.tensor.dispose();
  }
}

function gatherColumn(column: Column, indices: Tensor | undefined, size: number): Tensor {
  const out = keep(new Tensor([size, ...column.rowShape], column.tensor.dtype));
  if (indices && column.rowSize > 0) run(gatherRowsProgram(size, column.rowSize, 0), [column.tensor.gpu, indices.gpu], [out.gpu]);
  return out;
}

/** `new TensorDataset(x)` has batches without y; `new TensorDataset(x, y)` has y. */
export interface TensorDatasetConstructor {
  new (x: DatasetInput): TensorDataset<undefined>;
  new (x: DatasetInput, y: DatasetInput): TensorDataset<Tensor>;
  readonly prototype: TensorDataset<Tensor | undefined>;
}
const TypedTensorDataset = TensorDataset as unknown as TensorDatasetConstructor;
type TypedTensorDataset<Y extends Tensor | undefined = Tensor> = TensorDataset<Y>;
export { TypedTensorDataset as TensorDataset };

const DATA_LOADER_OPTIONS = knownOptions<DataLoaderOptions>({ batchSize: true, shuffle: true, seed: true, dropLast: true });

export interface DataLoaderOptions {
  /** Examples per batch (the last batch may be smaller unless dropLast). */
  batchSize: number;
  /** Reshuffle every epoch with seededPermutation(count, seed, epoch) (default true, as Keras's fit; PyTorch's default is false). */
  shuffle?: boolean;
  /** Default 0. */
  seed?: number;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
}

const OPTION_NAMES = ['batchSize', 'shuffle', 'seed', 'dropLast'] as const;

function checkOptions(where: string, options: object, required: boolean): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${where}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) {
      throw new TypeError(`${where}: unknown option '${key}' (the options are ${OPTION_NAMES.join(', ')})`);
    }
  }
  const o = options as Partial<BatchOptions>;
  if (required || o.batchSize !== undefined) checkBatchSize(where, o.batchSize);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new RangeError(`${where}: seed must be an integer, got ${o.seed}`);
  for (const key of ['shuffle', 'dropLast'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw new TypeError(`${where}: ${key} must be true or false, got ${String(o[key])}`);
  }
}

function checkBatchSize(where: string, batchSize: unknown): asserts batchSize is number {
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`${where}: batch size must be a positive integer, got ${String(batchSize)}`);
  }
}

/**
 * Batches of a dataset, seeded-shuffled per epoch: PyTorch's DataLoader, with MnistGpu's
 * interface (BatchSource), so a training loop takes either.
 *
 * Epochs: `loader.batches(epoch)` yields that epoch's batches (the order depends only on seed and
 * epoch). Iterating the loader itself (`for (const b of loader)`) runs one epoch, as in PyTorch,
 * and each iteration is the next epoch: `loader.epoch` says which one the next iteration runs
 * (0 first); set it to resume.
 */
export class DataLoader<Y extends Tensor | undefined = Tensor> implements BatchSource<Y>, Iterable<Batch<Y>> {
  readonly dataset: Dataset<Y>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  private nextEpoch = 0;

  constructor(dataset: Dataset<Y>, options: DataLoaderOptions) {
    checkOptionKeys('DataLoader', options, DATA_LOADER_OPTIONS);
    if (typeof dataset !== 'object' || dataset === null || typeof dataset.gather !== 'function' || !Number.isInteger(dataset.count) || dataset.count < 0) {
      throw new TypeError('DataLoader: the dataset must have a count of examples and a gather(indices) method (a TensorDataset, or MnistGpu)');
    }
    checkOptions('DataLoader', options, true);
    this.dataset = dataset;
    this.batchSize = options.batchSize;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
  }

  /** Examples in the dataset. */
  get count(): number {
    return this.dataset.count;
  }

  /** Batches per epoch with the loader's own options (PyTorch's len(loader)). */
  get length(): number {
    return this.batchCount();
  }

  /** The epoch the next `for…of` over the loader runs (0 at first, one more each time). */
  get epoch(): number {
    return this.nextEpoch;
  }
  set epoch(value: number) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`DataLoader: epoch must be a non-negative integer, got ${value}`);
    this.nextEpoch = value;
  }

  /** Batches per epoch; the loader's batch size and dropLast unless given. */
  batchCount(batchSize: number = this.batchSize, dropLast: boolean = this.dropLast): number {
    checkBatchSize('DataLoader.batchCount', batchSize);
    return dropLast ? Math.floor(this.count / batchSize) : Math.ceil(this.count / batchSize);
  }

  /**
   * The epoch's batches, in the order seededPermutation(count, seed, epoch) (file order when
   * shuffle is false). `options` override the loader's own (MnistGpu's callers pass them all).
   */
  *batches(epoch: number, options: Partial<BatchOptions> = {}): Generator<Batch<Y>, void, undefined> {
    checkOptions('DataLoader.batches', options, false);
    const { batchSize = this.batchSize, shuffle = this.shuffle, seed = this.seed, dropLast = this.dropLast } = options;
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`DataLoader.batches: epoch must be a non-negative integer, got ${epoch}`);
    const count = this.count;
    const batches = this.batchCount(batchSize, dropLast);
    if (batches === 0) return;
    const order = shuffle ? seededPermutation(count, seed, epoch) : Uint32Array.from({ length: count }, (_, i) => i);
    let current: Batch<Y> | undefined;
    try {
      for (let b = 0; b < batches; b++) {
        const start = b * batchSize;
        current = this.dataset.gather(order.subarray(start, Math.min(start + batchSize, count)));
        current.index = b;
        yield current;
        disposeBatch(current);
        current = undefined;
      }
    } finally {
      if (current) disposeBatch(current);
    }
  }

  /** One epoch (the next: see `epoch`), as PyTorch's `for batch in loader`. */
  [Symbol.iterator](): Generator<Batch<Y>, void, undefined> {
    return this.batches(this.nextEpoch++);
  }
}

function disposeBatch(batch: Batch<Tensor | undefined>): void {
  batch.x.dispose();
  batch.y?.dispose();
}
