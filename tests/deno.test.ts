// The Deno part of the suite: tests/deno/wgpu.ts run by the `deno` binary of the dev dependency
// (npm's `deno` package brings it for this platform; nothing is downloaded), on wgpu, Deno's
// navigator.gpu. Its per-test times and a summary line go into this suite's log; it passes when
// every test there passed.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runChild } from './child.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The package's launcher: it finds the binary of @deno/<platform> (and copies it next to itself
// when its install script ran, which then starts it directly).
const launcher = join(root, 'node_modules/deno/bin.cjs');
const TIMEOUT_S = 300;

test('deno (wgpu): tests/deno/wgpu.ts passes under Deno', async () => {
  assert.ok(existsSync(launcher), `${launcher} is missing: deno is a dev dependency, run \`npm install\``);
  const started = Date.now();
  const run = await runChild(process.execPath, [launcher, 'run', '--allow-all', '--no-lock', join(root, 'tests/deno/wgpu.ts')], {
    cwd: root,
    env: {
      ...process.env,
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
      // The fixed kernel rules, as the rest of the suite (scripts/run-tests.mjs).
      WEBGPU_MINI_DL_TUNE: 'off',
      // No colours to parse around, and no look-up of a newer Deno on the network.
      NO_COLOR: '1',
      DENO_NO_UPDATE_CHECK: '1',
    },
    timeoutMs: TIMEOUT_S * 1000,
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const out = run.stdout.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  // The Deno part's own lines (the adapter, each test's time), then one summary line.
  // (uvu puts its progress dot before each line a test prints.)
  for (const line of out.split('\n')) {
    const adapter = /(adapter: .*)$/.exec(line);
    const timed = /(\d+\.\d) s {2}(.*)$/.exec(line);
    if (adapter) console.log(`  ${adapter[1]}`);
    else if (timed) console.log(`  ${timed[1].padStart(5)} s  ${timed[2]}`);
  }
  console.log(`  deno (wgpu): ${passed} of ${total} tests passed in ${seconds} s`);
  const why = run.code === null ? `was stopped after ${TIMEOUT_S} s` : `exited with code ${run.code}`;
  assert.ok(run.code === 0 && total > 0 && passed === total, `the Deno part ${why}:\n${out}\n${run.stderr}`);
});

test.run();
