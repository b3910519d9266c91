// The public entry: users (and outside checks) import everything from here.
//
//   import { init, tensor, matmul, nn, optim, tidy } from './src/index.ts';
//   await init();                     // opens the WebGPU device (GPU, or Mesa on the CPU)

export { init, getDevice, getGpu, shutdownDevice, DeviceError, type DeviceInfo, type Gpu } from './core/device.ts';
export { Tensor, type DType, type Shape } from './core/tensor.ts';
export { tidy, keep } from './core/scope.ts';
export { noGrad, detach, isGradEnabled } from './core/autograd.ts';
export { sync, flush, KernelError } from './core/dispatch.ts';
export { memory, type MemoryStats, emptyCache, adapterDescription } from './core/memory.ts';
export { tensor, zeros, ones, full, zerosLike, onesLike, rand, randn, manualSeed, type TensorOptions, type RandomOptions } from './core/creation.ts';
export {
  add, sub, mul, div, pow, neg, exp, log, sqrt, square, abs, relu, leakyRelu, sigmoid, tanh, softplus,
  maximum, minimum, mulScalar, addScalar, powScalar,
  sum, mean, max, reshape, flatten, matmul, linear, activate,
  type ReduceOptions,
} from './core/ops.ts';
export type { Activation } from './kernels/matmul.ts';
