// What the page offers a test, as types only (no DOM), so that a test running in Node can name
// them: window.__playground, set by main.ts. Playwright's page.evaluate() calls these functions
// inside the page; every one waits for the GPU work it queues, and none changes what a visitor
// sees except trainSteps, which advances the training section's run, and the device-loss hooks
// (simulateDeviceLoss, loseDevice), which lose the device as a driver reset would, so that a test
// sees the page recover as a visitor would see it. (The tune section is driven
// through its own controls, as a visitor would; lastTune reads what its last run did.)
//
//   await page.evaluate(() => window.__playground.ready);
//   const r = await page.evaluate(() => window.__playground.verifyRung('matmul', 'vec4', 64));

import type { LadderOp } from './ladder-cases.ts';


export type SampleKind = 'vae' | 'gan' | 'cgan';

export interface GpuState {
  available: boolean;
  /** The adapter in words, as the framework describes it: "google (software, on the CPU) via browser". */
  description?: string;
  /** A software adapter (SwiftShader, llvmpipe): the kernels run on the CPU, so the page uses smaller sizes. */
  isSoftware?: boolean;
  /** WGSL subgroups, of any size (the 'subgroup' conv kernel needs them). */
  hasSubgroups?: boolean;
  /** Why there is no GPU, in words a visitor can act on. */
  problem?: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Largest |GPU − reference| over the checked elements (Infinity for a NaN). */
  maxError: number;
  /** Elements compared (a large product compares a sample of rows or images). */
  checked: number;
  /** The variant that ran (the Program's name says it: builders never swap variants). */
  ran: string;
  /** A kernel that failed to compile or run. */
  error?: string;
}

export interface TimeResult extends VerifyResult {
  /** Median milliseconds of one run (wall clock: record, submit, wait for the queue). */
  ms?: number;
  gflops?: number;
  /** Share of the measured FMA peak, in %. */
  pctPeak?: number;
}

/** Where the training section's run stands (trainingState). */
export interface TrainingState {
  step: number;
  epoch: number;
  done: boolean;
  /** Loss of every step of the run so far (after a device loss, the redone steps' losses in place of the lost ones). */
  losses: number[];
  /** The note under the progress line about the last device loss, if one is shown. */
  note?: string;
  /** The progress line. */
  progress: string;
  /** A checksum (FNV-1a, hex) of the bits of every weight of the VAE: equal weights, equal checksums. */
  weights: string;
}

/** What a tuning run in the page did (the tune section's summary line, as data). */
export interface TuneSummary {
  /** Problems the training step ran. */
  problems: number;
  /** Problems tuned (all of them: the page measures anew). */
  tuned: number;
  /** Problems whose choice is not the fixed rule's kernel. */
  changed: number;
  seconds: number;
  /** 'gpu-timestamp' or 'wall' (undefined when nothing was tuned). */
  clock?: string;
  /** Where the choices are kept (localStorage's key), if anywhere. */
  where?: string;
  /** Each problem's key, its default and chosen kernel, and every candidate's status. */
  results: { problem: string; default: string; chosen: string; statuses: string[] }[];
}

export interface PlaygroundHooks {
  /** Resolves once the device is open (or known missing) and the shipped weights were tried; rejects if the page failed to start. */
  ready: Promise<void>;
  gpu: GpuState;
  /**
   * The rungs of an operation ('matmul', 'conv2d', 'conv2dStride1') on this device (a convolution's
   * 'subgroup' only where it has subgroups; 'winograd' only on conv2dStride1, the layer it fits).
   */
  rungs(op: LadderOp): string[];
  /**
   * Runs a rung once at `size` (matmul: N of N×N·N×N; a convolution: the batch) and compares it
   * with its reference; a rung of several launches (winograd) runs them all, as the op does.
   */
  verifyRung(op: LadderOp, variant: string, size: number): Promise<VerifyResult>;
  /** Verifies, then times a rung as the bench does (the first call also measures the adapter's peaks). */
  timeRung(op: LadderOp, variant: string, size: number): Promise<TimeResult>;
  /** Where each model's weights came from ("weights/vae.safetensors", a dropped file's name), or undefined. */
  modelSource(kind: SampleKind): string | undefined;
  /** The VAE decoder: images [n, 28, 28, 1] in [0, 1] for latent points zs (each of latentDim numbers). */
  decodeVae(zs: number[][]): Promise<Float32Array>;
  /**
   * The cGAN generator: one image per digit, in [−1, 1], from the noise gan.noise(digits.length,
   * noise) when `noise` is a seed, else from the given vectors (one of noiseDim numbers per digit).
   * A seed's noise is drawn on the GPU through WGSL's log and cos, which differ slightly between
   * adapters; given vectors are exact.
   */
  generateCgan(digits: number[], noise: number | number[][]): Promise<Float32Array>;
  /** The GAN generator: `count` images in [−1, 1], from a noise seed or `count` noise vectors (as generateCgan). */
  generateGan(count: number, noise: number | number[][]): Promise<Float32Array>;
  /**
   * Steps of the in-page VAE training (the quick preset; batch size default the preset's, and a
   * different one starts a fresh run); returns their losses.
   */
  trainSteps(n: number, options?: { batchSize?: number }): Promise<number[]>;
  /** The tune section's last finished run (its Tune button), or undefined before one finished. */
  lastTune(): TuneSummary | undefined;
  /** The training section's run: step, epoch, losses, the device-loss note, a weights checksum; undefined before one. */
  trainingState(): Promise<TrainingState | undefined>;
  /**
   * Test hook: the device is lost right after each of these training steps (counted from 1 over the
   * run; each entry once, as ?simulate-device-loss=STEP,… does).
   */
  simulateDeviceLoss(afterSteps: number | number[]): void;
  /**
   * Test hook: loses the device now (between two GPU jobs, as a driver reset might) and resolves,
   * with the banner's words, once the page has opened a new one and every section restored itself.
   */
  loseDevice(): Promise<string>;
}
