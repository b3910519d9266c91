// The FMA peak's search (src/kernels/peak.ts, bench/peak-search.ts): every candidate shape's flop
// count matches a count read off its WGSL, every candidate's kernel computes the chain recurrence
// it claims (checked against float64 on a small dispatch), the candidates respect the device's
// limits, and the choice of the best is a pure function of the timings, tested without timing.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { getGpu } from '../src/core/device.ts';
import { readBuffer, run } from '../src/core/dispatch.ts';
import { FMA_BASELINE, fmaPeakProgram, fmaPeakWgsl, fmaShapeName, peakCandidates, type FmaLimits, type FmaShape } from '../src/kernels/peak.ts';
import { bestTiming, coarseShapes, describePeakSearch, rankTimings, searchFmaPeak, workgroupShapes, type PeakSearch } from '../bench/peak-search.ts';
import { DEFAULT_OPTIONS } from '../bench/harness.ts';
import { fmaPeakCase, fmaPeakInvocations, fmaPeakIterations } from '../bench/cases.ts';

test.before(async () => {
  await ready;
});

const LIMITS: FmaLimits = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256 };

/** Flops of one dispatch, counted from the WGSL text: fma calls in the loop × components × 2. */
function flopsFromWgsl(wgsl: string, workgroups: number, iterations: number): number {
  const loop = /for \(var i = 0u; i < params\.iterations; i\+\+\) \{([^}]*)\}/.exec(wgsl);
  assert.ok(loop, 'the WGSL has the FMA loop');
  const fmas = (loop![1].match(/\bfma\(/g) ?? []).length;
  const type = /var x0: (\w+) =/.exec(wgsl)![1];
  const components = type === 'f32' ? 1 : Number(/^vec(\d)f$/.exec(type)![1]);
  const workgroup = Number(/@workgroup_size\((\d+)\)/.exec(wgsl)![1]);
  return 2 * fmas * components * iterations * workgroup * workgroups;
}

test('candidates: chains 4–32 × f32/vec2/vec4 × workgroups 64–256, named by shape, the old shape among them', () => {
  const all = peakCandidates(LIMITS);
  assert.is(all.length, 4 * 3 * 3);
  assert.is(new Set(all.map(fmaShapeName)).size, all.length, 'distinct names');
  assert.ok(all.some((s) => fmaShapeName(s) === fmaShapeName(FMA_BASELINE)), 'the old 4-chain vec4 wg256 shape is a candidate');
  assert.is(fmaShapeName({ chains: 16, width: 4, workgroup: 64 }), 'vec4×16 wg64');
  assert.is(fmaShapeName({ chains: 8, width: 1, workgroup: 256 }), 'f32×8 wg256');
  assert.is(new Set(all.map((s) => fmaPeakWgsl(s))).size, all.length, 'one distinct module per candidate');
});

test('candidates respect the device limits', () => {
  const sizes = (l: FmaLimits) => [...new Set(peakCandidates(l).map((s) => s.workgroup))].sort((a, b) => a - b);
  assert.equal(sizes({ maxComputeInvocationsPerWorkgroup: 64, maxComputeWorkgroupSizeX: 256 }), [64]);
  assert.equal(sizes({ maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 128 }), [64, 128]);
  assert.equal(sizes({ maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024 }), [64, 128, 256]);
  // Below every listed size: the largest the device allows.
  assert.equal(sizes({ maxComputeInvocationsPerWorkgroup: 32, maxComputeWorkgroupSizeX: 48 }), [32]);
  for (const l of [{ maxComputeInvocationsPerWorkgroup: 64, maxComputeWorkgroupSizeX: 256 }, { maxComputeInvocationsPerWorkgroup: 32, maxComputeWorkgroupSizeX: 48 }]) {
    const cap = Math.min(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX);
    const all = peakCandidates(l);
    assert.is(all.length, 12, 'every chains × width at the sizes that fit');
    // The search's stages only pick from the candidates.
    const coarse = coarseShapes(all);
    const stage2 = workgroupShapes(all, coarse.slice(0, 2));
    for (const s of [...coarse, ...stage2]) {
      assert.ok(s.workgroup <= cap, `${fmaShapeName(s)} within ${cap}`);
      assert.ok(/@workgroup_size\((\d+)\)/.exec(fmaPeakWgsl(s))![1] === String(s.workgroup));
    }
  }
});

test("each candidate's flop count matches the count read off its WGSL, and a hand count", () => {
  for (const s of peakCandidates(LIMITS)) {
    for (const [workgroups, iterations] of [[1, 1], [3, 10], [64, 4096]]) {
      const p = fmaPeakProgram(workgroups, iterations, s);
      assert.is(p.flops, flopsFromWgsl(p.wgsl, workgroups, iterations), `${fmaShapeName(s)} ${workgroups}×${iterations}`);
    }
  }
  // By hand: 16 vec4 FMAs = 128 flops per iteration, 192 invocations, 10 iterations.
  assert.is(fmaPeakProgram(3, 10, { chains: 16, width: 4, workgroup: 64 }).flops, 128 * 192 * 10);
  // The old shape, as the bench counted it before it searched: 32 flops an iteration.
  assert.is(fmaPeakProgram(64, 4096).flops, 64 * 256 * 4096 * 32);
  assert.is(fmaPeakProgram(2, 5, { chains: 8, width: 1, workgroup: 128 }).flops, 16 * 256 * 5);
});

test('every shape of a search does the same work per dispatch; a GPU gets 64× the invocations of a CPU driver', () => {
  for (const isSoftware of [true, false]) {
    const invocations = fmaPeakInvocations(isSoftware);
    for (const s of peakCandidates(LIMITS)) {
      assert.is(invocations % s.workgroup, 0, `${fmaShapeName(s)}: whole workgroups`);
      const iterations = fmaPeakIterations(s, 16384);
      assert.is(s.chains * s.width * iterations, 16384, `${fmaShapeName(s)}: chains × width × iterations`);
      assert.is(fmaPeakCase(s, 16384, invocations).shape, `${invocations} threads × ${iterations} it`);
    }
  }
  assert.is(fmaPeakInvocations(false), 64 * fmaPeakInvocations(true));
});

/** The recurrence in float64, written out here rather than taken from the kernel file. */
function expected(shape: FmaShape, invocations: number, iterations: number, a: number, b: number): Float64Array {
  const out = new Float64Array(invocations * shape.width);
  for (let g = 0; g < invocations; g++) {
    for (let lane = 0; lane < shape.width; lane++) {
      let sum = 0;
      for (let c = 0; c < shape.chains; c++) {
        let x = (g % 8) / 8 + 0.1 * lane + c;
        for (let i = 0; i < iterations; i++) x = a * x + b;
        sum += x;
      }
      out[g * shape.width + lane] = sum;
    }
  }
  return out;
}

test("each candidate's kernel computes the sum of its chains' recurrence (float64 reference)", async () => {
  const { device } = getGpu();
  const [iterations, a, b] = [7, 0.75, 0.5];
  const bytes = 256 * 4 * 4;
  const buffer = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  try {
    for (const s of peakCandidates(LIMITS)) {
      const p = fmaPeakProgram(1, iterations, s, a, b);
      const size = s.workgroup * s.width * 4;
      run(p, [], [{ buffer, size }]);
      const got = new Float32Array(await readBuffer(buffer, 0, size));
      const want = expected(s, s.workgroup, iterations, a, b);
      for (let i = 0; i < want.length; i++) {
        if (!(Math.abs(got[i] - want[i]) <= 1e-5 * Math.abs(want[i]) + 1e-5)) {
          assert.unreachable(`${fmaShapeName(s)}: element ${i} is ${got[i]}, expected ${want[i]}`);
        }
      }
    }
  } finally {
    buffer.destroy();
  }
});

test('the choice: the most GFLOP/s (flops / seconds, not the least time), invalid timings skipped', () => {
  const timings = [
    { name: 'quick but little work', seconds: 0.001, flops: 1e6 }, // 1 GFLOP/s
    { name: 'slow but much work', seconds: 0.01, flops: 3e8 }, // 30
    { name: 'fastest', seconds: 0.004, flops: 2e8 }, // 50
    { name: 'failed', seconds: NaN, flops: 1e9 },
    { name: 'zero time', seconds: 0, flops: 1e9 },
    { name: 'no work', seconds: 0.001, flops: 0 },
    { name: 'runner-up', seconds: 0.005, flops: 2e8 }, // 40
  ];
  assert.is(bestTiming(timings)!.name, 'fastest');
  assert.ok(Math.abs(bestTiming(timings)!.gflops - 50) < 1e-9);
  assert.equal(rankTimings(timings).map((t) => t.name), ['fastest', 'runner-up', 'slow but much work', 'quick but little work']);
  assert.is(bestTiming([]), undefined);
  assert.is(bestTiming([{ name: 'failed', seconds: Infinity, flops: 1 }]), undefined);
  // Order of the input does not matter.
  assert.is(bestTiming([...timings].reverse())!.name, 'fastest');
});

test('the line that introduces the peak: the best, the runner-up, the old shape and their ratio', () => {
  const base: PeakSearch = {
    candidates: 36,
    searched: 16,
    best: { name: 'vec4×16 wg64', gflops: 38.9 },
    runnerUp: { name: 'vec4×8 wg64', gflops: 37 },
    baseline: { name: 'vec4×4 wg256', gflops: 29.8 },
    ms: 4200,
    results: [],
    rows: [],
  };
  const line = describePeakSearch(base, (v) => v.toFixed(1));
  assert.ok(line.startsWith('peak.fma: the best of 16 shapes searched (of 36 candidates'), line);
  for (const part of ['peak.fma vec4×16 wg64, 38.9 GFLOP/s', 'runner-up vec4×8 wg64 37.0 GFLOP/s', 'vec4×4 wg256 29.8 GFLOP/s', 'best / old 1.31×']) {
    assert.ok(line.includes(part), `${part} in: ${line}`);
  }
  const oldWins = describePeakSearch({ ...base, best: base.baseline, runnerUp: base.best }, (v) => v.toFixed(1));
  assert.ok(oldWins.includes('the old 4-chain shape is the best here') && !oldWins.includes('best / old'), oldWins);
  assert.match(describePeakSearch({ ...base, best: undefined, runnerUp: undefined, baseline: undefined }, String), /no FMA peak this run/);
});

test('the search on this device: refines the best brief shapes beside the old one, and its peak is the fastest refined', async () => {
  const options = { ...DEFAULT_OPTIONS, clock: 'wall' as const, budgetMs: 20, warmupMs: 0, minReps: 3, maxReps: 3 };
  const s = await searchFmaPeak(options, true, LIMITS);
  assert.is(s.candidates, 36);
  assert.is(s.searched, 12 + 4, '12 chains × width at wg64, then 2 more workgroup sizes for the top 2');
  const brief = s.results.filter((r) => r.stage !== 'refine');
  assert.is(brief.length, s.searched);
  for (const r of s.results) assert.is(r.verdict, 'OK', `${r.name}: ${r.detail}`);
  const refined = s.results.filter((r) => r.stage === 'refine');
  assert.ok(refined.some((r) => r.name === fmaShapeName(FMA_BASELINE)), 'the old shape is refined beside the best');
  // Two interleaved rounds: every refined shape once, then every one again.
  assert.is(refined.length, 2 * s.rows.length);
  assert.equal(refined.slice(0, s.rows.length).map((r) => r.name), refined.slice(s.rows.length).map((r) => r.name));
  const fastest = Math.max(...refined.map((r) => r.gflops!));
  assert.is(s.best!.gflops, fastest);
  assert.ok(s.runnerUp!.gflops <= s.best!.gflops && s.runnerUp!.name !== s.best!.name, 'the runner-up is another shape');
  assert.ok(s.baseline!.gflops <= s.best!.gflops);
  // Each row is its shape's better round.
  for (const row of s.rows) {
    const mine = refined.filter((r) => r.name === row.variant).map((r) => r.gflops!);
    assert.is(row.gflops, Math.max(...mine), row.variant);
  }
});

test.run();
