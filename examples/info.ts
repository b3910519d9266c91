// `npm run info`: which WebGPU adapter this machine gives us, and the limits our kernels care about.

import { init, shutdownDevice } from '../src/index.ts';

const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

function human(name: string, value: number): string {
  if (/Size$/.test(name) && value >= 2 ** 20) return `${value} (${(value / 2 ** 20).toFixed(0)} MiB)`;
  if (/Size$/.test(name) && value >= 2 ** 10 && name.includes('Storage')) return `${value} (${(value / 2 ** 10).toFixed(0)} KiB)`;
  return String(value);
}

try {
  const gpu = await init();
  console.log(`adapter: ${gpu.info.description}`);
  console.log(`vendor: ${gpu.info.vendor || '?'}, architecture: ${gpu.info.architecture || '?'}, timestamp queries: ${gpu.info.hasTimestampQuery ? 'yes' : 'no'}`);
  const width = Math.max(...LIMITS.map((l) => l.length));
  for (const name of LIMITS) console.log(`  ${name.padEnd(width)}  ${human(name, gpu.limits[name])}`);
} catch (error) {
  console.error(`info: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  shutdownDevice();
}
