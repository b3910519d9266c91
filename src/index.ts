// The public entry: users (and outside checks) import everything from here.
//
//   import { init, tensor, matmul, nn, optim, tidy } from './src/index.ts';
//   await init();                     // opens the WebGPU device (GPU, or Mesa on the CPU)

export { init, getDevice, getGpu, shutdownDevice, DeviceError, type DeviceInfo, type Gpu } from './core/device.ts';
export { Tensor, type DType, type Shape } from './core/tensor.ts';
export type { PrintOptions } from './core/format.ts';
export type { SummaryOptions, SummaryInputShape } from './nn/summary.ts';
export { tidy, keep } from './core/scope.ts';
export { noGrad, detach, isGradEnabled } from './core/autograd.ts';
export { sync, flush, KernelError } from './core/dispatch.ts';
export { memory, type MemoryStats, emptyCache, adapterDescription } from './core/memory.ts';
export { tensor, zeros, ones, full, zerosLike, onesLike, rand, randn, manualSeed, type TensorOptions, type RandomOptions } from './core/creation.ts';
export {
  add, sub, mul, div, pow, neg, exp, log, sqrt, square, abs, relu, leakyRelu, sigmoid, tanh, softplus,
  maximum, minimum, mulScalar, addScalar, powScalar,
  sum, mean, max, reshape, flatten, matmul, linear, activate, OP_LEAKY_ALPHA,
  type ReduceOptions,
} from './core/ops.ts';
export type { Activation } from './kernels/activation.ts';
export { transpose, permute, slice, concat, stack, expandDims, squeeze, broadcastTo, oneHot } from './core/shape-ops.ts';
export { binaryCrossEntropyWithLogits, mseLoss, type Reduction, type LossOptions } from './core/loss-ops.ts';
export { softmax, logSoftmax, crossEntropy, type CrossEntropyOptions, type LossReduction } from './core/softmax-ops.ts';
export { adamStep, sgdStep, type AdamStepOptions } from './core/optim-ops.ts';
export * as nn from './nn/index.ts';
export * as optim from './nn/optim.ts';
export { MnistGpu, type Batch, type BatchOptions, type BatchSource } from './data/batches.ts';
export { TensorDataset, DataLoader, type Dataset, type DataLoaderOptions, type DatasetInput, type HostTensor } from './data/dataset.ts';
export {
  conv2d, conv2dTranspose, batchNorm, dropout, globalMaxPool2d, setConvVariant, getConvVariant,
  type Conv2dOptions, type BatchNormOptions, type DropoutOptions, type Padding, type ConvVariant,
} from './core/conv-ops.ts';
export { fit, evaluate, type FitOptions, type History, type Callback, type EpochLogs, type Evaluation, type LossFunction } from './train/fit.ts';
export { DivergedError, type TrainableModel } from './train/trainer.ts';
