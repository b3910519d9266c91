// Tensor values as text, for tensor.print() (tf.js) / PyTorch's repr: nested brackets, one row
// per line, every number in one width. Large tensors are summarised as NumPy and PyTorch do:
// past `threshold` elements, each axis longer than 2·edgeItems shows its first and last
// edgeItems entries with '…' between. Pure: it formats host values; reading them back is the
// tensor's business.

import type { Shape } from '../kernels/shapes.ts';
import { knownOptions } from './options.ts';

export interface PrintOptions {
  /** Digits after the decimal point for f32 values (default 4). */
  precision?: number;
  /** Summarise tensors with more elements than this (default 1000). */
  threshold?: number;
  /** Entries kept at each end of a summarised axis (default 3). */
  edgeItems?: number;
}

/** The keys of PrintOptions, for Tensor.format() and print() to check. */
export const PRINT_OPTIONS = knownOptions<PrintOptions>({ precision: true, threshold: true, edgeItems: true });

const ELLIPSIS = '…';

/** The positions shown along an axis of `length`: all, or the ends with -1 marking the gap. */
function shownIndices(length: number, summarise: boolean, edge: number): number[] {
  if (!summarise || length <= 2 * edge) return Array.from({ length }, (_, i) => i);
  return [...Array.from({ length: edge }, (_, i) => i), -1, ...Array.from({ length: edge }, (_, i) => length - edge + i)];
}

function numberFormatter(values: number[], integer: boolean, precision: number): (v: number) => string {
  const special = (v: number) => (Number.isNaN(v) ? 'NaN' : v > 0 ? 'Inf' : '-Inf');
  if (integer) return (v) => String(v);
  const finite = values.filter(Number.isFinite);
  const allIntegers = finite.every((v) => Number.isInteger(v) && Math.abs(v) < 1e8);
  if (allIntegers) return (v) => (Number.isFinite(v) ? String(v) : special(v));
  const abs = finite.map(Math.abs).filter((v) => v > 0);
  const scientific = abs.length > 0 && (Math.max(...abs) >= 1e5 || Math.min(...abs) < 1e-4);
  return (v) => {
    if (!Number.isFinite(v)) return special(v);
    if (scientific) return v.toExponential(precision);
    // −0 and values that round to zero print as 0.0000 (no "-0.0000").
    const text = v.toFixed(precision);
    return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
  };
}

/**
 * Formats row-major `values` of `shape`: `integer` for i32/u32 tensors (printed exactly), else
 * f32 with `precision` decimals (scientific notation when the magnitudes call for it).
 */
export function formatValues(values: ArrayLike<number>, shape: Shape, integer: boolean, options: PrintOptions = {}): string {
  const { precision = 4, threshold = 1000, edgeItems = 3 } = options;
  if (!Number.isInteger(precision) || precision < 0 || precision > 20) throw new RangeError(`print: precision must be an integer in 0..20, got ${precision}`);
  if (!Number.isInteger(edgeItems) || edgeItems < 1) throw new RangeError(`print: edgeItems must be a positive integer, got ${edgeItems}`);
  if (!(threshold >= 0)) throw new RangeError(`print: threshold must be a non-negative number, got ${threshold}`);
  if (shape.length === 0) return numberFormatter([values[0]], integer, precision)(values[0]);
  const summarise = values.length > threshold;
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const axes = shape.map((d) => shownIndices(d, summarise, edgeItems));

  // The values actually shown decide the format and the width.
  const shown: number[] = [];
  const collect = (axis: number, offset: number) => {
    for (const i of axes[axis]) {
      if (i < 0) continue;
      if (axis === shape.length - 1) shown.push(values[offset + i]);
      else collect(axis + 1, offset + i * strides[axis]);
    }
  };
  collect(0, 0);
  const format = numberFormatter(shown, integer, precision);
  const width = Math.max(1, ...shown.map((v) => format(v).length));

  const render = (axis: number, offset: number): string => {
    if (shape[axis] === 0) return '[]';
    if (axis === shape.length - 1) {
      return `[${axes[axis].map((i) => (i < 0 ? ELLIPSIS : format(values[offset + i]).padStart(width))).join(', ')}]`;
    }
    const indent = ' '.repeat(axis + 1);
    // Blank lines between blocks of rank ≥ 3, as NumPy.
    const separator = ',\n' + '\n'.repeat(Math.max(0, shape.length - axis - 2)) + indent;
    return `[${axes[axis].map((i) => (i < 0 ? ELLIPSIS : render(axis + 1, offset + i * strides[axis]))).join(separator)}]`;
  };
  return render(0, 0);
}
