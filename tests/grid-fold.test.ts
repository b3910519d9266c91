// Grids past 65,535 workgroups per dimension fold (foldGrid, src/kernels/program.ts), in every
// kernel family. WebGPU guarantees only 65,535 workgroups a dimension, so a kernel whose natural
// grid (one workgroup per output tile, batch item, row…) is larger for a legal shape must lay it
// out over the three dimensions and unfold it in the kernel. Huge tensors are slow on a CPU
// driver, so most cases lower the fold limit (setGridFoldLimitForTests) to a few workgroups:
// small, awkward shapes then take exactly the folded paths a huge one would, dispatch refuses any
// launch over the lowered limit (so a builder that forgot to fold fails here), and each case
// checks that its natural grid is over the limit, that the folded result is bit-identical to the
// unfolded one (the same loops in the same order) and that both match the float64 reference.
// The matmul also runs one real grid of more than 65,535 workgroups (tests/elementwise.test.ts and
// tests/reduce.test.ts run others). A shape whose output
// would not fit a storage binding is refused before any GPU work.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32 } from './helpers.ts';
import { shapeOf } from './matmul-checks.ts';
import { checkTransposeCase } from './conv-checks.ts';
import { tensor, rand, manualSeed } from '../src/core/creation.ts';
import { Tensor } from '../src/core/tensor.ts';
import { tidy } from '../src/core/scope.ts';
import { getGpu } from '../src/core/device.ts';
import { dispatchesSoFar, run, KernelError } from '../src/core/dispatch.ts';
import { matmulRaw, unaryRaw, binaryRaw, sum } from '../src/core/ops.ts';
import { softmax } from '../src/core/softmax-ops.ts';
import { permute } from '../src/core/shape-ops.ts';
import { dropout } from '../src/core/dropout-ops.ts';
import { adamStep } from '../src/core/optim-ops.ts';
import { batchNorm } from '../src/core/batchnorm-ops.ts';
import { conv2dRaw, conv2dInputGradRaw, conv2dWeightGradRaw, winogradRaw } from '../src/core/conv-ops.ts';
import {
  foldGrid, linearGrid, gridFoldLimit, setGridFoldLimitForTests, MAX_WORKGROUPS_PER_DIM, type Grid, type Program,
} from '../src/kernels/program.ts';
import { MATMUL_VARIANTS, matmulProgram, matmulReference, vec4Fits, type MatmulVariant } from '../src/kernels/matmul.ts';
import {
  conv2dProgram, conv2dInputGradProgram, conv2dWeightGradProgram, conv2dReference, conv2dInputGradReference,
  conv2dWeightGradReference, winogradPrograms, type ConvKernel, type ConvVariant,
} from '../src/kernels/conv/conv2d.ts';
import { conv2dGeometry, conv2dTransposeGeometry, type ConvGeometry } from '../src/kernels/conv/geometry.ts';
import { conv2dTransposeProgram } from '../src/kernels/conv/conv2d-transpose.ts';
import { unaryReference, binaryReference } from '../src/kernels/elementwise.ts';
import { reduceReference } from '../src/kernels/reduce.ts';
import { softmaxReference } from '../src/kernels/softmax.ts';
import { permuteReference } from '../src/kernels/copy.ts';
import {
  batchNormReference, batchNormGradReference, batchNormEvalReference, bnPartialStatsProgram, bnRunningStatsProgram,
} from '../src/kernels/batchnorm.ts';

test.before(async () => {
  await ready;
});

test.after.each(() => {
  setGridFoldLimitForTests(undefined);
});

/** Runs `fn` with every grid folded at `limit` workgroups a dimension. */
function folded<T>(limit: number, fn: () => T): T {
  setGridFoldLimitForTests(limit);
  try {
    return fn();
  } finally {
    setGridFoldLimitForTests(undefined);
  }
}

/** The natural grid a tile-folding kernel carries in its last three uniforms (tileUniforms). */
function tilesOf(p: Program): Grid {
  const u = p.uniforms!.slice(-3).map(([, v]) => v);
  return [u[0], u[1], u[2]];
}

/** `p`'s natural grid is over `limit` in some dimension and its launch grid within it everywhere. */
function assertFolds(p: Program, limit: number, natural: Grid = tilesOf(p)): void {
  assert.ok(Math.max(...natural) > limit, `${p.name}: natural grid [${natural}] must pass the limit ${limit} for the case to test folding`);
  assert.ok(p.grid.every((d) => d <= limit), `${p.name}: launch grid [${p.grid}] within ${limit}`);
  assert.ok(p.grid[0] * p.grid[1] * p.grid[2] >= natural[0] * natural[1] * natural[2], `${p.name}: grid [${p.grid}] covers [${natural}]`);
}

/** Reads tensors back and disposes of them. */
async function readAll(ts: Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) {
    out.push(await t.toArray());
    t.dispose();
  }
  return out;
}

/** `make` unfolded and folded at `limit`: bit-identical results, returned (the folded ones). */
async function sameFolded(what: string, limit: number, make: () => Tensor[]): Promise<Float32Array[]> {
  const plain = await readAll(tidy(make));
  const fold = await readAll(folded(limit, () => tidy(make)));
  assert.is(fold.length, plain.length);
  fold.forEach((f, i) => {
    for (let j = 0; j < f.length; j++) {
      if (!Object.is(f[j], plain[i][j])) assert.unreachable(`${what}: output ${i} element ${j} is ${f[j]} folded, ${plain[i][j]} unfolded`);
    }
  });
  return fold;
}

// ------------------------------------------------------------------ the fold itself

// What FOLDED_WORKGROUP_WGSL computes, in TypeScript: which tile each launched workgroup takes.
function tilesVisited(tiles: Grid, grid: Grid): number[] {
  const total = tiles[0] * tiles[1] * tiles[2];
  const seen = new Array<number>(total).fill(0);
  for (let z = 0; z < grid[2]; z++) {
    for (let y = 0; y < grid[1]; y++) {
      for (let x = 0; x < grid[0]; x++) {
        const i = x + grid[0] * (y + grid[1] * z);
        if (i >= total) continue; // past the last tile: the kernel returns
        const t = [i % tiles[0], Math.floor(i / tiles[0]) % tiles[1], Math.floor(i / (tiles[0] * tiles[1]))];
        assert.ok(t[0] < tiles[0] && t[1] < tiles[1] && t[2] < tiles[2]);
        seen[t[0] + tiles[0] * (t[1] + tiles[1] * t[2])]++;
      }
    }
  }
  return seen;
}

test('foldGrid: unchanged within the limit; past it, every tile exactly once in dimensions within the limit', () => {
  assert.equal(foldGrid([65535, 65535, 3]), [65535, 65535, 3], 'within the limit: the natural grid itself');
  assert.equal(linearGrid(70000, 256), [274, 1, 1]);
  for (const tiles of [[70000, 1, 1], [1, 1, 70001], [3, 65536, 2], [65536, 65536, 1]] as Grid[]) {
    const g = foldGrid(tiles);
    assert.ok(g.every((d) => d <= MAX_WORKGROUPS_PER_DIM), `[${tiles}] → [${g}]`);
    const total = tiles[0] * tiles[1] * tiles[2];
    assert.ok(g[0] * g[1] * g[2] >= total && g[0] * g[1] * g[2] - total < g[0] * g[1], `[${tiles}] → [${g}]: a few workgroups too many at most`);
  }
  for (const limit of [2, 3, 5, 7]) {
    folded(limit, () => {
      assert.is(gridFoldLimit(), limit);
      for (const tiles of [[1, 1, 1], [7, 1, 1], [3, 5, 2], [1, 1, 9], [33, 1, 1], [2, 9, 7], [1, 65, 1]] as Grid[]) {
        const total = tiles[0] * tiles[1] * tiles[2];
        if (total > limit ** 3) {
          assert.throws(() => foldGrid(tiles), /do not fit/);
          continue;
        }
        const g = foldGrid(tiles);
        assert.ok(g.every((d) => d <= limit), `limit ${limit}: [${tiles}] → [${g}]`);
        assert.equal(tilesVisited(tiles, g), new Array(total).fill(1), `limit ${limit}: [${tiles}] → [${g}] visits every tile once`);
      }
    });
  }
  assert.is(gridFoldLimit(), MAX_WORKGROUPS_PER_DIM, 'restored');
  for (const bad of [1, 0, 2.5, 65536]) assert.throws(() => setGridFoldLimitForTests(bad), RangeError);
});

test('dispatch: a grid over the limit is an internal error naming the kernel, raised before any GPU work', () => {
  const out = tensor([0, 0, 0, 0], [4]);
  const program = (grid: Grid): Program => ({
    name: 'test.unfolded', inputs: 0, outputs: 1, grid,
    wgsl: '@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() { o[0] = 1.0; }',
  });
  const before = dispatchesSoFar();
  const isBug = (e: unknown) => e instanceof KernelError && /internal error/.test(e.message) && e.message.includes('"test.unfolded"') && /foldGrid/.test(e.message);
  assert.throws(() => run(program([MAX_WORKGROUPS_PER_DIM + 1, 1, 1]), [], [out.gpu]), isBug);
  assert.throws(() => folded(4, () => run(program([1, 5, 1]), [], [out.gpu])), isBug, 'checked against a lowered fold limit too');
  assert.is(dispatchesSoFar(), before);
  out.dispose();
});

// ------------------------------------------------------------------ matmul

const MATMUL_LIMIT = 5;

test('matmul: every rung folds (batch 7, m 65, n 7, k 33; vec4 on batch 6, m 33, n 12, k 8), bit-identical to unfolded, vs float64', async () => {
  const cases: { batch: number; m: number; n: number; k: number; tA: boolean; tB: boolean; aBatch: number }[] = [
    { batch: 7, m: 65, n: 7, k: 33, tA: false, tB: false, aBatch: 7 },
    { batch: 7, m: 65, n: 7, k: 33, tA: true, tB: true, aBatch: 1 }, // A broadcast over B's batch
    { batch: 6, m: 33, n: 12, k: 8, tA: false, tB: true, aBatch: 6 },
  ];
  for (const c of cases) {
    const s = shapeOf(c.m, c.n, c.k, c.tA, c.tB, c.batch, c.aBatch, c.batch);
    const aShape = [...(c.aBatch > 1 ? [c.aBatch] : []), ...(c.tA ? [c.k, c.m] : [c.m, c.k])];
    const bShape = [c.batch, ...(c.tB ? [c.n, c.k] : [c.k, c.n])];
    const a = f32(randomArray(aShape, c.m + c.k));
    const b = f32(randomArray(bShape, c.n + c.k + 1));
    const expected = matmulReference(a, b, s);
    const variants = MATMUL_VARIANTS.filter((v) => v !== 'vec4' || vec4Fits(s));
    if (vec4Fits(s)) assert.ok(variants.includes('vec4'));
    for (const variant of variants) {
      const what = `matmul.${variant} batch ${c.batch} m ${c.m} n ${c.n} k ${c.k}${c.tA ? ' Aᵀ' : ''}${c.tB ? ' Bᵀ' : ''}`;
      folded(MATMUL_LIMIT, () => assertFolds(matmulProgram(s, undefined, variant), MATMUL_LIMIT));
      const [y] = await sameFolded(what, MATMUL_LIMIT, () => [matmulRaw(tensor(a, aShape), tensor(b, bShape), { transA: c.tA, transB: c.tB, variant })]);
      assertClose(y, expected, what, 1e-4, 1e-4);
    }
  }
});

test('matmul: a real grid of 70,001 workgroups (a batch of 1×1 products) in naive and direct', async () => {
  const batch = 70001;
  const s = shapeOf(1, 1, 1, false, false, batch);
  const a = f32(randomArray([batch, 1, 1], 5));
  const b = f32(randomArray([batch, 1, 1], 6));
  const expected = matmulReference(a, b, s);
  for (const variant of ['naive', 'direct'] as MatmulVariant[]) {
    const p = matmulProgram(s, undefined, variant);
    assertFolds(p, MAX_WORKGROUPS_PER_DIM);
    const [y] = await readAll(tidy(() => [matmulRaw(tensor(a, [batch, 1, 1]), tensor(b, [batch, 1, 1]), { variant })]));
    assertClose(y, expected, `matmul.${variant} batch ${batch}`, 1e-6, 1e-6);
  }
});

// ------------------------------------------------------------------ convolution

const CONV_LIMIT = 4;
const EPILOGUE = { hasBias: true, activation: 'leakyRelu', alpha: 0.3 } as const;

interface ConvData { g: ConvGeometry; x: Float64Array; w: Float64Array; bias: Float64Array; dy: Float64Array; xShape: number[]; wShape: number[]; dyShape: number[] }

function convData(xShape: number[], wShape: number[], stride: number, seed: number): ConvData {
  const g = conv2dGeometry(xShape, wShape, stride, 'same');
  const dyShape = [g.batch, g.outH, g.outW, g.outC];
  return {
    g, xShape, wShape, dyShape,
    x: f32(randomArray(xShape, seed)), w: f32(randomArray(wShape, seed + 1)),
    bias: f32(randomArray([g.outC], seed + 2)), dy: f32(randomArray(dyShape, seed + 3)),
  };
}

test('conv2d: naive, direct, blocked and subgroup fold every pass (awkward 13×15 and 9×7 images, stride 3: 9 phases), bit-identical to unfolded, vs float64', async () => {
  // Each pass on a shape whose natural grid passes CONV_LIMIT: forward by its rows (x), the
  // input-gradient by its 9 stride phases (z), the weight-gradient by its split-K slices (z).
  const wide = convData([4, 13, 15, 5], [3, 3, 5, 17], 1, 10);
  const small = convData([2, 9, 7, 5], [3, 3, 5, 3], 1, 20); // naive: one invocation per output
  const strided = convData([2, 13, 15, 5], [4, 4, 5, 17], 3, 30);
  const variants: ConvVariant[] = ['naive', 'direct', 'blocked', ...(getGpu().info.hasSubgroups ? ['subgroup' as const] : [])];
  if (!getGpu().info.hasSubgroups) console.log('  (subgroup skipped: this device has no subgroups)');
  for (const variant of variants) {
    const fwd = variant === 'naive' ? small : wide;
    const what = (pass: string, d: ConvData) => `conv2d ${pass} ${variant} x[${d.xShape}] w[${d.wShape}] s${d.g.strideH}`;
    folded(CONV_LIMIT, () => assertFolds(conv2dProgram(fwd.g, EPILOGUE, variant), CONV_LIMIT));
    const [y] = await sameFolded(what('forward', fwd), CONV_LIMIT, () => [conv2dRaw(tensor(fwd.x, fwd.xShape), tensor(fwd.w, fwd.wShape), fwd.g, EPILOGUE, tensor(fwd.bias, [fwd.g.outC]), variant)]);
    assertClose(y, conv2dReference(fwd.x, fwd.w, fwd.g, fwd.bias, 'leakyRelu', 0.3), what('forward', fwd), 1e-4, 1e-4);

    const d = strided;
    folded(CONV_LIMIT, () => assertFolds(conv2dInputGradProgram(d.g, undefined, variant), CONV_LIMIT));
    const [dx] = await sameFolded(what('input-gradient', d), CONV_LIMIT, () => [conv2dInputGradRaw(tensor(d.dy, d.dyShape), tensor(d.w, d.wShape), d.g, variant)]);
    assertClose(dx, conv2dInputGradReference(d.dy, d.w, d.g), what('input-gradient', d), 1e-4, 1e-4);

    const kernel: ConvKernel = { variant, splits: variant === 'naive' ? 2 : 7 };
    folded(CONV_LIMIT, () => assertFolds(conv2dWeightGradProgram(d.g, kernel.splits!, kernel), CONV_LIMIT));
    const [dw] = await sameFolded(what('weight-gradient', d), CONV_LIMIT, () => [conv2dWeightGradRaw(tensor(d.x, d.xShape), tensor(d.dy, d.dyShape), d.g, kernel)]);
    assertClose(dw, conv2dWeightGradReference(d.x, d.dy, d.g), what('weight-gradient', d), 1e-4, 1e-4);
  }
});

test('conv2d: winograd folds its transforms and its α² batched matmuls, bit-identical to unfolded, vs float64', async () => {
  const limit = 5;
  const d = convData([2, 9, 7, 17], [3, 3, 17, 3], 1, 40);
  folded(limit, () => assertFolds(winogradPrograms('forward', d.g, EPILOGUE, 'conv2d').chunks[0].input, limit, [Math.ceil((2 * 5 * 4 * 17) / 64), 1, 1]));
  const [y, dx] = await sameFolded('winograd', limit, () => [
    winogradRaw('conv2d', d.g, EPILOGUE, tensor(d.x, d.xShape), tensor(d.w, d.wShape), tensor(d.bias, [d.g.outC])),
    conv2dInputGradRaw(tensor(d.dy, d.dyShape), tensor(d.w, d.wShape), d.g, 'winograd'),
  ]);
  assertClose(y, conv2dReference(d.x, d.w, d.g, d.bias, 'leakyRelu', 0.3), 'winograd forward', 1e-4, 4e-6 * 9 * 17 + 1e-5);
  assertClose(dx, conv2dInputGradReference(d.dy, d.w, d.g), 'winograd input-gradient', 1e-4, 4e-6 * 9 * 3 + 1e-5);
});

test('conv2dTranspose folds (stride 3: 9 phases over a limit of 4), vs float64', async () => {
  const g = conv2dTransposeGeometry([2, 5, 5, 5], [4, 4, 3, 5], 3, 'same');
  folded(CONV_LIMIT, () => assertFolds(conv2dTransposeProgram(g, undefined, 'direct'), CONV_LIMIT));
  // checkTransposeCase launches its kernels before its first await, so all of them under the limit.
  await folded(CONV_LIMIT, () => checkTransposeCase({ batch: 2, h: 5, w: 5, inC: 5, outC: 3, k: 4, s: 3, padding: 'same' }, 50, { activation: 'tanh', bias: true }));
});

// ------------------------------------------------------------------ batch normalisation

test('batchNorm: statistics over 5 chunks and per-channel kernels over 200 channels fold, bit-identical to unfolded, vs float64', async () => {
  const limit = 3;
  const eps = 1e-3;
  const shape = [5, 15, 14, 3]; // 1050 rows: 5 chunks of 256
  const rows = 1050;
  const x = f32(randomArray(shape, 60, -2, 3));
  const gamma = f32(randomArray([3], 61, 0.5, 1.5));
  const beta = f32(randomArray([3], 62));
  const dy = f32(randomArray(shape, 63));
  folded(limit, () => assertFolds(bnPartialStatsProgram({ rows, channels: 3 }), limit));
  const [y, dx, dg, db] = await sameFolded('batchNorm train', limit, () => {
    const xt = tensor(x, shape, { requiresGrad: true });
    const gt = tensor(gamma, [3], { requiresGrad: true });
    const bt = tensor(beta, [3], { requiresGrad: true });
    const out = batchNorm(xt, gt, bt, { training: true, epsilon: eps });
    out.backward(tensor(dy, shape));
    return [out, xt.grad!, gt.grad!, bt.grad!];
  });
  const ref = batchNormReference(x, gamma, beta, { rows, channels: 3 }, eps);
  const grad = batchNormGradReference(x, gamma, dy, { rows, channels: 3 }, eps);
  assertClose(y, ref.y, 'batchNorm forward', 1e-4, 1e-4);
  assertClose(dx, grad.dx, 'batchNorm dx', 1e-4, 1e-4);
  assertClose(dg, grad.dGamma, 'batchNorm dgamma', 1e-4, 1e-4);
  assertClose(db, grad.dBeta, 'batchNorm dbeta', 1e-4, 1e-4);

  const C = 200;
  const xe = f32(randomArray([3, C], 64));
  const ge = f32(randomArray([C], 65, 0.5, 1.5));
  const be = f32(randomArray([C], 66));
  const rm = f32(randomArray([C], 67));
  const rv = f32(randomArray([C], 68, 0.5, 2));
  folded(limit, () => assertFolds(bnRunningStatsProgram({ rows: 3, channels: C }, eps), limit));
  const [ye] = await sameFolded('batchNorm eval', limit, () => [
    batchNorm(tensor(xe, [3, C]), tensor(ge, [C]), tensor(be, [C]), { training: false, runningMean: tensor(rm, [C]), runningVar: tensor(rv, [C]), epsilon: eps }),
  ]);
  assertClose(ye, batchNormEvalReference(xe, ge, be, rm, rv, C, eps), 'batchNorm eval', 1e-5, 1e-5);
});

// ------------------------------------------------------------------ the line-of-workgroups kernels

test('elementwise, reduce, softmax, permute, dropout, random and Adam fold their lines of workgroups into 3-D, bit-identical to unfolded, vs float64', async () => {
  const limit = 2; // at most 8 workgroups: each launch below has 3 to 8, so it folds into z too
  const x = f32(randomArray([7, 33, 13], 70)); // 3003 elements: the scalar kernels
  const x4 = f32(randomArray([3000], 71)); // the vec4 ones
  const bias = f32(randomArray([13], 72));
  const wide = f32(randomArray([33, 300], 75));
  const [relu, tanh4, add, rows, cols, sm, perm] = await sameFolded('line kernels', limit, () => {
    const xt = tensor(x, [7, 33, 13]);
    return [
      unaryRaw('relu', xt),
      unaryRaw('tanh', tensor(x4, [3000])),
      binaryRaw('add', xt, tensor(bias, [13])),
      sum(tensor(x.subarray(0, 7 * 33), [7, 33]), 1),
      sum(tensor(wide, [33, 300]), 0),
      softmax(tensor(x.subarray(0, 7 * 33), [7, 33])),
      permute(tensor(x.subarray(0, 3 * 33 * 7), [3, 33, 7]), [2, 0, 1]),
    ];
  });
  assertClose(relu, unaryReference('relu', x), 'relu');
  assertClose(tanh4, unaryReference('tanh', x4), 'tanh (vec4)');
  assertClose(add, binaryReference('add', x, [7, 33, 13], bias, [13], [7, 33, 13]), 'bias add');
  assertClose(rows, reduceReference('sum', x, 7, 33, 1), 'row sums', 1e-5, 1e-5);
  assertClose(cols, reduceReference('sum', wide, 1, 33, 300), 'column sums', 1e-5, 1e-5);
  assertClose(sm, softmaxReference('softmax', x, 7, 33), 'softmax');
  assertClose(perm, permuteReference(x.subarray(0, 3 * 33 * 7), [3, 33, 7], [2, 0, 1]), 'permute', 0, 0);
  // Random numbers and masks are functions of (seed, index): the same folded or not.
  await sameFolded('random', limit, () => {
    manualSeed(7);
    return [rand([1500]), dropout(tensor(x.subarray(0, 1500), [1500]), 0.3, { seed: 11, step: 2 })];
  });
  const p = f32(randomArray([1500], 73));
  const g = f32(randomArray([1500], 74));
  await sameFolded('adam', limit, () => {
    const pt = tensor(p, [1500]);
    const m = tensor(new Float32Array(1500), [1500]);
    const v = tensor(new Float32Array(1500), [1500]);
    adamStep(pt, tensor(g, [1500]), m, v, { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 1 });
    return [pt, m, v];
  });
});

// ------------------------------------------------------------------ binding limits

test('an output past the largest storage binding is refused before any GPU work, naming the limit', () => {
  const limit = getGpu().limits.maxStorageBufferBindingSize;
  const refused = (e: unknown) => e instanceof RangeError && /maxStorageBufferBindingSize/.test(e.message) && e.message.includes(String(limit));
  // An outer product [m, 1] · [1, n] whose m·n floats exceed the binding; its inputs are tiny.
  const side = Math.ceil(Math.sqrt(limit / 4)) + 1;
  const a = tensor(new Float32Array(side), [side, 1]);
  const b = tensor(new Float32Array(side), [1, side]);
  // A 1×1 convolution of a 64×64 image to more channels than the binding holds outputs for.
  const channels = Math.floor(limit / 4 / 4096) + 1;
  const x = tensor(new Float32Array(4096), [1, 64, 64, 1]);
  const w = tensor(new Float32Array(channels), [1, 1, 1, channels]);
  const g = conv2dGeometry([1, 64, 64, 1], [1, 1, 1, channels], 1, 'valid');
  const before = dispatchesSoFar();
  assert.throws(() => matmulRaw(a, b, { variant: 'direct' }), refused);
  assert.throws(() => conv2dRaw(x, w, g, undefined, undefined, 'direct'), refused);
  assert.is(dispatchesSoFar(), before, 'nothing was dispatched');
  for (const t of [a, b, x, w]) t.dispose();
});

test.run();
