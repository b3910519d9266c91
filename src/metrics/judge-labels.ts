// Two judge figures beside the Fréchet distance, read from the judge's softmax on each generated
// sample (src/metrics/quality.ts):
//  - confidence: the share of samples to which the judge gives probability ≥ 0.9 for one digit
//    (a share of clearly drawn digits; smudges and chimeras of two digits score low);
//  - coverage: how the judge's labels spread over the 10 digits — the share of samples per digit,
//    and as one number the normalised entropy of that histogram, H(p)/ln 10: 1 when every digit
//    holds a tenth of the samples, 0 when all of them are one digit (mode collapse). A generator
//    that drops one digit and spreads evenly over the other nine scores ln 9/ln 10 ≈ 0.954;
//    one that draws only two digits half and half scores ln 2/ln 10 ≈ 0.301.
// Neither needs real images; the Fréchet distance sees both failures too, but mixed with
// everything else.

/** Probability the confidence figure asks of the judge's top digit. */
export const CONFIDENCE_THRESHOLD = 0.9;

/**
 * The largest softmax probability of each row of `logits` (rows × cols, row-major), computed
 * stably: 1/Σ exp(l_j − l_max).
 */
export function maxSoftmax(logits: ArrayLike<number>, rows: number, cols: number): Float64Array {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 1) {
    throw new RangeError(`maxSoftmax: need rows ≥ 0 and cols ≥ 1 (whole numbers), got ${rows} × ${cols}`);
  }
  if (logits.length !== rows * cols) throw new RangeError(`maxSoftmax: ${rows} × ${cols} logits need ${rows * cols} values, got ${logits.length}`);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let top = -Infinity;
    for (let c = 0; c < cols; c++) top = Math.max(top, logits[r * cols + c]!);
    if (!Number.isFinite(top)) throw new RangeError(`maxSoftmax: row ${r} has a non-finite largest logit (${top})`);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(logits[r * cols + c]! - top);
    if (Number.isNaN(sum)) throw new RangeError(`maxSoftmax: row ${r} holds NaN`);
    out[r] = 1 / sum;
  }
  return out;
}

/** Share of samples whose top probability is at least `threshold` (default 0.9). */
export function confidentShare(topProbabilities: ArrayLike<number>, threshold = CONFIDENCE_THRESHOLD): number {
  if (topProbabilities.length === 0) throw new RangeError('confidentShare: no samples');
  if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`confidentShare: threshold must be in (0, 1], got ${threshold}`);
  let confident = 0;
  for (let i = 0; i < topProbabilities.length; i++) {
    const p = topProbabilities[i]!;
    if (!(p >= 0 && p <= 1)) throw new RangeError(`confidentShare: probability ${p} at index ${i} is not in [0, 1]`);
    if (p >= threshold) confident++;
  }
  return confident / topProbabilities.length;
}

export interface LabelCoverage {
  /** Share of samples the judge labels as each class (sums to 1). */
  shares: number[];
  /** Samples per class. */
  counts: number[];
  /** Entropy of `shares` divided by ln(classes): 1 = perfectly even, 0 = every sample one class. */
  entropy: number;
}

/** How `labels` (each a class 0..classes−1) spread over the classes. */
export function labelCoverage(labels: ArrayLike<number>, classes = 10): LabelCoverage {
  if (!Number.isInteger(classes) || classes < 2) throw new RangeError(`labelCoverage: need at least 2 classes, got ${classes}`);
  if (labels.length === 0) throw new RangeError('labelCoverage: no labels');
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw new RangeError(`labelCoverage: label ${label} at index ${i} is not a class 0..${classes - 1}`);
    }
    counts[label] += 1;
  }
  const shares = counts.map((n) => n / labels.length);
  let entropy = 0;
  for (const p of shares) if (p > 0) entropy -= p * Math.log(p);
  return { shares, counts, entropy: Math.max(0, entropy / Math.log(classes)) };
}
