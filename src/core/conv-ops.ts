// The differentiable convolutions: conv2d and conv2dTranspose. Each checks shapes before any GPU
// work (errors name them), launches its forward kernel, and records one backward rule, like ops.ts.
// Which kernel variant each pass runs is asked of the kernel policy (kernel-policy.ts) per pass
// and shape; a variant given by name runs as given, in the backward passes too.
//
// The convolution's three kernels serve both convolutions:
//   conv2d           forward = conv2d            dx = input-grad      dw = weight-grad(x, dy)
//   conv2dTranspose  forward = input-grad        dx = conv2d          dw = weight-grad(dy, x)

import { Tensor, formatShape } from './tensor.ts';
import { record } from './autograd.ts';
import { assertFloat, assertLive } from './checks.ts';
import { launch, launchInto } from './launch.ts';
import { getGpu } from './device.ts';
import { reduceRaw, sumTo, activationGradFromOutput, OP_LEAKY_ALPHA } from './ops.ts';
import { checkConvVariant, convVariantFor, getConvVariant, matmulVariantFor, withSubgroupLanes } from './kernel-policy.ts';
import { checkActivation, type Activation } from '../kernels/activation.ts';
import { matmulProgram, type MatmulShape } from '../kernels/matmul.ts';
import type { Program } from '../kernels/program.ts';
import {
  conv2dWeightGradProgram, conv2dInputGradProgram, conv2dProgram, convKernelOf, weightGradSplits, winogradPrograms, NO_EPILOGUE,
  type ConvEpilogue, type ConvKernelChoice, type ConvVariant, type WinogradChunk,
} from '../kernels/conv/conv2d.ts';
import { conv2dTransposeProgram } from '../kernels/conv/conv2d-transpose.ts';
import {
  conv2dGeometry, conv2dTransposeGeometry, convInputShape, convOutputShape, convWeightShape,
  type ConvGeometry, type Padding, type Pair,
} from '../kernels/conv/geometry.ts';
import { checkOptions, knownOptions } from './options.ts';

export type { Padding, ConvVariant };

export interface Conv2dOptions {
  /** One stride for both axes, or [strideH, strideW] (default 1). */
  stride?: Pair;
  /** TensorFlow's 'same' or 'valid' (default 'valid', as Keras). */
  padding?: Padding;
  /** Added per output channel before the activation, in the same kernel. */
  bias?: Tensor;
  /** Fused into the output write (default 'linear'). */
  activation?: Activation;
  /** Slope of 'leakyRelu' (default OP_LEAKY_ALPHA; the conv layers pass their own). */
  alpha?: number;
  /** Kernel variant of every pass (default: setConvVariant's, else the kernel policy's 'auto'). */
  variant?: ConvVariant | 'auto';
}

const CONV2D_OPTIONS = knownOptions<Conv2dOptions>({ stride: true, padding: true, bias: true, activation: true, alpha: true, variant: true });

function epilogueOf(op: string, o: Conv2dOptions, channels: number): ConvEpilogue {
  const activation = checkActivation(op, o.activation ?? 'linear');
  const alpha = o.alpha ?? OP_LEAKY_ALPHA;
  if (!Number.isFinite(alpha)) throw new RangeError(`${op}: alpha must be a finite number, got ${alpha}`);
  if (o.bias) {
    assertLive(op, o.bias);
    assertFloat(op, o.bias);
    if (o.bias.rank !== 1 || o.bias.shape[0] !== channels) {
      throw new RangeError(`${op}: bias ${formatShape(o.bias.shape)} must be [${channels}], one per output channel`);
    }
  }
  if (o.variant !== undefined && o.variant !== 'auto') checkConvVariant(op, o.variant);
  return { hasBias: !!o.bias, activation, alpha };
}

/** The kernels' names of the passes runConv runs. */
export type ConvOp = 'conv2d' | 'conv2dInputGrad' | 'conv2dTranspose';

/**
 * Runs a forward pass (conv2d) or an input-gradient (conv2dInputGrad, conv2dTranspose's forward)
 * in `variant` on (a, w, bias): one launch, or winograd's (winogradPrograms): the weight and input
 * transforms, their α² batched matmuls, and the output transform with the epilogue.
 */
export function runConv(op: ConvOp, g: ConvGeometry, epilogue: ConvEpilogue | undefined, variant: ConvKernelChoice, a: Tensor, w: Tensor, bias: Tensor | undefined): Tensor {
  const pass = op === 'conv2d' ? 'forward' : 'inputGrad';
  const outShape = pass === 'forward' ? convOutputShape(g) : convInputShape(g);
  if (convKernelOf(variant).variant === 'winograd') return winogradRaw(op, g, epilogue ?? NO_EPILOGUE, a, w, bias);
  const kernel = withSubgroupLanes(variant);
  const program = op === 'conv2d' ? conv2dProgram(g, epilogue, kernel)
    : op === 'conv2dTranspose' ? conv2dTransposeProgram(g, epilogue, kernel) : conv2dInputGradProgram(g, epilogue, kernel);
  return launch(program, [a, w, bias ?? a], outShape);
}

/**
 * Winograd's launches (winogradPrograms) for a forward pass or an input-gradient: the weight
 * transform, then per chunk of images the input transform, α² batched matmuls and the output
 * transform into the one output tensor. V and M stay within `maxBindingBytes` (default: the
 * device's largest storage binding; the tests pass a small one to run several chunks).
 */
export function winogradRaw(op: ConvOp, g: ConvGeometry, epilogue: ConvEpilogue, a: Tensor, w: Tensor, bias?: Tensor,
  maxBindingBytes = getGpu().limits.maxStorageBufferBindingSize): Tensor {
  const pass = op === 'conv2d' ? 'forward' : 'inputGrad';
  const plan = winogradPrograms(pass, g, epilogue, op, maxBindingBytes);
  const u = launch(plan.weights, [w], plan.uShape);
  const y = new Tensor(pass === 'forward' ? convOutputShape(g) : convInputShape(g), 'f32');
  for (const chunk of plan.chunks) {
    const v = launch(chunk.input, [a], chunk.vShape);
    const m = launch(winogradMatmulProgram(chunk, plan.uShape), [v, u, v], chunk.mShape); // v again for the unused bias binding
    v.dispose();
    launchInto(chunk.output, [m, bias ?? m], y);
    m.dispose();
  }
  u.dispose();
  return y;
}

/**
 * The product of a Winograd chunk (winogradPrograms): M = V · U, α² batched matmuls
 * [tiles × inC'] · [inC' × outC'] with no epilogue, in the matmul variant the kernel policy picks
 * for that shape (as for any matmul: its fixed rule, or a tuned choice). What winogradRaw launches
 * between the transforms; pure (no device needed), so the playground shows the same Program.
 */
export function winogradMatmulProgram(chunk: WinogradChunk, uShape: readonly number[]): Program {
  const [t, tiles, k] = chunk.vShape;
  const n = uShape[2];
  if (uShape.length !== 3 || uShape[0] !== t || uShape[1] !== k) {
    throw new RangeError(`winogradMatmulProgram: U [${uShape.join(', ')}] does not fit V [${chunk.vShape.join(', ')}] (want [${t}, ${k}, outC])`);
  }
  const shape: MatmulShape = { batch: t, m: tiles, n, k, transA: false, transB: false, aBatchStride: tiles * k, bBatchStride: k * n };
  const epilogue = { hasBias: false, activation: 'linear', alpha: 0 } as const;
  return matmulProgram(shape, epilogue, matmulVariantFor(shape, 'auto', undefined, epilogue));
}

/** Forward-only conv2d for a checked geometry (also the transposed convolution's dx). */
export function conv2dRaw(x: Tensor, w: Tensor, g: ConvGeometry, epilogue?: ConvEpilogue, bias?: Tensor, variant?: ConvKernelChoice | 'auto'): Tensor {
  return runConv('conv2d', g, epilogue, convVariantFor('forward', g, variant, epilogue), x, w, bias);
}

/** Forward-only input-gradient of conv2d: dy [batch, outH, outW, outC] → dx. */
export function conv2dInputGradRaw(dy: Tensor, w: Tensor, g: ConvGeometry, variant?: ConvKernelChoice | 'auto'): Tensor {
  return runConv('conv2dInputGrad', g, undefined, convVariantFor('inputGrad', g, variant), dy, w, undefined);
}

/** Forward-only weight-gradient of conv2d: x, dy → dw [kh, kw, inC, outC] (split-K, then a sum). */
export function conv2dWeightGradRaw(x: Tensor, dy: Tensor, g: ConvGeometry, requested?: ConvKernelChoice | 'auto'): Tensor {
  const variant = convVariantFor('weightGrad', g, requested);
  const splits = weightGradSplits(g, variant);
  const wShape = convWeightShape(g);
  const partial = launch(conv2dWeightGradProgram(g, splits, withSubgroupLanes(variant)), [x, dy], [splits, ...wShape]);
  if (splits === 1) {
    const dw = partial.view(wShape);
    partial.dispose();
    return dw;
  }
  const summed = reduceRaw('sum', partial, [0], 1);
  partial.dispose();
  const dw = summed.view(wShape);
  summed.dispose();
  return dw;
}

function checkInputs(op: string, x: Tensor, w: Tensor): void {
  assertLive(op, x, w);
  assertFloat(op, x, w);
}

/**
 * 2-D convolution, NHWC input × HWIO weights [kh, kw, inC, outC], TensorFlow padding rules,
 * with an optional bias and activation fused into the kernel's write.
 */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  checkOptions('conv2d', options, CONV2D_OPTIONS);
  checkInputs('conv2d', x, w);
  const g = conv2dGeometry(x.shape, w.shape, options.stride ?? 1, options.padding ?? 'valid');
  const epilogue = epilogueOf('conv2d', options, g.outC);
  const variant = options.variant ?? getConvVariant();
  const bias = options.bias;
  const y = conv2dRaw(x, w, g, epilogue, bias, variant);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, `conv2d.${epilogue.activation}`, inputs, (grad, needs) => {
    const gz = activationGradFromOutput(epilogue.activation, y, grad, epilogue.alpha);
    const grads = [
      needs[0] ? conv2dInputGradRaw(gz, w, g, variant) : null,
      needs[1] ? conv2dWeightGradRaw(x, gz, g, variant) : null,
      bias && needs[2] ? sumTo(gz, bias.shape) : null,
    ];
    gz.dispose();
    return grads;
  });
}

/**
 * Transposed 2-D convolution (tf.nn.conv2d_transpose, Keras Conv2DTranspose): x [batch, h, w,
 * inC], weights [kh, kw, outC, inC]. Output [batch, h·s, w·s, outC] for 'same', and
 * [batch, h·s + max(kh − s, 0), …] for 'valid' (= (h − 1)·s + kh when kh ≥ s), as Keras.
 */
export function conv2dTranspose(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  checkOptions('conv2dTranspose', options, CONV2D_OPTIONS);
  checkInputs('conv2dTranspose', x, w);
  const g = conv2dTransposeGeometry(x.shape, w.shape, options.stride ?? 1, options.padding ?? 'valid');
  const epilogue = epilogueOf('conv2dTranspose', options, g.inC);
  const variant = options.variant ?? getConvVariant();
  const bias = options.bias;
  const y = runConv('conv2dTranspose', g, epilogue, convVariantFor('inputGrad', g, variant, epilogue), x, w, bias);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, `conv2dTranspose.${epilogue.activation}`, inputs, (grad, needs) => {
    const gz = activationGradFromOutput(epilogue.activation, y, grad, epilogue.alpha);
    const grads = [
      needs[0] ? conv2dRaw(gz, w, g, undefined, undefined, variant) : null,
      needs[1] ? conv2dWeightGradRaw(gz, x, g, variant) : null,
      bias && needs[2] ? sumTo(gz, bias.shape) : null,
    ];
    gz.dispose();
    return grads;
  });
}
