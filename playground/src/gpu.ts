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
//
// A device can be lost while the page is open (a driver reset, a watchdog, a tab long in the
// background). The page then opens a fresh one (recoverDevice) and each section puts back what it
// holds on the GPU (onDeviceRecovered: the models reload their weights, the training its last
// epoch's host copy), so a visitor never has to reload the page.

import { init, isDeviceLost, replaceLostDevice } from '../../src/index.ts';
import { deviceLostReason, onDeviceLost as onFrameworkDeviceLost } from '../../src/core/device.ts';
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
    const { info } = await init({ gpu });
    // The framework reports a loss of whichever device is in use (a real one, or simulateDeviceLoss's),
    // never a shutdown; the new device is opened as its own job, after the one in flight.
    onFrameworkDeviceLost((reason) => {
      lossNoticed?.(reason);
      void onGpu(() => recoverDevice());
    });
    state = { available: true, description: info.description, isSoftware: info.isSoftware, hasSubgroups: info.hasSubgroups };
    return state;
  } catch (e) {
    // The framework's DeviceError says why (no adapter: a blocklisted GPU, WebGPU switched off) and where to look.
    return { available: false, problem: (e as Error).message };
  }
}

let state: GpuState | undefined;
let lossNoticed: ((reason: string) => void) | undefined;
let recovered: ((outcome: Recovery) => void) | undefined;
const restorers: ((reason: string) => Promise<void>)[] = [];
let recovering: Promise<Recovery> | undefined;

/** What became of a lost device: a new one (described), or why none could be opened. */
export type Recovery = { ok: true; reason: string; description: string } | { ok: false; reason: string; problem: string };

/**
 * The banner's listeners: `noticed` when a loss is reported (the framework's reason), `done` when
 * the new device is open and every section has put its state back (or when none could be opened).
 */
export function onDeviceLost(noticed: (reason: string) => void, done: (outcome: Recovery) => void): void {
  lossNoticed = noticed;
  recovered = done;
}

/**
 * A section's part in a recovery: called, and awaited, once the new device is open, inside the
 * recovery's own GPU job (so it must not queue work with onGpu and wait for it: that would wait
 * for itself). Every live tensor then has zeroed storage on the new device; put back what the
 * section needs (weights from the bytes they were loaded from, a run's host copy).
 */
export function onDeviceRecovered(restore: (reason: string) => Promise<void>): () => void {
  restorers.push(restore);
  return () => {
    const i = restorers.indexOf(restore);
    if (i >= 0) restorers.splice(i, 1);
  };
}

/**
 * Opens a new device after a loss and lets every section restore itself. Runs inside a GPU job:
 * the one the loss listener queues, or the training's own when a step finds the device gone. A
 * second call while one is under way waits for it; a call when the device is not lost (it was
 * already replaced) does nothing and resolves undefined.
 */
export async function recoverDevice(): Promise<Recovery | undefined> {
  if (recovering) return recovering;
  if (!isDeviceLost()) return undefined;
  recovering = (async (): Promise<Recovery> => {
    const reason = deviceLostReason() ?? 'the WebGPU device was lost';
    let outcome: Recovery;
    try {
      const { info } = await replaceLostDevice();
      if (state) Object.assign(state, { description: info.description, isSoftware: info.isSoftware, hasSubgroups: info.hasSubgroups });
      // Each section says its own failure in its own place; one must not keep the others from restoring.
      for (const restore of restorers) {
        try {
          await restore(reason);
        } catch (e) {
          console.error(e);
        }
      }
      outcome = { ok: true, reason, description: info.description };
    } catch (e) {
      outcome = { ok: false, reason, problem: (e as Error).message };
    }
    recovered?.(outcome);
    return outcome;
  })().finally(() => {
    recovering = undefined;
  });
  return recovering;
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
