// Elementwise kernels, declared once in two tables (the idea of webgpu-torch's op table): each
// entry is a WGSL expression and the same math in plain TypeScript, which the tests and the
// bench use as the reference. One WGSL template serves every entry.
//
// Thread layout: 64 invocations per workgroup, each handling ~16 elements in a grid-stride loop
// (element i, then i + all invocations, …), workgroups folded past 65,535 a dimension
// (linearGrid). Memory traffic: each element is read once per input and written once; at every
// step neighbouring invocations touch neighbouring addresses, so loads coalesce.
// Binary ops broadcast NumPy-style. The common cases compile to their own pipelines through the
// BROADCAST override constant, so they pay no index arithmetic:
//   0: both inputs have the output's shape      a[i] op b[i]
//   1: b is a single value                      a[i] op b[0]
//   2: general broadcasting                     strides of 0 along broadcast dimensions
//   3: b is the output's trailing block (a bias) a[i] op b[i mod |b|]

import { SIGMOID_TANH_WGSL } from './activation.ts';
import { linearGrid, LINEAR_WORKGROUP_WGSL, type Program } from './program.ts';
import { broadcastStrides, sameShape, sizeOf, stridesOf, type Shape } from './shapes.ts';

export const MAX_RANK = 8;
const WORKGROUP = 256;
// Unary and binary kernels: 64 invocations a workgroup, each walking 16 elements spaced by the
// whole launch's invocation count (a grid-stride loop). Neighbouring invocations still touch
// neighbouring addresses at every step (coalesced on a GPU, one vector load on a CPU), and
// llvmpipe pays its fixed cost per workgroup 64 times less often than with one element each
// (docs/kernels.md, "Elementwise kernels: work per invocation", has the figures; npm run bench
// -- --filter elementwise measures them).
const EW_WORKGROUP = 64;
const EW_PER_INVOCATION = 16;

interface UnaryEntry {
  /** WGSL expression of `x` (f32) and the uniform `alpha`. */
  wgsl: string;
  ref: (x: number, alpha: number) => number;
}

const sigmoidRef = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export const UNARY = {
  copy: { wgsl: 'x', ref: (x) => x },
  neg: { wgsl: '-x', ref: (x) => -x },
  abs: { wgsl: 'abs(x)', ref: (x) => Math.abs(x) },
  exp: { wgsl: 'exp(x)', ref: (x) => Math.exp(x) },
  log: { wgsl: 'log(x)', ref: (x) => Math.log(x) },
  sqrt: { wgsl: 'sqrt(x)', ref: (x) => Math.sqrt(x) },
  square: { wgsl: 'x * x', ref: (x) => x * x },
  reciprocal: { wgsl: '1.0 / x', ref: (x) => 1 / x },
  relu: { wgsl: 'max(x, 0.0)', ref: (x) => Math.max(x, 0) },
  leakyRelu: { wgsl: 'select(alpha * x, x, x >= 0.0)', ref: (x, a) => (x >= 0 ? x : a * x) },
  // Written so that exp never overflows: WGSL's exp(±large) is inf and inf/inf is NaN.
  sigmoid: { wgsl: 'sigmoidStable(x)', ref: sigmoidRef },
  tanh: { wgsl: 'tanhStable(x)', ref: (x) => Math.tanh(x) },
  /** log(1 + e^x), stable for large |x|; used by binary cross-entropy. */
  softplus: { wgsl: 'max(x, 0.0) + log(1.0 + exp(-abs(x)))', ref: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))) },
  /** x^alpha for a scalar exponent. */
  powScalar: { wgsl: 'powSigned(x, alpha)', ref: (x, a) => Math.pow(x, a) },
  mulScalar: { wgsl: 'x * alpha', ref: (x, a) => x * a },
  addScalar: { wgsl: 'x + alpha', ref: (x, a) => x + a },
  /** 1 where x > 0, else 0: the derivative mask of relu. */
  stepPositive: { wgsl: 'select(0.0, 1.0, x > 0.0)', ref: (x) => (x > 0 ? 1 : 0) },
} satisfies Record<string, UnaryEntry>;
export type UnaryOp = keyof typeof UNARY;

interface BinaryEntry {
  /** WGSL expression of `a`, `b` (f32) and the uniform `alpha`. */
  wgsl: string;
  ref: (a: number, b: number, alpha: number) => number;
}

export const BINARY = {
  add: { wgsl: 'a + b', ref: (a, b) => a + b },
  sub: { wgsl: 'a - b', ref: (a, b) => a - b },
  mul: { wgsl: 'a * b', ref: (a, b) => a * b },
  div: { wgsl: 'a / b', ref: (a, b) => a / b },
  pow: { wgsl: 'powSigned(a, b)', ref: (a, b) => Math.pow(a, b) },
  maximum: { wgsl: 'max(a, b)', ref: (a, b) => Math.max(a, b) },
  minimum: { wgsl: 'min(a, b)', ref: (a, b) => Math.min(a, b) },
  /** 1 where a == b: which elements held the maximum (max's backward). */
  equal: { wgsl: 'select(0.0, 1.0, a == b)', ref: (a, b) => (a === b ? 1 : 0) },
  geMask: { wgsl: 'select(0.0, 1.0, a >= b)', ref: (a, b) => (a >= b ? 1 : 0) },
  gtMask: { wgsl: 'select(0.0, 1.0, a > b)', ref: (a, b) => (a > b ? 1 : 0) },
  leMask: { wgsl: 'select(0.0, 1.0, a <= b)', ref: (a, b) => (a <= b ? 1 : 0) },
  ltMask: { wgsl: 'select(0.0, 1.0, a < b)', ref: (a, b) => (a < b ? 1 : 0) },
  /** alpha · a, with a broadcast to the output's shape (b is ignored): broadcastTo and mean's backward. */
  scaleLeft: { wgsl: 'a * alpha', ref: (a, _b, al) => a * al },
  mulScaled: { wgsl: 'a * b * alpha', ref: (a, b, al) => a * b * al },
  divScaled: { wgsl: 'a / b * alpha', ref: (a, b, al) => (a / b) * al },
  // Backward helpers, fused so a gradient costs one pass instead of two or three.
  /** g * sign(x): a = x, b = g. */
  signGrad: { wgsl: 'b * sign(a)', ref: (a, b) => b * Math.sign(a) },
  /** g * softplus'(x) = g * σ(x): a = x, b = g. */
  softplusGrad: { wgsl: 'b * sigmoidStable(a)', ref: (a, b) => b * sigmoidRef(a) },
  /** g * p * x^(p−1): a = x, b = g, alpha = p. */
  powScalarGrad: { wgsl: 'b * alpha * powSigned(a, alpha - 1.0)', ref: (a, b, al) => b * al * Math.pow(a, al - 1) },
  /** g * relu'(x): a = x, b = g. */
  reluGrad: { wgsl: 'select(0.0, b, a > 0.0)', ref: (a, b) => (a > 0 ? b : 0) },
  /** g * leakyRelu'(x): a = x, b = g. */
  leakyReluGrad: { wgsl: 'select(alpha * b, b, a >= 0.0)', ref: (a, b, al) => (a >= 0 ? b : al * b) },
  /** g * σ'(x) from y = σ(x): a = y, b = g. */
  sigmoidGrad: { wgsl: 'b * a * (1.0 - a)', ref: (a, b) => b * a * (1 - a) },
  /** g * tanh'(x) from y = tanh(x): a = y, b = g. */
  tanhGrad: { wgsl: 'b * (1.0 - a * a)', ref: (a, b) => b * (1 - a * a) },
  /** Binary cross-entropy of logits a against targets b: max(a,0) − a·b + log(1 + e^−|a|). */
  bceWithLogits: {
    wgsl: 'max(a, 0.0) - a * b + log(1.0 + exp(-abs(a)))',
    ref: (a, b) => Math.max(a, 0) - a * b + Math.log1p(Math.exp(-Math.abs(a))),
  },
  /** d/da of bceWithLogits: σ(a) − b. */
  bceWithLogitsGrad: { wgsl: 'sigmoidStable(a) - b', ref: (a, b) => sigmoidRef(a) - b },
} satisfies Record<string, BinaryEntry>;
export type BinaryOp = keyof typeof BINARY;

const HELPERS_WGSL = /* wgsl */ `${SIGMOID_TANH_WGSL}
// WGSL's pow is undefined for a negative base; integer exponents of negative bases are common.
fn powSigned(x: f32, p: f32) -> f32 {
  if (x >= 0.0) { return pow(x, p); }
  let r = pow(-x, p);
  let quietNan = 0x7fc00000u; // a let, so the compiler does not reject NaN as a constant
  if (fract(p) != 0.0) { return bitcast<f32>(quietNan); }
  return select(r, -r, fract(p * 0.5) != 0.0);
}
${LINEAR_WORKGROUP_WGSL}`;

// The entry point every elementwise kernel shares: the grid-stride loop of the thread layout
// above over `count` items (elements, or vec4s), `body` run for each `i` with `alpha` in scope.
function gridStrideMain(count: string, body: string): string {
  return /* wgsl */ `@compute @workgroup_size(${EW_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let stride = nwg.x * nwg.y * nwg.z * ${EW_WORKGROUP}u;
  let alpha = params.alpha;
  for (var i = linearWorkgroup(wid, nwg) * ${EW_WORKGROUP}u + lid; i < ${count}; i += stride) {${body}
  }
}`;
}

function unaryWgsl(expr: string): string {
  return /* wgsl */ `
struct Params { size: u32, alpha: f32 }
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${HELPERS_WGSL}
${gridStrideMain('params.size', `
    let x = input[i];
    output[i] = ${expr};`)}`;
}

// The vec4 form, for sizes divisible by 4: every load and store moves 16 bytes. The table's
// expression stays scalar (`max(x, 0.0)` has no vec4 meaning in WGSL) and is applied per lane.
function unaryVec4Wgsl(expr: string): string {
  return /* wgsl */ `
struct Params { size: u32, alpha: f32 }
@group(0) @binding(0) var<storage, read> input: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> output: array<vec4f>;
@group(0) @binding(2) var<uniform> params: Params;
${HELPERS_WGSL}
fn f(x: f32, alpha: f32) -> f32 { return ${expr}; }
${gridStrideMain('params.size / 4u', `
    let x = input[i];
    output[i] = vec4f(f(x.x, alpha), f(x.y, alpha), f(x.z, alpha), f(x.w, alpha));`)}`;
}

export function unaryProgram(op: UnaryOp, size: number, alpha = 0): Program {
  const vec4 = size % 4 === 0;
  return {
    name: op,
    wgsl: vec4 ? unaryVec4Wgsl(UNARY[op].wgsl) : unaryWgsl(UNARY[op].wgsl),
    inputs: 1,
    outputs: 1,
    uniforms: [['u32', size], ['f32', alpha]],
    grid: linearGrid(Math.ceil(size / EW_PER_INVOCATION), EW_WORKGROUP),
    flops: size,
    bytes: size * 8,
  };
}

const FILL_WGSL = /* wgsl */ `
struct Params { size: u32, value: f32 }
@group(0) @binding(0) var<storage, read_write> output: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
${LINEAR_WORKGROUP_WGSL}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i < params.size) { output[i] = params.value; }
}`;

/** Sets every element to `value` (zeros, ones, gradient seeds). */
export function fillProgram(size: number, value: number): Program {
  return {
    name: 'fill',
    wgsl: FILL_WGSL,
    inputs: 0,
    outputs: 1,
    uniforms: [['u32', size], ['f32', value]],
    grid: linearGrid(size, WORKGROUP),
    bytes: size * 4,
  };
}

function binaryWgsl(expr: string): string {
  return /* wgsl */ `
// shape/aStrides/bStrides hold ${MAX_RANK} dimensions as two vec4s each: uniform arrays need
// 16-byte elements.
struct Params {
  size: u32, rank: u32, alpha: f32, bSize: u32,
  shape: array<vec4u, 2>, aStrides: array<vec4u, 2>, bStrides: array<vec4u, 2>,
}
override BROADCAST: u32 = 0u;
@group(0) @binding(0) var<storage, read> lhs: array<f32>;
@group(0) @binding(1) var<storage, read> rhs: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${HELPERS_WGSL}
fn at(v: array<vec4u, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

${gridStrideMain('params.size', `
    var ia = i;
    var ib = i;
    if (BROADCAST == 1u) {
      ib = 0u;
    } else if (BROADCAST == 3u) {
      ib = i % params.bSize;
    } else if (BROADCAST == 2u) {
      // Peel the output coordinates off from the last dimension, accumulating input offsets.
      ia = 0u;
      ib = 0u;
      var rest = i;
      for (var d = i32(params.rank) - 1; d >= 0; d--) {
        let extent = at(params.shape, u32(d));
        let coord = rest % extent;
        rest = rest / extent;
        ia += coord * at(params.aStrides, u32(d));
        ib += coord * at(params.bStrides, u32(d));
      }
    }
    let a = lhs[ia];
    let b = rhs[ib];
    output[i] = ${expr};`)}`;
}

// Same shapes (BROADCAST 0) and sizes divisible by 4: vec4 loads and stores, the expression
// applied per lane as in unaryVec4Wgsl.
function binaryVec4Wgsl(expr: string): string {
  return /* wgsl */ `
struct Params { size: u32, rank: u32, alpha: f32, bSize: u32 }
@group(0) @binding(0) var<storage, read> lhs: array<vec4f>;
@group(0) @binding(1) var<storage, read> rhs: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> output: array<vec4f>;
@group(0) @binding(3) var<uniform> params: Params;
${HELPERS_WGSL}
fn f(a: f32, b: f32, alpha: f32) -> f32 { return ${expr}; }
${gridStrideMain('params.size / 4u', `
    let a = lhs[i];
    let b = rhs[i];
    output[i] = vec4f(f(a.x, b.x, alpha), f(a.y, b.y, alpha), f(a.z, b.z, alpha), f(a.w, b.w, alpha));`)}`;
}

/** b equals the last dimensions of the output (a bias over channels): b's index is i mod |b|. */
function isTrailingBlock(bShape: Shape, outShape: Shape): boolean {
  const dims = bShape.slice(bShape.findIndex((d) => d !== 1) < 0 ? bShape.length : bShape.findIndex((d) => d !== 1));
  return dims.length > 0 && dims.length <= outShape.length && dims.every((d, i) => d === outShape[outShape.length - dims.length + i]);
}

function padded(values: number[]): number[] {
  const out = new Array<number>(MAX_RANK).fill(0);
  values.forEach((v, i) => (out[i] = v));
  return out;
}

export function binaryProgram(op: BinaryOp, aShape: Shape, bShape: Shape, outShape: Shape, alpha = 0): Program {
  const size = sizeOf(outShape);
  if (outShape.length > MAX_RANK) throw new RangeError(`${op}: rank ${outShape.length} exceeds ${MAX_RANK}`);
  let mode = 2;
  if (sameShape(aShape, outShape) && sameShape(bShape, outShape)) mode = 0;
  else if (sameShape(aShape, outShape) && sizeOf(bShape) === 1) mode = 1;
  else if (sameShape(aShape, outShape) && isTrailingBlock(bShape, outShape)) mode = 3;
  const sizes: Program['uniforms'] = [['u32', size], ['u32', outShape.length], ['f32', alpha], ['u32', Math.max(1, sizeOf(bShape))]];
  const launch = {
    name: op,
    inputs: 2,
    outputs: 1,
    grid: linearGrid(Math.ceil(size / EW_PER_INVOCATION), EW_WORKGROUP),
    flops: size,
    bytes: size * 12,
  };
  // The vec4 kernel reads no shape or strides: its Params end after the sizes.
  if (mode === 0 && size % 4 === 0) return { ...launch, wgsl: binaryVec4Wgsl(BINARY[op].wgsl), uniforms: sizes };
  const uniforms = [...sizes];
  for (const v of [padded([...outShape]), padded(broadcastStrides(aShape, outShape)), padded(broadcastStrides(bShape, outShape))]) {
    for (const x of v) uniforms.push(['u32', x]);
  }
  return { ...launch, wgsl: binaryWgsl(BINARY[op].wgsl), overrides: { BROADCAST: mode }, uniforms };
}

// ---- Plain-loop references (float64), for tests, the bench, and readers ----

export function unaryReference(op: UnaryOp, x: ArrayLike<number>, alpha = 0): Float64Array {
  const f = UNARY[op].ref as (x: number, alpha: number) => number;
  return Float64Array.from(x, (v) => f(v, alpha));
}

export function binaryReference(
  op: BinaryOp,
  a: ArrayLike<number>,
  aShape: Shape,
  b: ArrayLike<number>,
  bShape: Shape,
  outShape: Shape,
  alpha = 0,
): Float64Array {
  const f = BINARY[op].ref as (a: number, b: number, alpha: number) => number;
  const size = sizeOf(outShape);
  const out = new Float64Array(size);
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  const so = stridesOf(outShape);
  for (let i = 0; i < size; i++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < outShape.length; d++) {
      const c = Math.floor(i / so[d]) % outShape[d];
      ia += c * sa[d];
      ib += c * sb[d];
    }
    out[i] = f(a[ia], b[ib], alpha);
  }
  return out;
}
