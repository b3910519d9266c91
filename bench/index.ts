// `npm run bench`: verify, time and compare every kernel; profile training steps.
// See `npm run bench -- --help` and docs/kernels.md.

import fs from 'node:fs';
import { shutdownDevice } from '../src/core/device.ts';
import { parseArgs, UsageError, USAGE, type BenchArgs } from './args.ts';
import { compareReports } from './report.ts';
import { errorLine } from '../src/io/cli.ts';
import { runBench, KNOWN_VARIANTS } from './run.ts';
import type { TfjsPeer } from './peer/tfjs.ts';

async function main(): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseArgs(process.argv.slice(2));
    if (args.variant && !KNOWN_VARIANTS.includes(args.variant)) {
      throw new UsageError(`--variant "${args.variant}" is not one of ${KNOWN_VARIANTS.join(', ')}`);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`bench: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.compare) {
    try {
      compareReports(args.compare[0], args.compare[1], (line) => console.log(line));
    } catch (e) {
      console.error(`bench --compare: ${(e as Error).message}`);
      return 1;
    }
    return 0;
  }

  let peer: TfjsPeer | undefined;
  if (args.peer === 'tfjs' && (globalThis as { Deno?: unknown }).Deno !== undefined) {
    // The peer brings up Dawn's node bindings and hands TensorFlow.js a navigator.gpu of Dawn's:
    // in Deno both sides would then run on Dawn, not on Deno's wgpu, and the comparison would be
    // of something else than it says.
    console.error("bench: --peer tfjs runs in Node only: it runs TensorFlow.js on Dawn's node bindings, and in Deno it would put our side on Dawn too instead of Deno's wgpu; compare with `npm run bench -- --peer tfjs`");
    return 2;
  }
  if (args.peer === 'tfjs') {
    const { loadTfjsPeer } = await import('./peer/tfjs.ts');
    try {
      peer = await loadTfjsPeer();
    } catch (e) {
      console.error(`bench: --peer tfjs could not start TensorFlow.js's WebGPU backend: ${(e as Error).message}`);
      return 1;
    }
  }
  try {
    const report = await runBench({ ...args }, peer);
    if (args.json) {
      fs.writeFileSync(args.json, JSON.stringify(report, null, 2) + '\n');
      console.log(`wrote ${args.json}`);
    }
    const failed = report.rows.filter((r) => r.verdict === 'WRONG' || r.verdict === 'ERROR');
    if (failed.length || report.trainingErrors.length) {
      console.log(`\n${failed.length} kernel rows failed verification or errored; ${report.trainingErrors.length} training steps failed`);
      return 1;
    }
    return 0;
  } finally {
    peer?.close();
    shutdownDevice();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    // One line for people (a missing driver is a DeviceError, not a bug); the stack with DEBUG=1.
    console.error(errorLine('bench', e));
    process.exit(1);
  },
);
