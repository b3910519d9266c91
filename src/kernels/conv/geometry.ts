// Convolution geometry, shared by the conv kernels, their references and the ops above them.
//
// Everything follows TensorFlow (and so Keras and TensorFlow.js):
//   'valid'  out = floor((in − k) / stride) + 1, no padding; the input must be at least k.
//   'same'   out = ceil(in / stride); total padding = max((out − 1)·stride + k − in, 0), split with
//            the smaller half before (top/left) and the larger half after (bottom/right).
// A transposed convolution is defined as the input-gradient of the convolution that maps its
// output back to its input. Its output size is Keras's (Conv2DTranspose without output_padding):
//   'same'   out = in·stride
//   'valid'  out = in·stride + max(k − stride, 0)   (= (in − 1)·stride + k whenever k ≥ stride)
// and its padding is that convolution's padding, computed from (out, k, stride) by the rules above.

import { formatShape, type Shape } from '../shapes.ts';

export type Padding = 'same' | 'valid';

/**
 * One convolution, seen from the forward direction: x [batch, inH, inW, inC] with HWIO weights
 * [kH, kW, inC, outC] gives y [batch, outH, outW, outC]. The input-gradient and weight-gradient
 * kernels (and the transposed convolution) use the same description.
 */
export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
}

export type Pair = number | readonly [number, number];

export function pair(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function checkStride(op: string, stride: [number, number]): void {
  for (const s of stride) {
    if (!Number.isInteger(s) || s <= 0) throw new RangeError(`${op}: strides must be positive integers, got [${stride.join(', ')}]`);
  }
}

function checkPadding(op: string, padding: string): void {
  if (padding !== 'same' && padding !== 'valid') throw new RangeError(`${op}: padding must be 'same' or 'valid', got '${padding}'`);
}

/** Output length and padding before, along one spatial axis. */
export function convAxis(inSize: number, k: number, stride: number, padding: Padding): { out: number; padBefore: number } {
  if (padding === 'valid') return { out: Math.floor((inSize - k) / stride) + 1, padBefore: 0 };
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + k - inSize, 0);
  return { out, padBefore: Math.floor(total / 2) };
}

/** Output length of a transposed convolution along one axis (Keras's deconv_output_length). */
export function convTransposeAxis(inSize: number, k: number, stride: number, padding: Padding): number {
  return padding === 'same' ? inSize * stride : inSize * stride + Math.max(k - stride, 0);
}

/**
 * Geometry of conv2d(x, w): checks ranks, the channel match, strides, and that a 'valid'
 * input is at least as large as the kernel. Errors name the shapes; nothing touches the GPU.
 */
export function conv2dGeometry(xShape: Shape, wShape: Shape, strides: Pair, padding: Padding, op = 'conv2d'): ConvGeometry {
  if (xShape.length !== 4) throw new RangeError(`${op}: input must be 4-D [batch, height, width, channels] (NHWC), got ${formatShape(xShape)}`);
  if (wShape.length !== 4) throw new RangeError(`${op}: weights must be 4-D [kh, kw, inC, outC] (HWIO), got ${formatShape(wShape)}`);
  const stride = pair(strides);
  checkStride(op, stride);
  checkPadding(op, padding);
  const [batch, inH, inW, inC] = xShape;
  const [kH, kW, wIn, outC] = wShape;
  if (wIn !== inC) {
    throw new RangeError(`${op}: input ${formatShape(xShape)} has ${inC} channels but weights ${formatShape(wShape)} expect ${wIn} (HWIO [kh, kw, inC, outC])`);
  }
  if (kH < 1 || kW < 1 || outC < 1) throw new RangeError(`${op}: weights ${formatShape(wShape)} must have positive kernel size and channel count`);
  if (padding === 'valid' && (kH > inH || kW > inW)) {
    throw new RangeError(`${op}: kernel ${kH}×${kW} of ${formatShape(wShape)} is larger than the input ${formatShape(xShape)} with 'valid' padding`);
  }
  const h = convAxis(inH, kH, stride[0], padding);
  const w = convAxis(inW, kW, stride[1], padding);
  return {
    batch, inH, inW, inC, outH: h.out, outW: w.out, outC, kH, kW,
    strideH: stride[0], strideW: stride[1], padTop: h.padBefore, padLeft: w.padBefore,
  };
}

/**
 * Geometry of conv2dTranspose(x, w) with x [batch, h, w, inC] and weights [kh, kw, outC, inC],
 * expressed as the forward convolution it is the input-gradient of: that convolution reads the
 * transposed output (outC channels) and writes the transposed input (inC channels).
 */
export function conv2dTransposeGeometry(xShape: Shape, wShape: Shape, strides: Pair, padding: Padding, op = 'conv2dTranspose'): ConvGeometry {
  if (xShape.length !== 4) throw new RangeError(`${op}: input must be 4-D [batch, height, width, channels] (NHWC), got ${formatShape(xShape)}`);
  if (wShape.length !== 4) throw new RangeError(`${op}: weights must be 4-D [kh, kw, outC, inC], got ${formatShape(wShape)}`);
  const stride = pair(strides);
  checkStride(op, stride);
  checkPadding(op, padding);
  const [batch, h, w, inC] = xShape;
  const [kH, kW, outC, wIn] = wShape;
  if (wIn !== inC) {
    throw new RangeError(`${op}: input ${formatShape(xShape)} has ${inC} channels but weights ${formatShape(wShape)} expect ${wIn} ([kh, kw, outC, inC])`);
  }
  if (kH < 1 || kW < 1 || outC < 1) throw new RangeError(`${op}: weights ${formatShape(wShape)} must have positive kernel size and channel count`);
  const outH = convTransposeAxis(h, kH, stride[0], padding);
  const outW = convTransposeAxis(w, kW, stride[1], padding);
  const g = conv2dGeometry([batch, outH, outW, outC], [kH, kW, outC, inC], stride, padding, op);
  if (g.outH !== h || g.outW !== w) throw new Error(`internal: ${op} geometry does not invert (${g.outH}×${g.outW} vs ${h}×${w})`);
  return g;
}

/** Multiply-adds of the convolution, times two: the same for forward, input- and weight-gradient. */
export function convFlops(g: ConvGeometry): number {
  return 2 * g.batch * g.outH * g.outW * g.outC * g.kH * g.kW * g.inC;
}

export function convInputShape(g: ConvGeometry): number[] {
  return [g.batch, g.inH, g.inW, g.inC];
}
export function convOutputShape(g: ConvGeometry): number[] {
  return [g.batch, g.outH, g.outW, g.outC];
}
export function convWeightShape(g: ConvGeometry): number[] {
  return [g.kH, g.kW, g.inC, g.outC];
}
