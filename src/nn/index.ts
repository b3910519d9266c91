// The `nn` namespace of the public entry: `import { nn } from './src/index.ts'; new nn.Dense(...)`.

export { Module } from './module.ts';
export { Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Flatten, Reshape, GlobalMaxPool2d, KERAS_LEAKY_ALPHA, type DenseOptions } from './layers.ts';
export { Sequential } from './sequential.ts';
export * as init from './init.ts';
export * from './losses.ts';
export { recomputeBatchNormStatistics, batchNormLayers } from './batchnorm-statistics.ts';
export { Conv2d, Conv2dTranspose, type ConvLayerOptions } from './conv-layers.ts';
export { BatchNorm, type BatchNormLayerOptions } from './batchnorm.ts';
export { Dropout, type DropoutLayerOptions } from './dropout.ts';
export { withLayerLabels } from './layer-labels.ts';
export {
  checkpointToBytes, loadCheckpointFromBytes, readCheckpointInfoFromBytes, CHECKPOINT_FORMAT,
  type CheckpointParts, type CheckpointInfo, type CheckpointTarget, type TrainingProgress, type SaveCheckpointOptions, type LoadCheckpointOptions,
} from './checkpoint.ts';
export { CheckpointError } from '../io/safetensors.ts';
