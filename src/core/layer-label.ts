// The layer running now, by name ('generator.deconv1'), so that what a layer's ops do can be told
// apart by layer rather than by shape: the kernel policy notes it with each problem it resolves
// (the tuner's tables then say "generator.deconv1 forward", not only a shape). An op's backward
// rule runs under the label its forward ran under (the tape keeps it; autograd.ts), as the
// backward passes of a layer belong to that layer.
//
// Nothing here knows of modules: nn's withLayerLabels wraps a model's layers' forward calls in
// withLayerLabel, and the innermost label wins (a layer inside a block is named by its own path).

let current: string | undefined;

/** The label of the layer running now, if any. */
export function currentLayerLabel(): string | undefined {
  return current;
}

/** Runs fn with `label` as the current layer's (undefined: none); restores the previous one after. */
export function withLayerLabel<T>(label: string | undefined, fn: () => T): T {
  const before = current;
  current = label;
  try {
    return fn();
  } finally {
    current = before;
  }
}
