// FNV-1a (src/io/fnv.ts) against the published 32-bit test vectors: for ASCII text a code unit is
// a byte, so the hash is the standard one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FNV1A32_OFFSET, fnv1a32, hex32 } from '../src/io/fnv.ts';

test('FNV-1a 32: the standard vectors, continued hashes, and words', () => {
  assert.is(hex32(fnv1a32('')), '811c9dc5');
  assert.is(hex32(fnv1a32('a')), 'e40c292c');
  assert.is(hex32(fnv1a32('foobar')), 'bf9cf968');
  // A hash continued over a second part is the hash of the whole.
  assert.is(fnv1a32('bar', fnv1a32('foo')), fnv1a32('foobar'));
  // Numbers fold in as they are: the code units of 'foobar' give the same hash.
  assert.is(fnv1a32(Array.from('foobar', (c) => c.charCodeAt(0))), fnv1a32('foobar'));
  // 32-bit words (a float's bits): one flipped bit changes the hash.
  const words = new Uint32Array(new Float32Array([1, -2.5, 3e-8]).buffer);
  const flipped = Uint32Array.from(words);
  flipped[2] ^= 1;
  assert.is.not(fnv1a32(words), fnv1a32(flipped));
  assert.is(fnv1a32(words, FNV1A32_OFFSET), fnv1a32(words));
  assert.is(hex32(0x1234), '00001234');
});

test.run();
