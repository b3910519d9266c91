// The models behind section 2: loading a VAE decoder or a GAN generator from safetensors bytes
// (the shipped weights, or a checkpoint dropped on the page), and drawing samples from them.
//
// A checkpoint says which model it holds and how it was built (its `config` metadata), so the
// page rebuilds that model with createModel() and loads only the part that draws: the VAE's
// `decoder.` tensors, a GAN's `generator.` tensors. A full checkpoint from `npm run train:vae`
// has the encoder and the optimizer state too; they are skipped. Sampling runs the model in
// inference mode (model.eval(): the GAN generator's BatchNorm layers use their moving statistics)
// without a tape (noGrad), as examples/generate.ts does.

import {
  createModel, Gan, loadCheckpointFromBytes, noGrad, readCheckpointInfoFromBytes, tensor, tidy,
  type CheckpointInfo, type Tensor, type Vae,
} from '../../src/index.ts';
import { onGpu } from './gpu.ts';
import type { SampleKind } from './hooks.ts';

export type { SampleKind };

export const SAMPLE_KINDS: SampleKind[] = ['vae', 'gan', 'cgan'];

export interface LoadedModel {
  kind: SampleKind;
  model: Vae | Gan;
  /** Where the weights came from: "weights/vae.safetensors", a dropped file's name, "trained in this page". */
  source: string;
  info?: CheckpointInfo;
  /** False for a model the page borrows (the one being trained): replacing it must not dispose it. */
  owned: boolean;
  /** The checkpoint bytes it was loaded from: after a device loss its weights are loaded again from them. */
  bytes?: Uint8Array;
}

/** Which part of each model draws, under the module key its checkpoint tensors use. */
function drawingModules(kind: SampleKind, model: Vae | Gan): Record<string, Vae['decoder'] | Gan['generator']> {
  return kind === 'vae' ? { decoder: (model as Vae).decoder } : { generator: (model as Gan).generator };
}

/** Rebuilds the model a checkpoint holds and loads its decoder or generator. */
export async function modelFromBytes(bytes: Uint8Array, source: string): Promise<LoadedModel> {
  const info = readCheckpointInfoFromBytes(bytes, source);
  const kind = info.model as SampleKind;
  if (!SAMPLE_KINDS.includes(kind)) {
    throw new Error(`${source} holds a "${info.model}" model; this page draws from the VAE, the GAN and the cGAN`);
  }
  return onGpu(async () => {
    const model = createModel(kind, info.config as Record<string, unknown>);
    const loaded: LoadedModel = { kind, model, source, info, owned: true, bytes };
    try {
      await reloadWeights(loaded);
    } catch (e) {
      model.dispose();
      throw e;
    }
    model.eval();
    return loaded;
  });
}

/**
 * Loads a model's decoder or generator from the bytes it came from, into the model's own tensors:
 * on a new device after a loss they are there but zero. Runs inside a GPU job (it queues nothing).
 */
export async function reloadWeights(m: LoadedModel): Promise<void> {
  if (!m.bytes) throw new Error(`${m.source}: no bytes kept to reload it from`);
  await loadCheckpointFromBytes(m.bytes, { model: m.kind, modules: drawingModules(m.kind, m.model) }, { source: m.source });
}

/** What came back from the server: the bytes, or why there are none. */
export type Fetched = { bytes: Uint8Array } | { missing: string };

/** Fetches a file's bytes; a 404 (or any failure) is reported, not thrown. */
export async function fetchBytes(url: string): Promise<Fetched> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    return { missing: `could not fetch ${url}: ${(e as Error).message}` };
  }
  if (!response.ok) return { missing: `${url}: ${response.status} ${response.statusText || ''}`.trim() };
  return { bytes: new Uint8Array(await response.arrayBuffer()) };
}

/** Runs `make` without a tape, reads the images back, frees them. */
async function readImages(make: () => Tensor): Promise<Float32Array> {
  return onGpu(async () => {
    const images = noGrad(() => tidy(make));
    try {
      return await images.toArray();
    } finally {
      images.dispose();
    }
  });
}

/** VAE: images [n, 28, 28, 1] in [0, 1] decoded from latent points zs (n points of latentDim numbers). */
export function decodeVae(vae: Vae, zs: number[][]): Promise<Float32Array> {
  const dim = vae.config.latentDim;
  const bad = zs.findIndex((z) => z.length !== dim);
  if (bad >= 0) return Promise.reject(new RangeError(`decodeVae: point ${bad} has ${zs[bad].length} numbers, the latent space has ${dim}`));
  return readImages(() => vae.decode(tensor(zs.flat(), [zs.length, dim])));
}

/**
 * A GAN's input noise [count, noiseDim]: drawn on the GPU from a seed (randn, as the scripts
 * draw it), or given as numbers. The GPU draws through WGSL's log and cos, whose accuracy WGSL
 * leaves partly to the driver, so one seed gives slightly different noise on different adapters;
 * numbers given are the same everywhere.
 */
export type Noise = number | number[][];

function noiseTensor(gan: Gan, count: number, noise: Noise): Tensor {
  if (typeof noise === 'number') return gan.noise(count, noise);
  const dim = gan.config.noiseDim;
  if (noise.length !== count || noise.some((v) => v.length !== dim)) {
    throw new RangeError(`GAN noise: expected ${count} vectors of ${dim} numbers, got ${noise.length} of ${noise.map((v) => v.length).join('/')}`);
  }
  return tensor(noise.flat(), [count, dim]);
}

/** cGAN: one image per digit, in [−1, 1], from a noise seed or noise vectors. */
export function generateCgan(gan: Gan, digits: number[], noise: Noise): Promise<Float32Array> {
  return readImages(() => gan.generate(noiseTensor(gan, digits.length, noise), Gan.digits(digits)));
}

/** GAN: `count` images in [−1, 1] from a noise seed or noise vectors. */
export function generateGan(gan: Gan, count: number, noise: Noise): Promise<Float32Array> {
  return readImages(() => gan.generate(noiseTensor(gan, count, noise)));
}
