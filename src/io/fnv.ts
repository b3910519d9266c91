// FNV-1a, 32 bits: a small, fast, non-cryptographic checksum. It folds one whole value per step
// (a string's UTF-16 code units, or 32-bit words) rather than one byte, which is all its two
// users need: the tune cache's fingerprint of the kernels' sources (src/tune/fingerprint.ts) and
// the playground's checksum of a model's weights (equal bits, equal checksums).

/** FNV-1a's 32-bit offset basis: where a hash starts. */
export const FNV1A32_OFFSET = 0x811c9dc5;
const FNV1A32_PRIME = 0x01000193;

/** The hash `h` continued over `values`: each value (a code unit of a string, or a number taken as 32 bits) xored in, then multiplied by the FNV prime. */
export function fnv1a32(values: string | ArrayLike<number>, h = FNV1A32_OFFSET): number {
  if (typeof values === 'string') {
    for (let i = 0; i < values.length; i++) h = Math.imul(h ^ values.charCodeAt(i), FNV1A32_PRIME) >>> 0;
  } else {
    for (let i = 0; i < values.length; i++) h = Math.imul(h ^ values[i], FNV1A32_PRIME) >>> 0;
  }
  return h;
}

/** A 32-bit hash as 8 hex digits. */
export function hex32(h: number): string {
  return (h >>> 0).toString(16).padStart(8, '0');
}
