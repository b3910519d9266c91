// Section 3's engine: the VAE's quick preset (src/runs/presets.ts) trained in the page, on the
// MNIST digits the build copied beside it (mnist/*.gz: the first PRESETS.vae.quick.limit training
// images, in MNIST's IDX format, gzipped).
//
// The loop is the one `npm run train:vae` runs, written out: batches from MnistGpu (the digits
// live on the GPU; each batch is gathered there), one model.trainStep(batch, step) per batch (a
// forward pass, the loss, backward, Adam), and a read-back of the losses every few steps. Reading
// back waits for the GPU, so the page reads rarely, and between chunks of steps it yields to the
// browser so the page stays responsive and the Stop button works.
//
// A device loss goes back to the last epoch's end, as fit() does: after each epoch (and before the
// first step) the run keeps a host copy of its checkpoint (weights, Adam's state, the position);
// when the device is lost the page opens a new one (gpu.ts), the digits upload again from their
// host arrays by themselves, and the run loads that copy and redoes the epoch, with the same
// batches and the same noise, so it ends as a run that never lost its device would.

import {
  checkpointToBytes, createModel, DeviceError, DeviceLostError, isDeviceLost, keep, loadCheckpointFromBytes, MAX_DEVICE_LOSSES_IN_A_ROW,
  MnistGpu, noGrad, parseMnist, PRESETS, randn, simulateDeviceLoss, stack, tidy, type Batch, type Tensor, type Vae,
} from '../../src/index.ts';
import { deviceLossBehind } from '../../src/core/device.ts';
import { fetchBytes } from './models.ts';
import { onDeviceRecovered, onGpu, recoverDevice, yieldToPage } from './gpu.ts';

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

/**
 * The test hook behind ?simulate-device-loss=STEP[,STEP…] and window.__playground.simulateDeviceLoss:
 * the device is lost (as a driver reset would lose it) right after each of these training steps,
 * counted from 1 over the run; each entry fires once in the page, so a step listed twice is lost
 * after twice (a redone step comes round again).
 */
const lossSchedule = new Map<number, number>();

/** Adds steps after which the device is to be lost; throws on anything but whole steps ≥ 1. */
export function scheduleDeviceLoss(steps: number | readonly number[]): void {
  const list = typeof steps === 'number' ? [steps] : steps;
  for (const s of list) {
    if (!Number.isInteger(s) || s < 1) throw new RangeError(`simulateDeviceLoss: ${String(s)} is not a step number (a whole number from 1 up)`);
  }
  for (const s of list) lossSchedule.set(s, (lossSchedule.get(s) ?? 0) + 1);
}

function takeScheduledLoss(step: number): boolean {
  const left = lossSchedule.get(step) ?? 0;
  if (left === 0) return false;
  if (left === 1) lossSchedule.delete(step);
  else lossSchedule.set(step, left - 1);
  return true;
}

/** Where a device loss takes the run back to: a host copy of its checkpoint at an epoch's end (or its start). */
interface RestorePoint {
  bytes: Uint8Array;
  step: number;
  epoch: number;
}

const HOST_COPY = 'the host copy of the last epoch';

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
  private restorePoint!: RestorePoint;
  /** Device losses since an epoch last ended. */
  lossesInARow = 0;
  /** What the last device loss did, in words (shown under the progress line). */
  lossNote: string | undefined;
  /** Set when the device was lost MAX_DEVICE_LOSSES_IN_A_ROW times in a row: the next steps() throws it once. */
  private halted: DeviceLostError | undefined;
  private disposed = false;
  private stopRestoring: (() => void) | undefined;

  private constructor(readonly data: MnistGpu, batchSize: number) {
    this.batchSize = batchSize;
    this.vae = createModel('vae', { ...QUICK.model, lr: QUICK.lr, seed: SEED }) as Vae;
    this.vae.train();
  }

  /** A fresh model on the page's digits; `batchSize` defaults to the preset's. */
  static async create(batchSize = QUICK.batchSize): Promise<PageTraining> {
    const data = await trainingDigits();
    return onGpu(async () => {
      const t = new PageTraining(data, batchSize);
      await t.keepRestorePoint();
      t.stopRestoring = onDeviceRecovered((reason) => t.restore(reason));
      return t;
    });
  }

  /** The run's checkpoint, as `npm run train:vae` writes it, kept in memory. */
  private async keepRestorePoint(): Promise<void> {
    const bytes = await checkpointToBytes({
      model: this.vae.name,
      config: this.vae.config,
      modules: this.vae.modules,
      optimizers: this.vae.optimizers,
      progress: { epoch: this.epoch, step: this.step, batchInEpoch: 0, seed: SEED },
      extra: { trainer: JSON.stringify({ batchSize: this.batchSize, images: this.data.count }) },
    }, { source: HOST_COPY });
    this.restorePoint = { bytes, step: this.step, epoch: this.epoch };
  }

  /**
   * After a new device opened (gpu.ts calls it, inside the recovery's GPU job): the weights, Adam's
   * state and the position back to the restore point; the losses past it are dropped.
   */
  private async restore(reason: string): Promise<void> {
    if (this.disposed) return;
    const lostAt = this.step;
    const point = this.restorePoint;
    this.batches?.return();
    this.batches = undefined;
    await loadCheckpointFromBytes(point.bytes, { model: this.vae.name, modules: this.vae.modules, optimizers: this.vae.optimizers }, { source: HOST_COPY });
    this.step = point.step;
    this.epoch = point.epoch;
    this.losses.length = point.step;
    this.epochLosses = [];
    this.lossesInARow++;
    const where = point.step === 0 ? 'the start of the run' : `epoch ${point.epoch}'s weights (step ${point.step})`;
    const why = reason.replace(/^the WebGPU device was lost /, '');
    if (this.lossesInARow >= MAX_DEVICE_LOSSES_IN_A_ROW) {
      this.halted = new DeviceLostError(reason, this.lossesInARow, { epoch: point.epoch, step: point.step, batchInEpoch: 0, seed: SEED }, undefined, point.bytes);
      this.lossNote =
        `GPU device lost at step ${lostAt} ${why}, ${this.lossesInARow} times in a row with no epoch ending in between: training stopped, ` +
        `as the GPU or its driver does not seem fit to train on. The run is kept at ${where} on a new device; Continue tries again from there.`;
      this.lossesInARow = 0;
    } else {
      this.lossNote = `GPU device lost at step ${lostAt} ${why}; restored ${where} on a new device; continuing (loss ${this.lossesInARow} of ${MAX_DEVICE_LOSSES_IN_A_ROW} in a row).`;
    }
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
    const halted = this.halted;
    if (halted) {
      this.halted = undefined;
      throw halted;
    }
    if (this.done) return { losses: [] };
    return onGpu(async () => {
      const pending: Tensor[] = [];
      try {
        return await this.stepsOnGpu(count, pending);
      } catch (e) {
        const reason = await deviceLossBehind(e);
        if (reason === undefined) throw e;
        for (const t of pending) t.dispose();
        // Here, inside this job, rather than in the job the loss listener queued: the next chunk
        // must start from the restored run. That job then finds the device replaced and does nothing.
        const outcome = await recoverDevice();
        if (outcome && !outcome.ok) throw new DeviceError(`${reason}, and no new device could be opened (${outcome.problem}); reload the page to try again`);
        if (this.halted) {
          const h = this.halted;
          this.halted = undefined;
          throw h;
        }
        return { losses: [] };
      }
    });
  }

  private async stepsOnGpu(count: number, pending: Tensor[]): Promise<{ losses: number[]; epochEnd?: EpochEnd }> {
    const t0 = performance.now();
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
      if (takeScheduledLoss(this.step)) simulateDeviceLoss(`simulated after step ${this.step}`);
      // A lost device runs nothing: go back now rather than at the read-back.
      if (isDeviceLost()) throw new DeviceError(`the device was lost after step ${this.step}`);
    }
    let losses: number[] = [];
    if (pending.length) {
      const packed = tidy(() => stack(pending, 0));
      for (const t of pending) t.dispose();
      pending.length = 0;
      try {
        losses = Array.from(await packed.toArray());
      } finally {
        packed.dispose();
      }
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
    await this.keepRestorePoint();
    this.lossesInARow = 0;
    return { losses, epochEnd };
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
    this.disposed = true;
    this.stopRestoring?.();
    this.batches?.return();
    this.batches = undefined;
    if (!keepModel) this.vae.dispose();
  }
}
