import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  accuracyByDigit, featureStats, frechetDistance, symmetricEigen, symmetricSqrt, type GaussianStats,
} from '../src/metrics/frechet.ts';

function seededGaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** count × dim features with correlated dimensions and a non-zero mean. */
function correlatedFeatures(count: number, dim: number, seed: number): Float64Array {
  const gaussian = seededGaussian(seed);
  const mixing = Float64Array.from({ length: dim * dim }, gaussian);
  const features = new Float64Array(count * dim);
  const z = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < dim; k++) z[k] = gaussian();
    for (let j = 0; j < dim; j++) {
      let value = j * 0.3;
      for (let k = 0; k < dim; k++) value += mixing[j * dim + k]! * z[k]!;
      features[i * dim + j] = value;
    }
  }
  return features;
}

function trace(stats: GaussianStats): number {
  let sum = 0;
  for (let i = 0; i < stats.dim; i++) sum += stats.cov[i * stats.dim + i]!;
  return sum;
}

function diagonalStats(mean: number[], variances: number[]): GaussianStats {
  const dim = mean.length;
  const cov = new Float64Array(dim * dim);
  variances.forEach((variance, i) => (cov[i * dim + i] = variance));
  return { dim, count: 100, mean: Float64Array.from(mean), cov };
}

/** Q·Σ·Qᵀ and Q·μ for an orthogonal Q. */
function rotate(stats: GaussianStats, q: Float64Array): GaussianStats {
  const n = stats.dim;
  const mean = new Float64Array(n);
  const cov = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let k = 0; k < n; k++) mean[r] += q[r * n + k]! * stats.mean[k]!;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let k = 0; k < n; k++) for (let l = 0; l < n; l++) sum += q[r * n + k]! * stats.cov[k * n + l]! * q[c * n + l]!;
      cov[r * n + c] = sum;
    }
  }
  return { ...stats, mean, cov };
}

function assertNear(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected} (tolerance ${tolerance})`);
}

test('featureStats matches numpy.mean and the unbiased numpy.cov', () => {
  const stats = featureStats(Float32Array.from([1, 2, 3, 4, 5, 7]), 3, 2);
  assert.equal(Array.from(stats.mean).map((v) => +v.toFixed(12)), [3, 4.333333333333]);
  const expected = [4, 5, 5, 19 / 3];
  stats.cov.forEach((value, i) => assertNear(value, expected[i]!, 1e-12, `cov[${i}]`));
  assert.throws(() => featureStats(new Float32Array(3), 1, 3), /at least 2 feature vectors/);
  assert.throws(() => featureStats(new Float32Array(5), 2, 3), /need 6 values, got 5/);
  assert.throws(() => featureStats(Float32Array.from([1, NaN, 0, 0]), 2, 2), /feature 1 of vector 0 is NaN/);
});

test('symmetricEigen reconstructs the matrix with orthonormal eigenvectors (n = 1, 3, 7, 33)', () => {
  for (const n of [1, 3, 7, 33]) {
    const gaussian = seededGaussian(n);
    const matrix = new Float64Array(n * n);
    for (let r = 0; r < n; r++) for (let c = r; c < n; c++) matrix[r * n + c] = matrix[c * n + r] = gaussian();
    const { values, vectors } = symmetricEigen(matrix, n);
    for (let i = 1; i < n; i++) assert.ok(values[i - 1]! <= values[i]!, 'eigenvalues ascend');
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        let rebuilt = 0, gram = 0;
        for (let k = 0; k < n; k++) {
          rebuilt += vectors[r * n + k]! * values[k]! * vectors[c * n + k]!;
          gram += vectors[k * n + r]! * vectors[k * n + c]!;
        }
        assertNear(rebuilt, matrix[r * n + c]!, 1e-10, `n=${n} A[${r}][${c}]`);
        assertNear(gram, r === c ? 1 : 0, 1e-12, `n=${n} VᵀV[${r}][${c}]`);
      }
    }
  }
  const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  assert.equal(Array.from(values).map((v) => +v.toFixed(12)), [1, 3]);
});

test('symmetricSqrt squares back to the matrix', () => {
  const n = 7;
  const stats = featureStats(correlatedFeatures(50, n, 3), 50, n);
  const root = symmetricSqrt(stats.cov, n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      let square = 0;
      for (let k = 0; k < n; k++) square += root[r * n + k]! * root[k * n + c]!;
      assertNear(square, stats.cov[r * n + c]!, 1e-10 * trace(stats), `(√Σ)²[${r}][${c}]`);
    }
  }
});

test('the distance of a feature set with itself is ~0', () => {
  for (const [count, dim] of [[2000, 16], [40, 64]] as const) {
    const stats = featureStats(correlatedFeatures(count, dim, count + dim), count, dim);
    const distance = frechetDistance(stats, stats);
    assert.ok(distance >= 0 && distance < 1e-6 * trace(stats), `count ${count}, dim ${dim} (rank-deficient when count < dim): ${distance}`);
  }
});

test('the distance grows monotonically with added Gaussian noise', () => {
  const count = 1500, dim = 12;
  const features = correlatedFeatures(count, dim, 11);
  const reference = featureStats(features, count, dim);
  const noise = Float64Array.from({ length: count * dim }, seededGaussian(99));
  let previous = 0;
  for (const scale of [0.05, 0.1, 0.2, 0.5, 1, 2]) {
    const noisy = features.map((value, i) => value + scale * noise[i]!);
    const distance = frechetDistance(reference, featureStats(noisy, count, dim));
    assert.ok(distance > previous, `noise ${scale}: ${distance} should exceed ${previous}`);
    previous = distance;
  }
});

test('diagonal covariances give Σ(σa − σb)² + ||Δμ||²', () => {
  const a = diagonalStats([0, 1, -2, 0.5], [1, 4, 0.25, 9]);
  const b = diagonalStats([1, 1, 0, 0.5], [4, 1, 0.25, 0]);
  const expected = (1 + 0 + 4 + 0) + ((1 - 2) ** 2 + (2 - 1) ** 2 + 0 + (3 - 0) ** 2);
  assertNear(frechetDistance(a, b), expected, 1e-12, 'closed form');
});

test('general covariances: symmetric, rotation invariant, and equal to scipy\'s sqrtm result', () => {
  const a: GaussianStats = { dim: 3, count: 10, mean: Float64Array.from([0, 1, 2]), cov: Float64Array.from([2, 0.5, 0.1, 0.5, 1, 0.3, 0.1, 0.3, 0.5]) };
  const b: GaussianStats = { dim: 3, count: 10, mean: Float64Array.from([0.5, 0.5, 2.5]), cov: Float64Array.from([1, -0.2, 0, -0.2, 3, 0.7, 0, 0.7, 0.8]) };
  // numpy/scipy: ((ma-mb)**2).sum() + trace(ca) + trace(cb) - 2 * trace(sqrtm(ca @ cb).real)
  assertNear(frechetDistance(a, b), 1.669405064143188, 1e-12, 'scipy value');
  assertNear(frechetDistance(b, a), frechetDistance(a, b), 1e-12, 'symmetry');

  const dim = 10;
  const x = featureStats(correlatedFeatures(300, dim, 5), 300, dim);
  const y = featureStats(correlatedFeatures(300, dim, 6), 300, dim);
  const forward = frechetDistance(x, y);
  assertNear(frechetDistance(y, x), forward, 1e-9 * forward, 'symmetry of sample statistics');
  // An orthogonal Q from Gram–Schmidt on random vectors; d(QA, QB) = d(A, B).
  const gaussian = seededGaussian(77);
  const q = Float64Array.from({ length: dim * dim }, gaussian);
  for (let r = 0; r < dim; r++) {
    for (let p = 0; p < r; p++) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += q[r * dim + k]! * q[p * dim + k]!;
      for (let k = 0; k < dim; k++) q[r * dim + k] -= dot * q[p * dim + k]!;
    }
    const norm = Math.hypot(...q.subarray(r * dim, (r + 1) * dim));
    for (let k = 0; k < dim; k++) q[r * dim + k] /= norm;
  }
  assertNear(frechetDistance(rotate(x, q), rotate(y, q)), forward, 1e-9 * forward, 'rotation invariance');
});

test('frechetDistance rejects statistics of different dimensions', () => {
  assert.throws(() => frechetDistance(diagonalStats([0], [1]), diagonalStats([0, 0], [1, 1])), /dimensions differ \(1 vs 2\)/);
  assert.throws(() => frechetDistance({ ...diagonalStats([0, 0], [1, 1]), cov: new Float64Array(3) }, diagonalStats([0, 0], [1, 1])), /covariance of 3 values/);
});

test('accuracyByDigit gives the overall and per-digit shares of correctly drawn digits', () => {
  const requested = [0, 0, 1, 1, 1, 3, 3, 3, 3];
  const predicted = [0, 6, 1, 1, 7, 3, 3, 3, 8];
  const result = accuracyByDigit(predicted, requested, 4);
  assertNear(result.overall, 6 / 9, 1e-15, 'overall');
  assert.equal(result.counts, [2, 3, 0, 4]);
  assert.equal(result.correct, [1, 2, 0, 3]);
  assert.equal(result.perDigit.slice(0, 2), [0.5, 2 / 3]);
  assert.ok(Number.isNaN(result.perDigit[2]!), 'a digit never requested has no share');
  assert.is(result.perDigit[3], 0.75);
  assert.is(accuracyByDigit(Int32Array.from([5]), Uint8Array.from([5])).perDigit.length, 10);
  assert.throws(() => accuracyByDigit([1], [1, 2]), /1 predictions for 2 requested labels/);
  assert.throws(() => accuracyByDigit([1], [10]), /requested label 10 at index 0/);
});

test.run();
