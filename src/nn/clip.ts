// Gradient clipping, on the GPU with our ops (no read-back: the scale factor stays a tensor).
//
//   clipGradNorm(model, 1.0)    PyTorch's clip_grad_norm_: all gradients scaled together so that
//                               their global L2 norm ‖g‖ = sqrt(Σ_params Σ g²) is at most 1.0;
//                               returns ‖g‖ before clipping, a scalar tensor
//   clipGradValue(model, 0.5)   PyTorch's clip_grad_value_: every element clamped to [−0.5, 0.5]
//
// The optimizers' clipNorm / globalClipNorm / clipValue options (Keras's clipnorm,
// global_clipnorm, clipvalue) apply the same math to the gradients they are about to use,
// leaving p.grad as it is (see clippedGradients).
//
// The factor is 1 exactly when ‖g‖ ≤ max (so small gradients pass unchanged, bit for bit) and
// max/‖g‖ otherwise: f = 1 + [‖g‖ > max]·(max / max(‖g‖, max) − 1), where every term is finite
// even for ‖g‖ = 0. A non-finite norm (NaN or ∞ in a gradient) makes the result meaningless
// (WGSL leaves max() of a NaN to the implementation; an infinite norm zeroes the finite
// gradients): the returned norm says when that happened.

import { Module } from './module.ts';
import { Tensor } from '../core/tensor.ts';
import { full, zeros } from '../core/creation.ts';
import { add, sub, mul, div, sqrt, square, sum, maximum, minimum, binaryRaw } from '../core/ops.ts';
import { noGrad } from '../core/autograd.ts';
import { tidy, keep } from '../core/scope.ts';

/** What clipGradNorm and clipGradValue clip: a module's parameters, or tensors (or named tensors). */
export type ClipParams = Module | Iterable<Tensor> | Iterable<readonly [string, Tensor]>;

function tensorsOf(params: ClipParams): Tensor[] {
  if (params instanceof Module) return params.parameters();
  return [...(params as Iterable<Tensor | readonly [string, Tensor]>)].map((p) => (p instanceof Tensor ? p : p[1]));
}

function checkLimit(where: string, name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new RangeError(`${where}: ${name} must be a positive finite number, got ${String(value)}`);
}

/** sqrt(Σ over tensors of Σ g²), a scalar tensor. */
function globalNorm(grads: readonly Tensor[]): Tensor {
  let total: Tensor | undefined;
  for (const g of grads) {
    if (g.size === 0) continue;
    const s = sum(square(g));
    total = total ? add(total, s) : s;
  }
  return sqrt(total ?? zeros([]));
}

/** 1 when norm ≤ maxNorm (exactly), else maxNorm / norm: see the top of the file. */
function clipFactor(norm: Tensor, maxNorm: number): Tensor {
  const limit = full([], maxNorm);
  const over = binaryRaw('gtMask', norm, limit);
  const ratio = div(limit, maximum(norm, limit));
  return add(mul(over, sub(ratio, 1)), 1);
}

function clampValue(g: Tensor, clipValue: number): Tensor {
  return minimum(maximum(g, -clipValue), clipValue);
}

/** How an optimizer clips (at most one, as Keras). */
export type ClipRule = { kind: 'clipNorm' | 'globalClipNorm' | 'clipValue'; value: number };

/**
 * The gradients `grads` clipped by `rule`, as new tensors (made inside the caller's tidy), or the
 * same tensors when there is no rule. The inputs are not changed.
 */
export function clippedGradients(grads: readonly Tensor[], rule: ClipRule | null): Tensor[] {
  if (!rule) return [...grads];
  return noGrad(() => {
    switch (rule.kind) {
      case 'clipValue':
        return grads.map((g) => clampValue(g, rule.value));
      case 'clipNorm':
        return grads.map((g) => mul(g, clipFactor(globalNorm([g]), rule.value)));
      case 'globalClipNorm': {
        const factor = clipFactor(globalNorm(grads), rule.value);
        return grads.map((g) => mul(g, factor));
      }
    }
  });
}

/** Replaces p.grad of each parameter that has one with fn(p.grad), disposing the old gradient. */
function replaceGrads(params: Tensor[], fn: (grads: Tensor[]) => Tensor[]): void {
  const withGrad = params.filter((p) => p.grad && !p.grad.isDisposed);
  const next = tidy(() => fn(withGrad.map((p) => p.grad!)));
  withGrad.forEach((p, i) => {
    // Gradients may share storage (a gradient handed to two leaves as views), so each gets a
    // new tensor rather than an in-place write.
    p.grad!.dispose();
    p.grad = keep(next[i]);
  });
}

/**
 * PyTorch's clip_grad_norm_: scales the gradients of `params` together so that their global L2
 * norm is at most `maxNorm` (those with a smaller norm are left exactly as they are). Each
 * clipped p.grad is a new tensor (the old one is disposed). Returns the norm before clipping, a
 * scalar tensor like any op's result (dispose it, or let tidy()); `await norm.item()` reads it.
 */
export function clipGradNorm(params: ClipParams, maxNorm: number): Tensor {
  checkLimit('clipGradNorm', 'maxNorm', maxNorm);
  let kept: Tensor | undefined;
  replaceGrads(tensorsOf(params), (grads) =>
    noGrad(() => {
      kept = keep(globalNorm(grads));
      const factor = clipFactor(kept, maxNorm);
      return grads.map((g) => mul(g, factor));
    }),
  );
  // keep() took the norm out of every scope; a view of it joins the caller's, as an op's result.
  const norm = kept!.view();
  kept!.dispose();
  return norm;
}

/** PyTorch's clip_grad_value_: clamps every gradient element of `params` into [−clipValue, clipValue]. */
export function clipGradValue(params: ClipParams, clipValue: number): void {
  checkLimit('clipGradValue', 'clipValue', clipValue);
  replaceGrads(tensorsOf(params), (grads) => noGrad(() => grads.map((g) => clampValue(g, clipValue))));
}
