import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gridShape, imageGrid, readPng, saveImageGrid, writePng, type PixelChannels } from '../src/io/png.ts';

const scratchDir = mkdtempSync(join(tmpdir(), 'png-test-'));
test.after(() => rmSync(scratchDir, { recursive: true, force: true }));

function randomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

test('writePng then readPng gives back the same pixels (gray, RGB, RGBA; awkward sizes)', () => {
  const cases: Array<[number, number, PixelChannels]> = [[1, 1, 1], [7, 3, 1], [33, 5, 3], [3, 65, 4], [130, 2, 3]];
  cases.forEach(([width, height, channels], i) => {
    const image = { width, height, channels, data: randomBytes(width * height * channels, i + 1) };
    const path = join(scratchDir, 'nested', `deeper-${i}`, 'image.png');
    writePng(path, image);
    const back = readPng(path);
    assert.equal([back.width, back.height, back.channels], [width, height, channels], `size of case ${i}`);
    assert.equal(Array.from(back.data), Array.from(image.data), `pixels of case ${i}`);
  });
});

test('writePng leaves no temporary file behind and replaces an existing file', () => {
  const path = join(scratchDir, 'replace.png');
  writePng(path, { width: 2, height: 1, channels: 1, data: new Uint8Array([1, 2]) });
  writePng(path, { width: 1, height: 1, channels: 1, data: new Uint8Array([9]) });
  assert.equal(Array.from(readPng(path).data), [9]);
  assert.equal(readdirSync(scratchDir).filter((name) => name.includes('.tmp-')), []);
});

test('writePng rejects pixel data of the wrong size; readPng names a file that is not a PNG', () => {
  assert.throws(() => writePng(join(scratchDir, 'bad.png'), { width: 3, height: 2, channels: 3, data: new Uint8Array(17) }), /3×2×3 needs 18 bytes, got 17/);
  assert.not.ok(existsSync(join(scratchDir, 'bad.png')));
  const notPng = join(scratchDir, 'not-a-png.png');
  writeFileSync(notPng, 'hello');
  assert.throws(() => readPng(notPng), (error: Error) => error.message.includes(notPng) && /not a readable PNG/.test(error.message));
  assert.throws(() => readPng(join(scratchDir, 'missing.png')), /missing\.png/);
});

test('gridShape: square by default, fills rows or columns when one is given', () => {
  assert.equal(gridShape(16), { rows: 4, cols: 4 });
  assert.equal(gridShape(10), { rows: 3, cols: 4 });
  assert.equal(gridShape(1), { rows: 1, cols: 1 });
  assert.equal(gridShape(10, 1), { rows: 1, cols: 10 });
  assert.equal(gridShape(10, undefined, 3), { rows: 4, cols: 3 });
  assert.equal(gridShape(6, 2, 5), { rows: 2, cols: 5 });
  assert.throws(() => gridShape(7, 2, 3), /2×3 cells cannot hold 7 images/);
  assert.throws(() => gridShape(7, 0), /rows must be a positive integer/);
});

test('imageGrid places image k at row floor(k / cols), column k % cols, with padding between', () => {
  const count = 5, height = 3, width = 4, padding = 2;
  const images = new Float32Array(count * height * width);
  // Every pixel encodes its image and position, so a misplaced pixel is caught.
  for (let k = 0; k < count; k++) {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) images[(k * height + y) * width + x] = 10 * k + 3 * y + x;
  }
  const grid = imageGrid(images, count, height, width, { cols: 3, padding, range: [0, 255], background: 200 });
  assert.equal([grid.width, grid.height, grid.channels], [3 * (width + padding) + padding, 2 * (height + padding) + padding, 1]);
  for (let gy = 0; gy < grid.height; gy++) {
    for (let gx = 0; gx < grid.width; gx++) {
      const row = Math.floor((gy - padding) / (height + padding));
      const col = Math.floor((gx - padding) / (width + padding));
      const y = gy - padding - row * (height + padding);
      const x = gx - padding - col * (width + padding);
      const k = row * 3 + col;
      const inside = gy >= padding && gx >= padding && y < height && x < width && k < count;
      const expected = inside ? 10 * k + 3 * y + x : 200;
      assert.is(grid.data[gy * grid.width + gx], expected, `pixel (${gx}, ${gy})`);
    }
  }
});

test('imageGrid maps the range to 0..255, clamps outside values, and draws NaN as the low end', () => {
  const values = [-1, 1, 0, -2, 5, NaN, 0.5, -0.5];
  const grid = imageGrid(Float32Array.from(values), 1, 1, values.length, { range: [-1, 1], padding: 0 });
  assert.equal(Array.from(grid.data), [0, 255, 128, 0, 255, 0, 191, 64]);
  const unit = imageGrid(Float32Array.from([0, 0.2, 1, 1.5]), 4, 1, 1, { padding: 0, cols: 4 });
  assert.equal(Array.from(unit.data), [0, 51, 255, 255], 'default range is [0, 1]');
});

test('imageGrid gives RGB output for a coloured background or RGB images', () => {
  const gray = imageGrid(Float32Array.from([1]), 1, 1, 1, { padding: 1, background: [255, 0, 0] });
  assert.is(gray.channels, 3);
  assert.equal(Array.from(gray.data.subarray(0, 3)), [255, 0, 0], 'padding is red');
  assert.equal(Array.from(gray.data.subarray(4 * 3, 5 * 3)), [255, 255, 255], 'the gray pixel is copied to R, G and B');
  const rgb = imageGrid(Float32Array.from([1, 0.5, 0, 0, 0, 1]), 2, 1, 1, { channels: 3, padding: 0, cols: 2 });
  assert.equal([rgb.width, rgb.height, rgb.channels], [2, 1, 3]);
  assert.equal(Array.from(rgb.data), [255, 128, 0, 0, 0, 255]);
});

test('imageGrid rejects inconsistent arguments before drawing', () => {
  assert.throws(() => imageGrid(new Float32Array(10), 2, 2, 2), /2 images of 2×2×1 need 8 values, got 10/);
  assert.throws(() => imageGrid(new Float32Array(4), 1, 2, 2, { range: [1, 1] }), /lo < hi/);
  assert.throws(() => imageGrid(new Float32Array(4), 1, 2, 2, { background: 300 }), /0–255/);
  assert.throws(() => imageGrid(new Float32Array(4), 1, 2, 2, { padding: -1 }), /padding/);
});

test('saveImageGrid writes the grid it returns', () => {
  const images = Float32Array.from({ length: 4 * 28 * 28 }, (_, i) => Math.sin(i));
  const path = join(scratchDir, 'grids', 'samples.png');
  const grid = saveImageGrid(path, images, 4, 28, 28, { range: [-1, 1] });
  const back = readPng(path);
  assert.equal([back.width, back.height, back.channels], [2 * 30 + 2, 2 * 30 + 2, 1]);
  assert.equal(Array.from(back.data), Array.from(grid.data));
});

test.run();
