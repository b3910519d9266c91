// Checks the layers share on their constructor options' values; each error names the layer and the option.
// Unknown keys are refused by checkOptions (src/core/options.ts), which every public options object shares.

/** Throws unless `value` is a whole number above zero. */
export function checkPositiveInteger(layer: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${layer}: ${name} must be a positive integer, got ${value}`);
}
