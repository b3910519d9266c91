// Figures after every epoch (src/runs/epoch-figures.ts, runTraining's measureEachEpoch): they
// must not change training (weights, losses and the moving BatchNorm statistics training goes on
// from, bit for bit), the last epoch's figures must equal the finished run's (same recomputed
// statistics, same mode), and a run stopped while measuring measures that epoch when resumed.
// Narrow GANs (1/8 width) on 32 digits, batch 8: 4 steps per epoch, 50 samples, 50 test digits.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { runTraining, type TrainRunOptions, type TrainRunSummary } from '../src/runs/run.ts';
import { SHIPPED_JUDGE } from '../src/metrics/judge.ts';
import { createModel } from '../src/models/kinds.ts';
import { Gan } from '../src/models/gan.ts';
import { decodeSafetensors } from '../src/io/safetensors.ts';
import { keepBatchNormStatistics, batchNormLayers } from '../src/nn/batchnorm-statistics.ts';
import { recomputeGeneratorStatistics } from '../src/runs/generator-statistics.ts';
import { EPOCH_FIGURES_FILE, formatEpochFigures, readEpochFigures, type EpochFigures } from '../src/runs/epoch-figures.ts';

const dir = mkdtempSync(join(tmpdir(), 'epoch-figures-test-'));
test.before(async () => {
  await ready;
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

const options = (kind: 'gan' | 'cgan', out: string, extra: Partial<TrainRunOptions> = {}): TrainRunOptions => ({
  kind, epochs: 2, batchSize: 8, limit: 32, seed: 3, out, samples: 50, evaluate: true, judgePath: SHIPPED_JUDGE, testLimit: 50,
  progress: false, batchNormBatches: 2, modelConfig: { width: 0.125 }, log: () => {}, ...extra,
});

/** Every tensor of a checkpoint file, by name, as raw bytes. */
function tensorBytes(path: string): Map<string, Buffer> {
  const file = decodeSafetensors(readFileSync(path), path);
  return new Map([...file.tensors].map(([name, t]) => [name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

const withoutTime = (entries: EpochFigures[]) => entries.map(({ seconds: _, ...rest }) => rest);

/**
 * A run measured after every epoch, made once per kind and shared: the first tests compare it
 * with a plain run, and the resume test uses the GAN's as its unbroken run (the same options).
 */
const measuredRuns = new Map<'gan' | 'cgan', Promise<{ out: string; summary: TrainRunSummary; lines: string[] }>>();
function measuredRun(kind: 'gan' | 'cgan'): Promise<{ out: string; summary: TrainRunSummary; lines: string[] }> {
  let run = measuredRuns.get(kind);
  if (!run) {
    const out = join(dir, `${kind}-measured`);
    const lines: string[] = [];
    run = runTraining(options(kind, out, { measureEachEpoch: true, log: (l) => lines.push(l) })).then((summary) => ({ out, summary, lines }));
    measuredRuns.set(kind, run);
  }
  return run;
}

test('keepBatchNormStatistics puts back exactly what recomputing replaced', async () => {
  const gan = createModel('gan', { width: 0.125, seed: 1 }) as Gan;
  const before = await Promise.all(batchNormLayers(gan.generator).map((l) => Promise.all([l.movingMean.toArray(), l.movingVariance.toArray()])));
  const restore = keepBatchNormStatistics(gan.generator);
  recomputeGeneratorStatistics(gan, 2, 8, 0);
  const changed = await batchNormLayers(gan.generator)[0]!.movingVariance.toArray();
  assert.not.equal(Array.from(changed), Array.from(before[0]![1]), 'recomputing changed nothing: the test would prove nothing');
  restore();
  const after = await Promise.all(batchNormLayers(gan.generator).map((l) => Promise.all([l.movingMean.toArray(), l.movingVariance.toArray()])));
  assert.equal(after.map(([m, v]) => [Array.from(m), Array.from(v)]), before.map(([m, v]) => [Array.from(m), Array.from(v)]));
  assert.throws(() => restore(), /already put back/);
  gan.dispose();
});

for (const kind of ['gan', 'cgan'] as const) {
  test(`${kind}: measuring every epoch leaves training as it was; the last epoch's figures are the finished run's`, async () => {
    const plain = join(dir, `${kind}-plain`);
    const a = await runTraining(options(kind, plain));
    const { out: measured, summary: b, lines } = await measuredRun(kind);

    // Same weights, optimizer state and (recomputed) statistics at the end…
    const x = tensorBytes(join(plain, 'checkpoint.safetensors'));
    const y = tensorBytes(join(measured, 'checkpoint.safetensors'));
    assert.equal([...y.keys()].sort(), [...x.keys()].sort());
    for (const [name, bytes] of x) assert.ok(bytes.equals(y.get(name)!), `${name} differs when every epoch is measured`);
    assert.equal(b.finalLosses, a.finalLosses);
    // …and the same moving statistics during training: epoch 2's picture is drawn with them, after
    // epoch 1 was measured with recomputed ones.
    const picture = join('epochs', 'samples-epoch-002.png');
    assert.ok(readFileSync(join(measured, picture)).equals(readFileSync(join(plain, picture))), 'epoch 2 was drawn from other moving statistics');

    const figures = readEpochFigures(measured);
    assert.equal(figures.map((e) => [e.epoch, e.step]), [[1, 4], [2, 8]]);
    assert.not.ok(existsSync(join(plain, EPOCH_FIGURES_FILE)), 'a run not asked to measure wrote figures');
    const last = figures[1]!;
    const q = (b as TrainRunSummary).quality!;
    assert.ok(Math.abs(last.fid - q.fid) <= 1e-6 * q.fid, `epoch 2's Fréchet ${last.fid}, the finished run's ${q.fid}`);
    assert.is(last.confidence, q.confidence);
    assert.equal(last.labelShares, q.labelShares);
    if (kind === 'cgan') assert.is(last.judgeAccuracy, q.judgeAccuracy);
    else assert.is(last.judgeAccuracy, undefined);
    assert.equal(last.batchNorm, { batches: 2, batchSize: 8 });
    assert.ok(figures[0]!.fid !== last.fid, 'epochs 1 and 2 measured the same network');
    for (const e of figures) assert.ok(lines.includes(formatEpochFigures(e, kind)), `no log line for epoch ${e.epoch}:\n${lines.join('\n')}`);
  });
}

test('a run stopped while measuring measures that epoch when resumed; the figures equal an unbroken run\'s', async () => {
  const { out: unbroken } = await measuredRun('gan');
  const broken = join(dir, 'gan-broken');
  const first = await runTraining(options('gan', broken, { measureEachEpoch: true, maxSteps: 4 }));
  assert.ok(first.interrupted);
  // As if the process had been killed after epoch 1's checkpoint, before its figures were written.
  writeFileSync(join(broken, EPOCH_FIGURES_FILE), '[]\n');
  const lines: string[] = [];
  await runTraining(options('gan', broken, { measureEachEpoch: true, resume: true, log: (l) => lines.push(l) }));
  const resumedLine = lines.findIndex((l) => l.startsWith('epoch 1 (4 steps): Fréchet'));
  assert.ok(resumedLine >= 0, `epoch 1 was not measured on resuming:\n${lines.join('\n')}`);
  assert.equal(withoutTime(readEpochFigures(broken)), withoutTime(readEpochFigures(unbroken)));
});

test('a damaged figures file is refused with its path', () => {
  const out = join(dir, 'damaged');
  mkdirSync(join(out, 'epochs'), { recursive: true });
  writeFileSync(join(out, EPOCH_FIGURES_FILE), '{ not json');
  assert.throws(() => readEpochFigures(out), (e: Error) => e.message.startsWith(join(out, EPOCH_FIGURES_FILE)) && /not JSON/.test(e.message));
  writeFileSync(join(out, EPOCH_FIGURES_FILE), JSON.stringify([{ epoch: 1, step: 4, fid: 'x' }]));
  assert.throws(() => readEpochFigures(out), /entry 0 is not an epoch's figures/);
});

test.run();
