// The three generative models of the seed report by name, for code that picks one at run time
// (the scripts, a checkpoint's recorded kind): the kinds, the constructor options each takes, and
// createModel, which builds one. A checkpoint's recorded config is checked key by key here before
// it reaches a constructor, so a damaged or foreign config names what is wrong.

import { Vae, VAE_DEFAULTS, type VaeConfig } from './vae.ts';
import { Gan, GAN_DEFAULTS, type GanConfig } from './gan.ts';

export type ModelKind = 'vae' | 'gan' | 'cgan';
export const MODEL_KINDS: readonly ModelKind[] = ['vae', 'gan', 'cgan'];

/** The constructor options of each kind (a GAN's `conditional` follows from its kind). */
export interface ModelConfigs {
  vae: Partial<VaeConfig>;
  gan: Partial<Omit<GanConfig, 'conditional'>>;
  cgan: Partial<Omit<GanConfig, 'conditional'>>;
}

/** The model class each kind builds. */
export interface Models {
  vae: Vae;
  gan: Gan;
  cgan: Gan;
}

/** Builds a model of `kind` from its constructor options (defaults: the seed's). */
export function createModel<K extends ModelKind>(kind: K, config?: ModelConfigs[K]): Models[K];
export function createModel(kind: ModelKind, config: ModelConfigs[ModelKind] = {}): Vae | Gan {
  if (kind === 'vae') return new Vae(config as ModelConfigs['vae']);
  if (kind === 'gan' || kind === 'cgan') return new Gan({ ...(config as ModelConfigs['gan']), conditional: kind === 'cgan' });
  throw new RangeError(`createModel: kind '${String(kind)}' is not one of ${MODEL_KINDS.join(', ')}`);
}

/**
 * A config read from outside the type system (a checkpoint's metadata) checked against `kind`'s
 * options: every key known, every value of its default's type, a GAN's `conditional` matching its
 * kind. `source` names where it came from in the error.
 */
export function modelConfigFrom<K extends ModelKind>(kind: K, raw: unknown, source: string): ModelConfigs[K] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new TypeError(`${source}: the ${kind} config must be an object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  const defaults: Record<string, unknown> = kind === 'vae' ? { ...VAE_DEFAULTS } : { ...GAN_DEFAULTS, discriminatorWidth: 1 };
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in defaults)) throw new RangeError(`${source}: the ${kind} config has an unknown key '${key}' (known: ${Object.keys(defaults).join(', ')})`);
    if (typeof value !== typeof defaults[key]) {
      throw new TypeError(`${source}: the ${kind} config's '${key}' must be a ${typeof defaults[key]}, got ${JSON.stringify(value)}`);
    }
    if (key === 'conditional') {
      if (value !== (kind === 'cgan')) throw new RangeError(`${source}: a ${kind} config says conditional: ${String(value)}`);
      continue;
    }
    config[key] = value;
  }
  return config as ModelConfigs[K];
}
