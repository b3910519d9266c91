// PNG files and image grids. Models hand over float images (NHWC, values in some range such as
// [0, 1] for the VAE or [-1, 1] for the GAN's tanh); `imageGrid` maps them to bytes and tiles
// them into one picture, the way torchvision's make_grid does, so a person sees many samples at
// once. Encoding and decoding are pngjs's; this file only adds the layout, value mapping,
// validation and atomic writes.

import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { writeFileAtomic } from './atomic.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

export type PixelChannels = 1 | 3 | 4;

/** 8-bit pixels, row-major, `channels` interleaved bytes per pixel (gray, RGB or RGBA). */
export interface RasterImage {
  width: number;
  height: number;
  channels: PixelChannels;
  data: Uint8Array;
}

export type Rgb = readonly [number, number, number];

const IMAGE_GRID_OPTIONS = knownOptions<ImageGridOptions>({ rows: true, cols: true, padding: true, range: true, background: true, channels: true });

export interface ImageGridOptions {
  /** Grid rows; by default just enough for `count` images at `cols` per row. */
  rows?: number;
  /** Grid columns; by default ceil(sqrt(count)), or enough for `count` images in `rows`. */
  cols?: number;
  /** Pixels between cells and around the border. Default 2. */
  padding?: number;
  /** Image values mapped to 0 and 255; values outside are clamped. Default [0, 1]. */
  range?: readonly [number, number];
  /** Byte value (0–255) or RGB triple of the padding and of empty cells. Default 128 (mid gray). */
  background?: number | Rgb;
  /** Channels per input pixel: 1 (gray, e.g. MNIST) or 3 (RGB). Default 1. */
  channels?: 1 | 3;
}

// PNG colour types from the specification's IHDR chunk.
const COLOR_TYPE_BY_CHANNELS = { 1: 0, 3: 2, 4: 6 } as const;

function checkRaster(image: RasterImage, what: string): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${what}: width and height must be positive integers, got ${width}×${height}`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new Error(`${what}: channels must be 1, 3 or 4, got ${String(channels)}`);
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw new Error(`${what}: ${width}×${height}×${channels} needs ${expected} bytes, got ${data.length}`);
  }
}

/** Encodes 8-bit gray, RGB or RGBA pixels as PNG bytes. */
export function encodePng(image: RasterImage): Uint8Array {
  checkRaster(image, 'encodePng');
  const colorType = COLOR_TYPE_BY_CHANNELS[image.channels];
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  // Same input and output colour type: pngjs stores the bytes as they are, no RGBA detour.
  return PNG.sync.write(png, {
    colorType,
    inputColorType: colorType,
    inputHasAlpha: image.channels === 4,
  });
}

/**
 * Decodes PNG bytes. Gray files come back with 1 channel, colour with 3, anything with
 * transparency (alpha channel or tRNS) with 4; 16-bit files are scaled to 8 bits.
 */
export function decodePng(bytes: Uint8Array, sourceName = 'PNG data'): RasterImage {
  let decoded: ReturnType<typeof PNG.sync.read>;
  try {
    decoded = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new Error(`${sourceName} is not a readable PNG: ${(error as Error).message}`);
  }
  const { width, height } = decoded;
  const rgba = decoded.data;
  const channels: PixelChannels = decoded.alpha ? 4 : decoded.color || decoded.palette ? 3 : 1;
  if (channels === 4) return { width, height, channels, data: new Uint8Array(rgba) };
  const pixels = width * height;
  const data = new Uint8Array(pixels * channels);
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < channels; c++) data[i * channels + c] = rgba[i * 4 + c]!;
  }
  return { width, height, channels, data };
}

/** Writes `image` to `path` as PNG, atomically, creating parent folders. */
export function writePng(path: string, image: RasterImage): void {
  checkRaster(image, `writePng(${path})`);
  writeFileAtomic(path, encodePng(image));
}

/** Reads a PNG file; errors name the file. */
export function readPng(path: string): RasterImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read PNG file ${path}: ${(error as Error).message}`);
  }
  return decodePng(bytes, `PNG file ${path}`);
}

/** Rows and columns a grid of `count` cells gets from the (optional) requested ones. */
export function gridShape(count: number, rows?: number, cols?: number): { rows: number; cols: number } {
  for (const [name, value] of [['rows', rows], ['cols', cols]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new Error(`imageGrid: ${name} must be a positive integer, got ${value}`);
    }
  }
  const safeCount = Math.max(count, 1);
  if (rows !== undefined && cols !== undefined) {
    if (rows * cols < count) throw new Error(`imageGrid: ${rows}×${cols} cells cannot hold ${count} images`);
    return { rows, cols };
  }
  if (cols !== undefined) return { rows: Math.ceil(safeCount / cols), cols };
  if (rows !== undefined) return { rows, cols: Math.ceil(safeCount / rows) };
  const side = Math.ceil(Math.sqrt(safeCount));
  return { rows: Math.ceil(safeCount / side), cols: side };
}

/**
 * Tiles `count` images of h×w (NHWC, `channels` per pixel) into one picture, image k at row
 * floor(k / cols), column k % cols. Output is gray, or RGB when the images or the background
 * are in colour. NaN pixels come out as the low end of the range.
 */
export function imageGrid(
  images: Float32Array | Float64Array,
  count: number,
  height: number,
  width: number,
  options: ImageGridOptions = {},
): RasterImage {
  checkOptions('imageGrid', options, IMAGE_GRID_OPTIONS);
  const { padding = 2, range = [0, 1], background = 128 } = options;
  const inChannels = options.channels ?? 1;
  for (const [name, value] of [['count', count], ['height', height], ['width', width]] as const) {
    if (!Number.isInteger(value) || value < (name === 'count' ? 0 : 1)) {
      throw new Error(`imageGrid: ${name} must be a ${name === 'count' ? 'non-negative' : 'positive'} integer, got ${value}`);
    }
  }
  if (inChannels !== 1 && inChannels !== 3) throw new Error(`imageGrid: channels must be 1 or 3, got ${String(inChannels)}`);
  const expected = count * height * width * inChannels;
  if (images.length !== expected) {
    throw new Error(`imageGrid: ${count} images of ${height}×${width}×${inChannels} need ${expected} values, got ${images.length}`);
  }
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`imageGrid: padding must be a non-negative integer, got ${padding}`);
  const [lo, hi] = range;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) {
    throw new Error(`imageGrid: range must be two finite numbers with lo < hi, got [${lo}, ${hi}]`);
  }
  const backgroundRgb: Rgb = typeof background === 'number' ? [background, background, background] : background;
  for (const value of backgroundRgb) {
    if (!Number.isInteger(value) || value < 0 || value > 255) {
      throw new Error(`imageGrid: background values must be integers 0–255, got ${String(background)}`);
    }
  }

  const { rows, cols } = gridShape(count, options.rows, options.cols);
  const gray = inChannels === 1 && backgroundRgb[0] === backgroundRgb[1] && backgroundRgb[1] === backgroundRgb[2];
  const outChannels: PixelChannels = gray ? 1 : 3;
  const outWidth = cols * (width + padding) + padding;
  const outHeight = rows * (height + padding) + padding;
  const data = new Uint8Array(outWidth * outHeight * outChannels);
  for (let i = 0; i < outWidth * outHeight; i++) {
    for (let c = 0; c < outChannels; c++) data[i * outChannels + c] = backgroundRgb[c]!;
  }

  const scale = 255 / (hi - lo);
  for (let k = 0; k < count; k++) {
    const top = padding + Math.floor(k / cols) * (height + padding);
    const left = padding + (k % cols) * (width + padding);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const outPixel = (top + y) * outWidth + left + x;
        const inPixel = (k * height + y) * width + x;
        for (let c = 0; c < outChannels; c++) {
          const value = images[inPixel * inChannels + (inChannels === 1 ? 0 : c)]!;
          const byte = Math.round((value - lo) * scale);
          // `byte > 0` is false for NaN, which therefore lands on 0.
          data[outPixel * outChannels + c] = byte > 0 ? Math.min(byte, 255) : 0;
        }
      }
    }
  }
  return { width: outWidth, height: outHeight, channels: outChannels, data };
}

/** `imageGrid` written to `path` as PNG (atomically); returns the picture. */
export function saveImageGrid(
  path: string,
  images: Float32Array | Float64Array,
  count: number,
  height: number,
  width: number,
  options: ImageGridOptions = {},
): RasterImage {
  checkOptions('saveImageGrid', options, IMAGE_GRID_OPTIONS);
  const grid = imageGrid(images, count, height, width, options);
  writePng(path, grid);
  return grid;
}
