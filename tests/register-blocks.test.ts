// The register-blocked kernels name their registers (src/kernels/unroll.ts): no WGSL array in a
// function, no module-scope array read at a loop's index. On wgpu an array indexed in a loop stays
// in memory and the `direct` kernels ran several times slower than on Dawn; this keeps them from
// drifting back. What they compute is checked elsewhere against float64 on awkward shapes, on
// both engines (matmul, conv, conv-winograd, tune and the Deno tests: every block the tuner tries).
// And the tuner's clock: a timed run that also compiled its kernel is timed again.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { matmulCandidates, matmulProgram, type MatmulShape } from '../src/kernels/matmul.ts';
import { conv2dProgram, conv2dInputGradProgram, conv2dWeightGradProgram, convCandidates, winogradPrograms } from '../src/kernels/conv/conv2d.ts';
import { conv2dGeometry } from '../src/kernels/conv/geometry.ts';
import { each, fmaBlock, zeroBlock } from '../src/kernels/unroll.ts';
import { pipelinesSoFar, run, sync } from '../src/core/dispatch.ts';
import { zeros } from '../src/core/creation.ts';
import type { Program } from '../src/kernels/program.ts';

// `var name: array<…>` (a function's array), or a module-scope `var<private>` array.
const ARRAY_VAR = /var\s+[A-Za-z_]\w*\s*:\s*array\s*</;
const PRIVATE_ARRAY = /var\s*<\s*private\s*>\s*[A-Za-z_]\w*\s*:\s*array\s*</;

function assertNoArrays(p: Program): void {
  assert.not.ok(ARRAY_VAR.test(p.wgsl), `${p.name}: declares a WGSL array in a function`);
  assert.not.ok(PRIVATE_ARRAY.test(p.wgsl), `${p.name}: declares a private WGSL array`);
}

test('each, zeroBlock and fmaBlock write the loop out, in its order', () => {
  assert.is(each(3, (i) => `x${i}`, ', '), 'x0, x1, x2');
  assert.is(each(0, (i) => `x${i}`), '');
  assert.is(zeroBlock(2, 2, ''), 'var c0_0 = 0.0; var c0_1 = 0.0;\nvar c1_0 = 0.0; var c1_1 = 0.0;');
  assert.is(
    fmaBlock(2, 1, ' ', (i) => `a[${i}]`),
    ' let a0 = a[0];\n c0_0 = fma(a0, b0, c0_0);\n let a1 = a[1];\n c1_0 = fma(a1, b0, c1_0);',
  );
});

test("matmul's direct rung, at every block the tuner tries, keeps its block in named registers", () => {
  for (const [m, n, k] of [[65, 33, 7], [3, 1, 5], [8, 8, 8]]) {
    for (const transA of [false, true]) {
      const s: MatmulShape = { batch: 2, m, n, k, transA, transB: !transA, aBatchStride: m * k, bBatchStride: k * n };
      for (const kernel of matmulCandidates(s).filter((c) => c.variant === 'direct')) assertNoArrays(matmulProgram(s, undefined, kernel));
      assertNoArrays(matmulProgram(s, undefined, 'direct'));
    }
  }
});

test("conv2d's direct kernels (forward, input- and weight-gradient) and winograd's transforms declare no arrays", () => {
  const device = { subgroups: false };
  for (const [k, s, c, oc] of [[5, 2, 3, 64], [3, 1, 17, 3], [5, 1, 8, 1]] as const) {
    const g = conv2dGeometry([2, 9, 7, c], [k, k, c, oc], s, 'same');
    for (const kernel of convCandidates('forward', g, device).filter((x) => x.variant === 'direct')) assertNoArrays(conv2dProgram(g, undefined, kernel));
    for (const kernel of convCandidates('inputGrad', g, device).filter((x) => x.variant === 'direct')) assertNoArrays(conv2dInputGradProgram(g, undefined, kernel));
    for (const kernel of convCandidates('weightGrad', g, device).filter((x) => x.variant === 'direct')) assertNoArrays(conv2dWeightGradProgram(g, 1, kernel));
    if (s === 1) {
      for (const pass of ['forward', 'inputGrad'] as const) {
        const plan = winogradPrograms(pass, g, { hasBias: true, activation: 'leakyRelu', alpha: 0.2 }, 'conv2d');
        assertNoArrays(plan.weights);
        for (const chunk of plan.chunks) {
          assertNoArrays(chunk.input);
          assertNoArrays(chunk.output);
        }
      }
    }
  }
});

test('pipelinesSoFar counts each kernel source compiled, once', async () => {
  await ready;
  // A kernel no other test compiles (its comment makes its source unique to this test).
  const program = (tag: string): Program => ({
    name: 'fillTest',
    wgsl: `// register-blocks.test ${tag}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1) fn main() { out[0] = 1.0; }`,
    inputs: 0,
    outputs: 1,
    grid: [1, 1, 1],
  });
  const out = zeros([1]);
  const target = out.gpu;
  const before = pipelinesSoFar();
  run(program(`a ${Date.now()}`), [], [target]);
  assert.is(pipelinesSoFar(), before + 1, 'a new source is compiled');
  const again = program(`b ${Date.now()}`);
  run(again, [], [target]);
  run(again, [], [target]);
  assert.is(pipelinesSoFar(), before + 2, 'the same source twice is compiled once');
  await sync();
  assert.is((await out.toArray())[0], 1);
  out.dispose();
});

test.run();
