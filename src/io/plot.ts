// Two plots the example models need, drawn without plotting libraries: a scatter of labelled
// points (the VAE's latent means coloured by digit) and a line chart (loss curves). Both lay out
// a title, a legend, axes with "nice" ticks (1, 2 or 5 × 10^k), grid lines and axis titles on
// an RGB canvas and save it as PNG.

import { Canvas, canvasToImage, measureText, type ClipRect } from './canvas.ts';
import { writePng, type RasterImage, type Rgb } from './png.ts';

/** matplotlib's "tab10" palette: ten colours that stay distinguishable, one per digit. */
export const TAB10: readonly Rgb[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

const WHITE: Rgb = [255, 255, 255];
const TEXT: Rgb = [34, 34, 34];
const AXIS: Rgb = [90, 90, 90];
const GRID: Rgb = [232, 232, 232];
const TEXT_SCALE = 2;
const TITLE_SCALE = 3;
const TICK_LENGTH = 6;

export interface ScatterPoint {
  x: number;
  y: number;
  /** Index into `colors` (a digit for MNIST). */
  label: number;
}

export interface ScatterOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Draw a legend of the labels present. Default true. */
  legend?: boolean;
  /** Heading above the legend entries, e.g. "digit". */
  legendTitle?: string;
  /** Colour per label. Default TAB10. */
  colors?: readonly Rgb[];
  /** Legend text per label; default the label number. */
  labelNames?: readonly string[];
  /** Image size in pixels. Default 900×760. */
  width?: number;
  height?: number;
  pointRadius?: number;
  pointAlpha?: number;
  /** Axis ranges; default the data's range plus a 5% margin. */
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
}

export interface LineSeries {
  name: string;
  values: readonly number[];
  color?: Rgb;
}

export interface LineChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /**
   * Centred moving-average window in points (an even window acts as the next odd one). Above
   * 1 the raw values are drawn faintly behind the smoothed curve. Default 1 (no smoothing).
   */
  smoothing?: number;
  /** x of values[i] is xStart + i·xStep. Defaults 0 and 1. */
  xStart?: number;
  xStep?: number;
  /** Fixed y range; default covers the (smoothed) curves and nearly all raw points. */
  yRange?: readonly [number, number];
  width?: number;
  height?: number;
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  labels: string[];
}

/**
 * Tick positions at a "nice" step (1, 2 or 5 × 10^k, or `minStep` if larger) covering [lo, hi]
 * with roughly `target` intervals.
 */
export function niceTicks(lo: number, hi: number, target = 6, minStep = 0): { step: number; ticks: number[] } {
  const rough = (hi - lo) / target;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const residual = rough / magnitude;
  const step = Math.max((residual < 1.5 ? 1 : residual < 3 ? 2 : residual < 7 ? 5 : 10) * magnitude, minStep);
  const ticks: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let k = first; k * step <= hi + step * 1e-9; k++) ticks.push(k * step);
  return { step, ticks };
}

/**
 * Labels for ticks at `step`: one format for the whole axis (so "9000" is not followed by
 * "10k"), with as many decimals as the step needs, "k" when all ticks are round thousands of
 * five digits or more, and exponents for very large or small values.
 */
export function formatTicks(ticks: readonly number[], step: number): string[] {
  const largest = Math.max(step, ...ticks.map(Math.abs));
  const isZero = (value: number) => Math.abs(value) < step * 1e-9;
  if (largest >= 1e6 || step < 1e-4) {
    const digits = Math.max(0, Math.round(Math.log10(largest / step)));
    return ticks.map((value) => (isZero(value) ? '0' : value.toExponential(digits).replace('e+', 'e')));
  }
  if (largest >= 1e4 && step >= 1000 && step % 1000 === 0) {
    return ticks.map((value) => (isZero(value) ? '0' : `${Math.round(value / 1000)}k`));
  }
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return ticks.map((value) => (isZero(value) ? 0 : value).toFixed(decimals));
}

function makeAxis(lo: number, hi: number, pad: number, target: number, minStep = 0): Axis {
  if (!(hi > lo)) {
    const half = Math.abs(lo) * 0.1 || 1;
    lo -= half;
    hi += half;
  }
  const margin = (hi - lo) * pad;
  lo -= margin;
  hi += margin;
  const { step, ticks } = niceTicks(lo, hi, target, minStep);
  return { lo, hi, ticks, labels: formatTicks(ticks, step) };
}

function checkRange(range: readonly [number, number] | undefined, name: string): void {
  if (range && !(Number.isFinite(range[0]) && Number.isFinite(range[1]) && range[1] > range[0])) {
    throw new Error(`${name} must be two finite numbers with lo < hi, got [${range[0]}, ${range[1]}]`);
  }
}

interface Frame extends ClipRect {
  x: Axis;
  y: Axis;
}

const toPixelX = (frame: Frame, value: number) => frame.left + ((value - frame.x.lo) / (frame.x.hi - frame.x.lo)) * (frame.right - frame.left);
const toPixelY = (frame: Frame, value: number) => frame.bottom - ((value - frame.y.lo) / (frame.y.hi - frame.y.lo)) * (frame.bottom - frame.top);

/** Space left of the plot area for y tick labels and the y-axis title. */
function leftMargin(yAxis: Axis, yLabel: string | undefined): number {
  const widest = Math.max(0, ...yAxis.labels.map((label) => measureText(label, TEXT_SCALE).width));
  return 16 + (yLabel ? measureText('X', TEXT_SCALE).height + 14 : 0) + widest + TICK_LENGTH + 6;
}

function drawFrame(canvas: Canvas, frame: Frame, xLabel: string | undefined, yLabel: string | undefined): void {
  const { left, top, right, bottom } = frame;
  for (const tick of frame.x.ticks) {
    const px = Math.round(toPixelX(frame, tick));
    canvas.fillRect(px, top, 1, bottom - top, GRID);
  }
  for (const tick of frame.y.ticks) {
    const py = Math.round(toPixelY(frame, tick));
    canvas.fillRect(left, py, right - left, 1, GRID);
  }
  canvas.strokeRect(left - 1, top - 1, right - left + 2, bottom - top + 2, AXIS);
  frame.x.ticks.forEach((tick, i) => {
    const px = Math.round(toPixelX(frame, tick));
    canvas.fillRect(px, bottom + 1, 1, TICK_LENGTH, AXIS);
    canvas.text(frame.x.labels[i]!, px, bottom + TICK_LENGTH + 6, TEXT, { scale: TEXT_SCALE, align: 'center' });
  });
  let widestYLabel = 0;
  frame.y.ticks.forEach((tick, i) => {
    const py = Math.round(toPixelY(frame, tick));
    canvas.fillRect(left - 1 - TICK_LENGTH, py, TICK_LENGTH, 1, AXIS);
    const { width } = canvas.text(frame.y.labels[i]!, left - TICK_LENGTH - 6, py, TEXT, { scale: TEXT_SCALE, align: 'right', baseline: 'middle' });
    widestYLabel = Math.max(widestYLabel, width);
  });
  const middleX = Math.round((left + right) / 2);
  const middleY = Math.round((top + bottom) / 2);
  if (xLabel) {
    const below = bottom + TICK_LENGTH + 6 + measureText('0', TEXT_SCALE).height + 14;
    canvas.text(xLabel, middleX, below, TEXT, { scale: TEXT_SCALE, align: 'center' });
  }
  if (yLabel) {
    const height = measureText(yLabel, TEXT_SCALE).height;
    const x = left - TICK_LENGTH - 6 - widestYLabel - 14 - height;
    canvas.text(yLabel, x, middleY, TEXT, { scale: TEXT_SCALE, align: 'center', vertical: true });
  }
}

function drawTitle(canvas: Canvas, title: string | undefined, centreX: number): number {
  if (!title) return 16;
  const { height } = canvas.text(title, centreX, 16, TEXT, { scale: TITLE_SCALE, align: 'center' });
  return 16 + height + 16;
}

/** Renders the scatter plot into an RGB image (see `scatterPlot`). */
export function renderScatterPlot(points: readonly ScatterPoint[], options: ScatterOptions = {}): RasterImage {
  const { width = 900, height = 760, legend = true, colors = TAB10, pointRadius = 2, pointAlpha = 0.7 } = options;
  checkRange(options.xRange, 'scatterPlot: xRange');
  checkRange(options.yRange, 'scatterPlot: yRange');
  const finite = points.filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y));
  for (const point of points) {
    if (!Number.isInteger(point.label) || point.label < 0 || point.label >= colors.length) {
      throw new Error(`scatterPlot: label ${point.label} has no colour (labels must be integers 0..${colors.length - 1})`);
    }
  }
  const extent = (pick: (point: ScatterPoint) => number, fixed?: readonly [number, number]): [number, number] => {
    if (fixed) return [fixed[0], fixed[1]];
    if (finite.length === 0) return [0, 1];
    let lo = Infinity, hi = -Infinity;
    for (const point of finite) {
      lo = Math.min(lo, pick(point));
      hi = Math.max(hi, pick(point));
    }
    return [lo, hi];
  };
  const pad = (fixed?: readonly [number, number]) => (fixed ? 0 : 0.05);
  const xAxis = makeAxis(...extent((point) => point.x, options.xRange), pad(options.xRange), 7);
  const yAxis = makeAxis(...extent((point) => point.y, options.yRange), pad(options.yRange), 7);

  const labels = [...new Set(points.map((point) => point.label))].sort((a, b) => a - b);
  const names = labels.map((label) => options.labelNames?.[label] ?? String(label));
  const swatch = 14;
  const legendWidth = legend && labels.length > 0
    ? 24 + Math.max(swatch + 10 + Math.max(...names.map((name) => measureText(name, TEXT_SCALE).width)), options.legendTitle ? measureText(options.legendTitle, TEXT_SCALE).width : 0) + 20
    : 24;

  const canvas = new Canvas(width, height, WHITE);
  const left = leftMargin(yAxis, options.yLabel);
  const right = width - legendWidth;
  const top = drawTitle(canvas, options.title, Math.round((left + right) / 2));
  const bottom = height - (24 + measureText('0', TEXT_SCALE).height + (options.xLabel ? 14 + measureText('X', TEXT_SCALE).height + 10 : 0));
  if (right - left < 20 || bottom - top < 20) throw new Error(`scatterPlot: ${width}×${height} pixels leave no room for the plot`);
  const frame: Frame = { left, top, right, bottom, x: xAxis, y: yAxis };
  drawFrame(canvas, frame, options.xLabel, options.yLabel);

  canvas.clip = { left, top, right, bottom };
  for (const point of finite) {
    canvas.disc(toPixelX(frame, point.x), toPixelY(frame, point.y), pointRadius, colors[point.label]!, pointAlpha);
  }
  canvas.clip = undefined;

  if (legend && labels.length > 0) {
    const x = right + 24;
    let y = top;
    if (options.legendTitle) {
      canvas.text(options.legendTitle, x, y, TEXT, { scale: TEXT_SCALE });
      y += measureText('X', TEXT_SCALE).height + 14;
    }
    labels.forEach((label, i) => {
      canvas.fillRect(x, y, swatch, swatch, colors[label]!);
      canvas.text(names[i]!, x + swatch + 10, y + swatch / 2, TEXT, { scale: TEXT_SCALE, baseline: 'middle' });
      y += swatch + 12;
    });
  }
  return canvasToImage(canvas);
}

/**
 * Saves a scatter plot of `points`, each coloured by its label, with axes, ticks, an optional
 * title and axis titles, and a legend of the labels present at the right.
 */
export function scatterPlot(path: string, points: readonly ScatterPoint[], options: ScatterOptions = {}): RasterImage {
  const image = renderScatterPlot(points, options);
  writePng(path, image);
  return image;
}

/**
 * Centred moving average over `window` points, ignoring non-finite values. Near the ends the
 * window shrinks symmetrically, so the curve starts and ends at the data instead of bending.
 */
export function movingAverage(values: readonly number[], window: number): number[] {
  const prefixSum = [0];
  const prefixCount = [0];
  for (const value of values) {
    const ok = Number.isFinite(value);
    prefixSum.push(prefixSum.at(-1)! + (ok ? value : 0));
    prefixCount.push(prefixCount.at(-1)! + (ok ? 1 : 0));
  }
  const halfWindow = Math.floor(window / 2);
  return values.map((_, i) => {
    const half = Math.min(halfWindow, i, values.length - 1 - i);
    const from = i - half;
    const to = i + half + 1;
    const count = prefixCount[to]! - prefixCount[from]!;
    return count > 0 ? (prefixSum[to]! - prefixSum[from]!) / count : NaN;
  });
}

function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

/** Renders the line chart into an RGB image (see `lineChart`). */
export function renderLineChart(series: readonly LineSeries[], options: LineChartOptions = {}): RasterImage {
  const { width = 960, height = 600, smoothing = 1, xStart = 0, xStep = 1 } = options;
  if (series.length === 0) throw new Error('lineChart: no series given');
  if (!Number.isInteger(smoothing) || smoothing < 1) throw new Error(`lineChart: smoothing must be a positive integer window, got ${smoothing}`);
  if (!Number.isFinite(xStart) || !(xStep > 0)) throw new Error(`lineChart: xStart must be finite and xStep positive, got ${xStart}, ${xStep}`);
  checkRange(options.yRange, 'lineChart: yRange');
  const smoothed = series.map((line) => (smoothing > 1 ? movingAverage(line.values, smoothing) : [...line.values]));
  const colors = series.map((line, i) => line.color ?? TAB10[i % TAB10.length]!);

  let yLo = Infinity, yHi = -Infinity;
  if (options.yRange) {
    [yLo, yHi] = options.yRange;
  } else {
    // Raw losses have spikes (first steps, GAN instabilities) that would squash the curves;
    // the range covers the smoothed curves and all but the most extreme 1% of raw values.
    const raw = series.flatMap((line) => line.values.filter(Number.isFinite)).sort((a, b) => a - b);
    if (raw.length > 0) {
      const keep = smoothing > 1 ? 0.01 : 0;
      yLo = quantile(raw, keep);
      yHi = quantile(raw, 1 - keep);
    }
    for (const values of smoothed) {
      for (const value of values) {
        if (!Number.isFinite(value)) continue;
        yLo = Math.min(yLo, value);
        yHi = Math.max(yHi, value);
      }
    }
    if (!Number.isFinite(yLo)) [yLo, yHi] = [0, 1];
  }
  const longest = Math.max(...series.map((line) => line.values.length));
  // Steps and epochs are whole numbers: no ticks between them.
  const wholeX = Number.isInteger(xStart) && Number.isInteger(xStep);
  const xAxis = makeAxis(xStart, xStart + Math.max(longest - 1, 1) * xStep, 0.01, 8, wholeX ? 1 : 0);
  const yAxis = makeAxis(yLo, yHi, options.yRange ? 0 : 0.05, 6);

  const canvas = new Canvas(width, height, WHITE);
  const left = leftMargin(yAxis, options.yLabel);
  const right = width - 32;
  let top = drawTitle(canvas, options.title, Math.round((left + right) / 2));

  // Legend: one row of "■ name" entries above the plot, where it can never hide a curve.
  const swatch = 14;
  const entries = series.map((line) => swatch + 8 + measureText(line.name, TEXT_SCALE).width);
  const rowWidth = entries.reduce((sum, entry) => sum + entry, 0) + 28 * (entries.length - 1);
  let x = Math.round((left + right) / 2 - rowWidth / 2);
  series.forEach((line, i) => {
    canvas.fillRect(x, top, swatch, swatch, colors[i]!);
    canvas.text(line.name, x + swatch + 8, top + swatch / 2, TEXT, { scale: TEXT_SCALE, baseline: 'middle' });
    x += entries[i]! + 28;
  });
  top += swatch + 18;

  const bottom = height - (24 + measureText('0', TEXT_SCALE).height + (options.xLabel ? 14 + measureText('X', TEXT_SCALE).height + 10 : 0));
  if (right - left < 20 || bottom - top < 20) throw new Error(`lineChart: ${width}×${height} pixels leave no room for the plot`);
  const frame: Frame = { left, top, right, bottom, x: xAxis, y: yAxis };
  drawFrame(canvas, frame, options.xLabel, options.yLabel);

  canvas.clip = { left, top, right, bottom };
  const xs = series.map((line) => line.values.map((_, k) => toPixelX(frame, xStart + k * xStep)));
  // All faint raw curves first, so that no raw band covers another series' smoothed curve.
  if (smoothing > 1) {
    series.forEach((line, i) => canvas.polyline(xs[i]!, line.values.map((value) => toPixelY(frame, value)), colors[i]!, 1.5, 0.2));
  }
  series.forEach((_, i) => canvas.polyline(xs[i]!, smoothed[i]!.map((value) => toPixelY(frame, value)), colors[i]!, 2.5, 1));
  canvas.clip = undefined;
  return canvasToImage(canvas);
}

/**
 * Saves a line chart of one or more series against their index (loss curves over steps), with
 * a legend row above the plot, axes with ticks, and optional smoothing.
 */
export function lineChart(path: string, series: readonly LineSeries[], options: LineChartOptions = {}): RasterImage {
  const image = renderLineChart(series, options);
  writePng(path, image);
  return image;
}
