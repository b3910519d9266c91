// A float64 reference of one GAN training step (src/models/gan.ts), in plain loops on the host:
// the generator and discriminator forwards, the BCE-with-logits losses, each network's backward
// from its own loss only, Keras's Adam, and BatchNorm's moving statistics. Nothing here runs on
// the GPU. The convolutions reuse the kernel files' float64 references (plain loops, tested on
// their own); the transposed convolution's forward uses conv2d-transpose.ts's scatter form and
// its gradients use conv2d's references, so no piece is checked against itself. The padding of
// every 'same' convolution is computed here from TensorFlow's rule, not by the project's
// geometry code. Noise and dropout masks come from the hash references (random.ts, dropout.ts)
// with the seeds the model derives (deriveSeed is a pure host function).

import type { ConvGeometry } from '../src/kernels/conv/geometry.ts';
import { conv2dWeightGradReference, conv2dInputGradReference, conv2dReference } from '../src/kernels/conv/conv2d.ts';
import { conv2dTransposeReference } from '../src/kernels/conv/conv2d-transpose.ts';
import { batchNormReference } from '../src/kernels/batchnorm.ts';
import { dropoutReference } from '../src/kernels/dropout.ts';
import { adamReference, type AdamHyper } from '../src/kernels/optimizers.ts';
import { randomReference } from '../src/kernels/random.ts';
import { deriveSeed } from '../src/core/creation.ts';

/** Values by the model's parameter (or buffer) names, e.g. 'deconv1.kernel', 'bn0.moving_mean'. */
export type Named = Map<string, Float64Array>;

export interface GanDims {
  batch: number;
  noiseDim: number;
  numClasses: number;
  conditional: boolean;
  /** Generator channels: dense 7·7·g[0], then the transposed convolutions' g[1], g[2]. */
  g: readonly [number, number, number];
  /** Discriminator channels of conv1 and conv2. */
  d: readonly [number, number];
}

export interface StepSettings {
  /** The model's seed and the step passed to trainStep. */
  seed: number;
  step: number;
  /** Both networks' Adam (first step of each: the optimizers are fresh). */
  adam: AdamHyper;
  bnMomentum: number;
  bnEpsilon: number;
  leakyAlpha: number;
  dropoutRate: number;
  /** The seeds of the discriminator's two Dropout layers (drop1, drop2). */
  dropoutSeeds: readonly [number, number];
  /** cGAN: the matching-aware discriminator loss (real images with wrong digits as a third term). */
  matchingAware?: boolean;
}

export interface GanState {
  g: Named;
  d: Named;
  /** The generator's BatchNorm moving statistics. */
  gBuffers: Named;
}

export interface StepResult {
  dLoss: number;
  gLoss: number;
  /** The gradients the parameters hold after the step (each from its own network's loss only). */
  gGrads: Named;
  dGrads: Named;
  /** Weights and moving statistics after the step. */
  after: GanState;
}

const KERNEL = 5;

/** A 5×5 'same' convolution from size×size×inC to ⌈size/stride⌉²×outC, TensorFlow's padding. */
function sameConv(batch: number, size: number, inC: number, outC: number, stride: number): ConvGeometry {
  const out = Math.ceil(size / stride);
  const pad = Math.floor(Math.max((out - 1) * stride + KERNEL - size, 0) / 2);
  return {
    batch, inH: size, inW: size, inC, outH: out, outW: out, outC,
    kH: KERNEL, kW: KERNEL, strideH: stride, strideW: stride, padTop: pad, padLeft: pad,
  };
}

/** A 5×5 'same' transposed convolution from n×n×inC to (n·stride)²×outC, as the convolution it transposes. */
function sameConvTranspose(batch: number, n: number, inC: number, outC: number, stride: number): ConvGeometry {
  return sameConv(batch, n * stride, outC, inC, stride);
}

function get(p: Named, name: string): Float64Array {
  const v = p.get(name);
  if (!v) throw new Error(`reference: no values for '${name}'`);
  return v;
}

// ---------------------------------------------------------------- layers and their gradients

/** x [rows, inF] · w [inF, outF] (+ bias). */
function dense(x: Float64Array, w: Float64Array, rows: number, inF: number, outF: number, bias?: Float64Array): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < inF; i++) acc += x[r * inF + i] * w[i * outF + o];
      y[r * outF + o] = acc;
    }
  }
  return y;
}

function denseBackward(x: Float64Array, w: Float64Array, dy: Float64Array, rows: number, inF: number, outF: number) {
  const dx = new Float64Array(rows * inF);
  const dw = new Float64Array(inF * outF);
  const db = new Float64Array(outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      const g = dy[r * outF + o];
      db[o] += g;
      for (let i = 0; i < inF; i++) {
        dx[r * inF + i] += g * w[i * outF + o];
        dw[i * outF + o] += x[r * inF + i] * g;
      }
    }
  }
  return { dx, dw, db };
}

function leaky(x: Float64Array, alpha: number): Float64Array {
  return x.map((v) => (v >= 0 ? v : alpha * v));
}

/** dL/dx of LeakyReLU given its input (or output: same sign) x. */
function leakyBackward(dy: Float64Array, x: Float64Array, alpha: number): Float64Array {
  return dy.map((g, i) => (x[i] >= 0 ? g : alpha * g));
}

interface BatchNormTape {
  y: Float64Array;
  mean: Float64Array;
  /** Biased batch variance. */
  variance: Float64Array;
  xhat: Float64Array;
  invStd: Float64Array;
  rows: number;
  channels: number;
}

/** Training-mode BatchNorm over the last axis of x [rows, channels]. */
function batchNorm(x: Float64Array, gamma: Float64Array, beta: Float64Array, rows: number, channels: number, epsilon: number): BatchNormTape {
  const { y, mean, variance } = batchNormReference(x, gamma, beta, { rows, channels }, epsilon);
  const invStd = variance.map((v) => 1 / Math.sqrt(v + epsilon));
  const xhat = x.map((v, i) => (v - mean[i % channels]) * invStd[i % channels]);
  return { y, mean, variance, xhat, invStd, rows, channels };
}

/** Gradients of training-mode BatchNorm (the batch statistics depend on x). */
function batchNormBackward(dy: Float64Array, gamma: Float64Array, t: BatchNormTape) {
  const C = t.channels;
  const dGamma = new Float64Array(C);
  const dBeta = new Float64Array(C);
  for (let i = 0; i < dy.length; i++) {
    dBeta[i % C] += dy[i];
    dGamma[i % C] += dy[i] * t.xhat[i];
  }
  const dx = dy.map((g, i) => {
    const c = i % C;
    return gamma[c] * t.invStd[c] * (g - dBeta[c] / t.rows - (t.xhat[i] * dGamma[c]) / t.rows);
  });
  return { dx, dGamma, dBeta };
}

/** Mean over the batch of BCE(σ(x), target), and its gradient w.r.t. the logits. */
function bceWithLogits(logits: Float64Array, target: number): { loss: number; grad: Float64Array } {
  const n = logits.length;
  let loss = 0;
  for (const x of logits) loss += Math.max(x, 0) - x * target + Math.log1p(Math.exp(-Math.abs(x)));
  const grad = logits.map((x) => (1 / (1 + Math.exp(-x)) - target) / n);
  return { loss: loss / n, grad };
}

function addInto(into: Named, from: Named): void {
  for (const [name, v] of from) {
    const acc = into.get(name);
    if (!acc) into.set(name, Float64Array.from(v));
    else for (let i = 0; i < v.length; i++) acc[i] += v[i];
  }
}

// ---------------------------------------------------------------- the two networks

interface GeneratorTape {
  input: Float64Array;
  bn: [BatchNormTape, BatchNormTape, BatchNormTape];
  /** Inputs of the three transposed convolutions (after LeakyReLU). */
  h: [Float64Array, Float64Array, Float64Array];
  geometry: [ConvGeometry, ConvGeometry, ConvGeometry];
  /** Images [B, 28, 28, 1] in (−1, 1). */
  out: Float64Array;
}

/** Dense (no bias) → BN → LReLU → reshape 7×7×c0 → (ConvT → BN → LReLU) ×2 → ConvT s2 → tanh. */
function generatorForward(p: Named, input: Float64Array, dims: GanDims, s: StepSettings): GeneratorTape {
  const B = dims.batch;
  const [c0, c1, c2] = dims.g;
  const inF = input.length / B;
  const f0 = 7 * 7 * c0;
  const a0 = dense(input, get(p, 'dense.kernel'), B, inF, f0);
  const bn0 = batchNorm(a0, get(p, 'bn0.gamma'), get(p, 'bn0.beta'), B, f0, s.bnEpsilon);
  const h0 = leaky(bn0.y, s.leakyAlpha); // [B, 7·7·c0] is [B, 7, 7, c0] row-major: the reshape moves nothing
  const g1 = sameConvTranspose(B, 7, c0, c1, 1);
  const a1 = conv2dTransposeReference(h0, get(p, 'deconv1.kernel'), g1);
  const bn1 = batchNorm(a1, get(p, 'bn1.gamma'), get(p, 'bn1.beta'), B * 7 * 7, c1, s.bnEpsilon);
  const h1 = leaky(bn1.y, s.leakyAlpha);
  const g2 = sameConvTranspose(B, 7, c1, c2, 2);
  const a2 = conv2dTransposeReference(h1, get(p, 'deconv2.kernel'), g2);
  const bn2 = batchNorm(a2, get(p, 'bn2.gamma'), get(p, 'bn2.beta'), B * 14 * 14, c2, s.bnEpsilon);
  const h2 = leaky(bn2.y, s.leakyAlpha);
  const g3 = sameConvTranspose(B, 14, c2, 1, 2);
  const out = conv2dTransposeReference(h2, get(p, 'deconv3.kernel'), g3).map(Math.tanh);
  return { input, bn: [bn0, bn1, bn2], h: [h0, h1, h2], geometry: [g1, g2, g3], out };
}

/** The generator's parameter gradients given dL/d(images). */
function generatorBackward(p: Named, t: GeneratorTape, dOut: Float64Array, dims: GanDims, s: StepSettings): Named {
  const B = dims.batch;
  const grads: Named = new Map();
  // A transposed convolution's input gradient is the convolution it transposes; its kernel
  // gradient is that convolution's kernel gradient with the roles of input and output swapped.
  let dz = dOut.map((g, i) => g * (1 - t.out[i] * t.out[i]));
  const convT = ['deconv3', 'deconv2', 'deconv1'] as const;
  const bns = ['bn2', 'bn1', 'bn0'] as const;
  for (let k = 0; k < 3; k++) {
    const layer = 2 - k;
    const g = t.geometry[layer];
    const kernel = get(p, `${convT[k]}.kernel`);
    grads.set(`${convT[k]}.kernel`, conv2dWeightGradReference(dz, t.h[layer], g));
    const dh = conv2dReference(dz, kernel, g);
    const bn = t.bn[layer];
    const back = batchNormBackward(leakyBackward(dh, bn.y, s.leakyAlpha), get(p, `${bns[k]}.gamma`), bn);
    grads.set(`${bns[k]}.gamma`, back.dGamma);
    grads.set(`${bns[k]}.beta`, back.dBeta);
    dz = back.dx;
  }
  // dz is now dL/d(dense output) [B, 7·7·c0].
  const inF = t.input.length / B;
  grads.set('dense.kernel', denseBackward(t.input, get(p, 'dense.kernel'), dz, B, inF, 7 * 7 * dims.g[0]).dw);
  return grads;
}

interface DiscriminatorTape {
  x: Float64Array;
  geometry: [ConvGeometry, ConvGeometry];
  /** Conv outputs after the fused LeakyReLU, the dropout masks (0 or the f32 scale), their products. */
  y: [Float64Array, Float64Array];
  mask: [Float64Array, Float64Array];
  u: [Float64Array, Float64Array];
  logits: Float64Array;
}

/** Conv s2 + LReLU → dropout → conv s2 + LReLU → dropout → flatten → dense 1. */
function discriminatorForward(p: Named, x: Float64Array, masks: [Float64Array, Float64Array], dims: GanDims, s: StepSettings): DiscriminatorTape {
  const B = dims.batch;
  const inC = x.length / (B * 28 * 28);
  const [d1, d2] = dims.d;
  const g1 = sameConv(B, 28, inC, d1, 2);
  const y1 = leaky(conv2dReference(x, get(p, 'conv1.kernel'), g1, get(p, 'conv1.bias')), s.leakyAlpha);
  const u1 = y1.map((v, i) => v * masks[0][i]);
  const g2 = sameConv(B, 14, d1, d2, 2);
  const y2 = leaky(conv2dReference(u1, get(p, 'conv2.kernel'), g2, get(p, 'conv2.bias')), s.leakyAlpha);
  const u2 = y2.map((v, i) => v * masks[1][i]);
  const logits = dense(u2, get(p, 'dense.kernel'), B, 7 * 7 * d2, 1, get(p, 'dense.bias'));
  return { x, geometry: [g1, g2], y: [y1, y2], mask: masks, u: [u1, u2], logits };
}

/** The discriminator's parameter gradients and dL/d(input) given dL/d(logits). */
function discriminatorBackward(p: Named, t: DiscriminatorTape, dLogits: Float64Array, dims: GanDims, s: StepSettings): { grads: Named; dx: Float64Array } {
  const B = dims.batch;
  const [d1, d2] = dims.d;
  const grads: Named = new Map();
  const head = denseBackward(t.u[1], get(p, 'dense.kernel'), dLogits, B, 7 * 7 * d2, 1);
  grads.set('dense.kernel', head.dw);
  grads.set('dense.bias', head.db);
  let du: Float64Array = head.dx;
  let dx: Float64Array = new Float64Array(0);
  for (const layer of [1, 0] as const) {
    const name = layer === 1 ? 'conv2' : 'conv1';
    const channels = layer === 1 ? d2 : d1;
    const dz = leakyBackward(du.map((g, i) => g * t.mask[layer][i]), t.y[layer], s.leakyAlpha);
    const input = layer === 1 ? t.u[0] : t.x;
    grads.set(`${name}.kernel`, conv2dWeightGradReference(input, dz, t.geometry[layer]));
    const db = new Float64Array(channels);
    for (let i = 0; i < dz.length; i++) db[i % channels] += dz[i];
    grads.set(`${name}.bias`, db);
    const dIn = conv2dInputGradReference(dz, get(p, `${name}.kernel`), t.geometry[layer]);
    if (layer === 1) du = dIn;
    else dx = dIn;
  }
  return { grads, dx };
}

// ---------------------------------------------------------------- inputs, masks, updates

/** N(0, 1) noise [batch, noiseDim] as randn({ seed }) draws it (stream 0). */
function noise(dims: GanDims, seed: number): Float64Array {
  return randomReference('normal', dims.batch * dims.noiseDim, seed, 0, 0, 1);
}

/** Noise with the one-hot digit appended (cGAN), or the noise alone. */
function generatorInput(dims: GanDims, z: Float64Array, labels?: readonly number[]): Float64Array {
  if (!dims.conditional) return z;
  if (!labels) throw new Error('reference: the cGAN generator needs labels');
  const k = dims.numClasses;
  const inF = dims.noiseDim + k;
  const out = new Float64Array(dims.batch * inF);
  for (let b = 0; b < dims.batch; b++) {
    for (let i = 0; i < dims.noiseDim; i++) out[b * inF + i] = z[b * dims.noiseDim + i];
    out[b * inF + dims.noiseDim + labels[b]] = 1;
  }
  return out;
}

/** Images [B, 28, 28, 1], with 10 one-hot label planes after the pixel channel (cGAN). */
function discriminatorInput(dims: GanDims, images: Float64Array, labels?: readonly number[]): Float64Array {
  if (!dims.conditional) return images;
  if (!labels) throw new Error('reference: the cGAN discriminator needs labels');
  const c = 1 + dims.numClasses;
  const px = 28 * 28;
  const out = new Float64Array(dims.batch * px * c);
  for (let b = 0; b < dims.batch; b++) {
    for (let q = 0; q < px; q++) {
      out[(b * px + q) * c] = images[b * px + q];
      out[(b * px + q) * c + 1 + labels[b]] = 1;
    }
  }
  return out;
}

/** The pixel channel of a gradient w.r.t. the discriminator's input. */
function imageChannel(dims: GanDims, dInput: Float64Array): Float64Array {
  if (!dims.conditional) return dInput;
  const c = 1 + dims.numClasses;
  return Float64Array.from({ length: dInput.length / c }, (_, i) => dInput[i * c]);
}

/**
 * The two Dropout layers' masks (each 0 or the f32 1/(1 − rate)) for the discriminator's
 * `call`-th forward since setStep(step): Dropout seeds each call with deriveSeed(layer seed, call).
 */
function dropoutMasks(dims: GanDims, s: StepSettings, step: number, call: number): [Float64Array, Float64Array] {
  const B = dims.batch;
  const sizes = [B * 14 * 14 * dims.d[0], B * 7 * 7 * dims.d[1]];
  const mask = (k: 0 | 1) => dropoutReference(new Float64Array(sizes[k]).fill(1), s.dropoutRate, deriveSeed(s.dropoutSeeds[k], call), step);
  return [mask(0), mask(1)];
}

/** Keras Adam's first step (fresh m and v) of every parameter; parameters without a gradient stay. */
function adamFirstStep(params: Named, grads: Named, h: AdamHyper): Named {
  const out: Named = new Map();
  for (const [name, p] of params) {
    const next = Float64Array.from(p);
    const g = grads.get(name);
    if (g) adamReference(next, g, new Float64Array(p.length), new Float64Array(p.length), h, 1);
    out.set(name, next);
  }
  return out;
}

/** running ← momentum·running + (1 − momentum)·batch statistic, for bn0..bn2. */
function updateMovingStatistics(buffers: Named, tape: GeneratorTape, s: StepSettings): void {
  tape.bn.forEach((bn, k) => {
    const m = get(buffers, `bn${k}.moving_mean`);
    const v = get(buffers, `bn${k}.moving_variance`);
    for (let c = 0; c < bn.channels; c++) {
      m[c] = s.bnMomentum * m[c] + (1 - s.bnMomentum) * bn.mean[c];
      v[c] = s.bnMomentum * v[c] + (1 - s.bnMomentum) * bn.variance[c];
    }
  });
}

function copyNamed(p: Named): Named {
  return new Map([...p].map(([n, v]) => [n, Float64Array.from(v)]));
}

/**
 * The discriminator's loss BCE(D(real), 1) + BCE(D(fake), 0) and its gradients, masks of calls 0
 * and 1; with `mismatched` (real images with wrong digits, call 2) the matching-aware loss
 * BCE(D(real), 1) + ½·[BCE(D(fake), 0) + BCE(D(mismatched), 0)].
 */
function discriminatorLoss(d: Named, real: Float64Array, fake: Float64Array, dims: GanDims, s: StepSettings, step: number, mismatched?: Float64Array) {
  const w = mismatched ? 0.5 : 1;
  const terms: [Float64Array, number, number][] = [[real, 1, 1], [fake, 0, w]];
  if (mismatched) terms.push([mismatched, 0, w]);
  const grads: Named = new Map();
  let loss = 0;
  let fakeTape: DiscriminatorTape | undefined;
  terms.forEach(([input, target, weight], call) => {
    const tape = discriminatorForward(d, input, dropoutMasks(dims, s, step, call), dims, s);
    const term = bceWithLogits(tape.logits, target);
    loss += weight * term.loss;
    addInto(grads, discriminatorBackward(d, tape, term.grad.map((g) => weight * g), dims, s).grads);
    if (call === 1) fakeTape = tape;
  });
  return { loss, grads, fakeTape: fakeTape! };
}

// ---------------------------------------------------------------- the steps

/**
 * The DCGAN step: one generator forward (noise seed deriveSeed(seed, 200, step)), D on real
 * (dropout call 0) and fake (call 1) at dropout step `step`; D's gradients from its loss, G's
 * from BCE(D(fake), 1) through the same D forward; then both Adam steps from the initial weights.
 */
export function dcganStepReference(init: GanState, images: Float64Array, dims: GanDims, s: StepSettings): StepResult {
  const gen = generatorForward(init.g, generatorInput(dims, noise(dims, deriveSeed(s.seed, 200, s.step))), dims, s);
  const gBuffers = copyNamed(init.gBuffers);
  updateMovingStatistics(gBuffers, gen, s);
  const d = discriminatorLoss(init.d, images, gen.out, dims, s, s.step);
  const g = bceWithLogits(d.fakeTape.logits, 1);
  const dImages = discriminatorBackward(init.d, d.fakeTape, g.grad, dims, s).dx;
  const gGrads = generatorBackward(init.g, gen, dImages, dims, s);
  return {
    dLoss: d.loss,
    gLoss: g.loss,
    gGrads,
    dGrads: d.grads,
    after: { g: adamFirstStep(init.g, gGrads, s.adam), d: adamFirstStep(init.d, d.grads, s.adam), gBuffers },
  };
}

/** The digits the cGAN's phase 2 draws: deriveSeed(deriveSeed(seed, 301, step), i) mod numClasses. */
export function phase2Digits(dims: GanDims, s: StepSettings): number[] {
  const seed = deriveSeed(s.seed, 301, s.step);
  return Array.from({ length: dims.batch }, (_, i) => deriveSeed(seed, i) % dims.numClasses);
}

/** Matching-aware cGAN: a wrong digit per image, (y + 1 + deriveSeed(deriveSeed(seed, 303, step), i) mod (k − 1)) mod k. */
export function wrongDigitsReference(labels: readonly number[], numClasses: number, seed: number, step: number): number[] {
  const s = deriveSeed(seed, 303, step);
  return labels.map((y, i) => (y + 1 + (deriveSeed(s, i) % (numClasses - 1))) % numClasses);
}

/**
 * The cGAN step. Phase 1 (dropout step 2·step): G makes images of the batch's digits from noise
 * deriveSeed(seed, 300, step) (training-mode BatchNorm: the moving statistics move), D's loss on
 * real and fake with their label planes (matching-aware: and real with wrong digits, call 2,
 * the fake and mismatched terms weighted ½), D's Adam step. Phase 2 (dropout step 2·step + 1): G
 * makes images of random digits from noise deriveSeed(seed, 302, step) (the statistics move
 * again), the updated D judges them (call 0), G's loss BCE(D(fake), 1), G's Adam step.
 */
export function cganStepReference(init: GanState, images: Float64Array, labels: readonly number[], dims: GanDims, s: StepSettings): StepResult {
  const gBuffers = copyNamed(init.gBuffers);
  const gen1 = generatorForward(init.g, generatorInput(dims, noise(dims, deriveSeed(s.seed, 300, s.step)), labels), dims, s);
  updateMovingStatistics(gBuffers, gen1, s);
  const mismatched = s.matchingAware ? discriminatorInput(dims, images, wrongDigitsReference(labels, dims.numClasses, s.seed, s.step)) : undefined;
  const d = discriminatorLoss(init.d, discriminatorInput(dims, images, labels), discriminatorInput(dims, gen1.out, labels), dims, s, 2 * s.step, mismatched);
  const dAfter = adamFirstStep(init.d, d.grads, s.adam);

  const digits = phase2Digits(dims, s);
  const gen2 = generatorForward(init.g, generatorInput(dims, noise(dims, deriveSeed(s.seed, 302, s.step)), digits), dims, s);
  updateMovingStatistics(gBuffers, gen2, s);
  const tape = discriminatorForward(dAfter, discriminatorInput(dims, gen2.out, digits), dropoutMasks(dims, s, 2 * s.step + 1, 0), dims, s);
  const g = bceWithLogits(tape.logits, 1);
  const dImages = imageChannel(dims, discriminatorBackward(dAfter, tape, g.grad, dims, s).dx);
  const gGrads = generatorBackward(init.g, gen2, dImages, dims, s);
  return {
    dLoss: d.loss,
    gLoss: g.loss,
    gGrads,
    dGrads: d.grads,
    after: { g: adamFirstStep(init.g, gGrads, s.adam), d: dAfter, gBuffers },
  };
}
