// Transposed 2-D convolution (tf.nn.conv2d_transpose, Keras Conv2DTranspose), NHWC, weights
// [kh, kw, outC, inC].
//
// A transposed convolution is, by definition, the input-gradient of the convolution that maps
// its output back to its input: that convolution has HWIO weights [kh, kw, outC, inC] — exactly
// the transposed convolution's weight tensor — so the forward pass here IS conv2d.ts's
// input-gradient kernel, launched on x in the role of dy, with a fused bias and activation. It
// is a gather: every output pixel sums the input pixels that reach it, one z-slice per stride
// phase (conv2d.ts explains why phases make the GEMM dense; each variant's file gives its thread
// layout). Its gradients are conv2d's forward (for the input) and conv2d's weight-gradient with
// the roles of x and dy swapped (for the weights), so no new WGSL is needed.
//
// The reference below is written the other way round, as the scatter of the textbook definition
// (each input pixel stamps the kernel, scaled, onto the output), so tests compare two independent
// formulations.

import { activationReference, type Activation } from '../activation.ts';
import type { Program } from '../program.ts';
import { conv2dInputGradProgram, NO_EPILOGUE, type ConvEpilogue, type ConvKernelChoice } from './conv2d.ts';
import type { ConvGeometry } from './geometry.ts';

/**
 * y = activation(conv2dTranspose(x, w) + bias) in `variant`, `g` from conv2dTransposeGeometry
 * (the forward convolution's view: y has shape [batch, g.inH, g.inW, g.inC]). Bindings: x, w, bias, y.
 */
export function conv2dTransposeProgram(g: ConvGeometry, epilogue: ConvEpilogue = NO_EPILOGUE, variant: ConvKernelChoice): Program {
  return conv2dInputGradProgram(g, epilogue, variant, 'conv2dTranspose');
}

/**
 * Plain-loop transposed convolution: x [batch, g.outH, g.outW, g.outC] (the transposed input),
 * w [kh, kw, g.inC, g.outC] = [kh, kw, outC, inC] of the transposed op, y [batch, g.inH, g.inW, g.inC].
 */
export function conv2dTransposeReference(
  x: ArrayLike<number>, w: ArrayLike<number>, g: ConvGeometry,
  bias?: ArrayLike<number>, activation: Activation = 'linear', alpha = 0,
): Float64Array {
  const inC = g.outC; // channels of the transposed op's input
  const outC = g.inC; // … and of its output
  const y = new Float64Array(g.batch * g.inH * g.inW * outC);
  for (let b = 0; b < g.batch; b++) {
    for (let i = 0; i < g.outH; i++) {
      for (let j = 0; j < g.outW; j++) {
        for (let kh = 0; kh < g.kH; kh++) {
          const oh = i * g.strideH - g.padTop + kh;
          if (oh < 0 || oh >= g.inH) continue;
          for (let kw = 0; kw < g.kW; kw++) {
            const ow = j * g.strideW - g.padLeft + kw;
            if (ow < 0 || ow >= g.inW) continue;
            for (let ic = 0; ic < inC; ic++) {
              const xv = x[((b * g.outH + i) * g.outW + j) * inC + ic];
              for (let oc = 0; oc < outC; oc++) {
                y[((b * g.inH + oh) * g.inW + ow) * outC + oc] += xv * w[((kh * g.kW + kw) * outC + oc) * inC + ic];
              }
            }
          }
        }
      }
    }
  }
  for (let i = 0; i < y.length; i++) y[i] = activationReference(activation, y[i] + (bias ? bias[i % outC] : 0), alpha);
  return y;
}
