// Inverted dropout as a differentiable op. The mask is a counter-based hash of (seed, step,
// element index), so backward recomputes it instead of storing it (src/kernels/dropout.ts).

import type { Tensor } from './tensor.ts';
import { launch } from './launch.ts';
import { record } from './autograd.ts';
import { assertFloat, assertLive } from './checks.ts';
import { nextRandomKey } from './creation.ts';
import { dropoutProgram } from '../kernels/dropout.ts';
import { fillProgram } from '../kernels/elementwise.ts';
import { checkOptions, knownOptions } from './options.ts';

export interface DropoutOptions {
  /** Drop when true (default); the identity when false (eval mode). */
  training?: boolean;
  /** Mask seed; without one, (seed, step) come from the global generator (manualSeed). */
  seed?: number;
  /** Mask stream: a new step gives a new mask for the same seed (default 0 with a seed). */
  step?: number;
}

/**
 * Inverted dropout: zeroes each element with probability `rate` and scales the rest by
 * 1/(1 − rate). The mask is a function of (seed, step, element index), recomputed in backward.
 */
const DROPOUT_OPTIONS = knownOptions<DropoutOptions>({ training: true, seed: true, step: true });

export function dropout(x: Tensor, rate: number, options: DropoutOptions = {}): Tensor {
  checkOptions('dropout', options, DROPOUT_OPTIONS);
  assertLive('dropout', x);
  assertFloat('dropout', x);
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`dropout: rate must be in [0, 1], got ${rate}`);
  for (const [name, v] of [['seed', options.seed], ['step', options.step]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError(`dropout: ${name} must be an integer in [0, 2^32), got ${v}`);
    }
  }
  const training = options.training ?? true;
  if (!training || rate === 0) return record(x.view(), 'dropout.identity', [x], (g) => [g.view()]);
  if (rate === 1) {
    const zero = launch(fillProgram(x.size, 0), [], x.shape);
    return record(zero, 'dropout.all', [x], (g) => [launch(fillProgram(g.size, 0), [], g.shape)]);
  }
  const key = options.seed === undefined ? nextRandomKey() : { seed: options.seed, stream: options.step ?? 0 };
  const y = launch(dropoutProgram(x.size, rate, key.seed, key.stream), [x], x.shape);
  return record(y, 'dropout', [x], (g) => [launch(dropoutProgram(g.size, rate, key.seed, key.stream), [g], g.shape)]);
}
