import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IdxFormatError, parseIdx, type IdxDtype } from '../src/data/idx.ts';
import { seededPermutation } from '../src/data/shuffle.ts';
import { loadMnist, readIdx } from '../src/data/mnist-files.ts';

const TYPE_CODES: Record<IdxDtype, number> = { u8: 0x08, i8: 0x09, i16: 0x0b, i32: 0x0c, f32: 0x0d, f64: 0x0e };
const BYTES_PER_ELEMENT: Record<IdxDtype, number> = { u8: 1, i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 };

/** Builds an IDX file by hand, big-endian as the format says, independently of the reader. */
function makeIdx(dtype: IdxDtype, shape: number[], values: number[]): Uint8Array {
  const header = 4 + 4 * shape.length;
  const bytes = new Uint8Array(header + values.length * BYTES_PER_ELEMENT[dtype]);
  const view = new DataView(bytes.buffer);
  bytes[2] = TYPE_CODES[dtype];
  bytes[3] = shape.length;
  shape.forEach((size, axis) => view.setUint32(4 + 4 * axis, size, false));
  values.forEach((value, i) => {
    const at = header + i * BYTES_PER_ELEMENT[dtype];
    if (dtype === 'u8') view.setUint8(at, value);
    else if (dtype === 'i8') view.setInt8(at, value);
    else if (dtype === 'i16') view.setInt16(at, value, false);
    else if (dtype === 'i32') view.setInt32(at, value, false);
    else if (dtype === 'f32') view.setFloat32(at, value, false);
    else view.setFloat64(at, value, false);
  });
  return bytes;
}

const scratchDir = mkdtempSync(join(tmpdir(), 'idx-test-'));
let fileCounter = 0;
function writeTemp(bytes: Uint8Array): string {
  const path = join(scratchDir, `case-${fileCounter++}.idx`);
  writeFileSync(path, bytes);
  return path;
}

function assertIdxError(path: string, ...expectedFragments: string[]): void {
  try {
    readIdx(path);
  } catch (error) {
    assert.instance(error, IdxFormatError);
    const message = (error as Error).message;
    assert.ok(message.includes(path), `message should name the file: ${message}`);
    for (const fragment of expectedFragments) {
      assert.ok(message.includes(fragment), `message should mention "${fragment}": ${message}`);
    }
    return;
  }
  assert.unreachable(`readIdx(${path}) should have thrown`);
}

test.after(() => rmSync(scratchDir, { recursive: true, force: true }));

test('round-trips every element type, big-endian values included', () => {
  const cases: Array<[IdxDtype, number[], number[]]> = [
    ['u8', [2, 3], [0, 1, 127, 128, 254, 255]],
    ['i8', [4], [-128, -1, 0, 127]],
    ['i16', [2, 2], [-32768, -2, 258, 32767]],
    ['i32', [3], [-2147483648, 0x01020304, 2147483647]],
    ['f32', [1, 2, 2], [1.5, -0.25, 3.4028234663852886e38, 1e-30]],
    ['f64', [2], [Math.PI, -1e300]],
  ];
  for (const [dtype, shape, values] of cases) {
    const parsed = readIdx(writeTemp(makeIdx(dtype, shape, values)));
    assert.is(parsed.dtype, dtype);
    assert.equal(parsed.shape, shape);
    const expected = dtype === 'f32' ? Array.from(Float32Array.from(values)) : values;
    assert.equal(Array.from(parsed.data), expected, `${dtype} values`);
  }
});

test('reads multi-byte values as big-endian, not host order', () => {
  const bytes = new Uint8Array([0, 0, 0x0c, 1, 0, 0, 0, 1, 0x01, 0x02, 0x03, 0x04]);
  assert.equal(Array.from(parseIdx(bytes, 'inline').data), [0x01020304]);
  const oneAsF32 = new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0x80, 0x00, 0x00]);
  assert.equal(Array.from(parseIdx(oneAsF32, 'inline').data), [1]);
});

test('a truncated file says how much data it expected for which shape', () => {
  const full = makeIdx('u8', [3, 28, 28], new Array(3 * 28 * 28).fill(7));
  assertIdxError(writeTemp(full.subarray(0, full.length - 10)), 'truncated', '2352 bytes', '[3, 28, 28]', 'found 2342');
  assertIdxError(writeTemp(full.subarray(0, 9)), 'truncated', 'header');
  assertIdxError(writeTemp(full.subarray(0, 3)), 'too short');
});

test('extra bytes after the data are an error', () => {
  const full = makeIdx('i16', [2], [1, 2]);
  const longer = new Uint8Array(full.length + 3);
  longer.set(full);
  assertIdxError(writeTemp(longer), 'too long', '3 extra');
});

test('a wrong magic number is an error', () => {
  const gzipLike = makeIdx('u8', [1], [5]);
  gzipLike[0] = 0x1f;
  gzipLike[1] = 0x8b;
  assertIdxError(writeTemp(gzipLike), 'magic', '0x1f 0x8b');
});

test('an unknown type code is an error', () => {
  const bytes = makeIdx('u8', [1], [5]);
  bytes[2] = 0x0a;
  assertIdxError(writeTemp(bytes), 'type code 0x0a');
});

test('an implausible rank or a zero dimension is an error', () => {
  const rankZero = new Uint8Array([0, 0, 0x08, 0]);
  assertIdxError(writeTemp(rankZero), 'rank 0');
  const rankNine = new Uint8Array(4 + 36);
  rankNine.set([0, 0, 0x08, 9]);
  assertIdxError(writeTemp(rankNine), 'rank 9');
  assertIdxError(writeTemp(makeIdx('u8', [2, 0], [])), 'dimension 1 of size 0');
});

test('a missing file is an error naming the path', () => {
  assertIdxError(join(scratchDir, 'no-such-file.idx'), 'does not exist');
});

test('MNIST train and test load with the expected sizes and sane labels', () => {
  for (const [split, expectedCount] of [['train', 60000], ['test', 10000]] as const) {
    const mnist = loadMnist(split);
    assert.is(mnist.count, expectedCount, `${split} count`);
    assert.is(mnist.rows, 28);
    assert.is(mnist.cols, 28);
    assert.is(mnist.images.length, expectedCount * 28 * 28);
    assert.is(mnist.labels.length, expectedCount);
    const histogram = new Array<number>(10).fill(0);
    for (const label of mnist.labels) {
      assert.ok(label <= 9, `${split} label ${label} out of range`);
      histogram[label]!++;
    }
    for (const [digit, seen] of histogram.entries()) {
      const share = seen / expectedCount;
      assert.ok(share > 0.05 && share < 0.15, `${split}: digit ${digit} is ${(share * 100).toFixed(1)}% of labels`);
    }
    // A blank or constant image set would pass the size checks; real digits use the full range.
    let brightest = 0;
    for (let i = 0; i < 28 * 28 * 100; i++) brightest = Math.max(brightest, mnist.images[i]!);
    assert.is(brightest, 255);
  }
});

test('MNIST limit keeps the first examples', () => {
  const full = loadMnist('test');
  const few = loadMnist('test', { limit: 5 });
  assert.is(few.count, 5);
  assert.is(few.images.length, 5 * 28 * 28);
  assert.equal(Array.from(few.labels), Array.from(full.labels.subarray(0, 5)));
  assert.is(loadMnist('test', { limit: 10 ** 6 }).count, 10000);
});

test('MNIST balanced: limit / 10 of each digit, the first of each in file order, copied', () => {
  const full = loadMnist('train');
  const few = loadMnist('train', { limit: 50, balanced: true });
  assert.is(few.count, 50);
  assert.is(few.images.length, 50 * 28 * 28);
  // The same choice made independently: walk the file, keep a digit while it has fewer than 5.
  const expected: number[] = [];
  const taken = new Array<number>(10).fill(0);
  for (let i = 0; expected.length < 50; i++) if (taken[full.labels[i]!]!++ < 5) expected.push(i);
  assert.equal(Array.from(few.labels), expected.map((i) => full.labels[i]!));
  for (let d = 0; d < 10; d++) assert.is(Array.from(few.labels).filter((l) => l === d).length, 5, `digit ${d}`);
  expected.forEach((from, to) => {
    assert.equal(few.images.subarray(to * 784, (to + 1) * 784), full.images.subarray(from * 784, (from + 1) * 784), `image ${to} is training image ${from}`);
  });
  assert.is(loadMnist('train', { limit: 50, balanced: false }).labels[7], full.labels[7], 'balanced: false is the first limit');
  assert.throws(() => loadMnist('train', { limit: 55, balanced: true }), /positive multiple of 10/);
  assert.throws(() => loadMnist('train', { balanced: true }), /balanced needs a limit/);
  assert.throws(() => loadMnist('train', { limit: 60000, balanced: true }), /needs 6000 of each digit, but the split has only \d+ of digit \d/);
  assert.throws(() => loadMnist('train', { limit: 50, balanced: 'yes' as never }), /balanced must be true or false/);
});

test('MNIST from a folder without the files names the missing file', () => {
  try {
    loadMnist('train', { dir: scratchDir });
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, IdxFormatError);
    assert.ok((error as Error).message.includes(join(scratchDir, 'train-images-idx3-ubyte')));
  }
});

test('seededPermutation is a permutation, fixed per (seed, epoch), new each epoch', () => {
  const n = 1000;
  const order = seededPermutation(n, 42, 0);
  assert.is(order.length, n);
  assert.equal(Array.from(order).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  assert.equal(seededPermutation(n, 42, 0), order);
  assert.not.equal(seededPermutation(n, 42, 1), order);
  assert.not.equal(seededPermutation(n, 43, 0), order);
  assert.not.equal(seededPermutation(n, 1, 2), seededPermutation(n, 2, 1));
  assert.equal(Array.from(seededPermutation(0, 1, 0)), []);
  assert.equal(Array.from(seededPermutation(1, 1, 0)), [0]);
});

test('seededPermutation moves each index to every position about equally often', () => {
  // Catches an off-by-one in Fisher–Yates, which would leave some positions unreachable or favoured.
  const n = 5;
  const trials = 20000;
  const counts = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let epoch = 0; epoch < trials; epoch++) {
    seededPermutation(n, 7, epoch).forEach((value, position) => counts[value]![position]!++);
  }
  for (const row of counts) {
    for (const count of row) assert.ok(Math.abs(count / trials - 1 / n) < 0.02, `frequency ${count / trials}`);
  }
});

test.run();
