// The layer shapes of the models in docs/models.md (and the MLP example), at their
// training batch sizes: what the bench measures kernels on, so that a row's number says something
// about a training step. Shapes per layer, NHWC; B is the batch.

import type { Padding } from './peer-ops.ts';

export const VAE_BATCH = 128;
export const GAN_BATCH = 256;
export const MLP_BATCH = 128;

export interface DenseLayer {
  /** 'mlp.fc1', 'vae.enc.dense', ... */
  name: string;
  batch: number;
  in: number;
  out: number;
  bias: boolean;
  activation: 'linear' | 'relu';
}

export const DENSE_LAYERS: DenseLayer[] = [
  { name: 'mlp.fc1', batch: MLP_BATCH, in: 784, out: 256, bias: true, activation: 'relu' },
  { name: 'mlp.fc2', batch: MLP_BATCH, in: 256, out: 10, bias: true, activation: 'linear' },
  { name: 'vae.enc.dense', batch: VAE_BATCH, in: 3136, out: 16, bias: true, activation: 'relu' },
  { name: 'vae.enc.zMean', batch: VAE_BATCH, in: 16, out: 2, bias: true, activation: 'linear' },
  { name: 'vae.dec.dense', batch: VAE_BATCH, in: 2, out: 3136, bias: true, activation: 'relu' },
  { name: 'gan.gen.dense', batch: GAN_BATCH, in: 100, out: 12544, bias: false, activation: 'linear' },
  { name: 'gan.disc.dense', batch: GAN_BATCH, in: 6272, out: 1, bias: true, activation: 'linear' },
];

export interface ConvLayer {
  name: string;
  batch: number;
  transposed: boolean;
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  k: number;
  stride: number;
  padding: Padding;
}

function conv(name: string, batch: number, transposed: boolean, inHW: number, inC: number, outC: number, k: number, stride: number): ConvLayer {
  return { name, batch, transposed, inH: inHW, inW: inHW, inC, outC, k, stride, padding: 'same' };
}

export const CONV_LAYERS: ConvLayer[] = [
  conv('vae.enc.conv1', VAE_BATCH, false, 28, 1, 32, 3, 2),
  conv('vae.enc.conv2', VAE_BATCH, false, 14, 32, 64, 3, 2),
  conv('vae.dec.convT1', VAE_BATCH, true, 7, 64, 64, 3, 2),
  conv('vae.dec.convT2', VAE_BATCH, true, 14, 64, 32, 3, 2),
  conv('vae.dec.convT3', VAE_BATCH, true, 28, 32, 1, 3, 1),
  conv('gan.gen.convT1', GAN_BATCH, true, 7, 256, 128, 5, 1),
  conv('gan.gen.convT2', GAN_BATCH, true, 7, 128, 64, 5, 2),
  conv('gan.gen.convT3', GAN_BATCH, true, 14, 64, 1, 5, 2),
  conv('gan.disc.conv1', GAN_BATCH, false, 28, 1, 64, 5, 2),
  conv('gan.disc.conv2', GAN_BATCH, false, 14, 64, 128, 5, 2),
  conv('cgan.disc.conv1', GAN_BATCH, false, 28, 11, 64, 5, 2),
];

/** Tensors that pass through BatchNorm, LeakyReLU and Dropout in the GAN (NHWC, or [B, features]). */
export const GAN_ACTIVATIONS: { name: string; shape: number[]; batchNorm: boolean; dropout: boolean }[] = [
  { name: 'gan.gen.dense', shape: [GAN_BATCH, 12544], batchNorm: true, dropout: false },
  { name: 'gan.gen.convT1', shape: [GAN_BATCH, 7, 7, 128], batchNorm: true, dropout: false },
  { name: 'gan.gen.convT2', shape: [GAN_BATCH, 14, 14, 64], batchNorm: true, dropout: false },
  { name: 'gan.disc.conv1', shape: [GAN_BATCH, 14, 14, 64], batchNorm: false, dropout: true },
  { name: 'gan.disc.conv2', shape: [GAN_BATCH, 7, 7, 128], batchNorm: false, dropout: true },
];

/** Weight shape: HWIO for conv, [kh, kw, outC, inC] for transposed conv. */
export function convWeightShape(l: ConvLayer): number[] {
  return l.transposed ? [l.k, l.k, l.outC, l.inC] : [l.k, l.k, l.inC, l.outC];
}

export function convOutShape(l: ConvLayer): number[] {
  const size = (n: number) =>
    l.transposed
      ? l.padding === 'same' ? n * l.stride : (n - 1) * l.stride + l.k
      : l.padding === 'same' ? Math.ceil(n / l.stride) : Math.floor((n - l.k) / l.stride) + 1;
  return [l.batch, size(l.inH), size(l.inW), l.outC];
}

/** Multiply-adds × 2 of the forward pass (each gradient costs the same). */
export function convFlops(l: ConvLayer): number {
  const [, oh, ow] = convOutShape(l);
  return l.transposed ? 2 * l.batch * l.inH * l.inW * l.inC * l.k * l.k * l.outC : 2 * l.batch * oh * ow * l.outC * l.k * l.k * l.inC;
}
