// Epoch orderings that depend only on (seed, epoch), so a run reproduces exactly, and a resumed
// run can recompute any epoch's order without having stored it.

/** splitmix32's finalizer: a good 32-bit mix, used to turn (seed, epoch) into a PRNG state. */
function mix32(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** mulberry32: tiny, fast, and plenty for shuffling; returns uint32 values. */
function mulberry32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform integer in [0, bound) without modulo bias (rejection sampling), bound ≤ 2^32. */
function uniformBelow(next: () => number, bound: number): number {
  const limit = 2 ** 32 - (2 ** 32 % bound);
  let draw = next();
  while (draw >= limit) draw = next();
  return draw % bound;
}

/** A permutation of 0..n-1, the same for the same (seed, epoch) on every machine. */
export function seededPermutation(n: number, seed: number, epoch: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 32) throw new RangeError(`seededPermutation: n must be an integer in 0..2^32, got ${n}`);
  if (!Number.isInteger(seed) || !Number.isInteger(epoch)) {
    throw new RangeError(`seededPermutation: seed and epoch must be integers, got ${seed} and ${epoch}`);
  }
  // Hash-chain the inputs rather than combine them symmetrically, so (1, 2) and (2, 1) differ;
  // a seed's bits above 32 (say, from Date.now()) are folded in, not dropped.
  const seedHigh = Math.floor(seed / 2 ** 32) >>> 0;
  const seedState = mix32(mix32(seedHigh) ^ (seed >>> 0));
  const next = mulberry32(mix32((seedState + (epoch >>> 0)) >>> 0));
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = uniformBelow(next, i + 1);
    const held = order[i]!;
    order[i] = order[j]!;
    order[j] = held;
  }
  return order;
}
