// A 5×7 bitmap font for plot labels, so plots need no font files or rendering libraries.
// Glyphs are drawn in the tables below as they look ('#' = ink). Each table row lists the glyphs
// of its key string side by side, separated by one space. Letters with descenders (g j p q y ,)
// use two extra rows below the baseline, so every glyph sits in a 5×9 cell whose baseline is
// row 7. Digits and letters are fixed-width, so numbers in tick labels line up; punctuation is
// trimmed to its inked columns, so "-0.5" does not look gappy.

export interface Glyph {
  /** Inked columns (after trimming); at most 5. */
  width: number;
  /** Rows 0..8, each a bit mask over `width` columns, bit (width - 1 - x) for column x. */
  rows: readonly number[];
}

export const GLYPH_HEIGHT = 9;
/** Rows above the baseline; the text's "cap height". */
export const GLYPH_ASCENT = 7;
const CELL_WIDTH = 5;
const LETTER_SPACING = 1;
const SPACE_ADVANCE = 3;

const DIGITS = ['0123456789', `
.###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###.
#...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...#
#..## ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...#
#.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .####
##..# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....#
#...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#.
.###. .###. ##### .###. ...#. .###. .###. .#... .###. .##..
`] as const;

const UPPER_A_M = ['ABCDEFGHIJKLM', `
.###. ####. .###. ###.. ##### ##### .###. #...# .###. ..### #...# #.... #...#
#...# #...# #...# #..#. #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.##
#...# #...# #.... #...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.#
##### ####. #.... #...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #.#.#
#...# #...# #.... #...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...#
#...# #...# #...# #..#. #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...#
#...# ####. .###. ###.. ##### #.... .#### #...# .###. .##.. #...# ##### #...#
`] as const;

const UPPER_N_Z = ['NOPQRSTUVWXYZ', `
#...# .###. ####. .###. ####. .#### ##### #...# #...# #...# #...# #...# #####
#...# #...# #...# #...# #...# #.... ..#.. #...# #...# #...# #...# #...# ....#
##..# #...# #...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. #...# ...#.
#.#.# #...# ####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. .#.#. ..#..
#..## #...# #.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#...
#...# #...# #.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.# #...# ..#.. #....
#...# .###. #.... .##.# #...# ####. ..#.. .###. ..#.. .#.#. #...# ..#.. #####
`] as const;

const LOWER_A_M = ['abcdefghijklm', `
..... #.... ..... ....# ..... ..##. ..... #.... ..#.. ...#. #.... .##.. .....
..... #.... ..... ....# ..... .#..# ..... #.... ..... ..... #.... ..#.. .....
.###. #.##. .###. .##.# .###. .#... .#### #.##. .##.. ..##. #..#. ..#.. ##.#.
....# ##..# #.... #..## #...# ###.. #...# ##..# ..#.. ...#. #.#.. ..#.. #.#.#
.#### #...# #.... #...# ##### .#... #...# #...# ..#.. ...#. ##... ..#.. #.#.#
#...# #...# #...# #...# #.... .#... #...# #...# ..#.. ...#. #.#.. ..#.. #...#
.#### ####. .###. .#### .###. .#... .#### #...# .###. ...#. #..#. .###. #...#
..... ..... ..... ..... ..... ..... ....# ..... ..... #..#. ..... ..... .....
..... ..... ..... ..... ..... ..... .###. ..... ..... .##.. ..... ..... .....
`] as const;

const LOWER_N_Z = ['nopqrstuvwxyz', `
..... ..... ..... ..... ..... ..... .#... ..... ..... ..... ..... ..... .....
..... ..... ..... ..... ..... ..... .#... ..... ..... ..... ..... ..... .....
#.##. .###. ####. .#### #.##. .###. ###.. #...# #...# #...# #...# #...# #####
##..# #...# #...# #...# ##..# #.... .#... #...# #...# #...# .#.#. #...# ...#.
#...# #...# #...# #...# #.... .###. .#... #...# #...# #.#.# ..#.. #...# ..#..
#...# #...# #...# #...# #.... ....# .#..# #..## .#.#. #.#.# .#.#. #...# .#...
#...# .###. ####. .#### #.... ####. ..##. .##.# ..#.. .#.#. #...# .#### #####
..... ..... #.... ....# ..... ..... ..... ..... ..... ..... ..... ....# .....
..... ..... #.... ....# ..... ..... ..... ..... ..... ..... ..... .###. .....
`] as const;

// Trimmed to their inked columns (see PROPORTIONAL below).
const SYMBOLS = ['-.:,+()/%=_[]!?\'*<>|×', `
..... ..... ..... ..... ..... ...#. .#... ..... ##... ..... ..... .###. .###. ..#.. .###. ..#.. ..... ...#. .#... ..#.. .....
..... ..... ..... ..... ..#.. ..#.. ..#.. ....# ##..# ..... ..... .#... ...#. ..#.. #...# ..#.. ..#.. ..#.. ..#.. ..#.. #...#
..... ..... ..#.. ..... ..#.. .#... ...#. ...#. ...#. ##### ..... .#... ...#. ..#.. ....# ..... #.#.# .#... ...#. ..#.. .#.#.
.###. ..... ..... ..... ##### .#... ...#. ..#.. ..#.. ..... ..... .#... ...#. ..#.. ...#. ..... .###. #.... ....# ..#.. ..#..
..... ..... ..... ..... ..#.. .#... ...#. .#... .#... ##### ..... .#... ...#. ..#.. ..#.. ..... #.#.# .#... ...#. ..#.. .#.#.
..... ..... ..#.. ..#.. ..#.. ..#.. ..#.. #.... #..## ..... ..... .#... ...#. ..... ..... ..... ..#.. ..#.. ..#.. ..#.. #...#
..... ..#.. ..... ..#.. ..... ...#. .#... ..... ...## ..... ##### .###. .###. ..#.. ..#.. ..... ..... ...#. .#... ..#.. .....
..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
`] as const;

const PROPORTIONAL = new Set(SYMBOLS[0]);

function parseTable(keys: string, drawing: string): Array<[string, Glyph]> {
  const lines = drawing.split('\n').filter((line) => line.length > 0);
  const chars = [...keys];
  const bitmaps = chars.map(() => [] as string[]);
  for (const line of lines) {
    const cells = line.split(' ');
    if (cells.length !== chars.length || cells.some((cell) => cell.length !== CELL_WIDTH)) {
      throw new Error(`font table "${keys}": row "${line}" does not have ${chars.length} cells of ${CELL_WIDTH}`);
    }
    cells.forEach((cell, i) => bitmaps[i]!.push(cell));
  }
  return chars.map((char, i) => {
    const bitmap = bitmaps[i]!;
    while (bitmap.length < GLYPH_HEIGHT) bitmap.push('.'.repeat(CELL_WIDTH));
    let first = 0;
    let last = CELL_WIDTH - 1;
    if (PROPORTIONAL.has(char)) {
      const inked = (x: number) => bitmap.some((row) => row[x] === '#');
      while (first < last && !inked(first)) first++;
      while (last > first && !inked(last)) last--;
    }
    const width = last - first + 1;
    const rows = bitmap.map((row) => {
      let mask = 0;
      for (let x = first; x <= last; x++) if (row[x] === '#') mask |= 1 << (last - x);
      return mask;
    });
    return [char, { width, rows }];
  });
}

const GLYPHS: ReadonlyMap<string, Glyph> = new Map(
  [DIGITS, UPPER_A_M, UPPER_N_Z, LOWER_A_M, LOWER_N_Z, SYMBOLS].flatMap(([keys, drawing]) => parseTable(keys, drawing)),
);

/** The glyph for `char`; characters the font lacks are drawn as '?'. Space has no glyph. */
export function glyphFor(char: string): Glyph | undefined {
  if (char === ' ') return undefined;
  return GLYPHS.get(char) ?? GLYPHS.get('?');
}

/** Characters the font can draw (space included). */
export function hasGlyph(char: string): boolean {
  return char === ' ' || GLYPHS.has(char);
}

/** Width in font pixels (before scaling) of `text` drawn on one line. */
export function textWidth(text: string): number {
  let width = 0;
  for (const char of text) width += (glyphFor(char)?.width ?? SPACE_ADVANCE - LETTER_SPACING) + LETTER_SPACING;
  return Math.max(0, width - LETTER_SPACING);
}

/**
 * Calls `ink(x, y)` for every inked font pixel of `text`, x along the line from 0, y down from the
 * top of the cell (baseline at GLYPH_ASCENT). Callers scale, rotate and colour the pixels.
 */
export function forEachInkedPixel(text: string, ink: (x: number, y: number) => void): void {
  let penX = 0;
  for (const char of text) {
    const glyph = glyphFor(char);
    if (!glyph) {
      penX += SPACE_ADVANCE;
      continue;
    }
    glyph.rows.forEach((mask, y) => {
      for (let x = 0; x < glyph.width; x++) if (mask & (1 << (glyph.width - 1 - x))) ink(penX + x, y);
    });
    penX += glyph.width + LETTER_SPACING;
  }
}
