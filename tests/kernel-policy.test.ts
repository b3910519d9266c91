// The kernel policy (src/core/kernel-policy.ts), the one place that decides which variant an op
// runs: 'auto' per adapter kind and shape, a variant asked for by name kept (or refused with the
// reason), and the ops following it in every pass.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray } from './helpers.ts';
import { tensor } from '../src/core/creation.ts';
import { getGpu } from '../src/core/device.ts';
import { conv2d } from '../src/core/conv-ops.ts';
import { autoMatmulVariant, convVariantFor, getConvVariant, matmulVariantFor, setConvVariant, subgroupLanes, type ConvPass } from '../src/core/kernel-policy.ts';
import { conv2dGeometry } from '../src/kernels/conv/geometry.ts';
import { conv2dProgram, conv2dInputGradProgram, conv2dWeightGradProgram, weightGradSplits, CONV_VARIANTS } from '../src/kernels/conv/conv2d.ts';
import { MATMUL_VARIANTS, type MatmulShape } from '../src/kernels/matmul.ts';

test.before(async () => {
  await ready;
});

function shapeOf(m: number, n: number, k: number): MatmulShape {
  return { batch: 1, m, n, k, transA: false, transB: false, aBatchStride: 0, bBatchStride: 0 };
}

const PASSES: ConvPass[] = ['forward', 'inputGrad', 'weightGrad'];

function programFor(pass: ConvPass, g: ReturnType<typeof conv2dGeometry>, variant: (typeof CONV_VARIANTS)[number]) {
  if (pass === 'forward') return conv2dProgram(g, undefined, variant);
  if (pass === 'inputGrad') return conv2dInputGradProgram(g, undefined, variant);
  return conv2dWeightGradProgram(g, weightGradSplits(g, variant), variant);
}

test("matmul 'auto': v5 direct on a CPU adapter; on a GPU v4, v3 off the multiple-of-4 rule, v1 when skinny", () => {
  assert.is(autoMatmulVariant(shapeOf(128, 256, 784), 'cpu'), 'direct');
  assert.is(autoMatmulVariant(shapeOf(256, 1, 6272), 'cpu'), 'direct');
  assert.is(autoMatmulVariant(shapeOf(128, 256, 784), 'gpu'), 'vec4');
  assert.is(autoMatmulVariant(shapeOf(65, 33, 130), 'gpu'), 'blocked');
  assert.is(autoMatmulVariant(shapeOf(256, 1, 6272), 'gpu'), 'naive');
  assert.is(autoMatmulVariant(shapeOf(128, 3136, 2), 'gpu'), 'naive');
  // This adapter is llvmpipe: 'auto' is direct here.
  assert.is(matmulVariantFor(shapeOf(65, 33, 130)), getGpu().info.isSoftware ? 'direct' : autoMatmulVariant(shapeOf(65, 33, 130), 'gpu'));
});

test('a matmul variant named is the variant run, whatever the shape', () => {
  for (const v of MATMUL_VARIANTS) for (const s of [shapeOf(65, 33, 130), shapeOf(1, 1, 1), shapeOf(256, 256, 256)]) assert.is(matmulVariantFor(s, v), v);
  assert.throws(() => matmulVariantFor(shapeOf(4, 4, 4), 'fastest' as 'naive'), /'fastest' is not one of/);
});

test("conv 'auto': window for forward and input-gradient, subgroup where sharing pays, direct elsewhere; never blocked", () => {
  const info = getGpu().info;
  const wide = conv2dGeometry([16, 14, 14, 32], [3, 3, 32, 64], 2, 'same'); // 784 output rows, 64 channels
  const narrow = conv2dGeometry([2, 14, 14, 32], [3, 3, 32, 1], 1, 'same'); // one output channel
  const short = conv2dGeometry([1, 7, 7, 32], [3, 3, 32, 64], 1, 'same'); // 7 image rows: one row block each, 7 padded to 64
  for (const pass of PASSES) for (const g of [wide, narrow]) assert.is.not(convVariantFor(pass, g, 'auto'), 'blocked');
  if (info.hasSubgroups && subgroupLanes() >= 8) {
    assert.is(convVariantFor('forward', wide, 'auto'), 'window');
    assert.is(convVariantFor('inputGrad', wide, 'auto'), 'window');
    assert.is(convVariantFor('weightGrad', wide, 'auto'), 'subgroup', 'window has no weight-gradient of its own');
    assert.is(convVariantFor('forward', narrow, 'auto'), 'window', 'a 1-channel output still reads each input once per window');
    assert.is(convVariantFor('weightGrad', narrow, 'auto'), 'direct', 'a 1-channel output has nothing to share');
    assert.is(convVariantFor('forward', short, 'auto'), 'direct', 'rows padded to whole workgroups more than double: neither window nor subgroup');
  }
  const had = info.hasSubgroups;
  try {
    info.hasSubgroups = false;
    for (const pass of PASSES) for (const g of [wide, narrow]) assert.is(convVariantFor(pass, g, 'auto'), 'direct');
  } finally {
    info.hasSubgroups = had;
  }
});

test('a conv variant named runs as named in every pass, where it pays or not; one the device lacks is refused with the reason', () => {
  const info = getGpu().info;
  const narrow = conv2dGeometry([1, 5, 5, 3], [3, 3, 3, 2], 1, 'same');
  const named = info.hasSubgroups ? CONV_VARIANTS : CONV_VARIANTS.filter((v) => v !== 'subgroup' && v !== 'window');
  for (const v of named) {
    for (const pass of PASSES) {
      assert.is(convVariantFor(pass, narrow, v), v);
      // winograd and window have no weight-gradient of their own: direct's and subgroup's run, and the name says so.
      const runs = pass !== 'weightGrad' ? v : v === 'winograd' ? 'direct' : v === 'window' ? 'subgroup' : v;
      assert.ok(programFor(pass, narrow, v).name.endsWith(`.${runs}`), `${pass} asked for ${v} ran ${programFor(pass, narrow, v).name}`);
    }
  }
  const had = info.hasSubgroups;
  try {
    info.hasSubgroups = false;
    assert.throws(() => setConvVariant('subgroup'), /needs WebGPU's 'subgroups' feature/);
    assert.throws(() => setConvVariant('window'), /variant 'window' needs WebGPU's 'subgroups' feature/);
    const x = tensor(randomArray([1, 3, 3, 1], 1), [1, 3, 3, 1]);
    const w = tensor(randomArray([1, 1, 1, 1], 2), [1, 1, 1, 1]);
    assert.throws(() => conv2d(x, w, { variant: 'subgroup' }), /conv2d: variant 'subgroup' needs WebGPU's 'subgroups'/);
    assert.throws(() => conv2d(x, w, { variant: 'tiled' as 'direct' }), /conv2d: variant 'tiled' is not one of/);
    x.dispose();
    w.dispose();
  } finally {
    info.hasSubgroups = had;
  }
});

test("setConvVariant makes every convolution run one variant; 'auto' restores the policy", () => {
  assert.is(getConvVariant(), 'auto');
  const g = conv2dGeometry([2, 14, 14, 32], [3, 3, 32, 64], 2, 'same');
  try {
    setConvVariant('naive');
    assert.is(getConvVariant(), 'naive');
    for (const pass of PASSES) assert.is(convVariantFor(pass, g), 'naive');
  } finally {
    setConvVariant('auto');
  }
  assert.is(getConvVariant(), 'auto');
  for (const pass of PASSES) assert.ok(['direct', 'subgroup', 'window'].includes(String(convVariantFor(pass, g))));
});

test.run();
