// Half precision (src/io/half.ts), which the shipped weights use, and checkpoints to and from bytes
// (what a web page does: no file in between), in half precision and for part of a model.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { fromHalfBits, toHalfBits, toHalfArray, fromHalfArray } from '../src/io/half.ts';
import { checkpointToBytes, loadCheckpointFromBytes, readCheckpointInfoFromBytes } from '../src/nn/checkpoint.ts';
import { CheckpointError, decodeSafetensors } from '../src/io/safetensors.ts';
import { Vae } from '../src/models/vae.ts';

test.before(async () => {
  await ready;
});

test('half: known bit patterns, both ways', () => {
  const known: [number, number][] = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
    [2 ** -14, 0x0400], [2 ** -24, 0x0001], [2 ** -14 - 2 ** -24, 0x03ff], [Infinity, 0x7c00], [-Infinity, 0xfc00],
    [1 + 2 ** -10, 0x3c01], [1 / 3, 0x3555], [0.1, 0x2e66],
  ];
  for (const [value, bits] of known) {
    assert.is(toHalfBits(value), bits, `toHalfBits(${value})`);
    if (value !== 1 / 3 && value !== 0.1) assert.is(Object.is(fromHalfBits(bits), value), true, `fromHalfBits(0x${bits.toString(16)})`);
  }
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
});

test('half: rounding to nearest, ties to even; overflow to infinity; underflow to zero', () => {
  const ulpAt1 = 2 ** -10;
  assert.is(toHalfBits(1 + ulpAt1 / 2), 0x3c00, 'a tie rounds to the even pattern (down)');
  assert.is(toHalfBits(1 + 1.5 * ulpAt1), 0x3c02, 'a tie rounds to the even pattern (up)');
  assert.is(toHalfBits(1 + ulpAt1 / 2 + 2 ** -20), 0x3c01, 'just above a tie rounds up');
  assert.is(toHalfBits(65520), 0x7c00, '65520 is halfway to the next binade: rounds to infinity');
  assert.is(toHalfBits(65519), 0x7bff);
  assert.is(toHalfBits(2 ** -25), 0x0000, 'half the smallest subnormal is a tie: to even, zero');
  assert.is(toHalfBits(2 ** -25 + 2 ** -35), 0x0001);
  assert.is(toHalfBits(-(2 ** -26)), 0x8000);
  assert.is(toHalfBits(2 ** -14 - 2 ** -25), 0x0400, 'rounding up out of the subnormals reaches the smallest normal');
});

test('half: every one of the 65,536 patterns survives f16 → f32 → f16, and the f32 is the nearest', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = fromHalfBits(h);
    if (Number.isNaN(v)) continue;
    assert.is(toHalfBits(v), h, `pattern 0x${h.toString(16)}`);
  }
  // Random f32s: the chosen half is at least as close as both neighbours.
  let seed = 12345;
  const next = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 5000; i++) {
    const x = Math.fround((next() - 0.5) * 2 ** Math.floor(next() * 40 - 26));
    const h = toHalfBits(x);
    const err = Math.abs(fromHalfBits(h) - x);
    for (const neighbour of [h - 1, h + 1]) {
      if ((neighbour & 0x7fff) >= 0x7c00 || neighbour < 0 || (neighbour ^ h) & 0x8000) continue;
      assert.ok(err <= Math.abs(fromHalfBits(neighbour) - x), `x = ${x}: 0x${h.toString(16)} is not the nearest`);
    }
  }
  const xs = Float32Array.from([0.25, -3.5, 1e-3, 1000]);
  assert.equal(Array.from(fromHalfArray(toHalfArray(xs))), [0.25, -3.5, 0.0010004043579101562, 1000]);
});

test('checkpoint bytes: a VAE round-trips in memory; half precision stores F16 and loads the rounded weights', async () => {
  const a = new Vae({ seed: 1 });
  const b = new Vae({ seed: 2 });
  const progress = { epoch: 3, step: 30, batchInEpoch: 0, seed: 1 };
  const full = await checkpointToBytes({ model: 'vae', config: a.config, modules: a.modules, progress }, { source: 'a.safetensors' });
  const info = await loadCheckpointFromBytes(full, { model: 'vae', modules: b.modules }, { source: 'a.safetensors' });
  assert.is(info.path, 'a.safetensors');
  assert.equal(info.progress, progress);
  for (const [name, t] of a.decoder.stateDict()) assert.equal(Array.from(await b.decoder.stateDict().get(name)!.toArray()), Array.from(await t.toArray()), name);

  // The decoder alone, in half precision: about half the bytes of its f32 tensors.
  const half = await checkpointToBytes({ model: 'vae', config: a.config, modules: { decoder: a.decoder }, progress }, { half: true });
  const contents = decodeSafetensors(half);
  assert.ok([...contents.tensors.values()].every((t) => t.dtype === 'F16'));
  assert.ok([...contents.tensors.keys()].every((n) => n.startsWith('decoder.')));
  const c = new Vae({ seed: 3 });
  await loadCheckpointFromBytes(half, { model: 'vae', modules: { decoder: c.decoder } });
  for (const [name, t] of a.decoder.stateDict()) {
    const expected = Array.from(fromHalfArray(toHalfArray(await t.toArray())));
    assert.equal(Array.from(await c.decoder.stateDict().get(name)!.toArray()), expected, name);
  }
  assert.is(readCheckpointInfoFromBytes(half, 'decoder.safetensors', 'vae').model, 'vae');

  // The whole model cannot be loaded from the decoder alone: the error names the missing tensor.
  try {
    await loadCheckpointFromBytes(half, { model: 'vae', modules: c.modules }, { source: 'decoder.safetensors' });
    assert.unreachable('loading the encoder from a decoder-only file must fail');
  } catch (e) {
    assert.instance(e, CheckpointError);
    assert.match((e as Error).message, /decoder\.safetensors is missing tensor "encoder\./);
  }
  // Nor is a decoder loaded from a file of another model.
  try {
    readCheckpointInfoFromBytes(half, 'decoder.safetensors', 'gan');
    assert.unreachable('a vae file read as a gan must fail');
  } catch (e) {
    assert.match((e as Error).message, /holds a "vae" model, not a "gan" one/);
  }
  for (const m of [a, b, c]) m.dispose();
});

test.run();
