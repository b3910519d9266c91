// Keras's Dropout layer: masks per (seed, step, call), the identity in eval mode.

import { Module } from './module.ts';
import type { Tensor, Shape } from '../core/tensor.ts';
import { deriveSeed, nextRandomKey } from '../core/creation.ts';
import { dropout } from '../core/dropout-ops.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

const DROPOUT_LAYER_OPTIONS = knownOptions<DropoutLayerOptions>({ rate: true, seed: true });

export interface DropoutLayerOptions {
  /** Fraction of elements zeroed in training mode, in [0, 1]. */
  rate: number;
  /** Fixes the masks; without it a seed is drawn from the global generator (manualSeed). */
  seed?: number;
}

/**
 * Keras Dropout (inverted: kept values scaled by 1/(1 − rate)); the identity in eval mode.
 * Masks are a function of (seed, step, call): set `step` each training step (a resumed run then
 * draws the same masks), and every call within a step gets its own mask — a GAN's discriminator
 * run on real and on fake images drops different units, as in Keras.
 */
export class Dropout extends Module {
  readonly rate: number;
  readonly seed: number;
  private currentStep = 0;
  private callsThisStep = 0;

  constructor(options: DropoutLayerOptions) {
    checkOptions('Dropout', options, DROPOUT_LAYER_OPTIONS);
    super();
    if (!(options.rate >= 0 && options.rate <= 1)) throw new RangeError(`Dropout: rate must be in [0, 1], got ${options.rate}`);
    this.rate = options.rate;
    if (options.seed !== undefined) this.seed = options.seed >>> 0;
    else {
      const key = nextRandomKey();
      this.seed = deriveSeed(key.seed, key.stream);
    }
  }

  get step(): number {
    return this.currentStep;
  }
  /** Starts a new step: masks restart from this step's first. */
  set step(value: number) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`Dropout: step must be a non-negative integer, got ${value}`);
    this.currentStep = value;
    this.callsThisStep = 0;
  }

  override outputShape(inputShape: Shape): Shape {
    return inputShape;
  }

  override extraRepr(): string {
    return `rate=${this.rate}`;
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.rate === 0) return dropout(x, this.rate, { training: false });
    const call = this.callsThisStep++;
    return dropout(x, this.rate, { seed: deriveSeed(this.seed, call), step: this.currentStep >>> 0 });
  }
}
