// WebGPU's default limits: init({ limits }) and WEBGPU_LIMITS, and what the device then has.
// tests/default-limits.test.ts runs this file, with the kernel and model-step tests, under
// WEBGPU_LIMITS=default; run plainly it checks the option's rules and the adapter's limits.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { getGpu, init, limitsChoiceFrom } from '../src/core/device.ts';
import { zeros } from '../src/core/creation.ts';

test.before(async () => {
  await ready;
});

// The spec's defaults (https://gpuweb.github.io/gpuweb/#limit-default), the ones the kernels must fit.
const SPEC_DEFAULTS = {
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupSizeZ: 64,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
} as const;

test('limits: the option, else WEBGPU_LIMITS, else the adapter\'s; anything else is an error naming it and the allowed values', () => {
  assert.is(limitsChoiceFrom(undefined, undefined), 'adapter');
  assert.is(limitsChoiceFrom(undefined, ' Default '), 'default');
  assert.is(limitsChoiceFrom('adapter', 'default'), 'adapter', 'the option wins over the environment');
  assert.throws(() => limitsChoiceFrom(undefined, 'spec'), (e: unknown) => e instanceof RangeError && e.message === "WEBGPU_LIMITS: 'spec' is not one of adapter, default");
  assert.throws(() => limitsChoiceFrom('max' as 'adapter', undefined), (e: unknown) => e instanceof RangeError && e.message === "init({ limits }): 'max' is not one of adapter, default");
});

test('init({ limits }) is checked even with a device open, and refused beside a device handed in', async () => {
  try {
    await init({ limits: 'least' as 'default' });
    assert.unreachable('an unknown limits value must be refused');
  } catch (e) {
    assert.match((e as Error).message, "init({ limits }): 'least' is not one of adapter, default");
  }
  try {
    await init({ device: getGpu().device, limits: 'default' });
    assert.unreachable('limits beside a device must be refused');
  } catch (e) {
    assert.match((e as Error).message, 'keeps the limits it was opened with');
  }
});

test('the device has the limits asked for: under WEBGPU_LIMITS=default exactly the spec\'s defaults', () => {
  const { limits, info } = getGpu();
  const asked = (process.env.WEBGPU_LIMITS ?? '').trim().toLowerCase() === 'default' ? 'default' : 'adapter';
  assert.is(info.limits, asked);
  for (const [name, value] of Object.entries(SPEC_DEFAULTS)) {
    const has = limits[name as keyof typeof SPEC_DEFAULTS];
    if (asked === 'default') assert.is(has, value, `${name}: the spec's default`);
    else assert.ok(has >= value, `${name}: ${has}, at least the spec's default ${value}`);
  }
});

test('a tensor past the largest storage binding is refused, naming the limit', () => {
  const limit = getGpu().limits.maxStorageBufferBindingSize;
  const elements = limit / 4 + 1;
  assert.throws(() => zeros([elements]), (e: unknown) => e instanceof RangeError && /maxStorageBufferBindingSize/.test(e.message) && e.message.includes(String(limit)));
});

test.run();
