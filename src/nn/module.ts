// Module: the PyTorch-shaped base of every layer and model. A module owns named parameters
// (trainable tensors), named buffers (state that is saved but not trained, such as BatchNorm's
// running statistics) and child modules; `stateDict()` flattens all of them to dotted names
// ("encoder.conv1.kernel"), which is what checkpoints store.

import { Tensor, type Shape } from '../core/tensor.ts';
import { keep } from '../core/scope.ts';
import { copyBuffer } from '../core/dispatch.ts';
import { formatShape } from '../kernels/shapes.ts';
import { summarize, type SummaryInputShape, type SummaryOptions } from './summary.ts';

export abstract class Module {
  /** Training mode switches BatchNorm to batch statistics and turns Dropout on. */
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  abstract forward(...inputs: Tensor[]): Tensor;

  /** Same as forward (PyTorch's module(x), Keras's layer(x)). */
  call(...inputs: Tensor[]): Tensor {
    return this.forward(...inputs);
  }

  protected addParameter(name: string, t: Tensor): Tensor {
    this.checkName(name);
    t.requiresGrad = true;
    t.name = name;
    this.params.set(name, keep(t));
    return t;
  }

  protected addBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    t.name = name;
    this.buffers.set(name, keep(t));
    return t;
  }

  /** Replaces a buffer's tensor (e.g. updated running statistics), disposing the old one. */
  protected setBuffer(name: string, t: Tensor): Tensor {
    const old = this.buffers.get(name);
    if (!old) throw new Error(`${this.constructor.name} has no buffer "${name}"`);
    if (old !== t) old.dispose();
    t.name = name;
    this.buffers.set(name, keep(t));
    return t;
  }

  protected getBuffer(name: string): Tensor {
    const t = this.buffers.get(name);
    if (!t) throw new Error(`${this.constructor.name} has no buffer "${name}"`);
    return t;
  }

  protected addModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`module entry name "${name}" must be letters, digits or _`);
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) {
      throw new Error(`${this.constructor.name} already has an entry named "${name}"`);
    }
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.params) out.push([prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.buffers) out.push([prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [n, m] of this.children) {
      out.push([prefix + n, m]);
      out.push(...m.namedModules(`${prefix}${n}.`));
    }
    return out;
  }

  /** Every parameter and buffer by dotted name: what a checkpoint holds. */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Copies values from `state` into this module's tensors; names and shapes must match exactly. */
  loadStateDict(state: Map<string, Tensor>, source = 'state dict'): void {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    if (missing.length || unexpected.length) {
      throw new Error(
        `${source} does not match ${this.constructor.name}:` +
          (missing.length ? ` missing ${missing.join(', ')};` : '') +
          (unexpected.length ? ` unexpected ${unexpected.join(', ')}` : ''),
      );
    }
    for (const [name, t] of own) {
      const src = state.get(name)!;
      if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
        throw new Error(`${source}: tensor "${name}" has shape ${formatShape(src.shape)}, the model expects ${formatShape(t.shape)}`);
      }
      if (src.dtype !== t.dtype) throw new Error(`${source}: tensor "${name}" is ${src.dtype}, the model expects ${t.dtype}`);
    }
    // Copy values into the existing tensors (as PyTorch does), so layers may keep references.
    for (const [name, t] of own) {
      const src = state.get(name)!;
      if (t.size > 0) copyBuffer(src.gpu.buffer, 0, t.gpu.buffer, 0, t.size * 4);
    }
  }

  train(mode = true): this {
    this.training = mode;
    for (const m of this.children.values()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /**
   * The output shape for an input of shape `inputShape`, worked out without GPU work (and with
   * the errors forward would throw), or undefined when this module cannot tell without running
   * forward. Layers and Sequential know; a custom module returns undefined unless it overrides this.
   */
  outputShape(inputShape: Shape): Shape | undefined {
    void inputShape;
    return undefined;
  }

  /**
   * A Keras-like table of the layers: name (type), output shape, parameter count, and the totals
   * (trainable, non-trainable: BatchNorm's moving statistics and parameters with requiresGrad
   * off). `inputShape` may start with null for "any batch" (`[null, 28, 28, 1]`); without it
   * the shapes show '?'. Output shapes are inferred without GPU work when every module can (see
   * outputShape); otherwise they come from one forward pass on zeros with a batch of 1, in eval
   * mode, inside noGrad and tidy (nothing is trained, nothing leaks; the training flags are
   * restored). Prints the table with `printFn` (default console.log; null: don't) and returns it.
   */
  summary(inputShape?: SummaryInputShape, options: SummaryOptions = {}): string {
    return summarize(this, inputShape, options);
  }

  /** The layer's hyper-parameters for toString(), as PyTorch's extra_repr ("units=10, …"). */
  extraRepr(): string {
    return '';
  }

  /**
   * A readable description, as PyTorch's repr: the module's type and hyper-parameters, and its
   * children indented beneath it by name.
   */
  toString(): string {
    const extra = this.extraRepr();
    if (this.children.size === 0) return `${this.constructor.name}(${extra})`;
    const lines = [`${this.constructor.name}(`];
    if (extra) lines.push(`  ${extra}`);
    for (const [name, m] of this.children) lines.push(`  (${name}): ${m.toString().replaceAll('\n', '\n  ')}`);
    lines.push(')');
    return lines.join('\n');
  }

  /** console.log(module) in Node prints toString() rather than the object's internals. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  dispose(): void {
    for (const t of [...this.params.values(), ...this.buffers.values()]) {
      t.grad?.dispose();
      t.dispose();
    }
    for (const m of this.children.values()) m.dispose();
  }
}
