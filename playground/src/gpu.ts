// How the page finds WebGPU, and the one line of GPU work.
//
// WebGPU lives at `navigator.gpu`, which browsers define only in a secure context: a page served
// over https, or from localhost. The framework's init() takes it from there
// (init({ gpu: navigator.gpu })), asks for an adapter and opens the device. Where any of that
// fails, the page says why in words a visitor can act on, and shows what needs no GPU: the
// kernels' WGSL and their references.
//
// Every section submits work to the same device through the framework's one command encoder,
// so work is queued here, one job at a time (onGpu): a timing never measures another section's
// kernels, and a drag across the latent map waits for the training step in flight.

import { init } from '../../src/index.ts';
import type { GpuState } from './hooks.ts';

export type { GpuState };


export const WHERE_WEBGPU_IS =
  'WebGPU ships in Chrome and Edge 113+ on Windows, macOS and ChromeOS, in Safari 26+, and in Firefox 141+ on ' +
  'Windows. On Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu (chrome://gpu then says what it found).';

/** Opens the framework's device on the browser's WebGPU, or says why it cannot. */
export async function openGpu(): Promise<GpuState> {
  if (!globalThis.isSecureContext) {
    return {
      available: false,
      problem: `This page was opened from ${location.origin || location.href}, which is not a secure context, and browsers offer WebGPU only to secure pages: serve it from http://localhost (npm run playground does) or over https.`,
    };
  }
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { available: false, problem: `This browser has no WebGPU (navigator.gpu is missing). ${WHERE_WEBGPU_IS}` };
  try {
    const { info, device } = await init({ gpu });
    void device.lost.then((lost) => {
      if (lost.reason !== 'destroyed') deviceLost?.(`The GPU device was lost (${lost.message || lost.reason}); reload the page to start again.`);
    });
    return { available: true, description: info.description, isSoftware: info.isSoftware, hasSubgroups: info.hasSubgroups };
  } catch (e) {
    // The framework's DeviceError says why (no adapter: a blocklisted GPU, WebGPU switched off) and where to look.
    return { available: false, problem: (e as Error).message };
  }
}

let deviceLost: ((message: string) => void) | undefined;

/** Called once if the device is lost after it opened (a driver reset, a tab in the background for long). */
export function onDeviceLost(listener: (message: string) => void): void {
  deviceLost = listener;
}

let queue: Promise<unknown> = Promise.resolve();

/** Runs `work` after every job queued before it has finished (failed or not). */
export function onGpu<T>(work: () => Promise<T> | T): Promise<T> {
  const result = queue.then(work, work);
  queue = result.catch(() => undefined);
  return result;
}

/** Yields to the browser so it can paint and handle input between pieces of GPU work. */
export function yieldToPage(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
