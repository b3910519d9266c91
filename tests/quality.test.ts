// The judge's figures beside the Fréchet distance (src/metrics/quality.ts, judge.ts, run.ts):
// confidence and coverage from the judge's softmax, the floor (real training digits against the
// test digits) and its cache, and a finished GAN run whose generator BatchNorm statistics were
// recomputed for its final weights and saved in its checkpoint (so that a later `evaluate` of the
// checkpoint scores exactly what the run scored). Everything runs on a few hundred digits and a
// narrow GAN (width 1/8), about half a minute in all on a 2-core CPU.

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { tidy } from '../src/core/scope.ts';
import { noGrad } from '../src/core/autograd.ts';
import { deriveSeed } from '../src/core/creation.ts';
import { MnistGpu } from '../src/data/batches.ts';
import { loadCheckpoint, readCheckpointInfo } from '../src/nn/checkpoint-file.ts';
import { judge, judgeDataset, confidenceOf, coverageOf, frechetTo, measureQuality } from '../src/metrics/quality.ts';
import { addScalar, mulScalar } from '../src/core/ops.ts';
import { Gan } from '../src/models/gan.ts';
import { createModel } from '../src/models/kinds.ts';
import { loadJudge, SHIPPED_JUDGE, type Judge } from '../src/metrics/judge.ts';
import { runTraining, type TrainRunSummary } from '../src/runs/run.ts';
import type { BatchNormRecompute } from '../src/runs/generator-statistics.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'quality-test-'));
const TEST_LIMIT = 200;
let test200: MnistGpu;
let judgeModel: Judge;

test.before(async () => {
  await ready;
  assert.ok(existsSync(SHIPPED_JUDGE), `these tests need the shipped judge ${SHIPPED_JUDGE}`);
  test200 = loadMnistGpu('test', { limit: TEST_LIMIT, range: [0, 1] });
  judgeModel = await loadJudge(test200, SHIPPED_JUDGE, dir);
});
test.after(() => {
  judgeModel?.classifier.dispose();
  test200?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('judge(): the top softmax probability of each image, as computed here from its logits', async () => {
  const outputs = await judgeDataset(judgeModel.classifier, test200, 40);
  const images = test200.gather(Array.from({ length: 40 }, (_, i) => i));
  const logits = noGrad(() => tidy(() => judgeModel.classifier.classify(judgeModel.classifier.features(images.x))));
  const values = await logits.toArray();
  [images.x, images.y, logits].forEach((t) => t.dispose());
  for (let r = 0; r < 40; r++) {
    const row = Array.from(values.slice(r * 10, r * 10 + 10));
    const top = Math.max(...row);
    const expected = 1 / row.reduce((sum, l) => sum + Math.exp(l - top), 0);
    assert.ok(Math.abs(outputs.topProbabilities[r] - expected) < 1e-6, `image ${r}: ${outputs.topProbabilities[r]} vs ${expected}`);
    assert.is(outputs.predictions[r], row.indexOf(top));
  }
});

test('real test digits: the judge is confident on nearly all, and its labels spread as the true labels do', async () => {
  const outputs = await judgeDataset(judgeModel.classifier, test200);
  const confidence = confidenceOf(outputs);
  assert.ok(confidence > 0.9 && confidence <= 1, `confidence on real digits ${confidence}`);
  const coverage = coverageOf(outputs);
  // The true label histogram of these 200 digits, and its normalised entropy.
  const truth = new Array<number>(10).fill(0);
  for (const label of test200.hostLabels) truth[label] += 1 / TEST_LIMIT;
  const entropy = -truth.reduce((h, p) => h + (p > 0 ? p * Math.log(p) : 0), 0) / Math.log(10);
  assert.ok(entropy > 0.97, `test data: the first 200 test digits are not spread evenly (${entropy})`);
  assert.ok(Math.abs(coverage.entropy - entropy) < 0.01, `coverage ${coverage.entropy} vs the true labels' ${entropy}`);
  coverage.shares.forEach((share, d) => assert.ok(Math.abs(share - truth[d]) <= 0.025, `digit ${d}: share ${share} vs true ${truth[d]}`));
});

test('the floor: cached per judge and test set, recomputed when the cache is damaged, far below noise', async () => {
  const { fid, images } = judgeModel.floor;
  assert.is(images, TEST_LIMIT); // as many training digits as test digits (10,000 with the full test set)
  assert.ok(Number.isFinite(fid) && fid >= 0, `floor ${fid}`);
  const cacheDir = join(dir, '.cache');
  const floorFile = readdirSync(cacheDir).find((f) => f.startsWith('judge-floor-'));
  assert.ok(floorFile, `no floor cache in ${cacheDir}: ${readdirSync(cacheDir).join(', ')}`);
  const cachePath = join(cacheDir, floorFile!);

  // A planted value is read back, not recomputed...
  writeFileSync(cachePath, JSON.stringify({ fid: 1234.5, images: TEST_LIMIT }));
  const planted = await loadJudge(test200, SHIPPED_JUDGE, dir);
  assert.is(planted.floor.fid, 1234.5);
  planted.classifier.dispose();
  // ... and a damaged one is recomputed to the first value.
  writeFileSync(cachePath, '{"fid": ');
  const again = await loadJudge(test200, SHIPPED_JUDGE, dir);
  assert.ok(Math.abs(again.floor.fid - fid) <= 1e-6 * Math.max(1, fid), `recomputed floor ${again.floor.fid} vs ${fid}`);
  again.classifier.dispose();

  // Uniform noise images, as many, are much further from the test digits than real digits are.
  const noise = await judge(judgeModel.classifier, TEST_LIMIT, (start, size) => {
    const b = test200.gather(Array.from({ length: size }, (_, i) => (start + i) % TEST_LIMIT));
    b.y.dispose();
    return tidy(() => addScalar(mulScalar(b.x, 0), 0.5)); // flat grey squares
  });
  const grey = frechetTo(judgeModel.testStats, noise);
  assert.ok(grey > 5 * fid, `flat grey images score ${grey}, real training digits ${fid}`);
  const refused = await loadJudge(test200, SHIPPED_JUDGE, dir, 1).then(() => 'loaded', (e: Error) => e.message);
  assert.match(refused, /floorImages must be a whole number ≥ 2, got 1/);
});

test('a finished GAN run: figures in summary.json, BatchNorm statistics recomputed for the final weights and kept in the checkpoint', async () => {
  const out = join(dir, 'gan-run');
  const lines: string[] = [];
  const options = {
    kind: 'gan' as const, epochs: 1, batchSize: 8, limit: 24, seed: 0, out, samples: 100, evaluate: true,
    judgePath: SHIPPED_JUDGE, testLimit: TEST_LIMIT, progress: false, batchNormBatches: 3, modelConfig: { width: 0.125 },
    log: (l: string) => lines.push(l),
  };
  await runTraining(options);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as TrainRunSummary;
  const q = summary.quality!;
  assert.ok(q.confidence >= 0 && q.confidence <= 1, `confidence ${q.confidence}`);
  assert.is(q.confidenceThreshold, 0.9);
  assert.is(q.labelShares.length, 10);
  assert.ok(Math.abs(q.labelShares.reduce((a, b) => a + b, 0) - 1) < 1e-9, `label shares ${q.labelShares}`);
  assert.ok(q.labelShares.every((s) => Number.isInteger(Math.round(s * 100)) && Math.abs(s * 100 - Math.round(s * 100)) < 1e-9), 'shares of 100 samples are whole percents');
  const entropy = -q.labelShares.reduce((h, p) => h + (p > 0 ? p * Math.log(p) : 0), 0) / Math.log(10);
  assert.ok(Math.abs(q.coverage - entropy) < 1e-9, `coverage ${q.coverage} vs the entropy of its shares ${entropy}`);
  assert.ok(Number.isFinite(q.fidFloor) && q.fidFloor < q.fid, `floor ${q.fidFloor}, Fréchet ${q.fid}`);
  assert.is(q.floorImages, TEST_LIMIT);

  const record = summary.batchNormStatistics as BatchNormRecompute;
  assert.equal({ batches: record.batches, batchSize: record.batchSize, step: record.step }, { batches: 3, batchSize: 8, step: 3 });
  const checkpoint = join(out, 'checkpoint.safetensors');
  const info = readCheckpointInfo(checkpoint, 'gan');
  assert.equal(JSON.parse(info.extra.batchNormStatistics) as BatchNormRecompute, record);
  assert.ok(info.extra.history, 'the re-saved checkpoint lost the loss history');
  assert.is(info.progress.step, 3);
  assert.ok(lines.some((l) => /BatchNorm statistics recomputed over 3 batches of 8/.test(l)), lines.join('\n'));

  // The first BatchNorm layer normalises the dense layer's output of the noise: its moving
  // statistics must be the averages of that output's batch mean and biased variance, for the
  // noise the record names, computed here on the host.
  const gan = createModel('gan', info.config as Record<string, unknown>) as Gan;
  await loadCheckpoint(checkpoint, { model: 'gan', modules: gan.modules });
  const kernel = await gan.generator.dense.kernel.toArray();
  const [inputs, units] = gan.generator.dense.kernel.shape;
  const mean = new Float64Array(units);
  const variance = new Float64Array(units);
  for (let b = 0; b < record.batches; b++) {
    const noiseTensor = gan.noise(record.batchSize, deriveSeed(record.seed, b));
    const noise = await noiseTensor.toArray();
    noiseTensor.dispose();
    const h = new Float64Array(record.batchSize * units);
    for (let r = 0; r < record.batchSize; r++) {
      for (let i = 0; i < inputs; i++) {
        const v = noise[r * inputs + i];
        for (let u = 0; u < units; u++) h[r * units + u] += v * kernel[i * units + u];
      }
    }
    for (let u = 0; u < units; u++) {
      let m = 0;
      for (let r = 0; r < record.batchSize; r++) m += h[r * units + u] / record.batchSize;
      let v = 0;
      for (let r = 0; r < record.batchSize; r++) v += (h[r * units + u] - m) ** 2 / record.batchSize;
      mean[u] += m / record.batches;
      variance[u] += v / record.batches;
    }
  }
  const movingMean = await gan.generator.bn0.movingMean.toArray();
  const movingVariance = await gan.generator.bn0.movingVariance.toArray();
  for (let u = 0; u < units; u++) {
    assert.ok(Math.abs(movingMean[u] - mean[u]) <= 1e-4 + 1e-4 * Math.abs(mean[u]), `bn0 moving mean ${u}: ${movingMean[u]} vs ${mean[u]}`);
    assert.ok(Math.abs(movingVariance[u] - variance[u]) <= 1e-4 + 1e-3 * variance[u], `bn0 moving variance ${u}: ${movingVariance[u]} vs ${variance[u]}`);
  }

  // `evaluate` on the checkpoint scores exactly what the run scored: same statistics, same mode.
  const later = await measureQuality(gan, judgeModel, test200, 100);
  assert.ok(Math.abs(later.fid - q.fid) <= 1e-6 * q.fid, `evaluate's Fréchet ${later.fid} vs the run's ${q.fid}`);
  assert.is(later.confidence, q.confidence);
  assert.equal(later.labelShares, q.labelShares);
  gan.dispose();

  // Resuming the finished run finds the statistics already there and leaves them alone.
  lines.length = 0;
  await runTraining({ ...options, resume: true });
  assert.not.ok(lines.some((l) => /recomputed/.test(l)), lines.join('\n'));
  assert.equal(JSON.parse(readCheckpointInfo(checkpoint, 'gan').extra.batchNormStatistics) as BatchNormRecompute, record);
});

test.run();
