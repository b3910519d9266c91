import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32 } from './helpers.ts';
import { tensor, zeros } from '../src/core/creation.ts';
import { adamStep, sgdStep } from '../src/core/optim-ops.ts';
import { adamReference, sgdReference, type AdamHyper, type SgdHyper } from '../src/kernels/optimizers.ts';
import { memory } from '../src/core/memory.ts';

test.before(async () => {
  await ready;
});

const SIZES = [1, 3, 7, 33, 65, 130, 1031];
const STEPS = 5;

test('Adam kernel matches the float64 reference for 5 steps, updating in place', async () => {
  const h: AdamHyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
  for (const size of SIZES) {
    const p0 = f32(randomArray([size], size));
    const param = tensor(p0, [size]);
    const m = zeros([size]);
    const v = zeros([size]);
    const refP = Float64Array.from(p0);
    const refM = new Float64Array(size);
    const refV = new Float64Array(size);
    const storage = [param, m, v].map((t) => t.gpu.buffer);
    const liveBefore = memory().liveBuffers;
    for (let t = 1; t <= STEPS; t++) {
      const g = f32(randomArray([size], 100 * size + t, -2, 2));
      const gt = tensor(g, [size]);
      adamStep(param, gt, m, v, { ...h, step: t });
      gt.dispose();
      adamReference(refP, g, refM, refV, h, t);
    }
    assertClose(await param.toArray(), refP, `adam param (${size})`, 1e-5, 1e-6);
    assertClose(await m.toArray(), refM, `adam m (${size})`, 1e-5, 1e-7);
    assertClose(await v.toArray(), refV, `adam v (${size})`, 1e-5, 1e-8);
    // In place: the same buffers hold the results, and nothing else stays alive.
    assert.ok([param, m, v].every((t, i) => t.gpu.buffer === storage[i]), 'adamStep replaced a buffer');
    assert.is(memory().liveBuffers, liveBefore, 'adamStep left live buffers behind');
    for (const t of [param, m, v]) t.dispose();
  }
});

test('SGD kernels (plain, momentum, Nesterov, weight decay) match the float64 reference for 5 steps', async () => {
  const configs: SgdHyper[] = [
    { lr: 0.1, momentum: 0, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, weightDecay: 1e-2, nesterov: true },
    { lr: 0.1, momentum: 0, weightDecay: 5e-2, nesterov: false },
  ];
  for (const h of configs) {
    for (const size of SIZES) {
      const p0 = f32(randomArray([size], size + 1));
      const param = tensor(p0, [size]);
      const buf = h.momentum !== 0 ? zeros([size]) : null;
      const refP = Float64Array.from(p0);
      const refBuf = h.momentum !== 0 ? new Float64Array(size) : null;
      for (let t = 1; t <= STEPS; t++) {
        const g = f32(randomArray([size], 7 * size + t));
        const gt = tensor(g, [size]);
        sgdStep(param, gt, buf, h);
        gt.dispose();
        sgdReference(refP, g, refBuf, h);
      }
      const what = `sgd ${JSON.stringify(h)} (${size})`;
      assertClose(await param.toArray(), refP, what, 1e-5, 1e-6);
      if (buf) assertClose(await buf.toArray(), refBuf!, `${what} buffer`, 1e-5, 1e-6);
      param.dispose();
      buf?.dispose();
    }
  }
});

test('update kernels reject mismatched or disposed tensors before any GPU work', async () => {
  const p = zeros([3, 4]);
  const g = zeros([4, 3]);
  const m = zeros([3, 4]);
  const v = zeros([3, 4]);
  const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 1 };
  assert.throws(() => adamStep(p, g, m, v, h), /grad \[4, 3\] does not match param .*\[3, 4\]/);
  assert.throws(() => adamStep(p, m, m, v, h), /distinct/);
  assert.throws(() => adamStep(p, m, v, zeros([3, 4]), { ...h, step: 0 }), /step must be an integer/);
  assert.throws(() => adamStep(p, m, v, zeros([3, 4]), { ...h, beta1: 1 }), /beta1/);
  assert.throws(() => sgdStep(p, m, null, { lr: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false }), /needs a momentum buffer/);
  assert.throws(() => sgdStep(p, m, null, { lr: NaN, momentum: 0, weightDecay: 0, nesterov: false }), /lr must be a finite number/);
  v.dispose();
  assert.throws(() => adamStep(p, g.view([3, 4]), m, v, h), /v .*disposed/);
  for (const t of [p, g, m]) t.dispose();
});

test.run();
