// The tape, micrograd-style. A differentiable op calls record(): its output remembers the inputs
// and one closure that maps the output's gradient to the inputs' gradients. backward() sorts the
// graph topologically once and runs the closures in reverse, summing gradients where a tensor
// was used more than once. Leaves that require grad collect theirs in `.grad` (accumulating, as
// in PyTorch, until zeroGrad).

import type { Tensor } from './tensor.ts';
import { formatShape } from './tensor.ts';
import { keep } from './scope.ts';
import { checkOptions, knownOptions } from './options.ts';
import { currentLayerLabel, withLayerLabel } from './layer-label.ts';
// The tape adds gradients and seeds the root's with ones through the kernels directly (launch),
// not through ops.ts, which imports this module to record its ops.
import { launch } from './launch.ts';
import { binaryProgram, fillProgram } from '../kernels/elementwise.ts';

export interface GradNode {
  op: string;
  inputs: Tensor[];
  /**
   * Gradient w.r.t. each input, given the output's gradient. `needs[k]` says whether input k's
   * gradient is wanted (it requires grad, and some leaf this backward pass fills depends on it:
   * PyTorch's ctx.needs_input_grad); a rule returns null there and skips the work. A gradient
   * has its input's shape exactly (backward() throws otherwise, naming the op and both shapes).
   */
  backward: (grad: Tensor, needs: readonly boolean[]) => (Tensor | null)[];
  /** The layer the op ran in (layer-label.ts): its backward rule runs under the same label. */
  label?: string;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording anything on the tape (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** Attaches a backward rule to `out` when any input requires grad and recording is on. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: GradNode['backward']): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward, label: currentLayerLabel() };
  }
  return out;
}

/** The same values, cut from the graph. Shares storage (no copy). */
export function detach(t: Tensor): Tensor {
  const d = t.view();
  d.requiresGrad = false;
  return d;
}

/**
 * Tensors of the graph under `root` from which one of `targets` can be reached: the only ones a
 * restricted backward needs to visit (a GAN's discriminator loss need not flow into the generator).
 */
function leadingTo(order: Tensor[], targets: Set<Tensor>): Set<Tensor> {
  const useful = new Set<Tensor>();
  for (const t of order) {
    // `order` lists inputs before the tensors made from them, so inputs are settled first.
    if (targets.has(t) || t.node?.inputs.some((i) => useful.has(i))) useful.add(t);
  }
  return useful;
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && next.isDisposed) {
        throw new Error(
          `backward(): ${next.describe()} on the path to ${root.describe()} was disposed; ` +
            'call backward() inside the tidy() that built the graph',
        );
      }
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order; // inputs before the tensors made from them
}

export interface BackwardOptions {
  /**
   * Accumulate gradients into these leaves only (PyTorch's `backward(inputs=...)`); parts of the
   * graph that lead to none of them are skipped.
   */
  inputs?: Iterable<Tensor>;
}

const BACKWARD_OPTIONS = knownOptions<BackwardOptions>({ inputs: true });

export function runBackward(root: Tensor, seed?: Tensor, options: BackwardOptions = {}): void {
  checkOptions('backward', options, BACKWARD_OPTIONS);
  if (!root.requiresGrad) {
    throw new Error(`backward() on ${root.describe()}, which does not require grad: no input of it has requiresGrad set`);
  }
  if (!seed && root.size !== 1) {
    throw new Error(
      `backward() on a non-scalar ${root.describe()} needs a gradient of shape ${formatShape(root.shape)}; ` +
        'reduce it to a scalar first (e.g. mean()) or pass the gradient',
    );
  }
  if (seed && seed.size !== root.size) {
    throw new RangeError(`backward(): gradient shape ${formatShape(seed.shape)} does not match ${root.describe()}`);
  }
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, seed ? seed.view(root.shape) : launch(fillProgram(root.size, 1), [], root.shape));
    const order = topologicalOrder(root);
    const targets = options.inputs ? new Set(options.inputs) : undefined;
    const useful = targets ? leadingTo(order, targets) : undefined;
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        if (targets && !targets.has(t)) {
          g.dispose();
          continue;
        }
        // A leaf: hand the gradient over, adding to what it already holds.
        if (t.grad && !t.grad.isDisposed) {
          const sum = addGradients(t.grad, g);
          t.grad.dispose();
          g.dispose();
          t.grad = keep(sum);
        } else {
          t.grad = keep(g);
        }
        continue;
      }
      const needs = t.node.inputs.map((input) => input.requiresGrad && (!useful || useful.has(input)));
      const node = t.node;
      const inputGrads = withLayerLabel(node.label, () => node.backward(g, needs));
      t.node.inputs.forEach((input, k) => {
        let gi = inputGrads[k];
        if (!gi || !needs[k]) {
          if (gi && gi !== g) gi.dispose();
          return;
        }
        if (gi === g) gi = g.view(); // every gradient in the map is owned by it alone
        // A rule returns its input's shape itself: one of the right size but the wrong shape (a
        // transposed gradient, say) is a bug that a silent reshape would hide.
        if (gi.shape.length !== input.shape.length || gi.shape.some((d, j) => d !== input.shape[j])) {
          const shape = formatShape(gi.shape);
          gi.dispose();
          throw new Error(`${t.node!.op} backward gave a gradient of shape ${shape} for its input ${k} of shape ${formatShape(input.shape)}`);
        }
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, addGradients(prev, gi));
          prev.dispose();
          gi.dispose();
        } else {
          grads.set(input, gi);
        }
      });
      g.dispose();
    }
  });
}

/** a + b for two gradients of one shape. */
function addGradients(a: Tensor, b: Tensor): Tensor {
  return launch(binaryProgram('add', a.shape, b.shape, a.shape, 0), [a, b], a.shape);
}
