// Section 3's engine: the VAE's quick preset (src/runs/presets.ts) trained in the page, on the
// MNIST digits the build copied beside it (mnist/*.gz: the first PRESETS.vae.quick.limit training
// images, in MNIST's IDX format, gzipped).
//
// The loop is the one `npm run train:vae` runs, written out: batches from MnistGpu (the digits
// live on the GPU; each batch is gathered there), one model.trainStep(batch, step) per batch (a
// forward pass, the loss, backward, Adam), and a read-back of the losses every few steps. Reading
// back waits for the GPU, so the page reads rarely, and between chunks of steps it yields to the
// browser so the page stays responsive and the Stop button works.

import { createModel, keep, MnistGpu, noGrad, parseMnist, PRESETS, randn, stack, tidy, type Batch, type Tensor, type Vae } from '../../src/index.ts';
import { fetchBytes } from './models.ts';
import { onGpu, yieldToPage } from './gpu.ts';

export const QUICK = PRESETS.vae.quick;
/** The run's seed: initial weights, the order of each epoch, the noise of each step. */
export const SEED = 0;
/** Losses are read back (and the chart redrawn) every this many steps. */
export const READ_EVERY = 10;

/** MNIST's IDX bytes, gunzipped if the server sent them compressed and the browser has not already. */
async function idx(url: string): Promise<Uint8Array> {
  const got = await fetchBytes(url);
  if ('missing' in got) throw new Error(`the training digits are missing (${got.missing}); build the page with npm run playground:build`);
  const bytes = got.bytes;
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes; // not gzip: already plain IDX
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

let digits: Promise<MnistGpu> | undefined;

/** The training digits on the GPU, fetched once. */
export function trainingDigits(): Promise<MnistGpu> {
  digits ??= (async () => {
    const [images, labels] = await Promise.all([idx('mnist/train-images-idx3-ubyte.gz'), idx('mnist/train-labels-idx1-ubyte.gz')]);
    const split = parseMnist(images, labels, { limit: QUICK.limit, imagesSource: 'mnist/train-images-idx3-ubyte.gz', labelsSource: 'mnist/train-labels-idx1-ubyte.gz', split: 'train' });
    return onGpu(() => new MnistGpu(split, { range: [0, 1] }));
  })();
  digits.catch(() => (digits = undefined)); // a failed fetch may be retried
  return digits;
}

export interface EpochEnd {
  epoch: number;
  /** 16 images decoded from fixed latent points (randn seed 4242, as the runs' epoch pictures). */
  samples: Float32Array;
  meanLoss: number;
}

/** One training run of the VAE quick preset, stepped by the page. */
export class PageTraining {
  readonly vae: Vae;
  readonly batchSize: number;
  readonly epochs = QUICK.epochs;
  /** Loss of every step so far. */
  readonly losses: number[] = [];
  step = 0;
  epoch = 0;
  private batches: Generator<Batch, void, undefined> | undefined;
  private epochLosses: number[] = [];
  private seconds = 0;
  private images = 0;

  private constructor(readonly data: MnistGpu, batchSize: number) {
    this.batchSize = batchSize;
    this.vae = createModel('vae', { lr: QUICK.lr, seed: SEED }) as Vae;
    this.vae.train();
  }

  /** A fresh model on the page's digits; `batchSize` defaults to the preset's. */
  static async create(batchSize = QUICK.batchSize): Promise<PageTraining> {
    const data = await trainingDigits();
    return onGpu(() => new PageTraining(data, batchSize));
  }

  get stepsPerEpoch(): number {
    return this.data.batchCount(this.batchSize);
  }

  get totalSteps(): number {
    return this.epochs * this.stepsPerEpoch;
  }

  get done(): boolean {
    return this.epoch >= this.epochs;
  }

  /** Images trained per second of GPU work so far (the page's own pauses excluded). */
  get imagesPerSecond(): number {
    return this.seconds > 0 ? this.images / this.seconds : 0;
  }

  /**
   * Up to `count` steps (never past an epoch's end), then one read-back of their losses. Returns
   * the losses, and the epoch's pictures when the steps finished one.
   */
  async steps(count: number): Promise<{ losses: number[]; epochEnd?: EpochEnd }> {
    if (this.done) return { losses: [] };
    return onGpu(async () => {
      const t0 = performance.now();
      const pending: Tensor[] = [];
      let images = 0;
      let finished = false;
      this.batches ??= this.data.batches(this.epoch, { batchSize: this.batchSize, seed: SEED });
      for (let i = 0; i < count; i++) {
        const next = this.batches.next();
        if (next.done) {
          finished = true;
          break;
        }
        const [loss, ...others] = this.vae.trainStep(next.value, this.step);
        for (const t of others) t.dispose();
        pending.push(keep(loss));
        images += next.value.size;
        this.step++;
      }
      let losses: number[] = [];
      if (pending.length) {
        const packed = tidy(() => stack(pending, 0));
        for (const t of pending) t.dispose();
        losses = Array.from(await packed.toArray());
        packed.dispose();
      }
      this.seconds += (performance.now() - t0) / 1000;
      this.images += images;
      this.losses.push(...losses);
      this.epochLosses.push(...losses);
      // An epoch ends when its generator runs dry (checked right away at its last batch).
      if (!finished && this.step % this.stepsPerEpoch === 0 && this.step > 0) {
        finished = this.batches.next().done === true;
      }
      if (!finished) return { losses };
      this.batches = undefined;
      const epochEnd = { epoch: this.epoch + 1, samples: await this.samples(), meanLoss: this.epochLosses.reduce((a, b) => a + b, 0) / this.epochLosses.length };
      this.epoch++;
      this.epochLosses = [];
      return { losses, epochEnd };
    });
  }

  /** The fixed latent points decoded (the same 16 every epoch, so the pictures show progress). */
  private async samples(): Promise<Float32Array> {
    this.vae.eval();
    const images = noGrad(() => tidy(() => this.vae.decode(randn([16, this.vae.config.latentDim], { seed: 4242 }))));
    const out = await images.toArray();
    images.dispose();
    this.vae.train();
    return out;
  }

  /** Trains until done or `shouldStop()` says so, calling back after every read-back. */
  async run(shouldStop: () => boolean, onProgress: (r: { losses: number[]; epochEnd?: EpochEnd }) => void): Promise<void> {
    while (!this.done && !shouldStop()) {
      onProgress(await this.steps(READ_EVERY));
      await yieldToPage();
    }
  }

  /** Lets go of the run: its place in the epoch, and the model unless something else now holds it. */
  dispose(keepModel = false): void {
    this.batches?.return();
    this.batches = undefined;
    if (!keepModel) this.vae.dispose();
  }
}
