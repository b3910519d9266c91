// A small RGB raster for plots: crisp axis-aligned rectangles for axes and ticks, anti-aliased
// lines and discs for data, and bitmap-font text. Anti-aliasing uses pixel coverage estimated
// from the distance between the pixel centre and the shape, which is enough for plot strokes.

import { forEachInkedPixel, GLYPH_ASCENT, textWidth } from './font.ts';
import type { RasterImage, Rgb } from './png.ts';

export interface TextOptions {
  /** Size multiplier of the 5×7 font (1 = 7 px cap height). Default 2. */
  scale?: number;
  /** Which part of the text sits at x. Default 'left'. */
  align?: 'left' | 'center' | 'right';
  /** Which part of the text sits at y: its top, the middle of the capitals, or the baseline. */
  baseline?: 'top' | 'middle' | 'bottom';
  /** Runs the text upwards (rotated 90° counter-clockwise), as for a y-axis title. */
  vertical?: boolean;
}

export interface ClipRect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export class Canvas {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
  /** Data strokes (lines, discs) are confined to this rectangle when set. */
  clip: ClipRect | undefined;

  constructor(width: number, height: number, background: Rgb = [255, 255, 255]) {
    this.width = width;
    this.height = height;
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.data.set(background, i * 3);
  }

  /** Mixes `color` into pixel (x, y) with opacity `alpha`; pixels outside are ignored. */
  blend(x: number, y: number, color: Rgb, alpha: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || !(alpha > 0)) return;
    const at = (y * this.width + x) * 3;
    const a = Math.min(alpha, 1);
    for (let c = 0; c < 3; c++) this.data[at + c] = Math.round(this.data[at + c]! * (1 - a) + color[c]! * a);
  }

  fillRect(x: number, y: number, width: number, height: number, color: Rgb, alpha = 1): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + width));
    const y1 = Math.min(this.height, Math.round(y + height));
    for (let py = y0; py < y1; py++) for (let px = x0; px < x1; px++) this.blend(px, py, color, alpha);
  }

  /** A one-pixel outline just inside the rectangle. */
  strokeRect(x: number, y: number, width: number, height: number, color: Rgb): void {
    this.fillRect(x, y, width, 1, color);
    this.fillRect(x, y + height - 1, width, 1, color);
    this.fillRect(x, y, 1, height, color);
    this.fillRect(x + width - 1, y, 1, height, color);
  }

  /**
   * An anti-aliased polyline of `lineWidth` pixels through (xs[i], ys[i]); non-finite points
   * break the line. Coverage is merged per pixel (max) before blending, so joints and
   * overlapping segments do not darken a translucent line.
   */
  polyline(xs: ArrayLike<number>, ys: ArrayLike<number>, color: Rgb, lineWidth = 2, alpha = 1): void {
    const coverage = new Float32Array(this.width * this.height);
    const touched: ClipRect = { left: this.width, top: this.height, right: 0, bottom: 0 };
    const half = lineWidth / 2;
    for (let i = 0; i < xs.length; i++) {
      // A lone point (or the first of a run) is drawn as a zero-length segment: a dot.
      const from = i > 0 && Number.isFinite(xs[i - 1]! + ys[i - 1]!) ? i - 1 : i;
      if (!Number.isFinite(xs[i]! + ys[i]!)) continue;
      if (from === i && i + 1 < xs.length && Number.isFinite(xs[i + 1]! + ys[i + 1]!)) continue;
      // Lone dots get a wider pen, or they would be hard to see next to lines.
      this.segmentCoverage(xs[from]!, ys[from]!, xs[i]!, ys[i]!, from === i ? half * 2 : half, coverage, touched);
    }
    for (let py = touched.top; py < touched.bottom; py++) {
      for (let px = touched.left; px < touched.right; px++) {
        const amount = coverage[py * this.width + px]!;
        if (amount > 0) this.blend(px, py, color, amount * alpha);
      }
    }
  }

  private segmentCoverage(
    ax: number, ay: number, bx: number, by: number, half: number, coverage: Float32Array, touched: ClipRect,
  ): void {
    const reach = half + 1;
    const { left, top, right, bottom } = this.clip ?? { left: 0, top: 0, right: this.width, bottom: this.height };
    const x0 = Math.max(Math.floor(Math.min(ax, bx) - reach), left, 0);
    const x1 = Math.min(Math.ceil(Math.max(ax, bx) + reach), right, this.width);
    const y0 = Math.max(Math.floor(Math.min(ay, by) - reach), top, 0);
    const y1 = Math.min(Math.ceil(Math.max(ay, by) + reach), bottom, this.height);
    if (x0 >= x1 || y0 >= y1) return;
    touched.left = Math.min(touched.left, x0);
    touched.right = Math.max(touched.right, x1);
    touched.top = Math.min(touched.top, y0);
    touched.bottom = Math.max(touched.bottom, y1);
    const dx = bx - ax, dy = by - ay;
    const lengthSquared = dx * dx + dy * dy;
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        const cx = px + 0.5 - ax, cy = py + 0.5 - ay;
        const t = lengthSquared > 0 ? Math.min(1, Math.max(0, (cx * dx + cy * dy) / lengthSquared)) : 0;
        const distance = Math.hypot(cx - t * dx, cy - t * dy);
        const amount = Math.min(1, half + 0.5 - distance);
        const index = py * this.width + px;
        if (amount > coverage[index]!) coverage[index] = amount;
      }
    }
  }

  /** An anti-aliased filled disc centred at (cx, cy). */
  disc(cx: number, cy: number, radius: number, color: Rgb, alpha = 1): void {
    const { left, top, right, bottom } = this.clip ?? { left: 0, top: 0, right: this.width, bottom: this.height };
    const x0 = Math.max(Math.floor(cx - radius - 1), left, 0);
    const x1 = Math.min(Math.ceil(cx + radius + 1), right, this.width);
    const y0 = Math.max(Math.floor(cy - radius - 1), top, 0);
    const y1 = Math.min(Math.ceil(cy + radius + 1), bottom, this.height);
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        const amount = Math.min(1, radius + 0.5 - Math.hypot(px + 0.5 - cx, py + 0.5 - cy));
        if (amount > 0) this.blend(px, py, color, amount * alpha);
      }
    }
  }

  /** Draws `text` and returns its size in pixels (before any rotation). */
  text(text: string, x: number, y: number, color: Rgb, options: TextOptions = {}): { width: number; height: number } {
    const { scale = 2, align = 'left', baseline = 'top', vertical = false } = options;
    const width = textWidth(text) * scale;
    const height = GLYPH_ASCENT * scale;
    const alongShift = align === 'left' ? 0 : align === 'center' ? -width / 2 : -width;
    const acrossShift = baseline === 'top' ? 0 : baseline === 'middle' ? -height / 2 : -height;
    const startAlong = Math.round(alongShift);
    const startAcross = Math.round(acrossShift);
    forEachInkedPixel(text, (gx, gy) => {
      const along = startAlong + gx * scale;
      const across = startAcross + gy * scale;
      if (vertical) this.fillRect(x + across, y - along - scale, scale, scale, color);
      else this.fillRect(x + along, y + across, scale, scale, color);
    });
    return { width, height };
  }
}

export function measureText(text: string, scale = 2): { width: number; height: number } {
  return { width: textWidth(text) * scale, height: GLYPH_ASCENT * scale };
}

export function canvasToImage(canvas: Canvas): RasterImage {
  return { width: canvas.width, height: canvas.height, channels: 3, data: canvas.data };
}
