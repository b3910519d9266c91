// The playground page (playground/) in headless Chromium, WebGPU on SwiftShader: built into a
// temporary folder, served from localhost, driven through window.__playground (the page's test
// hooks, playground/src/main.ts). It checks that the page loads without errors, that every rung
// of the kernel ladder matches its float64 reference, that the VAE decoder and the cGAN and GAN
// generators draw in the browser what they draw in Node from the same weight files, and that
// training in the page takes Node's first step and lowers the loss, and that the tune section
// tunes a small VAE step's problems, shows each one's candidates and keeps its choices. Shapes are small: SwiftShader
// runs the kernels on the CPU, more slowly than Mesa's llvmpipe does in Node.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { BuildReport } from '../playground/build.ts';
import type { OpenedPage } from './browser-kit.ts';
import { PlaygroundSession } from './playground-kit.ts';
import { assertClose, readBack, ready, seededRandom } from './helpers.ts';
import { createModel, Gan, loadCheckpointFromBytes, MnistGpu, PRESETS, readCheckpointInfoFromBytes, tensor, type Vae } from '../src/index.ts';
import { loadMnist } from '../src/data/mnist-files.ts';
import type { PlaygroundHooks } from '../playground/src/hooks.ts';

// The page's global, as the functions given to page.evaluate() see it (they run in the page).
declare const window: { __playground: PlaygroundHooks };

const weightsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'playground', 'weights');
/** Training digits the test build ships (the page's default is the quick preset's 16,000). */
const MNIST_IMAGES = 512;
/** The page's training at a small batch: SwiftShader takes seconds a step at the preset's 32. */
const BATCH = 8;

const session = new PlaygroundSession('playground-test-', MNIST_IMAGES);
let opened: OpenedPage | undefined;
let report: BuildReport | undefined;

/** The page, built, served and opened once for the whole file, ready (weights loaded, map drawn). */
async function page(): Promise<Page> {
  const served = await session.open();
  opened = served.opened;
  report = served.report;
  return opened.page;
}

test.after(() => session.close());

test('the page builds, loads on a WebGPU adapter and its weights, with no console errors', async () => {
  const p = await page();
  assert.equal(report!.missingWeights, [], 'playground/weights holds vae, gan and cgan');
  assert.ok(report!.files.some((f) => f.path === 'main.js'));
  const gpu = await p.evaluate(() => window.__playground.gpu);
  assert.ok(gpu.available, `the page found no WebGPU: ${gpu.problem}`);
  assert.ok(gpu.isSoftware, 'headless Chromium here runs SwiftShader, a software adapter');
  assert.match(await p.textContent('#gpu-status') ?? '', /software adapter/);
  for (const kind of ['vae', 'gan', 'cgan'] as const) {
    assert.is(await p.evaluate((k) => window.__playground.modelSource(k), kind), `weights/${kind}.safetensors`);
  }
  // The reference shown beside the WGSL is the kernel file's own source text.
  const reference = await p.textContent('#ladder-reference');
  assert.ok(reference?.includes('export function matmulReference('), 'the matmul reference source is shown');
  assert.ok((await p.textContent('#ladder-wgsl'))?.includes('@compute'), 'the rung\'s WGSL is shown');
  assert.equal(opened!.errors, [], opened!.errors.join('\n'));
});

test('every rung of the ladder matches its float64 reference in the browser', async () => {
  const p = await page();
  // 36: a multiple of 4 (vec4 runs as itself) but of no tile size, so every kernel's edges are hit.
  const results = await p.evaluate(async () => {
    const out: { op: string; variant: string; ok: boolean; maxError: number; ran: string; error?: string }[] = [];
    for (const op of ['matmul', 'conv2d'] as const) {
      for (const variant of window.__playground.rungs(op)) {
        out.push({ op, variant, ...(await window.__playground.verifyRung(op, variant, op === 'matmul' ? 36 : 1)) });
      }
    }
    return out;
  });
  assert.equal(results.map((r) => `${r.op} ${r.variant}`), [
    'matmul naive', 'matmul tiled', 'matmul blocked', 'matmul vec4', 'matmul direct',
    'conv2d naive', 'conv2d direct', 'conv2d subgroup', 'conv2d window', 'conv2d blocked', // 'subgroup' and 'window' on SwiftShader's 4-lane subgroups
  ]);
  for (const r of results) {
    assert.ok(r.ok, `${r.op} ${r.variant}: ${r.error ?? `max error ${r.maxError}`}`);
    assert.is(r.ran, r.variant, `${r.op} ${r.variant} ran as itself`);
  }
  assert.equal(opened!.errors, [], opened!.errors.join('\n'));
});

/** A model of a kind with its shipped decoder or generator, in Node, in inference mode. */
async function nodeModel(kind: 'vae' | 'gan' | 'cgan'): Promise<Vae | Gan> {
  await ready;
  const bytes = new Uint8Array(readFileSync(join(weightsDir, `${kind}.safetensors`)));
  const info = readCheckpointInfoFromBytes(bytes, kind);
  const model = createModel(kind, info.config as Record<string, unknown>);
  const modules: Record<string, Vae['decoder'] | Gan['generator']> = kind === 'vae' ? { decoder: (model as Vae).decoder } : { generator: (model as Gan).generator };
  await loadCheckpointFromBytes(bytes, { model: kind, modules }, { source: kind });
  model.eval();
  return model;
}

/** Standard normal numbers from the host (Box–Muller over a seeded uniform stream), as count vectors of dim. */
function hostNoise(count: number, dim: number, seed: number): number[][] {
  const r = seededRandom(seed);
  return Array.from({ length: count }, () => Array.from({ length: dim }, () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())));
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

test('the VAE decoder and the GAN generators draw the same images in the browser as in Node', async () => {
  const p = await page();
  const zs = [[0, 0], [1.5, -0.5], [-1.8, 2], [0.3, 0.7]];
  const digits = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 7];
  const cganNoise = hostNoise(digits.length, 100, 5);
  const ganNoise = hostNoise(6, 100, 6);
  const inBrowser = await p.evaluate(async ({ zs, digits, cganNoise, ganNoise }) => ({
    vae: Array.from(await window.__playground.decodeVae(zs)),
    cgan: Array.from(await window.__playground.generateCgan(digits, cganNoise)),
    gan: Array.from(await window.__playground.generateGan(6, ganNoise)),
    cganSeeded: Array.from(await window.__playground.generateCgan(digits, 1234)),
  }), { zs, digits, cganNoise, ganNoise });

  const vae = (await nodeModel('vae')) as Vae;
  const cgan = (await nodeModel('cgan')) as Gan;
  const gan = (await nodeModel('gan')) as Gan;
  const inNode = {
    vae: await readBack(() => vae.decode(tensor(zs.flat(), [zs.length, 2]))),
    cgan: await readBack(() => cgan.generate(tensor(cganNoise.flat(), [digits.length, 100]), Gan.digits(digits))),
    gan: await readBack(() => gan.generate(tensor(ganNoise.flat(), [6, 100]))),
    cganSeeded: await readBack(() => cgan.generate(cgan.noise(digits.length, 1234), Gan.digits(digits))),
  };
  for (const m of [vae, cgan, gan]) m.dispose();
  for (const k of ['vae', 'cgan', 'gan', 'cganSeeded'] as const) console.log(`  ${k}: max |browser − Node| ${maxDifference(inBrowser[k], inNode[k]).toExponential(1)}`);
  // The same inputs: two drivers (SwiftShader, llvmpipe) doing the same f32 arithmetic.
  assertClose(inBrowser.vae, inNode.vae, 'VAE decoder', 0, 1e-5);
  assertClose(inBrowser.cgan, inNode.cgan, 'cGAN generator', 0, 1e-5);
  assertClose(inBrowser.gan, inNode.gan, 'GAN generator', 0, 1e-5);
  // The same seed: randn draws through WGSL's log and cos, which WGSL lets drivers compute
  // approximately (cos to an absolute 2^-11), so the noise and the images differ a little more.
  assertClose(inBrowser.cganSeeded, inNode.cganSeeded, 'cGAN generator from a noise seed', 0, 5e-3);
  // Not trivially equal: the pictures differ from one another.
  assert.ok(maxDifference(inNode.vae.subarray(0, 784), inNode.vae.subarray(784, 1568)) > 0.1);
  assert.ok(maxDifference(inNode.cgan.subarray(0, 784), inNode.cgan.subarray(784, 1568)) > 0.1);
  assert.equal(opened!.errors, [], opened!.errors.join('\n'));
});

test("training in the page takes Node's first step, and a few steps lower the loss", async () => {
  const p = await page();
  const first = await p.evaluate((batchSize) => window.__playground.trainSteps(1, { batchSize }), BATCH);
  const more = await p.evaluate((batchSize) => window.__playground.trainSteps(4, { batchSize }), BATCH);
  const losses = [...first, ...more];
  assert.is(losses.length, 5);
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);

  // The same step in Node: the quick preset's model (seed 0), the same digits in the same order.
  await ready;
  const quick = PRESETS.vae.quick;
  const vae = createModel('vae', { ...quick.model, lr: quick.lr, seed: 0 }) as Vae;
  const data = new MnistGpu(loadMnist('train', { limit: MNIST_IMAGES }), { range: [0, 1] });
  const batches = data.batches(0, { batchSize: BATCH, seed: 0 });
  const nodeLosses: number[] = [];
  for (let step = 0; step < 2; step++) {
    const [loss, ...rest] = vae.trainStep(batches.next().value!, step);
    nodeLosses.push(await loss.item());
    for (const t of [loss, ...rest]) t.dispose();
  }
  batches.return();
  data.dispose();
  vae.dispose();
  assert.ok(Math.abs(losses[0] - nodeLosses[0]) <= 1e-4 * Math.abs(nodeLosses[0]), `first loss: page ${losses[0]}, Node ${nodeLosses[0]}`);
  // The second loss follows the first update: the page trains with the preset's optimizer settings too.
  assert.ok(Math.abs(losses[1] - nodeLosses[1]) <= 1e-3 * Math.abs(nodeLosses[1]), `second loss: page ${losses[1]}, Node ${nodeLosses[1]}`);

  assert.ok(losses[4] < losses[0], `the loss should fall over 5 steps: ${losses.map((l) => l.toFixed(2)).join(', ')}`);
  const progress = await p.textContent('#train-progress');
  assert.match(progress ?? '', /step 5 of/);
  assert.equal(opened!.errors, [], opened!.errors.join('\n'));
});

/** The page's localStorage, as the functions given to page.evaluate() see it. */
declare const localStorage: { getItem(key: string): string | null; removeItem(key: string): void };
const CHOICES_KEY = 'webgpu-mini-dl/kernel-choices';

// Last: the kernels it installs would change what the other tests compare from here on.
test("the tune section tunes a VAE step's problems, shows each one's candidates and keeps the choices in localStorage", async () => {
  const p = await page();
  await p.evaluate((key) => localStorage.removeItem(key), CHOICES_KEY);
  // A batch the page refuses: said in the page, nothing tuned.
  await p.fill('#tune-batch', '0');
  await p.click('#tune-start');
  await p.waitForSelector('#tune-progress.bad');
  assert.match(await p.textContent('#tune-progress') ?? '', /error: the batch size must be a whole number/);
  assert.is(await p.evaluate(() => window.__playground.lastTune()), undefined);

  // Batch 2 and a short budget per problem: SwiftShader runs every candidate on the CPU.
  const started = performance.now();
  await p.selectOption('#tune-model', 'vae');
  await p.fill('#tune-batch', '2');
  await p.fill('#tune-budget', '1500');
  await p.click('#tune-start');
  assert.is(await p.isDisabled('#tune-start'), true, 'the button is disabled while it runs');
  await p.waitForFunction(() => window.__playground.lastTune() !== undefined, undefined, { timeout: 120_000, polling: 500 });
  const summary = (await p.evaluate(() => window.__playground.lastTune()))!;
  console.log(`  tuned ${summary.tuned} of ${summary.problems} problems in ${summary.seconds.toFixed(1)} s (clock ${summary.clock}; ${summary.changed} changed), ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
  assert.ok(summary.problems >= 1, 'a VAE training step runs convolutions and matmuls');
  assert.is(summary.tuned, summary.problems, 'the page tunes every problem of the step anew');
  assert.ok(summary.results.every((r) => r.statuses.filter((s) => s === 'chosen').length === 1), `each problem has one chosen candidate: ${JSON.stringify(summary.results)}`);
  assert.ok(summary.clock === 'wall' || summary.clock === 'gpu-timestamp', `clock ${summary.clock}`);
  assert.is(summary.where, `localStorage["${CHOICES_KEY}"]`);

  // The page shows a table per problem, each with a chosen candidate, and the summary line.
  const tables = await p.$$eval('#tune-results table.tune-table', (els) => els.map((e) => ({ caption: e.querySelector('caption')?.textContent ?? '', chosen: e.querySelectorAll('tr.status-chosen').length, rows: e.querySelectorAll('tbody tr').length })));
  assert.is(tables.length, summary.tuned, 'one table per problem');
  for (const [i, t] of tables.entries()) {
    assert.ok(t.caption.includes(summary.results[i].problem), `table ${i} names its problem: ${t.caption}`);
    assert.is(t.chosen, 1, `table ${i} (${t.caption}) marks one candidate chosen`);
    assert.ok(t.rows >= 1);
  }
  assert.match(await p.textContent('#tune-summary') ?? '', new RegExp(`Tuned ${summary.tuned} problems? in .* s \\(clock: ${summary.clock}\\).*localStorage`));
  assert.is(await p.isDisabled('#tune-start'), false, 'the button is enabled again');

  // The choices are kept, in the cache's own format, for this adapter.
  const stored = await p.evaluate((key) => localStorage.getItem(key), CHOICES_KEY);
  assert.ok(stored, 'localStorage holds the kernel choices');
  const doc = JSON.parse(stored!) as { format: string; entries: { choices: Record<string, { kernel: string }> }[] };
  assert.is(doc.format, 'webgpu-mini-dl kernel choices');
  assert.is(doc.entries.length, 1);
  for (const r of summary.results) assert.is(doc.entries[0].choices[r.problem]?.kernel, r.chosen, `${r.problem} is kept`);
  assert.equal(opened!.errors, [], opened!.errors.join('\n'));
});

test.run();
