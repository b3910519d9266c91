// What a bench case asks of a peer library, as plain data: the peer module (bench/peer/)
// interprets it, so the case list never imports a peer. Shapes follow our conventions (NHWC,
// conv weights HWIO [kh, kw, inC, outC], transposed-conv weights [kh, kw, outC, inC]).

import type { ModelConfigs, ModelKind } from '../src/models/kinds.ts';

export type Shape = readonly number[];
export type Padding = 'same' | 'valid';

export type PeerOp =
  | { op: 'matmul'; a: Shape; b: Shape; transA: boolean; transB: boolean; bias?: boolean; activation?: 'linear' | 'relu' }
  | { op: 'unary'; fn: 'relu' | 'leakyRelu' | 'sigmoid' | 'tanh'; shape: Shape; alpha?: number }
  | { op: 'binary'; fn: 'add' | 'mul'; a: Shape; b: Shape }
  | { op: 'sum'; shape: Shape; axes: number[] }
  /** y = conv2d(x, w); inputGrad: dL/dx from dy; weightGrad: dL/dw from x and dy. */
  | { op: 'conv2d' | 'conv2dInputGrad' | 'conv2dWeightGrad'; x: Shape; w: Shape; stride: number; padding: Padding }
  /** y = conv2dTranspose(x, w) and its two gradients. */
  | { op: 'conv2dTranspose' | 'conv2dTransposeInputGrad' | 'conv2dTransposeWeightGrad'; x: Shape; w: Shape; stride: number; padding: Padding }
  /** Training-mode batch norm over every axis but the last; `backward`: forward and gradients. */
  | { op: 'batchNorm'; shape: Shape; epsilon: number; backward: boolean };

/** Output size of a 'same' or 'valid' convolution along one axis (TensorFlow's rules). */
export function convOutSize(inSize: number, k: number, stride: number, padding: Padding): number {
  return padding === 'same' ? Math.ceil(inSize / stride) : Math.floor((inSize - k) / stride) + 1;
}

/** Output size of a transposed convolution along one axis. */
export function convTransposeOutSize(inSize: number, k: number, stride: number, padding: Padding): number {
  return padding === 'same' ? inSize * stride : (inSize - 1) * stride + k;
}

/**
 * A whole training step a peer can run: the seed model of that kind built from `config` (what
 * createModel takes), at a batch size, on a fixed batch of pixels in `pixelRange` (the range our
 * side's data loader is asked for). The peer builds the same model and reads its architecture,
 * initial weights and optimiser settings from it, so both sides train the same network.
 */
export type PeerTrainStep = {
  [K in ModelKind]: { model: K; batch: number; config: ModelConfigs[K]; pixelRange: readonly [number, number] };
}[ModelKind];
