// The pictures a person looks at after training: sample grids, VAE reconstructions, the 2-D
// latent map and scatter, interpolation strips, the cGAN's digit rows, and loss curves.
// Models compute on the GPU; the images are read back and drawn with src/io. At the end, the
// pictures of a model as a training run draws them: after each epoch, and after training.

import { join } from 'node:path';
import type { Tensor } from '../core/tensor.ts';
import { tidy } from '../core/scope.ts';
import { noGrad } from '../core/autograd.ts';
import { tensor, randn, deriveSeed } from '../core/creation.ts';
import { concat } from '../core/shape-ops.ts';
import type { MnistGpu } from '../data/batches.ts';
import { saveImageGrid } from '../io/png.ts';
import { lineChart, scatterPlot, type ScatterPoint } from '../io/plot.ts';
import { Vae } from '../models/vae.ts';
import { Gan } from '../models/gan.ts';
import type { LossHistory } from '../train/trainer.ts';

const SIDE = 28;

/** Runs `make` without a tape, reads the images back, frees them. */
async function render(make: () => Tensor): Promise<Float32Array> {
  const images = noGrad(() => tidy(make));
  const data = await images.toArray();
  images.dispose();
  return data;
}

/** A grid of images [count, 28, 28, 1] in `range`, `cols` per row. */
export async function saveGrid(path: string, make: () => Tensor, count: number, cols: number, range: readonly [number, number]): Promise<void> {
  saveImageGrid(path, await render(make), count, SIDE, SIDE, { cols, range: [range[0], range[1]] });
}

/** Test digits and their reconstructions (decoded from zMean), pair by pair: original left. */
export async function saveReconstructions(path: string, vae: Vae, test: MnistGpu, pairs = 32): Promise<void> {
  vae.eval();
  const batch = test.gather(Array.from({ length: pairs }, (_, i) => i));
  const originals = await batch.x.toArray();
  const recon = await render(() => vae.decode(vae.encoder.forward(batch.x)));
  batch.x.dispose();
  batch.y.dispose();
  const px = SIDE * SIDE;
  const both = new Float32Array(2 * pairs * px);
  for (let i = 0; i < pairs; i++) {
    both.set(originals.subarray(i * px, (i + 1) * px), 2 * i * px);
    both.set(recon.subarray(i * px, (i + 1) * px), (2 * i + 1) * px);
  }
  saveImageGrid(path, both, 2 * pairs, SIDE, SIDE, { cols: 16, range: [0, 1] });
}

/**
 * The seed's Figure 2: decode a regular n×n grid of latent points over [−extent, extent]²
 * (z[0] left to right, z[1] bottom to top, as the keras.io example draws it).
 */
export async function saveLatentMap(path: string, vae: Vae, n = 20, extent = 2): Promise<void> {
  if (vae.config.latentDim !== 2) throw new Error(`the latent map needs a 2-D latent space, this VAE has ${vae.config.latentDim}`);
  vae.eval();
  const z: number[] = [];
  for (let row = 0; row < n; row++) {
    const y = extent - (2 * extent * row) / (n - 1);
    for (let col = 0; col < n; col++) z.push(-extent + (2 * extent * col) / (n - 1), y);
  }
  await saveGrid(path, () => vae.decode(tensor(z, [n * n, 2])), n * n, n, [0, 1]);
}

/** zMean of test digits [count, latentDim], read back. */
export async function encodeMeans(vae: Vae, test: MnistGpu, count = test.count, batchSize = 1000): Promise<Float32Array> {
  vae.eval();
  const dim = vae.config.latentDim;
  const out = new Float32Array(count * dim);
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    const batch = test.gather(Array.from({ length: size }, (_, i) => start + i));
    out.set(await render(() => vae.encoder.forward(batch.x)), start * dim);
    batch.x.dispose();
    batch.y.dispose();
  }
  return out;
}

/** The keras.io example's scatter: test-set zMean, coloured by digit, with a legend. */
export async function saveLatentScatter(path: string, vae: Vae, test: MnistGpu): Promise<void> {
  const means = await encodeMeans(vae, test);
  const points: ScatterPoint[] = [];
  for (let i = 0; i < test.count; i++) points.push({ x: means[2 * i], y: means[2 * i + 1], label: test.hostLabels[i] });
  scatterPlot(path, points, { title: 'VAE latent space: test-set zMean by digit', xLabel: 'z[0]', yLabel: 'z[1]', legendTitle: 'digit' });
}

/** Decodes `steps` points on the line between the latent means of two test digits. */
export async function saveInterpolation(path: string, vae: Vae, test: MnistGpu, from: number, to: number, steps = 12): Promise<void> {
  const dim = vae.config.latentDim;
  const batch = test.gather([from, to]);
  const means = await render(() => vae.encoder.forward(batch.x));
  batch.x.dispose();
  batch.y.dispose();
  const z: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t = s / (steps - 1);
    for (let d = 0; d < dim; d++) z.push((1 - t) * means[d] + t * means[dim + d]);
  }
  await saveGrid(path, () => vae.decode(tensor(z, [steps, dim])), steps, steps, [0, 1]);
}

/** The cGAN's picture: row d holds `perDigit` samples of digit d (fixed noise per column). */
export async function saveDigitRows(path: string, gan: Gan, perDigit = 10, seed = 1234): Promise<void> {
  gan.eval();
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) for (let i = 0; i < perDigit; i++) labels.push(d);
  await saveGrid(
    path,
    () => {
      const noise = gan.noise(perDigit, seed);
      // The same noise for every row, so a column shows one "style" across the digits.
      return gan.generate(concat(Array.from({ length: 10 }, () => noise), 0), Gan.digits(labels));
    },
    10 * perDigit,
    perDigit,
    [-1, 1],
  );
}

/** Interpolates between two noise vectors with the digit held (cGAN) or without (GAN). */
export async function saveNoiseInterpolation(path: string, gan: Gan, digit: number | undefined, steps = 12, seed = 99): Promise<void> {
  gan.eval();
  const ends = await render(() => gan.noise(2, deriveSeed(seed, 1)));
  const dim = gan.config.noiseDim;
  const z: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t = s / (steps - 1);
    for (let d = 0; d < dim; d++) z.push((1 - t) * ends[d] + t * ends[dim + d]);
  }
  const labels = digit === undefined ? undefined : Array.from({ length: steps }, () => digit);
  await saveGrid(path, () => gan.generate(tensor(z, [steps, dim]), labels && Gan.digits(labels)), steps, steps, [-1, 1]);
}

/** Loss curves of every series in the history (smoothed, raw values faint behind). */
export function saveLossCurves(path: string, history: LossHistory, title: string): void {
  const series = Object.entries(history).map(([name, values]) => ({ name, values }));
  const longest = Math.max(0, ...series.map((s) => s.values.length));
  lineChart(path, series, { title, xLabel: 'step', yLabel: 'loss', smoothing: Math.max(1, Math.round(longest / 60)) });
}

/**
 * Fixed noise (or latent points) decoded after every epoch, so training can be watched. A GAN's
 * epoch pictures use training's moving BatchNorm statistics (recomputing them every epoch would
 * cost BATCHNORM_BATCHES (src/runs/generator-statistics.ts) generator passes each time); the final pictures use recomputed ones.
 */
export async function drawEpochSamples(model: Vae | Gan, path: string): Promise<void> {
  model.eval();
  if (model instanceof Vae) {
    await saveGrid(path, () => model.decode(randn([16, model.config.latentDim], { seed: 4242 })), 16, 4, [0, 1]);
  } else if (model.config.conditional) {
    await saveDigitRows(path, model, 4, 4242);
  } else {
    await saveGrid(path, () => model.generate(model.noise(16, 4242)), 16, 4, [-1, 1]);
  }
  model.train();
}

/** Pictures after training; returns their paths. */
export async function drawPictures(model: Vae | Gan, out: string, history: LossHistory | undefined, test: MnistGpu): Promise<string[]> {
  const paths: string[] = [];
  const p = (name: string) => {
    const full = join(out, name);
    paths.push(full);
    return full;
  };
  model.eval();
  if (model instanceof Vae) {
    await saveGrid(p('samples.png'), () => model.decode(randn([64, model.config.latentDim], { seed: 4242 })), 64, 8, [0, 1]);
    await saveReconstructions(p('reconstructions.png'), model, test);
    if (model.config.latentDim === 2) {
      await saveLatentMap(p('latent-map.png'), model);
      await saveLatentScatter(p('latent-scatter.png'), model, test);
    }
    // Test digits 3 (a 0) and 2 (a 1): a strip from one to the other.
    await saveInterpolation(p('interpolation.png'), model, test, 3, 2);
  } else if (model.config.conditional) {
    await saveDigitRows(p('samples.png'), model, 10);
    await saveNoiseInterpolation(p('interpolation-7.png'), model, 7);
  } else {
    await saveGrid(p('samples.png'), () => model.generate(model.noise(64, 4242)), 64, 8, [-1, 1]);
    await saveNoiseInterpolation(p('interpolation.png'), model, undefined);
  }
  if (history && Object.values(history).some((v) => v.length > 1)) {
    saveLossCurves(p('losses.png'), history, `${model.name.toUpperCase()} training losses`);
  }
  return paths;
}
