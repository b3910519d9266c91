import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, seededRandom } from './helpers.ts';
import { fromData, Tensor } from '../src/core/tensor.ts';
import { run, dispatchesSoFar } from '../src/core/dispatch.ts';
import { memory } from '../src/core/memory.ts';
import { tensor } from '../src/core/creation.ts';
import { gatherRowsProgram, gatherRowsReference } from '../src/kernels/gather.ts';
import type { Batch, BatchSource } from '../src/data/batches.ts';
import { TensorDataset, DataLoader } from '../src/data/dataset.ts';
import { seededPermutation } from '../src/data/shuffle.ts';
import * as api from '../src/index.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';

test.before(async () => {
  await ready;
});

test('gatherRows copies rows word for word (f32 and i32) on awkward sizes', async () => {
  const sizes = [1, 3, 7, 33, 65];
  for (const rowSize of sizes) {
    for (const [count, start] of [[1, 0], [3, 2], [7, 1], [33, 0], [65, 4]] as const) {
      const n = 5 + ((rowSize + count) % 11);
      const r = seededRandom(rowSize * 100 + count);
      const floats = Float32Array.from({ length: n * rowSize }, () => (r() - 0.5) * 1e6);
      const ints = Int32Array.from({ length: n * rowSize }, () => Math.floor((r() - 0.5) * 2 ** 32));
      const indices = Uint32Array.from({ length: start + count }, () => Math.floor(r() * n));
      const idx = fromData(indices, [indices.length], 'u32');
      for (const [values, dtype] of [[floats, 'f32'], [ints, 'i32']] as const) {
        const src = fromData(values, [n, rowSize], dtype);
        const out = new Tensor([count, rowSize], dtype);
        run(gatherRowsProgram(count, rowSize, start), [src.gpu, idx.gpu], [out.gpu]);
        const got = dtype === 'f32' ? await out.toArray() : await out.toInt32Array();
        // A copy, not arithmetic: every value must come back exactly.
        assert.equal([...got], [...gatherRowsReference(values, rowSize, indices, start, count)], `${dtype} rowSize ${rowSize} count ${count} start ${start}`);
        src.dispose();
        out.dispose();
      }
      idx.dispose();
    }
  }
});

/** x row i is [i, i + 0.5, −i] and y is 3·i + 1, so a row says which example it came from. */
function hostData(n: number): { xs: Float32Array; ys: Int32Array } {
  const xs = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) xs.set([i, i + 0.5, -i], i * 3);
  return { xs, ys: Int32Array.from({ length: n }, (_, i) => 3 * i + 1) };
}

test('DataLoader over host arrays: seeded order per epoch, partial last batch kept or dropped, labels on the host', async () => {
  const n = 23;
  const { xs, ys } = hostData(n);
  const data = new TensorDataset({ data: xs, shape: [n, 3] }, { data: ys, shape: [n] });
  assert.is(data.count, n);
  assert.equal([...data.xShape], [3]);
  const loader = new DataLoader(data, { batchSize: 5, seed: 9 });
  assert.is(loader.count, n);
  assert.is(loader.length, 5);
  assert.is(loader.batchCount(), 5);
  assert.is(loader.batchCount(5, true), 4);
  assert.is(loader.batchCount(10), 3);

  const order = seededPermutation(n, 9, 3);
  const seen: number[] = [];
  const sizes: number[] = [];
  for (const batch of loader.batches(3)) {
    assert.equal([...batch.x.shape], [batch.size, 3]);
    assert.equal([...batch.y.shape], [batch.size]);
    assert.is(batch.x.dtype, 'f32');
    assert.is(batch.y.dtype, 'i32');
    const x = await batch.x.toArray();
    const y = await batch.y.toInt32Array();
    for (let r = 0; r < batch.size; r++) {
      const i = order[batch.index * 5 + r];
      assert.equal([...x.subarray(r * 3, r * 3 + 3)], [i, i + 0.5, -i], `batch ${batch.index} row ${r}`);
      assert.is(y[r], 3 * i + 1);
      assert.is(batch.labels![r], 3 * i + 1);
      seen.push(i);
    }
    sizes.push(batch.size);
  }
  assert.equal(sizes, [5, 5, 5, 5, 3]);
  assert.equal(seen, [...order]);
  assert.equal([...loader.batches(3, { dropLast: true })].map((b) => b.size), [5, 5, 5, 5]);

  // Another epoch (or seed) is another order; shuffle: false is file order.
  const firstOf = async (it: Iterator<Batch>) => {
    const r = it.next();
    assert.ok(!r.done);
    const labels = [...(await r.value.y.toInt32Array())];
    it.return?.();
    return labels;
  };
  const epoch3 = await firstOf(loader.batches(3));
  assert.equal(epoch3, [...order.subarray(0, 5)].map((i) => 3 * i + 1));
  assert.not.equal(await firstOf(loader.batches(4)), epoch3);
  assert.not.equal(await firstOf(loader.batches(3, { seed: 10 })), epoch3);
  assert.equal(await firstOf(loader.batches(3, { shuffle: false })), [1, 4, 7, 10, 13]);
  assert.equal(await firstOf(new DataLoader(data, { batchSize: 5, shuffle: false }).batches(0)), [1, 4, 7, 10, 13]);
  data.dispose();
});

test('iterating a DataLoader runs the next epoch each time (PyTorch habit); epoch is settable to resume', async () => {
  const n = 10;
  const { xs, ys } = hostData(n);
  const data = new TensorDataset({ data: Array.from(xs), shape: [n, 3] }, { data: Array.from(ys), shape: [n], dtype: 'i32' });
  const loader = new DataLoader(data, { batchSize: 4, seed: 2 });
  const epochOrder = async () => {
    const labels: number[] = [];
    for (const { y } of loader) labels.push(...(await y.toInt32Array()));
    return labels.map((v) => (v - 1) / 3);
  };
  assert.is(loader.epoch, 0);
  assert.equal(await epochOrder(), [...seededPermutation(n, 2, 0)]);
  assert.is(loader.epoch, 1);
  assert.equal(await epochOrder(), [...seededPermutation(n, 2, 1)]);
  loader.epoch = 7;
  assert.equal(await epochOrder(), [...seededPermutation(n, 2, 7)]);
  assert.throws(() => {
    loader.epoch = -1;
  }, /epoch must be a non-negative integer/);
  data.dispose();
});

test('TensorDataset over tensors (not copied, not disposed by it) and without y', async () => {
  const n = 6;
  const x = tensor(Array.from({ length: n * 2 }, (_, i) => i), [n, 2]);
  const y = tensor([0, 1, 2, 3, 4, 5], [n], { dtype: 'i32' });
  const data = new TensorDataset(x, y);
  const batch = data.gather([5, 0, 3]);
  assert.equal([...(await batch.x.toArray())], [10, 11, 0, 1, 6, 7]);
  assert.equal([...(await batch.y.toInt32Array())], [5, 0, 3]);
  assert.is(batch.labels, undefined, 'labels only come from host data (reading a tensor back is async)');
  batch.x.dispose();
  batch.y.dispose();
  data.dispose();
  assert.ok(!x.isDisposed && !y.isDisposed, 'the dataset disposed tensors it did not make');

  const images = new TensorDataset(x.view([n, 1, 2, 1]));
  const loader = new DataLoader(images, { batchSize: 4, shuffle: false });
  const shapes: number[][] = [];
  for (const b of loader) {
    assert.is(b.y, undefined);
    shapes.push([...b.x.shape]);
  }
  assert.equal(shapes, [[4, 1, 2, 1], [2, 1, 2, 1]]);
  assert.throws(() => data.gather([6]), /index 6 \(position 0\) is outside 0\.\.5/);
  x.dispose();
  y.dispose();
});

test('a DataLoader over MnistGpu yields the batches MnistGpu does: one BatchSource interface for both', async () => {
  const mnist = loadMnistGpu('test', { limit: 30 });
  const loader = new DataLoader(mnist, { batchSize: 8, seed: 4 });
  async function labelsOf(source: BatchSource, epoch: number): Promise<number[][]> {
    const out: number[][] = [];
    for (const { y, labels } of source.batches(epoch, { batchSize: 8, seed: 4 })) {
      const onGpu = [...(await y.toInt32Array())];
      assert.equal([...labels!], onGpu);
      out.push(onGpu);
    }
    return out;
  }
  assert.is(loader.batchCount(8), mnist.batchCount(8));
  assert.equal(await labelsOf(loader, 2), await labelsOf(mnist, 2));
  const before = memory().liveBuffers;
  for (const b of loader.batches(1)) if (b.index === 1) break;
  for (const _ of loader) {
    // consume
  }
  assert.is(memory().liveBuffers, before, 'DataLoader leaked batch tensors');
  mnist.dispose();
});

test('bad data and options fail with a clear message before any GPU work', () => {
  const x = { data: new Float32Array(12), shape: [4, 3] };
  const valid = new TensorDataset(x);
  const disposed = tensor([1, 2], [2]);
  disposed.dispose();
  const live = memory().liveTensors;
  const dispatches = dispatchesSoFar();
  const cases: [() => unknown, RegExp][] = [
    [() => new TensorDataset(x, { data: new Int32Array(5), shape: [5] }), /x and y must hold the same number of examples: x \(\[4, 3\]\) has 4, y \(\[5\]\) has 5/],
    [() => new TensorDataset({ data: new Float32Array(11), shape: [4, 3] }), /x has 11 values, but shape \[4, 3\] holds 12/],
    [() => new TensorDataset({ data: new Float32Array(12), shape: [] }), /x\.shape must be \[examples, \.\.\.\]/],
    [() => new TensorDataset({ data: new Float32Array(12), shape: [4, 3], dtype: 'i32' }), /x is a Float32Array but dtype is 'i32'/],
    [() => new TensorDataset(x, { data: [0, 1, 2.5, 3], shape: [4], dtype: 'i32' }), /y is i32 but value 2 is 2\.5/],
    [() => new TensorDataset({ data: [0, 1, NaN], shape: [3] }), /x value 2 is NaN: the data must be finite/],
    [() => new TensorDataset(new Float32Array(3) as unknown as Tensor), /x must be a Tensor or \{ data, shape, dtype\? \}/],
    [() => new DataLoader(valid, { batchSize: 0 }), /batch size must be a positive integer, got 0/],
    [() => new DataLoader(valid, { batch_size: 4 } as never), /unknown option 'batch_size'/],
    [() => new DataLoader({} as never, { batchSize: 4 }), /dataset must have a count of examples and a gather\(indices\) method/],
    [() => new TensorDataset(disposed), /x tensor #\d+ \[2\] f32 was disposed/],
    [() => new DataLoader(valid, { batchSize: 2, shuffle: 1 } as never), /shuffle must be true or false/],
    [() => new DataLoader(valid, { batchSize: 2 }).batches(0, { seed: 0.5 }).next(), /seed must be an integer/],
  ];
  for (const [make, message] of cases) assert.throws(make, message);
  assert.is(dispatchesSoFar(), dispatches, 'a kernel ran before the error');
  assert.is(memory().liveTensors, live, 'a failed construction uploaded something');
  valid.dispose();
});

test('through the public entry: a DataLoader feeds a model trained with a schedule and clipping (the docs/api.md example)', async () => {
  const { TensorDataset, DataLoader, nn, optim, tidy, crossEntropy, memory } = api;
  // Two classes: the label says whether x0 + x1 > 0.
  const n = 96;
  const xs = new Float32Array(n * 2);
  const ys = new Int32Array(n);
  const r = seededRandom(11);
  for (let i = 0; i < n; i++) {
    xs[2 * i] = r() * 2 - 1;
    xs[2 * i + 1] = r() * 2 - 1;
    ys[i] = xs[2 * i] + xs[2 * i + 1] > 0 ? 1 : 0;
  }
  const data = new TensorDataset({ data: xs, shape: [n, 2] }, { data: ys, shape: [n] });
  const loader = new DataLoader(data, { batchSize: 16, seed: 1 });
  const model = new nn.Sequential(new nn.Dense({ inFeatures: 2, units: 8, activation: 'relu', seed: 1 }), new nn.Dense({ inFeatures: 8, units: 2, seed: 2 }));
  const epochs = 6;
  const opt = new optim.Adam(model, { lr: optim.cosineDecay({ initialLr: 0.05, decaySteps: epochs * loader.length }), globalClipNorm: 1 });
  const losses: number[] = [];
  let liveAfterFirst = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    let total = 0;
    for (const { x, y, size } of loader) {
      const loss = tidy(() => {
        opt.zeroGrad();
        const l = crossEntropy(model.forward(x), y);
        l.backward();
        opt.step();
        return l;
      });
      total += (await loss.item()) * size;
      loss.dispose();
    }
    losses.push(total / n);
    if (epoch === 0) liveAfterFirst = memory().liveTensors;
  }
  assert.is(loader.epoch, epochs);
  assert.is(opt.stepCount, epochs * loader.length);
  assert.ok(losses[epochs - 1] < 0.5 * losses[0], `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(', ')}`);
  assert.is(memory().liveTensors, liveAfterFirst, 'training leaked tensors across epochs');
  assert.is(typeof api.optim.clipGradNorm, 'function');
  assert.is(typeof api.optim.stepDecay, 'function');
  opt.dispose();
  model.dispose();
  data.dispose();
});

test.run();
