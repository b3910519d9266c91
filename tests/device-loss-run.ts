// A small Module trained with fit() on host data (a TensorDataset in a DataLoader) and no
// checkpoint path, so a device loss goes back to fit's host copy: tests/device-loss.test.ts runs
// it in its own process, and, as a script, in a child process with WEBGPU_SIMULATE_DEVICE_LOSS set
// (the environment hook is read once per process). As a script it prints one JSON line: the log
// and the final weights' bytes in hex.

import { init, shutdownDevice } from '../src/core/device.ts';
import { crossEntropy } from '../src/core/softmax-ops.ts';
import { Adam } from '../src/nn/optim.ts';
import { createMlp } from '../src/models/mlp.ts';
import { DataLoader, TensorDataset } from '../src/data/dataset.ts';
import { fit, type FitOptions, type History } from '../src/train/fit.ts';
import { seededRandom } from './helpers.ts';

/** 24 examples of 8 features in 3 classes, batches of 8: 3 steps an epoch. */
export const TINY = { examples: 24, features: 8, classes: 3, batchSize: 8, stepsPerEpoch: 3 };

export interface TinyRun {
  history: History;
  /** Every parameter's bytes after training, by name, in hex. */
  weights: Record<string, string>;
  lines: string[];
}

/** Trains a fresh tiny MLP for `epochs` epochs with fit(), and reads its weights back. */
export async function tinyFit(epochs: number, extra: Partial<FitOptions> = {}): Promise<TinyRun> {
  const random = seededRandom(7);
  const x = Float32Array.from({ length: TINY.examples * TINY.features }, () => random() * 2 - 1);
  const y = Int32Array.from({ length: TINY.examples }, (_, i) => i % TINY.classes);
  const data = new TensorDataset({ data: x, shape: [TINY.examples, TINY.features] }, { data: y, shape: [TINY.examples] });
  const loader = new DataLoader(data, { batchSize: TINY.batchSize, seed: 3 });
  const model = createMlp({ inputs: TINY.features, hidden: 16, classes: TINY.classes, seed: 11 });
  const optimizer = new Adam(model, { lr: 1e-2 });
  const lines: string[] = [];
  try {
    const history = await fit(model, loader, { epochs, loss: crossEntropy, optimizer, progress: false, log: (l) => lines.push(l), ...extra });
    const weights: Record<string, string> = {};
    for (const [name, t] of model.namedParameters()) weights[name] = Buffer.from((await t.toArray()).buffer).toString('hex');
    return { history, weights, lines };
  } finally {
    optimizer.dispose();
    model.dispose();
    data.dispose();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  await init();
  const run = await tinyFit(Number(process.argv[2] ?? 3));
  console.log(JSON.stringify({ weights: run.weights, lines: run.lines, progress: run.history.progress }));
  shutdownDevice();
}
