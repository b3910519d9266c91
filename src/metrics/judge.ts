// The judge: the MNIST classifier whose eyes the quality figures (src/metrics/quality.ts) see
// generated digits with. Which file it is (a path, the last one trained into out/classifier, or
// the one shipped in assets/), and what it sees once per judge file and data: its accuracy and
// feature statistics on the test digits, and the floor (real training digits against the test
// digits), both cached in <out>/.cache. Summaries and recipes name the judge by `recorded` (its
// path relative to the project root, or its file name when outside it) and `sha256`, never by
// an absolute path (src/io/project-path.ts).

import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { MnistGpu } from '../data/batches.ts';
import { loadCheckpoint, readCheckpointInfo } from '../nn/checkpoint-file.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { frechetDistance, type GaussianStats } from './frechet.ts';
import { MnistClassifier, type ClassifierConfig } from '../models/classifier.ts';
import { judgeDataset, statsOf } from './quality.ts';
import { loadMnistGpu } from '../data/mnist-files.ts';
import { PROJECT_ROOT, recordedPath, resolveRecordedPath } from '../io/project-path.ts';

/** The judge shipped with the repository (trained by `npm run train:classifier`). */
export const SHIPPED_JUDGE = join(PROJECT_ROOT, 'assets', 'judge.safetensors');

/** The judge `evaluate` and `train` use when none is named: out/classifier's, else the shipped one. */
export const DEFAULT_JUDGE = join('out', 'classifier', 'checkpoint.safetensors');

export interface Judge {
  classifier: MnistClassifier;
  /** The file it was loaded from, as found (absolute, or relative to the working directory). */
  path: string;
  /**
   * How summaries and recipes name it: relative to the project root when it lies inside
   * ("assets/judge.safetensors", "out/classifier/checkpoint.safetensors"), else its file name.
   */
  recorded: string;
  /** sha256 of the file (hex): which judge it was, wherever the file now lies. */
  sha256: string;
  /** Its accuracy on the 10,000 test digits, measured now. */
  testAccuracy: number;
  testStats: GaussianStats;
  /** The floor: Fréchet distance of `images` training digits to the test digits under this judge. */
  floor: { fid: number; images: number };
}

/** Training digits behind the floor (as many as the test digits it is compared with). */
export const FLOOR_IMAGES = 10_000;

/**
 * Loads the judge (a path, the last trained one in out/classifier, or the shipped one), with its
 * view of the test digits and its floor: both depend only on the judge file and the data, so they
 * are computed once and cached in <out>/.cache (each costs one judge pass over 10,000 digits).
 * `floorImages` (default: 10,000, or fewer when the test split was limited) training digits,
 * the first ones, make the floor.
 */
export async function loadJudge(test: MnistGpu, path?: string, out = 'out', floorImages = Math.min(FLOOR_IMAGES, test.count)): Promise<Judge> {
  if (!Number.isInteger(floorImages) || floorImages < 2) throw new RangeError(`loadJudge: floorImages must be a whole number ≥ 2, got ${floorImages}`);
  // A relative path that is not there from the working directory is a recorded one (a summary's
  // "assets/judge.safetensors"): it is read against the project root.
  const candidates = path ? [path, ...(isAbsolute(path) ? [] : [resolveRecordedPath(path)])] : [join(out, 'classifier', 'checkpoint.safetensors'), SHIPPED_JUDGE];
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new Error(`no judge classifier found (looked at ${candidates.join(', ')}): train one with \`npm run train:classifier\``);
  }
  const info = readCheckpointInfo(found, 'classifier');
  const classifier = new MnistClassifier(info.config as Partial<ClassifierConfig>);
  await loadCheckpoint(found, { model: 'classifier', modules: { classifier } });
  const bytes = readFileSync(found);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const digest = createHash('sha256').update(bytes).update(test.hostLabels).update(String(test.count)).digest('hex').slice(0, 16);
  try {
    const { accuracy, stats: testStats } = await cachedTestView(classifier, test, join(out, '.cache', `judge-test-${digest}.json`));
    const floor = await cachedFloor(classifier, testStats, floorImages, join(out, '.cache', `judge-floor-${digest}-${floorImages}.json`));
    return { classifier, path: found, recorded: recordedPath(found), sha256, testAccuracy: accuracy, testStats, floor };
  } catch (error) {
    classifier.dispose();
    throw error;
  }
}

function readCache<T>(path: string, valid: (value: T) => boolean): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as T;
    return valid(value) ? value : undefined;
  } catch {
    return undefined; // a damaged cache is recomputed
  }
}

function writeCache(path: string, value: unknown): void {
  writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(value)));
}

/** The judge's accuracy on the test digits and the Gaussian of its features there. */
async function cachedTestView(classifier: MnistClassifier, test: MnistGpu, cachePath: string): Promise<{ accuracy: number; stats: GaussianStats }> {
  type Cached = { accuracy: number; dim: number; count: number; mean: number[]; cov: number[] };
  const c = readCache<Cached>(cachePath, (v) => Array.isArray(v.mean) && Array.isArray(v.cov) && v.dim * v.dim === v.cov.length && v.mean.length === v.dim);
  if (c) return { accuracy: c.accuracy, stats: { dim: c.dim, count: c.count, mean: Float64Array.from(c.mean), cov: Float64Array.from(c.cov) } };
  const real = await judgeDataset(classifier, test);
  let correct = 0;
  for (let i = 0; i < test.count; i++) if (real.predictions[i] === test.hostLabels[i]) correct++;
  const stats = statsOf(real);
  writeCache(cachePath, { accuracy: correct / test.count, dim: stats.dim, count: stats.count, mean: [...stats.mean], cov: [...stats.cov] });
  return { accuracy: correct / test.count, stats };
}

/** The floor: Fréchet distance of the first `images` training digits to the test statistics. */
async function cachedFloor(classifier: MnistClassifier, testStats: GaussianStats, images: number, cachePath: string): Promise<{ fid: number; images: number }> {
  const c = readCache<{ fid: number; images: number }>(cachePath, (v) => typeof v.fid === 'number' && Number.isFinite(v.fid) && v.images === images);
  if (c) return { fid: c.fid, images: c.images };
  const train = loadMnistGpu('train', { limit: images, range: [0, 1] });
  try {
    if (train.count < images) throw new RangeError(`loadJudge: the floor needs ${images} training digits, the training split has ${train.count}`);
    const real = await judgeDataset(classifier, train);
    const floor = { fid: frechetDistance(testStats, statsOf(real)), images };
    writeCache(cachePath, floor);
    return floor;
  } finally {
    train.dispose();
  }
}
