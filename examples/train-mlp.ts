// Trains a 784-256-10 MLP (ReLU, Adam) on the 60,000 MNIST training digits and reports accuracy
// on the 10,000 test digits after every epoch; writes <out>/summary.json at the end.
//
//   npm run train:mlp -- --epochs 3 --batch-size 128 --lr 1e-3 --seed 0 --out out/mlp
//
// runMlp() is exported so tests (and start.ts) can run the same thing in-process.

import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, shutdownDevice, manualSeed, optim, memory } from '../src/index.ts';
import { createMlp } from '../src/models/mlp.ts';
import { fit } from '../src/train/fit.ts';
import { crossEntropy } from '../src/core/softmax-ops.ts';
import { parseFlagsOrExit, type FlagSpecs } from '../src/io/flags.ts';
import { errorLine } from '../src/io/cli.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';

export const MLP_FLAGS = {
  epochs: { type: 'int', default: 3, min: 1, help: 'passes over the training set' },
  batchSize: { type: 'int', default: 64, min: 1, help: 'images per step' },
  lr: { type: 'number', default: 1e-3, min: 0, exclusiveMin: true, help: 'Adam learning rate' },
  seed: { type: 'int', default: 0, min: 0, help: 'seed for the weights and the shuffling' },
  limit: { type: 'int', min: 1, placeholder: 'N', help: 'use only the first N images of each split (quick runs)' },
  out: { type: 'string', default: 'out/mlp', placeholder: 'DIR', help: 'folder for summary.json' },
  verbose: { type: 'boolean', help: 'print the WebGPU adapter and memory use' },
} as const satisfies FlagSpecs;

export interface MlpRunOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  limit?: number;
  /** Folder for summary.json; nothing is written without it. */
  out?: string;
  verbose?: boolean;
  /** Live progress bars (default true). */
  progress?: boolean;
}

export interface MlpSummary {
  testAccuracy: number;
  testLoss: number;
  trainLoss: number;
  epochs: number;
  /** Training time over all epochs (evaluation excluded). */
  seconds: number;
  imagesPerSecond: number;
  trainImages: number;
  testImages: number;
  adapter: string;
  seed: number;
  batchSize: number;
  lr: number;
  perEpoch: { epoch: number; trainLoss: number; testAccuracy: number; testLoss: number; seconds: number; imagesPerSecond: number }[];
}

export async function runMlp(o: MlpRunOptions): Promise<MlpSummary> {
  const gpu = await init();
  if (o.verbose) console.log(`adapter: ${gpu.info.description}`);
  const train = loadMnistGpu('train', { limit: o.limit });
  const test = loadMnistGpu('test', { limit: o.limit });
  manualSeed(o.seed);
  const model = createMlp();
  const optimizer = new optim.Adam(model, { lr: o.lr });
  try {
    const history = await fit(model, train, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      loss: crossEntropy,
      optimizer,
      validationData: test,
      progress: o.progress ?? true,
      log: o.progress === false ? () => {} : undefined,
    });
    const h = history.history;
    const last = o.epochs - 1;
    const summary: MlpSummary = {
      testAccuracy: h.val_accuracy[last],
      testLoss: h.val_loss[last],
      trainLoss: h.loss[last],
      epochs: o.epochs,
      seconds: history.seconds,
      imagesPerSecond: history.imagesPerSecond,
      trainImages: train.count,
      testImages: test.count,
      adapter: gpu.info.description,
      seed: o.seed,
      batchSize: o.batchSize,
      lr: o.lr,
      perEpoch: history.epoch.map((e, i) => ({
        epoch: e + 1,
        trainLoss: h.loss[i],
        testAccuracy: h.val_accuracy[i],
        testLoss: h.val_loss[i],
        seconds: history.epochTimes[i].seconds,
        imagesPerSecond: history.epochTimes[i].images / history.epochTimes[i].seconds,
      })),
    };
    if (o.verbose) {
      const m = memory();
      console.log(`memory: ${m.liveBuffers} live buffers (${(m.liveBytes / 2 ** 20).toFixed(1)} MiB), ${m.createdBuffers} created`);
    }
    if (o.out) {
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    }
    return summary;
  } finally {
    optimizer.dispose();
    model.dispose();
    train.dispose();
    test.dispose();
  }
}

export function printSummary(s: MlpSummary, out?: string): void {
  console.log(
    `test accuracy ${(100 * s.testAccuracy).toFixed(2)}% (loss ${s.testLoss.toFixed(4)}) after ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}; ` +
      `${s.seconds.toFixed(1)} s of training, ${Math.round(s.imagesPerSecond)} images/s`,
  );
  if (out) console.log(`summary: ${join(out, 'summary.json')}`);
}

async function main(): Promise<void> {
  const flags = parseFlagsOrExit(MLP_FLAGS, {
    program: 'npm run train:mlp --',
    description: 'Trains an MLP (784-256-10, ReLU, Adam) on MNIST and reports test accuracy per epoch.',
  });
  try {
    const summary = await runMlp(flags);
    printSummary(summary, flags.out);
  } finally {
    shutdownDevice();
  }
}

function isMainModule(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(resolve(script)) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) {
  main().catch((error: unknown) => {
    // A one-line reason for people; the stack with DEBUG=1.
    console.error(errorLine('train-mlp', error));
    shutdownDevice();
    process.exit(1);
  });
}
