// What the project ships and what a run writes down name files portably: no absolute path (the
// trainer's machine, e.g. "/home/me/webgpu-mini-dl/assets/judge.safetensors") in the metadata of
// the shipped safetensors files or in committed summaries and recipes, and a fresh run's summary
// names its judge relative to the project root, with the judge file's sha256
// (src/io/project-path.ts, src/metrics/judge.ts).

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { decodeSafetensors } from '../src/io/safetensors.ts';
import { fileSha256, PROJECT_ROOT, projectRelative, recordedPath, resolveRecordedPath } from '../src/io/project-path.ts';
import { loadJudge, SHIPPED_JUDGE } from '../src/metrics/judge.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';
import { runTraining, type TrainRunSummary } from '../src/runs/run.ts';
import { saveCheckpoint } from '../src/nn/checkpoint-file.ts';
import { Vae } from '../src/models/vae.ts';

const dir = mkdtempSync(join(tmpdir(), 'no-absolute-paths-test-'));
test.before(async () => {
  await ready;
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** An absolute path: POSIX, a drive letter, UNC, a file: URL, or anything holding this checkout's own path. */
function isAbsolutePath(s: string): boolean {
  return s.startsWith('/') || /^[A-Za-z]:[\\/]/.test(s) || s.startsWith('\\\\') || /^file:/i.test(s) || s.includes(PROJECT_ROOT);
}

/** Every string in `value` that is an absolute path, with where it lies; strings holding JSON are searched inside. */
function absolutePaths(value: unknown, where: string, found: string[] = []): string[] {
  if (typeof value === 'string') {
    const t = value.trimStart();
    if (t.startsWith('{') || t.startsWith('[')) {
      try {
        return absolutePaths(JSON.parse(value), where, found);
      } catch {
        // not JSON: checked as a string
      }
    }
    if (isAbsolutePath(value)) found.push(`${where}: ${value}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => absolutePaths(v, `${where}[${i}]`, found));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (isAbsolutePath(k)) found.push(`${where} key: ${k}`);
      absolutePaths(v, `${where}.${k}`, found);
    }
  }
  return found;
}

/** The project's committed files (git ls-files), or, without git, those of the shipped folders. */
function shippedFiles(): string[] {
  try {
    return execFileSync('git', ['ls-files', '-z'], { cwd: PROJECT_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\0').filter((f) => f !== '');
  } catch {
    return ['assets', join('playground', 'weights')].flatMap((d) => readdirSync(join(PROJECT_ROOT, d)).map((f) => join(d, f)));
  }
}

const RECORD_JSON = /(^|\/)(summary|evaluation|figures|[^/]*recipe[^/]*)\.json$/;

test('the shipped safetensors files and committed summaries or recipes hold no absolute path', () => {
  const files = shippedFiles().filter((f) => existsSync(join(PROJECT_ROOT, f)));
  const weights = files.filter((f) => f.endsWith('.safetensors'));
  for (const expected of ['assets/judge.safetensors', 'playground/weights/vae.safetensors', 'playground/weights/gan.safetensors', 'playground/weights/cgan.safetensors']) {
    assert.ok(weights.includes(expected), `${expected} is not among the files checked (${weights.join(', ')})`);
  }
  const found: string[] = [];
  for (const f of weights) {
    const path = join(PROJECT_ROOT, f);
    absolutePaths(decodeSafetensors(readFileSync(path), path).metadata, f, found);
  }
  for (const f of files.filter((name) => RECORD_JSON.test(name))) absolutePaths(JSON.parse(readFileSync(join(PROJECT_ROOT, f), 'utf8')), f, found);
  assert.equal(found, [], `absolute paths in shipped files:\n${found.join('\n')}`);
});

test("the shipped weights' recipes name the judge that measured them by its project path and its hash", () => {
  const sha256 = fileSha256(SHIPPED_JUDGE);
  for (const kind of ['vae', 'gan', 'cgan']) {
    const path = join(PROJECT_ROOT, 'playground', 'weights', `${kind}.safetensors`);
    const recipe = JSON.parse(decodeSafetensors(readFileSync(path), path).metadata['extra.recipe']) as { quality: { judge: string; judgeSha256: string } };
    assert.is(recipe.quality.judge, 'assets/judge.safetensors', kind);
    assert.is(recipe.quality.judgeSha256, sha256, `${kind}: the recorded hash is the shipped judge's`);
  }
});

test('recorded paths: project-relative inside the project, the file name outside, read back against the project root', () => {
  assert.is(recordedPath(SHIPPED_JUDGE), 'assets/judge.safetensors');
  assert.is(recordedPath(join(PROJECT_ROOT, 'out', 'classifier', 'checkpoint.safetensors')), 'out/classifier/checkpoint.safetensors');
  assert.is(recordedPath(join(dir, 'elsewhere', 'my-judge.safetensors')), 'my-judge.safetensors');
  assert.is(projectRelative(join(PROJECT_ROOT, '..', `${basename(PROJECT_ROOT)}-sibling`, 'x.safetensors')), undefined, 'a sibling folder sharing the name prefix is outside');
  assert.is(projectRelative(PROJECT_ROOT), undefined, 'the root itself is not a file in it');
  assert.is(resolveRecordedPath('assets/judge.safetensors'), SHIPPED_JUDGE);
});

test('loadJudge: a recorded relative path opens from any working directory; a judge outside the project is named by its file name and hash', async () => {
  const test200 = loadMnistGpu('test', { limit: 200, range: [0, 1] });
  const sha256 = fileSha256(SHIPPED_JUDGE);
  const cwd = process.cwd();
  try {
    process.chdir(dir); // no assets/ here
    const inside = await loadJudge(test200, 'assets/judge.safetensors', dir);
    inside.classifier.dispose();
    assert.is(inside.recorded, 'assets/judge.safetensors');
    assert.is(inside.sha256, sha256);
  } finally {
    process.chdir(cwd);
  }
  const copy = join(dir, 'copied-judge.safetensors');
  copyFileSync(SHIPPED_JUDGE, copy);
  const outside = await loadJudge(test200, copy, dir);
  outside.classifier.dispose();
  test200.dispose();
  assert.is(outside.recorded, 'copied-judge.safetensors');
  assert.is(outside.sha256, sha256);
});

test("a fresh training run's summary records its judge relative to the project root, with its sha256", async () => {
  const out = join(dir, 'gan-run');
  const summary = await runTraining({
    kind: 'gan', epochs: 1, batchSize: 8, limit: 24, seed: 0, out, samples: 100, evaluate: true,
    judgePath: SHIPPED_JUDGE, testLimit: 200, progress: false, batchNormBatches: 2, modelConfig: { width: 0.125 }, log: () => {},
  });
  const written = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as TrainRunSummary;
  for (const s of [summary, written]) {
    assert.is(s.quality!.judge, 'assets/judge.safetensors');
    assert.is(s.quality!.judgeSha256, fileSha256(SHIPPED_JUDGE));
  }
  // (The pictures lie in the temporary `out` given, an absolute path; the judge is the project's.)
  assert.not.ok(readFileSync(join(out, 'summary.json'), 'utf8').includes(SHIPPED_JUDGE), 'the summary names the judge by its absolute path');
});

test("export-weights: a summary that names its judge by an absolute path (written before this fix) is exported without it", async () => {
  const run = join(dir, 'old-run');
  mkdirSync(run, { recursive: true });
  const checkpoint = join(run, 'checkpoint.safetensors');
  const vae = new Vae({ seed: 3 });
  await saveCheckpoint(checkpoint, { model: vae.name, config: vae.config, modules: vae.modules, progress: { epoch: 1, step: 10, batchInEpoch: 0, seed: 3 } });
  vae.dispose();
  const quality = { samples: 100, testImages: 200, referenceImages: 200, judge: SHIPPED_JUDGE, judgeTestAccuracy: 0.99, fid: 100 };
  writeFileSync(join(run, 'summary.json'), JSON.stringify({ model: 'vae', epochs: 1, batchSize: 8, trainImages: 24, adapter: 'test', quality }));
  const out = join(dir, 'exported.safetensors');
  const tsx = pathToFileURL(join(PROJECT_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const r = spawnSync(process.execPath, ['--import', tsx, join(PROJECT_ROOT, 'examples', 'export-weights.ts'), '--model', 'vae', '--checkpoint', checkpoint, '--out', out], {
    cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 120_000, env: { XDG_RUNTIME_DIR: '/tmp', ...process.env },
  });
  assert.is(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  const metadata = decodeSafetensors(readFileSync(out), out).metadata;
  assert.equal(absolutePaths(metadata, 'exported'), []);
  const recipe = JSON.parse(metadata['extra.recipe']) as { exportedFrom: string; quality: { judge: string; judgeSha256: string } };
  assert.is(recipe.quality.judge, 'assets/judge.safetensors');
  assert.is(recipe.quality.judgeSha256, fileSha256(SHIPPED_JUDGE));
  assert.is(recipe.exportedFrom, 'checkpoint.safetensors', 'a checkpoint outside the project is named by its file name');
});

test.run();
