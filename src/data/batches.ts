// MNIST on the GPU: the images are uploaded once, as packed bytes, and every batch is gathered
// there (src/kernels/gather.ts) into f32 [B, 28, 28, 1] (NHWC) scaled to the range the model
// wants, with i32 labels [B]. The CPU only shuffles indices: seededPermutation(count, seed,
// epoch), uploaded once per epoch, so an epoch's order depends on nothing but (seed, epoch).
//
//   const train = loadMnistGpu('train', { range: [0, 1] });   // Node: mnist-files.ts
//   const train = new MnistGpu(parseMnist(imageBytes, labelBytes), { range: [0, 1] });   // any host
//   for (const { x, y } of train.batches(epoch, { batchSize: 128, seed })) { ... }
//
// A batch's tensors belong to the iterator: they stay valid until the loop moves on (or ends),
// then they are disposed. Copy what you need to keep beyond that.

import { Tensor, fromData, setHostSource } from '../core/tensor.ts';
import { keep } from '../core/scope.ts';
import { run } from '../core/dispatch.ts';
import { gatherBytesProgram, gatherI32Program, packBytes } from '../kernels/gather.ts';
import type { MnistSplit } from './mnist.ts';
import { seededPermutation } from './shuffle.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

/**
 * One batch of examples. `Y` is the type of `y`: a Tensor for labelled data (MnistGpu's digits),
 * `undefined` for a dataset without targets (see TensorDataset in dataset.ts).
 */
export interface Batch<Y extends Tensor | undefined = Tensor> {
  /** Inputs [size, ...]: MnistGpu's images are f32 [size, 28, 28, 1] in the dataset's range. */
  x: Tensor;
  /** Targets [size, ...]: MnistGpu's digits are i32 [size]. */
  y: Y;
  /**
   * The targets on the host, where the data source has them: MnistGpu's digits; a TensorDataset's
   * y when it was given as host integers with one value per example.
   */
  labels?: Int32Array;
  /** Position of this batch in the epoch (0-based). */
  index: number;
  size: number;
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffle with seededPermutation(count, seed, epoch) (default true); false keeps file order. */
  shuffle?: boolean;
  seed?: number;
  /** Drop the last batch when it is smaller than batchSize (default false: keep it). */
  dropLast?: boolean;
}

/**
 * What a training loop needs from its data, whatever it is: MnistGpu and DataLoader both offer it.
 * An epoch's order depends only on (seed, epoch), so a resumed run sees the same batches. A batch's
 * tensors belong to the iterator: valid until the loop moves on (or ends), then disposed.
 */
export interface BatchSource<Y extends Tensor | undefined = Tensor> {
  /** Examples in the data. */
  readonly count: number;
  /**
   * Which examples these are, in words, where the source can say ("MNIST train: the first 1,600
   * of each digit"): the trainer records it in checkpoints, so that a resume on another selection
   * of the same size is not taken for the same run.
   */
  readonly selection?: string;
  /** Batches per epoch for these options. */
  batchCount(batchSize: number, dropLast?: boolean): number;
  /** The epoch's batches, shuffled by (seed, epoch) unless `shuffle` is false. */
  batches(epoch: number, options: BatchOptions): Generator<Batch<Y>, void, undefined>;
}

const MNIST_GPU_OPTIONS = knownOptions<{ range?: readonly [number, number]; selection?: string }>({ range: true, selection: true });

export interface MnistGpuOptions {
  /** Pixel values 0..255 map linearly onto [low, high] (default [0, 1]; GANs use [−1, 1]). */
  range?: readonly [number, number];
}

const ROWS = 28;
const COLS = 28;
const PIXELS = ROWS * COLS;

export class MnistGpu implements BatchSource {
  readonly count: number;
  readonly selection?: string;
  readonly range: readonly [number, number];
  readonly imageShape = [ROWS, COLS, 1] as const;
  private readonly packedImages: Tensor;
  private readonly labels: Tensor;
  /** The labels on the host too: evaluation compares predictions against them. */
  readonly hostLabels: Uint8Array;

  constructor(split: MnistSplit, options: { range?: readonly [number, number]; selection?: string } = {}) {
    checkOptions('MnistGpu', options, MNIST_GPU_OPTIONS);
    const range = options.range ?? [0, 1];
    if (range.length !== 2 || !range.every(Number.isFinite)) throw new RangeError(`MnistGpu: range must be two finite numbers, got [${range}]`);
    if (split.images.length !== split.count * PIXELS || split.labels.length !== split.count) {
      throw new RangeError(`MnistGpu: expected ${split.count} images of ${PIXELS} bytes and ${split.count} labels`);
    }
    this.count = split.count;
    if (options.selection !== undefined) this.selection = options.selection;
    this.range = [range[0], range[1]];
    const words = packBytes(split.images);
    this.packedImages = keep(fromData(words, [words.length], 'u32'));
    this.packedImages.name = 'mnist images (packed bytes)';
    this.labels = keep(fromData(Int32Array.from(split.labels), [split.count], 'i32'));
    this.labels.name = 'mnist labels';
    this.hostLabels = split.labels;
    // After a device loss (replaceLostDevice) the digits are uploaded again from the host arrays,
    // which the split shares with its parser anyway: nothing more is kept.
    setHostSource(this.packedImages, () => packBytes(split.images));
    setHostSource(this.labels, () => Int32Array.from(split.labels));
  }

  /** Batches per epoch for these options. */
  batchCount(batchSize: number, dropLast = false): number {
    checkBatchSize(batchSize);
    return dropLast ? Math.floor(this.count / batchSize) : Math.ceil(this.count / batchSize);
  }

  /** The epoch's batches, shuffled by (seed, epoch) unless `shuffle` is false. */
  *batches(epoch: number, options: BatchOptions): Generator<Batch, void, undefined> {
    const { batchSize, shuffle = true, seed = 0, dropLast = false } = options;
    const batches = this.batchCount(batchSize, dropLast);
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`MnistGpu.batches: epoch must be a non-negative integer, got ${epoch}`);
    if (batches === 0) return;
    const order = shuffle ? seededPermutation(this.count, seed, epoch) : Uint32Array.from({ length: this.count }, (_, i) => i);
    const indices = keep(fromData(order, [this.count], 'u32'));
    let current: Batch | undefined;
    try {
      for (let b = 0; b < batches; b++) {
        const start = b * batchSize;
        const size = Math.min(batchSize, this.count - start);
        current = this.gatherSlice(indices, start, size, b, order.subarray(start, start + size));
        yield current;
        current.x.dispose();
        current.y.dispose();
        current = undefined;
      }
    } finally {
      current?.x.dispose();
      current?.y.dispose();
      indices.dispose();
    }
  }

  /**
   * The examples at `indices` (host numbers), as a batch the caller owns and disposes. For
   * picking fixed samples (say, the first 16 test digits to draw each epoch).
   */
  gather(indices: ArrayLike<number>): Batch {
    for (let i = 0; i < indices.length; i++) {
      const v = indices[i];
      if (!Number.isInteger(v) || v < 0 || v >= this.count) {
        throw new RangeError(`MnistGpu.gather: index ${v} (position ${i}) is outside 0..${this.count - 1}`);
      }
    }
    const idx = fromData(indices, [indices.length], 'u32');
    const batch = this.gatherSlice(idx, 0, indices.length, 0, indices);
    idx.dispose();
    return batch;
  }

  /** `hostIndices`: the batch's example indices on the host (its digits are copied from them). */
  private gatherSlice(indices: Tensor, start: number, size: number, index: number, hostIndices: ArrayLike<number>): Batch {
    const [low, high] = this.range;
    const x = keep(new Tensor([size, ROWS, COLS, 1], 'f32'));
    const y = keep(new Tensor([size], 'i32'));
    if (size > 0) {
      run(gatherBytesProgram(size, PIXELS, start, (high - low) / 255, low), [this.packedImages.gpu, indices.gpu], [x.gpu]);
      run(gatherI32Program(size, start), [this.labels.gpu, indices.gpu], [y.gpu]);
    }
    const labels = Int32Array.from({ length: size }, (_, i) => this.hostLabels[hostIndices[i]]);
    return { x, y, labels, index, size };
  }

  dispose(): void {
    this.packedImages.dispose();
    this.labels.dispose();
  }
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
}
