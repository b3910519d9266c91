import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CheckpointError, type SafetensorsTensor } from '../src/io/safetensors.ts';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors-file.ts';

const scratchDir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
test.after(() => rmSync(scratchDir, { recursive: true, force: true }));
let fileCounter = 0;

/** A file made by following the format description literally, independently of the writer. */
function buildFile(header: string | object, data: Uint8Array = new Uint8Array(0), padTo8 = false): string {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
  if (padTo8) json += ' '.repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  bytes.set(headerBytes, 8);
  bytes.set(data, 8 + headerBytes.length);
  return writeBytes(bytes);
}

function writeBytes(bytes: Uint8Array): string {
  const path = join(scratchDir, `case-${fileCounter++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

function littleEndianF32(...values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  values.forEach((value, i) => new DataView(bytes.buffer).setFloat32(i * 4, value, true));
  return bytes;
}

function assertRejected(path: string, tensor: string | undefined, ...fragments: RegExp[]): void {
  try {
    loadSafetensors(path);
  } catch (error) {
    assert.instance(error, CheckpointError);
    const { message } = error as CheckpointError;
    assert.ok(message.includes(path), `message should name the file: ${message}`);
    if (tensor !== undefined) {
      assert.ok(message.includes(`"${tensor}"`), `message should name tensor "${tensor}": ${message}`);
      assert.is((error as CheckpointError).tensor, tensor);
    }
    for (const fragment of fragments) assert.match(message, fragment);
    return;
  }
  assert.unreachable(`loading ${path} should have failed`);
}

test('round trip is bit-exact for every dtype, special floats included, with metadata', () => {
  const f32Bits = Uint32Array.from([
    0x7fc00000, // NaN
    0x7fc00001, // NaN with a payload
    0xffc00000, // negative NaN
    0x80000000, // -0
    0x00000001, // smallest denormal
    0x007fffff, // largest denormal
    0x7f800000, // +inf
    0xff800000, // -inf
    0x3f800000, // 1
  ]);
  const tensors = new Map<string, SafetensorsTensor>([
    ['layer.weight', { dtype: 'F32', shape: [3, 3], data: new Float32Array(f32Bits.buffer) }],
    ['counts', { dtype: 'I32', shape: [4], data: Int32Array.from([0, -1, 2147483647, -2147483648]) }],
    ['flags', { dtype: 'U8', shape: [3], data: Uint8Array.from([0, 7, 255]) }],
    ['wide', { dtype: 'F64', shape: [2, 1], data: Float64Array.from([-0, 5e-324]) }],
    ['steps', { dtype: 'I64', shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n]) }],
    ['seeds', { dtype: 'U32', shape: [1], data: Uint32Array.from([4294967295]) }],
    ['scalar', { dtype: 'F32', shape: [], data: Float32Array.from([0.1]) }],
    ['empty', { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) }],
  ]);
  const metadata = { model: 'vae', config: '{"latent":2}', note: 'ünïcödé ✓', epoch: '3' };
  const path = join(scratchDir, 'runs', 'vae', 'checkpoint.safetensors');
  saveSafetensors(path, tensors, metadata);
  const loaded = loadSafetensors(path);
  assert.equal(loaded.metadata, metadata);
  assert.equal([...loaded.tensors.keys()].sort(), [...tensors.keys()].sort());
  for (const [name, original] of tensors) {
    const back = loaded.tensors.get(name)!;
    assert.is(back.dtype, original.dtype, name);
    assert.equal(back.shape, original.shape, name);
    const originalBytes = new Uint8Array(original.data.buffer, original.data.byteOffset, original.data.byteLength);
    const backBytes = new Uint8Array(back.data.buffer, back.data.byteOffset, back.data.byteLength);
    assert.equal(Array.from(backBytes), Array.from(originalBytes), `bytes of ${name}`);
  }
  assert.instance(loaded.tensors.get('steps')!.data, BigInt64Array);
  assert.equal(readdirSync(join(scratchDir, 'runs', 'vae')), ['checkpoint.safetensors'], 'no temporary file is left');
});

test('the written file follows the format: header length, padded JSON, aligned packed data', () => {
  const path = join(scratchDir, 'layout.safetensors');
  saveSafetensors(path, new Map<string, SafetensorsTensor>([
    ['b', { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 3]) }],
    ['a', { dtype: 'F32', shape: [2], data: Float32Array.from([1.5, -2]) }],
    ['c', { dtype: 'F64', shape: [1], data: Float64Array.from([7]) }],
  ]), { format: 'pt' });
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  assert.is(headerLength % 8, 0, 'data starts 8-byte aligned');
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  assert.equal(header.__metadata__, { format: 'pt' });
  const data = bytes.subarray(8 + headerLength);
  assert.is(data.length, 3 + 8 + 8);
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, data_offsets: [begin] } = info as { dtype: string; data_offsets: [number, number] };
    const width = { U8: 1, F32: 4, F64: 8 }[dtype]!;
    assert.is(begin % width, 0, `${name} is aligned to its element size`);
  }
  const a = header.a as { dtype: string; shape: number[]; data_offsets: [number, number] };
  assert.equal([a.dtype, a.shape], ['F32', [2]]);
  assert.is(data.readFloatLE(a.data_offsets[0]), 1.5);
  assert.is(data.readFloatLE(a.data_offsets[0] + 4), -2);
});

test('reads files built by the specification: unpadded header, data in any order, metadata', () => {
  const simple = buildFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', littleEndianF32(1.5, -2));
  const loaded = loadSafetensors(simple);
  assert.equal(loaded.metadata, {});
  assert.equal(Array.from(loaded.tensors.get('a')!.data as Float32Array), [1.5, -2]);

  // Header order differs from data order; padded header; integer tensor; metadata.
  const data = new Uint8Array(12 + 8);
  new DataView(data.buffer).setInt32(0, -7, true);
  new DataView(data.buffer).setInt32(4, 9, true);
  data.set(littleEndianF32(0.25, 4, 8), 8);
  const mixed = buildFile({
    w: { dtype: 'F32', shape: [1, 3], data_offsets: [8, 20] },
    __metadata__: { format: 'pt' },
    i: { dtype: 'I32', shape: [2], data_offsets: [0, 8] },
  }, data, true);
  const back = loadSafetensors(mixed);
  assert.equal(back.metadata, { format: 'pt' });
  assert.equal(Array.from(back.tensors.get('w')!.data as Float32Array), [0.25, 4, 8]);
  assert.equal(back.tensors.get('w')!.shape, [1, 3]);
  assert.equal(Array.from(back.tensors.get('i')!.data as Int32Array), [-7, 9]);
});

test('rejects a file too short or whose header length runs past the end', () => {
  assertRejected(writeBytes(new Uint8Array(5)), undefined, /too short/);
  const bytes = new Uint8Array(8 + 10);
  new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
  assertRejected(writeBytes(bytes), undefined, /header length 1000 runs past the end/);
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
  assertRejected(writeBytes(bytes), undefined, /runs past the end/);
});

test('rejects a header that is not JSON, not UTF-8, or not an object', () => {
  assertRejected(buildFile('{"a": {"dtype": "F32",'), undefined, /not valid JSON/);
  const badUtf8 = new Uint8Array(8 + 4);
  new DataView(badUtf8.buffer).setBigUint64(0, 4n, true);
  badUtf8.set([0x7b, 0xff, 0xfe, 0x7d], 8);
  assertRejected(writeBytes(badUtf8), undefined, /not valid UTF-8/);
  assertRejected(buildFile('[1, 2]'), undefined, /must be a JSON object/);
  assertRejected(buildFile({ __metadata__: { epoch: 3 } }), undefined, /metadata "epoch" must be a string/);
});

test('rejects a missing or unknown dtype, naming the tensor', () => {
  const data = littleEndianF32(1, 2);
  assertRejected(buildFile({ w: { shape: [2], data_offsets: [0, 8] } }, data), 'w', /no dtype/);
  assertRejected(buildFile({ w: { dtype: 'F17', shape: [2], data_offsets: [0, 8] } }, data), 'w', /unknown dtype "F17"/, /supported: /);
  assertRejected(buildFile({ w: { dtype: 'BF16', shape: [4], data_offsets: [0, 8] } }, data), 'w', /"BF16" \(a safetensors dtype this project does not read\)/);
  assertRejected(buildFile({ w: { dtype: 4, shape: [2], data_offsets: [0, 8] } }, data), 'w', /unknown dtype 4/);
});

test('rejects a shape that is not an array of non-negative integers', () => {
  const data = littleEndianF32(1, 2);
  for (const shape of [[2.5], '2', [-2], [null], 2, [[2]]]) {
    assertRejected(buildFile({ w: { dtype: 'F32', shape, data_offsets: [0, 8] } }, data), 'w', /shape .* is not an array of non-negative integers/);
  }
  assertRejected(buildFile({ w: { dtype: 'F32', data_offsets: [0, 8] } }, data), 'w', /no shape/);
});

test('rejects malformed or out-of-bounds data_offsets, naming the tensor', () => {
  const data = littleEndianF32(1, 2);
  assertRejected(buildFile({ w: { dtype: 'F32', shape: [2] } }, data), 'w', /no data_offsets/);
  for (const offsets of [[0], [0, 8, 9], [0, '8'], [-8, 0], [0.5, 8]]) {
    assertRejected(buildFile({ w: { dtype: 'F32', shape: [2], data_offsets: offsets } }, data), 'w', /data_offsets .* must be two non-negative integers/);
  }
  assertRejected(buildFile({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, data), 'w', /end before they begin/);
  assertRejected(buildFile({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data), 'w', /\[0, 16\] are out of bounds: the data buffer holds 8 bytes/);
});

test('rejects offsets that do not match shape × dtype size', () => {
  const data = littleEndianF32(1, 2, 3);
  assertRejected(buildFile({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, data), 'w', /shape \[2, 2\] of F32 needs 16 bytes but data_offsets \[0, 12\] span 12/);
  assertRejected(buildFile({ w: { dtype: 'F64', shape: [3], data_offsets: [0, 12] } }, data), 'w', /needs 24 bytes/);
});

test('rejects overlapping tensors, gaps, and trailing bytes', () => {
  const data = littleEndianF32(1, 2, 3, 4);
  assertRejected(buildFile({
    a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
    b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
  }, data), 'b', /overlap tensor "a" at \[0, 12\]/);
  assertRejected(buildFile({
    a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
  }, data), 'b', /gap of 4 unused bytes after tensor "a"/);
  assertRejected(buildFile({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data), 'a', /gap of 8 unused bytes at the start/);
  assertRejected(buildFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, data), undefined, /4 trailing bytes after the last tensor/);
});

test('rejects a truncated checkpoint and a missing file', () => {
  const path = join(scratchDir, 'truncated.safetensors');
  saveSafetensors(path, new Map<string, SafetensorsTensor>([['w', { dtype: 'F32', shape: [64], data: new Float32Array(64) }]]));
  truncateSync(path, readFileSync(path).length - 10);
  assertRejected(path, 'w', /out of bounds/, /truncated/);
  const missing = join(scratchDir, 'nope.safetensors');
  assertRejected(missing, undefined, /does not exist/);
});

test('saving rejects inconsistent tensors, names them, and keeps the previous file', () => {
  const path = join(scratchDir, 'keep.safetensors');
  saveSafetensors(path, new Map<string, SafetensorsTensor>([['w', { dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) }]]));
  const bad: Array<[SafetensorsTensor, RegExp]> = [
    [{ dtype: 'F32', shape: [3], data: Float32Array.from([1, 2]) }, /shape \[3\] \(3 elements\) but 2 values/],
    [{ dtype: 'F32', shape: [2], data: Int32Array.from([1, 2]) } as unknown as SafetensorsTensor, /is F32 but its data is a Int32Array/],
    [{ dtype: 'BF16', shape: [2], data: new Uint16Array(2) } as unknown as SafetensorsTensor, /unknown dtype "BF16"/],
    [{ dtype: 'F32', shape: [-2], data: new Float32Array(0) }, /shape \[-2\]/],
  ];
  for (const [tensor, pattern] of bad) {
    assert.throws(() => saveSafetensors(path, new Map([['broken', tensor]])), (error: Error) =>
      error instanceof CheckpointError && error.message.includes(path) && error.message.includes('"broken"') && pattern.test(error.message));
  }
  assert.throws(() => saveSafetensors(path, new Map([['__metadata__', { dtype: 'U8', shape: [0], data: new Uint8Array(0) }]])), /reserved/);
  assert.equal(Array.from(loadSafetensors(path).tensors.get('w')!.data as Float32Array), [1, 2], 'the previous checkpoint is intact');
  assert.equal(readdirSync(scratchDir).filter((name) => name.includes('.tmp-')), []);
});

test.run();
