// scripts/setup.mjs's decisions, driven through its testing switches so that nothing is installed
// and the probe cache is left alone: what it plans when no adapter is found (root or not, Vulkan
// or OpenGL), what it does when only Dawn's OpenGL fallback answers, and what --browser does
// when Chromium is missing.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendFromSetupCache } from '../src/core/device.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cacheFile = join(root, 'node_modules', '.cache', 'webgpu-setup.json');
const isRoot = process.getuid?.() === 0;

function setup(env: Record<string, string>, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'setup.mjs'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, WEBGPU_BACKEND: '', ...env },
  });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function osRelease(): string {
  try {
    return readFileSync('/etc/os-release', 'utf8');
  } catch {
    return '';
  }
}

function cacheStamp(): number | undefined {
  try {
    return statSync(cacheFile).mtimeMs;
  } catch {
    return undefined;
  }
}

test('no adapter, not root: prints the Vulkan install commands and stops (exit 1)', () => {
  const r = setup({ WEBGPU_SETUP_SIMULATE_NO_ADAPTER: '1', WEBGPU_SETUP_SIMULATE_NOT_ROOT: '1' });
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /needs root/);
  assert.match(r.out, /apt-get install -y .*mesa-vulkan-drivers libvulkan1/);
});

test('no adapter with WEBGPU_BACKEND=opengl, not root: the EGL packages, libegl-dev (libEGL.so) included', () => {
  const r = setup({ WEBGPU_BACKEND: 'opengl', WEBGPU_SETUP_SIMULATE_NO_ADAPTER: '1', WEBGPU_SETUP_SIMULATE_NOT_ROOT: '1' });
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /apt-get install -y libegl1 libegl-dev libegl-mesa0/);
});

test('only the OpenGL fallback answers, not root: keeps it, says how to get Vulkan, writes no cache', () => {
  const before = cacheStamp();
  const r = setup({ WEBGPU_SETUP_SIMULATE_ONLY_OPENGL: '1', WEBGPU_SETUP_SIMULATE_NOT_ROOT: '1' });
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /WebGPU adapter: simulated OpenGL adapter \(backend opengl, compatibility\)/);
  assert.match(r.out, /lacks GPU timestamps/);
  assert.match(r.out, /mesa-vulkan-drivers libvulkan1/);
  assert.is(cacheStamp(), before, 'a simulated run must not touch the probe cache');
});

// The two root paths can only be taken as root (CI is); elsewhere the not-root tests above cover
// the same plans.
test('as root (dry run): no adapter → plans the Vulkan install; only OpenGL → plans it too, keeps OpenGL meanwhile', () => {
  if (!isRoot) return;
  const none = setup({ WEBGPU_SETUP_SIMULATE_NO_ADAPTER: '1' }, '--dry-run');
  assert.is(none.code, 0, none.out);
  assert.match(none.out, /No WebGPU adapter found: installing Mesa's software Vulkan driver/);
  assert.match(none.out, /dry run: would run: .*apt-get install -y .*mesa-vulkan-drivers libvulkan1/);

  const before = cacheStamp();
  const gl = setup({ WEBGPU_SETUP_SIMULATE_ONLY_OPENGL: '1' }, '--dry-run');
  assert.is(gl.code, 0, gl.out);
  assert.match(gl.out, /only Dawn's OpenGL adapter was found/);
  assert.match(gl.out, /dry run: would run: .*apt-get install -y .*mesa-vulkan-drivers libvulkan1/);
  assert.match(gl.out, /WebGPU adapter: simulated OpenGL adapter/);
  assert.is(cacheStamp(), before, 'a simulated run must not touch the probe cache');
});

test('an unknown flag or WEBGPU_BACKEND value is one clear line (exit 1)', () => {
  const flag = setup({}, '--nope');
  assert.is(flag.code, 1);
  assert.match(flag.out, /unknown option --nope/);
  const backend = setup({ WEBGPU_BACKEND: 'metal', WEBGPU_SETUP_SIMULATE_NO_ADAPTER: '1' });
  assert.is(backend.code, 1);
  assert.match(backend.out, /WEBGPU_BACKEND must be one of vulkan, opengl, opengles \(got 'metal'\)/);
});

test('--browser without Chromium, not root: prints the chromium install commands and stops (exit 1)', () => {
  const r = setup({ WEBGPU_SETUP_SIMULATE_NO_CHROMIUM: '1', WEBGPU_SETUP_SIMULATE_NOT_ROOT: '1', CHROMIUM_PATH: '' }, '--browser');
  assert.is(r.code, 1, r.out);
  // Off Debian it says to set CHROMIUM_PATH instead; both name the browser it looked for.
  assert.match(r.out, /the browser tests need Chromium.*\/usr\/bin\/chromium is missing/);
  if (/^ID=debian$/m.test(osRelease())) assert.match(r.out, /needs root[\s\S]*apt-get install -y chromium/);
});

test('--browser as root (dry run): plans apt-get install -y chromium; CHROMIUM_PATH pointing nowhere is one clear line', () => {
  if (isRoot && /^ID=debian$/m.test(osRelease())) {
    const r = setup({ WEBGPU_SETUP_SIMULATE_NO_CHROMIUM: '1', CHROMIUM_PATH: '' }, '--browser', '--dry-run');
    assert.is(r.code, 0, r.out);
    assert.match(r.out, /dry run: would run: DEBIAN_FRONTEND=noninteractive apt-get install -y chromium/);
  }
  const missing = setup({ CHROMIUM_PATH: '/nonexistent/chrome' }, '--browser', '--dry-run');
  assert.is(missing.code, 1, missing.out);
  assert.match(missing.out, /CHROMIUM_PATH=\/nonexistent\/chrome does not exist/);
});

test('the device trusts a cached OpenGL choice only while its fingerprint still describes the machine', () => {
  const node = `${process.version} ${process.platform}-${process.arch}`;
  const files = { '/usr/share/vulkan/icd.d': 1000, '/usr/lib/libvulkan.so.1': 2000 };
  const mtime = (file: string): number | null => (file in files ? files[file as keyof typeof files] : null);
  const cache = { backend: 'opengl', fingerprint: { node, env: { VK_ICD_FILENAMES: '/broken.json' }, files } };
  // Written while VK_ICD_FILENAMES pointed at a broken driver: valid only with that variable set.
  assert.is(backendFromSetupCache(cache, { VK_ICD_FILENAMES: '/broken.json' }, mtime), 'opengl');
  assert.is(backendFromSetupCache(cache, {}, mtime), undefined, 'a plain run must probe the default (Vulkan) again');
  const plain = { backend: 'opengl', fingerprint: { node, env: {}, files } };
  assert.is(backendFromSetupCache(plain, {}, mtime), 'opengl');
  assert.is(backendFromSetupCache(plain, { LD_LIBRARY_PATH: '/opt/lib' }, mtime), undefined);
  // A driver installed since (its manifest folder changed) or another Node: probe again.
  assert.is(backendFromSetupCache(plain, {}, (f) => (f === '/usr/share/vulkan/icd.d' ? 3000 : mtime(f))), undefined);
  assert.is(backendFromSetupCache({ ...plain, fingerprint: { ...plain.fingerprint, node: 'v0.0.0 other' } }, {}, mtime), undefined);
  // The default backend needs no advice; a cache without a fingerprint is not trusted.
  assert.is(backendFromSetupCache({ ...plain, backend: 'default' }, {}, mtime), undefined);
  assert.is(backendFromSetupCache({ backend: 'opengl' }, {}, mtime), undefined);
});

test.run();
