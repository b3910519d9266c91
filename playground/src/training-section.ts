// Section 3, training in the page: Train / Stop, the loss of every step as a line chart, and the
// same 16 latent points decoded after each epoch.

import { byId, fmt, h } from './dom.ts';
import { lineChart } from './charts.ts';
import { drawDigits } from './images.ts';
import type { GpuState } from './gpu.ts';
import type { ModelsSection } from './models-section.ts';
import { PageTraining, QUICK, type EpochEnd } from './training.ts';

export interface TrainingSection {
  /** Runs `n` steps (making the run first, at `batchSize`, if there is none or its batch size differs); returns their losses. */
  trainSteps(n: number, options?: { batchSize?: number }): Promise<number[]>;
}

export function setupTraining(gpu: GpuState, models: ModelsSection): TrainingSection {
  const trainButton = byId<HTMLButtonElement>('train-start');
  const stopButton = byId<HTMLButtonElement>('train-stop');
  const resetButton = byId<HTMLButtonElement>('train-reset');
  const useButton = byId<HTMLButtonElement>('train-use');
  const progress = byId('train-progress');
  const chart = byId('train-chart');
  const epochs = byId('train-epochs');
  byId('train-preset').textContent =
    `${QUICK.limit?.toLocaleString('en')} digits, ${QUICK.epochs} epochs, batch ${QUICK.batchSize}, learning rate ${QUICK.lr}, seed 0`;

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

  const report = (r: { losses: number[]; epochEnd?: EpochEnd }) => {
    const t = training!;
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
      progress.textContent = `error: ${(e as Error).message}`;
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
      const out: number[] = [];
      while (out.length < n && !t.done) {
        const r = await t.steps(n - out.length);
        out.push(...r.losses);
        report(r);
      }
      buttons();
      return out;
    },
  };
}
