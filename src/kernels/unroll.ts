// Register blocks written out. A register-blocked kernel keeps a TM×TN block of accumulators,
// and the addresses of its TM rows and TN columns, in registers. Written as WGSL arrays indexed
// in short loops (`acc[i][j]` for i < TM), that is plain and portable, and on Dawn the driver's
// compiler unrolls the loops and keeps the arrays in registers. wgpu (Firefox's engine, Deno's
// navigator.gpu) hands the driver a different program for the same WGSL: naga clamps every
// dynamic array index and bounds every loop with a counter of its own, so that no shader can
// read out of bounds or loop forever. Then the driver can no longer tell that `i` runs 0…TM−1;
// on llvmpipe the loops stay loops and the arrays stay in memory, and the register-blocked
// kernels ran several times slower than on Dawn (docs/kernels.md, "The same kernel on two
// engines", has the figures).
//
// So those kernels name their registers: `c3_5` instead of `acc[3][5]`, one statement per row
// or column instead of a loop over them, and no WGSL array at all. The WGSL still reads top to
// bottom in one template; `each` repeats a statement for every row or column of the block, at
// the time the kernel's source is built, exactly as the loop would have at run time (same
// statements, same order: the results are bit-identical to the loop's).

/**
 * `line(0) … line(n − 1)`, joined by `sep` (default: a line break): a loop over the rows or
 * columns of a register block, written out when the WGSL is built.
 */
export function each(n: number, line: (i: number) => string, sep = '\n'): string {
  return Array.from({ length: n }, (_, i) => line(i)).join(sep);
}

/** The block's accumulators, zero, a line per row: `var c{i}_{j} = 0.0;` for row i < tm, column j < tn. */
export function zeroBlock(tm: number, tn: number, indent = '  '): string {
  return each(tm, (i) => indent + each(tn, (j) => `var c${i}_${j} = 0.0;`, ' '));
}

/**
 * One step of the block, two lines per row: `let a{i} = aOf(i);` (row i's operand, a WGSL
 * expression), then c{i}_{j} = fma(a{i}, b{j}, c{i}_{j}) for every column j (the b{j} are the
 * step's column operands, loaded before).
 */
export function fmaBlock(tm: number, tn: number, indent: string, aOf: (i: number) => string): string {
  return each(tm, (i) => `${indent}let a${i} = ${aOf(i)};\n${indent}${each(tn, (j) => `c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`, ' ')}`);
}
