// What the tuner's choices were measured on. A choice says "on this adapter, kernel X was the
// fastest for this problem"; it stays true only while the kernels are the ones that were timed.
// An edit to a kernel (written faster, or slower, or differently on one engine) inside the same
// framework version would otherwise keep old choices and old verifications. So the cache keeps
// its entries per framework version *and* this fingerprint: a hash of the WGSL (and overrides)
// of every candidate the tuner can try, built at a few fixed shapes that reach every kernel
// source (each variant and block, transposes, narrow outputs, both Winograd sizes). Any change
// to a candidate's source changes it, and the next run measures again.

import { matmulCandidates, matmulProgram, type MatmulShape } from '../kernels/matmul.ts';
import { conv2dInputGradProgram, conv2dProgram, conv2dWeightGradProgram, convCandidates, weightGradSplits, winogradPrograms } from '../kernels/conv/conv2d.ts';
import { conv2dGeometry } from '../kernels/conv/geometry.ts';
import { winogradFits } from '../kernels/conv/conv2d-winograd.ts';
import type { Program } from '../kernels/program.ts';
import { FNV1A32_OFFSET, fnv1a32, hex32 } from '../io/fnv.ts';

const EPILOGUE = { hasBias: true, activation: 'leakyRelu' as const, alpha: 0.2 };

/** The source of every candidate kernel at the fixed shapes, in a fixed order. */
function candidateSources(): string[] {
  const out: string[] = [];
  const add = (p: Program) => out.push(`${p.name}|${JSON.stringify(p.overrides ?? {})}|${p.unroll?.join(',') ?? ''}|${p.wgsl}`);
  for (const [m, n, k] of [[65, 33, 7], [12, 8, 20], [7, 1, 5], [7, 4, 5]]) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true]]) {
      const s: MatmulShape = { batch: 2, m, n, k, transA, transB, aBatchStride: m * k, bBatchStride: k * n };
      for (const kernel of matmulCandidates(s)) add(matmulProgram(s, EPILOGUE, kernel));
    }
  }
  for (const [kh, stride, inC, outC] of [[3, 1, 3, 9], [5, 1, 16, 64], [5, 2, 64, 1], [5, 2, 1, 64]]) {
    const g = conv2dGeometry([2, 9, 8, inC], [kh, kh, inC, outC], stride, 'same');
    const device = { subgroups: true };
    for (const pass of ['forward', 'inputGrad', 'weightGrad'] as const) {
      for (const kernel of convCandidates(pass, g, device)) {
        if (kernel.variant === 'winograd') continue;
        if (pass === 'forward') add(conv2dProgram(g, EPILOGUE, kernel));
        else if (pass === 'inputGrad') add(conv2dInputGradProgram(g, EPILOGUE, kernel));
        else add(conv2dWeightGradProgram(g, weightGradSplits(g, kernel), kernel));
      }
      if (pass !== 'weightGrad' && winogradFits(pass, g)) {
        const plan = winogradPrograms(pass, g, EPILOGUE, 'conv2d');
        add(plan.weights);
        for (const c of plan.chunks) {
          add(c.input);
          add(c.output);
        }
      }
    }
  }
  return out;
}

let cached: string | undefined;

/** 8 hex digits: FNV-1a (32 bits, ../io/fnv.ts) of candidateSources, a newline between sources. Computed once per process. */
export function kernelFingerprint(): string {
  if (cached === undefined) {
    let h = FNV1A32_OFFSET;
    for (const text of candidateSources()) h = fnv1a32('\n', fnv1a32(text, h));
    cached = hex32(h);
  }
  return cached;
}
