// A lost device loses nothing (issue 21 §1): a training run whose device is lost (simulated:
// destroyed after a given step, marked as a loss) opens a new one, goes back to the last epoch's
// checkpoint (or a host copy of it, or the start), and ends with the same final checkpoint, bit for
// bit, as a run that never lost it: the VAE and a narrow DCGAN through runTraining, and a small
// Module through fit() on host data. Three losses in a row stop with the checkpoint kept; a
// shutdown is not a loss. Tiny settings: 2–3 steps an epoch, two epochs.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { runChild } from './child.ts';
import { tinyFit, TINY } from './device-loss-run.ts';
import { DeviceError, deviceLossBehind, getGpu, init, isDeviceLost, shutdownDevice, simulateDeviceLoss } from '../src/core/device.ts';
import { tensor } from '../src/core/creation.ts';
import { readCheckpointInfo } from '../src/nn/checkpoint-file.ts';
import { loadSafetensors } from '../src/io/safetensors-file.ts';
import { runTraining, type TrainRunOptions } from '../src/runs/run.ts';
import { DeviceLostError } from '../src/train/trainer.ts';
import type { ModelKind } from '../src/models/kinds.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'device-loss-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
test.before(async () => {
  await ready;
});

let runs = 0;

/** A tiny runTraining run (2 epochs): its log and its final checkpoint's path. */
async function train(kind: ModelKind, extra: Partial<TrainRunOptions> = {}): Promise<{ lines: string[]; path: string }> {
  const out = join(dir, `${kind}-${runs++}`);
  const lines: string[] = [];
  const gan = kind !== 'vae';
  await runTraining({
    kind, epochs: 2, seed: 4, out, samples: 100, evaluate: false, progress: false, log: (l) => lines.push(l), testLimit: 40,
    // VAE: 48 images in batches of 16; GAN: 24 in batches of 8 at an eighth of the width. Three steps an epoch.
    ...(gan ? { limit: 24, batchSize: 8, modelConfig: { width: 0.125 }, batchNormBatches: 2 } : { limit: 48, batchSize: 16 }),
    ...extra,
  } as TrainRunOptions);
  return { lines, path: join(out, 'checkpoint.safetensors') };
}

function assertSameCheckpoint(actual: string, expected: string): void {
  const a = loadSafetensors(actual);
  const b = loadSafetensors(expected);
  assert.equal([...a.tensors.keys()].sort(), [...b.tensors.keys()].sort(), 'tensor names');
  const bytes = (d: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Buffer => Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  for (const [name, t] of b.tensors) assert.ok(bytes(a.tensors.get(name)!.data).equals(bytes(t.data)), `tensor ${name} differs from the unbroken run's`);
  const [ia, ib] = [readCheckpointInfo(actual), readCheckpointInfo(expected)];
  assert.equal(ia.progress, ib.progress, 'progress');
  assert.is(ia.extra.history, ib.extra.history, 'the loss history');
}

for (const kind of ['vae', 'gan'] as const) {
  test(`${kind}: a run that loses its device before the first epoch ends and again after it ends finishes with the unbroken run's checkpoint, bit for bit`, async () => {
    const straight = await train(kind);
    // Step 2: no epoch has ended (back to the start, from the host copy); step 5: epoch 1 ended
    // at step 3 (back to its checkpoint file).
    const broken = await train(kind, { simulateDeviceLoss: [2, 5] });
    const lost = broken.lines.filter((l) => /device was lost/.test(l));
    assert.is(lost.length, 2, broken.lines.join('\n'));
    assert.match(lost[0], /simulated after step 2.*restoring the start of the run from the host copy/);
    assert.match(lost[1], /simulated after step 5.*restoring epoch 1's end \(step 3\) from .*checkpoint\.safetensors/);
    assert.ok(broken.lines.some((l) => /going on from epoch 1's end \(step 3\) on a new device/.test(l)), broken.lines.join('\n'));
    assertSameCheckpoint(broken.path, straight.path);
  });
}

test('three losses in a row (no epoch ending in between) stop the run with a message saying why, the checkpoint kept', async () => {
  // Step 5 three times: each time the run goes back to epoch 1's end (step 3) and loses step 5 again.
  let caught: unknown;
  let path = '';
  try {
    ({ path } = await train('vae', { simulateDeviceLoss: [5, 5, 5], out: join(dir, 'three') }));
  } catch (e) {
    caught = e;
  }
  path = join(dir, 'three', 'checkpoint.safetensors');
  assert.instance(caught, DeviceLostError);
  const error = caught as DeviceLostError;
  assert.is(error.losses, 3);
  assert.match(error.message, /lost 3 times in a row with no epoch ending in between/);
  assert.match(error.message, /the last checkpoint, .*checkpoint\.safetensors, from epoch 1's end \(step 3\), is kept: run again with --resume/);
  assert.equal(readCheckpointInfo(path, 'vae').progress, { epoch: 1, step: 3, batchInEpoch: 0, seed: 4 });
  // The stop left a working device behind: the process goes on.
  assert.not.ok(isDeviceLost());
  const t = tensor([1, 2, 3], [3]);
  assert.equal(Array.from(await t.toArray()), [1, 2, 3]);
  t.dispose();
});

test('fit() on a Module with host data and no checkpoint path goes back to its host copy, and ends as the unbroken run', async () => {
  const straight = await tinyFit(3);
  // Losses after steps 2 (the start), 5 (epoch 1's end) and 8 (epoch 2's end): three losses, never
  // three in a row, so the run goes on to the end.
  const broken = await tinyFit(3, { simulateDeviceLoss: [2, 5, 8] });
  assert.equal(broken.weights, straight.weights);
  assert.equal(broken.history.steps, straight.history.steps);
  assert.equal(broken.history.progress, { epoch: 3, step: 3 * TINY.stepsPerEpoch, batchInEpoch: 0, seed: 3 });
  assert.is(broken.lines.filter((l) => /device was lost/.test(l)).length, 3, broken.lines.join('\n'));
  assert.ok(broken.lines.some((l) => /restoring epoch 2's end \(step 6\) from the host copy/.test(l)), broken.lines.join('\n'));
  // Three in a row: the error hands back the host copy of where the run stood.
  try {
    await tinyFit(3, { simulateDeviceLoss: [4, 4, 4] });
    assert.unreachable('went on after three losses in a row');
  } catch (e) {
    assert.instance(e, DeviceLostError);
    assert.match((e as Error).message, /the host copy of epoch 1's end \(step 3\) is kept/);
    assert.ok((e as DeviceLostError).checkpoint instanceof Uint8Array);
  }
});

test('WEBGPU_SIMULATE_DEVICE_LOSS=2,5 in a process of its own: the run survives both and ends as the unbroken one', async () => {
  const straight = await tinyFit(2);
  const child = await runChild(process.execPath, ['--import', 'tsx', join(root, 'tests', 'device-loss-run.ts'), '2'], {
    cwd: root, env: { ...process.env, WEBGPU_SIMULATE_DEVICE_LOSS: '2,5', XDG_RUNTIME_DIR: '/tmp' }, timeoutMs: 60_000,
  });
  assert.is(child.code, 0, child.stderr);
  const line = child.stdout.trim().split('\n').pop()!;
  const run = JSON.parse(line) as { weights: Record<string, string>; lines: string[] };
  assert.is(run.lines.filter((l) => /device was lost \(simulated after step [25]\)/.test(l)).length, 2, run.lines.join('\n'));
  assert.equal(run.weights, straight.weights);
});

test('a wrong WEBGPU_SIMULATE_DEVICE_LOSS or simulateDeviceLoss is refused, naming it', async () => {
  for (const bad of [0, 1.5, [3, -1]]) {
    try {
      await tinyFit(1, { simulateDeviceLoss: bad as number });
      assert.unreachable(`took simulateDeviceLoss ${JSON.stringify(bad)}`);
    } catch (e) {
      assert.match((e as Error).message, /simulateDeviceLoss.*not a step number/);
    }
  }
});

test('a shutdown is not a loss: fit() does not take its own device being shut down for one, and init() opens a new one', async () => {
  // An error of the kind a loss causes, with the device only shut down: no loss behind it.
  const gpu = getGpu();
  shutdownDevice();
  const info = await gpu.device.lost;
  assert.is(info.reason, 'destroyed');
  assert.not.ok(isDeviceLost());
  assert.is(await deviceLossBehind(new DeviceError('x'), 50), undefined);
  await init();
  // Shut down in the middle of a run (a callback does it): the run fails as it would without any
  // recovery, naming init(), rather than opening a device of its own.
  try {
    await tinyFit(2, { callbacks: [{ onEpochEnd: () => shutdownDevice() }] });
    assert.unreachable('went on after a shutdown');
  } catch (e) {
    assert.not.instance(e, DeviceLostError);
    assert.match((e as Error).message, /not initialised|disposed|init\(\)/);
  }
  assert.not.ok(isDeviceLost());
  await init();
  // A simulated loss, by contrast, is one.
  simulateDeviceLoss();
  assert.ok(isDeviceLost());
  shutdownDevice();
  await init();
  assert.not.ok(isDeviceLost());
});

test.run();
