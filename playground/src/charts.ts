// The page's two charts, drawn as SVG: grouped bars (GFLOP/s by rung and size) and a line chart
// (loss by training step). Both are redrawn whole when their data change: a few dozen elements.

import { fmt, s } from './dom.ts';

const WIDTH = 640;
const HEIGHT = 260;
const MARGIN = { left: 56, right: 12, top: 12, bottom: 44 };
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2'];

/** "Nice" round ticks from 0 to at least `max`. */
function ticks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const step = [1, 2, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((st) => st >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 0.999; v += step) out.push(v);
  return out;
}

function frame(svg: SVGElement, yTicks: number[], yMax: number, yLabel: string, yMin = 0): (v: number) => number {
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (v: number) => MARGIN.top + plotH * (1 - (v - yMin) / (yMax - yMin));
  for (const t of yTicks) {
    svg.append(s('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(t), y2: y(t), class: 'grid' }));
    svg.append(s('text', { x: MARGIN.left - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'tick' }, fmt(t)));
  }
  svg.append(s('text', { x: 14, y: MARGIN.top + plotH / 2, transform: `rotate(-90 14 ${MARGIN.top + plotH / 2})`, 'text-anchor': 'middle', class: 'axis' }, yLabel));
  return y;
}

export interface BarChart {
  /** Along x: the rungs. */
  categories: string[];
  /** One bar per series in each category: the sizes. */
  series: string[];
  /** values[category][series]; undefined: not measured (yet), or it failed. */
  values: (number | undefined)[][];
  yLabel: string;
}

export function barChart(c: BarChart): SVGElement {
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img' });
  const max = Math.max(0, ...c.values.flat().filter((v): v is number => v !== undefined));
  const yTicks = ticks(max);
  const y = frame(svg, yTicks, yTicks[yTicks.length - 1], c.yLabel);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const groupW = plotW / Math.max(1, c.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, c.series.length);
  c.categories.forEach((cat, i) => {
    const x0 = MARGIN.left + i * groupW + groupW * 0.1;
    c.series.forEach((name, j) => {
      const v = c.values[i]?.[j];
      if (v === undefined) return;
      const bar = s('rect', { x: x0 + j * barW, y: y(v), width: Math.max(1, barW - 2), height: Math.max(0, y(0) - y(v)), fill: COLORS[j % COLORS.length] });
      bar.append(s('title', {}, `${cat}, ${name}: ${fmt(v)} ${c.yLabel}`));
      svg.append(bar);
    });
    svg.append(s('text', { x: x0 + groupW * 0.4, y: HEIGHT - MARGIN.bottom + 16, 'text-anchor': 'middle', class: 'tick' }, cat));
  });
  // Legend: one swatch per series, under the axis.
  c.series.forEach((name, j) => {
    const x = MARGIN.left + j * 130;
    svg.append(s('rect', { x, y: HEIGHT - 16, width: 10, height: 10, fill: COLORS[j % COLORS.length] }));
    svg.append(s('text', { x: x + 14, y: HEIGHT - 7, class: 'tick' }, name));
  });
  return svg;
}

export interface LineChart {
  values: number[];
  xLabel: string;
  yLabel: string;
}

/** One series against its index (the training step), with the y axis starting near its minimum. */
export function lineChart(c: LineChart): SVGElement {
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img' });
  const finite = c.values.filter(Number.isFinite);
  const max = finite.length ? Math.max(...finite) : 1;
  const min = finite.length ? Math.min(...finite) : 0;
  const span = ticks(max - min || 1);
  const step = span[1] - span[0];
  const yMin = Math.floor(min / step) * step;
  const yTicks = ticks(max - yMin).map((t) => t + yMin);
  const y = frame(svg, yTicks, yTicks[yTicks.length - 1], c.yLabel, yMin);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const n = Math.max(2, c.values.length);
  const x = (i: number) => MARGIN.left + (plotW * i) / (n - 1);
  for (const t of ticks(n - 1, 6)) {
    if (t > n - 1 || !Number.isInteger(t)) continue;
    svg.append(s('text', { x: x(t), y: HEIGHT - MARGIN.bottom + 16, 'text-anchor': 'middle', class: 'tick' }, fmt(t)));
  }
  svg.append(s('text', { x: MARGIN.left + plotW / 2, y: HEIGHT - 8, 'text-anchor': 'middle', class: 'axis' }, c.xLabel));
  const points = c.values.map((v, i) => (Number.isFinite(v) ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : '')).filter(Boolean);
  if (points.length) svg.append(s('polyline', { points: points.join(' '), class: 'line' }));
  return svg;
}
