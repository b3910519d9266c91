// Gathering a batch out of a dataset that lives on the GPU: the images stay there as raw bytes,
// packed four to a u32 (60,000 MNIST images are 47 MB as bytes; as f32 they would be 188 MB,
// over the 128 MiB a single storage binding may hold on many adapters), and each step only the
// batch's indices are chosen. The indices of a whole epoch are uploaded once; a batch is the
// slice [start, start + count) of them.
//
// Thread layout: one invocation per output element (batch row r, feature j), 256 per workgroup,
// folded past 65,535 workgroups. Neighbouring invocations read neighbouring bytes of one image
// (usually the same u32 word) and write neighbouring floats: coalesced both ways.
//   out[r, j] = byte(images, indices[start + r] · rowBytes + j) · scale + offset
// Labels (i32) gather the same way, one invocation per row.
//
// Any other dataset (src/data/dataset.ts) is uploaded as it is, f32 or i32 rows of `rowSize`
// 32-bit words, and gathered word for word: one invocation per output word (r, j),
//   out[r, j] = values[indices[start + r] · rowSize + j]
// The words are copied as bits (bound as u32), so one kernel serves f32, i32 and u32 alike and
// every value arrives exactly, NaN payloads and −0 included. Neighbouring invocations read
// neighbouring words of one row and write neighbouring words: coalesced both ways.

import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';

const WORKGROUP = 256;

const GATHER_BYTES_WGSL = /* wgsl */ `
struct Params { count: u32, rowBytes: u32, start: u32, scale: f32, offset: f32 }
@group(0) @binding(0) var<storage, read> packed: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.count * params.rowBytes) { return; }
  let r = i / params.rowBytes;
  let j = i % params.rowBytes;
  let byteIndex = indices[params.start + r] * params.rowBytes + j;
  let word = packed[byteIndex / 4u];
  let value = (word >> ((byteIndex % 4u) * 8u)) & 0xffu;
  output[i] = f32(value) * params.scale + params.offset;
}`;

/**
 * Rows indices[start .. start+count) of a byte matrix [n, rowBytes] (packed little-endian, four
 * bytes per u32) as f32 [count, rowBytes], each byte b mapped to b·scale + offset.
 */
export function gatherBytesProgram(count: number, rowBytes: number, start: number, scale: number, offset: number): Program {
  return {
    name: 'gatherBytes',
    wgsl: GATHER_BYTES_WGSL,
    inputs: 2,
    outputs: 1,
    uniforms: [['u32', count], ['u32', rowBytes], ['u32', start], ['f32', scale], ['f32', offset]],
    grid: linearGrid(count * rowBytes, WORKGROUP),
    flops: 2 * count * rowBytes,
    bytes: count * rowBytes * 5,
  };
}

const GATHER_I32_WGSL = /* wgsl */ `
struct Params { count: u32, start: u32 }
@group(0) @binding(0) var<storage, read> values: array<i32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<i32>;
@group(0) @binding(3) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.count) { return; }
  output[i] = values[indices[params.start + i]];
}`;

/** values[indices[start + r]] for r < count: labels of a batch. */
export function gatherI32Program(count: number, start: number): Program {
  return {
    name: 'gatherI32',
    wgsl: GATHER_I32_WGSL,
    inputs: 2,
    outputs: 1,
    uniforms: [['u32', count], ['u32', start]],
    grid: linearGrid(count, WORKGROUP),
    bytes: count * 12,
  };
}

const GATHER_ROWS_WGSL = /* wgsl */ `
struct Params { count: u32, rowSize: u32, start: u32 }
@group(0) @binding(0) var<storage, read> values: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= params.count * params.rowSize) { return; }
  let r = i / params.rowSize;
  let j = i % params.rowSize;
  output[i] = values[indices[params.start + r] * params.rowSize + j];
}`;

/**
 * Rows indices[start .. start+count) of a matrix [n, rowSize] of 32-bit words (f32, i32 or u32:
 * copied as bits) as [count, rowSize]. rowSize ≥ 1; count · rowSize must be > 0.
 */
export function gatherRowsProgram(count: number, rowSize: number, start: number): Program {
  return {
    name: 'gatherRows',
    wgsl: GATHER_ROWS_WGSL,
    inputs: 2,
    outputs: 1,
    uniforms: [['u32', count], ['u32', rowSize], ['u32', start]],
    grid: linearGrid(count * rowSize, WORKGROUP),
    bytes: count * rowSize * 8 + count * 4,
  };
}

/** Packs bytes four to a little-endian u32 (the layout gatherBytesProgram reads), zero-padded. */
export function packBytes(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(Math.max(1, Math.ceil(bytes.length / 4)));
  new Uint8Array(words.buffer).set(bytes);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    throw new Error('packBytes assumes a little-endian host');
  }
  return words;
}

// ---- Plain-loop references ----

export function gatherBytesReference(
  bytes: ArrayLike<number>,
  rowBytes: number,
  indices: ArrayLike<number>,
  start: number,
  count: number,
  scale: number,
  offset: number,
): Float64Array {
  const out = new Float64Array(count * rowBytes);
  for (let r = 0; r < count; r++) {
    const base = indices[start + r] * rowBytes;
    for (let j = 0; j < rowBytes; j++) out[r * rowBytes + j] = bytes[base + j] * scale + offset;
  }
  return out;
}

export function gatherReference(values: ArrayLike<number>, indices: ArrayLike<number>, start: number, count: number): Float64Array {
  return Float64Array.from({ length: count }, (_, r) => values[indices[start + r]]);
}

/** Rows indices[start + r] (r < count) of a row-major [n, rowSize] matrix, as [count, rowSize]. */
export function gatherRowsReference(values: ArrayLike<number>, rowSize: number, indices: ArrayLike<number>, start: number, count: number): Float64Array {
  const out = new Float64Array(count * rowSize);
  for (let r = 0; r < count; r++) {
    const base = indices[start + r] * rowSize;
    for (let j = 0; j < rowSize; j++) out[r * rowSize + j] = values[base + j];
  }
  return out;
}
