// The judge's label figures (src/metrics/judge-labels.ts) on hand-made inputs whose answers are
// known in closed form: softmax tops, the ≥ 0.9 share, and the normalised label entropy.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { maxSoftmax, confidentShare, labelCoverage, CONFIDENCE_THRESHOLD } from '../src/metrics/judge-labels.ts';

const close = (actual: number, expected: number, what: string, tol = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual}, expected ${expected}`);

test('maxSoftmax: the top probability of each row, stable for huge logits', () => {
  // [0, ln 9]: probabilities 0.1 and 0.9. Four equal logits: 0.25 each. One logit 1000 above: 1.
  const two = maxSoftmax([0, Math.log(9), Math.log(3), 0], 2, 2);
  close(two[0], 0.9, 'row [0, ln 9]');
  close(two[1], 0.75, 'row [ln 3, 0]');
  const four = maxSoftmax([5, 5, 5, 5, 1000, -1000, 3, 0], 2, 4);
  close(four[0], 0.25, 'four equal logits');
  close(four[1], 1, 'one logit 1000 above the rest');
  assert.throws(() => maxSoftmax([1, 2, 3], 2, 2), /2 × 2 logits need 4 values, got 3/);
  assert.throws(() => maxSoftmax([NaN, 1], 1, 2), /row 0/);
});

test('confidentShare: probability ≥ 0.9 counts (0.9 itself included)', () => {
  assert.is(CONFIDENCE_THRESHOLD, 0.9);
  assert.is(confidentShare([0.95, 0.9, 0.89, 0.5]), 0.5);
  assert.is(confidentShare([1, 1, 1]), 1);
  assert.is(confidentShare([0.2, 0.3]), 0);
  assert.is(confidentShare([0.6, 0.7, 0.8, 0.9], 0.7), 0.75);
  assert.throws(() => confidentShare([]), /no samples/);
  assert.throws(() => confidentShare([1.5]), /1.5 at index 0 is not in \[0, 1\]/);
  assert.throws(() => confidentShare([0.5], 0), /threshold must be in \(0, 1\]/);
});

test('labelCoverage: per-digit shares and the entropy over ln 10', () => {
  const even = labelCoverage(Array.from({ length: 50 }, (_, i) => i % 10));
  close(even.entropy, 1, 'every digit a tenth');
  assert.equal(even.counts, new Array(10).fill(5));
  assert.equal(even.shares, new Array(10).fill(0.1));

  const collapsed = labelCoverage(new Array(40).fill(7));
  assert.is(collapsed.entropy, 0);
  assert.is(collapsed.shares[7], 1);

  const halves = labelCoverage([3, 8, 3, 8]);
  close(halves.entropy, Math.log10(2), 'two digits half and half');

  // Nine digits evenly, one missing: ln 9 / ln 10.
  close(labelCoverage([0, 1, 2, 3, 4, 5, 6, 7, 8]).entropy, Math.log(9) / Math.log(10), 'nine of ten');
  // Uneven: shares 1/2, 1/4, 1/4 → H = 1.5 ln 2.
  close(labelCoverage([1, 1, 2, 3]).entropy, (1.5 * Math.log(2)) / Math.log(10), 'shares 1/2, 1/4, 1/4');
  close(labelCoverage([0, 1], 2).entropy, 1, 'two classes, even');

  assert.throws(() => labelCoverage([]), /no labels/);
  assert.throws(() => labelCoverage([1, 10]), /label 10 at index 1 is not a class 0..9/);
  assert.throws(() => labelCoverage([0], 1), /need at least 2 classes/);
});

test.run();
