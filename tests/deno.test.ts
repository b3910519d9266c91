// The Deno part of the suite: tests/deno/wgpu.ts run by the `deno` binary of the dev dependency
// (npm's `deno` package brings it for this platform; nothing is downloaded), on wgpu, Deno's
// navigator.gpu. Its per-test times and a summary line go into this suite's log; it passes when
// every test there passed.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runChild, type ChildRun } from './child.ts';
import { ready } from './helpers.ts';
import { engineOfBrowser } from '../src/core/device.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The package's launcher: it finds the binary of @deno/<platform> (and copies it next to itself
// when its install script ran, which then starts it directly).
const launcher = join(root, 'node_modules/deno/bin.cjs');
const TIMEOUT_S = 300;

/** `deno run -A FILE ARGS` in the repository, as a person would type it. */
function deno(file: string, args: string[] = [], timeoutS = 60): Promise<ChildRun> {
  assert.ok(existsSync(launcher), `${launcher} is missing: deno is a dev dependency, run \`npm install\``);
  return runChild(process.execPath, [launcher, 'run', '--allow-all', '--no-lock', join(root, file), ...args], {
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
    timeoutMs: timeoutS * 1000,
  });
}

test('engines: Dawn here in Node; in a page, by the browser', async () => {
  assert.is((await ready).info.engine, 'dawn');
  assert.match((await ready).info.description, /, on Dawn$/);
  assert.is((await ready).info.unrollBlocks, false, 'Dawn leaves the register-block loops to the driver');
  assert.is(engineOfBrowser('Mozilla/5.0 (X11; Linux x86_64; rv:141.0) Gecko/20100101 Firefox/141.0'), 'wgpu');
  assert.is(engineOfBrowser('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36'), 'dawn');
  assert.is(engineOfBrowser('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15'), 'unknown');
  assert.is(engineOfBrowser(undefined), 'unknown');
  // A navigator.gpu that other code put there in Node (the bench's TF.js peer does) is Dawn's too.
  const script = [
    "import { create, globals } from 'webgpu';",
    "import { init, shutdownDevice } from './src/index.ts';",
    'Object.assign(globalThis, globals);',
    "Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]), userAgent: 'node' }, configurable: true });",
    'const gpu = await init({ tune: "off" });',
    'console.log(JSON.stringify({ engine: gpu.info.engine, description: gpu.info.description }));',
    'shutdownDevice();',
    'process.exit(0);',
  ].join('\n');
  const child = await runChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, timeoutMs: 60_000 });
  assert.is(child.code, 0, child.stdout + child.stderr);
  const seen = JSON.parse(child.stdout.trim().split('\n').pop()!) as { engine: string; description: string };
  assert.is(seen.engine, 'dawn', child.stdout);
  assert.match(seen.description, /, on Dawn$/);
});

test('deno: examples/deno-mlp.ts learns on wgpu; npm run bench starts under Deno and refuses only the TF.js peer, saying why', async () => {
  const [mlp, help, peer] = await Promise.all([
    deno('examples/deno-mlp.ts', [], 120),
    deno('bench/index.ts', ['--help']),
    deno('bench/index.ts', ['--quick', '--peer', 'tfjs']),
  ]);
  assert.is(mlp.code, 0, mlp.stdout + mlp.stderr);
  assert.match(mlp.stdout, /adapter: .*, on wgpu/);
  const accuracy = Number(/test accuracy ([\d.]+)%/.exec(mlp.stdout)?.[1]);
  assert.ok(accuracy > 60, `one epoch on 2,000 digits should pass 60%: ${mlp.stdout}`);
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: npm run bench/);
  assert.is(peer.code, 2);
  assert.match(peer.stderr, /--peer tfjs runs in Node only/);
});

test('deno (wgpu): tests/deno/wgpu.ts passes under Deno', async () => {
  const started = Date.now();
  const run = await deno('tests/deno/wgpu.ts', [], TIMEOUT_S);
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
