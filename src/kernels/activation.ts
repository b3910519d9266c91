// Activations that a kernel fuses into its write step (the matmul's and the convolutions'
// epilogue): their names, the WGSL `activate()` the kernels paste in, and the same math as a
// plain-loop reference. The standalone elementwise versions (relu, leakyRelu, …, and their
// gradients) live in elementwise.ts's table; these are the fused ones.
//
// `alpha` is leakyRelu's slope below zero. The kernels take it as given; the defaults are chosen
// by the ops (src/core/ops.ts) and the layers (src/nn/layers.ts).

/** Activations that can be fused into a kernel's write step. */
export const ACTIVATIONS = ['linear', 'relu', 'leakyRelu', 'sigmoid', 'tanh'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * Sigmoid and tanh written so that exp never overflows: both through e = exp(−|x|·c) ≤ 1. The
 * fused epilogue below and the elementwise kernels (elementwise.ts) share these two.
 */
export const SIGMOID_TANH_WGSL = /* wgsl */ `
fn sigmoidStable(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
fn tanhStable(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}`;

/** WGSL for the fused epilogue: `activate(v)` with ACT and `alpha` (leaky slope) in scope. */
export const ACTIVATION_WGSL = /* wgsl */ `${SIGMOID_TANH_WGSL}
override ACT: u32 = 0u; // 0 linear, 1 relu, 2 leakyRelu, 3 sigmoid, 4 tanh
fn activate(v: f32, alpha: f32) -> f32 {
  switch ACT {
    case 1u: { return max(v, 0.0); }
    case 2u: { return select(alpha * v, v, v >= 0.0); }
    case 3u: { return sigmoidStable(v); }
    case 4u: { return tanhStable(v); }
    default: { return v; }
  }
}`;

/** `value` as an Activation, or a RangeError naming `who` and the activations there are. */
export function checkActivation(who: string, value: unknown): Activation {
  if (!(ACTIVATIONS as readonly unknown[]).includes(value)) {
    throw new RangeError(`${who}: activation '${String(value)}' is not one of ${ACTIVATIONS.join(', ')}`);
  }
  return value as Activation;
}

/** The value of the ACT override that selects `act` in ACTIVATION_WGSL. */
export function activationCode(act: Activation): number {
  return ACTIVATIONS.indexOf(act);
}

// ---- Plain-loop reference (float64) ----

export function activationReference(act: Activation, v: number, alpha: number): number {
  switch (act) {
    case 'relu':
      return Math.max(v, 0);
    case 'leakyRelu':
      return v >= 0 ? v : alpha * v;
    case 'sigmoid':
      return 1 / (1 + Math.exp(-v));
    case 'tanh':
      return Math.tanh(v);
    default:
      return v;
  }
}
