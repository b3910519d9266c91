// Shape arithmetic shared by kernels, their references and the ops above them.

export type Shape = readonly number[];

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a contiguous tensor. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** NumPy broadcasting: align trailing dimensions; each pair must be equal or one of them 1. */
export function broadcastShapes(a: Shape, b: Shape, op = 'broadcast'): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together (dimension ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides for reading `shape` as if broadcast to `outShape`: 0 along broadcast dimensions. */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((d, i) => {
    const j = i - offset;
    if (j < 0 || shape[j] === 1) return 0;
    return own[j];
  });
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Normalises an axis argument (negative counts from the end) and checks it. */
export function normalizeAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new RangeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}
