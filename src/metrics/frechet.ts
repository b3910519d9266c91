// Fréchet distance between Gaussians fitted to two feature sets: the "FID" of Heusel et al.
// (2017), here on the features of our own MNIST classifier instead of Inception's.
//   d² = ||μa − μb||² + Tr(Σa + Σb − 2 (Σa Σb)^½)
// Σa Σb is not symmetric, so its square root is usually taken with a general matrix routine
// (scipy.linalg.sqrtm in pytorch-fid), which can return complex noise on nearly singular
// covariances. Only the trace is needed, and Σa Σb is similar to the symmetric positive
// semi-definite S = Σa^½ Σb Σa^½ (Σa^½ Σb Σa^½ = Σa^½ (Σa Σb) Σa^-½ when Σa is invertible, and by
// continuity otherwise), so Tr((Σa Σb)^½) = Σ sqrt(λi(S)): two symmetric eigendecompositions,
// with rounding's tiny negative eigenvalues clamped to zero. Everything is float64.

export interface GaussianStats {
  dim: number;
  /** Number of feature vectors the statistics came from. */
  count: number;
  mean: Float64Array;
  /** Row-major dim×dim covariance, unbiased (divided by count − 1, as numpy.cov). */
  cov: Float64Array;
}

/** Mean and unbiased covariance of `count` feature vectors of length `dim` (row-major). */
export function featureStats(features: Float32Array | Float64Array, count: number, dim: number): GaussianStats {
  if (!Number.isInteger(count) || !Number.isInteger(dim) || count < 2 || dim < 1) {
    throw new Error(`featureStats: need at least 2 feature vectors of dimension ≥ 1, got count ${count}, dim ${dim}`);
  }
  if (features.length !== count * dim) {
    throw new Error(`featureStats: ${count} vectors of dimension ${dim} need ${count * dim} values, got ${features.length}`);
  }
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j]!;
  for (let j = 0; j < dim; j++) mean[j] /= count;

  // Centre first: accumulating raw second moments and subtracting μμᵀ loses digits when the
  // mean is large compared with the spread.
  const centred = new Float64Array(dim);
  const cov = new Float64Array(dim * dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) {
      const value = features[i * dim + j]!;
      if (!Number.isFinite(value)) throw new Error(`featureStats: feature ${j} of vector ${i} is ${value}`);
      centred[j] = value - mean[j]!;
    }
    for (let r = 0; r < dim; r++) {
      const scale = centred[r]!;
      const row = r * dim;
      for (let c = r; c < dim; c++) cov[row + c] += scale * centred[c]!;
    }
  }
  for (let r = 0; r < dim; r++) {
    for (let c = r; c < dim; c++) {
      const value = cov[r * dim + c]! / (count - 1);
      cov[r * dim + c] = value;
      cov[c * dim + r] = value;
    }
  }
  return { dim, count, mean, cov };
}

/**
 * Eigenvalues and eigenvectors of the symmetric n×n row-major matrix `matrix` by the cyclic
 * Jacobi method: rotations zero one off-diagonal element at a time until the off-diagonal part
 * is negligible. Slower than QR-based methods but simple, and accurate to working precision
 * even for tiny eigenvalues. Returns eigenvalues in ascending order and the matching unit
 * eigenvectors as the columns of `vectors` (row-major), so matrix = V diag(values) Vᵀ.
 */
export function symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  if (matrix.length !== n * n) throw new Error(`symmetricEigen: a ${n}×${n} matrix needs ${n * n} values, got ${matrix.length}`);
  const a = Float64Array.from(matrix);
  // Symmetrise so that rounding asymmetry in the input cannot bias the result.
  for (let r = 0; r < n; r++) {
    for (let c = r + 1; c < n; c++) {
      const average = (a[r * n + c]! + a[c * n + r]!) / 2;
      a[r * n + c] = average;
      a[c * n + r] = average;
    }
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  let totalSquares = 0;
  for (let i = 0; i < n * n; i++) totalSquares += a[i]! * a[i]!;
  const MAX_SWEEPS = 100;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let offSquares = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) offSquares += a[p * n + q]! * a[p * n + q]!;
    // Quadratic convergence makes this reached in a few sweeps; 1e-30 of the total keeps
    // eigenvalues accurate to ~1e-15 of the largest.
    if (offSquares <= 1e-30 * totalSquares || offSquares === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        // Once an element is below rounding of both diagonal entries, rotating it away changes
        // nothing measurable; zero it directly instead of doing useless work.
        const tiny = 100 * Math.abs(apq);
        if (sweep > 3 && Math.abs(app) + tiny === Math.abs(app) && Math.abs(aqq) + tiny === Math.abs(aqq)) {
          a[p * n + q] = 0;
          a[q * n + p] = 0;
          continue;
        }
        // Rotation angle φ with cot 2φ = θ zeroes a[p][q]; t = tan φ is the smaller root of
        // t² + 2θt − 1 = 0, which keeps |φ| ≤ π/4 and the rotation well conditioned.
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        a[p * n + p] = app - t * apq;
        a[q * n + q] = aqq + t * apq;
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          if (k !== p && k !== q) {
            const akp = a[k * n + p]!;
            const akq = a[k * n + q]!;
            const newKp = c * akp - s * akq;
            const newKq = s * akp + c * akq;
            a[k * n + p] = newKp;
            a[p * n + k] = newKp;
            a[k * n + q] = newKq;
            a[q * n + k] = newKq;
          }
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i * n + i]! - a[j * n + j]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => {
    values[to] = a[from * n + from]!;
    for (let k = 0; k < n; k++) vectors[k * n + to] = v[k * n + from]!;
  });
  return { values, vectors };
}

/** Square root of a symmetric positive semi-definite matrix; negative eigenvalues count as 0. */
export function symmetricSqrt(matrix: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const roots = values.map((value) => Math.sqrt(Math.max(value, 0)));
  const result = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = r; c < n; c++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += vectors[r * n + k]! * roots[k]! * vectors[c * n + k]!;
      result[r * n + c] = sum;
      result[c * n + r] = sum;
    }
  }
  return result;
}

function multiply(left: Float64Array, right: Float64Array, n: number): Float64Array {
  const result = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < n; k++) {
      const scale = left[r * n + k]!;
      if (scale === 0) continue;
      for (let c = 0; c < n; c++) result[r * n + c] += scale * right[k * n + c]!;
    }
  }
  return result;
}

/** Tr((Σa Σb)^½) for symmetric positive semi-definite Σa, Σb (see the file comment). */
export function traceSqrtProduct(covA: Float64Array, covB: Float64Array, n: number): number {
  const rootA = symmetricSqrt(covA, n);
  const inner = multiply(multiply(rootA, covB, n), rootA, n);
  const { values } = symmetricEigen(inner, n);
  let trace = 0;
  for (const value of values) trace += Math.sqrt(Math.max(value, 0));
  return trace;
}

/** Fréchet distance between the Gaussians N(μa, Σa) and N(μb, Σb); never negative. */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  if (a.dim !== b.dim) throw new Error(`frechetDistance: feature dimensions differ (${a.dim} vs ${b.dim})`);
  const n = a.dim;
  for (const [name, stats] of [['first', a], ['second', b]] as const) {
    if (stats.mean.length !== n || stats.cov.length !== n * n) {
      throw new Error(`frechetDistance: ${name} statistics have a mean of ${stats.mean.length} and a covariance of ${stats.cov.length} values for dimension ${n}`);
    }
  }
  let meanTerm = 0;
  for (let i = 0; i < n; i++) meanTerm += (a.mean[i]! - b.mean[i]!) ** 2;
  let traceTerm = 0;
  for (let i = 0; i < n; i++) traceTerm += a.cov[i * n + i]! + b.cov[i * n + i]!;
  const distance = meanTerm + traceTerm - 2 * traceSqrtProduct(a.cov, b.cov, n);
  return Math.max(distance, 0);
}

export interface DigitAccuracy {
  /** Share of all samples labelled as requested. */
  overall: number;
  /** Share per requested class (NaN for a class never requested). */
  perDigit: number[];
  /** Samples requested per class. */
  counts: number[];
  /** Of those, labelled as requested. */
  correct: number[];
}

/**
 * How often the judge's `predicted` class equals the `requested` one, overall and per
 * requested class (0..classes−1), e.g. the share of "7"s the conditional GAN drew as 7s.
 */
export function accuracyByDigit(predicted: ArrayLike<number>, requested: ArrayLike<number>, classes = 10): DigitAccuracy {
  if (predicted.length !== requested.length) {
    throw new Error(`accuracyByDigit: ${predicted.length} predictions for ${requested.length} requested labels`);
  }
  const counts = new Array<number>(classes).fill(0);
  const correct = new Array<number>(classes).fill(0);
  let totalCorrect = 0;
  for (let i = 0; i < requested.length; i++) {
    const wanted = requested[i]!;
    if (!Number.isInteger(wanted) || wanted < 0 || wanted >= classes) {
      throw new Error(`accuracyByDigit: requested label ${wanted} at index ${i} is not a class 0..${classes - 1}`);
    }
    counts[wanted] += 1;
    if (predicted[i] === wanted) {
      correct[wanted] += 1;
      totalCorrect += 1;
    }
  }
  return {
    overall: requested.length > 0 ? totalCorrect / requested.length : NaN,
    perDigit: counts.map((count, digit) => (count > 0 ? correct[digit]! / count : NaN)),
    counts,
    correct,
  };
}
