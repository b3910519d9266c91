// The kernel and model-step tests again, on a device with only WebGPU's default limits (16 KiB of
// workgroup memory, 256 invocations per workgroup, 8 storage buffers per stage, 128 MiB per
// binding, 65,535 workgroups per dimension): one child process under WEBGPU_LIMITS=default, which
// fails here if any of its tests fails there (a kernel too big for the defaults fails to compile
// or validate, with its name). tests/limits.test.ts, run in it too, checks that the device there
// has exactly the spec's defaults.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChild } from './child.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// The kernels' files (every variant against its float64 reference), the model steps against
// their float64 computation, and grid folding (its real 70,001-workgroup launch on a device
// whose limit is exactly 65,535).
export const DEFAULT_LIMITS_FILES = [
  'limits', 'matmul', 'conv', 'conv-subgroup', 'conv-transpose', 'conv-winograd', 'elementwise', 'reduce', 'softmax',
  'batchnorm', 'dropout', 'random', 'shape-ops', 'loss-ops', 'optim', 'gan-step', 'grid-fold',
];

test('the kernel and model-step tests pass under WEBGPU_LIMITS=default', async () => {
  const started = performance.now();
  const pattern = `(^|/)(${DEFAULT_LIMITS_FILES.join('|')})\\.test\\.ts$`;
  const run = await runChild(process.execPath, ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'tests', pattern], {
    cwd: root,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', WEBGPU_LIMITS: 'default', WEBGPU_MINI_DL_TUNE: 'off' },
    timeoutMs: 240_000,
  });
  const clean = (run.stdout + run.stderr).replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(clean)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(clean)?.[1] ?? 0);
  console.log(`  under default limits: ${passed}/${total} tests of ${DEFAULT_LIMITS_FILES.length} files in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.is(run.code, 0, `the default-limits run failed:\n${clean.slice(-6000)}`);
  assert.ok(total > 50 && passed === total, `${passed} of ${total} passed`);
});

test.run();
