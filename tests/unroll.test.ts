// unrollLoops (src/kernels/unroll.ts) writes out the loops over a register block for wgpu, whose
// loop bounds and index clamps keep the driver from unrolling them. Here: what it rewrites and
// what it refuses, and that every kernel that allows it computes the same written out as looped
// (the same bits for the register blocks; Winograd's input transform within a rounding).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, assertClose } from './helpers.ts';
import { unrollLoops, REGISTER_BLOCK } from '../src/kernels/unroll.ts';
import { conv2dGeometry } from '../src/kernels/conv/geometry.ts';
import { conv2dProgram, conv2dInputGradProgram, conv2dWeightGradProgram, winogradPrograms } from '../src/kernels/conv/conv2d.ts';
import { matmulProgram } from '../src/kernels/matmul.ts';
import { launch } from '../src/core/launch.ts';
import { rand } from '../src/core/creation.ts';
import type { Program } from '../src/kernels/program.ts';
import type { Tensor } from '../src/core/tensor.ts';

const MODULE = `const TM = 3u;
const TN = 2u;
fn f(n: u32) -> f32 {
  var acc: array<array<f32, TN>, TM>;
  for (var k = 0u; k < n; k++) {
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN; j++) { acc[i][j] += f32(i * TN + j + k); }
    }
  }
  var s = 0.0;
  for (var e = 0u; e < 2u * TM; e++) { s += acc[e / TN][e % TN]; }
  return s;
}`;

test('unrollLoops writes out every loop with a constant bound, index by index, and leaves the others', () => {
  const out = unrollLoops(MODULE, REGISTER_BLOCK);
  assert.ok(out.includes('for (var k = 0u; k < n; k++)'), 'the loop over n (not a constant) stays');
  assert.not.match(out, /for \(var [ije] /, 'no loop over i, j or e is left');
  // TM·TN = 6 updates with literal indices, in the loop's order (i outer, j inner).
  const updates = [...out.matchAll(/acc\[(\d)u\]\[(\d)u\] \+= f32\((\d)u \* TN \+ (\d)u \+ k\)/g)].map((m) => `${m[1]}${m[2]}`);
  assert.equal(updates, ['00', '01', '10', '11', '20', '21']);
  // 2u * TM = 6 copies of the sum, e = 0…5.
  assert.equal([...out.matchAll(/s \+= acc\[(\d)u \/ TN\]\[\1u % TN\]/g)].map((m) => Number(m[1])), [0, 1, 2, 3, 4, 5]);
  // An identifier that merely contains the index (`pixel`, `.i`) is left alone.
  const member = unrollLoops('const TM = 2u;\nfor (var i = 0u; i < TM; i++) { x.i += pixel[i]; }', ['TM']);
  assert.is(member, 'const TM = 2u;\n{ x.i += pixel[0u]; } { x.i += pixel[1u]; }');
});

test('unrollLoops refuses what writing out would change, naming the loop', () => {
  assert.throws(() => unrollLoops('const TM = 2u;\nfor (var i = 0u; i < TM; i++) { if (i > 0u) { break; } }', ['TM']), /for \(var i = 0u; i < TM; i\+\+\).*breaks or continues/);
  assert.throws(() => unrollLoops('const TM = 2u;\nfor (var i = 0u; i < TM; i++) { let i = 3u; }', ['TM']), /redeclares i/);
  assert.throws(() => unrollLoops('for (var i = 0u; i < 4u; i++) { }', ['TM']), /declares no 'const TM = …u;'/);
});

/** A program's output run looped and written out. */
async function bothWays(p: Program, inputs: Tensor[], shape: number[]): Promise<[Float32Array, Float32Array]> {
  assert.ok(p.unroll, `${p.name} allows writing out`);
  const looped = { ...p, unroll: undefined };
  const written = { ...looped, wgsl: unrollLoops(p.wgsl, p.unroll!) };
  assert.not.match(written.wgsl, /for \(var \w+ = 0u; \w+ < (TM|TN|A|R|\d+u)[;* ]/, `${p.name}: a loop with a constant bound is left`);
  const a = launch(looped, inputs as never, shape as never);
  const b = launch(written, inputs as never, shape as never);
  const out: [Float32Array, Float32Array] = [await a.toArray(), await b.toArray()];
  a.dispose();
  b.dispose();
  return out;
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.is(a.length, b.length, what);
  const i = a.findIndex((v, k) => !Object.is(v, b[k]));
  assert.ok(i < 0, `${what}: element ${i} is ${a[i]} looped, ${b[i]} written out`);
}

test('matmul direct and the direct convolutions give the same bits written out, at awkward sizes and blocks', async () => {
  await ready;
  const epilogue = { hasBias: true, activation: 'leakyRelu' as const, alpha: 0.2 };
  for (const [m, n, k] of [[1, 1, 1], [7, 33, 65], [65, 3, 7]]) {
    for (const block of [undefined, { tm: 4, tn: 4 }, { tm: 3, tn: 5 }]) {
      const s = { batch: 2, m, n, k, transA: false, transB: true, aBatchStride: m * k, bBatchStride: 0 };
      const p = matmulProgram(s, epilogue, { variant: 'direct', ...(block ? { block } : {}) });
      const [a, b] = await bothWays(p, [rand([2, m, k]), rand([n, k]), rand([n])], [2, m, n]);
      sameBits(a, b, `${p.name} ${m}×${n}×${k}`);
    }
  }
  for (const [kernel, stride] of [[3, 1], [5, 2], [1, 1]]) {
    for (const block of [undefined, { tm: 3, tn: 5 }]) {
      const xs = [2, 7, 5, 3], ws = [kernel, kernel, 3, 7];
      const g = conv2dGeometry(xs, ws, stride, 'same');
      const x = rand(xs), w = rand(ws), bias = rand([7]), dy = rand([2, g.outH, g.outW, 7]);
      const choice = { variant: 'direct' as const, ...(block ? { block } : {}) };
      const what = `${kernel}×${kernel} stride ${stride}, block ${block ? `${block.tm}×${block.tn}` : 'default'}`;
      sameBits(...(await bothWays(conv2dProgram(g, epilogue, choice), [x, w, bias], [2, g.outH, g.outW, 7])), `forward ${what}`);
      sameBits(...(await bothWays(conv2dInputGradProgram(g, undefined, choice), [dy, w, bias], xs)), `input-gradient ${what}`);
      sameBits(...(await bothWays(conv2dWeightGradProgram(g, 1, choice), [x, dy], [1, kernel, kernel, 3, 7])), `weight-gradient ${what}`);
    }
  }
});

test("Winograd's transforms written out: the same bits for the weights and the output, the input's within a rounding", async () => {
  await ready;
  for (const kernel of [3, 5]) {
    const xs = [2, 7, 5, 3], ws = [kernel, kernel, 3, 7];
    const g = conv2dGeometry(xs, ws, 1, 'same');
    const plan = winogradPrograms('forward', g, { hasBias: true, activation: 'relu', alpha: 0 }, 'conv2d');
    const chunk = plan.chunks[0]!;
    sameBits(...(await bothWays(plan.weights, [rand(ws)], plan.uShape)), `weights ${kernel}×${kernel}`);
    sameBits(...(await bothWays(chunk.output, [rand(chunk.mShape), rand([7])], [2, g.outH, g.outW, 7])), `output ${kernel}×${kernel}`);
    const [a, b] = await bothWays(chunk.input, [rand(xs)], chunk.vShape);
    // a few units in the last place of sums of 36 products, some with coefficients of 4 or 5
    assertClose(b, a, `input transform ${kernel}×${kernel}`, 1e-5, 1e-5);
  }
});

test.run();
