import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, randomArray, assertClose, f32, gradCheck } from './helpers.ts';
import { ATOL, RTOL, checkConvCase, geometryOf, programNames, type ConvCase } from './conv-checks.ts';
import { tensor } from '../src/core/creation.ts';
import { tidy } from '../src/core/scope.ts';
import { dispatchesSoFar } from '../src/core/dispatch.ts';
import { conv2d, conv2dWeightGradRaw } from '../src/core/conv-ops.ts';
import { convVariantFor } from '../src/core/kernel-policy.ts';
import { getGpu } from '../src/core/device.ts';
import { conv2dReference, conv2dWeightGradReference, weightGradSplits, type ConvVariant, type ConvPass } from '../src/kernels/conv/conv2d.ts';
import { subgroupPays } from '../src/kernels/conv/conv2d-subgroup.ts';
import { BLOCKED_MIN_COLUMNS } from '../src/kernels/conv/conv2d-blocked.ts';
import { conv2dGeometry, convAxis, type Padding } from '../src/kernels/conv/geometry.ts';
import { ACTIVATIONS } from '../src/kernels/activation.ts';

test.before(async () => {
  await ready;
});

const PADDINGS: Padding[] = ['same', 'valid'];
const STRIDES = [1, 2, 3];
const KERNELS = [1, 3, 4, 5, 7];

test('TensorFlow padding rule: out = ceil(in/s), smaller half of the padding before', () => {
  // tf.nn.conv2d 'same': in 7, k 4, s 2 → out 4, total pad (4−1)·2 + 4 − 7 = 3: 1 before, 2 after.
  assert.equal(convAxis(7, 4, 2, 'same'), { out: 4, padBefore: 1 });
  assert.equal(convAxis(28, 5, 2, 'same'), { out: 14, padBefore: 1 });
  assert.equal(convAxis(28, 3, 2, 'same'), { out: 14, padBefore: 0 });
  assert.equal(convAxis(9, 3, 3, 'same'), { out: 3, padBefore: 0 });
  assert.equal(convAxis(9, 7, 1, 'valid'), { out: 3, padBefore: 0 });
  assert.equal(convAxis(9, 4, 3, 'valid'), { out: 2, padBefore: 0 });
});

// Every kernel size × stride × padding on a 9×7 image, with channel counts that are not
// multiples of 4 (and 1), batch 1 and 2, cycling so that each appears with several kernels.
// (Few distinct channel counts: each block shape is its own pipeline, and llvmpipe takes a
// second or two to compile one.)
function allCases(): ConvCase[] {
  const inCs = [1, 5];
  const outCs = [3, 10, 1];
  const cases: ConvCase[] = [];
  let i = 0;
  for (const k of KERNELS) {
    for (const s of STRIDES) {
      for (const padding of PADDINGS) {
        cases.push({ batch: 1 + (i % 2), h: 9, w: 7, inC: inCs[i % inCs.length], outC: outCs[i % outCs.length], k, s, padding });
        i++;
      }
    }
  }
  return cases;
}

const PASSES: ConvPass[] = ['forward', 'inputGrad', 'weightGrad'];

test('direct: forward (bias + leakyRelu), input- and weight-gradient vs references, every kernel × stride × padding', async () => {
  let seed = 10;
  for (const c of allCases()) await checkConvCase(c, 'direct', seed++);
});

// The subgroup variant is direct with the column operand loaded once per subgroup and broadcast;
// its blocks are laid out differently (a workgroup shares one column block, rows padded to whole
// workgroups). These cases are sized for the shapes where it pays (subgroupPays: ≥ 8 columns,
// padding at most doubling the rows), the ones the kernel policy runs it on — every kernel size
// and stride, both paddings, partial column blocks, rows that end mid-workgroup. Devices without
// subgroups skip it.
const SUBGROUP_CASES: ConvCase[] = [
  { batch: 6, h: 9, w: 7, inC: 33, outC: 10, k: 3, s: 1, padding: 'same' },
  { batch: 10, h: 13, w: 11, inC: 17, outC: 20, k: 5, s: 2, padding: 'same' },
  { batch: 9, h: 9, w: 7, inC: 270, outC: 9, k: 1, s: 1, padding: 'valid' },
  { batch: 12, h: 16, w: 15, inC: 29, outC: 12, k: 4, s: 3, padding: 'same' },
  { batch: 10, h: 11, w: 12, inC: 11, outC: 33, k: 7, s: 1, padding: 'valid' },
  { batch: 20, h: 10, w: 9, inC: 35, outC: 16, k: 3, s: 2, padding: 'valid' },
  { batch: 3, h: 28, w: 28, inC: 12, outC: 65, k: 5, s: 1, padding: 'same' },
];

test('subgroup: forward, input- and weight-gradient vs references, every kernel size and stride, both paddings', async () => {
  if (!getGpu().info.hasSubgroups) {
    console.log('  (skipped: this device has no subgroups)');
    return;
  }
  let seed = 400;
  for (const c of SUBGROUP_CASES) {
    const g = geometryOf(c);
    assert.ok(subgroupPays('forward', g) || subgroupPays('inputGrad', g) || subgroupPays('weightGrad', g), `${JSON.stringify(c)}: sized for the paying layout`);
    await checkConvCase(c, 'subgroup', seed++);
  }
});

// Where sharing does not pay (fewer than 8 columns, or rows padded to more than twice their
// blocks: narrow blocks, short launches that are mostly padding rows) 'auto' never runs subgroup,
// but a caller may name it, and then it runs as named: slower than direct, and still right.
test('subgroup where it does not pay: narrow and short layers, every pass, vs references', async () => {
  if (!getGpu().info.hasSubgroups) {
    console.log('  (skipped: this device has no subgroups)');
    return;
  }
  let seed = 450;
  for (const c of allCases().filter((_, i) => i % 5 === 2)) {
    const g = geometryOf(c);
    for (const pass of PASSES) assert.not.ok(subgroupPays(pass, g), `${JSON.stringify(c)} ${pass}: the case must be one where subgroup does not pay`);
    await checkConvCase(c, 'subgroup', seed++);
  }
});

test('subgroupPays: at least 8 columns, and rows padded to whole workgroups at most doubling the work; the builders run subgroup either way', () => {
  const pays = (x: number[], w: number[]) => {
    const g = conv2dGeometry(x, w, 2, 'same');
    assert.ok(programNames(g, 'subgroup').every((n) => n.endsWith('.subgroup')));
    return { fwd: subgroupPays('forward', g), dw: subgroupPays('weightGrad', g) };
  };
  // 1 input channel: the weight-gradient has 25 rows (4 blocks of 8, padded to 64).
  assert.equal(pays([4, 28, 28, 1], [5, 5, 1, 64]), { fwd: true, dw: false });
  // 1 output channel: nothing to share across columns.
  assert.equal(pays([4, 14, 14, 64], [5, 5, 64, 1]), { fwd: false, dw: false });
  // Forward 16·7·7 = 784 rows (98 blocks, padded to 128); weight-gradient 25·64 = 1,600 rows (200, padded to 256).
  assert.equal(pays([16, 14, 14, 64], [5, 5, 64, 128]), { fwd: true, dw: true });
  // … but batch 4: 196 rows, 25 blocks padded to 64.
  assert.equal(pays([4, 14, 14, 64], [5, 5, 64, 128]).fwd, false);
  // The input-gradient's columns are the input channels: 1 of them, nothing to share.
  assert.not.ok(subgroupPays('inputGrad', conv2dGeometry([16, 14, 14, 1], [5, 5, 1, 64], 2, 'same')));
});

test('every fused activation', async () => {
  for (const activation of ACTIVATIONS) await checkConvCase({ batch: 2, h: 9, w: 7, inC: 5, outC: 3, k: 3, s: 2, padding: 'same' }, 'direct', 50, activation);
});

test('naive and blocked variants agree with the references', async () => {
  let seed = 100;
  for (const c of allCases().filter((_, i) => i % 7 === 0)) await checkConvCase(c, 'naive', seed++);
  // Blocked on layers wide enough for its 64-wide tiles to be more than padding …
  const wide: [number, number, Padding][] = [[3, 1, 'same'], [4, 2, 'same'], [5, 3, 'valid'], [1, 2, 'valid'], [7, 1, 'same'], [4, 3, 'same']];
  for (const [k, s, padding] of wide) await checkConvCase({ batch: 2, h: 9, w: 7, inC: 17, outC: 20, k, s, padding }, 'blocked', seed++);
  // … and on narrow ones (under BLOCKED_MIN_COLUMNS channels), where it is slow but must be right.
  for (const c of allCases().filter((_, i) => i % 7 === 3)) {
    assert.ok(Math.max(c.inC, c.outC) < BLOCKED_MIN_COLUMNS, `${JSON.stringify(c)}: a narrow layer`);
    await checkConvCase(c, 'blocked', seed++);
  }
});

test('wider layers: channels past the 8×8 blocks and 64-wide tiles, non-square stride', async () => {
  const variants: ConvVariant[] = getGpu().info.hasSubgroups ? ['direct', 'subgroup', 'blocked'] : ['direct', 'blocked'];
  for (const variant of variants) {
    await checkConvCase({ batch: 2, h: 6, w: 5, inC: 13, outC: 70, k: 3, s: 2, padding: 'same' }, variant, 200);
    await checkConvCase({ batch: 1, h: 5, w: 9, inC: 65, outC: 3, k: 4, s: 1, padding: 'valid' }, variant, 201);
  }
  const xShape = [2, 9, 7, 3];
  const wShape = [3, 5, 3, 4];
  const g = conv2dGeometry(xShape, wShape, [2, 3], 'same');
  const x = f32(randomArray(xShape, 5));
  const w = f32(randomArray(wShape, 6));
  const y = conv2d(tensor(x, xShape), tensor(w, wShape), { stride: [2, 3], padding: 'same' });
  assert.equal([...y.shape], [2, 5, 3, 4]);
  assertClose(await y.toArray(), conv2dReference(x, w, g), 'conv2d 3×5 kernel, strides [2, 3]', RTOL, ATOL);
});

test('weight-gradient split over many slices sums them exactly once', async () => {
  // A long reduction (batch 6 × 16×16 pixels) over a tiny weight: many split-K slices.
  const xShape = [6, 16, 16, 1];
  const wShape = [3, 3, 1, 2];
  const g = conv2dGeometry(xShape, wShape, 1, 'same');
  assert.ok(weightGradSplits(g, convVariantFor('weightGrad', g)) > 1, 'expected several slices');
  const x = f32(randomArray(xShape, 1));
  const dy = f32(randomArray([6, 16, 16, 2], 2));
  const dw = tidy(() => conv2dWeightGradRaw(tensor(x, xShape), tensor(dy, [6, 16, 16, 2]), g));
  assertClose(await dw.toArray(), conv2dWeightGradReference(x, dy, g), 'split-K weight-gradient', RTOL, ATOL);
  dw.dispose();
});

test('gradient check: input, weights and bias in every padding × stride', async () => {
  let seed = 300;
  for (const padding of PADDINGS) {
    for (const s of STRIDES) {
      const xShape = [2, 7, 6, 2];
      const wShape = [3, 3, 2, 3];
      const g = conv2dGeometry(xShape, wShape, s, padding);
      const activation = s === 2 ? 'tanh' : 'linear';
      await gradCheck(`conv2d s${s} ${padding} ${activation}`, (x, w, b) => conv2d(x, w, { stride: s, padding, bias: b, activation }), [
        { data: randomArray(xShape, seed++), shape: xShape },
        { data: randomArray(wShape, seed++), shape: wShape },
        { data: randomArray([3], seed++), shape: [3] },
      ], { reference: (x, w, b) => conv2dReference(x, w, g, b, activation) });
    }
  }
});

test('gradient check: 4×4 kernel with stride 2 (phases with different tap counts) and sigmoid', async () => {
  const xShape = [1, 9, 7, 3];
  const wShape = [4, 4, 3, 2];
  const g = conv2dGeometry(xShape, wShape, 2, 'same');
  await gradCheck('conv2d 4×4 s2 sigmoid', (x, w) => conv2d(x, w, { stride: 2, padding: 'same', activation: 'sigmoid' }), [
    { data: randomArray(xShape, 1), shape: xShape },
    { data: randomArray(wShape, 2), shape: wShape },
  ], { reference: (x, w) => conv2dReference(x, w, g, undefined, 'sigmoid') });
});

function throwsBeforeGpu(fn: () => unknown, pattern: RegExp, what: string): void {
  const before = dispatchesSoFar();
  assert.throws(() => tidy(fn), pattern, what);
  assert.is(dispatchesSoFar(), before, `${what}: no kernel may run before the error`);
}

test('bad input: clear errors naming the shapes, thrown before any GPU work', () => {
  const x = tensor(new Float32Array(2 * 5 * 5 * 3), [2, 5, 5, 3]);
  const w = tensor(new Float32Array(3 * 3 * 4 * 8), [3, 3, 4, 8]);
  const w7 = tensor(new Float32Array(7 * 7 * 3 * 8), [7, 7, 3, 8]);
  const w3 = tensor(new Float32Array(3 * 3 * 3 * 8), [3, 3, 3, 8]);
  throwsBeforeGpu(() => conv2d(x, w), /input \[2, 5, 5, 3\] has 3 channels but weights \[3, 3, 4, 8\] expect 4/, 'channel mismatch');
  throwsBeforeGpu(() => conv2d(x, w7, { padding: 'valid' }), /kernel 7×7 of \[7, 7, 3, 8\] is larger than the input \[2, 5, 5, 3\]/, 'kernel larger than a valid input');
  throwsBeforeGpu(() => conv2d(x, w3, { stride: 0 }), /strides must be positive integers, got \[0, 0\]/, 'zero stride');
  throwsBeforeGpu(() => conv2d(x, w3, { stride: [2, -1] }), /strides must be positive integers, got \[2, -1\]/, 'negative stride');
  throwsBeforeGpu(() => conv2d(x, w3, { stride: 1.5 }), /strides must be positive integers/, 'fractional stride');
  throwsBeforeGpu(() => conv2d(tensor([1, 2, 3], [3]), w3), /input must be 4-D .* got \[3\]/, 'rank of x');
  throwsBeforeGpu(() => conv2d(x, tensor([1, 2], [2])), /weights must be 4-D .* got \[2\]/, 'rank of w');
  throwsBeforeGpu(() => conv2d(x, w3, { bias: tensor([1, 2], [2]) }), /bias \[2\] must be \[8\]/, 'bias shape');
  throwsBeforeGpu(() => conv2d(x, w3, { padding: 'full' as Padding }), /padding must be 'same' or 'valid'/, 'padding name');
  // 'same' accepts a kernel larger than the input (TensorFlow pads it).
  const y = conv2d(x, w7, { padding: 'same' });
  assert.equal([...y.shape], [2, 5, 5, 8]);
  [x, w, w7, w3, y].forEach((t) => t.dispose());
});

test.run();
