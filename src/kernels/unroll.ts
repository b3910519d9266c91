// Writing out the loops over a register block, for the engines whose compilers do not.
//
// A register-blocked kernel keeps a TM×TN block of accumulators, and its rows' and columns'
// addresses, in small WGSL arrays walked by short loops: `for (var i = 0u; i < TM; i++)`. That
// reads plainly, and on Dawn the driver's compiler unrolls those loops, every index becomes a
// constant, and the arrays live in registers. wgpu (Firefox's engine, Deno's navigator.gpu) hands
// the driver a different program for the same WGSL: naga clamps every dynamic array index and
// bounds every loop with a counter of its own, so that no shader can read out of bounds or spin
// forever. The driver then can no longer tell that `i` runs 0…TM−1: on llvmpipe the loops stay
// loops, the arrays stay in memory, and the kernels ran several times slower than on Dawn
// (docs/kernels.md, "The same kernel on two engines").
//
// unrollLoops does that unrolling itself, before the engine sees the source: a loop over a
// block constant becomes its body written out once per index, in order, with the index a
// literal. `acc[i][j]` turns into `acc[3u][5u]`: a constant index, which needs no clamp and which
// the driver's compiler turns into a register. The statements and their order are the loop's;
// the results are bit-identical where the loop's body has no constants for the compiler to fold
// (the register blocks of matmul and the convolutions), and within a rounding where it has
// (Winograd's input transform: its matrix entries, known once i and k are, let the compiler fuse
// a multiply into an add). The kernel's source stays the readable loop; a Program says
// which of its constants bound loops that may be written out (`Program.unroll`), and the device
// decides whether to (DeviceInfo.unrollBlocks in src/core/device.ts): on wgpu only. Dawn's
// drivers unroll the loops themselves, and SwiftShader, Chrome's CPU driver, takes tens of
// seconds to compile the written-out form.

/** The constants that bound a register block's loops: its rows TM and columns TN. */
export const REGISTER_BLOCK: readonly string[] = ['TM', 'TN'];

/** A loop header: `for (var i = 0u; i < BOUND; i++) {`. */
const LOOP = /for \(var (\w+) = 0u; \1 < ([^;]+); \1\+\+\) \{/g;

/**
 * `wgsl` with every loop `for (var i = 0u; i < N; i++) { … }` whose bound N is a constant: one
 * of `bounds` (module constants declared `const N = 8u;`), a literal (`2u`), or a product of them
 * (`A * A`), written out: its body once for each i in 0…N−1, in braces, with i replaced by the
 * literal `0u`, `1u`, …; loops nested inside are written out too.
 * Throws (naming the kernel's loop) where a body breaks, continues or redeclares its index,
 * which writing out would change.
 */
export function unrollLoops(wgsl: string, bounds: readonly string[]): string {
  const value = new Map<string, number>();
  for (const name of bounds) {
    const m = new RegExp(`\\bconst ${name} = (\\d+)u;`).exec(wgsl);
    if (!m) throw new Error(`unrollLoops: the module declares no 'const ${name} = …u;'`);
    value.set(name, Number(m[1]));
  }
  let out = wgsl;
  for (;;) {
    LOOP.lastIndex = 0;
    let m: RegExpExecArray | null;
    let count: number | undefined;
    while ((m = LOOP.exec(out)) && (count = tripCount(m[2]!, value)) === undefined);
    if (!m || count === undefined) return out;
    const [header, index] = m as unknown as [string, string];
    const open = m.index + header.length - 1;
    const close = matchingBrace(out, open);
    const body = out.slice(open + 1, close);
    if (/\b(break|continue)\b/.test(body)) throw new Error(`unrollLoops: the loop '${header}' breaks or continues; write it as an if`);
    if (new RegExp(`\\b(let|var|const) ${index}\\b`).test(body)) throw new Error(`unrollLoops: the loop '${header}' redeclares ${index}`);
    const use = new RegExp(`(?<![\\w.])${index}(?!\\w)`, 'g');
    const copies = Array.from({ length: count }, (_, k) => `{${body.replace(use, `${k}u`)}}`);
    out = out.slice(0, m.index) + copies.join(' ') + out.slice(close + 1);
  }
}

/**
 * The number of times a loop bounded by `bound` runs, if `bound` is a product of `bounds`' names
 * and literals; undefined for any other loop (left as it is).
 */
function tripCount(bound: string, value: Map<string, number>): number | undefined {
  let n = 1;
  for (const factor of bound.split('*').map((f) => f.trim())) {
    const v = value.get(factor) ?? (/^\d+u$/.test(factor) ? Number(factor.slice(0, -1)) : undefined);
    if (v === undefined) return undefined;
    n *= v;
  }
  return n;
}

/** The index of the `}` that closes the `{` at `open`. */
function matchingBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return i;
  }
  throw new Error('unrollLoops: unbalanced braces in the kernel source');
}
