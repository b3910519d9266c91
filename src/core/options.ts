// Options checked by name. JavaScript callers have no compiler to catch a misspelt key, and an
// unknown key would otherwise be ignored (`conv2d(x, w, { strides: 2 })` would run stride 1), so
// each public options object is checked against the keys its TypeScript interface declares.
// `knownOptions<T>()` makes the compiler hold that list to the interface: a key missing from it or
// one the interface lacks is a compile error.

/** Every key of T's options, each mapped to true: the type that keeps a list equal to the interface. */
export type KnownOptions<T> = { readonly [K in keyof Required<T>]: true };

/** Declares the keys of an options interface; the compiler checks the list against `T`. */
export function knownOptions<T>(keys: KnownOptions<T>): ReadonlySet<string> {
  return new Set(Object.keys(keys));
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

/** The known key nearest to `key` (case-insensitive edit distance), when it is close enough to be a slip. */
export function nearestOption(key: string, known: Iterable<string>): string | undefined {
  // Close enough: within half the longer name's length ('train' for 'training', 'reduce' for
  // 'reduction'), or the start of a known name ('eps' for 'epsilon'); 'learningRate' is not 'lr'.
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const kl = k.toLowerCase();
    const d = editDistance(lower, kl);
    const close = d <= Math.max(1, Math.floor(Math.max(lower.length, kl.length) / 2)) || (lower.length >= 3 && kl.startsWith(lower));
    if (close && d < bestScore) { best = k; bestScore = d; }
  }
  return best;
}

/**
 * Throws a TypeError (as Python does for an unexpected keyword argument) when `options` has a key
 * not in `known`, naming it, `where`, and the nearest known key or else the known ones. Undefined
 * options are fine; a non-object is refused.
 */
export function checkOptions(where: string, options: unknown, known: ReadonlySet<string>): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (known.has(key)) continue;
    const near = nearestOption(key, known);
    throw new TypeError(near !== undefined
      ? `${where}: unknown option '${key}'; did you mean '${near}'?`
      : `${where}: unknown option '${key}'; known options: ${[...known].join(', ') || '(none)'}`);
  }
}
