// Digits on a canvas. Models give images as one Float32Array of [count, 28, 28, 1] values in a
// known range ([0, 1] for the VAE, [−1, 1] for the GANs); each becomes a 28×28 tile of grey
// levels, white on black as MNIST draws them. The canvas holds the tiles at their own size and
// CSS scales it up (image-rendering: pixelated keeps the pixels square).

export const SIDE = 28;

/** Draws `count` images in rows of `cols` (1-pixel gaps) and sizes the canvas to fit. */
export function drawDigits(canvas: HTMLCanvasElement, pixels: Float32Array, count: number, cols: number, range: readonly [number, number]): void {
  const rows = Math.ceil(count / cols);
  const gap = cols > 1 || rows > 1 ? 1 : 0;
  canvas.width = cols * SIDE + (cols - 1) * gap;
  canvas.height = rows * SIDE + (rows - 1) * gap;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.fillStyle = '#333';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const tile = ctx.createImageData(SIDE, SIDE);
  const [lo, hi] = range;
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < SIDE * SIDE; p++) {
      const v = Math.round((255 * (pixels[i * SIDE * SIDE + p] - lo)) / (hi - lo));
      const g = Math.max(0, Math.min(255, v));
      tile.data.set([g, g, g, 255], 4 * p);
    }
    ctx.putImageData(tile, (i % cols) * (SIDE + gap), Math.floor(i / cols) * (SIDE + gap));
  }
}
