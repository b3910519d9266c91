// `npm run gpu-pack`: the folder it writes is at most 60 MiB, holds Dawn's linux-x64 addon and no
// other platform's, and runs its smoke check from a scratch directory with its own Node: the pack
// is moved away from where it was built, `node` on PATH is a fake that fails loudly, and the
// results must name a Node binary inside the pack's unpacked runtime. The smoke run also uses the
// pack's own Vulkan loader (GPU_PACK_VULKAN=pack), as a machine without one would.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAX_BYTES = 60 * 2 ** 20;

function folderBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((sum, e) => sum + (e.isDirectory() ? folderBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);
}

function sh(command: string, args: string[], options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {}): { code: number | null; out: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', cwd: options.cwd ?? root, env: options.env ?? process.env, timeout: options.timeout ?? 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('gpu-pack refuses an unknown flag, naming it', () => {
  const r = sh(process.execPath, [join(root, 'scripts', 'gpu-pack.mjs'), '--outt', 'x']);
  assert.is(r.code, 2, r.out);
  assert.match(r.out, 'unknown option --outt');
});

test('gpu-pack makes a folder of at most 60 MiB that runs its smoke check elsewhere with its own Node', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'gpu-pack-test-'));
  try {
    const built = join(scratch, 'built', 'pack');
    const b = sh(process.execPath, [join(root, 'scripts', 'gpu-pack.mjs'), '--out', built], { timeout: 300_000 });
    if (b.code !== 0 && /could not download libvulkan1/.test(b.out)) {
      console.log('  (skipped: offline, and no libvulkan1 .deb in the cache to build the pack with)');
      return;
    }
    assert.is(b.code, 0, b.out);

    // Size, and what it holds: one Dawn addon, linux-x64's.
    const bytes = folderBytes(built);
    assert.ok(bytes <= MAX_BYTES, `the pack is ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(readdirSync(built).sort(), ['README.txt', 'manifest.json', 'payload', 'run.sh']);
    const listing = sh('tar', ['-tzf', join(built, 'payload', 'app.tar.gz')]);
    assert.is(listing.code, 0, listing.out);
    const entries = listing.out.split('\n').filter(Boolean);
    assert.ok(entries.includes('app/pack/main.js') && entries.includes('app/src/index.js') && entries.includes('vulkan/libvulkan.so.1'), 'app.tar.gz lacks the program, the package or the loader');
    assert.equal(entries.filter((e) => /\.node$/.test(e)), [], 'a native addon inside app.tar.gz');
    assert.equal(entries.filter((e) => /webgpu\/dist\/./.test(e) && !/webgpu\/dist\/linux-x64\/$/.test(e)), [], "another platform's Dawn");
    const addon = gunzipSync(readFileSync(join(built, 'payload', 'dawn.node.gz')));
    assert.is(addon.readUInt32BE(0), 0x7f454c46, 'dawn.node.gz is not an ELF file');
    assert.is(addon.readUInt16LE(18), 0x3e, 'dawn.node.gz is not x86-64');
    assert.equal(readdirSync(join(built, 'payload', 'mnist')).sort(), ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', 'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']);

    // Moved away from the checkout and the build; `node` on PATH is a fake.
    const pack = join(scratch, 'elsewhere', 'pack');
    mkdirSync(dirname(pack), { recursive: true });
    renameSync(built, pack);
    const fakeBin = join(scratch, 'fake-bin');
    mkdirSync(fakeBin);
    writeFileSync(join(fakeBin, 'node'), '#!/bin/sh\necho "system node used" >&2\nexit 1\n');
    chmodSync(join(fakeBin, 'node'), 0o755);
    const cwd = join(scratch, 'cwd');
    mkdirSync(cwd);
    const env = { PATH: `${fakeBin}:/usr/bin:/bin`, HOME: scratch, TMPDIR: scratch, XDG_RUNTIME_DIR: '/tmp', GPU_PACK_VULKAN: 'pack' };
    const runSh = join(pack, 'run.sh');

    const bad = sh(runSh, ['--smokey', 'out'], { cwd, env });
    assert.is(bad.code, 2, bad.out);
    assert.match(bad.out, 'unknown option --smokey');
    assert.not.ok(existsSync(join(pack, '.runtime')), 'a refused run unpacked');

    const started = performance.now();
    const r = sh(runSh, ['--smoke', 'results'], { cwd, env, timeout: 300_000 });
    const seconds = (performance.now() - started) / 1000;
    assert.is(r.code, 0, r.out);
    assert.not.match(r.out, 'system node used');
    console.log(`  (pack ${(bytes / 2 ** 20).toFixed(1)} MiB; smoke run ${seconds.toFixed(0)} s here)`);

    const out = join(cwd, 'results');
    const files = readdirSync(out).sort();
    assert.ok(files.length <= 8, `${files.length} result files: ${files.join(', ')}`);
    assert.equal(files, ['bench.json', 'cgan-samples.png', 'gan-samples.png', 'results.json', 'results.md', 'run.log', 'vae-samples.png']);
    for (const png of files.filter((f) => f.endsWith('.png'))) assert.is(readFileSync(join(out, png)).readUInt32BE(0), 0x89504e47, `${png} is not a PNG`);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    assert.is(results.mode, 'smoke');
    assert.ok(results.ok, JSON.stringify(results.phases));
    assert.ok(results.pack.nodeBinary.startsWith(join(pack, '.runtime')), `ran ${results.pack.nodeBinary}`);
    assert.match(results.pack.vulkanLoader, /^pack: /);
    assert.ok(results.kernels.rows > 0);
    assert.equal(results.kernels.failed, []);
    assert.equal(Object.keys(results.training).sort(), ['cgan', 'gan', 'vae']);
    assert.match(readFileSync(join(out, 'results.md'), 'utf8'), results.adapter.description);

    // A second run into a folder that holds results is refused before anything runs.
    const again = sh(runSh, ['--smoke', 'results'], { cwd, env });
    assert.is(again.code, 2, again.out);
    assert.match(again.out, 'is not empty');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

test.run();
