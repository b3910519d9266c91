// The example scripts as a person runs them (node --import tsx examples/…): a bad flag is one
// clear line plus the usage and exit code 2; a missing or mismatched checkpoint is one line
// naming the file (and both models) and exit code 1; never a stack trace. Every run here stops
// early or touches only a tiny checkpoint, so each takes about a second.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { runChild } from './child.ts';
import { saveCheckpoint } from '../src/nn/checkpoint-file.ts';
import { readPng } from '../src/io/png.ts';
import { Vae } from '../src/models/vae.ts';
import { decodeSafetensors } from '../src/io/safetensors.ts';
import { loadCheckpointFromBytes } from '../src/nn/checkpoint.ts';
import { fromHalfArray, toHalfArray } from '../src/io/half.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'scripts-test-'));
const vaeCheckpoint = join(dir, 'vae.safetensors');

test.before(async () => {
  await ready;
  const vae = new Vae({ seed: 3 });
  await saveCheckpoint(vaeCheckpoint, {
    model: vae.name,
    config: vae.config,
    modules: vae.modules,
    progress: { epoch: 1, step: 10, batchInEpoch: 0, seed: 3 },
  });
  vae.dispose();
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * stderr less Dawn's start-up notices: "Warning: ..." lines, each possibly followed by the
 * indented location in Dawn's source where it was raised (which is not our stack trace).
 */
function withoutDawnNotices(stderr: string): string {
  const kept: string[] = [];
  let inNotice = false;
  for (const line of stderr.split('\n')) {
    if (line.startsWith('Warning: ')) inNotice = true;
    else if (inNotice && (line.trim() === '' || /^\s+at .*third_party\/dawn\//.test(line))) continue;
    else inNotice = false;
    if (!inNotice) kept.push(line);
  }
  return kept.join('\n');
}

interface ScriptRun {
  code: number | null;
  stdout: string;
  /** The lines of stderr, without the WebGPU implementation's start-up notices. */
  errors: string[];
  /** stderr without those notices. */
  stderr: string;
}

function runScript(script: string, ...args: string[]): Promise<ScriptRun> {
  return runIn({}, script, ...args);
}

/**
 * runScript with another working folder or more environment variables. Asynchronous, so that a
 * test's runs go side by side: each is a Node process that spends ~0.5 s loading, on one core.
 */
function runIn(o: { cwd?: string; env?: Record<string, string> }, script: string, ...args: string[]): Promise<ScriptRun> {
  // tsx by path, so that a working folder outside the repository finds it too.
  const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  return runChild(process.execPath, ['--import', tsx, join(root, script.includes('/') ? script : join('examples', script)), ...args], {
    cwd: o.cwd ?? root,
    env: { XDG_RUNTIME_DIR: '/tmp', ...process.env, ...o.env },
    timeoutMs: 120_000,
  }).then((r) => {
    const stderr = withoutDawnNotices(r.stderr);
    const errors = stderr.split('\n').filter((l) => l.trim() !== '');
    return { code: r.code, stdout: r.stdout, errors, stderr };
  });
}

const describe = (r: ScriptRun): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function assertNoStackTrace(r: ScriptRun): void {
  assert.not.match(r.stderr, /^\s+at .+[:(]/m, `a stack trace was printed:\n${describe(r)}`);
}

/** Exit 2, "error: <message>" as the first line, then the usage. Takes the run unawaited, so runs checked together go side by side. */
async function assertFlagError(run: Promise<ScriptRun>, message: RegExp, program: string): Promise<void> {
  const r = await run;
  assert.is(r.code, 2, describe(r));
  assert.match(r.errors[0] ?? '', /^error: /, describe(r));
  assert.match(r.errors[0], message, describe(r));
  assert.ok(r.errors.slice(1).some((l) => l.startsWith(`usage: ${program}`)), `no usage after the error:\n${describe(r)}`);
  assertNoStackTrace(r);
}

test('train: an unknown model, zero epochs and an unknown flag are rejected with the usage (exit 2)', async () => {
  await Promise.all([
    assertFlagError(runScript('train.ts', '--model', 'nope'), /--model must be one of vae, gan, cgan, classifier, got 'nope'/, 'npm run train --'),
    assertFlagError(runScript('train.ts', '--model', 'vae', '--epochs', '0'), /--epochs must be at least 1, got 0/, 'npm run train --'),
    assertFlagError(runScript('train.ts', '--model', 'vae', '--bogus'), /unknown flag --bogus/, 'npm run train --'),
    // The positional form that `npm run train:vae` uses goes through the same checks.
    assertFlagError(runScript('train.ts', 'vae', '--batch-size', 'many'), /--batch-size needs a number, got 'many'/, 'npm run train --'),
  ]);
});

test('tune: an unknown model and an unknown flag are rejected with the usage (exit 2)', async () => {
  await Promise.all([
    assertFlagError(runScript('tune.ts', '--models', 'vae,gann'), /--models: 'gann' is not one of vae, gan, cgan, mlp/, 'npm run tune --'),
    assertFlagError(runScript('tune.ts', '--budget', '0'), /--budget must be at least 1, got 0/, 'npm run tune --'),
    assertFlagError(runScript('tune.ts', '--model', 'vae'), /unknown flag --model/, 'npm run tune --'),
  ]);
});

test("tune --models mlp: finds the MLP step's problems, each under its layer, and keeps what it measured", async () => {
  // A 1-second budget: the largest problem is measured, the rest are listed as not reached.
  const cache = join(dir, 'tune-mlp-cache');
  const r = await runIn({ env: { XDG_CACHE_HOME: cache } }, 'tune.ts', '--models', 'mlp', '--budget', '1', '--json', join(dir, 'tune-mlp.json'));
  assert.is(r.code, 0, describe(r));
  // Forward and weight gradient of both layers, and the output layer's input gradient (the input needs none).
  assert.match(r.stdout, /^mlp: 5 problems in a training step at batch 128$/m, describe(r));
  assert.match(r.stdout, /^mlp\.hidden · matmul$/m, describe(r));
  assert.match(r.stdout, /matmul 1x128x256x784\b/, describe(r));
  const record = JSON.parse(readFileSync(join(dir, 'tune-mlp.json'), 'utf8')) as { models: { model: string; results: { problem: string; chosen: string }[] }[]; notReached: string[] };
  assert.equal(record.models.map((m) => m.model), ['mlp']);
  const measured = record.models[0].results;
  assert.ok(measured.length >= 1, describe(r));
  assert.is(measured.length + record.notReached.length, 5, describe(r));
  assert.ok(existsSync(join(cache, 'webgpu-mini-dl', 'kernel-choices.json')), 'no cache of choices written');
});

test('train --help prints the usage and exits 0', async () => {
  const r = await runScript('train.ts', '--help');
  assert.is(r.code, 0, describe(r));
  assert.match(r.stdout, /^usage: npm run train -- \[flags\]/);
  assert.match(r.stdout, /--model vae\|gan\|cgan\|classifier/);
});

test('generate: a missing checkpoint is one line naming the path (exit 1)', async () => {
  const missing = join(dir, 'nowhere', 'checkpoint.safetensors');
  const r = await runScript('generate.ts', '--model', 'vae', '--checkpoint', missing);
  assert.is(r.code, 1, describe(r));
  assert.is(r.errors.length, 1, describe(r));
  assert.match(r.errors[0], /^generate: /);
  assert.ok(r.errors[0].includes(missing), describe(r));
  assertNoStackTrace(r);
});

test('generate: --digit needs the conditional GAN (exit 2)', async () => {
  const r = await runScript('generate.ts', '--model', 'gan', '--digit', '3');
  assert.is(r.code, 2, describe(r));
  assert.is(r.errors.length, 1, describe(r));
  assert.match(r.errors[0], /--digit needs --model cgan/);
  assertNoStackTrace(r);
});

test("export-weights: the VAE's decoder alone, in F16, with its config and recipe, loads into a fresh decoder", async () => {
  const out = join(dir, 'exported', 'vae.safetensors');
  const withoutOut = assertFlagError(runScript('export-weights.ts', '--model', 'vae'), /--out is required/, 'npm run export-weights --');
  withoutOut.catch(() => {}); // awaited at the end; an assertion failing first must not leave it unhandled
  const r = await runScript('export-weights.ts', '--model', 'vae', '--checkpoint', vaeCheckpoint, '--out', out);
  assert.is(r.code, 0, describe(r));
  assert.match(r.stdout, /wrote the vae's decoder to .*vae\.safetensors \(\d+ KiB, f16/);
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(out)), out);
  assert.ok([...tensors.keys()].every((n) => n.startsWith('decoder.')), [...tensors.keys()].join(', '));
  assert.ok([...tensors.values()].every((t) => t.dtype === 'F16'));
  const recipe = JSON.parse(metadata['extra.recipe']) as { epochs: number; steps: number; seed: number };
  assert.equal([recipe.epochs, recipe.steps, recipe.seed], [1, 10, 3]);
  const original = new Vae({ seed: 3 });
  const fresh = new Vae({ seed: 9 });
  await loadCheckpointFromBytes(new Uint8Array(readFileSync(out)), { model: 'vae', modules: { decoder: fresh.decoder } }, { source: out });
  for (const [name, t] of original.decoder.stateDict()) {
    assert.equal(Array.from(await fresh.decoder.stateDict().get(name)!.toArray()), Array.from(fromHalfArray(toHalfArray(await t.toArray()))), name);
  }
  original.dispose();
  fresh.dispose();
  await withoutOut;
});

test('generate: writes the requested grid from a VAE checkpoint', async () => {
  const out = join(dir, 'generated.png');
  const r = await runScript('generate.ts', '--model', 'vae', '--checkpoint', vaeCheckpoint, '--count', '6', '--out', out);
  assert.is(r.code, 0, describe(r));
  assert.ok(r.stdout.includes(out), describe(r));
  // 6 images, ceil(√6) = 3 per row: 3 × 2 cells of 28 px with 2 px gaps.
  const png = readPng(out);
  assert.is(png.width, 3 * 30 + 2);
  assert.is(png.height, 2 * 30 + 2);
});

test("evaluate: another model's checkpoint is one line naming the file and both models (exit 1)", async () => {
  const r = await runScript('evaluate.ts', '--model', 'gan', '--checkpoint', vaeCheckpoint);
  assert.is(r.code, 1, describe(r));
  assert.is(r.errors.length, 1, describe(r));
  assert.match(r.errors[0], /^evaluate: /);
  assert.ok(r.errors[0].includes(vaeCheckpoint), describe(r));
  assert.match(r.errors[0], /"vae"/);
  assert.match(r.errors[0], /"gan"/);
  assertNoStackTrace(r);
});

test('train: flags that would do nothing for this run are refused with the reason (exit 2)', async () => {
  const program = 'npm run train --';
  await Promise.all([
    assertFlagError(runScript('train.ts', '--model', 'classifier', '--preset', 'seed'), /--preset does not apply to the classifier/, program),
    assertFlagError(runScript('train.ts', '--model', 'classifier', '--no-evaluate'), /--evaluate does not apply to the classifier/, program),
    assertFlagError(runScript('train.ts', '--model', 'gan', '--init', vaeCheckpoint), /--init is for the classifier only/, program),
    // `npm run train:vae -- --model gan` used to train a GAN.
    assertFlagError(runScript('train.ts', 'vae', '--model', 'gan'), /already names the model \(vae.*--model gan contradicts it/, program),
    assertFlagError(runScript('train.ts', '--model', 'vae', '--epochs', '2', '--epochs', '3'), /--epochs is given twice/, program),
    assertFlagError(runScript('train.ts', '--model', 'vae', '--resume', '--force'), /--resume and --force contradict/, program),
  ]);
});

test('train --resume refuses a new learning rate or seed the checkpoint would override (exit 2)', async () => {
  const out = join(dir, 'resume-flags');
  mkdirSync(out, { recursive: true });
  copyFileSync(vaeCheckpoint, join(out, 'checkpoint.safetensors'));
  const program = 'npm run train --';
  await Promise.all([
    assertFlagError(runScript('train.ts', '--model', 'vae', '--out', out, '--resume', '--lr', '0.5'), /--lr cannot change a resumed run's learning rate \(the checkpoint's is 0.001\)/, program),
    assertFlagError(runScript('train.ts', '--model', 'vae', '--out', out, '--resume', '--seed', '4'), /--seed cannot change a resumed run's seed \(the checkpoint's is 3\)/, program),
  ]);
});

test('train into a folder that holds a checkpoint refuses unless --resume or --force, and keeps the file (exit 1)', async () => {
  const out = join(dir, 'taken');
  mkdirSync(out, { recursive: true });
  const path = join(out, 'checkpoint.safetensors');
  copyFileSync(vaeCheckpoint, path);
  const before = readFileSync(path);
  const runs = ['gan', 'classifier'].map((model) => runScript('train.ts', '--model', model, '--out', out, '--epochs', '1', '--limit', '64'));
  for (const run of runs) {
    const r = await run;
    assert.is(r.code, 1, describe(r));
    assert.is(r.errors.length, 1, describe(r));
    assert.match(r.errors[0], /^train: .*already holds a vae checkpoint \(epoch 1, step 10\): --resume continues it, --force starts over/, describe(r));
    assertNoStackTrace(r);
  }
  assert.ok(readFileSync(path).equals(before), 'the checkpoint was touched');
});

test('info answers --help and rejects unknown flags like every script', async () => {
  const unknown = assertFlagError(runScript('info.ts', '--verbose'), /unknown flag --verbose/, 'npm run info');
  unknown.catch(() => {}); // awaited at the end; an assertion failing first must not leave it unhandled
  const help = await runScript('info.ts', '--help');
  assert.is(help.code, 0, describe(help));
  assert.match(help.stdout, /^usage: npm run info/);
  await unknown;
});

test('a bad WEBGPU_BACKEND is one line from every script that opens the device (exit 1, no stack trace)', async () => {
  const scripts = [['info.ts', []], ['train.ts', ['--model', 'vae', '--out', join(dir, 'never')]], ['generate.ts', ['--model', 'vae', '--checkpoint', vaeCheckpoint]], ['evaluate.ts', ['--model', 'vae', '--checkpoint', vaeCheckpoint]]] as const;
  const runs = scripts.map(([script, args]) => runIn({ env: { WEBGPU_BACKEND: 'metal' } }, script, ...args));
  for (const [i, [script]] of scripts.entries()) {
    const r = await runs[i];
    assert.is(r.code, 1, describe(r));
    assert.is(r.errors.length, 1, describe(r));
    assert.match(r.errors[0], new RegExp(`^${script.replace('.ts', '')}: WEBGPU_BACKEND="metal" is not one of vulkan, opengl, opengles`), describe(r));
    assertNoStackTrace(r);
  }
  assert.not.ok(existsSync(join(dir, 'never', 'checkpoint.safetensors')));
});

test('generate / evaluate without a checkpoint say how to make one', async () => {
  const runs = ['generate.ts', 'evaluate.ts'].map((script) => runIn({ cwd: dir }, script, '--model', 'cgan'));
  for (const run of runs) {
    const r = await run;
    assert.is(r.code, 1, describe(r));
    assert.is(r.errors.length, 1, describe(r));
    assert.match(r.errors[0], /no cgan checkpoint at out\/cgan\/checkpoint.safetensors: train one with `npm run train:cgan`/, describe(r));
  }
});

test('bench --compare with a missing record is one line naming it (exit 1)', async () => {
  const missing = join(dir, 'no-such-record.json');
  const r = await runScript('bench/index.ts', '--compare', missing, missing);
  assert.is(r.code, 1, describe(r));
  assert.is(r.errors.length, 1, describe(r));
  assert.match(r.errors[0], /^bench --compare: .*no-such-record.json does not exist/, describe(r));
  assertNoStackTrace(r);
});

test('train: a diverging run (the VAE at --lr 10) stops on the first NaN loss, writes nothing and exits 1', async () => {
  const out = join(dir, 'diverged');
  // 4 steps (128 images in batches of 32): with the seed preset's Adam (no warm-up, Keras's ε) at
  // lr 10 the loss is NaN by step 2, and the losses read back at the epoch's end stop the run
  // before its checkpoint is written. (The quick preset's warm-up would keep 4 steps finite.)
  const r = await runScript('train.ts', '--model', 'vae', '--preset', 'seed', '--out', out, '--lr', '10', '--limit', '128', '--batch-size', '32', '--epochs', '1', '--no-evaluate');
  assert.is(r.code, 1, describe(r));
  const last = r.errors[r.errors.length - 1] ?? '';
  assert.match(last, /^train: training diverged: the \w+ loss of step \d+ is (NaN|-?Infinity); stopped without saving \(no checkpoint was written\)\. A smaller learning rate \(--lr\)/, describe(r));
  assertNoStackTrace(r);
  assert.not.ok(existsSync(join(out, 'checkpoint.safetensors')));
});

test.run();