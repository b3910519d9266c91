// IEEE 754 half precision (binary16): 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
// Shipped weights are stored this way to halve their size; the GPU still computes in f32, so a
// weight is rounded once, when it is written (to nearest, ties to even, as a GPU's f32→f16
// conversion does), and widened exactly when it is read.

const f32 = new Float32Array(1);
const bits32 = new Uint32Array(f32.buffer);

/** The half-precision bit pattern nearest to x (overflow → ±infinity, NaN stays NaN). */
export function toHalfBits(x: number): number {
  f32[0] = x;
  const b = bits32[0];
  const sign = (b >>> 16) & 0x8000;
  const exponent = (b >>> 23) & 0xff;
  const mantissa = b & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15; // the half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  // Keep `shift` fewer bits of the 24-bit significand, rounding the dropped part to nearest even.
  const round = (significand: number, shift: number): number => {
    const kept = significand >>> shift;
    const dropped = significand & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return dropped > half || (dropped === half && (kept & 1)) ? kept + 1 : kept;
  };
  // A carry out of the mantissa lands in the exponent field: the right answer, up to infinity.
  if (e > 0) return sign | ((e << 10) + round(mantissa, 13));
  if (e < -10) return sign; // below half the smallest subnormal: ±0
  return sign | round(mantissa | 0x800000, 14 - e); // a subnormal half
}

/** The value of a half-precision bit pattern (exact: every half is an f32). */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function toHalfArray(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i]);
  return out;
}

export function fromHalfArray(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = fromHalfBits(bits[i]);
  return out;
}
