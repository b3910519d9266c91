import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready, assertClose } from './helpers.ts';
import { rand, randn, manualSeed } from '../src/core/creation.ts';
import { pcgHash, randomReference } from '../src/kernels/random.ts';

test.before(async () => {
  await ready;
});

async function values(t: { toArray(): Promise<Float32Array>; dispose(): void }): Promise<Float32Array> {
  const v = await t.toArray();
  t.dispose();
  return v;
}

function moments(v: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i] - mean) ** 2;
  return { mean, std: Math.sqrt(q / v.length) };
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);
}

test('pcgHash reference: known values and 32-bit wrap-around', () => {
  // Values computed independently with Python's arbitrary-precision integers, masked to 32 bits.
  assert.is(pcgHash(0), 129708002);
  assert.is(pcgHash(1), 2831084092);
  assert.is(pcgHash(0xffffffff), 3861530882);
});

test('rand is bit-exact against randomReference at awkward sizes; other ranges within an ulp', async () => {
  for (const n of [1, 3, 7, 33, 65, 130, 1000, 70000]) {
    for (const [seed, low, high] of [[0, 0, 1], [12345, -2, 3], [0xdeadbeef, 0, 1]]) {
      const got = await values(rand([n], { seed, low, high }));
      const expected = Float32Array.from(randomReference('uniform', n, seed, 0, low, high));
      // [0, 1) is exactly u (24-bit integers scaled by 2^-24); low + (high − low)·u rounds in f32,
      // maybe through an fma, so allow one ulp of the range's magnitude there.
      const ulp = low === 0 && high === 1 ? 0 : 2 ** -23 * Math.max(Math.abs(low), Math.abs(high));
      assertClose(got, expected, `rand n=${n} seed=${seed} [${low}, ${high})`, 0, ulp);
    }
  }
});

test('rand stays inside [low, high) with the right moments', async () => {
  const v = await values(rand([200000], { seed: 3 }));
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  assert.ok(lo >= 0 && hi < 1, `range [${lo}, ${hi}]`);
  const { mean, std } = moments(v);
  // Standard errors for 200,000 draws: mean 0.29/√n ≈ 6.5e-4, std ≈ 4.6e-4; allow 5 of them.
  assert.ok(Math.abs(mean - 0.5) < 5 * 6.5e-4, `uniform mean ${mean}`);
  assert.ok(Math.abs(std - Math.sqrt(1 / 12)) < 5 * 4.6e-4, `uniform std ${std}`);
});

test('randn: moments within statistical bounds and close to the reference', async () => {
  const n = 200000;
  for (const [seed, mu, sigma] of [[1, 0, 1], [99, 2.5, 0.3]]) {
    const v = await values(randn([n], { seed, mean: mu, std: sigma }));
    const { mean, std } = moments(v);
    // Standard errors: mean σ/√n, std σ/√(2n); 5 of them fail a correct generator ~1 in 10^6.
    assert.ok(Math.abs(mean - mu) < (5 * sigma) / Math.sqrt(n), `randn mean ${mean} vs ${mu}`);
    assert.ok(Math.abs(std - sigma) < (5 * sigma) / Math.sqrt(2 * n), `randn std ${std} vs ${sigma}`);
    let beyond3 = 0;
    for (const x of v) if (Math.abs(x - mu) > 3 * sigma) beyond3++;
    // P(|z| > 3) = 0.0027: expect 540 ± 23 in 200,000.
    assert.ok(Math.abs(beyond3 - 0.0027 * n) < 5 * Math.sqrt(0.0027 * n), `tails: ${beyond3} beyond 3σ`);
    // The GPU's log/cos differ from float64 by a few ulp, amplified near u1 → 0.
    assertClose(v, randomReference('normal', n, seed, 0, mu, sigma), `randn seed ${seed} vs reference`, 1e-4, 1e-4 * sigma);
  }
  for (const n of [1, 3, 7, 33, 65, 130]) {
    assertClose(await values(randn([n], { seed: 5 })), randomReference('normal', n, 5, 0, 0, 1), `randn n=${n}`, 1e-4, 1e-4);
  }
});

test('same seed → same values; different seed or stream → different values', async () => {
  const a = await values(randn([1000], { seed: 7 }));
  const b = await values(randn([1000], { seed: 7 }));
  const c = await values(randn([1000], { seed: 8 }));
  assert.ok(sameValues(a, b), 'same seed, same values');
  assert.not.ok(sameValues(a, c), 'different seed, different values');
  // The prefix of a bigger draw is the smaller draw: values depend on (seed, stream, index) only.
  const big = await values(randn([4000], { seed: 7 }));
  assert.ok(sameValues(big.subarray(0, 1000), a), 'counter-based: prefix property');
  // Streams of one seed.
  const s0 = randomReference('uniform', 1000, 7, 0, 0, 1);
  const s1 = randomReference('uniform', 1000, 7, 1, 0, 1);
  assert.not.ok(sameValues(s0, s1), 'streams differ');
  let equal = 0;
  for (let i = 0; i < 1000; i++) if (s0[i] === s1[i]) equal++;
  assert.ok(equal < 5, `streams 0 and 1 share ${equal} of 1000 values`);
});

test('manualSeed reproduces the global generator; successive draws differ', async () => {
  manualSeed(42);
  const first = await values(rand([500]));
  const second = await values(randn([500]));
  const third = await values(rand([500]));
  assert.not.ok(sameValues(first, third), 'successive draws use new streams');
  // Stream k of seed 42 is the k-th draw after manualSeed(42).
  assertClose(first, Float32Array.from(randomReference('uniform', 500, 42, 0, 0, 1)), 'draw 0 is stream 0', 0, 0);
  assertClose(third, Float32Array.from(randomReference('uniform', 500, 42, 2, 0, 1)), 'draw 2 is stream 2', 0, 0);
  manualSeed(42);
  assert.ok(sameValues(await values(rand([500])), first), 'first draw repeats');
  assert.ok(sameValues(await values(randn([500])), second), 'second draw repeats');
  assert.ok(sameValues(await values(rand([500])), third), 'third draw repeats');
  manualSeed(43);
  assert.not.ok(sameValues(await values(rand([500])), first), 'another seed differs');
  // An explicit seed ignores (and does not advance) the global generator.
  manualSeed(42);
  const explicit = await values(rand([500], { seed: 42 }));
  assert.ok(sameValues(explicit, first), 'explicit seed = stream 0 of that seed');
  assert.ok(sameValues(await values(rand([500])), first), 'the global generator was not advanced');
});

test.run();
