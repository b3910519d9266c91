// dispatch.ts counts the pipelines it compiles (pipelinesSoFar): the tuner (src/tune/tuner.ts)
// tells by it whether a run it timed also compiled a kernel, and runs such a run again (on
// llvmpipe a pipeline's first dispatch compiles it, for up to seconds).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { pipelinesSoFar, run, sync } from '../src/core/dispatch.ts';
import { zeros } from '../src/core/creation.ts';
import type { Program } from '../src/kernels/program.ts';

test('pipelinesSoFar counts each kernel source compiled, once', async () => {
  await ready;
  // A kernel no other test compiles (its comment makes its source unique to this test).
  const program = (tag: string): Program => ({
    name: 'fillTest',
    wgsl: `// pipelines.test ${tag}
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
