import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspect } from 'node:util';
import { ready } from './helpers.ts';
import { Tensor } from '../src/core/tensor.ts';
import { zeros } from '../src/core/creation.ts';
import { add, reshape } from '../src/core/ops.ts';
import { tidy } from '../src/core/scope.ts';
import { memory } from '../src/core/memory.ts';
import { dispatchesSoFar } from '../src/core/dispatch.ts';
import { Module } from '../src/nn/module.ts';
import { Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Flatten, Reshape } from '../src/nn/layers.ts';
import { Conv2d, Conv2dTranspose } from '../src/nn/conv-layers.ts';
import { GlobalMaxPool2d } from '../src/nn/layers.ts';
import { Dropout } from '../src/nn/dropout.ts';
import { BatchNorm } from '../src/nn/batchnorm.ts';
import { Sequential } from '../src/nn/sequential.ts';

test.before(async () => {
  await ready;
});

const quiet = { printFn: null };

function smallCnn(): Sequential {
  return new Sequential({
    conv: new Conv2d({ inChannels: 1, filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', seed: 1 }),
    bn: new BatchNorm({ features: 4 }),
    drop: new Dropout({ rate: 0.25, seed: 2 }),
    flat: new Flatten(),
    head: new Sequential(new Dense({ inFeatures: 64, units: 5, seed: 3 }), new Softmax()),
  });
}

test('summary of a Sequential: shapes inferred without GPU work, Keras-style counts and totals', () => {
  const model = smallCnn();
  const dispatches = dispatchesSoFar();
  const live = memory().liveTensors;
  const printed: string[] = [];
  const text = model.summary([null, 8, 8, 1], { printFn: (t) => printed.push(t) });
  assert.is(dispatchesSoFar(), dispatches, 'inferring shapes ran a kernel');
  assert.is(memory().liveTensors, live, 'inferring shapes made tensors');
  assert.equal(printed, [text]);
  const rows = text.split('\n');
  const row = (label: string) => {
    const line = rows.find((l) => l.trimStart().startsWith(label));
    assert.ok(line, `no row for ${label} in\n${text}`);
    return line!.trim().split(/\s{2,}/);
  };
  // conv: 3·3·1·4 + 4 = 40; bn: gamma, beta (trainable) + moving mean, variance (not) = 16;
  // dense: 64·5 + 5 = 325. 8×8 with stride 2 'same' → 4×4; flattened 4·4·4 = 64.
  assert.equal(row('conv (Conv2d)'), ['conv (Conv2d)', '[null, 4, 4, 4]', '40']);
  assert.equal(row('bn (BatchNorm)'), ['bn (BatchNorm)', '[null, 4, 4, 4]', '16']);
  assert.equal(row('drop (Dropout)'), ['drop (Dropout)', '[null, 4, 4, 4]', '0']);
  assert.equal(row('flat (Flatten)'), ['flat (Flatten)', '[null, 64]', '0']);
  assert.equal(row('head (Sequential)'), ['head (Sequential)', '[null, 5]', '325']);
  assert.equal(row('0 (Dense)'), ['0 (Dense)', '[null, 5]', '325']);
  assert.equal(row('1 (Softmax)'), ['1 (Softmax)', '[null, 5]', '0']);
  // Children of head are indented beneath it.
  assert.match(text, /\n {3}0 \(Dense\)/);
  assert.match(text, /Total params: 381 \(1\.49 KB\)/);
  assert.match(text, /Trainable params: 373 \(1\.46 KB\)/);
  assert.match(text, /Non-trainable params: 8 \(32 B\)/);
  assert.match(text, /inferred without running the model; output \[null, 5\]/);
  // A fixed batch is shown as given; a frozen parameter counts as non-trainable.
  model.at(0).parameters()[1].requiresGrad = false;
  const fixed = model.summary([2, 8, 8, 1], quiet);
  assert.match(fixed, /conv \(Conv2d\)\s+\[2, 4, 4, 4\]/);
  assert.match(fixed, /Trainable params: 369 /);
  assert.match(fixed, /Non-trainable params: 12 /);
  // Without an input shape, shapes are unknown but the counts are there.
  assert.match(model.summary(undefined, quiet), /conv \(Conv2d\)\s+\?\s+40/);
  model.dispose();
});

test('outputShape agrees with the shape forward really produces, for every layer', () => {
  const cases: [Module, number[]][] = [
    [new Dense({ inFeatures: 3, units: 7 }), [2, 5, 3]],
    [new Conv2d({ inChannels: 2, filters: 3, kernelSize: [3, 2], strides: [2, 1], padding: 'valid' }), [1, 7, 5, 2]],
    [new Conv2d({ inChannels: 2, filters: 3, kernelSize: 3, strides: 2, padding: 'same' }), [2, 7, 5, 2]],
    [new Conv2dTranspose({ inChannels: 2, filters: 3, kernelSize: 5, strides: 2, padding: 'valid' }), [1, 3, 4, 2]],
    [new Conv2dTranspose({ inChannels: 2, filters: 1, kernelSize: 3, strides: 2, padding: 'same' }), [1, 3, 4, 2]],
    [new BatchNorm({ features: 3 }), [2, 3]],
    [new Dropout({ rate: 0.5, seed: 1 }), [2, 3]],
    [new GlobalMaxPool2d(), [2, 3, 4, 5]],
    [new Flatten(), [2, 3, 4]],
    [new Reshape([-1, 2]), [3, 8]],
    [new Reshape([2, 2, 2]), [3, 8]],
    [new ReLU(), [4]],
    [new LeakyReLU(), [4, 1]],
    [new Sigmoid(), [2, 2]],
    [new Tanh(), [3]],
    [new Softmax(), [2, 6]],
  ];
  for (const [layer, shape] of cases) {
    const inferred = layer.outputShape(shape);
    const real = tidy(() => [...layer.forward(zeros(shape)).shape]);
    assert.equal(inferred && [...inferred], real, `${layer.constructor.name} on [${shape}]`);
    layer.dispose();
  }
  // The errors forward would throw, before any GPU work.
  const dense = new Dense({ inFeatures: 3, units: 2 });
  const conv = new Conv2d({ inChannels: 1, filters: 1, kernelSize: 5 });
  const dispatches = dispatchesSoFar();
  assert.throws(() => new Sequential(new Flatten(), dense).summary([null, 2, 2], quiet), /Dense\(3 → 2\): input \[1, 4\] must end in 3 features/);
  assert.throws(() => conv.outputShape([1, 3, 3, 1]), /kernel 5×5 .* is larger than the input \[1, 3, 3, 1\]/);
  assert.throws(() => new Reshape([5]).outputShape([2, 6]), /cannot reshape \[2, 6\] into \[2, 5\]/);
  assert.throws(() => dense.summary([null, 0, 3], quiet), /inputShape \[null, 0, 3\] must hold positive integers/);
  assert.is(dispatchesSoFar(), dispatches);
  dense.dispose();
  conv.dispose();
});

/** A custom module: its forward is code, so summary() has to trace it. */
class TwoHeads extends Module {
  readonly body = this.addModule('body', new Dense({ inFeatures: 4, units: 6, activation: 'relu', seed: 1 }));
  readonly bn = this.addModule('bn', new BatchNorm({ features: 6 }));
  readonly drop = this.addModule('drop', new Dropout({ rate: 0.5, seed: 2 }));
  readonly head = this.addModule('head', new Dense({ inFeatures: 6, units: 2, seed: 3 }));
  forward(x: Tensor): Tensor {
    const h = this.drop.forward(this.bn.forward(this.body.forward(x)));
    // The head is used twice, on [B, 6] and on [B, 1, 6].
    const twice = this.head.forward(reshape(h, [h.shape[0], 1, 6]));
    return add(this.head.forward(h), reshape(twice, [h.shape[0], 2]));
  }
}

test('summary of a custom module traces one forward pass: eval mode, nothing updated, nothing leaked, all restored', async () => {
  const model = new TwoHeads();
  model.train();
  model.drop.train(true);
  const before = { mean: await model.bn.movingMean.toArray(), live: memory().liveTensors, buffers: memory().liveBuffers };
  const text = model.summary([null, 4], quiet);
  assert.match(text, /body \(Dense\)\s+\[null, 6\]\s+30/);
  assert.match(text, /bn \(BatchNorm\)\s+\[null, 6\]\s+24/);
  assert.match(text, /head \(Dense\)\s+multiple\s+14/);
  assert.match(text, /traced by one forward pass/);
  assert.is(memory().liveTensors, before.live, 'tracing leaked tensors');
  assert.is(memory().liveBuffers, before.buffers, 'tracing leaked buffers');
  assert.equal(await model.bn.movingMean.toArray(), before.mean, 'tracing updated BatchNorm statistics');
  assert.ok(model.training && model.bn.training && model.drop.training, 'training flags not restored');
  for (const m of [model.body, model.bn, model.drop, model.head]) assert.not.ok(Object.hasOwn(m, 'forward'), 'forward left wrapped');
  model.dispose();
});

test('String(module) reads like PyTorch: type, hyper-parameters, children indented by name', () => {
  const model = new Sequential({
    encoder: new Sequential(
      new Conv2d({ inChannels: 1, filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'leakyRelu', alpha: 0.2 }),
      new BatchNorm({ features: 8 }),
    ),
    flat: new Flatten(),
    drop: new Dropout({ rate: 0.3 }),
    out: new Dense({ inFeatures: 392, units: 10, useBias: false }),
    shape: new Reshape([2, 5]),
  });
  const expected = [
    'Sequential(',
    '  (encoder): Sequential(',
    "    (0): Conv2d(inChannels=1, filters=8, kernelSize=[3, 3], strides=[2, 2], padding='same', activation='leakyRelu', alpha=0.2)",
    '    (1): BatchNorm(features=8, momentum=0.99, epsilon=0.001)',
    '  )',
    '  (flat): Flatten()',
    '  (drop): Dropout(rate=0.3)',
    "  (out): Dense(inFeatures=392, units=10, activation='linear', useBias=false)",
    '  (shape): Reshape(targetShape=[2, 5])',
    ')',
  ].join('\n');
  assert.is(String(model), expected);
  assert.is(inspect(model), expected);
  assert.is(`${new LeakyReLU({ alpha: 0.1 })}`, 'LeakyReLU(alpha=0.1)');
  model.dispose();
});

test.run();
