// Sequential: modules applied one after another, as keras.Sequential and torch.nn.Sequential.
// Children are named '0', '1', … (parameter names like "0.kernel", as PyTorch), or by the keys
// of an object: new Sequential({ hidden: new Dense(...), out: new Dense(...) }) → "hidden.kernel".

import { Module } from './module.ts';
import type { Tensor, Shape } from '../core/tensor.ts';

export class Sequential extends Module {
  private readonly layers: Module[] = [];

  constructor(...modules: Module[]);
  constructor(named: Record<string, Module>);
  constructor(...items: (Module | Record<string, Module>)[]) {
    super();
    if (items.length === 1 && !(items[0] instanceof Module)) {
      for (const [name, m] of Object.entries(items[0])) this.add(m, name);
    } else {
      for (const m of items) {
        if (!(m instanceof Module)) throw new TypeError('Sequential takes modules, or one object of named modules');
        this.add(m);
      }
    }
  }

  /** Appends a module, named by its position unless a name is given. */
  add(module: Module, name = String(this.layers.length)): this {
    if (!(module instanceof Module)) throw new TypeError(`Sequential.add: "${name}" is not a Module`);
    this.addModule(name, module);
    this.layers.push(module);
    return this;
  }

  get length(): number {
    return this.layers.length;
  }

  at(index: number): Module {
    const m = this.layers.at(index);
    if (!m) throw new RangeError(`Sequential has ${this.layers.length} modules, no index ${index}`);
    return m;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.layers[Symbol.iterator]();
  }

  /** Each layer's output shape in turn; undefined if one of them cannot tell without running. */
  override outputShape(inputShape: Shape): Shape | undefined {
    let shape: Shape | undefined = inputShape;
    for (const layer of this.layers) {
      shape = layer.outputShape(shape);
      if (!shape) return undefined;
    }
    return shape;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const layer of this.layers) y = layer.forward(y);
    return y;
  }
}
