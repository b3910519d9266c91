// The subgroup convolution kernels (conv2d-subgroup.ts) against the float64 references, at the
// subgroup size this device runs and counting on fewer lanes than it has. tests/subgroup-sizes.test.ts
// runs this file again under every subgroup size llvmpipe can be given (LP_NATIVE_VECTOR_WIDTH).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { getDevice, getGpu } from '../src/core/device.ts';
import { subgroupLanes } from '../src/core/kernel-policy.ts';
import { sharingLanes, subgroupForwardWgsl, subgroupPays } from '../src/kernels/conv/conv2d-subgroup.ts';
import { conv2dGeometry } from '../src/kernels/conv/geometry.ts';
import { PASSES, allCases, checkCase, geometryOf, programNames, type Case } from './conv-cases.ts';

test.before(async () => {
  await ready;
});


// The subgroup variant is direct with the column operand loaded once per subgroup and broadcast;
// its blocks are laid out differently (a workgroup shares one column block, rows padded to whole
// workgroups). These cases are sized for the shapes where it pays (subgroupPays: ≥ 8 columns,
// padding at most doubling the rows), the ones the kernel policy runs it on — every kernel size
// and stride, both paddings, partial column blocks, rows that end mid-workgroup. Devices without
// subgroups skip it.
const SUBGROUP_CASES: Case[] = [
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
    assert.ok(subgroupPays('forward', g, 8) || subgroupPays('inputGrad', g, 8) || subgroupPays('weightGrad', g, 8), `${JSON.stringify(c)}: sized for the paying layout`);
    await checkCase(c, 'subgroup', seed++);
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
    for (const pass of PASSES) assert.not.ok(subgroupPays(pass, g, 8), `${JSON.stringify(c)} ${pass}: the case must be one where subgroup does not pay`);
    await checkCase(c, 'subgroup', seed++);
  }
});

test('subgroupPays: at least 8 columns, and rows padded to whole workgroups at most doubling the work; the builders run subgroup either way', () => {
  const pays = (x: number[], w: number[]) => {
    const g = conv2dGeometry(x, w, 2, 'same');
    assert.ok(programNames(g, 'subgroup').every((n) => n.endsWith('.subgroup')));
    return { fwd: subgroupPays('forward', g, 8), dw: subgroupPays('weightGrad', g, 8) };
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
  assert.not.ok(subgroupPays('inputGrad', conv2dGeometry([16, 14, 14, 1], [5, 5, 1, 64], 2, 'same'), 8));
});


// What this device's subgroups are: the sizes it reports, the subgroup_size builtin, and the lanes
// a subgroup really has (subgroupAdd(1) counts them). tests/subgroup-sizes.test.ts reads the line.
async function measureSubgroups(): Promise<{ builtin: number; counted: number }> {
  const device = getDevice();
  const module = device.createShaderModule({ code: /* wgsl */ `enable subgroups;
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_size) size: u32) {
  let counted = subgroupAdd(1u);
  if (lid == 0u) { out[0] = size; out[1] = counted; }
}` });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const buffer = device.createBuffer({ size: 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer } }] }));
  pass.dispatchWorkgroups(1);
  pass.end();
  encoder.copyBufferToBuffer(buffer, 0, readback, 0, 8);
  device.queue.submit([encoder.finish()]);
  await readback.mapAsync(GPUMapMode.READ);
  const [builtin, counted] = new Uint32Array(readback.getMappedRange().slice(0));
  readback.unmap();
  buffer.destroy();
  readback.destroy();
  return { builtin, counted };
}

test('the subgroups this device runs: what it reports, and what a subgroup has', async () => {
  if (!getGpu().info.hasSubgroups) {
    console.log('  (skipped: this device has no subgroups)');
    return;
  }
  const [min, max] = getGpu().info.subgroupSizes;
  const { builtin, counted } = await measureSubgroups();
  console.log(`SUBGROUP-SIZES reported=${min}..${max} builtin=${builtin} counted=${counted} kernel-lanes=${subgroupLanes()}`);
  assert.ok(min >= 1 && max >= min, `the device reports subgroup sizes ${min}..${max}`);
  assert.is(subgroupLanes(), min, 'the kernels count on the smallest subgroup the device reports');
  assert.ok(counted >= 1 && counted <= 64, `a 64-invocation workgroup's subgroup has ${counted} lanes`);
});

test('sharingLanes: lanes 0 … L−1 hold a block\'s columns between them, ⌈TN/L⌉ loads each', () => {
  assert.equal(sharingLanes(8, 4), { l: 4, loads: 2 });
  assert.equal(sharingLanes(8, 8), { l: 8, loads: 1 });
  assert.equal(sharingLanes(8, 128), { l: 8, loads: 1 });
  assert.equal(sharingLanes(3, 16), { l: 3, loads: 1 });
  assert.equal(sharingLanes(8, 3), { l: 3, loads: 3 });
  assert.throws(() => sharingLanes(8, 0), /whole number ≥ 1/);
  // Column j comes from lane j mod L, load ⌊j/L⌋: the broadcasts as the WGSL writes them.
  const wgsl = subgroupForwardWgsl(8, 8, 4);
  assert.ok(wgsl.includes('subgroupBroadcast(mine0, 3u), subgroupBroadcast(mine1, 0u)'), 'column 4 is lane 0\'s second load');
  assert.not.ok(/subgroupBroadcast\([^)]*, [4-9]u\)/.test(wgsl), 'no lane past the 4 counted on');
  assert.ok(/let mine0 = .*let mine1 = /.test(wgsl));
  assert.not.ok(subgroupForwardWgsl(8, 8, 8).includes('mine1'), 'one load where the subgroup has the block\'s width');
  // 'auto' runs subgroup only in the layout it was measured in (one load per step).
  const g = conv2dGeometry([16, 14, 14, 64], [5, 5, 64, 128], 2, 'same');
  assert.ok(subgroupPays('forward', g, 8) && subgroupPays('forward', g, 32));
  assert.not.ok(subgroupPays('forward', g, 4), 'on 4-lane subgroups an 8-wide block loads twice: not measured to pay');
});

// The kernels counting on fewer lanes than the device's subgroups have: several loads per lane
// and broadcasts from the low lanes only. Right on every device, whatever size it runs.
test('subgroup counting on 1, 3 and 4 lanes: every pass vs references', async () => {
  if (!getGpu().info.hasSubgroups) {
    console.log('  (skipped: this device has no subgroups)');
    return;
  }
  let seed = 500;
  // 8, 3 and 2 loads per lane and step; partial column blocks (33 and 10 channels).
  const cases = [SUBGROUP_CASES[4], allCases()[7]];
  for (const lanes of [1, 3, 4]) {
    for (const c of cases) await checkCase(c, { variant: 'subgroup', lanes }, seed++);
  }
});

test.run();
