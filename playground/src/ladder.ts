// Section 1, the kernel ladder: pick an operation and a rung, read its WGSL beside the float64
// reference it is checked against, verify it, time it, and chart GFLOP/s by rung and size.
//
// Verify and Time run the bench's own cases through the bench's own harness (bench/harness.ts):
// Verify runs the kernel once and compares every checked element with the reference
// (|got − want| ≤ atol + rtol·|want|); Time verifies first, warms up, then takes the median of
// repeated runs on the wall clock (record, submit, wait for queue.onSubmittedWorkDone(), grouped
// so each sample lasts a few milliseconds). GFLOP/s = the kernel's useful flops (2·N³ for a
// matmul) / that median.
//
// A rung of several launches (a convolution's winograd: transforms around a batched matmul) shows
// every Program it launches, in order, each under its own name; Verify and Time run the whole op.

import { REFERENCE_SOURCES } from 'virtual:reference-sources';
import { DEFAULT_OPTIONS, runCase, type HarnessOptions, type Peak, type Row } from '../../bench/harness.ts';
import { searchFmaPeak } from '../../bench/peak-search.ts';
import { fmaPeakInvocations } from '../../bench/cases.ts';
import { getGpu } from '../../src/core/device.ts';
import { byId, fmt, h } from './dom.ts';
import { barChart } from './charts.ts';
import { onGpu } from './gpu.ts';
import type { GpuState, TimeResult, VerifyResult } from './hooks.ts';
import type { Program } from '../../src/kernels/index.ts';
import { copyPeakBenchCases, describeOp, ladderSizes, ranLabel, rungCase, rungPrograms, rungs, sizeLabel, winogradChunks, type LadderOp } from './ladder-cases.ts';

/** Runs a rung once and compares it with its reference. */
export function verifyRung(op: LadderOp, variant: string, size: number): Promise<VerifyResult> {
  return onGpu(async () => {
    const c = rungCase(op, variant, size);
    const ran = c.variant;
    let run;
    try {
      run = await c.setup!();
      run.record();
      const v = await run.verify();
      return { ok: v.ok, maxError: v.maxError, checked: v.checked, ran };
    } catch (e) {
      return { ok: false, maxError: NaN, checked: 0, ran, error: (e as Error).message.split('\n')[0] };
    } finally {
      run?.dispose();
    }
  });
}

let peak: Promise<Peak> | undefined;

/** The adapter's FMA and copy peaks, measured once by the bench's microkernels (src/kernels/peak.ts). */
export function measurePeak(isSoftware: boolean): Promise<Peak> {
  peak ??= onGpu(async () => {
    // The FMA peak: the fastest shape of the bench's search over the loop's shapes.
    const search = await searchFmaPeak(harnessOptions(isSoftware), isSoftware, getGpu().limits, fmaPeakInvocations(isSoftware));
    const rows: Row[] = [];
    for (const c of copyPeakBenchCases(isSoftware)) rows.push(await runCase(c, harnessOptions(isSoftware)));
    return { gflops: search.best?.gflops ?? 0, gbs: Math.max(0, ...rows.map((r) => r.gbs ?? 0)), fma: search.best?.name };
  });
  return peak;
}

function harnessOptions(isSoftware: boolean, p?: Peak): HarnessOptions {
  return { ...DEFAULT_OPTIONS, clock: 'wall', budgetMs: isSoftware ? 600 : 1000, warmupMs: 100, peak: p };
}

/** Verifies, then times a rung as the bench does. */
export async function timeRung(op: LadderOp, variant: string, size: number, isSoftware: boolean): Promise<TimeResult> {
  const p = await measurePeak(isSoftware);
  const c = rungCase(op, variant, size);
  const row = await onGpu(() => runCase(c, harnessOptions(isSoftware, p)));
  const error = row.verdict === 'ERROR' ? row.detail : row.verdict === 'WRONG' ? `wrong: ${row.detail}` : undefined;
  return { ok: row.verdict === 'OK', maxError: row.maxError ?? NaN, checked: 0, ran: c.variant, error, ms: row.ms?.median, gflops: row.gflops, pctPeak: row.pctPeak };
}

// ---------------------------------------------------------------------------- the section

export function setupLadder(gpu: GpuState): void {
  const hasSubgroups = gpu.hasSubgroups ?? false;
  const isSoftware = gpu.isSoftware ?? true;
  const state = { op: 'matmul' as LadderOp, variant: 'naive', size: ladderSizes('matmul', isSoftware)[0] };
  const results = new Map<string, TimeResult>(); // `${op}|${variant}|${size}`
  let stopRequested = false;

  const opSelect = byId<HTMLSelectElement>('ladder-op');
  const rungList = byId('ladder-rungs');
  const sizeSelect = byId<HTMLSelectElement>('ladder-size');
  const verifyButton = byId<HTMLButtonElement>('ladder-verify');
  const timeButton = byId<HTMLButtonElement>('ladder-time');
  const allButton = byId<HTMLButtonElement>('ladder-all');
  const result = byId('ladder-result');
  const chart = byId('ladder-chart');
  const caption = byId('ladder-caption');

  const canRun = gpu.available;
  for (const b of [verifyButton, timeButton, allButton]) {
    b.disabled = !canRun;
    if (!canRun) b.title = 'needs WebGPU (see the note at the top)';
  }

  const say = (text: string, cls = '') => {
    result.className = `result ${cls}`;
    result.textContent = text;
  };

  function renderControls(): void {
    sizeSelect.replaceChildren(...ladderSizes(state.op, isSoftware).map((n) => h('option', { value: n, selected: n === state.size }, sizeLabel(state.op, n))));
    rungList.replaceChildren(
      ...rungs(state.op, hasSubgroups).map((r, i) => {
        const b = h('button', { class: r.variant === state.variant ? 'rung selected' : 'rung', title: r.idea, 'data-variant': r.variant }, `${i + 1}. ${r.variant}`);
        b.addEventListener('click', () => {
          state.variant = r.variant;
          render();
        });
        return b;
      }),
    );
  }

  /** A Program's name, workgroup grid, override constants and useful flops, for its title. */
  function programTitle(program: Program): string {
    const overrides = Object.entries(program.overrides ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
    return `${program.name} — ${program.grid.join('×')} workgroups${overrides ? `; overrides ${overrides}` : ''}; ${fmt((program.flops ?? 0) / 1e6)} MFLOP`;
  }

  function renderCode(): void {
    // The device's largest storage binding decides winograd's chunks of images (none without a device).
    const maxBinding = gpu.available ? getGpu().limits.maxStorageBufferBindingSize : Infinity;
    const programs = rungPrograms(state.op, state.variant, state.size, maxBinding);
    const last = programs[programs.length - 1];
    const rung = rungs(state.op, hasSubgroups).find((r) => r.variant === state.variant);
    byId('ladder-idea').textContent = `${ranLabel(state.variant, last)}: ${rung?.idea ?? ''}`;
    const single = byId('ladder-wgsl-single');
    const list = byId('ladder-programs');
    if (programs.length === 1) {
      // One Program: its title and WGSL in the panel's own heading and block.
      single.hidden = false;
      byId('ladder-wgsl-title').textContent = programTitle(last);
      byId('ladder-wgsl').textContent = last.wgsl.trim();
      list.replaceChildren();
    } else {
      // Several: the heading counts them; each gets its own title and block, in launch order.
      const chunks = state.op === 'matmul' ? 1 : winogradChunks(state.op, state.size, maxBinding);
      const flops = programs.reduce((sum, p) => sum + (p.flops ?? 0), 0);
      single.hidden = true;
      byId('ladder-wgsl-title').textContent =
        `${programs.length} Programs, launched in order; ${fmt(flops / 1e6)} MFLOP in all` +
        (chunks > 1 ? ` (the last ${programs.length - 1} shown for the first of ${chunks} chunks of images, each repeating them)` : '');
      byId('ladder-wgsl').textContent = '';
      list.replaceChildren(...programs.map((p, i) => h('div', { class: 'program' },
        h('h4', { class: 'program-title' }, `${i + 1}. ${programTitle(p)}`),
        h('pre', {}, h('code', { class: 'program-wgsl' }, p.wgsl.trim())))));
    }
    const ref = REFERENCE_SOURCES[state.op === 'matmul' ? 'matmul' : 'conv2d'];
    byId('ladder-reference-title').textContent = `${ref.name} (${ref.file})`;
    byId('ladder-reference').textContent = ref.source;
    byId('ladder-activation').textContent = REFERENCE_SOURCES.activation.source;
    byId('ladder-op-description').textContent = describeOp(state.op);
  }

  function renderChart(): void {
    const sizes = ladderSizes(state.op, isSoftware);
    const names = rungs(state.op, hasSubgroups).map((r) => r.variant);
    const values = names.map((v) => sizes.map((n) => results.get(`${state.op}|${v}|${n}`)?.gflops));
    chart.replaceChildren(barChart({ categories: names, series: sizes.map((n) => sizeLabel(state.op, n)), values, yLabel: 'GFLOP/s' }));
  }

  function renderCaption(p?: Peak): void {
    const adapter = gpu.available ? gpu.description : 'no WebGPU adapter';
    const peaks = p ? `measured peaks: FMA ${fmt(p.gflops)} GFLOP/s${p.fma ? ` (peak.fma ${p.fma}, the fastest shape searched)` : ''}, copy ${fmt(p.gbs)} GB/s (src/kernels/peak.ts, as npm run bench measures them)` : 'peaks: measured with the first timing';
    caption.textContent = `${adapter}; ${peaks}.`;
  }

  function render(): void {
    renderControls();
    renderCode();
    renderChart();
  }

  function describe(r: TimeResult): string {
    if (r.error) return `${r.ran}: ${r.error}`;
    const check = `${r.ok ? 'matches' : 'does NOT match'} the float64 reference (max error ${fmt(r.maxError)}${r.checked ? ` over ${r.checked.toLocaleString()} elements` : ''})`;
    if (r.gflops === undefined) return `${r.ran} at ${sizeLabel(state.op, state.size)}: ${check}`;
    return `${r.ran} at ${sizeLabel(state.op, state.size)}: ${check}; median ${fmt(r.ms!)} ms, ${fmt(r.gflops)} GFLOP/s${r.pctPeak !== undefined ? ` (${fmt(r.pctPeak)}% of the FMA peak)` : ''}`;
  }

  const busy = (on: boolean) => {
    verifyButton.disabled = on || !canRun;
    timeButton.disabled = on || !canRun;
    allButton.textContent = on ? 'Stop' : 'Run the whole ladder';
  };

  opSelect.addEventListener('change', () => {
    state.op = opSelect.value as LadderOp;
    state.variant = rungs(state.op, hasSubgroups)[0].variant;
    state.size = ladderSizes(state.op, isSoftware)[0];
    render();
  });
  sizeSelect.addEventListener('change', () => {
    state.size = Number(sizeSelect.value);
    renderCode();
  });
  verifyButton.addEventListener('click', async () => {
    say('verifying…', 'busy');
    const r = await verifyRung(state.op, state.variant, state.size);
    say(describe(r), r.ok ? 'ok' : 'bad');
  });
  timeButton.addEventListener('click', async () => {
    busy(true);
    say('measuring the peaks, then verifying and timing…', 'busy');
    try {
      const r = await timeRung(state.op, state.variant, state.size, isSoftware);
      renderCaption(await measurePeak(isSoftware));
      results.set(`${state.op}|${state.variant}|${state.size}`, r);
      say(describe(r), r.ok ? 'ok' : 'bad');
      renderChart();
    } finally {
      busy(false);
    }
  });
  allButton.addEventListener('click', async () => {
    if (allButton.textContent === 'Stop') {
      stopRequested = true;
      return;
    }
    stopRequested = false;
    busy(true);
    const op = state.op;
    try {
      say('measuring the peaks…', 'busy');
      renderCaption(await measurePeak(isSoftware));
      ladder: for (const size of ladderSizes(op, isSoftware)) {
        for (const { variant } of rungs(op, hasSubgroups)) {
          if (stopRequested) break ladder;
          say(`timing ${variant} at ${sizeLabel(op, size)}…`, 'busy');
          const r = await timeRung(op, variant, size, isSoftware);
          results.set(`${op}|${variant}|${size}`, r);
          if (state.op === op) renderChart();
        }
      }
      say(stopRequested ? 'stopped.' : `done: every rung at every size; hover a bar for its figure.`, 'ok');
    } finally {
      busy(false);
    }
  });

  renderCaption();
  render();
}
