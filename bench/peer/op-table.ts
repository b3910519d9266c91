// The kernel cases' TensorFlow.js counterparts: each PeerOp (bench/peer-ops.ts) as a tfjs thunk
// over inputs made once. Backward rows call the kernels tfjs's own gradients call
// (Conv2DBackpropInput, Conv2DBackpropFilter, conv2d), so each row compares one operation with
// one operation; batchNorm fwd+bwd goes through tf.grads.

import type * as TfCore from '@tensorflow/tfjs-core';
import { convOutSize, convTransposeOutSize, type PeerOp } from '../peer-ops.ts';
import { uniformData } from '../case-kit.ts';
import { OP_LEAKY_ALPHA } from '../../src/core/ops.ts';

type Tf = typeof TfCore;
type T = TfCore.Tensor;

let seed = 100;
function input(tf: Tf, shape: readonly number[]): T {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(uniformData(size, seed++), [...shape]);
}

/** The op as a tfjs thunk over inputs made once. */
export function makeOp(tf: Tf, op: PeerOp): { fn: () => T | T[]; inputs: T[] } | undefined {
  switch (op.op) {
    case 'matmul': {
      const a = input(tf, op.a);
      const b = input(tf, op.b);
      const n = op.transB ? op.b[0] : op.b[1];
      if (!op.bias && (op.activation ?? 'linear') === 'linear') {
        return { fn: () => tf.matMul(a, b, op.transA, op.transB), inputs: [a, b] };
      }
      const bias = input(tf, [n]);
      return {
        fn: () => tf.fused.matMul({ a, b, transposeA: op.transA, transposeB: op.transB, bias: op.bias ? bias : undefined, activation: op.activation ?? 'linear' }),
        inputs: [a, b, bias],
      };
    }
    case 'unary': {
      const x = input(tf, op.shape);
      const alpha = op.alpha ?? OP_LEAKY_ALPHA; // our leakyRelu op's default slope
      const fns = { relu: () => tf.relu(x), leakyRelu: () => tf.leakyRelu(x, alpha), sigmoid: () => tf.sigmoid(x), tanh: () => tf.tanh(x) };
      return { fn: fns[op.fn], inputs: [x] };
    }
    case 'binary': {
      const a = input(tf, op.a);
      const b = input(tf, op.b);
      return { fn: () => (op.fn === 'add' ? tf.add(a, b) : tf.mul(a, b)), inputs: [a, b] };
    }
    case 'sum': {
      const x = input(tf, op.shape);
      return { fn: () => tf.sum(x, op.axes), inputs: [x] };
    }
    case 'conv2d':
    case 'conv2dInputGrad':
    case 'conv2dWeightGrad': {
      const [b, h, w] = op.x;
      const [kh, kw, , outC] = op.w;
      const y = [b, convOutSize(h, kh, op.stride, op.padding), convOutSize(w, kw, op.stride, op.padding), outC];
      const x = input(tf, op.x) as TfCore.Tensor4D;
      const f = input(tf, op.w) as TfCore.Tensor4D;
      const dy = input(tf, y) as TfCore.Tensor4D;
      const fn =
        op.op === 'conv2d'
          ? () => tf.conv2d(x, f, op.stride, op.padding)
          : op.op === 'conv2dInputGrad'
            ? () => tf.conv2dTranspose(dy, f, [b, h, w, op.x[3]], op.stride, op.padding)
            : () => backpropFilter(tf, x, dy, op.w, op.stride, op.padding);
      return { fn, inputs: [x, f, dy] };
    }
    case 'conv2dTranspose':
    case 'conv2dTransposeInputGrad':
    case 'conv2dTransposeWeightGrad': {
      const [b, h, w] = op.x;
      const [kh, kw, outC] = op.w;
      const yShape: [number, number, number, number] = [
        b,
        convTransposeOutSize(h, kh, op.stride, op.padding),
        convTransposeOutSize(w, kw, op.stride, op.padding),
        outC,
      ];
      const x = input(tf, op.x) as TfCore.Tensor4D;
      const f = input(tf, op.w) as TfCore.Tensor4D;
      const dy = input(tf, yShape) as TfCore.Tensor4D;
      // conv2dTranspose is conv2d's input gradient, so its own gradients are conv2d (for x) and
      // the filter gradient with the roles of x and dy swapped (as tfjs's Conv2DBackpropInput_grad).
      const fn =
        op.op === 'conv2dTranspose'
          ? () => tf.conv2dTranspose(x, f, yShape, op.stride, op.padding)
          : op.op === 'conv2dTransposeInputGrad'
            ? () => tf.conv2d(dy, f, op.stride, op.padding)
            : () => backpropFilter(tf, dy, x, op.w, op.stride, op.padding);
      return { fn, inputs: [x, f, dy] };
    }
    case 'batchNorm': {
      const channels = op.shape[op.shape.length - 1];
      const axes = [...Array(op.shape.length - 1).keys()];
      const x = input(tf, op.shape);
      const gamma = input(tf, [channels]);
      const beta = input(tf, [channels]);
      const dy = input(tf, op.shape);
      const forward = (x: T, gamma: T, beta: T) => {
        const { mean, variance } = tf.moments(x, axes);
        return tf.batchNorm(x, mean, variance, beta, gamma, op.epsilon);
      };
      if (!op.backward) return { fn: () => forward(x, gamma, beta), inputs: [x, gamma, beta, dy] };
      const grads = tf.grads((x: T, gamma: T, beta: T) => forward(x, gamma, beta));
      return { fn: () => grads([x, gamma, beta], dy), inputs: [x, gamma, beta, dy] };
    }
  }
}

function backpropFilter(tf: Tf, x: T, dy: T, filterShape: readonly number[], stride: number, padding: 'same' | 'valid'): T {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
    strides: [stride, stride],
    pad: padding,
    dataFormat: 'NHWC',
    filterShape: [...filterShape],
  });
}
