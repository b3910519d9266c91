import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, seededRandom } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { detach } from '../src/core/autograd.ts';
import { mean, mul, square } from '../src/core/ops.ts';
import { memory } from '../src/core/memory.ts';
import type { Tensor } from '../src/core/tensor.ts';
import { Module } from '../src/nn/module.ts';
import { Sequential } from '../src/nn/sequential.ts';
import { Dense } from '../src/nn/layers.ts';
import { Adam, SGD, type Optimizer } from '../src/nn/optim.ts';
import { classifierStep } from './helpers.ts';
import { CHECKPOINT_FORMAT, type TrainingProgress } from '../src/nn/checkpoint.ts';
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from '../src/nn/checkpoint-file.ts';
import { CheckpointError } from '../src/io/safetensors.ts';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'checkpoint-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
const freshPath = (): string => join(dir, `case-${fileCounter++}.safetensors`);

/** A parameter plus buffers of all three dtypes, as BatchNorm-like layers keep them. */
class Scaler extends Module {
  readonly gain: Tensor;

  constructor(offset: number) {
    super();
    this.gain = this.addParameter('gain', tensor([0.5 + offset, -1.25, 3], [3]));
    this.addBuffer('runningMean', tensor([0.1 + offset, 0.2, 0.3], [3]));
    this.addBuffer('seen', tensor([7 + offset, -3], [2], { dtype: 'i32' }));
    this.addBuffer('mask', tensor([0xffffffff, offset], [2], { dtype: 'u32' }));
  }

  forward(x: Tensor): Tensor {
    return mul(x, this.gain);
  }
}

interface Fixture {
  net: Sequential;
  scaler: Scaler;
  adam: Adam;
  sgd: SGD;
  modules: Record<string, Module>;
  optimizers: Record<string, Optimizer>;
  dispose(): void;
}

/** Different `seed`s give different weights and hyper-parameters, so a load has to change them all. */
function build(seed: number, hidden = 4): Fixture {
  const net = new Sequential(new Dense({ inFeatures: 5, units: hidden, activation: 'relu', seed }), new Dense({ inFeatures: hidden, units: 3, seed: seed + 1 }));
  const scaler = new Scaler(seed);
  const adam = new Adam(net, { lr: 0.01 * (seed + 1), beta1: 0.8 });
  const sgd = new SGD(scaler, { lr: 0.05, momentum: 0.9, nesterov: seed % 2 === 0 });
  return {
    net,
    scaler,
    adam,
    sgd,
    modules: { net, scaler },
    optimizers: { adam, sgd },
    dispose() {
      adam.dispose();
      sgd.dispose();
      net.dispose();
      scaler.dispose();
    },
  };
}

function trainAFewSteps(f: Fixture, steps: number): void {
  const r = seededRandom(11);
  const x = tensor(randomArray([6, 5], 12), [6, 5]);
  const y = tensor(Array.from({ length: 6 }, () => Math.floor(r() * 3)), [6], { dtype: 'i32' });
  const z = tensor(randomArray([4, 3], 13), [4, 3]);
  for (let i = 0; i < steps; i++) {
    classifierStep(f.net, f.adam, x, y).dispose();
    tidy(() => {
      f.sgd.zeroGrad();
      const loss = mean(square(f.scaler.forward(z)));
      loss.backward();
      f.sgd.step();
      return detach(loss);
    }).dispose();
  }
  for (const t of [x, y, z]) t.dispose();
}

async function bytesOf(t: Tensor): Promise<Buffer> {
  const values = t.dtype === 'f32' ? await t.toArray() : await t.toInt32Array();
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** Every tensor a checkpoint covers, by its name in the file. */
function everyTensor(f: Fixture): Map<string, Tensor> {
  const all = new Map<string, Tensor>();
  for (const [key, m] of Object.entries(f.modules)) for (const [n, t] of m.stateDict()) all.set(`${key}.${n}`, t);
  for (const [key, o] of Object.entries(f.optimizers)) for (const [n, t] of o.stateDict().tensors) all.set(`optimizer.${key}.${n}`, t);
  return all;
}

async function snapshot(f: Fixture): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const [name, t] of everyTensor(f)) out.set(name, await bytesOf(t));
  return out;
}

function assertSameBits(actual: Map<string, Buffer>, expected: Map<string, Buffer>): void {
  assert.equal([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, bytes] of expected) assert.ok(actual.get(name)!.equals(bytes), `tensor "${name}" differs`);
}

const progress: TrainingProgress = { epoch: 3, step: 47, batchInEpoch: 2, seed: 99 };

async function saveTrained(path: string, model = 'test-net', hidden = 4): Promise<Fixture> {
  const f = build(1, hidden);
  trainAFewSteps(f, 3);
  await saveCheckpoint(path, { model, config: { hidden, note: 'x' }, modules: f.modules, optimizers: f.optimizers, progress, extra: { history: '[1,2]' } });
  return f;
}

test.before(async () => {
  await ready;
});

test('a checkpoint round trip restores every parameter, buffer and optimizer slot bit for bit', async () => {
  const path = freshPath();
  const a = await saveTrained(path);
  const expected = await snapshot(a);
  const b = build(2);
  const before = await snapshot(b);
  // Every tensor of the fresh build must differ, or the comparison below proves nothing for it.
  // (Adam's slots start at zero, as do the scaler's momentum buffers: those differ after training.)
  for (const [name, bytes] of expected) assert.not.ok(before.get(name)!.equals(bytes), `tensor "${name}" already matched before loading`);

  const info = await loadCheckpoint(path, { model: 'test-net', modules: b.modules, optimizers: b.optimizers });
  assertSameBits(await snapshot(b), expected);
  assert.is(b.adam.stepCount, 3);
  assert.is(b.sgd.stepCount, 3);
  assert.equal(b.adam.hyper(), a.adam.hyper());
  assert.equal(b.sgd.hyper(), a.sgd.hyper());
  assert.is(b.sgd.nesterov, false, 'the saved nesterov flag (false) replaced the fresh one (true)');
  assert.equal(info.progress, progress);
  assert.equal(info.config, { hidden: 4, note: 'x' });
  assert.equal(info.extra, { history: '[1,2]' });
  assert.is(info.model, 'test-net');

  // The loaded optimizer continues exactly as the original one.
  trainAFewSteps(a, 2);
  trainAFewSteps(b, 2);
  assertSameBits(await snapshot(b), await snapshot(a));
  a.dispose();
  b.dispose();
});

test('the file is plain safetensors with readable names and our metadata, and no temporary file is left', async () => {
  const path = freshPath();
  const a = await saveTrained(path);
  const { metadata, tensors } = loadSafetensors(path);
  assert.is(metadata.format, CHECKPOINT_FORMAT);
  assert.is(metadata.model, 'test-net');
  assert.equal(JSON.parse(metadata.progress), progress);
  assert.equal(Object.keys(JSON.parse(metadata.optimizers)).sort(), ['adam', 'sgd']);
  for (const name of ['net.0.kernel', 'net.1.bias', 'scaler.gain', 'scaler.runningMean', 'optimizer.adam.0.kernel.m', 'optimizer.adam.1.bias.v', 'optimizer.sgd.gain.momentum']) {
    assert.ok(tensors.has(name), `no tensor "${name}" in ${[...tensors.keys()].join(', ')}`);
  }
  assert.is(tensors.get('scaler.seen')!.dtype, 'I32');
  assert.is(tensors.get('scaler.mask')!.dtype, 'U32');
  assert.equal([...tensors.get('scaler.mask')!.data], [0xffffffff, 1]);
  assert.equal(tensors.get('net.0.kernel')!.shape, [5, 4]);
  assert.equal(readdirSync(dir).filter((n) => n.includes('.tmp-')), []);

  const info = readCheckpointInfo(path, 'test-net');
  assert.equal(info.progress, progress);
  assert.equal(info.config, { hidden: 4, note: 'x' });
  a.dispose();
});

test('loading only the modules (generate, evaluate) ignores the optimizer state', async () => {
  const path = freshPath();
  const a = await saveTrained(path);
  const expected = await snapshot(a);
  const b = build(2);
  await loadCheckpoint(path, { model: 'test-net', modules: b.modules });
  for (const [name, t] of everyTensor(b)) {
    if (!name.startsWith('optimizer.')) assert.ok((await bytesOf(t)).equals(expected.get(name)!), `tensor "${name}" differs`);
  }
  assert.is(b.adam.stepCount, 0);
  a.dispose();
  b.dispose();
});

/** Expects a CheckpointError naming the file (and `tensor` when given) whose message has every fragment. */
async function assertRejected(load: () => unknown, path: string, tensor: string | undefined, ...fragments: (string | RegExp)[]): Promise<void> {
  try {
    await load();
  } catch (error) {
    assert.instance(error, CheckpointError, `expected a CheckpointError, got ${String(error)}`);
    const e = error as CheckpointError;
    assert.ok(e.message.includes(path), `the message does not name the file: ${e.message}`);
    assert.is(e.path, path);
    if (tensor !== undefined) {
      assert.is(e.tensor, tensor, `wrong tensor in: ${e.message}`);
      assert.ok(e.message.includes(`"${tensor}"`), `the message does not name tensor "${tensor}": ${e.message}`);
    }
    for (const f of fragments) {
      assert.ok(typeof f === 'string' ? e.message.includes(f) : f.test(e.message), `message lacks ${String(f)}: ${e.message}`);
    }
    if (process.env.SHOW_ERRORS) console.log(e.message);
    return;
  }
  assert.unreachable('the load was not rejected');
}

/** Loads `path` into a fresh build and expects the rejection, with nothing in the build changed or leaked. */
async function assertLoadRejected(path: string, tensor: string | undefined, ...fragments: (string | RegExp)[]): Promise<void> {
  const b = build(2);
  const before = await snapshot(b);
  const tensorsBefore = memory().liveTensors;
  await assertRejected(() => loadCheckpoint(path, { model: 'test-net', modules: b.modules, optimizers: b.optimizers }), path, tensor, ...fragments);
  assert.is(memory().liveTensors, tensorsBefore, 'the rejected load leaked tensors');
  assertSameBits(await snapshot(b), before);
  assert.is(b.adam.stepCount, 0, 'the rejected load changed the optimizer');
  assert.is(b.adam.lr, 0.03, 'the rejected load changed the optimizer');
  b.dispose();
}

/** Rewrites a saved checkpoint with `edit` applied to its tensors (metadata kept). */
function rewrite(from: string, edit: (tensors: ReturnType<typeof loadSafetensors>['tensors']) => void): string {
  const { metadata, tensors } = loadSafetensors(from);
  edit(tensors);
  const path = freshPath();
  saveSafetensors(path, tensors, metadata);
  return path;
}

test('a checkpoint of another model is rejected, naming both models', async () => {
  const path = freshPath();
  (await saveTrained(path, 'gan')).dispose();
  await assertLoadRejected(path, undefined, '"gan"', '"test-net"');
  await assertRejected(() => readCheckpointInfo(path, 'vae'), path, undefined, '"gan"', '"vae"');
});

test('a tensor of the wrong shape is rejected, naming the tensor and both shapes', async () => {
  const path = freshPath();
  (await saveTrained(path, 'test-net', 6)).dispose();
  await assertLoadRejected(path, 'net.0.kernel', '[5, 6]', '[5, 4]');
  // The optimizer's slots are checked as strictly as the model's tensors.
  const original = freshPath();
  (await saveTrained(original)).dispose();
  const bent = rewrite(original, (t) => t.set('optimizer.adam.1.bias.m', { dtype: 'F32', shape: [1, 3], data: new Float32Array(3) }));
  await assertLoadRejected(bent, 'optimizer.adam.1.bias.m', '[1, 3]', '[3]');
});

test('a missing tensor, an extra tensor and a wrong dtype are rejected, naming the tensor', async () => {
  const original = freshPath();
  (await saveTrained(original)).dispose();
  await assertLoadRejected(rewrite(original, (t) => t.delete('net.1.bias')), 'net.1.bias', 'missing');
  await assertLoadRejected(rewrite(original, (t) => t.delete('optimizer.adam.0.kernel.v')), 'optimizer.adam.0.kernel.v', 'missing');
  await assertLoadRejected(rewrite(original, (t) => t.set('net.2.kernel', { dtype: 'F32', shape: [1], data: new Float32Array(1) })), 'net.2.kernel', /does not|unexpected/);
  await assertLoadRejected(rewrite(original, (t) => t.set('scaler.seen', { dtype: 'F32', shape: [2], data: new Float32Array(2) })), 'scaler.seen', /f32|F32/, /i32|I32/);
  await assertLoadRejected(rewrite(original, (t) => t.set('net.0.bias', { dtype: 'F64', shape: [4], data: new Float64Array(4) })), 'net.0.bias', 'F64');
});

test('a truncated or damaged file is rejected, naming the file (and the tensor whose bytes changed)', async () => {
  const original = freshPath();
  (await saveTrained(original)).dispose();
  const bytes = readFileSync(original);
  const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
  const write = (b: Uint8Array): string => {
    const path = freshPath();
    writeFileSync(path, b);
    return path;
  };
  await assertLoadRejected(write(bytes.subarray(0, bytes.length - 10)), undefined, /truncated|out of bounds/);
  await assertLoadRejected(write(bytes.subarray(0, headerEnd - 20)), undefined, /truncated/);
  await assertLoadRejected(write(bytes.subarray(0, 5)), undefined, /too short/);
  await assertLoadRejected(write(new Uint8Array(0)), undefined, /too short/);

  // A flipped bit in the header breaks its JSON (or names something else).
  const header = Buffer.from(bytes);
  header[8] ^= 0x40; // the opening brace
  await assertLoadRejected(write(header), undefined, /JSON|UTF-8/);

  // A flipped bit in the data leaves a well-formed file: only the stored checksums can tell.
  const { tensors } = loadSafetensors(original);
  const headerJson = JSON.parse(bytes.subarray(8, headerEnd).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const [begin] = headerJson['net.0.kernel'].data_offsets;
  const flipped = Buffer.from(bytes);
  flipped[headerEnd + begin + 5] ^= 0x01;
  assert.ok(tensors.has('net.0.kernel'));
  await assertLoadRejected(write(flipped), 'net.0.kernel', /checksum|damaged/);
});

test('a path that does not exist is rejected, naming it', async () => {
  const path = join(dir, 'no-such-dir', 'missing.safetensors');
  await assertLoadRejected(path, undefined, 'does not exist');
  await assertRejected(() => readCheckpointInfo(path), path, undefined, 'does not exist');
  assert.not.ok(existsSync(path));
});

test('a safetensors file without our metadata is rejected as not a checkpoint of this framework', async () => {
  const original = freshPath();
  (await saveTrained(original)).dispose();
  const path = freshPath();
  saveSafetensors(path, loadSafetensors(original).tensors);
  await assertLoadRejected(path, undefined, /format/, CHECKPOINT_FORMAT);
  await assertRejected(() => readCheckpointInfo(path), path, undefined, /format/);
  // Our format but a broken progress record.
  const { metadata, tensors } = loadSafetensors(original);
  const broken = freshPath();
  saveSafetensors(broken, tensors, { ...metadata, progress: JSON.stringify({ epoch: 1, step: -2, batchInEpoch: 0, seed: 0 }) });
  await assertLoadRejected(broken, undefined, 'progress.step');
  const noOptimizers = freshPath();
  const { optimizers: _dropped, ...rest } = metadata;
  saveSafetensors(noOptimizers, tensors, rest);
  await assertLoadRejected(noOptimizers, undefined, /optimizers/);
});

test('a checkpoint holding NaN or infinity is neither written over a good one nor loaded unless asked', async () => {
  const path = freshPath();
  const good = await saveTrained(path);
  const goodBytes = readFileSync(path);
  const diverged = new Scaler(Number.NaN);
  await assertRejected(() => saveCheckpoint(path, { model: 'test-net', config: {}, modules: { scaler: diverged }, progress }), path, 'scaler.gain', /NaN or infinity/, 'is kept');
  assert.ok(readFileSync(path).equals(goodBytes), 'the good checkpoint was replaced');
  assert.equal(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'a temporary file was left');
  // Asked for explicitly, it is written, and a load refuses it until asked too.
  const nanPath = freshPath();
  await saveCheckpoint(nanPath, { model: 'test-net', config: {}, modules: { scaler: diverged }, progress }, { allowNonFinite: true });
  const target = new Scaler(1);
  const before = await bytesOf(target.gain);
  await assertRejected(() => loadCheckpoint(nanPath, { model: 'test-net', modules: { scaler: target } }), nanPath, 'scaler.gain', /NaN or infinity/, 'allowNonFinite');
  assert.ok((await bytesOf(target.gain)).equals(before), 'the refused load changed the weights');
  await loadCheckpoint(nanPath, { model: 'test-net', modules: { scaler: target } }, { allowNonFinite: true });
  assert.ok(Number.isNaN((await target.gain.toArray())[0]));
  const infinite = new Scaler(Number.POSITIVE_INFINITY);
  const infPath = freshPath();
  await assertRejected(() => saveCheckpoint(infPath, { model: 'test-net', config: {}, modules: { scaler: infinite }, progress }), infPath, 'scaler.gain', /NaN or infinity/);
  assert.not.ok(existsSync(infPath));
  for (const m of [good, diverged, target, infinite]) m.dispose();
});

test("a killed writer's orphaned temporary file is removed by the next save; a live writer's is left alone", async () => {
  const path = freshPath();
  // A pid far above any real one stands for a process that is gone; the parent is alive.
  const orphan = `${path}.tmp-4194000`;
  const live = `${path}.tmp-${process.ppid}`;
  const other = `${path}x.tmp-4194000`;
  for (const f of [orphan, live, other]) writeFileSync(f, 'half a checkpoint');
  (await saveTrained(path)).dispose();
  assert.not.ok(existsSync(orphan), 'the orphan is still there');
  assert.ok(existsSync(live), "a live process's temporary was removed");
  assert.ok(existsSync(other), "another file's temporary was removed");
  for (const f of [live, other]) rmSync(f);
});

test.run();