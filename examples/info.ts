// `npm run info`: which WebGPU adapter this machine gives us, and the limits our kernels care about.

import { parseFlagsOrExit } from '../src/io/flags.ts';
import { runScript } from '../src/io/cli.ts';
import { installedChoices, getTuneMode } from '../src/core/kernel-policy.ts';
import { tuneCacheLocation } from '../src/tune/session.ts';

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

// No flags; --help (and a mistyped flag) is answered like every other script's.
parseFlagsOrExit({}, { program: 'npm run info', description: 'Shows the WebGPU adapter this machine gives us and the limits our kernels care about.' });

await runScript('info', async (gpu) => {
  console.log(`adapter: ${gpu.info.description}`);
  console.log(`vendor: ${gpu.info.vendor || '?'}, architecture: ${gpu.info.architecture || '?'}, timestamp queries: ${gpu.info.hasTimestampQuery ? 'yes' : 'no'}`);
  const width = Math.max(...LIMITS.map((l) => l.length));
  for (const name of LIMITS) console.log(`  ${name.padEnd(width)}  ${human(name, gpu.limits[name])}`);
  console.log(`kernel choices: ${tuneCacheLocation() ?? 'not read (tune off)'}; tune mode ${getTuneMode()}, ${installedChoices().size} tuned problems for this adapter (npm run tune measures them)`);
});
