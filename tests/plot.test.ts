import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hasGlyph, textWidth } from '../src/io/font.ts';
import { formatTicks, lineChart, movingAverage, niceTicks, scatterPlot, TAB10 } from '../src/io/plot.ts';
import { readPng, type RasterImage, type Rgb } from '../src/io/png.ts';

const scratchDir = mkdtempSync(join(tmpdir(), 'plot-test-'));
test.after(() => rmSync(scratchDir, { recursive: true, force: true }));

function countColor(image: RasterImage, [r, g, b]: Rgb): number {
  let count = 0;
  for (let i = 0; i < image.width * image.height; i++) {
    const at = i * image.channels;
    if (image.data[at] === r && image.data[at + 1] === g && image.data[at + 2] === b) count++;
  }
  return count;
}

function countDark(image: RasterImage, region: { top: number; bottom: number }): number {
  let count = 0;
  for (let y = region.top; y < region.bottom; y++) {
    for (let x = 0; x < image.width; x++) if (image.data[(y * image.width + x) * image.channels]! < 100) count++;
  }
  return count;
}

test('the font draws every character plot labels use', () => {
  const needed = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-.:,+()/%=_[] ';
  for (const char of needed) assert.ok(hasGlyph(char), `glyph for "${char}"`);
  assert.is(textWidth('0'), 5);
  assert.is(textWidth('10'), 11, 'digits are 5 wide with 1 pixel between');
  assert.is(textWidth('-0.5'), 3 + 1 + 5 + 1 + 1 + 1 + 5, 'punctuation is trimmed to its ink');
});

test('niceTicks picks 1, 2 or 5 × 10^k steps and formatTicks labels a whole axis alike', () => {
  assert.equal(niceTicks(0, 10, 5), { step: 2, ticks: [0, 2, 4, 6, 8, 10] });
  assert.equal(niceTicks(-0.33, 0.33, 6).step, 0.1);
  assert.equal(niceTicks(1, 3, 8, 1), { step: 1, ticks: [1, 2, 3] }, 'minStep keeps whole-number axes whole');
  assert.equal(formatTicks([0, 0.5, 1], 0.5), ['0.0', '0.5', '1.0']);
  assert.equal(formatTicks([-0.2, 0, 0.2], 0.2), ['-0.2', '0.0', '0.2']);
  assert.equal(formatTicks([0, 5000, 10000], 5000), ['0', '5k', '10k']);
  assert.equal(formatTicks([0, 2000, 4000], 2000), ['0', '2000', '4000']);
  assert.equal(formatTicks([0, 1e-5, 2e-5], 1e-5), ['0', '1e-5', '2e-5']);
});

test('movingAverage is centred, shrinks symmetrically at the ends and skips non-finite values', () => {
  assert.equal(movingAverage([1, 2, 3, 4, 5], 3), [1, 2, 3, 4, 5]);
  assert.equal(movingAverage([0, 0, 9, 0, 0], 3), [0, 3, 3, 3, 0]);
  assert.equal(movingAverage([1, NaN, 3], 3), [1, 2, 3]);
  assert.equal(movingAverage([2, 4], 1), [2, 4]);
});

test('scatterPlot writes a PNG of the requested size with a legend swatch per label present', () => {
  const points = Array.from({ length: 600 }, (_, i) => ({ x: Math.cos(i) * (1 + (i % 7)), y: Math.sin(i * 1.3) * 3, label: i % 6 }));
  const path = join(scratchDir, 'plots', 'latent.png');
  scatterPlot(path, points, { title: 'Latent space', xLabel: 'z[0]', yLabel: 'z[1]', legendTitle: 'digit', width: 640, height: 480 });
  const image = readPng(path);
  assert.equal([image.width, image.height, image.channels], [640, 480, 3]);
  // Legend swatches are solid 14×14 squares; translucent points never hit the exact colour.
  for (let label = 0; label < 6; label++) assert.ok(countColor(image, TAB10[label]!) >= 14 * 14, `legend colour of ${label}`);
  for (let label = 6; label < 10; label++) assert.is(countColor(image, TAB10[label]!), 0, `no colour for absent label ${label}`);
  assert.ok(countDark(image, { top: 0, bottom: 40 }) > 50, 'the title is drawn at the top');
});

test('scatterPlot defaults to 900×760 and accepts custom colours and names', () => {
  const colors: Rgb[] = [[10, 200, 30], [200, 10, 30]];
  const path = join(scratchDir, 'custom.png');
  scatterPlot(path, [{ x: 0, y: 0, label: 0 }, { x: 1, y: 2, label: 1 }], { colors, labelNames: ['real', 'fake'] });
  const image = readPng(path);
  assert.equal([image.width, image.height], [900, 760]);
  for (const color of colors) assert.ok(countColor(image, color) >= 14 * 14);
});

test('scatterPlot rejects labels without a colour and bad ranges', () => {
  assert.throws(() => scatterPlot(join(scratchDir, 'x.png'), [{ x: 0, y: 0, label: 10 }]), /label 10 has no colour/);
  assert.throws(() => scatterPlot(join(scratchDir, 'x.png'), [{ x: 0, y: 0, label: 1.5 }]), /label 1.5/);
  assert.throws(() => scatterPlot(join(scratchDir, 'x.png'), [], { xRange: [1, 0] }), /xRange/);
});

test('lineChart writes a PNG with every series colour in its legend, smoothed or not', () => {
  const steps = 500;
  const series = [
    { name: 'discriminator', values: Array.from({ length: steps }, (_, i) => 1.3 + 0.2 * Math.sin(i)) },
    { name: 'generator', values: Array.from({ length: steps }, (_, i) => 0.8 + i / steps + 0.3 * Math.cos(i * 0.7)) },
    { name: 'custom', values: [2, NaN, 1.5, 1.2], color: [0, 0, 0] as Rgb },
  ];
  for (const smoothing of [1, 25]) {
    const path = join(scratchDir, `losses-${smoothing}.png`);
    lineChart(path, series, { title: 'GAN losses', xLabel: 'step', yLabel: 'loss', smoothing });
    const image = readPng(path);
    assert.equal([image.width, image.height, image.channels], [960, 600, 3]);
    assert.ok(countColor(image, TAB10[0]!) >= 14 * 14, 'first series in the palette\'s first colour');
    assert.ok(countColor(image, TAB10[1]!) >= 14 * 14, 'second series in the second colour');
    assert.ok(countColor(image, [0, 0, 0]) >= 14 * 14, 'a series\' own colour is used');
  }
});

test('lineChart rejects an empty chart and a bad smoothing window', () => {
  assert.throws(() => lineChart(join(scratchDir, 'x.png'), []), /no series/);
  assert.throws(() => lineChart(join(scratchDir, 'x.png'), [{ name: 'a', values: [1] }], { smoothing: 0 }), /smoothing/);
  assert.throws(() => lineChart(join(scratchDir, 'x.png'), [{ name: 'a', values: [1] }], { width: 50, height: 50 }), /no room/);
});

test.run();
