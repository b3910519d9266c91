// How the scripts (examples/, bench/) end: a mistake or a missing driver is one line a person can
// act on ("train: out/gan already holds a checkpoint …"), never a stack trace; the stack is for
// us, printed when DEBUG is set. The device opens inside the same guard, so a bad
// WEBGPU_BACKEND or a missing Vulkan driver reads the same way as any other problem.
//
//   await runScript('generate', async () => { ...; return 0; });

import { init, shutdownDevice, type Gpu, type InitOptions } from '../core/device.ts';

/** The one line printed for an error: `<script>: <message>` (the stack too when DEBUG is set). */
export function errorLine(script: string, error: unknown): string {
  if (!(error instanceof Error)) return `${script}: ${String(error)}`;
  return `${script}: ${process.env.DEBUG ? (error.stack ?? error.message) : error.message}`;
}

/**
 * Opens the device, runs `body`, closes the device; an error anywhere (including opening the
 * device) prints errorLine and sets exit code 1. `body` may return an exit code (e.g. 130 for
 * a run stopped by Ctrl-C).
 */
export async function runScript(script: string, body: (gpu: Gpu) => Promise<number | void>, options: InitOptions = {}): Promise<void> {
  try {
    const gpu = await init(options);
    const code = await body(gpu);
    if (code) process.exitCode = code;
  } catch (error) {
    console.error(errorLine(script, error));
    process.exitCode = 1;
  } finally {
    shutdownDevice();
  }
}
