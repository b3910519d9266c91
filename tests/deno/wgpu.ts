// The Deno part of `npm test`: the framework on wgpu, Deno's built-in navigator.gpu, the other
// WebGPU engine (Firefox's). It runs the checks the Dawn tests run (tests/*-checks.ts), on fewer
// cases so that it stays within about a minute and a half on a 2-core CPU through llvmpipe:
// every kernel variant the adapter offers against its float64 reference, the gradient checks,
// one DCGAN and one cGAN training step against their float64 computation, fit() learning, and a
// checkpoint to bytes and back. And where wgpu lacks a feature (subgroups), that the kernel policy
// never picks a kernel that needs it and a request for one says which feature and which engine.
//
//   deno run -A tests/deno/wgpu.ts          (tests/deno.test.ts runs it so from `npm test`)
//
// uvu runs under Deno as it does under Node; this file is not named *.test.ts, so the Node
// suite does not pick it up itself.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, readBack, seededRandom, f32, assertClose, gradCheck } from '../helpers.ts';
import { checkMatmulCase, shapeOf, TRANSPOSES, variantsFor } from '../matmul-checks.ts';
import { reduceAxesReference } from '../references.ts';
import { checkConvCase, checkTransposeCase, checkWinogradCase, geometryOf, type ConvCase } from '../conv-checks.ts';
import { checkBinaryGradients, checkLinearGradients, checkUnaryGradients } from '../autograd-checks.ts';
import { checkOneStep } from '../gan-step-checks.ts';
import { getGpu } from '../../src/core/device.ts';
import { memory } from '../../src/core/memory.ts';
import { tidy } from '../../src/core/scope.ts';
import { conv2dInputGradRaw, conv2dWeightGradRaw } from '../../src/core/conv-ops.ts';
import * as ops from '../../src/core/ops.ts';
import { matmulRaw } from '../../src/core/ops.ts';
import {
  clearChoices, convVariantFor, getTuneMode, installChoices, problemKey, setConvVariant, setTuneMode, type TuneProblem,
} from '../../src/core/kernel-policy.ts';
import { verifyCandidate } from '../../src/tune/tuner.ts';
import { MATMUL_VARIANTS, matmulCandidates, matmulReference } from '../../src/kernels/matmul.ts';
import { ACTIVATIONS } from '../../src/kernels/activation.ts';
import { CONV_VARIANTS, NO_EPILOGUE, SUBGROUP_CONV_VARIANTS, convCandidates, conv2dReference, type ConvPass, type ConvVariant } from '../../src/kernels/conv/conv2d.ts';
import { subgroupPays } from '../../src/kernels/conv/conv2d-subgroup.ts';
import { conv2dTransposeReference } from '../../src/kernels/conv/conv2d-transpose.ts';
import { conv2dGeometry, conv2dTransposeGeometry } from '../../src/kernels/conv/geometry.ts';
// What a user of the package imports: the public entry point, as a Deno script would.
import {
  DataLoader, TensorDataset, checkpointToBytes, conv2d, conv2dTranspose, crossEntropy, fit, loadCheckpointFromBytes,
  nn, optim, readCheckpointInfoFromBytes, tensor,
} from '../../src/index.ts';

const { Dense, Sequential } = nn;
const { Adam } = optim;

test.before(async () => {
  await ready;
});

// Each test prints its name and time (tests/deno.test.ts passes the lines on to the npm test log).
const started = new Map<string, number>();
test.before.each((ctx) => {
  started.set(ctx.__test__, performance.now());
});
test.after.each((ctx) => {
  console.log(`  ${((performance.now() - (started.get(ctx.__test__) ?? 0)) / 1000).toFixed(1).padStart(5)} s  ${ctx.__test__}`);
});

const hasSubgroups = (): boolean => getGpu().info.hasSubgroups;
/** The convolution variants this adapter offers: all of them, less those needing a feature it lacks. */
const offeredConvVariants = (): ConvVariant[] => CONV_VARIANTS.filter((v) => hasSubgroups() || !SUBGROUP_CONV_VARIANTS.includes(v));

test('the device is wgpu: the GPU info and its description say so', () => {
  const info = getGpu().info;
  assert.is(info.engine, 'wgpu');
  assert.match(info.description, /, on wgpu$/);
  assert.is(info.unrollBlocks, true, 'register-block loops are written out on wgpu (src/kernels/unroll.ts)');
  assert.is((globalThis as { Deno?: unknown }).Deno !== undefined, true, 'this file runs under Deno');
  console.log(`  adapter: ${info.description}; subgroups: ${info.hasSubgroups ? 'yes' : 'no'}`);
});

// A layer where sharing pays (subgroupPays: at least 8 columns, rows padding at most doubling):
// the one the kernel policy would run 'subgroup' on where the device has subgroups.
const PAYING: ConvCase = { batch: 6, h: 9, w: 7, inC: 33, outC: 10, k: 3, s: 1, padding: 'same' };

test('without subgroups: auto, a tuned choice and the tuner never pick a subgroup kernel; a request for one names the feature and the engine, before GPU work', async () => {
  if (hasSubgroups()) {
    console.log('  (skipped: this wgpu offers subgroups)');
    return;
  }
  const g = geometryOf(PAYING);
  const passes: ConvPass[] = ['forward', 'inputGrad', 'weightGrad'];
  assert.ok(passes.some((p) => subgroupPays(p, g, 8)), 'the layer is one where subgroup would pay (with 8 lanes)');
  const mode = getTuneMode();
  try {
    // A cache of tuned choices made on a device with subgroups names 'subgroup' for this problem.
    setTuneMode('cached');
    installChoices(passes.map((pass) => [problemKey({ op: 'conv', pass, g, epilogue: NO_EPILOGUE }), 'subgroup']));
    for (const pass of passes) {
      assert.is(convVariantFor(pass, g, 'auto'), 'direct', `${pass}: auto runs direct`);
      const candidates = convCandidates(pass, g, { subgroups: hasSubgroups() }).map((c) => c.variant);
      assert.ok(candidates.length > 0 && !candidates.some((v) => SUBGROUP_CONV_VARIANTS.includes(v)), `${pass}: the tuner's candidates ${candidates.join(', ')}`);
    }
  } finally {
    clearChoices();
    setTuneMode(mode);
  }
  const x = tensor(randomArray([PAYING.batch, PAYING.h, PAYING.w, PAYING.inC], 1), [PAYING.batch, PAYING.h, PAYING.w, PAYING.inC]);
  const w = tensor(randomArray([3, 3, PAYING.inC, PAYING.outC], 2), [3, 3, PAYING.inC, PAYING.outC]);
  const dy = tensor(randomArray([PAYING.batch, g.outH, g.outW, PAYING.outC], 3), [PAYING.batch, g.outH, g.outW, PAYING.outC]);
  const before = memory().liveBuffers;
  const refusal = (e: Error) => e instanceof RangeError && /'subgroups' feature/.test(e.message) && /wgpu/.test(e.message) && /use 'direct'/.test(e.message);
  for (const v of SUBGROUP_CONV_VARIANTS) {
    assert.throws(() => conv2d(x, w, { padding: 'same', variant: v }), refusal, `conv2d variant ${v}`);
    assert.throws(() => conv2dTranspose(dy, w, { padding: 'same', variant: v }), refusal, `conv2dTranspose variant ${v}`);
    assert.throws(() => conv2dInputGradRaw(dy, w, g, v), refusal, `input-gradient ${v}`);
    assert.throws(() => conv2dWeightGradRaw(x, dy, g, { variant: v, block: { tm: 8, tn: 8 } }), refusal, `weight-gradient ${v} with a block`);
    assert.throws(() => setConvVariant(v), refusal, `setConvVariant(${v})`);
  }
  assert.is(memory().liveBuffers, before, 'nothing was allocated');
  [x, w, dy].forEach((t) => t.dispose());
});

test('matmul: every variant × every transpose pair, on ragged shapes and on multiples of 4 (vec4) vs the float64 reference', async () => {
  for (const [m, n, k] of [[7, 33, 3], [65, 3, 33], [32, 16, 8]] as const) {
    for (const [transA, transB] of TRANSPOSES) await checkMatmulCase(m, n, k, transA, transB);
  }
});

test('matmul: fused bias and every activation, on every variant', async () => {
  // Each epilogue is a pipeline of its own: every variant meets every activation once, on a shape
  // that rotates through those it runs (vec4 only on multiples of 4).
  const shapes: [number, number, number][] = [[33, 65, 7], [8, 12, 16], [7, 3, 130], [32, 16, 8], [65, 33, 33], [1, 130, 3]];
  for (const variant of MATMUL_VARIANTS) {
    const fitting = shapes.filter(([m, n, k]) => variantsFor(shapeOf(m, n, k, false, true)).includes(variant));
    for (const [i, activation] of ACTIVATIONS.entries()) {
      const [m, n, k] = fitting[i % fitting.length];
      const a = f32(randomArray([m, k], m + 7));
      const b = f32(randomArray([n, k], n + 8));
      const bias = f32(randomArray([n], n + 9));
      const alpha = activation === 'leakyRelu' ? 0.2 : 0;
      const out = await readBack(() => matmulRaw(tensor(a, [m, k]), tensor(b, [n, k]), { transB: true, variant, activation, alpha, bias: tensor(bias, [n]) }));
      assertClose(out, matmulReference(a, b, shapeOf(m, n, k, false, true), bias, activation, alpha), `${variant} ${activation} m=${m} n=${n} k=${k}`, 1e-4, 1e-4);
    }
  }
});

test('conv2d: every variant this adapter offers, forward (bias + leakyRelu), input- and weight-gradient vs the float64 references', async () => {
  const variants = offeredConvVariants();
  assert.ok(variants.includes('direct') && variants.includes('winograd'), variants.join(', '));
  let seed = 10;
  for (const variant of variants) {
    if (variant === 'winograd') {
      // Stride 1, 3×3 and 5×5 only (winogradFits): forward and input-gradient.
      await checkWinogradCase({ batch: 3, h: 7, w: 5, inC: 3, outC: 7, padding: 'same' }, seed++, 'leakyRelu', true);
      await checkWinogradCase({ batch: 1, h: 5, w: 9, inC: 7, outC: 1, padding: 'valid', k: 5 }, seed++, 'tanh', false);
      continue;
    }
    await checkConvCase({ batch: 2, h: 9, w: 7, inC: 5, outC: 3, k: 3, s: 2, padding: 'same' }, variant, seed++);
    await checkConvCase({ batch: 1, h: 6, w: 5, inC: 13, outC: 20, k: 4, s: 1, padding: 'valid' }, variant, seed++);
  }
});

test('conv2d direct, the rule on this adapter: kernels 1 to 7 × strides 1 to 3, both paddings, odd sizes', async () => {
  let seed = 30;
  let i = 0;
  for (const k of [1, 3, 4, 5, 7]) {
    for (const s of [1, 2, 3]) {
      const padding = i % 2 === 0 ? 'same' : 'valid';
      await checkConvCase({ batch: 1 + (i % 2), h: 9, w: 7, inC: [1, 5][i % 2], outC: [3, 10, 1][i % 3], k, s, padding }, 'direct', seed++);
      i++;
    }
  }
});

test("the tuner's candidates on this adapter (direct's blocks and split depths, blocked, winograd; matmul's rungs and blocks) verify against float64", async () => {
  const problems: TuneProblem[] = [];
  // The DCGAN discriminator's first layer and the generator's 5×5 stride-1 layer, in small.
  for (const g of [conv2dGeometry([4, 28, 28, 1], [5, 5, 1, 16], 2, 'same'), conv2dGeometry([4, 7, 7, 32], [5, 5, 32, 16], 1, 'same')]) {
    for (const pass of ['forward', 'inputGrad', 'weightGrad'] as const) problems.push({ op: 'conv', pass, g, epilogue: pass === 'forward' ? { hasBias: true, activation: 'leakyRelu', alpha: 0.3 } : NO_EPILOGUE });
  }
  problems.push({ op: 'matmul', s: shapeOf(16, 64, 100, false, false), epilogue: { hasBias: true, activation: 'relu', alpha: 0 } });
  let count = 0;
  for (const p of problems) {
    const kernels = p.op === 'conv' ? convCandidates(p.pass, p.g, { subgroups: hasSubgroups() }) : matmulCandidates(p.s);
    for (const kernel of kernels) {
      assert.is(await verifyCandidate(p, kernel), 'ok', `${problemKey(p)}: ${JSON.stringify(kernel)}`);
      count++;
    }
  }
  console.log(`  (${count} candidates of ${problems.length} problems verified)`);
});

test('conv2dTranspose: every variant this adapter offers vs the scatter reference', async () => {
  let seed = 60;
  for (const variant of offeredConvVariants()) {
    if (variant === 'winograd') {
      const xShape = [2, 5, 4, 3];
      const wShape = [3, 3, 5, 3];
      const g = conv2dTransposeGeometry(xShape, wShape, 1, 'same');
      const x = f32(randomArray(xShape, seed++));
      const w = f32(randomArray(wShape, seed++));
      const y = tidy(() => conv2dTranspose(tensor(x, xShape), tensor(w, wShape), { padding: 'same', activation: 'relu', variant }));
      assertClose(await y.toArray(), conv2dTransposeReference(x, w, g, undefined, 'relu', 0.2), 'conv2dTranspose winograd 3×3 same', 1e-4, 1e-4);
      y.dispose();
      continue;
    }
    await checkTransposeCase({ batch: 2, h: 5, w: 3, inC: 3, outC: 5, k: 4, s: 2, padding: 'same' }, seed++, { activation: 'relu', bias: true }, variant);
    await checkTransposeCase({ batch: 1, h: 3, w: 4, inC: 17, outC: 18, k: 5, s: 2, padding: 'valid' }, seed++, undefined, variant);
  }
});

test('gradient checks: every unary op, the binary ops with broadcasting, linear in every activation', async () => {
  await checkUnaryGradients();
  await checkBinaryGradients([[[3, 4], [4]], [[2, 1, 3], [4, 1]]]);
  await checkLinearGradients();
  const shape = [3, 4, 5];
  for (const op of ['sum', 'mean', 'max'] as const) {
    for (const axes of [[1], [0, 2]]) {
      await gradCheck(`${op} over [${axes}]`, (x) => ops[op](x, axes), [{ data: randomArray(shape, 7 * axes.length + 1), shape }], { reference: (x) => reduceAxesReference(op, x, shape, axes) });
    }
  }
});

test('gradient checks: conv2d and conv2dTranspose (input, weights, bias), 5×5 stride 2 as the DCGAN layers', async () => {
  const xShape = [2, 7, 6, 3];
  const wShape = [5, 5, 3, 4];
  const g = geometryOf({ batch: 2, h: 7, w: 6, inC: 3, outC: 4, k: 5, s: 2, padding: 'same' });
  await gradCheck('conv2d 5×5 s2 same', (x, w, b) => conv2d(x, w, { stride: 2, padding: 'same', bias: b, activation: 'tanh' }), [
    { data: randomArray(xShape, 1), shape: xShape },
    { data: randomArray(wShape, 2), shape: wShape },
    { data: randomArray([4], 3), shape: [4] },
  ], { reference: (x, w, b) => conv2dReference(x, w, g, b, 'tanh'), maxElements: 60 });
  const tShape = [2, 4, 3, 4];
  const twShape = [5, 5, 3, 4];
  const tg = conv2dTransposeGeometry(tShape, twShape, 2, 'same');
  await gradCheck('conv2dTranspose 5×5 s2 same', (x, w, b) => conv2dTranspose(x, w, { stride: 2, padding: 'same', bias: b, activation: 'sigmoid' }), [
    { data: randomArray(tShape, 4), shape: tShape },
    { data: randomArray(twShape, 5), shape: twShape },
    { data: randomArray([3], 6), shape: [3] },
  ], { reference: (x, w, b) => conv2dTransposeReference(x, w, tg, b, 'sigmoid'), maxElements: 60 });
});

test('DCGAN trainStep (width 1/32, batch 4): losses, gradients, Adam-updated weights and moving statistics match float64', async () => {
  await checkOneStep(false, 11, 5);
});

test('cGAN trainStep (both phases): losses, gradients, weights and moving statistics match float64', async () => {
  await checkOneStep(true, 12, 3);
});

// 67 examples of 5 features in 3 classes (the class is where the first 3 features peak, plus
// noise), as tests/fit.test.ts: batches of 16 leave a last batch of 3.
function classification(n: number): { xs: Float32Array; ys: Int32Array } {
  const r = seededRandom(4);
  const xs = Float32Array.from(randomArray([n, 5], 5));
  const ys = Int32Array.from({ length: n }, (_, i) => {
    const c = Math.floor(r() * 3);
    xs[i * 5 + c] += 2;
    return c;
  });
  return { xs, ys };
}

const mlp = (seed: number): nn.Sequential => new Sequential(new Dense({ inFeatures: 5, units: 8, activation: 'relu', seed }), new Dense({ inFeatures: 8, units: 3, seed: seed + 1 }));

test('fit() learns; a checkpoint to bytes and back gives the same predictions bit for bit and restores the optimizer', async () => {
  const { xs, ys } = classification(67);
  const data = new TensorDataset({ data: xs, shape: [67, 5] }, { data: ys, shape: [67] });
  const net = mlp(1);
  const adam = new Adam(net, { lr: 0.02 });
  const history = await fit(net, new DataLoader(data, { batchSize: 16, seed: 9 }), { epochs: 4, loss: crossEntropy, optimizer: adam, progress: false, log: () => {} });
  const losses = history.history.loss;
  assert.is(history.steps.loss.length, 4 * 5);
  assert.ok(losses[3] < 0.7 * losses[0], `did not learn: ${losses.join(', ')}`);

  const bytes = await checkpointToBytes({ model: 'deno-mlp', config: { hidden: 8 }, modules: { net }, optimizers: { adam }, progress: { epoch: 4, step: 20, batchInEpoch: 0, seed: 9 } });
  assert.is(readCheckpointInfoFromBytes(bytes).model, 'deno-mlp');
  const other = mlp(7);
  const otherAdam = new Adam(other, { lr: 0.5 });
  const probe = tensor(randomArray([6, 5], 8), [6, 5]);
  const expected = await readBack(() => net.forward(probe));
  const differs = await readBack(() => other.forward(probe));
  assert.not.equal([...differs], [...expected], 'a differently seeded net predicts differently');
  const info = await loadCheckpointFromBytes(bytes, { model: 'deno-mlp', modules: { net: other }, optimizers: { adam: otherAdam } });
  assert.equal(info.progress, { epoch: 4, step: 20, batchInEpoch: 0, seed: 9 });
  assert.equal([...(await readBack(() => other.forward(probe)))], [...expected], 'predictions after the load');
  assert.is(otherAdam.lr, 0.02, "Adam's learning rate came back");
  assert.throws(() => readCheckpointInfoFromBytes(bytes, 'in memory', 'vae'), /"deno-mlp" model, not a "vae" one/);
  for (const t of [probe, adam, otherAdam, net, other, data]) t.dispose();
});

test.run();
