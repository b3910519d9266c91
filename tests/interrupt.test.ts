// Ctrl-C as a person presses it: through `npm run`, the terminal sends SIGINT to the whole
// process group (npm, its shell, node). The run must stop after its current step, save a
// checkpoint and end; `--resume` must find it. (With tsx's CLI in between, the signal was relayed
// and followed within ~30 ms by a second one and a SIGKILL, and 4 of 7 runs lost their checkpoint.)

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { readCheckpointInfo } from '../src/nn/checkpoint-file.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'interrupt-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test.before(async () => {
  await ready;
});

test('Ctrl-C to `npm run train` (the whole process group) leaves a checkpoint that --resume continues', async () => {
  const out = join(dir, 'classifier');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // Its own process group, as a terminal's foreground job is.
  const child = spawn(npm, ['run', 'train:classifier', '--', '--out', out, '--limit', '2048', '--batch-size', '16', '--epochs', '2'], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { XDG_RUNTIME_DIR: '/tmp', ...process.env },
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  const training = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`training did not start:\n${output}`)), 90_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      // The plain progress line at 10% (stdout is not a terminal): training is under way.
      if (/epoch 1\/2\s+\d+%/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
  try {
    await training;
    process.kill(-child.pid!, 'SIGINT');
    const code = await exited;
    assert.ok(code !== 0, `an interrupted run exited 0:\n${output}`);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  assert.match(output, /stopping after this step and saving a checkpoint/);
  assert.match(output, /checkpoint saved to .*checkpoint\.safetensors at step \d+; run again with --resume/);
  const progress = readCheckpointInfo(join(out, 'checkpoint.safetensors'), 'classifier').progress;
  assert.ok(progress.step > 0 && progress.epoch === 0 && progress.batchInEpoch === progress.step, JSON.stringify(progress));
});

test.run();
