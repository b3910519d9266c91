// The framework from Deno, on its built-in WebGPU (wgpu): trains a 784-256-10 MLP on 2,000
// MNIST digits for one epoch and prints the test accuracy. From a clone, after `npm install`:
//
//   deno run -A examples/deno-mlp.ts
//
// Nothing here is Deno-specific: init() takes the host's navigator.gpu, which Deno has. The
// same script runs in Node (`node --import tsx examples/deno-mlp.ts`), there on Dawn.

import { init, nn, optim, fit, crossEntropy, loadMnistGpu, manualSeed, shutdownDevice } from '../src/node.ts';

const gpu = await init();
console.log(`adapter: ${gpu.info.description}`);
manualSeed(0);
const train = loadMnistGpu('train', { limit: 2000 });
const test = loadMnistGpu('test', { limit: 1000 });
const model = new nn.Sequential(
  new nn.Flatten(),
  new nn.Dense({ inFeatures: 784, units: 256, activation: 'relu' }),
  new nn.Dense({ inFeatures: 256, units: 10 }),
);
const optimizer = new optim.Adam(model, { lr: 1e-3 });
const history = await fit(model, train, { epochs: 1, batchSize: 64, loss: crossEntropy, optimizer, validationData: test, progress: false });
console.log(`test accuracy ${(100 * history.history.val_accuracy[0]).toFixed(1)}% after one epoch, ${history.imagesPerSecond.toFixed(0)} images/s`);
for (const t of [optimizer, model, train, test]) t.dispose();
shutdownDevice();
