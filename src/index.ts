// The package's main entry ("webgpu-mini-dl"): everything that runs wherever WebGPU does, in a
// web page as in Node, fit() included. It imports none of Node's modules (a test bundles it for a
// browser to keep it so); files, MNIST from disk, PNG and the scripts' training runs are in
// node.ts ("webgpu-mini-dl/node").
//
//   import { init, tensor, matmul, nn, optim, tidy } from 'webgpu-mini-dl';
//   await init();                     // a page's navigator.gpu; in Node, Dawn (a GPU, or Mesa on the CPU)
//   await init({ gpu: navigator.gpu }) // or hand it what the host has: { gpu } or { device }

/// <reference types="@webgpu/types" preserve="true" />

export {
  init, getDevice, getGpu, shutdownDevice, DeviceError, isDeviceLost, replaceLostDevice, simulateDeviceLoss,
  type DeviceInfo, type Engine, type Gpu, type InitOptions, type LimitsChoice,
} from './core/device.ts';
export { Tensor, setHostSource, type DType, type Shape, type HostSource } from './core/tensor.ts';
export type { PrintOptions } from './core/format.ts';
export type { SummaryOptions, SummaryInputShape } from './nn/summary.ts';
export { tidy, keep } from './core/scope.ts';
export { noGrad, detach, isGradEnabled } from './core/autograd.ts';
export { sync, flush, planOnly, KernelError, run as runProgram, readBuffer, type BufferRange } from './core/dispatch.ts';
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
export { MnistGpu, type MnistGpuOptions, type Batch, type BatchOptions, type BatchSource } from './data/batches.ts';
export { parseMnist, type MnistSplit, type MnistSplitName, type ParseMnistOptions } from './data/mnist.ts';
export { parseIdx, IdxFormatError, type IdxArray } from './data/idx.ts';
export { TensorDataset, DataLoader, type Dataset, type DataLoaderOptions, type DatasetInput, type HostTensor } from './data/dataset.ts';
export { conv2d, conv2dTranspose, type Conv2dOptions, type Padding, type ConvVariant } from './core/conv-ops.ts';
export {
  setConvVariant, getConvVariant, convVariantFor, matmulVariantFor, autoMatmulVariant, kernelTarget,
  type ConvPass, type MatmulChoice, type KernelTarget,
} from './core/kernel-policy.ts';
export { withSubgroupLanes, subgroupLanes } from './core/kernel-policy.ts';
export {
  problemKey, problemsSeen, problemLayers, installedChoices, getTuneMode, setTuneMode, TUNE_MODES,
  type TuneMode, type TuneProblem,
} from './core/kernel-policy.ts';
export { tune, tuneCacheLocation, loadTunedChoices, tuneModeFrom, type TuneOptions, type RunKernels } from './tune/session.ts';
export { tuneProblem, verifyCandidate, type TuneResult, type CandidateResult, type CandidateStatus } from './tune/tuner.ts';
export { TuneCacheError, tuneCachePath, type TuneStore } from './tune/cache.ts';
export { currentLayerLabel, withLayerLabel } from './core/layer-label.ts';
export { VERSION } from './version.ts';
export { globalMaxPool2d } from './core/ops.ts';
export { dropout, type DropoutOptions } from './core/dropout-ops.ts';
export { batchNorm, type BatchNormOptions } from './core/batchnorm-ops.ts';
export {
  checkpointToBytes, loadCheckpointFromBytes, readCheckpointInfoFromBytes,
  type CheckpointParts, type CheckpointInfo, type CheckpointTarget, type SaveCheckpointOptions, type LoadCheckpointOptions,
} from './nn/checkpoint.ts';
export { CheckpointError } from './io/safetensors.ts';
export { encodeSafetensors, decodeSafetensors, type SafetensorsTensor, type SafetensorsContents } from './io/safetensors.ts';

// The report's models, their presets, and the judge's classifier.
export { Vae, VaeEncoder, VaeDecoder, VAE_DEFAULTS, type VaeConfig, type VaeLossTerms } from './models/vae.ts';
export { Gan, Generator, Discriminator, GAN_DEFAULTS, ganChannels, type GanConfig } from './models/gan.ts';
export { MnistClassifier, type ClassifierConfig } from './models/classifier.ts';
export { PRESETS, type PresetName, type Preset } from './runs/presets.ts';
export { createModel, modelConfigFrom, MODEL_KINDS, type ModelKind, type ModelConfigs, type Models } from './models/kinds.ts';

// Training: Keras's fit and evaluate, and the loop under them (checkpoint files and the terminal's
// progress bar are Node's; a page trains without them).
export { fit, evaluate, type FitOptions, type History, type Callback, type EpochLogs, type Evaluation, type LossFunction } from './train/fit.ts';
export { trainLoop, DivergedError, DeviceLostError, MAX_DEVICE_LOSSES_IN_A_ROW, type TrainableModel, type TrainLoopOptions, type TrainLoopResult, type LossHistory, type EpochTiming } from './train/trainer.ts';

// The kernels: Program builders and their float64 references (run one with runProgram).
export * as kernels from './kernels/index.ts';
