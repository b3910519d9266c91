// Section 4, tuning on this GPU: a model and a batch size, a Tune button, and as each problem is
// done a table of its candidates (kernel, time, fate) with the choice against the fixed rule's.

import { byId, fmt, h } from './dom.ts';
import type { GpuState } from './gpu.ts';
import type { TuneSummary } from './hooks.ts';
import { tuneCacheLocation, type TuneResult } from '../../src/index.ts';
import { PROBLEM_BUDGET_MS } from '../../src/tune/tuner.ts';
import { DEFAULT_TUNE_BATCH, TUNE_KINDS, tuneModel, type TuneKind, type TuneRun } from './tuning.ts';

export interface TuneSection {
  /** The last finished tuning run's summary (the Tune button's), or undefined before the first. */
  lastTune(): TuneSummary | undefined;
}

const ms = (v?: number) => (v === undefined ? '' : `${fmt(v)} ms`);

/** One problem's table: its candidates, then the choice against the default. */
function resultTable(r: TuneResult): HTMLElement {
  const def = r.candidates.find((c) => c.kernel === r.default);
  const chosen = r.candidates.find((c) => c.kernel === r.chosen);
  const ratio = def?.ms && chosen?.ms ? def.ms / chosen.ms : undefined;
  const rows = r.candidates.map((c) =>
    h('tr', { class: `status-${c.status}` },
      h('td', {}, h('code', {}, c.kernel), c.kernel === r.default ? ' (default)' : ''),
      h('td', { class: 'num' }, ms(c.ms)),
      h('td', {}, c.status, c.runs > 1 ? ` (median of ${c.runs})` : ''),
      h('td', { class: 'note' }, c.note ?? '')));
  const verdict = r.chosen === r.default
    ? `chosen: ${r.chosen}, the fixed rule's kernel`
    : `chosen: ${r.chosen} instead of the fixed rule's ${r.default}${ratio ? `, ${ratio.toFixed(2)}× as fast` : ''}`;
  return h('div', { class: 'tune-problem' },
    h('table', { class: 'tune-table' },
      h('caption', {}, r.layers?.length ? `${r.layers.join(', ')} · ` : '', h('code', {}, r.problem), h('span', { class: 'note' }, ` timed at batch ${r.timedBatch}, ${fmt(r.seconds)} s`)),
      h('thead', {}, h('tr', {}, h('th', {}, 'kernel'), h('th', {}, 'time'), h('th', {}, 'status'), h('th', {}, 'note'))),
      h('tbody', {}, ...rows)),
    h('p', { class: `tune-verdict${r.chosen === r.default ? '' : ' changed'}` }, verdict));
}

export function setupTune(gpu: GpuState): TuneSection {
  const modelSelect = byId<HTMLSelectElement>('tune-model');
  const batchInput = byId<HTMLInputElement>('tune-batch');
  const budgetInput = byId<HTMLInputElement>('tune-budget');
  const button = byId<HTMLButtonElement>('tune-start');
  const progress = byId('tune-progress');
  const results = byId('tune-results');
  const summaryLine = byId('tune-summary');

  modelSelect.replaceChildren(...TUNE_KINDS.map((k) => h('option', { value: k.kind }, k.label)));
  batchInput.value = String(DEFAULT_TUNE_BATCH);
  budgetInput.value = String(PROBLEM_BUDGET_MS);
  let running = false;
  let last: TuneSummary | undefined;
  const buttons = () => {
    button.disabled = !gpu.available || running;
    modelSelect.disabled = running;
    batchInput.disabled = running;
    budgetInput.disabled = running;
  };
  if (!gpu.available) progress.textContent = 'needs WebGPU (see the note at the top).';
  buttons();

  const run = async (kind: TuneKind, batchSize: number, budgetMs: number): Promise<void> => {
    running = true;
    buttons();
    results.replaceChildren();
    summaryLine.textContent = '';
    progress.className = 'result busy';
    const label = TUNE_KINDS.find((k) => k.kind === kind)?.label ?? kind;
    progress.textContent = `one ${label} training step at batch ${batchSize}, to find its problems…`;
    let done = 0;
    let total = 0;
    try {
      const r: TuneRun = await tuneModel(kind, batchSize, {
        budgetMs,
        onProblems: (n) => {
          total = n;
          progress.textContent = `${n} problems in a ${label} training step at batch ${batchSize}; tuning the first…`;
        },
        onResult: (result) => {
          done++;
          results.append(resultTable(result));
          progress.textContent = `tuned ${done} of ${total} problems…`;
        },
      });
      const where = tuneCacheLocation();
      progress.className = 'result ok';
      progress.textContent = `done: ${label} at batch ${batchSize}.`;
      summaryLine.textContent =
        `Tuned ${r.results.length} problem${r.results.length === 1 ? '' : 's'} in ${r.seconds.toFixed(1)} s ` +
        `(clock: ${r.clock ?? 'none'}); ${r.changed} run${r.changed === 1 ? 's' : ''} another kernel than the fixed rule's. ` +
        (where ? `The choices are kept in ${where}, and this page uses them from now on (and on later visits, on this adapter).` : 'This browser has no storage here: the choices last until the page is closed.');
      last = {
        problems: r.problems,
        tuned: r.results.length,
        changed: r.changed,
        seconds: r.seconds,
        clock: r.clock,
        where,
        results: r.results.map((x) => ({ problem: x.problem, default: x.default, chosen: x.chosen, statuses: x.candidates.map((c) => c.status) })),
      };
    } catch (e) {
      progress.className = 'result bad';
      progress.textContent = `error: ${(e as Error).message}`;
    } finally {
      running = false;
      buttons();
    }
  };

  button.addEventListener('click', () => {
    if (running) return;
    const budget = Number(budgetInput.value);
    void run(modelSelect.value as TuneKind, Number(batchInput.value), Number.isFinite(budget) && budget > 0 ? budget : PROBLEM_BUDGET_MS);
  });

  return { lastTune: () => last };
}
