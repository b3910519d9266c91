// withLayerLabels(model, fn): runs fn with every layer of `model` labelled by its dotted name
// ('deconv1'; a model of several modules, { generator, discriminator } as the models' `modules`
// give, names them first: 'generator.deconv1', as in its checkpoint), so that the ops a layer runs, forward and
// backward, can be told by layer (src/core/layer-label.ts): `npm run tune` names the layer of
// each problem it measures. The layers' forward methods are wrapped for fn's duration only, and
// fn must be synchronous (a label is current only while its layer's forward call runs).

import { withLayerLabel } from '../core/layer-label.ts';
import { Module } from './module.ts';

function isModule(m: Module | Record<string, Module>): m is Module {
  return m instanceof Module;
}

export function withLayerLabels<T>(model: Module | Record<string, Module>, fn: () => T): T {
  const layers: [string, Module][] = isModule(model)
    ? model.namedModules()
    : Object.entries(model).flatMap(([name, m]): [string, Module][] => [[name, m], ...m.namedModules(`${name}.`)]);
  const restore: (() => void)[] = [];
  for (const [name, layer] of layers) {
    const own = Object.prototype.hasOwnProperty.call(layer, 'forward');
    const forward = layer.forward;
    layer.forward = (...inputs) => withLayerLabel(name, () => forward.apply(layer, inputs));
    restore.push(own ? () => void (layer.forward = forward) : () => void delete (layer as { forward?: unknown }).forward);
  }
  try {
    const out = fn();
    if (out instanceof Promise) throw new TypeError('withLayerLabels: fn must be synchronous (it returned a Promise)');
    return out;
  } finally {
    for (const undo of restore.reverse()) undo();
  }
}
