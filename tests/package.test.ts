// The package as another project gets it: `npm pack` (which builds dist/), the tarball installed
// into a fresh temporary project, and there plain `node` (no tsx) imports it and runs a matmul
// and a gradient, `tsc --noEmit` checks a consumer file against the shipped declarations, and a
// page bundled from it by esbuild runs the same matmul and gradient, and fit(), in headless
// Chromium. Also, straight from src/: the main entry bundles for a browser without a single Node
// built-in, which is what keeps it usable in a web page.

import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build } from 'esbuild';
import { serveStatic } from '../playground/serve.ts';
import { launchBrowser, openPage, pageResult } from './browser-kit.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'package-test-'));
const consumer = join(work, 'consumer');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

test.after(() => rmSync(work, { recursive: true, force: true }));

/** A command run without blocking (its output collected), for a check that can go beside the others. */
function started(command: string, args: string[], cwd: string): Promise<SpawnSyncReturns<string>> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => {
    child.on('error', (error) => resolve({ pid: child.pid ?? 0, output: [], stdout, stderr, status: null, signal: null, error }));
    child.on('close', (status, signal) => resolve({ pid: child.pid ?? 0, output: [], stdout, stderr, status, signal }));
  });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error) throw r.error;
  assert.is(r.status, 0, `${what} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('src/index.ts bundles for a browser: no Node built-ins, no Dawn', async () => {
  const result = await build({
    entryPoints: [join(root, 'src/index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
  }).catch((e: { errors?: { text: string; location?: { file: string } | null }[] }) => {
    const lines = (e.errors ?? []).map((m) => `${m.location?.file ?? '?'}: ${m.text}`);
    assert.unreachable(`the main entry does not bundle for a browser:\n${lines.join('\n')}`);
    throw e;
  });
  const code = result.outputFiles[0].text;
  assert.not.match(code, /from ["']node:/, 'a static import of a Node built-in');
  assert.not.match(code, /require\(["']webgpu["']\)|from ["']webgpu["']/, "Dawn's addon imported statically");
});

test('npm pack → install in a fresh project → plain node and a bundled page in Chromium run a matmul and a gradient; tsc accepts a strict consumer', async () => {
  // 1. Pack (prepack builds dist/). --ignore-scripts is not used: the build is part of packing.
  ok(spawnSync(npm, ['pack', '--pack-destination', work, '--silent'], { cwd: root, encoding: 'utf8' }), 'npm pack');
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote no tarball');
  const listing = ok(spawnSync('tar', ['-tzf', join(work, tarball!)], { encoding: 'utf8' }), 'tar -t');
  assert.ok(listing.includes('package/dist/index.js') && listing.includes('package/dist/index.d.ts') && listing.includes('package/dist/node.js'), listing);
  assert.not.ok(/package\/(src|tests|examples|bench|runs|playground)\//.test(listing), `the tarball ships more than a user needs:\n${listing}`);

  // 2. A fresh project; its optional peer `webgpu` (Dawn, 130 MB) is linked from ours, as a user
  // would `npm install webgpu` next to the package.
  mkdirSync(join(consumer, 'node_modules'), { recursive: true });
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  ok(spawnSync(npm, ['install', join(work, tarball!), '--prefer-offline', '--no-audit', '--no-fund', '--silent'], { cwd: consumer, encoding: 'utf8' }), 'npm install <tarball>');
  symlinkSync(join(root, 'node_modules/webgpu'), join(consumer, 'node_modules/webgpu'), 'dir');
  const installed = JSON.parse(readFileSync(join(consumer, 'node_modules/webgpu-mini-dl/package.json'), 'utf8')) as { name: string };
  assert.is(installed.name, 'webgpu-mini-dl');

  // 3. A TypeScript consumer, strict, against the shipped declarations (and @webgpu/types).
  writeFileSync(join(consumer, 'consumer.ts'), `
import { init, tensor, matmul, nn, optim, Vae, kernels, type Tensor, type Gpu } from 'webgpu-mini-dl';
import { fit, loadMnistGpu, saveCheckpoint } from 'webgpu-mini-dl/node';
export async function main(): Promise<number> {
  const gpu: Gpu = await init({ gpu: undefined });
  const device: GPUDevice = gpu.device;
  const y: Tensor = matmul(tensor([1, 2], [1, 2]), tensor([3, 4], [2, 1]));
  const model = new nn.Sequential(new nn.Dense({ inFeatures: 2, units: 1 }));
  const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const vae = new Vae({ latentDim: 2 });
  const program = kernels.matmulProgram({ batch: 1, m: 2, n: 2, k: 2, transA: false, transB: false, aBatchStride: 4, bBatchStride: 4 }, undefined, 'naive');
  const reference: Float64Array = kernels.matmulReference([1, 2, 3, 4], [1, 0, 0, 1], { batch: 1, m: 2, n: 2, k: 2, transA: false, transB: false, aBatchStride: 4, bBatchStride: 4 });
  void [fit, loadMnistGpu, saveCheckpoint, opt, vae, program, reference, device];
  return (await y.toArray())[0];
}
`);
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [] },
    files: ['consumer.ts'],
  }));
  // tsc takes seconds: it runs while the plain-node and browser checks below do; checked at the end.
  const typecheck = started(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], consumer);

  // 4. Plain node: the main entry and the Node entry.
  writeFileSync(join(consumer, 'main.js'), `
import { init, tensor, matmul, sum, mul, shutdownDevice, fit, nn, optim, mseLoss, TensorDataset, DataLoader } from 'webgpu-mini-dl';
import { loadMnist, readCheckpointInfo } from 'webgpu-mini-dl/node';
await init();
// fit() with a checkpoint file: in Node the loop loads its file and progress modules lazily.
const xs = Float32Array.from({ length: 32 }, (_, i) => i / 16 - 1);
const net = new nn.Sequential(new nn.Dense({ inFeatures: 1, units: 1, seed: 2 }));
await fit(net, new DataLoader(new TensorDataset({ data: xs, shape: [32, 1] }, { data: xs.map((v) => 3 * v), shape: [32, 1] }), { batchSize: 8 }), {
  epochs: 2, loss: mseLoss, optimizer: new optim.Adam(net, { lr: 0.05 }), checkpoint: 'ck/net.safetensors', progress: false,
});
const saved = readCheckpointInfo('ck/net.safetensors').progress;
const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
const b = tensor([1, 0, 2, 1, 0, 3], [3, 2]);
const c = Array.from(await matmul(a, b).toArray());
const x = tensor([1, -2, 3], [3], { requiresGrad: true });
sum(mul(x, x)).backward();
const g = Array.from(await x.grad.toArray());
shutdownDevice();
console.log(JSON.stringify({ c, g, loadMnist: typeof loadMnist, saved }));
`);
  // init({ device }), in a process of its own: a device the caller opened (here through Dawn
  // directly) is used as it is, and shutdownDevice() leaves it alone: it is the caller's.
  writeFileSync(join(consumer, 'own-device.js'), `
import { init, tensor, matmul, shutdownDevice } from 'webgpu-mini-dl';
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
// The instance stays referenced while its device is used: Dawn does not keep it alive for the
// device, and a collected instance hangs or crashes the process (docs/api.md).
const instance = create([]);
const adapter = await instance.requestAdapter();
const own = await adapter.requestDevice();
const gpu = await init({ device: own });
const d = Array.from(await matmul(tensor([2], [1, 1]), tensor([3], [1, 1])).toArray());
shutdownDevice();
let destroyed = false;
own.lost.then(() => { destroyed = true; });
await new Promise((r) => setTimeout(r, 50));
const buffer = own.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE });
buffer.destroy();
console.log(JSON.stringify({ d, same: gpu.device === own, destroyed }));
own.destroy();
globalThis.instance = instance;
`);
  const env = { XDG_RUNTIME_DIR: '/tmp', ...process.env };
  const out = ok(spawnSync(process.execPath, ['main.js'], { cwd: consumer, encoding: 'utf8', env, timeout: 300_000 }), 'node main.js');
  const result = JSON.parse(out.trim().split('\n').pop()!) as { c: number[]; g: number[]; loadMnist: string; saved: { epoch: number; step: number } };
  // [[1,2,3],[4,5,6]] · [[1,0],[2,1],[0,3]] by hand; d/dx Σx² = 2x.
  assert.equal(result.c, [5, 11, 14, 23]);
  assert.equal(result.g, [2, -4, 6]);
  assert.is(result.loadMnist, 'function');
  assert.equal([result.saved.epoch, result.saved.step], [2, 8], 'fit wrote its checkpoint after epoch 2 (4 steps an epoch)');
  const own = JSON.parse(ok(spawnSync(process.execPath, ['own-device.js'], { cwd: consumer, encoding: 'utf8', env, timeout: 120_000 }), 'node own-device.js').trim().split('\n').pop()!) as { d: number[]; same: boolean; destroyed: boolean };
  assert.equal(own.d, [6], 'a matmul on a device handed to init()');
  assert.ok(own.same, 'init({ device }) uses that device');
  assert.not.ok(own.destroyed, "shutdownDevice() must not destroy the caller's device");

  // 5. A browser bundle of the installed package, run in headless Chromium (WebGPU on SwiftShader):
  // init() finds navigator.gpu by itself, and a matmul and a gradient come back right.
  writeFileSync(join(consumer, 'page.js'), `
import { init, tensor, matmul, sum, mul, fit, nn, optim, mseLoss, TensorDataset, DataLoader } from 'webgpu-mini-dl';
try {
  const gpu = await init();
  const c = Array.from(await matmul(tensor([1, 2, 3, 4, 5, 6], [2, 3]), tensor([1, 0, 2, 1, 0, 3], [3, 2])).toArray());
  const x = tensor([1, -2, 3], [3], { requiresGrad: true });
  sum(mul(x, x)).backward();
  // Keras's fit in the page: y = 2x − 1 by one Dense unit, no checkpoint, epoch lines through log.
  const xs = Float32Array.from({ length: 64 }, (_, i) => i / 32 - 1);
  const ys = xs.map((v) => 2 * v - 1);
  const model = new nn.Sequential(new nn.Dense({ inFeatures: 1, units: 1, seed: 1 }));
  const lines = [];
  const history = await fit(model, new DataLoader(new TensorDataset({ data: xs, shape: [64, 1] }, { data: ys, shape: [64, 1] }), { batchSize: 16, seed: 0 }), {
    epochs: 8, loss: mseLoss, optimizer: new optim.Adam(model, { lr: 0.1 }), log: (line) => lines.push(line),
  });
  let refused = '';
  try {
    await fit(model, new DataLoader(new TensorDataset({ data: xs, shape: [64, 1] }, { data: ys, shape: [64, 1] }), { batchSize: 16 }), { epochs: 1, loss: mseLoss, optimizer: new optim.Adam(model), checkpoint: 'x.safetensors' });
  } catch (e) {
    refused = String(e);
  }
  window.__result = { c, g: Array.from(await x.grad.toArray()), adapter: gpu.info.description, losses: history.history.loss, lines, refused };
} catch (e) {
  window.__result = { error: String(e) };
}
`);
  writeFileSync(join(consumer, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="page.bundle.js"></script>');
  await build({ entryPoints: [join(consumer, 'page.js')], bundle: true, platform: 'browser', format: 'esm', outfile: join(consumer, 'page.bundle.js'), logLevel: 'silent', absWorkingDir: consumer });
  const server = await serveStatic(consumer);
  const browser = await launchBrowser();
  try {
    const opened = await openPage(browser, server.url);
    const page = await pageResult<{ c?: number[]; g?: number[]; adapter?: string; losses?: number[]; lines?: string[]; refused?: string; error?: string }>(opened);
    assert.is(page.error, undefined, page.error);
    assert.equal(page.c, [5, 11, 14, 23]);
    assert.equal(page.g, [2, -4, 6]);
    // fit() learns in the page: 8 epoch means, the last a small fraction of the first.
    const losses = page.losses ?? [];
    assert.is(losses.length, 8);
    assert.ok(losses[7] < 0.1 * losses[0], `fit in the browser did not learn: ${losses.join(', ')}`);
    assert.is(page.lines?.length, 8, 'one line per epoch through log');
    assert.match(page.lines?.[7] ?? '', /^epoch 8\/8 done in/);
    assert.match(page.refused ?? '', /checkpoint x\.safetensors: checkpoint files need Node/);
    assert.match(page.adapter ?? '', /via browser/);
    assert.equal(opened.errors, [], opened.errors.join('\n'));
  } finally {
    await browser.close();
    await server.close();
  }
  ok(await typecheck, 'tsc --noEmit on a consumer file');
});

test.run();
