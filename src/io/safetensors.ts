// The safetensors format (https://github.com/huggingface/safetensors), the tensor exchange
// format of PyTorch and Hugging Face tools, so our checkpoints open elsewhere:
//   bytes 0..8     N, the header length, little-endian u64
//   bytes 8..8+N   UTF-8 JSON: { "__metadata__": { string: string }, name: { "dtype": "F32",
//                  "shape": [..], "data_offsets": [begin, end] }, ... }, may end in spaces
//   the rest       the data buffer; each tensor's little-endian, row-major bytes lie at
//                  [begin, end) relative to its start, tensors packed with no gaps or overlap.
// Loading checks every one of those rules, because a truncated or foreign file would otherwise
// resume training from garbage. This file works on bytes in memory (a web page fetches them);
// safetensors-file.ts reads and writes files in Node.

interface ArraysByDtype {
  F64: Float64Array;
  F32: Float32Array;
  /** IEEE half precision, kept as its raw 16-bit patterns (see half.ts to convert). */
  F16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  U32: Uint32Array;
  U8: Uint8Array;
}

export type SafetensorsDtype = keyof ArraysByDtype;

/** One named tensor; `data` is the typed array that matches `dtype`, row-major. */
export type SafetensorsTensor = {
  [D in SafetensorsDtype]: { dtype: D; shape: number[]; data: ArraysByDtype[D] };
}[SafetensorsDtype];

export interface SafetensorsContents {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

/** A checkpoint file that cannot be written or read; names the file and, where known, the tensor. */
export class CheckpointError extends Error {
  readonly path: string;
  readonly tensor: string | undefined;

  constructor(message: string, path: string, tensor?: string) {
    super(message);
    this.name = 'CheckpointError';
    this.path = path;
    this.tensor = tensor;
  }
}

type TypedArrayConstructor = { new (buffer: ArrayBuffer): ArraysByDtype[SafetensorsDtype]; readonly BYTES_PER_ELEMENT: number };

const ARRAY_TYPES: Record<SafetensorsDtype, TypedArrayConstructor> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  U32: Uint32Array,
  U8: Uint8Array,
};

// Dtypes of the format that this project never stores; named in errors so a reader knows the
// file is valid but holds something we cannot use.
const OTHER_FORMAT_DTYPES = new Set(['BOOL', 'I8', 'I16', 'U16', 'U64', 'BF16', 'F8_E4M3', 'F8_E5M2']);

// The reference implementation refuses headers above 100 MB; a larger length means a damaged file.
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(ARRAY_TYPES, value);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function requireLittleEndianHost(path: string): void {
  // Typed arrays use the host's byte order; the format is little-endian.
  if (!LITTLE_ENDIAN_HOST) throw new CheckpointError(`checkpoint ${path}: big-endian hosts are not supported`, path);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((size) => Number.isSafeInteger(size) && size >= 0);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Builds the file's bytes as a list of chunks (header, then each tensor's bytes, uncopied). */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, SafetensorsTensor>,
  metadata: Readonly<Record<string, string>> = {},
  path = 'in memory',
): Uint8Array[] {
  const fail = (problem: string, tensor?: string): never => {
    throw new CheckpointError(`cannot save checkpoint ${path}: ${tensor === undefined ? '' : `tensor "${tensor}" `}${problem}`, path, tensor);
  };
  requireLittleEndianHost(path);
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') fail(`metadata "${key}" must be a string, got ${typeof value}`);
  }
  for (const [name, tensor] of tensors) {
    if (name === METADATA_KEY) fail(`"${METADATA_KEY}" is reserved for metadata and cannot name a tensor`);
    if (!isDtype(tensor.dtype)) fail(`has unknown dtype ${describe(tensor.dtype)} (supported: ${Object.keys(ARRAY_TYPES).join(', ')})`, name);
    if (!(tensor.data instanceof ARRAY_TYPES[tensor.dtype])) {
      fail(`is ${tensor.dtype} but its data is a ${tensor.data?.constructor?.name ?? typeof tensor.data}, expected ${ARRAY_TYPES[tensor.dtype].name}`, name);
    }
    if (!isShape(tensor.shape)) fail(`has shape ${describe(tensor.shape)}; expected an array of non-negative integers`, name);
    if (elementCount(tensor.shape) !== tensor.data.length) {
      fail(`has shape [${tensor.shape.join(', ')}] (${elementCount(tensor.shape)} elements) but ${tensor.data.length} values`, name);
    }
  }

  // Widest elements first (then by name): every tensor then starts at a multiple of its own
  // element size, as the reference writer arranges it, so readers can map it without copying.
  const order = [...tensors.keys()].sort((a, b) => {
    const widthOrder = ARRAY_TYPES[tensors.get(b)!.dtype].BYTES_PER_ELEMENT - ARRAY_TYPES[tensors.get(a)!.dtype].BYTES_PER_ELEMENT;
    return widthOrder !== 0 ? widthOrder : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = { ...metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of order) {
    const { dtype, shape, data } = tensors.get(name)!;
    header[name] = { dtype, shape: [...shape], data_offsets: [offset, offset + data.byteLength] };
    chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Spaces pad the header so the data buffer starts 8-byte aligned.
  const headerLength = Math.ceil(json.length / 8) * 8;
  const prefix = new Uint8Array(8 + headerLength).fill(0x20, 8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerLength), true);
  prefix.set(json, 8);
  return [prefix, ...chunks];
}

/** Parses a whole safetensors file held in memory; `path` names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, path = 'in memory'): SafetensorsContents {
  const fail = (problem: string, tensor?: string): never => {
    throw new CheckpointError(`checkpoint ${path}${tensor === undefined ? '' : `, tensor "${tensor}"`}: ${problem}`, path, tensor);
  };
  requireLittleEndianHost(path);
  if (bytes.length < 8) fail(`file too short (${bytes.length} bytes); a safetensors file starts with an 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLength} runs past the end of the file (${bytes.length} bytes); the file is truncated or not safetensors`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} exceeds the format's limit of ${MAX_HEADER_BYTES} bytes`);
  const dataStart = 8 + Number(headerLength);
  const dataLength = bytes.length - dataStart;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    return fail(`header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    return fail(`header must be a JSON object, got ${describe(header)}`);
  }

  const metadata: Record<string, string> = {};
  const rawMetadata = (header as Record<string, unknown>)[METADATA_KEY];
  if (rawMetadata !== undefined && rawMetadata !== null) {
    if (typeof rawMetadata !== 'object' || Array.isArray(rawMetadata)) fail(`"${METADATA_KEY}" must be an object of strings, got ${describe(rawMetadata)}`);
    for (const [key, value] of Object.entries(rawMetadata as Record<string, unknown>)) {
      if (typeof value !== 'string') fail(`metadata "${key}" must be a string, got ${describe(value)}`);
      metadata[key] = value as string;
    }
  }

  interface Entry { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) continue;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) {
      fail(`entry must be an object with dtype, shape and data_offsets, got ${describe(info)}`, name);
    }
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (dtype === undefined) fail('has no dtype', name);
    if (!isDtype(dtype)) {
      const known = typeof dtype === 'string' && OTHER_FORMAT_DTYPES.has(dtype) ? ' (a safetensors dtype this project does not read)' : '';
      return fail(`has unknown dtype ${describe(dtype)}${known}; supported: ${Object.keys(ARRAY_TYPES).join(', ')}`, name);
    }
    if (shape === undefined) fail('has no shape', name);
    if (!isShape(shape)) return fail(`shape ${describe(shape)} is not an array of non-negative integers`, name);
    if (offsets === undefined) fail('has no data_offsets', name);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0)) {
      return fail(`data_offsets ${describe(offsets)} must be two non-negative integers [begin, end]`, name);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`data_offsets [${begin}, ${end}] end before they begin`, name);
    if (end > dataLength) {
      fail(`data_offsets [${begin}, ${end}] are out of bounds: the data buffer holds ${dataLength} bytes (file truncated?)`, name);
    }
    const expectedBytes = elementCount(shape) * ARRAY_TYPES[dtype].BYTES_PER_ELEMENT;
    if (end - begin !== expectedBytes) {
      fail(`shape [${shape.join(', ')}] of ${dtype} needs ${expectedBytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`, name);
    }
    entries.push({ name, dtype, shape, begin, end });
  }

  // The tensors must tile the data buffer exactly: sorted by position, each starts where the
  // previous one ended, and the last ends at the end of the file.
  const byPosition = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const entry of byPosition) {
    if (entry.begin < covered) {
      fail(`data_offsets [${entry.begin}, ${entry.end}] overlap tensor "${previous!.name}" at [${previous!.begin}, ${previous!.end}]`, entry.name);
    }
    if (entry.begin > covered) {
      const after = previous ? `after tensor "${previous.name}" (ends at ${previous.end})` : 'at the start of the data buffer';
      fail(`data_offsets [${entry.begin}, ${entry.end}] leave a gap of ${entry.begin - covered} unused bytes ${after}`, entry.name);
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataLength) {
    fail(`${dataLength - covered} trailing bytes after the last tensor's data (the tensors cover ${covered} of ${dataLength} bytes)`);
  }

  const tensors = new Map<string, SafetensorsTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    // A copy, so every array is aligned and does not keep the whole file alive.
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { dtype, shape, data: new ARRAY_TYPES[dtype](copy.buffer) } as SafetensorsTensor);
  }
  return { metadata, tensors };
}
