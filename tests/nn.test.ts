import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32, gradCheck } from './helpers.ts';
import { tensor, manualSeed } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { Tensor } from '../src/core/tensor.ts';
import { matmulReference } from '../src/kernels/matmul.ts';
import { unaryReference } from '../src/kernels/elementwise.ts';
import { Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Flatten, Reshape, Softmax } from '../src/nn/layers.ts';
import { Sequential } from '../src/nn/sequential.ts';
import { glorotLimit, glorotUniform } from '../src/nn/init.ts';
import { Adam, SGD } from '../src/nn/optim.ts';
import { crossEntropy } from '../src/nn/losses.ts';
import { softmaxReference } from '../src/kernels/softmax.ts';

test.before(async () => {
  await ready;
});

async function values(t: Tensor): Promise<Float32Array> {
  return t.toArray();
}

test('Dense: shapes, fused activation and bias against the float64 reference', async () => {
  for (const [batch, inF, units, activation] of [[1, 1, 1, 'linear'], [7, 33, 3, 'relu'], [3, 65, 130, 'tanh'], [5, 10, 7, 'leakyRelu'], [2, 3, 4, 'sigmoid']] as const) {
    const layer = new Dense({ inFeatures: inF, units, activation, seed: 3 });
    assert.equal([...layer.kernel.shape], [inF, units]);
    assert.equal([...layer.bias!.shape], [units]);
    const x = f32(randomArray([batch, inF], batch + inF));
    const y = tidy(() => layer.forward(tensor(x, [batch, inF])));
    assert.equal([...y.shape], [batch, units]);
    const expected = matmulReference(x, await values(layer.kernel), { batch: 1, m: batch, n: units, k: inF, transA: false, transB: false, aBatchStride: 0, bBatchStride: 0 }, await values(layer.bias!), activation, layer.alpha);
    assertClose(await y.toArray(), expected, `Dense ${inF}→${units} ${activation}`, 1e-4, 1e-5);
    y.dispose();
    layer.dispose();
  }
});

test('Dense applies to the last axis of any rank; useBias false has no bias', async () => {
  const layer = new Dense({ inFeatures: 4, units: 3, useBias: false, seed: 1 });
  assert.is(layer.bias, null);
  assert.equal(layer.namedParameters().map(([n]) => n), ['kernel']);
  const x = f32(randomArray([2, 5, 4], 2));
  const y = tidy(() => layer.forward(tensor(x, [2, 5, 4])));
  assert.equal([...y.shape], [2, 5, 3]);
  const expected = matmulReference(x, await values(layer.kernel), { batch: 1, m: 10, n: 3, k: 4, transA: false, transB: false, aBatchStride: 0, bBatchStride: 0 });
  assertClose(await y.toArray(), expected, 'Dense rank 3');
  y.dispose();
  layer.dispose();
});

test('Dense gradients (f32 finite differences through the layer, leading dimensions included)', async () => {
  const layer = new Dense({ inFeatures: 5, units: 3, activation: 'tanh', seed: 9 });
  await gradCheck('Dense.forward', (x) => layer.forward(x), [{ data: randomArray([2, 3, 5], 4), shape: [2, 3, 5] }]);
  layer.dispose();
});

test('glorotUniform stays within ±sqrt(6 / (fanIn + fanOut)) and fills the range', async () => {
  const limit = glorotLimit(300, 100);
  const w = glorotUniform(300, 100, [300, 100], 42);
  const v = await w.toArray();
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sq = 0;
  for (const x of v) {
    min = Math.min(min, x);
    max = Math.max(max, x);
    sum += x;
    sq += x * x;
  }
  assert.ok(min >= -limit && max < limit, `values in [${min}, ${max}] exceed ±${limit}`);
  assert.ok(max > 0.99 * limit && min < -0.99 * limit, 'the range is not filled');
  const mean = sum / v.length;
  const variance = sq / v.length - mean * mean;
  assert.ok(Math.abs(mean) < 0.01 * limit, `mean ${mean}`);
  assert.ok(Math.abs(variance / (limit * limit / 3) - 1) < 0.03, `variance ${variance} vs ${limit * limit / 3}`);
  w.dispose();
  const d = new Dense({ inFeatures: 8, units: 6 });
  assert.ok((await d.bias!.toArray()).every((x) => x === 0), 'bias starts at zero');
  d.dispose();
});

test('seeds: an explicit seed fixes a layer; manualSeed fixes a whole model; successive layers differ', async () => {
  const a = new Dense({ inFeatures: 5, units: 4, seed: 11 });
  const b = new Dense({ inFeatures: 5, units: 4, seed: 11 });
  assert.equal(await values(a.kernel), await values(b.kernel));
  const build = () => new Sequential(new Dense({ inFeatures: 5, units: 4 }), new Dense({ inFeatures: 4, units: 4 }));
  manualSeed(123);
  const m1 = build();
  manualSeed(123);
  const m2 = build();
  for (const [[name, p], [, q]] of m1.namedParameters().map((e, i) => [e, m2.namedParameters()[i]] as const)) {
    assert.equal(await values(p), await values(q), `${name} differs between two builds after manualSeed(123)`);
  }
  const k0 = await values(m1.at(0) instanceof Dense ? (m1.at(0) as Dense).kernel : a.kernel);
  const k1 = await values((m1.at(1) as Dense).kernel);
  assert.not.equal(k0.slice(0, 16), k1.slice(0, 16));
  for (const m of [a, b, m1, m2]) m.dispose();
});

test('Sequential names children by position or by key; parameters are named after them', () => {
  const byPosition = new Sequential(new Flatten(), new Dense({ inFeatures: 4, units: 3, activation: 'relu' }), new ReLU(), new Dense({ inFeatures: 3, units: 2 }));
  assert.equal(byPosition.namedParameters().map(([n]) => n), ['1.kernel', '1.bias', '3.kernel', '3.bias']);
  assert.is(byPosition.length, 4);
  assert.equal([...byPosition.stateDict().keys()], ['1.kernel', '1.bias', '3.kernel', '3.bias']);
  const named = new Sequential({ hidden: new Dense({ inFeatures: 4, units: 3 }), output: new Dense({ inFeatures: 3, units: 2, useBias: false }) });
  assert.equal(named.namedParameters().map(([n]) => n), ['hidden.kernel', 'hidden.bias', 'output.kernel']);
  const nested = new Sequential({ encoder: named, head: new Sigmoid() });
  assert.equal(nested.namedParameters().map(([n]) => n), ['encoder.hidden.kernel', 'encoder.hidden.bias', 'encoder.output.kernel']);
  assert.is(nested.parameterCount(), 4 * 3 + 3 + 3 * 2);
  assert.throws(() => new Sequential({ 'bad name': new ReLU() }), /letters, digits or _/);
  byPosition.dispose();
  nested.dispose();
});

test('train()/eval() propagate to every descendant', () => {
  const inner = new Sequential(new Dense({ inFeatures: 2, units: 2 }), new Tanh());
  const outer = new Sequential(inner, new Dense({ inFeatures: 2, units: 1 }));
  const all = () => [outer, ...outer.namedModules().map(([, m]) => m)];
  assert.ok(all().every((m) => m.training));
  outer.eval();
  assert.ok(all().every((m) => !m.training), 'eval() did not reach every module');
  outer.train();
  assert.ok(all().every((m) => m.training), 'train() did not reach every module');
  outer.dispose();
});

test('stateDict / loadStateDict round trip; a wrong shape names the tensor', async () => {
  const make = (seed: number, hidden = 3) =>
    new Sequential({ a: new Dense({ inFeatures: 4, units: hidden, activation: 'relu', seed }), b: new Dense({ inFeatures: hidden, units: 2, seed: seed + 1 }) });
  const source = make(1);
  const target = make(50);
  const x = tensor(randomArray([3, 4], 5), [3, 4]);
  const before = tidy(() => target.forward(x));
  const expected = tidy(() => source.forward(x));
  assert.not.equal(await before.toArray(), await expected.toArray());
  target.loadStateDict(source.stateDict());
  for (const [name, p] of target.stateDict()) assert.equal(await values(p), await values(source.stateDict().get(name)!), name);
  const after = tidy(() => target.forward(x));
  assert.equal(await after.toArray(), await expected.toArray());
  // The copy is a copy: changing the source later leaves the target alone.
  source.dispose();
  assert.equal(await after.toArray(), await tidy(() => target.forward(x)).toArray());

  const wider = make(2, 5);
  assert.throws(() => target.loadStateDict(wider.stateDict()), /tensor "a\.kernel" has shape \[4, 5\], the model expects \[4, 3\]/);
  const partial = new Map(target.stateDict());
  partial.delete('b.bias');
  assert.throws(() => wider.loadStateDict(partial), /missing b\.bias/);
  for (const t of [x, before, expected, after]) t.dispose();
  target.dispose();
  wider.dispose();
});

test('activation modules, Flatten, Reshape and Softmax', async () => {
  const x = f32(randomArray([2, 3, 4], 6, -3, 3));
  const t = tensor(x, [2, 3, 4]);
  const cases: [string, { forward(x: Tensor): Tensor }, Float64Array][] = [
    ['ReLU', new ReLU(), unaryReference('relu', x)],
    ['LeakyReLU', new LeakyReLU(), unaryReference('leakyRelu', x, 0.3)],
    ['LeakyReLU 0.2', new LeakyReLU({ alpha: 0.2 }), unaryReference('leakyRelu', x, 0.2)],
    ['Sigmoid', new Sigmoid(), unaryReference('sigmoid', x)],
    ['Tanh', new Tanh(), unaryReference('tanh', x)],
    ['Softmax', new Softmax(), softmaxReference('softmax', x, 6, 4)],
  ];
  for (const [name, m, expected] of cases) {
    const y = tidy(() => m.forward(t));
    assertClose(await y.toArray(), expected, name, 1e-5, 1e-6);
    y.dispose();
  }
  const flat = new Flatten().forward(t);
  assert.equal([...flat.shape], [2, 12]);
  const reshaped = new Reshape([4, -1]).forward(t);
  assert.equal([...reshaped.shape], [2, 4, 3]);
  assert.equal(await reshaped.toArray(), await t.toArray());
  assert.throws(() => new Reshape([5, 2]).forward(t), /cannot reshape \[2, 3, 4\]/);
  assert.throws(() => new Reshape([-1, -1]), /at most one -1/);
  for (const y of [flat, reshaped, t]) y.dispose();
});

test('Dense rejects bad options and inputs with clear messages', () => {
  assert.throws(() => new Dense({ inFeatures: 0, units: 3 }), /inFeatures must be a positive integer, got 0/);
  assert.throws(() => new Dense({ inFeatures: 3, units: 2.5 }), /units must be a positive integer/);
  assert.throws(() => new Dense({ inFeatures: 3, units: 2, activation: 'gelu' as 'relu' }), /activation 'gelu' is not one of/);
  const d = new Dense({ inFeatures: 3, units: 2 });
  const x = tensor([1, 2, 3, 4], [2, 2]);
  assert.throws(() => d.forward(x), /Dense\(3 → 2\): input \[2, 2\] must end in 3 features/);
  x.dispose();
  d.dispose();
});

test('optimizers: named state, step count, stateDict / loadStateDict round trip and errors', async () => {
  const model = new Sequential({ h: new Dense({ inFeatures: 3, units: 4, activation: 'relu', seed: 1 }), o: new Dense({ inFeatures: 4, units: 2, seed: 2 }) });
  const opt = new Adam(model, { lr: 0.01 });
  assert.equal([...opt.stateDict().tensors.keys()], ['h.kernel.m', 'h.kernel.v', 'h.bias.m', 'h.bias.v', 'o.kernel.m', 'o.kernel.v', 'o.bias.m', 'o.bias.v']);
  const x = tensor(randomArray([5, 3], 3), [5, 3]);
  const y = tensor([0, 1, 1, 0, 1], [5], { dtype: 'i32' });
  for (let i = 0; i < 3; i++) {
    opt.zeroGrad();
    tidy(() => crossEntropy(model.forward(x), y).backward());
    opt.step();
  }
  assert.is(opt.stepCount, 3);
  const saved = opt.stateDict();
  assert.is(saved.step, 3);
  assert.equal(saved.hyper, { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
  assert.ok((await values(saved.tensors.get('h.kernel.v')!)).some((v) => v > 0), 'second moments were not updated');

  const fresh = new Adam(model);
  fresh.loadStateDict(saved);
  assert.is(fresh.stepCount, 3);
  assert.is(fresh.lr, 0.01);
  for (const [name, t] of fresh.stateDict().tensors) assert.equal(await values(t), await values(saved.tensors.get(name)!), name);

  const other = new Sequential({ h: new Dense({ inFeatures: 3, units: 5 }), o: new Dense({ inFeatures: 5, units: 2 }) });
  const mismatched = new Adam(other);
  assert.throws(() => mismatched.loadStateDict(saved), /tensor "h\.kernel\.m" has shape \[3, 4\], the optimizer expects \[3, 5\]/);
  const sgd = new SGD(model, { lr: 0.1, momentum: 0.9 });
  assert.throws(() => sgd.loadStateDict(saved), /missing h\.kernel\.momentum.*unexpected h\.kernel\.m/);
  assert.throws(() => new Adam(model, { lr: -1 }), /lr must be a number in \[0, Infinity\]/);
  assert.throws(() => new Adam(model, { beta1: 1 }), /beta1 must be a number in \[0, 1\)/);
  assert.throws(() => new SGD(model, { lr: 0.1, nesterov: true }), /Nesterov momentum needs momentum > 0/);
  assert.throws(() => new Adam([]), /no parameters/);
  const p = model.parameters()[0];
  assert.throws(() => new Adam([p, p]), /listed twice/);

  // Parameters without a gradient are left alone.
  opt.zeroGrad();
  const kernelBefore = await values(p);
  opt.step();
  assert.equal(await values(p), kernelBefore);
  for (const o of [opt, fresh, mismatched, sgd]) o.dispose();
  for (const t of [x, y]) t.dispose();
  model.dispose();
  other.dispose();
});

test.run();
