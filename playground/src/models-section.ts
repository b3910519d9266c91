// Section 2, the models: the VAE's 2-D latent space as a map to drag across (the decoder runs as
// the pointer moves), the cGAN drawing a chosen digit, the GAN drawing anything. Weights come
// from weights/{vae,gan,cgan}.safetensors beside the page; a checkpoint dropped on the section
// (or picked with its file button) replaces the model it holds.

import { h, byId } from './dom.ts';
import { drawDigits } from './images.ts';
import { onDeviceRecovered, type GpuState } from './gpu.ts';
import { decodeVae, fetchBytes, generateCgan, generateGan, modelFromBytes, reloadWeights, SAMPLE_KINDS, type LoadedModel, type SampleKind } from './models.ts';
import type { Gan, Vae } from '../../src/index.ts';

/** The seed's Figure 2 spans [−2, 2]² of the latent plane; the map shows the same square. */
const EXTENT = 2;
const GRID = 4; // samples per side in the GAN grids

export interface ModelsSection {
  /** The model of a kind, once loaded. */
  get(kind: SampleKind): LoadedModel | undefined;
  /** Shows a model (a freshly trained VAE, a dropped checkpoint) in place of the current one. */
  use(loaded: LoadedModel): Promise<void>;
  /** Resolves when the shipped weights were tried (found or not) and the first pictures drawn. */
  ready: Promise<void>;
}

export function setupModels(gpu: GpuState): ModelsSection {
  const current = new Map<SampleKind, LoadedModel>();
  const status = (kind: SampleKind, text: string, cls = '') => {
    const el = byId(`${kind}-status`);
    el.className = `status ${cls}`;
    el.textContent = text;
  };

  // ------------------------------------------------------------------ VAE: the latent map
  const mapCanvas = byId<HTMLCanvasElement>('vae-map');
  const mapFrame = byId('vae-map-frame');
  const cursor = byId('vae-cursor');
  const zoom = byId<HTMLCanvasElement>('vae-zoom');
  const zText = byId('vae-z');
  let z: [number, number] = [0, 0];
  let decoding = false;
  let wanted = false;

  const showCursor = () => {
    cursor.style.left = `${((z[0] + EXTENT) / (2 * EXTENT)) * 100}%`;
    cursor.style.top = `${((EXTENT - z[1]) / (2 * EXTENT)) * 100}%`;
    zText.textContent = `z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)})`;
  };
  // One decode in flight at a time; moves in between only ask for the latest point.
  const decodeAtCursor = async (): Promise<void> => {
    const vae = current.get('vae')?.model as Vae | undefined;
    if (!vae) return;
    if (decoding) {
      wanted = true;
      return;
    }
    decoding = true;
    try {
      do {
        wanted = false;
        drawDigits(zoom, await decodeVae(vae, [[z[0], z[1]]]), 1, 1, [0, 1]);
      } while (wanted);
    } finally {
      decoding = false;
    }
  };
  const moveTo = (clientX: number, clientY: number) => {
    const box = mapFrame.getBoundingClientRect();
    const fx = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    const fy = Math.min(1, Math.max(0, (clientY - box.top) / box.height));
    z = [-EXTENT + 2 * EXTENT * fx, EXTENT - 2 * EXTENT * fy];
    showCursor();
    void decodeAtCursor();
  };
  let dragging = false;
  mapFrame.addEventListener('pointerdown', (e) => {
    dragging = true;
    mapFrame.setPointerCapture(e.pointerId);
    moveTo(e.clientX, e.clientY);
  });
  mapFrame.addEventListener('pointermove', (e) => {
    if (dragging || e.pointerType === 'mouse') moveTo(e.clientX, e.clientY);
  });
  mapFrame.addEventListener('pointerup', () => (dragging = false));
  mapFrame.addEventListener('keydown', (e) => {
    const step = 0.1;
    const moves: Record<string, [number, number]> = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    const m = moves[e.key];
    if (!m) return;
    e.preventDefault();
    z = [Math.max(-EXTENT, Math.min(EXTENT, z[0] + m[0])), Math.max(-EXTENT, Math.min(EXTENT, z[1] + m[1]))];
    showCursor();
    void decodeAtCursor();
  });

  /** The map: an n×n grid of latent points over [−EXTENT, EXTENT]², z[1] upwards, decoded. */
  const drawMap = async (vae: Vae) => {
    const n = gpu.isSoftware ? 8 : 16;
    const zs: number[][] = [];
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++) zs.push([-EXTENT + (2 * EXTENT * (col + 0.5)) / n, EXTENT - (2 * EXTENT * (row + 0.5)) / n]);
    }
    drawDigits(mapCanvas, await decodeVae(vae, zs), n * n, n, [0, 1]);
    showCursor();
    await decodeAtCursor();
  };

  // ------------------------------------------------------------------ cGAN and GAN
  let digit = 7;
  let cganSeed = 1;
  let ganSeed = 1;
  const digitButtons = byId('cgan-digits');
  const drawCgan = async () => {
    const gan = current.get('cgan')?.model as Gan | undefined;
    if (!gan) return;
    byId('cgan-seed').textContent = `noise seed ${cganSeed}`;
    const digits = Array.from({ length: GRID * GRID }, () => digit);
    drawDigits(byId<HTMLCanvasElement>('cgan-grid'), await generateCgan(gan, digits, cganSeed), digits.length, GRID, [-1, 1]);
  };
  const drawGan = async () => {
    const gan = current.get('gan')?.model as Gan | undefined;
    if (!gan) return;
    byId('gan-seed').textContent = `noise seed ${ganSeed}`;
    drawDigits(byId<HTMLCanvasElement>('gan-grid'), await generateGan(gan, GRID * GRID, ganSeed), GRID * GRID, GRID, [-1, 1]);
  };
  const renderDigitButtons = () =>
    digitButtons.replaceChildren(
      ...Array.from({ length: 10 }, (_, d) => {
        const b = h('button', { class: d === digit ? 'digit selected' : 'digit', 'aria-pressed': d === digit ? 'true' : 'false' }, String(d));
        b.addEventListener('click', () => {
          digit = d;
          renderDigitButtons();
          void guarded('cgan', drawCgan);
        });
        return b;
      }),
    );
  renderDigitButtons();
  byId('cgan-reroll').addEventListener('click', () => {
    cganSeed++;
    void guarded('cgan', drawCgan);
  });
  byId('gan-new').addEventListener('click', () => {
    ganSeed++;
    void guarded('gan', drawGan);
  });

  /** Runs a drawing, and shows its error in the model's status line instead of throwing. */
  async function guarded(kind: SampleKind, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (e) {
      status(kind, `error: ${(e as Error).message}`, 'bad');
    }
  }

  const draw = (kind: SampleKind) => {
    const m = current.get(kind)!;
    if (kind === 'vae') return drawMap(m.model as Vae);
    return kind === 'cgan' ? drawCgan() : drawGan();
  };

  /** The recipe an exported weight file carries (examples/export-weights.ts), parsed, if any. */
  function recipeOf(m: LoadedModel): Record<string, unknown> | undefined {
    const raw = m.info?.extra.recipe ?? m.info?.metadata.recipe;
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return { recipe: raw };
    }
  }

  /** One line: where the weights came from and, when the file says, how they were trained. */
  function describeSource(m: LoadedModel): string {
    const r = recipeOf(m);
    const p = m.info?.progress;
    const how = typeof r?.trainedBy === 'string' ? r.trainedBy : p ? `a checkpoint after ${p.epoch} epochs` : '';
    const steps = p ? `, ${p.step.toLocaleString('en')} steps` : '';
    const precision = typeof r?.precision === 'string' ? `, weights ${r.precision.split(' ')[0]}` : '';
    return `${m.source}${how ? ` (${how}${steps}${precision})` : ''}`;
  }

  function showRecipe(m: LoadedModel): void {
    const details = byId<HTMLDetailsElement>(`${m.kind}-recipe`);
    details.hidden = !m.info;
    if (m.info) details.querySelector('code')!.textContent = JSON.stringify({ config: m.info.config, recipe: recipeOf(m) ?? 'none in this file' }, null, 2);
  }

  async function use(loaded: LoadedModel): Promise<void> {
    const before = current.get(loaded.kind);
    current.set(loaded.kind, loaded);
    if (before && before !== loaded && before.owned) before.model.dispose();
    status(loaded.kind, `drawing from ${describeSource(loaded)}`, 'ok');
    showRecipe(loaded);
    byId(`${loaded.kind}-panel`).classList.remove('empty');
    await guarded(loaded.kind, () => draw(loaded.kind));
  }

  async function loadShipped(kind: SampleKind): Promise<void> {
    const url = `weights/${kind}.safetensors`;
    status(kind, `loading ${url}…`, 'busy');
    const got = await fetchBytes(url);
    if ('missing' in got) {
      status(kind, `No shipped weights (${got.missing}). Train your own with npm run train:${kind} and drop out/${kind}/checkpoint.safetensors on this section.`, 'bad');
      return;
    }
    try {
      await use(await modelFromBytes(got.bytes, url));
    } catch (e) {
      status(kind, `could not load ${url}: ${(e as Error).message}`, 'bad');
    }
  }

  // ------------------------------------------------------------------ dropped checkpoints
  const section = byId('models');
  const fileInput = byId<HTMLInputElement>('models-file');
  const loadFile = async (file: File) => {
    const note = byId('models-drop-note');
    note.textContent = `reading ${file.name}…`;
    try {
      const loaded = await modelFromBytes(new Uint8Array(await file.arrayBuffer()), file.name);
      note.textContent = `${file.name}: a ${loaded.kind.toUpperCase()} checkpoint, now drawing below.`;
      await use(loaded);
    } catch (e) {
      note.textContent = `${file.name}: ${(e as Error).message}`;
    }
  };
  if (gpu.available) {
    section.addEventListener('dragover', (e) => {
      e.preventDefault();
      section.classList.add('dropping');
    });
    section.addEventListener('dragleave', () => section.classList.remove('dropping'));
    section.addEventListener('drop', (e) => {
      e.preventDefault();
      section.classList.remove('dropping');
      const file = e.dataTransfer?.files[0];
      if (file) void loadFile(file);
    });
    fileInput.addEventListener('change', () => {
      const file = fileInput.files?.[0];
      if (file) void loadFile(file);
      fileInput.value = '';
    });
  } else {
    fileInput.disabled = true;
    for (const kind of SAMPLE_KINDS) status(kind, 'needs WebGPU (see the note at the top).', 'bad');
  }

  // After a device loss: every model's weights again from the bytes they came from (a VAE borrowed
  // from the training section is that section's to restore), then every panel drawn again: the
  // drawings are queued behind the recovery, so they see restored weights.
  onDeviceRecovered(async () => {
    for (const m of current.values()) {
      if (!m.bytes && m.owned) {
        // A VAE trained here and handed over by Start over: its weights were only on the lost device.
        status(m.kind, `${m.source} was lost with the GPU device (its weights were only there); train it again, or drop a checkpoint here.`, 'bad');
        current.delete(m.kind);
        m.model.dispose();
        continue;
      }
      if (!m.bytes) continue; // the training section's own run: it restores it
      try {
        await reloadWeights(m);
      } catch (e) {
        status(m.kind, `could not reload ${m.source} on the new device: ${(e as Error).message}`, 'bad');
        current.delete(m.kind);
        if (m.owned) m.model.dispose();
      }
    }
    for (const kind of current.keys()) {
      status(kind, `drawing from ${describeSource(current.get(kind)!)} (reloaded on a new device after a device loss)`, 'ok');
      void guarded(kind, () => draw(kind));
    }
  });

  const ready = gpu.available ? (async () => {
    // One after another: each model's first pictures queue behind the last anyway.
    for (const kind of SAMPLE_KINDS) await loadShipped(kind);
  })() : Promise.resolve();

  return { get: (kind) => current.get(kind), use, ready };
}
