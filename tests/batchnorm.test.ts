import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32, gradCheck, seededRandom } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { dispatchesSoFar } from '../src/core/dispatch.ts';
import { batchNorm } from '../src/core/batchnorm-ops.ts';
import { batchNormReference, batchNormEvalReference, batchNormGradReference, CHUNK_ROWS } from '../src/kernels/batchnorm.ts';

test.before(async () => {
  await ready;
});

const EPS = 1e-3;

async function checkTraining(shape: number[], seed: number, momentum: number): Promise<void> {
  const C = shape[shape.length - 1];
  const rows = shape.reduce((a, b) => a * b, 1) / C;
  const x = f32(randomArray(shape, seed, -2, 3));
  const gamma = f32(randomArray([C], seed + 1, 0.5, 1.5));
  const beta = f32(randomArray([C], seed + 2));
  const rm0 = f32(randomArray([C], seed + 3));
  const rv0 = f32(randomArray([C], seed + 4, 0.5, 2));
  const runningMean = tensor(rm0, [C]);
  const runningVar = tensor(rv0, [C]);
  const y = tidy(() => batchNorm(tensor(x, shape), tensor(gamma, [C]), tensor(beta, [C]), { training: true, runningMean, runningVar, momentum }));
  const ref = batchNormReference(x, gamma, beta, { rows, channels: C }, EPS);
  const what = `batchNorm ${JSON.stringify(shape)}`;
  assert.equal([...y.shape], shape);
  assertClose(await y.toArray(), ref.y, `${what}: output`, 1e-4, 1e-4);
  // Keras 3: moving = momentum·moving + (1 − momentum)·batch, with the biased batch variance.
  assertClose(await runningMean.toArray(), Float64Array.from(rm0, (v, c) => momentum * v + (1 - momentum) * ref.mean[c]), `${what}: running mean`, 1e-5, 1e-6);
  assertClose(await runningVar.toArray(), Float64Array.from(rv0, (v, c) => momentum * v + (1 - momentum) * ref.variance[c]), `${what}: running variance`, 1e-5, 1e-6);
  [y, runningMean, runningVar].forEach((t) => t.dispose());
}

test('training mode: batch statistics, output and running-statistics update (4-D and 2-D, ragged chunks)', async () => {
  await checkTraining([2, 9, 7, 5], 1, 0.9);
  await checkTraining([1, 3, 3, 130], 2, 0.99);
  await checkTraining([33, 7], 3, 0.5);
  await checkTraining([CHUNK_ROWS * 2 + 17, 3], 4, 0.9); // several chunks, the last one short
  await checkTraining([1, 65], 5, 0.9); // one row: zero variance
});

test('eval mode normalises with the running statistics and leaves them alone', async () => {
  const shape = [3, 5, 4, 6];
  const x = f32(randomArray(shape, 10));
  const gamma = f32(randomArray([6], 11));
  const beta = f32(randomArray([6], 12));
  const rm = f32(randomArray([6], 13));
  const rv = f32(randomArray([6], 14, 0.2, 3));
  const runningMean = tensor(rm, [6]);
  const runningVar = tensor(rv, [6]);
  const y = tidy(() => batchNorm(tensor(x, shape), tensor(gamma, [6]), tensor(beta, [6]), { training: false, runningMean, runningVar }));
  assertClose(await y.toArray(), batchNormEvalReference(x, gamma, beta, rm, rv, 6, EPS), 'eval output', 1e-5, 1e-5);
  assertClose(await runningMean.toArray(), rm, 'running mean unchanged', 0, 0);
  assertClose(await runningVar.toArray(), rv, 'running variance unchanged', 0, 0);
  [y, runningMean, runningVar].forEach((t) => t.dispose());
});

test('statistics stay accurate when the mean dwarfs the spread (128×28×28 per channel)', async () => {
  // x = 1000 + small noise: a sum-of-squares formula loses every digit of the variance in f32.
  const shape = [128, 28, 28, 2];
  const r = seededRandom(99);
  const x = f32(Float64Array.from({ length: 128 * 28 * 28 * 2 }, (_, i) => 1000 + (i % 2 ? 5 : 1) * 0.01 * (r() - 0.5)));
  const ones = [1, 1];
  const zeros = [0, 0];
  const runningMean = tensor(zeros, [2]);
  const runningVar = tensor(zeros, [2]);
  const y = tidy(() => batchNorm(tensor(x, shape), tensor(ones, [2]), tensor(zeros, [2]), { training: true, runningMean, runningVar, momentum: 0 }));
  const ref = batchNormReference(x, ones, zeros, { rows: 128 * 28 * 28, channels: 2 }, EPS);
  assertClose(await runningMean.toArray(), ref.mean, 'batch mean', 1e-7, 0);
  assertClose(await runningVar.toArray(), ref.variance, 'batch variance', 1e-3, 0);
  [y, runningMean, runningVar].forEach((t) => t.dispose());
});

function trainingReference(shape: number[]) {
  const C = shape[shape.length - 1];
  const rows = shape.reduce((a, b) => a * b, 1) / C;
  return (x: Float64Array, g: Float64Array, b: Float64Array) => batchNormReference(x, g, b, { rows, channels: C }, EPS).y;
}

test('gradient check (training mode): x, gamma and beta, 4-D and 2-D', async () => {
  for (const [shape, seed] of [[[2, 3, 4, 3], 20], [[6, 5], 21]] as const) {
    const C = shape[shape.length - 1];
    const runningMean = tensor(new Float32Array(C), [C]);
    const runningVar = tensor(new Float32Array(C).fill(1), [C]);
    await gradCheck(`batchNorm training ${JSON.stringify(shape)}`, (x, g, b) => batchNorm(x, g, b, { training: true, runningMean, runningVar }), [
      { data: randomArray([...shape], seed), shape: [...shape] },
      { data: randomArray([C], seed + 1, 0.5, 1.5), shape: [C] },
      { data: randomArray([C], seed + 2), shape: [C] },
    ], { reference: trainingReference([...shape]) });
    runningMean.dispose();
    runningVar.dispose();
  }
});

test('training-mode backward against its float64 reference: dx, dgamma, dbeta (4-D, and 2-D over several chunks)', async () => {
  for (const [shape, seed] of [[[2, 9, 7, 5], 40], [[CHUNK_ROWS * 2 + 17, 3], 41]] as const) {
    const C = shape[shape.length - 1];
    const rows = shape.reduce((a, b) => a * b, 1) / C;
    const x = f32(randomArray(shape, seed, -2, 3));
    const gamma = f32(randomArray([C], seed + 1, 0.5, 1.5));
    const beta = f32(randomArray([C], seed + 2));
    const dy = f32(randomArray(shape, seed + 3));
    const xt = tensor(x, [...shape], { requiresGrad: true });
    const gt = tensor(gamma, [C], { requiresGrad: true });
    const bt = tensor(beta, [C], { requiresGrad: true });
    tidy(() => batchNorm(xt, gt, bt, { training: true }).backward(tensor(dy, [...shape])));
    const ref = batchNormGradReference(x, gamma, dy, { rows, channels: C }, EPS);
    const what = `batchNorm backward ${JSON.stringify(shape)}`;
    assertClose(await xt.grad!.toArray(), ref.dx, `${what}: dx`, 1e-4, 1e-4);
    assertClose(await gt.grad!.toArray(), ref.dGamma, `${what}: dgamma`, 1e-4, 1e-4);
    assertClose(await bt.grad!.toArray(), ref.dBeta, `${what}: dbeta`, 1e-4, 1e-4);
    for (const t of [xt, gt, bt]) {
      t.grad?.dispose();
      t.dispose();
    }
  }
});

test('gradient check (eval mode): x, gamma and beta', async () => {
  const shape = [2, 3, 3, 4];
  const rm = f32(randomArray([4], 30));
  const rv = f32(randomArray([4], 31, 0.5, 2));
  const runningMean = tensor(rm, [4]);
  const runningVar = tensor(rv, [4]);
  await gradCheck('batchNorm eval', (x, g, b) => batchNorm(x, g, b, { training: false, runningMean, runningVar }), [
    { data: randomArray(shape, 32), shape },
    { data: randomArray([4], 33), shape: [4] },
    { data: randomArray([4], 34), shape: [4] },
  ], { reference: (x, g, b) => batchNormEvalReference(x, g, b, rm, rv, 4, EPS) });
  runningMean.dispose();
  runningVar.dispose();
});

test('bad input: clear errors before any GPU work', () => {
  const x = tensor(new Float32Array(2 * 3 * 3 * 4), [2, 3, 3, 4]);
  const c4 = tensor(new Float32Array(4), [4]);
  const c3 = tensor(new Float32Array(3), [3]);
  const check = (fn: () => unknown, pattern: RegExp, what: string) => {
    const before = dispatchesSoFar();
    assert.throws(() => tidy(fn), pattern, what);
    assert.is(dispatchesSoFar(), before, `${what}: no kernel may run before the error`);
  };
  check(() => batchNorm(x, c3, c4, { training: true }), /gamma \[3\] must be \[4\] for input \[2, 3, 3, 4\]/, 'gamma shape');
  check(() => batchNorm(x, c4, c4, { training: true, runningMean: c4, runningVar: c3 }), /runningVar \[3\] must be \[4\]/, 'running shape');
  check(() => batchNorm(x, c4, c4, { training: false }), /eval mode .* runningMean and runningVar/, 'eval without statistics');
  check(() => batchNorm(x, c4, c4, { training: true, momentum: 1.5 }), /momentum must be in \[0, 1\]/, 'momentum');
  check(() => batchNorm(x, c4, c4, { training: true, epsilon: 0 }), /epsilon must be positive/, 'epsilon');
  check(() => batchNorm(tensor([1, 2], [2]), c4, c4, { training: true }), /needs a batch axis and a channel/, 'rank 1');
  [x, c4, c3].forEach((t) => t.dispose());
});

test.run();
