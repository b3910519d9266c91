// Checks the layers share on their constructor options; each error names the layer and the option.

/** Throws unless `value` is a whole number above zero. */
export function checkPositiveInteger(layer: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${layer}: ${name} must be a positive integer, got ${value}`);
}
