// Reader for IDX, the format the MNIST files come in (http://yann.lecun.com/exdb/mnist/):
//   bytes 0-1  zero
//   byte  2    element type code
//   byte  3    rank
//   then one big-endian u32 per dimension, then the elements, big-endian, row-major.
// A download cut short or a file of the wrong kind would otherwise train on garbage without a
// word, so every size is checked and each error names the file and what is wrong with it.
// This file parses bytes (a web page fetches them); mnist-files.ts reads the files in Node.

export type IdxDtype = 'u8' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDtype;
  shape: number[];
  data: IdxData;
}

export class IdxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdxFormatError';
  }
}

interface DtypeInfo {
  dtype: IdxDtype;
  bytesPerElement: number;
}

const DTYPE_BY_CODE: ReadonlyMap<number, DtypeInfo> = new Map([
  [0x08, { dtype: 'u8', bytesPerElement: 1 }],
  [0x09, { dtype: 'i8', bytesPerElement: 1 }],
  [0x0b, { dtype: 'i16', bytesPerElement: 2 }],
  [0x0c, { dtype: 'i32', bytesPerElement: 4 }],
  [0x0d, { dtype: 'f32', bytesPerElement: 4 }],
  [0x0e, { dtype: 'f64', bytesPerElement: 8 }],
]);

// IDX allows up to 255 dimensions, but nothing this project reads has more than 4, so a larger
// rank is far more likely to be a wrong file than a real tensor.
const MAX_RANK = 4;
// A dimension beyond this would need more memory than any file here could hold.
const MAX_DIMENSION = 2 ** 31 - 1;

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

/** Parses IDX bytes; `sourceName` (usually the path) is used in error messages. */
export function parseIdx(bytes: Uint8Array, sourceName: string): IdxArray {
  const fail = (problem: string): never => {
    throw new IdxFormatError(`IDX file ${sourceName} ${problem}`);
  };

  if (bytes.length < 4) fail(`is too short: ${bytes.length} bytes, an IDX header needs at least 4`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`has a bad magic number: expected bytes 0x00 0x00 first, found ${hex(bytes[0]!)} ${hex(bytes[1]!)} (not an IDX file, or still gzip-compressed?)`);
  }
  const typeCode = bytes[2]!;
  const info = DTYPE_BY_CODE.get(typeCode);
  if (!info) {
    const known = [...DTYPE_BY_CODE].map(([code, { dtype }]) => `${hex(code)} ${dtype}`).join(', ');
    return fail(`has an unknown element type code ${hex(typeCode)} (known: ${known})`);
  }
  const rank = bytes[3]!;
  if (rank < 1 || rank > MAX_RANK) fail(`has rank ${rank}; expected 1 to ${MAX_RANK} dimensions`);

  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    fail(`is truncated: its header needs ${headerBytes} bytes for ${rank} dimensions, found ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const size = view.getUint32(4 + 4 * axis, false);
    if (size === 0 || size > MAX_DIMENSION) fail(`has dimension ${axis} of size ${size}; expected 1 to ${MAX_DIMENSION}`);
    shape.push(size);
  }

  const elementCount = shape.reduce((product, size) => product * size, 1);
  const expectedDataBytes = elementCount * info.bytesPerElement;
  if (!Number.isSafeInteger(expectedDataBytes)) fail(`has shape [${shape.join(', ')}], too large to read`);
  const foundDataBytes = bytes.length - headerBytes;
  if (foundDataBytes < expectedDataBytes) {
    fail(`is truncated: expected ${expectedDataBytes} bytes of data for shape [${shape.join(', ')}], found ${foundDataBytes}`);
  }
  if (foundDataBytes > expectedDataBytes) {
    fail(`is too long: expected ${expectedDataBytes} bytes of data for shape [${shape.join(', ')}], found ${foundDataBytes} (${foundDataBytes - expectedDataBytes} extra)`);
  }

  return { dtype: info.dtype, shape, data: decodeElements(view, headerBytes, elementCount, info.dtype) };
}

// Always copies, so the result owns an aligned buffer that does not pin the file's bytes, and
// converts from IDX's big-endian order to the platform's.
function decodeElements(view: DataView, offset: number, count: number, dtype: IdxDtype): IdxData {
  switch (dtype) {
    case 'u8':
      return new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'i8':
      return new Int8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'i16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'i32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'f32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'f64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}
