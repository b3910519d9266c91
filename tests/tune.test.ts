// The tuner (src/tune/): candidates, verification before timing, the choice, the cache of choices
// per adapter and version, the kernel policy following installed choices, and a training run
// recording its kernels so that a resume runs the same ones whatever the cache says by then.
// Timings are planted (timeOverride) where a test needs a known order: what is tested is the
// logic, not this machine's speed.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, seededRandom } from './helpers.ts';
import { getGpu } from '../src/core/device.ts';
import {
  autoConvVariant, autoMatmulVariant, clearChoices, convVariantFor, freezeChoices, installChoices, installedChoices,
  matmulVariantFor, problemKey, problemLayers, problemsSeen, setTuneMode, unfreezeChoices, type TuneProblem,
} from '../src/core/kernel-policy.ts';
import { convCandidates, convKernelKey, conv2dProgram, NO_EPILOGUE, weightGradSplits, type ConvKernel } from '../src/kernels/conv/conv2d.ts';
import { conv2dGeometry } from '../src/kernels/conv/geometry.ts';
import { matmulCandidates, matmulKernelKey, type MatmulKernel, type MatmulShape } from '../src/kernels/matmul.ts';
import { candidatesOf, MIN_TIMED_BATCH, tuneProblem, verifyCandidate } from '../src/tune/tuner.ts';
import { frameworkKey, loadTunedChoices, MIN_PROBLEM_BUDGET_MS, PRUNE_AFTER, tune, tuneModeFrom, type RunKernels } from '../src/tune/session.ts';
import { withLayerLabels } from '../src/nn/layer-labels.ts';
import { tensor } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { dispatchesSoFar, planOnly, sync } from '../src/core/dispatch.ts';
import { sum } from '../src/core/ops.ts';
import { CACHE_FORMAT, CACHE_FORMAT_VERSION, fileStore, parseTuneCache, tuneCachePath, type TuneStore } from '../src/tune/cache.ts';
import { VERSION } from '../src/version.ts';
import { Sequential } from '../src/nn/sequential.ts';
import { Dense, Flatten } from '../src/nn/layers.ts';
import { Conv2d } from '../src/nn/conv-layers.ts';
import { Adam } from '../src/nn/optim.ts';
import { DataLoader, TensorDataset } from '../src/data/dataset.ts';
import { crossEntropy } from '../src/core/softmax-ops.ts';
import { readCheckpointInfo } from '../src/nn/checkpoint-file.ts';
import { fit } from '../src/train/fit.ts';

const dir = mkdtempSync(join(tmpdir(), 'tune-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A store in memory, as a page's localStorage is. */
function memoryStore(text?: string): TuneStore & { text?: string } {
  const s: TuneStore & { text?: string } = {
    where: 'memory',
    text,
    async read() {
      return s.text;
    },
    async write(t: string) {
      s.text = t;
    },
  };
  return s;
}

const quiet = { warn: () => {} };
const g = conv2dGeometry([4, 9, 9, 3], [3, 3, 3, 12], 1, 'same');
const forward: TuneProblem = { op: 'conv', pass: 'forward', g, epilogue: { hasBias: true, activation: 'relu', alpha: 0 } };
const shape: MatmulShape = { batch: 1, m: 33, n: 21, k: 12, transA: false, transB: true, aBatchStride: 0, bBatchStride: 0 };
const dense: TuneProblem = { op: 'matmul', s: shape, epilogue: { hasBias: false, activation: 'linear', alpha: 0 } };

test.before(async () => {
  await ready;
});
test.after.each(() => {
  unfreezeChoices();
  clearChoices();
  setTuneMode('off');
});

test('the candidates: every variant with its parameters, vec4 only on its rule, subgroup only with subgroups', () => {
  const keys = convCandidates('forward', g, { subgroups: false }).map(convKernelKey);
  assert.equal(keys, ['direct', 'direct.4x8', 'direct.16x8', 'direct.8x4', 'blocked', 'winograd']);
  assert.ok(convCandidates('forward', g, { subgroups: true }).map(convKernelKey).includes('subgroup.16x8'));
  // 3 channels: the input-gradient's blocks are 3 wide.
  assert.equal(convCandidates('inputGrad', g, { subgroups: false }).map(convKernelKey), ['direct', 'direct.4x3', 'direct.16x3', 'blocked', 'winograd']);
  // The weight-gradient's split-K depth: a quarter and four times the rule's.
  const wg = conv2dGeometry([256, 14, 14, 64], [5, 5, 64, 128], 2, 'same');
  const rule = weightGradSplits(wg, 'direct');
  assert.ok(rule > 4);
  assert.equal(convCandidates('weightGrad', wg, { subgroups: false }).filter((k) => k.splits).map((k) => k.splits), [Math.floor(rule / 4), rule * 4]);
  assert.is(weightGradSplits(wg, { variant: 'direct', splits: 3 }), 3);
  assert.not.ok(matmulCandidates(shape).map(matmulKernelKey).includes('vec4'), 'vec4 off its multiple-of-4 rule');
  assert.ok(matmulCandidates({ ...shape, m: 32, n: 20, k: 12 }).map(matmulKernelKey).includes('vec4'));
});

test('every candidate of a convolution and a matmul verifies against the float64 reference on this adapter', async () => {
  for (const p of [forward, dense]) {
    const kernels = p.op === 'conv' ? convCandidates(p.pass, p.g, { subgroups: getGpu().info.hasSubgroups }) : matmulCandidates(p.s);
    for (const k of kernels) assert.is(await verifyCandidate(p, k), 'ok', `${problemKey(p)} ${JSON.stringify(k)}`);
  }
});

test('a planted wrong candidate is never chosen, however fast, and is reported', async () => {
  // 'direct.4x8' computes a linear convolution where the problem asks for bias + relu: wrong numbers.
  const r = await tuneProblem(forward, {
    programOverride: (kernel, build) => {
      const right = build();
      if (kernel !== 'direct.4x8') return right;
      // The same kernel without its epilogue, at the geometry it was asked for (small when verifying).
      const wrong = conv2dProgram(g, NO_EPILOGUE, { variant: 'direct', block: { tm: 4, tn: 8 } });
      return { ...right, overrides: wrong.overrides };
    },
    timeOverride: (kernel) => (kernel === 'direct.4x8' ? 0.001 : 5),
  });
  const planted = r.candidates.find((c) => c.kernel === 'direct.4x8')!;
  assert.is(planted.status, 'wrong');
  assert.match(planted.note!, /off the float64 reference/);
  assert.is.not(r.chosen, 'direct.4x8');
});

test('the fastest verified candidate is chosen; a clearly slower one is dropped after two runs, a far slower one after one', async () => {
  const times: Record<string, number> = { direct: 10, 'direct.4x8': 3, 'direct.16x8': 4, 'direct.8x4': 100, blocked: 20, subgroup: 10 };
  const r = await tuneProblem(forward, { timeOverride: (kernel) => times[kernel] ?? 50 });
  assert.is(r.default, autoConvVariant('forward', g, getGpu().info.hasSubgroups));
  assert.is(r.chosen, 'direct.4x8');
  assert.is(r.candidates.find((c) => c.kernel === 'direct.4x8')!.status, 'chosen');
  const slow = r.candidates.find((c) => c.kernel === 'direct.8x4')!;
  // 100 ms against a best of at most 10: more than FAR_FACTOR× behind, dropped on its one run.
  assert.equal([slow.status, slow.runs], ['dropped', 1]);
  // With a fast default (3 ms) as the bar from the start: 9 ms (3×) is dropped after two runs,
  // 5 ms stops after two runs behind it (the median of three could not beat 3), and the
  // default, never beaten, stays.
  const def = autoConvVariant('forward', g, getGpu().info.hasSubgroups);
  const bar = await tuneProblem(forward, { timeOverride: (kernel) => (kernel === def ? 3 : kernel === 'direct.4x8' ? 9 : kernel === 'direct.16x8' ? 5 : 100) });
  const find = (k: string) => bar.candidates.find((c) => c.kernel === k)!;
  assert.is(bar.chosen, def);
  assert.equal([find(def).status, find(def).runs], ['chosen', 3]);
  assert.equal([find('direct.4x8').status, find('direct.4x8').runs], ['dropped', 2]);
  assert.equal([find('direct.16x8').status, find('direct.16x8').runs, find('direct.16x8').ms], ['slower', 2, 5]);
  for (const c of bar.candidates) if (![def, 'direct.4x8', 'direct.16x8'].includes(c.kernel) && c.status !== 'pruned') assert.equal([c.kernel, c.status, c.runs], [c.kernel, 'dropped', 1]);
  // A slow default stays unchosen; an equal-time candidate does not displace the first.
  const tie = await tuneProblem(forward, { timeOverride: () => 7 });
  assert.is(tie.chosen, tie.default);
  // A gain under MARGIN (5%) is noise: the default stays.
  const near = await tuneProblem(forward, { timeOverride: (kernel, p) => (kernel === candidatesOf(p).default ? 10 : kernel === 'direct.4x8' ? 9.8 : 50) });
  assert.is(near.chosen, near.default);
});

test('a challenger that won at a cut batch must beat the default at the full batch too', async () => {
  const def = autoConvVariant('forward', g, getGpu().info.hasSubgroups);
  // At batch 2 'direct.4x8' looks 5× faster; at the problem's own batch (4) it is slower.
  const planted = (kernel: string, _p: TuneProblem, batch: number) => (kernel === 'direct.4x8' ? (batch < 4 ? 1 : 12) : kernel === def ? (batch < 4 ? 5 : 10) : 50);
  const r = await tuneProblem(forward, { timedBatch: 2, timeOverride: planted });
  assert.is(r.timedBatch, 2);
  assert.equal(r.confirmation, { batch: 4, scaledBatch: 2, challenger: 'direct.4x8', challengerMs: 12, defaultMs: 10 });
  // 12 against 10 is more than CONFIRM_CLEAR apart: the first pair decided; a close pair gets a second.
  let pairs = 0;
  const counted = (kernel: string, p: TuneProblem, batch: number) => { if (batch === 4 && kernel === def) pairs++; return planted(kernel, p, batch); };
  await tuneProblem(forward, { timedBatch: 2, timeOverride: counted });
  assert.is(pairs, 1);
  pairs = 0;
  const close = (kernel: string, p: TuneProblem, batch: number) => (batch === 4 && kernel === 'direct.4x8' ? 9.9 : counted(kernel, p, batch));
  assert.is((await tuneProblem(forward, { timedBatch: 2, timeOverride: close })).chosen, def, '9.9 against 10 is under MARGIN');
  assert.is(pairs, 2);
  assert.is(r.chosen, def);
  // Where it wins there too, it is chosen.
  const wins = await tuneProblem(forward, { timedBatch: 2, timeOverride: (k, p, b) => (k === 'direct.4x8' ? (b < 4 ? 1 : 8) : planted(k, p, b)) });
  assert.is(wins.chosen, 'direct.4x8');
});

test("a cut batch keeps its full-batch confirmation in the problem's budget", async () => {
  const def = autoConvVariant('forward', g, getGpu().info.hasSubgroups);
  // The default "takes" 100 ms at batch 2, so confirming a challenger at batch 4 would take
  // 2 × CONFIRM_RUNS runs of about 200 ms: more than a 500 ms budget leaves after the default.
  const planted = (kernel: string) => (kernel === def ? 100 : 10);
  const tight = await tuneProblem(forward, { timedBatch: 2, timeOverride: planted, budgetMs: 500 });
  assert.is(tight.chosen, def);
  const others = tight.candidates.filter((c) => c.kernel !== def);
  assert.ok(others.length > 0 && others.every((c) => c.status === 'untried' && /full-batch confirmation/.test(c.note ?? '')), JSON.stringify(others));
  // With room for it, the challengers are tried and one is confirmed.
  const roomy = await tuneProblem(forward, { timedBatch: 2, timeOverride: planted, budgetMs: 60_000 });
  assert.ok(roomy.candidates.every((c) => c.status !== 'untried'));
  assert.is.not(roomy.chosen, def);
  assert.is(roomy.confirmation?.batch, 4);
});

test('one budget for all: the largest problems first; once it is spent the smallest are left untuned and reported', async () => {
  await loadTunedChoices('on', { store: memoryStore(), ...quiet });
  const [small, medium, large] = [2, 3, 4].map((batch) => ({ ...forward, g: { ...g, batch } }) as TuneProblem);
  const all = await tune({ problems: [small, large, medium], totalBudgetMs: 600_000, timeOverride: () => 5, save: false });
  assert.equal(all.map((r) => r.problem), [large, medium, small].map(problemKey), 'largest first');
  // Each timed run "costs" 20 ms of real time: the first problem spends what is over the minimum.
  const spin = () => { const until = performance.now() + 20; while (performance.now() < until); return 5; };
  const skipped: string[] = [];
  const spent = await tune({ problems: [small, large, medium], again: true, totalBudgetMs: MIN_PROBLEM_BUDGET_MS + 40, timeOverride: spin, onSkipped: (p) => skipped.push(problemKey(p)), save: false });
  assert.equal(spent.map((r) => r.problem), [problemKey(large)]);
  assert.equal(skipped, [medium, small].map(problemKey));
  // Under the minimum nothing is tuned, and everything is reported.
  const none: string[] = [];
  assert.equal(await tune({ problems: [small], again: true, totalBudgetMs: 1, onSkipped: (p) => none.push(problemKey(p)), save: false }), []);
  assert.equal(none, [problemKey(small)]);
});

test('the order of trying: the default, winograd, the default\'s kernel with other parameters, the rest, the other kind of adapter\'s last', () => {
  const subgroups = getGpu().info.hasSubgroups;
  const cpu = candidatesOf(forward, 'cpu').kernels.map((k) => convKernelKey(k as ConvKernel));
  const def = autoConvVariant('forward', g, subgroups);
  assert.is(cpu[0], def);
  assert.is(cpu[1], 'winograd');
  assert.is(cpu[cpu.length - 1], 'blocked', 'the GPU-shaped kernel last on a CPU driver');
  assert.equal(new Set(cpu), new Set(convCandidates('forward', g, { subgroups }).map(convKernelKey)), 'every candidate, once');
  const gpu = candidatesOf(forward, 'gpu').kernels.map((k) => convKernelKey(k as ConvKernel));
  assert.ok(gpu.indexOf('blocked') < gpu.indexOf('direct.4x8'), 'on a GPU the register-blocked CPU kernels come after it');
  const m = candidatesOf(dense, 'cpu').kernels.map((k) => matmulKernelKey(k as MatmulKernel));
  assert.equal(m.slice(0, 3), ['direct', 'direct.4x4', 'direct.16x8']);
  assert.ok(m.indexOf('tiled') > m.indexOf('naive'));
});

test('a problem is timed at no fewer than MIN_TIMED_BATCH images, where it has as many', async () => {
  const big: TuneProblem = { ...forward, g: { ...g, batch: 40 } };
  // One image "takes" 50 ms: TARGET_MS alone would time it at one image.
  const r = await tuneProblem(big, { timeOverride: () => 50 });
  assert.is(r.timedBatch, MIN_TIMED_BATCH);
  const small = await tuneProblem(forward, { timeOverride: () => 50 });
  assert.is(small.timedBatch, 4, 'a batch under MIN_TIMED_BATCH is timed whole');
});

test('tune() prunes a candidate dropped on PRUNE_AFTER earlier problems of the same op and pass; another pass still tries it', async () => {
  await loadTunedChoices('on', { store: memoryStore(), ...quiet });
  const shapes = [5, 6, 7, 8].map((batch) => ({ ...forward, g: { ...g, batch } }) as TuneProblem);
  const inputGrad: TuneProblem = { ...forward, pass: 'inputGrad', epilogue: NO_EPILOGUE };
  const slow = (kernel: string) => (kernel === 'direct.16x8' ? 100 : kernel === 'direct.16x3' ? 100 : 10);
  const results = await tune({ problems: [...shapes, inputGrad], timeOverride: slow, save: false });
  const status = (i: number, k: string) => results[i].candidates.find((c) => c.kernel === k)!.status;
  assert.equal([0, 1, 2, 3].map((i) => status(i, 'direct.16x8')), ['dropped', 'dropped', 'pruned', 'pruned']);
  assert.match(results[2].candidates.find((c) => c.kernel === 'direct.16x8')!.note!, new RegExp(`dropped on ${PRUNE_AFTER} earlier conv.forward problems`));
  assert.is(status(4, 'direct.16x3'), 'dropped', 'the input gradient is another family: tried');
  // The default is never pruned.
  assert.ok(results.every((r) => r.candidates.find((c) => c.kernel === r.default)!.status !== 'pruned'));
});

test('the layers of a problem: a model\'s layers by name, the backward passes under their forward\'s layer', async () => {
  problemsSeen(true);
  const conv = new Conv2d({ inChannels: 3, filters: 12, kernelSize: 3, padding: 'same', seed: 1 });
  const model = new Sequential({ conv, flat: new Flatten(), head: new Dense({ inFeatures: 9 * 9 * 12, units: 5, seed: 2 }) });
  const x = randomArray([4, 9, 9, 3], 1);
  withLayerLabels(model, () => tidy(() => {
    const y = model.forward(tensor(x, [4, 9, 9, 3]));
    sum(y).backward();
  }));
  const layers = problemLayers();
  const byPass = new Map([...problemsSeen().entries()].map(([key, p]) => [p.op === 'conv' ? p.pass : `matmul ${key}`, layers.get(key)]));
  assert.equal(byPass.get('forward'), ['conv']);
  assert.equal(byPass.get('weightGrad'), ['conv'], 'the weight gradient ran under its layer\'s label');
  assert.ok([...byPass.entries()].filter(([k]) => k.startsWith('matmul')).every(([, l]) => l?.[0] === 'head'));
  // Outside withLayerLabels nothing is labelled, and the layers' forward is their class's again.
  assert.not.ok(Object.prototype.hasOwnProperty.call(conv, 'forward'));
  for (const p of model.parameters()) p.grad?.dispose();
  model.dispose();
});

test('planOnly: a planned step resolves the same problems as a real one, dispatches nothing, and refuses a read-back', async () => {
  const conv = new Conv2d({ inChannels: 3, filters: 12, kernelSize: 3, strides: 2, seed: 1 });
  const head = new Dense({ inFeatures: 4 * 4 * 12, units: 5, seed: 2 });
  const model = new Sequential(conv, new Flatten(), head);
  const x = tensor(randomArray([4, 9, 9, 3], 2), [4, 9, 9, 3]);
  const step = () => tidy(() => sum(model.forward(x)).backward());
  problemsSeen(true);
  step();
  await sync();
  const real = [...problemsSeen(true).keys()];
  for (const p of model.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
  const before = dispatchesSoFar();
  planOnly(step);
  assert.is(dispatchesSoFar(), before, 'nothing dispatched');
  assert.equal([...problemsSeen(true).keys()], real);
  assert.ok(real.length >= 4);
  let read: Promise<unknown> | undefined;
  planOnly(() => {
    read = x.toArray();
  });
  const error = await read!.then(() => undefined, (e: Error) => e);
  assert.match(String(error?.message), /read back inside planOnly/);
  for (const p of model.parameters()) p.grad?.dispose();
  x.dispose();
  model.dispose();
});

test('the policy runs an installed choice for auto, keeps a named variant, and ignores the table when tune is off', () => {
  setTuneMode('cached');
  installChoices([[problemKey(forward), 'direct.4x8'], [problemKey(dense), 'direct.4x4']]);
  assert.equal(convVariantFor('forward', g, 'auto', forward.epilogue), { variant: 'direct', block: { tm: 4, tn: 8 } });
  assert.is(convVariantFor('forward', g, 'blocked'), 'blocked');
  assert.equal(matmulVariantFor(shape, 'auto'), { variant: 'direct', block: { tm: 4, tn: 4 } });
  // A choice this device cannot run (a cache from elsewhere) falls back to the rule.
  installChoices([[problemKey(forward), getGpu().info.hasSubgroups ? 'nonsense.3' : 'subgroup']]);
  assert.is(convVariantFor('forward', g), autoConvVariant('forward', g, getGpu().info.hasSubgroups));
  setTuneMode('off');
  installChoices([[problemKey(forward), 'direct.4x8']]);
  assert.is(convVariantFor('forward', g), autoConvVariant('forward', g, getGpu().info.hasSubgroups));
  assert.is(matmulVariantFor(shape), autoMatmulVariant(shape));
  // A frozen table (a training run) wins over the live one, and holds only what it holds.
  setTuneMode('cached');
  freezeChoices(new Map([[problemKey(dense), 'naive']]));
  assert.is(matmulVariantFor(shape), 'naive');
  assert.is(convVariantFor('forward', g), autoConvVariant('forward', g, getGpu().info.hasSubgroups));
});

test('the cache: a round trip; another adapter, another version and a damaged file are ignored; a damaged one is replaced', async () => {
  const store = memoryStore();
  assert.is(await loadTunedChoices('on', { store, ...quiet }), 0);
  const results = await tune({ problems: [dense], timeOverride: (k) => (k === 'tiled' ? 1 : 9) });
  assert.is(results[0].chosen, 'tiled');
  const doc = parseTuneCache(store.text!, 'memory');
  assert.is(doc.entries.length, 1);
  assert.is(doc.entries[0].framework, frameworkKey());
  assert.match(frameworkKey(), new RegExp(`^${VERSION.replace(/\./g, '\\.')}, kernels [0-9a-f]{8}$`));
  assert.equal(doc.entries[0].adapter.description, getGpu().info.adapter.description);
  assert.is(doc.entries[0].choices[problemKey(dense)].kernel, 'tiled');
  assert.ok(Object.values(doc.entries[0].verified).every((v) => v === 'ok'));
  // Read back by a later session.
  clearChoices();
  assert.is(await loadTunedChoices('cached', { store, ...quiet }), 1);
  assert.is(installedChoices().get(problemKey(dense)), 'tiled');
  assert.is(matmulVariantFor(shape), 'tiled');
  // 'off' does not read it.
  assert.is(await loadTunedChoices('off', { store, ...quiet }), 0);
  // Another adapter's entry, the same adapter through another engine (or a file that did not
  // record the engine), another version's, or this version's with other kernel sources (another
  // fingerprint: a kernel edited since), is not this one's.
  assert.is(doc.entries[0].adapter.engine, getGpu().info.engine);
  const { engine: _engine, ...noEngine } = doc.entries[0].adapter;
  const otherEngine = getGpu().info.engine === 'dawn' ? 'wgpu' : 'dawn';
  for (const change of [{ adapter: { ...doc.entries[0].adapter, description: 'another GPU' } }, { adapter: { ...doc.entries[0].adapter, engine: otherEngine } }, { adapter: noEngine }, { framework: '0.0.1' }, { framework: VERSION }, { framework: `${VERSION}, kernels 00000000` }]) {
    const other = memoryStore(JSON.stringify({ ...doc, entries: [{ ...doc.entries[0], ...change }] }));
    assert.is(await loadTunedChoices('cached', { store: other, ...quiet }), 0, JSON.stringify(change));
  }
  // Damaged: named, ignored, replaced by the next save.
  for (const damaged of ['{"format": "webgpu-mini-dl kernel choices", "version": 1, "entr', JSON.stringify({ format: CACHE_FORMAT, version: CACHE_FORMAT_VERSION, entries: [{ adapter: {} }] })]) {
    const bad = memoryStore(damaged);
    const warnings: string[] = [];
    assert.is(await loadTunedChoices('on', { store: bad, warn: (w) => warnings.push(w) }), 0);
    assert.is(warnings.length, 1);
    assert.match(warnings[0], /kernel choices memory: .*ignored, and replaced/);
    await tune({ problems: [dense], timeOverride: () => 1 });
    assert.is(parseTuneCache(bad.text!, 'memory').entries.length, 1);
  }
  assert.throws(() => parseTuneCache('{"format": "something else"}', '/x/kernel-choices.json'), /kernel choices \/x\/kernel-choices.json: not a kernel-choices file/);
});

test('a problem where no candidate verifies keeps no choice, and the saved cache stays readable', async () => {
  const store = memoryStore();
  await loadTunedChoices('on', { store, ...quiet });
  // Every candidate computes a linear convolution where the problem asks for bias + relu (stride
  // 2: no winograd, whose several launches the override does not reach).
  const strided: TuneProblem = { ...forward, g: conv2dGeometry([4, 9, 9, 3], [3, 3, 3, 12], 2, 'same') };
  const [r] = await tune({ problems: [strided], programOverride: (_kernel, build) => ({ ...build(), overrides: conv2dProgram(g, NO_EPILOGUE, 'direct').overrides }) });
  assert.ok(r.candidates.every((c) => c.status === 'wrong' || c.status === 'failed'), JSON.stringify(r.candidates));
  const doc = parseTuneCache(store.text!, 'memory');
  assert.is(doc.entries[0].choices[problemKey(strided)], undefined);
  assert.ok(Object.values(doc.entries[0].verified).some((v) => v.startsWith('wrong')));
});

test('the cache file: under $XDG_CACHE_HOME or ~/.cache, written whole (no temporary file left)', async () => {
  assert.is(tuneCachePath({ XDG_CACHE_HOME: '/c' }, '/home/u'), '/c/webgpu-mini-dl/kernel-choices.json');
  assert.is(tuneCachePath({}, '/home/u/'), '/home/u/.cache/webgpu-mini-dl/kernel-choices.json');
  const path = tuneCachePath({ XDG_CACHE_HOME: join(dir, 'cache') }, '/nowhere');
  const store = await fileStore(path);
  assert.is(await store.read(), undefined);
  await store.write('first');
  await store.write('second');
  assert.is(readFileSync(path, 'utf8'), 'second');
  assert.equal(readdirSync(join(dir, 'cache', 'webgpu-mini-dl')), ['kernel-choices.json']);
});

test('the tune mode: init option, else WEBGPU_MINI_DL_TUNE, else cached; an unknown one is refused by name', () => {
  assert.is(tuneModeFrom(undefined, undefined), 'cached');
  assert.is(tuneModeFrom(undefined, ' OFF '), 'off');
  assert.is(tuneModeFrom('on', 'off'), 'on');
  assert.throws(() => tuneModeFrom(undefined, 'fast'), /WEBGPU_MINI_DL_TUNE: 'fast' is not one of on, cached, off/);
  assert.throws(() => tuneModeFrom('fast' as 'on', undefined), /init\(\{ tune \}\): 'fast' is not one of/);
});

test('VERSION is package.json\'s', () => {
  assert.is(VERSION, (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version);
});

// -------------------------------------------------------------- training runs

const N = 40;
const r = seededRandom(9);
const images = Float32Array.from(randomArray([N, 6, 6, 2], 3));
const labels = Int32Array.from({ length: N }, () => Math.floor(r() * 3));
const net = (): Sequential => new Sequential(
  new Conv2d({ inChannels: 2, filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', seed: 1 }),
  new Flatten(),
  new Dense({ inFeatures: 288, units: 3, seed: 2 }),
);
const bits = (xs: ArrayLike<number>): number[] => [...new Uint32Array(Float32Array.from(xs).buffer)];

async function trainRun(path: string, options: { maxSteps?: number; resume?: boolean }) {
  const data = new TensorDataset({ data: images, shape: [N, 6, 6, 2] }, { data: labels, shape: [N] });
  const model = net();
  const optimizer = new Adam(model, { lr: 0.01 });
  try {
    const h = await fit(model, new DataLoader(data, { batchSize: 16, seed: 3 }), { epochs: 2, loss: crossEntropy, optimizer, checkpoint: path, name: 'tuned', progress: false, log: () => {}, ...options });
    const weights = await Promise.all(model.parameters().map((p) => p.toArray()));
    return { h, weights: weights.map(bits) };
  } finally {
    optimizer.dispose();
    model.dispose();
    data.dispose();
  }
}

test('a training run records its kernels; a resume runs the recorded ones, bit for bit, even after the cache changed', async () => {
  // The cache holds non-default kernels for every problem of this model's training step.
  setTuneMode('cached');
  await trainRun(join(dir, 'probe.safetensors'), { maxSteps: 1 });
  const problems = [...problemsSeen().values()];
  assert.ok(problems.length >= 5, `the step's problems: ${problems.map(problemKey).join('; ')}`);
  const planted = new Map(problems.map((p) => [problemKey(p), p.op === 'conv' ? 'direct.4x8' : 'tiled']));
  const useCache = (table: Map<string, string>) => {
    clearChoices();
    installChoices(table);
  };

  useCache(planted);
  const whole = await trainRun(join(dir, 'whole.safetensors'), {});
  const recorded = whole.h.kernels as RunKernels;
  assert.equal(recorded.choices, Object.fromEntries(planted));
  assert.ok(Object.values(recorded.since).every((s) => s === 0), 'from the cache: in effect from the first step');
  const inFile = JSON.parse(readCheckpointInfo(join(dir, 'whole.safetensors'), 'tuned').extra.kernels) as RunKernels;
  assert.equal(inFile, recorded);

  useCache(planted);
  const path = join(dir, 'parts.safetensors');
  await trainRun(path, { maxSteps: 3 });
  // The cache changes between the two halves (another tuning, another machine's file).
  useCache(new Map([...planted.keys()].map((k) => [k, 'blocked'])));
  const resumed = await trainRun(path, { resume: true });
  assert.equal(resumed.h.kernels, recorded);
  assert.equal(resumed.weights, whole.weights, 'the resumed run ends with the unbroken run\'s weights');
  assert.equal(bits(resumed.h.steps.loss), bits(whole.h.steps.loss));

  // With tune off nothing is recorded as chosen, and the run is the fixed rules' run.
  setTuneMode('off');
  const off = await trainRun(join(dir, 'off.safetensors'), {});
  assert.equal((off.h.kernels as RunKernels).choices, {});
});

test("tune 'on': a fresh run measures its first step's problems after that step, and records them from step 1", async () => {
  await loadTunedChoices('on', { store: memoryStore(), ...quiet });
  const run = await trainRun(join(dir, 'on.safetensors'), { maxSteps: 2 });
  const recorded = run.h.kernels as RunKernels;
  assert.ok(Object.keys(recorded.choices).length >= 5);
  assert.ok(Object.values(recorded.since).every((s) => s === 1), JSON.stringify(recorded.since));
  assert.ok(run.h.tuneSeconds > 0);
});

test.run();
