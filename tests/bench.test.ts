// Smoke test of the bench harness (never of speed): a correct kernel is verified OK and timed,
// a broken one is reported WRONG and not timed, the record has its fields, and flags parse.
// Also checks the vec4 matmul variant, which the bench ladder adds, against matmulReference on
// awkward shapes (both the vec4 path and its fallback), and that the TensorFlow.js peer
// (bench/peer/) reads our networks faithfully and runs the same training steps.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, f32, assertClose } from './helpers.ts';
import { runBench } from '../bench/run.ts';
import { parseArgs, UsageError } from '../bench/args.ts';
import { matmulLadderCases } from '../bench/cases.ts';
import { programCase, uniformData } from '../bench/case-kit.ts';
import { mlpTrainCase, modelTrainCase } from '../bench/train.ts';
import type { BenchCase } from '../bench/harness.ts';
import { matmulProgram, matmulReference, vec4Fits, type MatmulShape } from '../src/kernels/matmul.ts';
import { tensor } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { matmulRaw } from '../src/core/ops.ts';
import { noGrad } from '../src/core/autograd.ts';
import type { Tensor } from '../src/core/tensor.ts';
import type { Module } from '../src/nn/module.ts';
import { createModel } from '../src/models/kinds.ts';
import type { Vae } from '../src/models/vae.ts';
import type { TfjsPeer } from '../bench/peer/tfjs.ts';
import { readModel } from '../bench/peer/layers.ts';
import { ganLayers } from '../bench/peer/gan-step.ts';
import { vaeLayers } from '../bench/peer/vae-step.ts';

test.before(async () => {
  await ready;
});

/** A matmul whose kernel subtracts instead of adding: must be caught before any timing. */
function brokenMatmulCase(): BenchCase {
  const s: MatmulShape = { batch: 1, m: 7, n: 5, k: 3, transA: false, transB: false, aBatchStride: 21, bBatchStride: 15 };
  const good = matmulProgram(s, undefined, 'naive');
  const broken = { ...good, name: 'matmul.broken', wgsl: good.wgsl.replace('acc += loadA', 'acc -= loadA') };
  assert.is.not(broken.wgsl, good.wgsl, 'the test must really break the kernel');
  return {
    group: 'test',
    kernel: 'broken',
    variant: '-',
    shape: '7×3·3×5',
    metric: 'flops',
    quick: true,
    setup: () =>
      programCase({
        program: broken,
        data: [uniformData(21, 1), uniformData(15, 2)],
        bind: [0, 1, 0],
        outputs: [35],
        reference: ([a, b]) => [matmulReference(a, b, s)],
        tolerance: { rtol: 1e-5, atol: 1e-5 },
      }),
  };
}

test('quick harness: verdicts, WRONG detection, record fields', async () => {
  const lines: string[] = [];
  const cases = [...matmulLadderCases([33], ['blocked', 'vec4']), brokenMatmulCase()];
  const report = await runBench({
    quick: true,
    train: true,
    reps: 2,
    cases,
    trainCases: [{ ...mlpTrainCase(16, 8), model: 'mlp tiny' }],
    log: (l) => lines.push(l),
  });
  assert.is(report.schema, 'webgpu-mini-dl-bench/1');
  for (const field of ['date', 'node', 'adapter', 'clock', 'options', 'rows', 'training', 'host'] as const) {
    assert.ok(report[field] !== undefined, `record has ${field}`);
  }
  assert.ok('commit' in report);
  assert.ok(report.adapter.description.length > 0);
  assert.ok(report.peak && report.peak.gflops > 0 && report.peak.gbs > 0, 'peak measured');
  // The FMA peak is the best of a search: the fastest refined shape, recorded with every measurement.
  const search = report.peakSearch!;
  assert.ok(search && search.best && search.searched > 1 && search.results.length > search.searched, 'the search is recorded');
  assert.is(report.peak!.gflops, search.best!.gflops);
  assert.is(report.peak!.fma, search.best!.name);
  const fmaRows = report.rows.filter((r) => r.group === 'peak' && r.kernel === 'fma');
  assert.ok(fmaRows.some((r) => r.variant === 'vec4×4 wg256'), 'the old 4-chain shape is a row beside the best');
  assert.is(Math.max(...fmaRows.map((r) => r.gflops!)), report.peak!.gflops, 'the peak is the fastest refined row');
  for (const r of fmaRows) assert.ok(r.pctPeak! <= 100 + 1e-9, `${r.variant} at ${r.pctPeak}% of the peak`);
  assert.ok(
    lines.some((l) => l.startsWith(`peak.fma: the best of ${search.searched} shapes searched`) && l.includes(`peak.fma ${search.best!.name}`)),
    'the line that introduces the peak names it and the search',
  );

  const byKernel = (k: string, v?: string) => report.rows.find((r) => r.kernel === k && (v === undefined || r.variant === v))!;
  // vec4 runs multiples of 4 only: at 33 the ladder has no vec4 row rather than a row that ran another rung.
  assert.not.ok(report.rows.some((r) => r.kernel === 'matmul' && r.variant.startsWith('vec4')), 'no vec4 row at 33');
  for (const v of ['blocked']) {
    const r = byKernel('matmul', v);
    assert.ok(r, `row matmul ${v}`);
    assert.is(r.verdict, 'OK', `matmul ${v}: ${r.detail}`);
    assert.is(r.reps, 2);
    assert.ok(r.ms && r.ms.median >= 0 && r.ms.p10 <= r.ms.p90);
    assert.is(r.flops, 2 * 33 * 33 * 33);
    assert.ok(r.gflops !== undefined && r.pctPeak !== undefined);
  }
  const broken = byKernel('broken');
  assert.is(broken.verdict, 'WRONG');
  assert.ok(broken.maxError! > 0.01, `max error reported (${broken.maxError})`);
  assert.is(broken.ms, undefined, 'a wrong kernel is never timed');
  assert.ok(lines.some((l) => l.includes('WRONG')), 'the table shows WRONG');

  assert.is(report.training.length, 1, report.trainingErrors.join('; '));
  const t = report.training[0];
  assert.ok(t.imagesPerSec > 0);
  if (report.adapter.hasTimestampQuery) {
    assert.ok(t.kernels && t.kernels.some((k) => k.name.startsWith('matmul')), 'profile names the matmuls');
    const shares = t.kernels!.reduce((s, k) => s + k.share, 0);
    assert.ok(Math.abs(shares - 100) < 1e-6, `shares add up to 100 (${shares})`);
    // The useful work, counted independently: x·W1 and h·W2 forward; dW2 = hᵀ·dZ, dh = dZ·W2ᵀ and
    // dW1 = xᵀ·dh backward (x needs no gradient); 2·m·n·k each, batch 8, hidden 16.
    const [batch, hidden] = [8, 16];
    const matmulFlops = 2 * batch * (784 * hidden * 2 + hidden * 10 * 3);
    assert.is(t.kernels!.filter((k) => k.name.startsWith('matmul')).reduce((s, k) => s + k.flopsPerStep, 0), matmulFlops);
    const declared = t.kernels!.reduce((s, k) => s + k.flopsPerStep, 0);
    assert.ok(Math.abs(t.gflopPerStep! * 1e9 - declared) <= 1e-6 * declared && declared > matmulFlops, `${t.gflopPerStep} GFLOP/step, ${declared} declared`);
    const expectedPct = (100 * t.gflopPerStep!) / (t.stepMs.median / 1000) / report.peak!.gflops;
    assert.ok(Math.abs(t.pctPeak! - expectedPct) <= 1e-9 * expectedPct, `pctPeak ${t.pctPeak} vs ${expectedPct}`);
    assert.ok(lines.some((l) => /^  work: [\d.e+-]+ GFLOP\/step \(the kernels. declared flops\) → [\d.e+-]+ GFLOP\/s over the wall-clock step, \d+% of peak\.fma$/.test(l)), lines.join('\n'));
  }
  const json = JSON.parse(JSON.stringify(report));
  assert.equal(json.rows.length, report.rows.length);
});

test('flags: values, usage errors', () => {
  const a = parseArgs(['--quick', '--filter', 'matmul', '--sizes', '256,512', '--reps=7', '--variant', 'vec4', '--json', 'x.json', '--peer', 'tfjs']);
  assert.equal(a.sizes, [256, 512]);
  assert.is(a.reps, 7);
  assert.is(a.filter, 'matmul');
  assert.is(a.peer, 'tfjs');
  assert.equal(parseArgs(['--compare', 'a.json', 'b.json']).compare, ['a.json', 'b.json']);
  for (const bad of [['--nope'], ['--reps', '0'], ['--sizes', 'abc'], ['--peer', 'torch'], ['--filter'], ['--compare', 'a.json']]) {
    assert.throws(() => parseArgs(bad), (e: unknown) => e instanceof UsageError, `rejects ${bad.join(' ')}`);
  }
});

test('matmul vec4 variant matches the reference where it fits, and is refused where it does not', async () => {
  const shapes: [number, number, number, number][] = [
    [1, 4, 4, 4],
    [2, 68, 132, 36],
    [1, 1, 4, 8],
    [1, 7, 12, 33],
    [3, 65, 8, 4],
  ];
  for (const [batch, m, n, k] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const aShape = transA ? [batch, k, m] : [batch, m, k];
        const bShape = transB ? [batch, n, k] : [batch, k, n];
        const a = f32(randomArray(aShape, 1));
        const b = f32(randomArray(bShape, 2));
        const bias = f32(randomArray([n], 3));
        const s: MatmulShape = { batch, m, n, k, transA, transB, aBatchStride: m * k, bBatchStride: k * n };
        const what = `vec4 ${batch}×${m}×${n}×${k} tA=${transA} tB=${transB}`;
        const run = () => tidy(() =>
          matmulRaw(tensor(a, aShape), tensor(b, bShape), { transA, transB, variant: 'vec4', bias: tensor(bias, [n]), activation: 'relu' }),
        );
        if (!vec4Fits(s)) {
          assert.throws(run, /multiples of 4/, `${what}: off the rule, asked for by name, is refused`);
          continue;
        }
        const y = run();
        assertClose(await y.toArray(), matmulReference(a, b, s, bias, 'relu'), what, 1e-4, 1e-4);
        y.dispose();
      }
    }
  }
});

// The peer tests share one TensorFlow.js, loaded by the first (the bundle is cached under
// node_modules/.cache/bench-tfjs/) and closed after the last.
let loadedPeer: TfjsPeer | undefined;
const tfjsPeer = async () => (loadedPeer ??= await (await import('../bench/peer/tfjs.ts')).loadTfjsPeer());
test.after(() => loadedPeer?.close());

/**
 * One of our networks, read by the peer from a second model built the same way (same seed, so
 * the same initial weights), computes the same output as ours on the same input.
 */
async function samePeerForward<M extends { dispose(): void }>(
  what: string,
  make: () => M,
  layers: (model: M) => Module[],
  ours: (model: M, x: Tensor) => Tensor,
  inputShape: number[],
): Promise<void> {
  const { tf } = await tfjsPeer();
  const data = uniformData(inputShape.reduce((a, b) => a * b, 1), 7);
  const model = make();
  const y = noGrad(() => tidy(() => ours(model, tensor(data, inputShape))));
  const expected = await y.toArray();
  const expectedShape = y.shape;
  y.dispose();
  model.dispose();
  const { parts, variables } = await readModel(tf, make(), (m, network) => network(layers(m)));
  const out = tf.tidy(() => parts.forward(tf.tensor(data, inputShape)));
  try {
    assert.equal(out.shape, [...expectedShape], `${what}: shape`);
    assertClose(await out.data(), expected, what, 1e-4, 1e-5);
  } finally {
    tf.dispose([out, ...variables]);
  }
}

test("--peer tfjs: the peer's networks, read from our models' layers, compute what ours compute", async () => {
  const { tf } = await tfjsPeer();
  const liveBefore = tf.memory().numTensors;
  const narrow = (kind: 'gan' | 'cgan', evalMode = false) => () => {
    const m = createModel(kind, { seed: 3, width: 1 / 8 });
    if (evalMode) m.eval();
    return m;
  };
  // Training mode (BatchNorm on the batch's statistics), as the step runs the generator.
  await samePeerForward('DCGAN generator', narrow('gan'), (m) => ganLayers(m).generator, (m, x) => m.generator.forward(x), [4, 100]);
  await samePeerForward('cGAN generator', narrow('cgan'), (m) => ganLayers(m).generator, (m, x) => m.generator.forward(x), [4, 110]);
  // Eval mode for the discriminators: the two sides draw different dropout masks.
  await samePeerForward('cGAN discriminator', narrow('cgan', true), (m) => ganLayers(m).discriminator, (m, x) => m.discriminator.forward(x), [4, 28, 28, 11]);
  const vae = () => createModel('vae', { seed: 3 });
  const encoder = (m: Vae) => [...vaeLayers(m).trunk, ...vaeLayers(m).zMean];
  await samePeerForward('VAE encoder (zMean)', vae, encoder, (m, x) => m.encoder.forward(x), [4, 28, 28, 1]);
  await samePeerForward('VAE decoder logits', vae, (m) => vaeLayers(m).decoder, (m, z) => m.decoder.logits(z), [4, 2]);
  assert.is(tf.memory().numTensors, liveBefore, 'every tfjs tensor released');
});

test('--peer tfjs: the same matmul and the VAE, DCGAN and cGAN training steps run in TensorFlow.js, verified first', async () => {
  const peer = await tfjsPeer();
  const liveBefore = peer.tf.memory().numTensors;
  // The GANs at batch 4 and 1/8 of their channels: the whole step (both networks, both
  // updates, the cGAN's two phases) in seconds, not the minutes width 1 takes on a CPU.
  const gan = (kind: 'gan' | 'cgan') => ({ ...modelTrainCase(kind, 4, { width: 1 / 8 }), quick: true });
  const report = await runBench(
    {
      quick: true,
      train: true,
      peak: false,
      reps: 2,
      cases: matmulLadderCases([33], ['blocked']),
      trainCases: [{ ...modelTrainCase('vae', 8), quick: true }, gan('gan'), gan('cgan')],
      log: () => {},
    },
    peer,
  );
  const row = report.rows.find((r) => r.kernel === 'matmul')!;
  assert.is(row.verdict, 'OK', row.detail);
  assert.ok(row.peer && !row.peer.error, row.peer?.error);
  assert.ok(row.peer!.theirs!.median > 0 && row.peer!.ratio! > 0, 'their time and the ratio');
  assert.equal(report.training.map((t) => t.model), ['vae', 'gan width 0.125', 'cgan width 0.125'], report.trainingErrors.join('; '));
  for (const t of report.training) {
    const step = t.peer!;
    assert.ok(step, `the ${t.model} row has a peer step`);
    assert.is(step.error, undefined, `${t.model}: ${step.error}`);
    assert.ok(step.imagesPerSec! > 0 && step.speedup! > 0, `${t.model}: their images/s and the ratio`);
  }
  assert.is(peer.tf.memory().numTensors, liveBefore, 'every tfjs tensor of the peer steps released');
});

test.run();
