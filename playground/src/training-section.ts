// Section 3, training in the page: Train / Stop, the loss of every step as a line chart, and the
// same 16 latent points decoded after each epoch.

import { byId, fmt, h } from './dom.ts';
import { lineChart } from './charts.ts';
import { drawDigits } from './images.ts';
import { onDeviceRecovered, onGpu, type GpuState } from './gpu.ts';
import type { ModelsSection } from './models-section.ts';
import { PageTraining, QUICK, scheduleDeviceLoss, type EpochEnd } from './training.ts';
import type { TrainingState } from './hooks.ts';
import { DeviceLostError } from '../../src/index.ts';
import { FNV1A32_OFFSET, fnv1a32, hex32 } from '../../src/io/fnv.ts';

export interface TrainingSection {
  /**
   * Runs until the run is `n` steps further than it was (making the run first, at `batchSize`, if
   * there is none or its batch size differs), or done; returns the losses of the steps from where
   * it started (after a device loss, the run's steps from the restore point on: redone steps count once).
   */
  trainSteps(n: number, options?: { batchSize?: number }): Promise<number[]>;
  /** Where the run stands, its losses, the device-loss note and a checksum of its weights. */
  trainingState(): Promise<TrainingState | undefined>;
}

/** FNV-1a over the bits of every number: equal weights, equal checksums. */
function checksum(arrays: Float32Array[]): string {
  let h = FNV1A32_OFFSET;
  for (const a of arrays) h = fnv1a32(new Uint32Array(a.buffer, a.byteOffset, a.length), h);
  return hex32(h);
}

/** The quick preset in words, as `npm start` trains it. */
function presetText(): string {
  const m = QUICK.model ?? {};
  const parts = [`${QUICK.limit?.toLocaleString('en')} digits`, `${QUICK.epochs} epochs`, `batch ${QUICK.batchSize}`, `learning rate ${QUICK.lr}`];
  if (m.lrWarmupSteps) parts.push(`warmed up over its first ${m.lrWarmupSteps} steps`);
  if (m.epsilon !== undefined) parts.push(`Adam's ε ${m.epsilon}`);
  if (m.klWarmupSteps) parts.push(`KL weight warmed up over ${m.klWarmupSteps} steps`);
  return `${parts.join(', ')}, seed 0`;
}

export function setupTraining(gpu: GpuState, models: ModelsSection): TrainingSection {
  const trainButton = byId<HTMLButtonElement>('train-start');
  const stopButton = byId<HTMLButtonElement>('train-stop');
  const resetButton = byId<HTMLButtonElement>('train-reset');
  const useButton = byId<HTMLButtonElement>('train-use');
  const progress = byId('train-progress');
  const chart = byId('train-chart');
  const epochs = byId('train-epochs');
  const deviceNote = byId('train-device-note');
  // ?simulate-device-loss=STEP[,STEP…]: loses the device after those steps, to see what the page does.
  const simulated = new URLSearchParams(location.search).get('simulate-device-loss');
  if (simulated) scheduleDeviceLoss(simulated.split(',').map((v) => Number(v.trim())));
  byId('train-preset').textContent = presetText();

  let training: PageTraining | undefined;
  let running = false;
  let stop = false;

  const buttons = () => {
    trainButton.disabled = !gpu.available || running || (training?.done ?? false);
    trainButton.textContent = training && training.step > 0 && !training.done ? 'Continue' : 'Train';
    stopButton.disabled = !running;
    resetButton.disabled = running || !training;
    useButton.disabled = !training || training.step === 0;
  };
  if (!gpu.available) progress.textContent = 'needs WebGPU (see the note at the top).';

  const showLossNote = (t: PageTraining) => {
    deviceNote.hidden = t.lossNote === undefined;
    deviceNote.textContent = t.lossNote ?? '';
    deviceNote.className = `result ${t.lossesInARow === 0 && t.lossNote ? 'bad' : 'busy'}`;
  };
  // A loss while nothing trains is recovered by its own job (gpu.ts): the run went back too, so say so now.
  onDeviceRecovered(async () => {
    setTimeout(() => {
      if (!training) return;
      showLossNote(training);
      if (!running) report({ losses: [] });
    }, 0);
  });

  const report = (r: { losses: number[]; epochEnd?: EpochEnd }) => {
    const t = training!;
    showLossNote(t);
    chart.replaceChildren(lineChart({ values: t.losses, xLabel: 'step', yLabel: 'loss (negative ELBO per image)' }));
    const last = t.losses[t.losses.length - 1];
    progress.textContent =
      `epoch ${Math.min(t.epoch + 1, t.epochs)} of ${t.epochs}, step ${t.step} of ${t.totalSteps}` +
      (last !== undefined ? `, loss ${fmt(last)}` : '') +
      (t.imagesPerSecond > 0 ? `, ${fmt(t.imagesPerSecond)} images/s` : '') +
      (t.done ? ' — done.' : '');
    if (r.epochEnd) {
      const canvas = h('canvas', { class: 'digits small' });
      drawDigits(canvas, r.epochEnd.samples, 16, 4, [0, 1]);
      epochs.append(h('figure', {}, canvas, h('figcaption', {}, `after epoch ${r.epochEnd.epoch} (mean loss ${fmt(r.epochEnd.meanLoss)})`)));
    }
  };

  const ensure = async (batchSize = QUICK.batchSize): Promise<PageTraining> => {
    if (training && training.batchSize === batchSize) return training;
    reset();
    progress.textContent = 'fetching the digits…';
    training = await PageTraining.create(batchSize);
    return training;
  };

  function reset(): void {
    const shown = models.get('vae');
    const borrowed = training !== undefined && shown?.model === training.vae;
    // The latent map may be showing this model: it stays there, and the map now owns it.
    if (borrowed) shown!.owned = true;
    training?.dispose(borrowed);
    training = undefined;
    deviceNote.hidden = true;
    deviceNote.textContent = '';
    chart.replaceChildren();
    epochs.replaceChildren();
    progress.textContent = '';
    buttons();
  }

  trainButton.addEventListener('click', async () => {
    running = true;
    stop = false;
    buttons();
    try {
      const t = await ensure();
      buttons();
      await t.run(() => stop, report);
    } catch (e) {
      // Three losses in a row: the note under the progress line says why it stopped.
      if (e instanceof DeviceLostError && training) report({ losses: [] });
      else progress.textContent = `error: ${(e as Error).message}`;
    } finally {
      running = false;
      buttons();
    }
  });
  stopButton.addEventListener('click', () => {
    stop = true;
  });
  resetButton.addEventListener('click', reset);
  useButton.addEventListener('click', async () => {
    if (!training) return;
    await models.use({ kind: 'vae', model: training.vae, source: `the VAE trained in this page (step ${training.step})`, owned: false });
    byId('models').scrollIntoView({ behavior: 'smooth' });
  });
  buttons();

  return {
    async trainSteps(n, options = {}) {
      if (running) throw new Error('trainSteps: the Train button is running; stop it first');
      const t = await ensure(options.batchSize);
      let from = t.step;
      const target = t.step + n;
      try {
        while (t.step < target && !t.done) {
          const r = await t.steps(target - t.step);
          from = Math.min(from, t.step - r.losses.length);
          report(r);
        }
      } catch (e) {
        if (e instanceof DeviceLostError) report({ losses: [] });
        throw e;
      } finally {
        buttons();
      }
      return t.losses.slice(from, t.step);
    },
    async trainingState() {
      const t = training;
      if (!t) return undefined;
      const weights = await onGpu(async () => {
        const out: Float32Array[] = [];
        for (const m of Object.values(t.vae.modules)) for (const [, p] of m.stateDict()) out.push(await p.toArray());
        return out;
      });
      return { step: t.step, epoch: t.epoch, done: t.done, losses: [...t.losses], note: deviceNote.hidden ? undefined : deviceNote.textContent ?? undefined, progress: progress.textContent ?? '', weights: checksum(weights) };
    },
  };
}
