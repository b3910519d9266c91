// One bench run: peak first (the "% of peak" column needs it; the FMA peak is a search over the
// FMA loop's shapes, peak-search.ts), then every selected case, then the training steps. index.ts wraps it as a command; tests/bench.test.ts calls it in-process.

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { init, getGpu } from '../src/core/device.ts';
import { MATMUL_VARIANTS } from '../src/kernels/matmul.ts';
import { CONV_VARIANTS } from '../src/kernels/conv/conv2d.ts';
import { allCases, copyPeakCases, fmaPeakInvocations, DEFAULT_SIZES, QUICK_SIZES } from './cases.ts';
import { describePeakSearch, searchFmaPeak, type PeakSearch } from './peak-search.ts';
import { bestClock, runCase, DEFAULT_OPTIONS, type BenchCase, type HarnessOptions, type Peak, type PeerRunner, type Row } from './harness.ts';
import { fmt, printTraining, TablePrinter, SCHEMA, type BenchReport } from './report.ts';
import { profilePeerStep, profileStep, trainCases, type StepProfile, type TrainCase } from './train.ts';
import type { ClockName } from './clock.ts';
import { getTuneMode, installedChoices, problemsSeen, setTuneMode } from '../src/core/kernel-policy.ts';
import type { StepTuning } from './train.ts';
import { tuneCacheLocation } from '../src/tune/session.ts';

/** The step under the fixed rules (tune 'off'), when tuned choices are in effect; else undefined. */
async function untunedStep(profile: () => Promise<StepProfile>): Promise<StepProfile | undefined> {
  const mode = getTuneMode();
  if (mode === 'off' || installedChoices().size === 0) return undefined;
  setTuneMode('off');
  try {
    return await profile();
  } finally {
    setTuneMode(mode);
  }
}

/** The tuned step against the untuned one, and the choices the step ran. */
function tuningOf(tuned: StepProfile, untuned: StepProfile): StepTuning {
  const table = installedChoices();
  const choices: Record<string, string> = {};
  for (const key of problemsSeen().keys()) if (table.has(key)) choices[key] = table.get(key)!;
  return { untunedImagesPerSec: untuned.imagesPerSec, untunedStepMs: untuned.stepMs, speedup: tuned.imagesPerSec / untuned.imagesPerSec, choices };
}

export interface BenchOptions {
  quick: boolean;
  filter?: string;
  sizes?: number[];
  variant?: string;
  reps?: number;
  peer?: 'tfjs';
  train: boolean;
  /** Replace the case list (tests); peak cases still run first unless `peak` is false. */
  cases?: BenchCase[];
  trainCases?: TrainCase[];
  peak?: boolean;
  /** Force a clock (tests); default: timestamps where the adapter has them. */
  clock?: ClockName;
  log?: (line: string) => void;
}

/** Every known variant name (for --variant's check). */
export const KNOWN_VARIANTS: string[] = [...new Set([...MATMUL_VARIANTS, 'auto', ...CONV_VARIANTS])];

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

function matches(text: string, filter: string | undefined): boolean {
  return !filter || text.toLowerCase().includes(filter.toLowerCase());
}

export function selectCases(cases: BenchCase[], o: Pick<BenchOptions, 'quick' | 'filter' | 'variant' | 'peer'>): BenchCase[] {
  return cases.filter((c) => {
    if (o.quick && !c.quick) return false;
    if (!c.setup && !o.peer) return false; // rows that exist only for the peer
    if (c.slow && o.variant !== c.variant) return false;
    if (o.variant && c.variant !== '-' && c.variant !== o.variant && !c.variant.startsWith(`${o.variant}→`)) return false;
    return matches(`${c.group} ${c.kernel} ${c.variant} ${c.shape}`, o.filter);
  });
}

function harnessOptions(o: BenchOptions, clock: ClockName): HarnessOptions {
  const base: HarnessOptions = o.quick
    ? { ...DEFAULT_OPTIONS, budgetMs: 150, warmupMs: 20, minReps: 3, maxReps: 20 }
    : { ...DEFAULT_OPTIONS };
  return { ...base, clock, reps: o.reps };
}

export async function runBench(o: BenchOptions, peer?: PeerRunner & { description: string }): Promise<BenchReport> {
  const log = o.log ?? ((line: string) => console.log(line));
  await init();
  const { info } = getGpu();
  const clock = o.clock ?? bestClock();
  const options = harnessOptions(o, clock);
  const date = new Date().toISOString();
  const commit = gitCommit();
  log(`adapter: ${info.description}`);
  const tuned = installedChoices().size;
  log(`kernel choices: tune ${getTuneMode()}${tuned ? `, ${tuned} tuned problems from ${tuneCacheLocation()} (training steps are shown tuned and untuned)` : ' (no tuned problems for this adapter: npm run tune measures them)'}`);
  log(`clock: ${clock === 'gpu-timestamp' ? 'GPU timestamp queries around each dispatch (kernel time only)' : 'wall clock around submit + onSubmittedWorkDone'}`);
  if (peer) log(`peer: ${peer.description}; the peer columns time both sides by wall clock (record, submit, wait for the queue)`);
  log(`date: ${date}  commit: ${commit ?? 'unknown'}${o.quick ? '  (--quick)' : ''}`);
  // On a software adapter the "GPU" is these CPU cores: anything else running skews every row.
  const load = os.loadavg();
  const cpus = os.cpus().length;
  if (info.isSoftware && load[0] > 0.5 * cpus) {
    log(`warning: load average ${load[0].toFixed(1)} on ${cpus} cores: other processes share the CPU this adapter runs on; expect noisy, slow rows`);
  }

  const table = new TablePrinter(log, peer?.name);
  table.header();
  const rows: Row[] = [];

  let peak: Peak | null = null;
  let search: PeakSearch | null = null;
  if (o.peak !== false) {
    // The FMA peak is a search over the loop's shapes (peak-search.ts); the copy peak the faster of two.
    search = await searchFmaPeak(options, o.quick, getGpu().limits, fmaPeakInvocations(info.isSoftware));
    const peakRows: Row[] = [...search.rows];
    for (const c of copyPeakCases(o.quick)) peakRows.push(await runCase(c, options));
    const gflops = search.best?.gflops ?? 0;
    const gbs = Math.max(0, ...peakRows.filter((r) => r.kernel === 'copy').map((r) => r.gbs ?? 0));
    if (gflops > 0 && gbs > 0) peak = { gflops, gbs, fma: search.best!.name };
    for (const r of peakRows) {
      if (peak) r.pctPeak = (100 * (r.metric === 'flops' ? r.gflops ?? 0 : r.gbs ?? 0)) / (r.metric === 'flops' ? peak.gflops : peak.gbs);
      rows.push(r);
      table.row(r);
    }
    log(describePeakSearch(search, fmt));
  }
  options.peak = peak ?? undefined;
  options.peer = peer;

  const sizes = o.sizes ?? (o.quick ? QUICK_SIZES : DEFAULT_SIZES);
  const all = o.cases ?? allCases({ quick: o.quick, sizes }).filter((c) => c.group !== 'peak');
  const list = selectCases(all, o);
  const skippedSlow = all.filter((c) => c.slow && o.variant !== c.variant && selectCases([{ ...c, slow: false }], o).length > 0);
  for (const c of list) {
    const r = await runCase(c, options);
    rows.push(r);
    table.row(r);
  }

  if (skippedSlow.length) {
    log(`skipped, many seconds a repetition here (run them with --variant): ${skippedSlow.map((c) => `${c.kernel} ${c.variant} ${c.shape}`).join('; ')}`);
  }

  const training: StepProfile[] = [];
  const trainingErrors: string[] = [];
  if (o.train) {
    const candidates = (o.trainCases ?? trainCases()).filter((t) => (!o.quick || t.quick) && matches(`train ${t.model}`, o.filter));
    if (candidates.length) log('— training steps');
    for (const t of candidates) {
      const model = t.setup();
      try {
        const profile = o.quick ? { warmup: 1, steps: 3, profileSteps: 1 } : { warmup: t.steps && t.steps < 5 ? 1 : 2, steps: t.steps ?? 10, profileSteps: Math.min(3, t.steps ?? 3) };
        // With tuned choices installed, the same step untuned (the fixed rules) first, beside it.
        const untuned = await untunedStep(() => profileStep(t.model, t.batch, model.step, profile, peak?.gflops));
        problemsSeen(true);
        const p = await profileStep(t.model, t.batch, model.step, profile, peak?.gflops);
        if (untuned) p.tuning = tuningOf(p, untuned);
        if (peer && t.peer) p.peer = await profilePeerStep(peer, t.peer, p, profile);
        training.push(p);
        printTraining(p, log);
      } catch (e) {
        const message = `${t.model}: ${(e as Error).message.split('\n')[0]}`;
        trainingErrors.push(message);
        log(`ERROR ${message}`);
      } finally {
        model.dispose();
      }
    }
  }

  return {
    schema: SCHEMA,
    date,
    commit,
    node: process.version,
    adapter: info,
    host: { cpus, cpuModel: os.cpus()[0]?.model ?? 'unknown', loadAverage: load },
    clock,
    options: { quick: o.quick, filter: o.filter, sizes, variant: o.variant, reps: o.reps, peer: o.peer, train: o.train },
    peak,
    peakSearch: search ? { candidates: search.candidates, searched: search.searched, ms: search.ms, best: search.best, runnerUp: search.runnerUp, baseline: search.baseline, results: search.results } : null,
    peer: peer ? { name: peer.name, description: peer.description, clock: 'wall' } : null,
    rows,
    training,
    trainingErrors,
  };
}
