// Training throughput: images per second of whole training steps, and where a step's time goes.
//
// profileStep(step) runs a step function (forward, loss, backward, optimizer update: whatever a
// model's train step does) in two ways:
//  - throughput: `steps` steps, each ended by sync(), on the wall clock. This is what a user
//    sees, host overhead (recording, uniform packing, JS) included.
//  - profile: a few more steps with a GPU timestamp around every dispatch, grouped by the
//    kernel's Program.name: milliseconds per step, share of the step's kernel time, launches per
//    step, and GFLOP/s where the kernel declares its flops. The gap between the wall-clock step
//    and the summed kernel time is host and driver overhead.
// A model joins the bench by adding a TrainCase (see mlpTrainCase).

import { sync } from '../src/core/dispatch.ts';
import { getGpu } from '../src/core/device.ts';
import { fromData, type Tensor } from '../src/core/tensor.ts';
import { keep, tidy } from '../src/core/scope.ts';
import { linear } from '../src/core/ops.ts';
import { crossEntropy } from '../src/core/softmax-ops.ts';
import { adamStep } from '../src/core/optim-ops.ts';
import { zeros } from '../src/core/creation.ts';
import { MAX_TIMED_DISPATCHES, TimestampRecorder } from '../src/core/timestamps.ts';
import { summarize, type PeerRunner, type Stats } from './harness.ts';
import type { PeerTrainStep } from './peer-ops.ts';
import { uniformData } from './case-kit.ts';
import { MLP_BATCH } from './model-shapes.ts';
import { createModel, type ModelKind } from '../src/models/kinds.ts';
import { loadMnistGpu } from '../src/data/mnist-files.ts';

export interface KernelShare {
  name: string;
  msPerStep: number;
  /** Share of the summed kernel time of a step, in %. */
  share: number;
  dispatchesPerStep: number;
  /** Useful floating-point operations per step (the Programs' declared flops; 0 where none are declared). */
  flopsPerStep: number;
  gflops?: number;
}

export interface StepProfile {
  model: string;
  batch: number;
  stepMs: Stats;
  imagesPerSec: number;
  /** Summed GPU time of a step's kernels (timestamp clock), when the adapter has timestamps. */
  kernelMsPerStep?: number;
  /** Wall time of the profiled steps beyond their kernels: recording, submitting, JS, driver. */
  overheadMsPerStep?: number;
  /** Useful work of a step: the sum of its kernels' declared flops, in GFLOP. */
  gflopPerStep?: number;
  /** gflopPerStep over the wall-clock step (median), GFLOP/s. */
  stepGflops?: number;
  /** stepGflops as a share of the adapter's FMA peak, in % (with a peak). */
  pctPeak?: number;
  kernels?: KernelShare[];
  note?: string;
  /** The same step in a peer library (--peer), on the same wall clock. */
  peer?: PeerStepProfile;
  /** Where the tuner's choices are in effect: the same step untuned (the fixed rules), measured just before. */
  tuning?: StepTuning;
}

export interface StepTuning {
  untunedImagesPerSec: number;
  untunedStepMs: Stats;
  /** Tuned images/s over untuned. */
  speedup: number;
  /** The step's problems that ran a tuned kernel: problem key → kernel. */
  choices: Record<string, string>;
}

export interface PeerStepProfile {
  name: string;
  stepMs?: Stats;
  imagesPerSec?: number;
  /** Our images/s over theirs: above 1, we train faster. */
  speedup?: number;
  error?: string;
}

export interface ProfileOptions {
  warmup: number;
  steps: number;
  profileSteps: number;
}

/** One training step; may be async (e.g. reading the loss back every few steps). */
export type StepFn = () => void | Promise<void>;

/**
 * Wall-clock milliseconds per step: `warmup` untimed steps, then `steps` timed ones, each
 * `runAndWait` recording one step and waiting until its GPU work is done. Ours and the peer's
 * steps are timed by this same loop.
 */
async function timeSteps(runAndWait: () => Promise<void>, options: ProfileOptions): Promise<Stats> {
  for (let i = 0; i < options.warmup; i++) await runAndWait();
  const samples: number[] = [];
  for (let i = 0; i < options.steps; i++) {
    const t0 = performance.now();
    await runAndWait();
    samples.push(performance.now() - t0);
  }
  return summarize(samples);
}

/**
 * `peakGflops`: the adapter's FMA peak from the same run, for pctPeak — how close the whole step,
 * host overhead and memory-bound kernels included, comes to the arithmetic the adapter can do.
 */
export async function profileStep(model: string, batch: number, step: StepFn, options: ProfileOptions, peakGflops?: number): Promise<StepProfile> {
  const stepMs = await timeSteps(async () => {
    await step();
    await sync();
  }, options);
  const result: StepProfile = { model, batch, stepMs, imagesPerSec: (batch * 1000) / stepMs.median };
  if (!getGpu().info.hasTimestampQuery) {
    result.note = "no per-kernel profile: the adapter lacks 'timestamp-query'";
    return result;
  }

  const recorder = new TimestampRecorder(MAX_TIMED_DISPATCHES);
  const byName = new Map<string, { ns: number; count: number; flops: number }>();
  const profiledWallMs: number[] = [];
  recorder.start();
  try {
    for (let s = 0; s < options.profileSteps; s++) {
      recorder.tag = s;
      const t0 = performance.now();
      await step();
      const timings = await recorder.collect();
      profiledWallMs.push(performance.now() - t0);
      for (const t of timings) {
        const e = byName.get(t.name) ?? { ns: 0, count: 0, flops: 0 };
        e.ns += t.ns;
        e.count++;
        e.flops += t.flops;
        byName.set(t.name, e);
      }
    }
  } finally {
    recorder.stop();
    recorder.destroy();
  }
  const totalNs = [...byName.values()].reduce((s, e) => s + e.ns, 0);
  const n = options.profileSteps;
  result.kernelMsPerStep = totalNs / n / 1e6;
  // Overhead from the same steps the kernels were timed in (load can differ between two runs).
  result.overheadMsPerStep = Math.max(0, summarize(profiledWallMs).median - result.kernelMsPerStep);
  result.kernels = [...byName.entries()]
    .map(([name, e]) => ({
      name,
      msPerStep: e.ns / n / 1e6,
      share: totalNs > 0 ? (100 * e.ns) / totalNs : 0,
      dispatchesPerStep: e.count / n,
      flopsPerStep: e.flops / n,
      gflops: e.flops > 0 && e.ns > 0 ? e.flops / e.ns : undefined,
    }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
  result.gflopPerStep = result.kernels.reduce((sum, k) => sum + k.flopsPerStep, 0) / 1e9;
  result.stepGflops = result.gflopPerStep / (stepMs.median / 1000);
  if (peakGflops && peakGflops > 0) result.pctPeak = (100 * result.stepGflops) / peakGflops;
  if (recorder.untimed > 0) result.note = `${recorder.untimed} dispatches were not timed (more than ${MAX_TIMED_DISPATCHES} in a step)`;
  return result;
}

/**
 * The peer's version of a training step, timed as ours is (timeSteps). Never throws.
 */
export async function profilePeerStep(
  peer: PeerRunner,
  step: PeerTrainStep,
  ours: StepProfile,
  options: ProfileOptions,
): Promise<PeerStepProfile> {
  const result: PeerStepProfile = { name: peer.name };
  let instance;
  try {
    instance = await peer.prepareTrainStep?.(step);
    if (!instance) {
      result.error = `${peer.name} has no ${step.model} step`;
      return result;
    }
    const peerStep = instance;
    result.stepMs = await timeSteps(() => {
      peerStep.record();
      return peerStep.finish();
    }, options);
    result.imagesPerSec = (step.batch * 1000) / result.stepMs.median;
    result.speedup = ours.imagesPerSec / result.imagesPerSec;
  } catch (e) {
    result.error = (e as Error).message.split('\n')[0];
  } finally {
    instance?.dispose();
  }
  return result;
}

export interface TrainCase {
  model: string;
  batch: number;
  /** The same step as a peer library can run it (--peer). */
  peer?: PeerTrainStep;
  quick?: boolean;
  /** Timed steps (default 10): a GAN step at batch 256 takes many seconds on a CPU. */
  steps?: number;
  /** Builds the model and its data; returns the step and a clean-up. */
  setup(): { step: StepFn; dispose(): void };
}

/** Glorot-uniform weights [fanIn, fanOut], as Keras's Dense default. */
function glorot(fanIn: number, fanOut: number, seed: number): Tensor {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const w = keep(fromData(uniformData(fanIn * fanOut, seed, -limit, limit), [fanIn, fanOut]));
  w.requiresGrad = true;
  return w;
}

/**
 * The MLP of the examples (784 → 256 ReLU → 10, softmax cross-entropy, Adam 1e-3) on a fixed
 * random batch, written directly with core ops so that it depends on nothing above src/core.
 */
export function mlpTrainCase(hidden = 256, batch = MLP_BATCH): TrainCase {
  return {
    model: `mlp 784-${hidden}-10`,
    batch,
    quick: true,
    setup() {
      const params = [glorot(784, hidden, 21), keep(zeros([hidden])), glorot(hidden, 10, 22), keep(zeros([10]))];
      params[1].requiresGrad = true;
      params[3].requiresGrad = true;
      const moments = params.map((p) => [keep(zeros(p.shape)), keep(zeros(p.shape))]);
      const x = keep(fromData(uniformData(batch * 784, 23, 0, 1), [batch, 784]));
      const labels = keep(fromData(Array.from({ length: batch }, (_, i) => (i * 7) % 10), [batch], 'i32'));
      let t = 0;
      const step = () => {
        t++;
        tidy(() => {
          const [w1, b1, w2, b2] = params;
          const h = linear(x, w1, b1, 'relu');
          const logits = linear(h, w2, b2);
          crossEntropy(logits, labels).backward();
          params.forEach((p, i) => {
            adamStep(p, p.grad!, moments[i][0], moments[i][1], { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: t });
            p.grad!.dispose();
            p.grad = null;
          });
        });
      };
      return {
        step,
        dispose() {
          for (const tensor of [...params, ...moments.flat(), x, labels]) tensor.dispose();
        },
      };
    },
  };
}

/**
 * One training step of a seed model (src/models) at its batch size, on a fixed batch of real
 * digits: exactly what `npm run train` runs per step (its losses are read back and dropped).
 * `width` scales a GAN's channels (GanConfig.width; tests run narrow copies), default 1.
 */
export function modelTrainCase(kind: ModelKind, batch: number, options: { width?: number } = {}): TrainCase {
  if (kind === 'vae' && options.width !== undefined) throw new RangeError('modelTrainCase: width is a GAN setting');
  const width = options.width;
  const config = width === undefined ? { seed: 0 } : { seed: 0, width };
  // The VAE's BCE wants pixels in [0, 1]; the GANs' tanh makes images in [−1, 1].
  const pixelRange: [number, number] = kind === 'vae' ? [0, 1] : [-1, 1];
  return {
    model: width === undefined || width === 1 ? kind : `${kind} width ${width}`,
    batch,
    steps: kind === 'vae' ? 5 : 2,
    // The peer builds the same model from the same config and reads it (bench/peer/).
    peer: { model: kind, batch, config, pixelRange } as PeerTrainStep,
    setup() {
      const data = loadMnistGpu('train', { limit: batch, range: pixelRange });
      const model = createModel(kind, config);
      const fixed = data.gather(Array.from({ length: batch }, (_, i) => i));
      let t = 0;
      const step = async () => {
        const losses = model.trainStep(fixed, t++);
        for (const l of losses) l.dispose();
      };
      return {
        step,
        dispose() {
          fixed.x.dispose();
          fixed.y.dispose();
          model.dispose();
          data.dispose();
        },
      };
    },
  };
}

export function trainCases(): TrainCase[] {
  // The seed's batch sizes: VAE 128, GANs 256.
  return [mlpTrainCase(), modelTrainCase('vae', 128), modelTrainCase('gan', 256), modelTrainCase('cgan', 256)];
}
