// The playground page: where a reader watches this framework's kernels and models run on their
// own GPU. Four sections, each its own file:
//
//   ladder.ts            the kernel ladder: a rung's WGSL beside its float64 reference; verify, time, chart
//   models-section.ts    the VAE's latent map, the cGAN's digits, the GAN's samples
//   training-section.ts  the VAE's quick preset trained in the page
//   tune-section.ts      `npm run tune` on the visitor's adapter: each problem's candidates verified, timed, the fastest kept
//
// This file finds WebGPU (gpu.ts), says plainly at the top when there is none or when it runs on
// the CPU, starts the sections, and publishes window.__playground for tests (hooks.ts says what
// each hook does).

import { byId } from './dom.ts';
import { onDeviceLost, onGpu, openGpu, recoverDevice, type Recovery } from './gpu.ts';
import { scheduleDeviceLoss } from './training.ts';
import { simulateDeviceLoss } from '../../src/index.ts';
import type { GpuState, PlaygroundHooks, SampleKind } from './hooks.ts';
import { setupLadder, verifyRung, timeRung } from './ladder.ts';
import { rungs, type LadderOp } from './ladder-cases.ts';
import { setupModels } from './models-section.ts';
import { decodeVae, generateCgan, generateGan } from './models.ts';
import { setupTraining } from './training-section.ts';
import { setupTune } from './tune-section.ts';
import type { Gan, Vae } from '../../src/index.ts';

declare global {
  interface Window {
    __playground: PlaygroundHooks;
  }
}

function banner(gpu: GpuState): void {
  const el = byId('gpu-status');
  if (!gpu.available) {
    el.className = 'banner bad';
    el.textContent = `${gpu.problem} Without WebGPU the page still shows each kernel's WGSL and the reference it is checked against; nothing runs.`;
  } else if (gpu.isSoftware) {
    el.className = 'banner warn';
    el.textContent =
      `WebGPU runs here on a software adapter (${gpu.description}): the "GPU" is your CPU, so every kernel is many times ` +
      'slower than on a graphics card, and the page uses small sizes. Timings say how this adapter does, not how a GPU would.';
  } else {
    el.className = 'banner ok';
    el.textContent = `WebGPU adapter: ${gpu.description}.`;
  }
}

let resolveReady!: () => void;
let rejectReady!: (e: unknown) => void;
const ready = new Promise<void>((resolve, reject) => {
  resolveReady = resolve;
  rejectReady = reject;
});
const hooks: Partial<PlaygroundHooks> = { ready };
window.__playground = hooks as PlaygroundHooks;

async function main(): Promise<void> {
  const gpu = await openGpu();
  hooks.gpu = gpu;
  banner(gpu);
  let lastRecovery: Recovery | undefined;
  onDeviceLost(
    (reason) => {
      const el = byId('gpu-status');
      el.className = 'banner warn';
      el.textContent = `${reason[0].toUpperCase()}${reason.slice(1)}; opening a new one…`;
    },
    (outcome) => {
      lastRecovery = outcome;
      const el = byId('gpu-status');
      const what = `${outcome.reason[0].toUpperCase()}${outcome.reason.slice(1)}`;
      if (outcome.ok) {
        el.className = 'banner warn';
        el.textContent = `${what}. The page opened a new one (${outcome.description}); each section put back what it holds (the models their weights, a training run its last epoch's end).`;
      } else {
        el.className = 'banner bad';
        el.textContent = `${what}, and no new one could be opened (${outcome.problem}); reload the page to try again.`;
      }
    },
  );

  setupLadder(gpu);
  const models = setupModels(gpu);
  const training = setupTraining(gpu, models);
  const tuning = setupTune(gpu);

  const model = <T>(kind: SampleKind): T => {
    const m = models.get(kind);
    if (!m) throw new Error(`no ${kind} is loaded (${gpu.available ? `weights/${kind}.safetensors missing?` : 'no WebGPU'})`);
    return m.model as T;
  };
  Object.assign(hooks, {
    rungs: (op: LadderOp) => rungs(op, gpu.hasSubgroups ?? false).map((r) => r.variant),
    verifyRung,
    timeRung: (op: LadderOp, variant: string, size: number) => timeRung(op, variant, size, gpu.isSoftware ?? true),
    modelSource: (kind: SampleKind) => models.get(kind)?.source,
    decodeVae: (zs: number[][]) => decodeVae(model<Vae>('vae'), zs),
    generateCgan: (digits: number[], noise: number | number[][]) => generateCgan(model<Gan>('cgan'), digits, noise),
    generateGan: (count: number, noise: number | number[][]) => generateGan(model<Gan>('gan'), count, noise),
    trainSteps: training.trainSteps,
    lastTune: tuning.lastTune,
    trainingState: training.trainingState,
    simulateDeviceLoss: scheduleDeviceLoss,
    loseDevice: async () => {
      if (!gpu.available) throw new Error('loseDevice: there is no WebGPU device to lose');
      lastRecovery = undefined;
      // Between two jobs; the loss listener queues the recovery right behind this one.
      await onGpu(() => simulateDeviceLoss('simulated by loseDevice()'));
      await onGpu(() => recoverDevice());
      if (!lastRecovery) throw new Error('loseDevice: the device was lost but no recovery ran');
      return byId('gpu-status').textContent ?? '';
    },
  } satisfies Omit<PlaygroundHooks, 'ready' | 'gpu'>);

  await models.ready;
  resolveReady();
}

main().catch((e) => {
  rejectReady(e);
  const el = document.getElementById('gpu-status');
  if (el) {
    el.className = 'banner bad';
    el.textContent = `The page failed to start: ${(e as Error).message}`;
  }
  console.error(e);
});
