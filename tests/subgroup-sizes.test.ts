// The subgroup kernels at every subgroup size this machine can give. On Mesa's llvmpipe a
// subgroup is one SIMD register of 32-bit lanes, and LP_NATIVE_VECTOR_WIDTH sets its width in
// bits: 128 → 4 lanes, 256 → 8 (AVX2's default), 512 → 16 (LLVM splits the vectors where the CPU
// lacks AVX-512). Past 512 llvmpipe reports 32, 64, 128 lanes (adapter info and the
// subgroup_size builtin) but its subgroups keep 16 (subgroupAdd counts them): sizes it cannot
// really give. Each width runs tests/conv-subgroup.test.ts in a child process (every pass
// against the float64 references); the test says which sizes it got and which it did not.
// Elsewhere (a GPU, another driver) the size is the hardware's, and the plain run covers it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ready } from './helpers.ts';
import { getGpu } from '../src/core/device.ts';
import { runChild } from './child.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WIDTHS = [128, 256, 512, 1024];
const WANTED = [4, 8, 16, 32, 64, 128];

test('the subgroup kernels at every lane count llvmpipe gives (LP_NATIVE_VECTOR_WIDTH)', async () => {
  await ready;
  if (!/llvmpipe/i.test(getGpu().info.description) || !getGpu().info.hasSubgroups) {
    console.log(`  (skipped: ${getGpu().info.description} is not llvmpipe with subgroups; its own size runs in tests/conv-subgroup.test.ts)`);
    return;
  }
  const got = new Map<number, number>(); // lanes a subgroup really has → the width that gave them
  const lines: string[] = [];
  for (const width of WIDTHS) {
    const started = performance.now();
    const run = await runChild(process.execPath, ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'tests', '(^|/)conv-subgroup\\.test\\.ts$'], {
      cwd: root,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', LP_NATIVE_VECTOR_WIDTH: String(width), WEBGPU_MINI_DL_TUNE: 'off' },
      timeoutMs: 240_000,
    });
    const clean = (run.stdout + run.stderr).replace(/\x1b\[[0-9;]*m/g, '');
    const m = /SUBGROUP-SIZES reported=(\d+)\.\.(\d+) builtin=(\d+) counted=(\d+) kernel-lanes=(\d+)/.exec(clean);
    assert.is(run.code, 0, `LP_NATIVE_VECTOR_WIDTH=${width}: the subgroup tests failed:\n${clean.slice(-6000)}`);
    assert.ok(m, `LP_NATIVE_VECTOR_WIDTH=${width}: no subgroups there (${clean.slice(-500)})`);
    const total = Number(/Total:\s+(\d+)/.exec(clean)?.[1] ?? 0);
    const passed = Number(/Passed:\s+(\d+)/.exec(clean)?.[1] ?? 0);
    assert.ok(total >= 6 && passed === total, `LP_NATIVE_VECTOR_WIDTH=${width}: ${passed} of ${total} subgroup tests passed`);
    const [reported, counted] = [Number(m![1]), Number(m![4])];
    if (!got.has(counted)) got.set(counted, width);
    lines.push(`LP_NATIVE_VECTOR_WIDTH=${width}: reports ${reported} lanes, runs ${counted}, kernels count on ${m![5]}: ${passed} tests passed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  for (const line of lines) console.log(`  ${line}`);
  const missing = WANTED.filter((n) => !got.has(n));
  console.log(`  subgroup sizes run: ${[...got.keys()].sort((a, b) => a - b).join(', ')}; not to be had here: ${missing.join(', ') || 'none'}`);
  assert.ok(got.has(8), 'the default width gives 8 lanes');
});

test.run();
