// The playground page (playground/) losing its WebGPU device, in headless Chromium on SwiftShader
// (as tests/playground.test.ts runs it): the training section loses the device mid-run, opens a
// new one, goes back to its last epoch's end and ends with the losses and weights of a run that
// never lost it, bit for bit; three losses in a row stop it with a clear note; and after a loss
// between two jobs the models section draws again what it drew before. The page is built with
// few digits, so that a whole run of the in-page training is a few steps on the CPU.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import type { OpenedPage } from './browser-kit.ts';
import { PlaygroundSession } from './playground-kit.ts';
import type { PlaygroundHooks, TrainingState } from '../playground/src/hooks.ts';

declare const window: { __playground: PlaygroundHooks };

/** 32 digits at batch 8: 4 steps an epoch, 8 in the preset's two epochs. */
const MNIST_IMAGES = 32;
const BATCH = 8;
const STEPS = 8;

const session = new PlaygroundSession('playground-loss-test-', MNIST_IMAGES);
let opened: OpenedPage | undefined;

async function page(): Promise<Page> {
  const served = await session.open();
  opened = served.opened;
  return opened.page;
}

test.after(() => session.close());

/** A fresh run (Start over), trained to its end with the device lost after each of `lostAfter`. */
async function trainedRun(p: Page, lostAfter: number[]): Promise<{ returned: number[]; state: TrainingState }> {
  if (!(await p.isDisabled('#train-reset'))) await p.click('#train-reset');
  const returned = await p.evaluate(async ({ steps, batchSize, lostAfter }) => {
    if (lostAfter.length) window.__playground.simulateDeviceLoss(lostAfter);
    return window.__playground.trainSteps(steps, { batchSize });
  }, { steps: STEPS, batchSize: BATCH, lostAfter });
  const state = (await p.evaluate(() => window.__playground.trainingState()))!;
  return { returned, state };
}

test('the page trains on after losing its device mid-run, says so, and ends as a run that never lost it', async () => {
  const p = await page();
  const unbroken = await trainedRun(p, []);
  assert.is(unbroken.state.step, STEPS);
  assert.ok(unbroken.state.done, 'the run reached its end');
  assert.is(unbroken.state.note, undefined, 'no note without a loss');
  assert.is(unbroken.returned.length, STEPS);

  // Lost after step 6, in the second epoch: back to epoch 1's end (step 4), steps 5–8 again.
  const broken = await trainedRun(p, [6]);
  console.log(`  note: ${broken.state.note}`);
  assert.ok(broken.state.done, 'the run reached its end after the loss');
  assert.is(broken.state.step, STEPS);
  assert.match(broken.state.note ?? '', /^GPU device lost at step 6 \(simulated after step 6\); restored epoch 1's weights \(step 4\) on a new device; continuing/);
  assert.equal(broken.state.losses, unbroken.state.losses, 'the same losses, bit for bit');
  assert.equal(broken.returned, unbroken.returned);
  assert.is(broken.state.weights, unbroken.state.weights, 'the same weights, bit for bit');
  assert.match(broken.state.progress, /step 8 of 8/);
  assert.match(await p.textContent('#gpu-status') ?? '', /The page opened a new one/);

  // Before any epoch ended: back to the start of the run.
  const early = await trainedRun(p, [2]);
  assert.match(early.state.note ?? '', /at step 2 .*restored the start of the run on a new device; continuing/);
  assert.equal(early.state.losses, unbroken.state.losses);
  assert.is(early.state.weights, unbroken.state.weights);
  assert.equal(opened!.errors, [], opened!.errors.join('\n'));
});

test('three losses in a row stop the training with a note that says why; Continue goes on from the kept epoch', async () => {
  const p = await page();
  await p.click('#train-reset');
  await p.evaluate((batchSize) => window.__playground.trainSteps(4, { batchSize }), BATCH);
  const error = await p.evaluate(async (batchSize) => {
    window.__playground.simulateDeviceLoss([6, 6, 6]);
    try {
      await window.__playground.trainSteps(4, { batchSize });
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }, BATCH);
  assert.ok(error, 'trainSteps throws when the run stops');
  assert.match(error!, /lost 3 times in a row/);
  const stopped = (await p.evaluate(() => window.__playground.trainingState()))!;
  assert.is(stopped.step, 4, "the run is kept at epoch 1's end");
  assert.match(stopped.note ?? '', /training stopped/);
  assert.match(stopped.note ?? '', /kept at epoch 1's weights \(step 4\)/);
  assert.match(await p.textContent('#train-device-note') ?? '', /training stopped/);
  // A visitor's Continue: the run goes on from there to its end.
  const rest = await p.evaluate((batchSize) => window.__playground.trainSteps(4, { batchSize }), BATCH);
  assert.is(rest.length, 4);
  assert.ok((await p.evaluate(() => window.__playground.trainingState()))!.done);
  assert.equal(opened!.errors, [], opened!.errors.join('\n'));
});

test('after a loss between two jobs the models section reloads its weights and draws what it drew before', async () => {
  const p = await page();
  const zs = [[0, 0], [1.5, -0.5]];
  const draw = () => p.evaluate(async (zs) => ({
    vae: Array.from(await window.__playground.decodeVae(zs)),
    gan: Array.from(await window.__playground.generateGan(2, 3)),
    cgan: Array.from(await window.__playground.generateCgan([1, 7], 3)),
  }), zs);
  const before = await draw();
  const banner = await p.evaluate(() => window.__playground.loseDevice());
  console.log(`  banner: ${banner}`);
  assert.match(banner, /simulated by loseDevice\(\).*The page opened a new one/);
  const after = await draw();
  assert.equal(after.vae, before.vae, 'the VAE decoder draws the same images');
  assert.equal(after.gan, before.gan, 'the GAN generator draws the same images');
  assert.equal(after.cgan, before.cgan, 'the cGAN generator draws the same images');
  assert.match(await p.textContent('#vae-status') ?? '', /reloaded on a new device/);
  // The ladder runs on the new device too.
  const rung = await p.evaluate(() => window.__playground.verifyRung('matmul', 'tiled', 36));
  assert.ok(rung.ok, rung.error);
  assert.equal(opened!.errors, [], opened!.errors.join('\n'));
});

test.run();
