// `npm run reproduce` (examples/reproduce.ts, src/runs/reproduce.ts): the pieces on fixed inputs
// (durations, the model list, the README table), one tiny run of all three models (64 images,
// batch 16, a GAN of 1/8 width, 50 test digits, 50 samples, one timed step: ~15 s on a 2-core
// CPU) that is then resumed, and the command line's refusals.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { runChild, type ChildRun } from './child.ts';
import { PRESETS } from '../src/runs/presets.ts';
import { SHIPPED_JUDGE } from '../src/metrics/judge.ts';
import type { TrainRunSummary } from '../src/runs/run.ts';
import type { QualityFigures } from '../src/metrics/quality.ts';
import { formatDuration, parseModelList, planFor, readmeFor, reproduce, type ReproduceOptions, type ReproduceRow } from '../src/runs/reproduce.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'reproduce-test-'));

test.before(async () => {
  await ready;
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('formatDuration', () => {
  assert.is(formatDuration(0), '0 s');
  assert.is(formatDuration(42.4), '42 s');
  assert.is(formatDuration(125), '2 min');
  assert.is(formatDuration(3725), '1 h 02 min');
  assert.is(formatDuration(47 * 3600 + 59 * 60), '47 h 59 min');
  assert.is(formatDuration(200_000), '2.3 days');
  assert.throws(() => formatDuration(-1), /seconds ≥ 0/);
});

test('parseModelList: a comma-separated subset, in the order given', () => {
  assert.equal(parseModelList('vae,gan,cgan'), ['vae', 'gan', 'cgan']);
  assert.equal(parseModelList(' cgan , vae'), ['cgan', 'vae']);
  assert.throws(() => parseModelList('vae,mlp'), /'mlp' is not one of vae, gan, cgan/);
  assert.throws(() => parseModelList('gan,gan'), /names 'gan' twice/);
  assert.throws(() => parseModelList(','), /needs one or more/);
});

test('planFor: the seed preset, and what an override changes', () => {
  const plain = planFor('gan', { out: 'x' });
  assert.is(plain.epochs, PRESETS.gan.seed.epochs);
  assert.is(plain.batchSize, PRESETS.gan.seed.batchSize);
  assert.is(plain.overrides, '');
  assert.is(plain.out, join('x', 'gan'));
  assert.is(planFor('vae', { out: 'x', epochs: 1, limit: 500 }).overrides, 'epochs 1, 500 images');
});

/** A finished run's summary with chosen figures (the table must show them, rounded). */
function fakeSummary(model: 'vae' | 'gan' | 'cgan', quality: Partial<QualityFigures>): TrainRunSummary {
  return {
    model, epochs: 3, batchSize: 8, trainImages: 64, seed: 0, seconds: 10, imagesPerSecond: 1234.4, finalLosses: {}, adapter: 'test', interrupted: false,
    pictures: [join('o', model, 'samples.png'), join('o', model, 'losses.png')],
    quality: {
      fid: 12.345, fidFloor: 0.987, floorImages: 10000, confidence: 0.8123, confidenceThreshold: 0.9, coverage: 0.99449, labelShares: new Array(10).fill(0.1),
      samples: 10000, testImages: 10000, referenceImages: 10000, judge: 'j', judgeTestAccuracy: 0.99, ...quality,
    },
  };
}

test('readmeFor: one row per model with its figures, dashes where a figure does not apply, links to the pictures', () => {
  const rows: ReproduceRow[] = [
    { plan: planFor('vae', { out: 'o', epochs: 3 }), state: 'finished', epochsDone: 3, summary: fakeSummary('vae', { testLoss: 140.123, judgeAccuracy: 0.5 }), epochFigures: [] },
    { plan: planFor('cgan', { out: 'o', epochs: 3 }), state: 'finished', epochsDone: 3, summary: fakeSummary('cgan', { judgeAccuracy: 0.4567 }), epochFigures: [] },
    {
      plan: planFor('gan', { out: 'o', epochs: 3 }), state: 'unfinished', epochsDone: 1,
      epochFigures: [{ epoch: 1, step: 234, fid: 98.765, confidence: 0.4321, coverage: 0.95555, labelShares: new Array(10).fill(0.1), samples: 10000, seconds: 90 }],
    },
  ];
  const readme = readmeFor(rows, { adapter: 'some adapter', estimate: ['expected training time on some adapter: 5 min in total'], date: '2030-01-02', out: 'o' });
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| Model |'));
  const tableLines = lines.slice(start, lines.indexOf('', start)); // the models' table (per-epoch tables follow)
  const cells = (line: string) => line.split('|').slice(1, -1).map((c) => c.trim());
  const header = cells(tableLines[0]);
  assert.equal(header, ['Model', 'Preset', 'Epochs done', 'Images/s', 'Fréchet', 'Floor', 'Confidence', 'Coverage', 'Judge agreement (cGAN)', 'Test −ELBO (VAE)', 'Pictures']);
  assert.is(tableLines.length, 2 + 3);
  const byModel = Object.fromEntries(tableLines.slice(2).map((l) => cells(l)).map((c) => [c[0], Object.fromEntries(header.map((h, i) => [h, c[i]]))]));
  assert.equal(byModel.vae, {
    Model: 'vae', Preset: 'seed (epochs 3)', 'Epochs done': '3 of 3', 'Images/s': '1,234', Fréchet: '12.35', Floor: '0.99', Confidence: '81.2%', Coverage: '0.994',
    'Judge agreement (cGAN)': '—', 'Test −ELBO (VAE)': '140.12', Pictures: '[samples](vae/samples.png) · [losses](vae/losses.png)',
  });
  assert.is(byModel.cgan['Judge agreement (cGAN)'], '45.7%');
  assert.is(byModel.cgan['Test −ELBO (VAE)'], '—');
  assert.is(byModel.gan['Epochs done'], '1 of 3 (unfinished)');
  assert.is(byModel.gan.Fréchet, '—');
  assert.match(readme, /\*\*Unfinished\*\*: run `npm run reproduce -- --resume`/);
  assert.ok(readme.includes('![vae samples](vae/samples.png)'));
  assert.ok(readme.includes('expected training time on some adapter: 5 min in total'));
  // The unfinished GAN's figures after each epoch so far, in a table of their own.
  const epochs = readme.slice(readme.indexOf('## gan'));
  assert.match(epochs, /Figures after each epoch \(10,000 samples; 1 of 3 epochs measured so far\)/);
  assert.ok(epochs.includes('| Epoch | Steps | Fréchet | Confidence | Coverage | Samples after the epoch |'), epochs);
  assert.ok(epochs.includes('| 1 | 234 | 98.77 | 43.2% | 0.956 | — |'), epochs);
});

const tiny = (out: string, extra: Partial<ReproduceOptions> = {}): ReproduceOptions => ({
  out, epochs: 1, limit: 64, samples: 50, batchSize: 16, testLimit: 50, judgePath: SHIPPED_JUDGE, progress: false,
  modelConfig: { gan: { width: 0.125 }, cgan: { width: 0.125 } }, batchNormBatches: 2, timingSteps: 1, ...extra,
});

test('a tiny run of all three: the time estimate first, then a folder per model and the README table; --resume skips finished ones and continues unfinished ones', async () => {
  const out = join(dir, 'all');
  const lines: string[] = [];
  const result = await reproduce(tiny(out, { log: (l) => lines.push(l) }));
  assert.ok(result.finished);

  // The estimate comes before any training, one line per model: speed × work → time.
  const first = lines.findIndex((l) => l.startsWith('expected training time on '));
  assert.is(first, 0, lines.join('\n'));
  assert.match(lines[0], /: \d+ s in total \(measured over 1 step\(s\) per model after a warm-up step/);
  for (const [i, kind] of ['vae', 'gan', 'cgan'].entries()) {
    assert.match(lines[1 + i], new RegExp(`^  ${kind} +[\\d,]+ images/s × 1 epoch\\(s\\) × 64 images → \\d+ s$`));
  }
  for (const e of result.estimates) {
    assert.ok(e.imagesPerSecond > 0 && Number.isFinite(e.imagesPerSecond), `${e.kind}: ${e.imagesPerSecond} images/s`);
    assert.ok(Math.abs(e.seconds - 64 / e.imagesPerSecond) < 1e-9, `${e.kind}: ${e.seconds} s for 64 images at ${e.imagesPerSecond}/s`);
  }

  for (const kind of ['vae', 'gan', 'cgan']) {
    for (const file of ['checkpoint.safetensors', 'summary.json', 'samples.png', 'losses.png']) {
      assert.ok(existsSync(join(out, kind, file)), `${kind}/${file} missing`);
    }
  }
  const readme = readFileSync(join(out, 'README.md'), 'utf8');
  assert.is(readme, result.readme);
  // Every model measured after its (one) epoch, as after training, and tabulated.
  for (const row of result.rows) {
    assert.equal(row.epochFigures.map((e) => [e.epoch, e.samples]), [[1, 50]], row.plan.kind);
    assert.ok(Math.abs(row.epochFigures[0]!.fid - row.summary!.quality!.fid) <= 1e-6 * row.summary!.quality!.fid, `${row.plan.kind}: epoch 1's Fréchet is not the finished run's`);
  }
  assert.is(readme.match(/Figures after each epoch \(50 samples; 1 of 1 epochs measured so far\)/g)?.length, 3, readme);
  const rows = readme.split('\n').filter((l) => /^\| (vae|gan|cgan) \|/.test(l));
  assert.is(rows.length, 3, readme);
  for (const row of rows) {
    const c = row.split('|').slice(1, -1).map((x) => x.trim());
    assert.is(c[2], '1 of 1', row);
    for (const figure of [c[4], c[5], c[7]]) assert.match(figure, /^\d+\.\d+$/, row);
    assert.match(c[6], /^\d+\.\d%$/, row);
    for (const [, target] of c[10].matchAll(/\]\(([^)]+)\)/g)) assert.ok(existsSync(join(out, target)), `README links to ${target}, which does not exist`);
  }
  const cgan = rows.find((r) => r.startsWith('| cgan'))!.split('|').map((x) => x.trim());
  assert.match(cgan[9], /^\d+\.\d%$/);
  assert.match(rows.find((r) => r.startsWith('| vae'))!.split('|').map((x) => x.trim())[10], /^\d+\.\d+$/);

  // Without --resume the folder is not overwritten.
  const refused = await reproduce(tiny(out)).then(() => 'ran', (e: Error) => e.message);
  assert.match(refused, /already hold a run: pass --resume/);

  // --resume: nothing to do for the finished three.
  lines.length = 0;
  const again = await reproduce(tiny(out, { resume: true, log: (l) => lines.push(l) }));
  assert.equal(again.estimates, []);
  assert.ok(lines.includes('nothing left to train'), lines.join('\n'));
  assert.is(lines.filter((l) => / finished in .*, skipped$/.test(l)).length, 3, lines.join('\n'));
  assert.is(again.readme.split('\n').filter((l) => /\| 1 of 1 \|/.test(l)).length, 3);

  // One more epoch for the VAE only: it is unfinished now and continues from its checkpoint.
  lines.length = 0;
  const more = await reproduce(tiny(out, { kinds: ['vae'], epochs: 2, resume: true, log: (l) => lines.push(l) }));
  assert.ok(lines.some((l) => /^resumed from .*: epoch 1, step 4/.test(l)), lines.join('\n'));
  assert.is(more.estimates.length, 1);
  assert.ok(Math.abs(more.estimates[0].seconds - 64 / more.estimates[0].imagesPerSecond) < 1e-9, 'one epoch left, not two');
  assert.is(more.rows[0].epochsDone, 2);
  assert.match(more.readme, /\| vae \| seed \(epochs 2, batch 16, 64 images, 50 samples\) \| 2 of 2 \|/);
});

/** examples/reproduce.ts in a process of its own; asynchronous, so that the refusals below run side by side. */
function runScript(...args: string[]): Promise<ChildRun> {
  return runChild(process.execPath, ['--import', 'tsx', join('examples', 'reproduce.ts'), ...args], {
    cwd: root, env: { XDG_RUNTIME_DIR: '/tmp', ...process.env }, timeoutMs: 60_000,
  });
}

test('the command line: --help, and flags that do not apply or bad model lists are refused with the usage (exit 2)', async () => {
  const refusals = ([
    [['--preset', 'quick'], /^error: unknown flag --preset/m],
    [['--batch-size', '8'], /^error: unknown flag --batch-size/m],
    [['--models', 'vae,mlp'], /^error: --models: 'mlp' is not one of vae, gan, cgan/m],
    [['--epochs', '0'], /^error: --epochs must be at least 1, got 0/m],
  ] as const).map(([args, message]) => ({ args, message, run: runScript(...args) }));
  const help = await runScript('--help');
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: npm run reproduce -- \[flags\]/);
  for (const flag of ['--models LIST', '--epochs N', '--out DIR', '--resume']) assert.ok(help.stdout.includes(flag), `--help lacks ${flag}:\n${help.stdout}`);
  for (const { args, message, run } of refusals) {
    const r = await run;
    assert.is(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /^usage: npm run reproduce -- \[flags\]/m);
  }
});

test.run();
