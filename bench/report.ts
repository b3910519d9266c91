// Printing the bench: the terminal table, the JSON record, and the comparison of two records.

import fs from 'node:fs';
import type { Peak, Row, Stats } from './harness.ts';
import type { StepProfile } from './train.ts';
import type { PeakSearch } from './peak-search.ts';
import type { ClockName } from './clock.ts';
import type { DeviceInfo } from '../src/core/device.ts';

export const SCHEMA = 'webgpu-mini-dl-bench/1';

export interface BenchReport {
  schema: typeof SCHEMA;
  date: string;
  commit: string | null;
  node: string;
  adapter: DeviceInfo;
  /** The machine the adapter ran on (a software adapter's speed is the CPU's). */
  host: { cpus: number; cpuModel: string; loadAverage: number[] };
  clock: ClockName;
  options: Record<string, unknown>;
  peak: Peak | null;
  /** The FMA peak's search: every shape measured, the best, the runner-up and the old baseline. */
  peakSearch?: Omit<PeakSearch, 'rows'> | null;
  peer: { name: string; description: string; clock: 'wall' } | null;
  rows: Row[];
  training: StepProfile[];
  trainingErrors: string[];
}

// ------------------------------------------------------------------------------ number formats

/** Three significant digits, no exponent for everyday sizes. */
export function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a >= 0.01) return v.toFixed(3);
  return v.toExponential(1);
}

function spread(s: Stats | undefined): string {
  return s ? `${fmt(s.p10)}–${fmt(s.p90)}` : '—';
}

function throughput(r: Row): string {
  if (r.metric === 'flops' && r.gflops !== undefined) return `${fmt(r.gflops)} GFLOP/s`;
  if (r.gbs !== undefined) return `${fmt(r.gbs)} GB/s`;
  // A peer-only row: their throughput, labelled as theirs.
  const p = r.peer;
  if (p && r.metric === 'flops' && p.gflops !== undefined) return `(${p.name}) ${fmt(p.gflops)} GFLOP/s`;
  if (p && p.gbs !== undefined) return `(${p.name}) ${fmt(p.gbs)} GB/s`;
  return '—';
}

function verdictText(r: Row): string {
  if (r.verdict === 'WRONG') return `WRONG ${r.detail ?? ''}`;
  if (r.verdict === 'ERROR') return `ERROR ${r.detail ?? ''}`;
  if (r.verdict === 'PENDING') return 'pending (our kernel not written yet)';
  return 'OK';
}

const pad = (s: string, n: number) => (s.length >= n ? s + ' ' : s + ' '.repeat(n - s.length));
const padLeft = (s: string, n: number) => (s.length >= n ? ' ' + s : ' '.repeat(n - s.length) + s);

// ------------------------------------------------------------------------------ table

export class TablePrinter {
  private group = '';
  constructor(
    private readonly log: (line: string) => void,
    private readonly peerName?: string,
  ) {}

  header(): void {
    let line = pad('kernel', 26) + pad('variant', 14) + pad('shape', 36) + padLeft('ms', 9) + padLeft('p10–p90', 17) + padLeft('throughput', 22) + padLeft('%peak', 7);
    if (this.peerName) line += padLeft('ours(wall)', 11) + padLeft(`${this.peerName} ms`, 10) + padLeft('ours/them', 10);
    this.log(line + '  verdict');
  }

  row(r: Row): void {
    if (r.group !== this.group) {
      this.group = r.group;
      this.log(`— ${r.group}`);
    }
    let line =
      pad(r.kernel, 26) +
      pad(r.variant, 14) +
      pad(r.shape, 36) +
      padLeft(fmt(r.ms?.median), 9) +
      padLeft(spread(r.ms), 17) +
      padLeft(throughput(r), 22) +
      padLeft(r.pctPeak === undefined ? '—' : `${r.pctPeak.toFixed(0)}%`, 7);
    if (this.peerName) {
      const p = r.peer;
      line +=
        padLeft(fmt(p?.oursWall?.median), 11) +
        padLeft(p?.error ? 'n/a' : fmt(p?.theirs?.median), 10) +
        padLeft(p?.ratio === undefined ? '—' : `${p.ratio.toFixed(2)}×`, 10);
    }
    this.log(line + '  ' + verdictText(r) + (r.peer?.error ? ` (${r.peer.name}: ${r.peer.error})` : ''));
  }
}

export function printTraining(p: StepProfile, log: (line: string) => void): void {
  log(
    `${p.model}, batch ${p.batch}: ${fmt(p.stepMs.median)} ms/step (p10–p90 ${spread(p.stepMs)}, wall clock), ` +
      `${fmt(p.imagesPerSec)} images/s` +
      (p.kernelMsPerStep !== undefined ? `; kernels ${fmt(p.kernelMsPerStep)} ms/step (GPU timestamps), host and driver overhead ${fmt(p.overheadMsPerStep)} ms` : ''),
  );
  if (p.note) log(`  note: ${p.note}`);
  if (p.tuning) {
    log(`  tuned (${Object.keys(p.tuning.choices).length} problems on tuned kernels) against untuned (the fixed rules, measured just before): ` +
      `${fmt(p.imagesPerSec)} vs ${fmt(p.tuning.untunedImagesPerSec)} images/s, ${p.tuning.speedup.toFixed(2)}×`);
  }
  if (p.gflopPerStep) {
    log(`  work: ${fmt(p.gflopPerStep)} GFLOP/step (the kernels' declared flops) → ${fmt(p.stepGflops)} GFLOP/s over the wall-clock step` +
      (p.pctPeak !== undefined ? `, ${p.pctPeak.toFixed(0)}% of peak.fma` : ''));
  }
  const peer = p.peer;
  if (peer?.error) log(`  ${peer.name}: ${peer.error}`);
  else if (peer?.stepMs && peer.speedup !== undefined) {
    log(
      `  ${peer.name}, same step: ${fmt(peer.stepMs.median)} ms/step (p10–p90 ${spread(peer.stepMs)}, wall clock), ` +
        `${fmt(peer.imagesPerSec)} images/s; ours / theirs images/s = ${peer.speedup.toFixed(2)}×`,
    );
  }
  if (!p.kernels) return;
  log('  ' + pad('kernel', 30) + padLeft('ms/step', 9) + padLeft('share', 8) + padLeft('launches', 10) + padLeft('GFLOP/s', 9));
  for (const k of p.kernels) {
    const bar = '█'.repeat(Math.round(k.share / 4));
    log(
      '  ' + pad(k.name, 30) + padLeft(fmt(k.msPerStep), 9) + padLeft(`${k.share.toFixed(1)}%`, 8) +
        padLeft(fmt(k.dispatchesPerStep), 10) + padLeft(fmt(k.gflops), 9) + '  ' + bar,
    );
  }
}

// ------------------------------------------------------------------------------ comparison

function key(r: Row): string {
  return `${r.group}|${r.kernel}|${r.variant}|${r.shape}`;
}

function readReport(file: string): BenchReport {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${file} does not exist (write one with \`npm run bench -- --json ${file}\`)` : `cannot read ${file}: ${(e as Error).message}`);
  }
  let data: BenchReport;
  try {
    data = JSON.parse(text) as BenchReport;
  } catch (e) {
    throw new Error(`${file} is not a bench record: not JSON (${(e as Error).message})`);
  }
  if (data.schema !== SCHEMA) throw new Error(`${file} is not a bench record (schema ${String(data.schema)}, expected ${SCHEMA})`);
  return data;
}

/** Prints old → new per row (speed-up = old ms / new ms, above 1 means faster now). */
export function compareReports(oldFile: string, newFile: string, log: (line: string) => void): void {
  const a = readReport(oldFile);
  const b = readReport(newFile);
  const load = (r: BenchReport) => (r.host ? `, load ${r.host.loadAverage[0].toFixed(1)} on ${r.host.cpus} cores` : '');
  log(`old: ${oldFile}  ${a.date}  ${a.commit ?? 'no commit'}  ${a.adapter.description}  (${a.clock}${load(a)})`);
  log(`new: ${newFile}  ${b.date}  ${b.commit ?? 'no commit'}  ${b.adapter.description}  (${b.clock}${load(b)})`);
  if (a.adapter.description !== b.adapter.description) log('warning: different adapters: ratios compare machines, not code');
  if (a.clock !== b.clock) log('warning: different clocks: ratios mix kernel time and wall time');
  if (a.peak && b.peak) {
    // Records from before the search measured the 4-chain vec4 shape alone.
    const shape = (p: Peak) => p.fma ?? 'vec4×4 wg256, unsearched';
    log(`peak: ${fmt(a.peak.gflops)} → ${fmt(b.peak.gflops)} GFLOP/s (peak.fma ${shape(a.peak)} → ${shape(b.peak)}), ${fmt(a.peak.gbs)} → ${fmt(b.peak.gbs)} GB/s`);
  }
  const old = new Map(a.rows.map((r) => [key(r), r]));
  log(pad('kernel', 26) + pad('variant', 14) + pad('shape', 36) + padLeft('old ms', 9) + padLeft('new ms', 9) + padLeft('speed-up', 10) + '  note');
  let group = '';
  for (const r of b.rows) {
    const o = old.get(key(r));
    old.delete(key(r));
    if (r.group !== group) {
      group = r.group;
      log(`— ${group}`);
    }
    const ratio = o?.ms && r.ms ? o.ms.median / r.ms.median : undefined;
    const notes: string[] = [];
    if (!o) notes.push('new row');
    else if (o.verdict !== r.verdict) notes.push(`${o.verdict} → ${r.verdict}`);
    // A change inside both runs' p10–p90 is noise, not a result.
    if (o?.ms && r.ms && ratio !== undefined && o.ms.p10 <= r.ms.p90 && r.ms.p10 <= o.ms.p90) notes.push('within spread');
    log(
      pad(r.kernel, 26) + pad(r.variant, 14) + pad(r.shape, 36) + padLeft(fmt(o?.ms?.median), 9) + padLeft(fmt(r.ms?.median), 9) +
        padLeft(ratio === undefined ? '—' : `${ratio.toFixed(2)}×`, 10) + '  ' + notes.join(', '),
    );
  }
  for (const o of old.values()) log(`${pad(o.kernel, 26)}${pad(o.variant, 14)}${pad(o.shape, 36)} only in the old record`);
  const oldTrain = new Map(a.training.map((t) => [t.model, t]));
  for (const t of b.training) {
    const o = oldTrain.get(t.model);
    log(
      `training ${t.model}, batch ${t.batch}: ${o ? fmt(o.imagesPerSec) : '—'} → ${fmt(t.imagesPerSec)} images/s` +
        (o ? ` (${(t.imagesPerSec / o.imagesPerSec).toFixed(2)}×)` : '') +
        (o?.peer?.speedup !== undefined || t.peer?.speedup !== undefined
          ? `; ours / ${t.peer?.name ?? o?.peer?.name} images/s ${o?.peer?.speedup?.toFixed(2) ?? '—'}× → ${t.peer?.speedup?.toFixed(2) ?? '—'}×`
          : ''),
    );
  }
}
