import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, assertClose, seededRandom } from './helpers.ts';
import { fromData, Tensor } from '../src/core/tensor.ts';
import { run } from '../src/core/dispatch.ts';
import { memory } from '../src/core/memory.ts';
import { gatherBytesProgram, gatherBytesReference, gatherI32Program, gatherReference, packBytes } from '../src/kernels/gather.ts';
import { seededPermutation } from '../src/data/shuffle.ts';
import { loadMnistGpu, loadMnist } from '../src/data/mnist-files.ts';

test.before(async () => {
  await ready;
});

test('gather kernels match the reference (awkward row widths, offsets into the index list)', async () => {
  for (const [n, rowBytes, count, start] of [[1, 1, 1, 0], [5, 3, 2, 1], [40, 7, 33, 5], [70, 65, 65, 3], [9, 130, 4, 5]] as const) {
    const r = seededRandom(n * rowBytes);
    const bytes = Uint8Array.from({ length: n * rowBytes }, () => Math.floor(r() * 256));
    const values = Int32Array.from({ length: n }, () => Math.floor(r() * 2000) - 1000);
    const indices = Uint32Array.from({ length: start + count }, () => Math.floor(r() * n));
    const packed = fromData(packBytes(bytes), [Math.ceil(bytes.length / 4)], 'u32');
    const valuesT = fromData(values, [n], 'i32');
    const idx = fromData(indices, [indices.length], 'u32');
    const out = new Tensor([count, rowBytes], 'f32');
    const outLabels = new Tensor([count], 'i32');
    run(gatherBytesProgram(count, rowBytes, start, 2 / 255, -1), [packed.gpu, idx.gpu], [out.gpu]);
    run(gatherI32Program(count, start), [valuesT.gpu, idx.gpu], [outLabels.gpu]);
    assertClose(await out.toArray(), gatherBytesReference(bytes, rowBytes, indices, start, count, 2 / 255, -1), `gatherBytes n=${n} row=${rowBytes}`, 1e-6, 1e-6);
    assert.equal([...(await outLabels.toInt32Array())], [...gatherReference(values, indices, start, count)]);
    for (const t of [packed, valuesT, idx, out, outLabels]) t.dispose();
  }
});

test('MnistGpu batches: a seeded permutation per epoch, partial last batch kept (or dropped), exact pixels', async () => {
  const limit = 300;
  const host = loadMnist('train', { limit });
  const data = loadMnistGpu('train', { limit, range: [-1, 1] });
  assert.is(data.count, limit);
  assert.is(data.batchCount(128), 3);
  assert.is(data.batchCount(128, true), 2);
  const order = seededPermutation(limit, 7, 2);
  const sizes: number[] = [];
  const labels: number[] = [];
  for (const { x, y, size, index } of data.batches(2, { batchSize: 128, seed: 7 })) {
    assert.equal([...x.shape], [size, 28, 28, 1]);
    assert.equal([...y.shape], [size]);
    assert.is(y.dtype, 'i32');
    if (index === 2) {
      // Check the pixels of the (partial) last batch exactly: b·2/255 − 1.
      const expected = gatherBytesReference(host.images, 784, order, 256, size, 2 / 255, -1);
      assertClose(await x.toArray(), expected, 'last batch pixels', 1e-6, 1e-6);
    }
    sizes.push(size);
    labels.push(...(await y.toInt32Array()));
  }
  assert.equal(sizes, [128, 128, 44]);
  assert.equal(labels, [...order].map((i) => host.labels[i]));
  const dropped = [...data.batches(0, { batchSize: 128, dropLast: true })].length;
  assert.is(dropped, 2);
  // Without shuffling, batches come in file order.
  const inOrder = data.batches(0, { batchSize: 10, shuffle: false });
  const first = inOrder.next();
  assert.ok(!first.done);
  assert.equal([...(await first.value!.y.toInt32Array())], [...host.labels.subarray(0, 10)]);
  inOrder.return();
  data.dispose();
});

test('MnistGpu frees every batch (breaking out early too) and rejects bad arguments', async () => {
  const data = loadMnistGpu('test', { limit: 64 });
  const before = memory().liveBuffers;
  for (const _ of data.batches(0, { batchSize: 10 })) {
    // consume
  }
  for (const { index } of data.batches(1, { batchSize: 10 })) if (index === 2) break;
  assert.is(memory().liveBuffers, before, 'batch tensors leaked');
  const picked = data.gather([3, 0, 63]);
  assert.equal([...picked.x.shape], [3, 28, 28, 1]);
  picked.x.dispose();
  picked.y.dispose();
  assert.throws(() => data.gather([64]), /index 64 \(position 0\) is outside 0\.\.63/);
  assert.throws(() => data.batches(0, { batchSize: 0 }).next(), /batch size must be a positive integer, got 0/);
  assert.throws(() => data.batches(-1, { batchSize: 4 }).next(), /epoch must be a non-negative integer/);
  assert.throws(() => loadMnistGpu('test', { limit: 4, range: [0, NaN] }), /range must be two finite numbers/);
  data.dispose();
});

test.run();
