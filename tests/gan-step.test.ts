// One training step of the DCGAN and of the conditional GAN (both phases), at width 1/32, checked
// against a float64 computation of the same step on the host (tests/gan-reference.ts): both
// losses, the gradient every parameter holds after the step (each network's from its own loss
// only), every weight and Adam moment after the update, and the generator's BatchNorm moving
// statistics (moved once by the DCGAN step, twice by the cGAN's). GAN_STEP_VERBOSE=1 prints how
// much of each tolerance was used (on llvmpipe: at most ~0.2 of it, most checks below 0.01).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import type { Batch } from '../src/data/batches.ts';
import { Gan } from '../src/models/gan.ts';
import { wrongDigitsReference } from './gan-reference.ts';
import { WIDTH, checkOneStep } from './gan-step-checks.ts';

test.before(async () => {
  await ready;
});

test('DCGAN trainStep (width 1/32, batch 4): losses, gradients, Adam-updated weights of G and D, and BatchNorm moving statistics match float64', async () => {
  await checkOneStep(false, 11, 5);
});

test('cGAN trainStep (both phases): losses, gradients, weights, and moving statistics moved twice match float64', async () => {
  await checkOneStep(true, 12, 3);
});

test('matching-aware cGAN trainStep: the third discriminator term (real images, wrong digits) matches float64 too', async () => {
  await checkOneStep(true, 13, 4, true);
});

test('matching-aware: every wrong digit differs from the true one, all others drawn; refused where it cannot apply', async () => {
  const gan = new Gan({ width: WIDTH, conditional: true, matchingAware: true, seed: 3 });
  try {
    const labels = Int32Array.from({ length: 900 }, (_, i) => i % 10);
    const batch: Batch = { x: tensor(new Float32Array(900 * 784), [900, 28, 28, 1]), y: Gan.digits([...labels]), labels, index: 0, size: 900 };
    const wrong = await gan.wrongDigits(batch, 7).toArray();
    const seen = new Set<string>();
    for (let i = 0; i < 900; i++) {
      assert.ok(wrong[i] !== labels[i] && wrong[i] >= 0 && wrong[i] < 10, `image ${i}: digit ${labels[i]}, wrong ${wrong[i]}`);
      seen.add(`${labels[i]}→${wrong[i]}`);
    }
    assert.is(seen.size, 90, 'each digit paired with each of the 9 others');
    assert.equal([...wrong], wrongDigitsReference([...labels], 10, 3, 7));
    batch.x.dispose();
    batch.y.dispose();
    const noHostLabels: Batch = { x: tensor(new Float32Array(784), [1, 28, 28, 1]), y: Gan.digits([1]), index: 0, size: 1 };
    assert.throws(() => gan.wrongDigits(noHostLabels, 0), /needs the batch's digits on the host/);
    noHostLabels.x.dispose();
    noHostLabels.y.dispose();
  } finally {
    gan.dispose();
  }
  assert.throws(() => new Gan({ conditional: false, matchingAware: true }), /applies to the conditional GAN only/);
});

test.run();
