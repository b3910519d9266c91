// The one WebGPU device everything runs on, found through Dawn's node bindings.
//
// Adapter choice: the platform's default first (a real GPU through Vulkan, Metal or D3D12, or
// Mesa's llvmpipe through Vulkan on a machine without one), then Dawn's OpenGL backend over
// Mesa, which needs WebGPU's 'compatibility' feature level. WEBGPU_BACKEND=vulkan|opengl|opengles
// forces one. We ask the device for the adapter's real limits: the spec defaults (128 MiB
// bindings, 16 KiB workgroup memory, 256 invocations) would needlessly cap our kernels.

import { readFileSync, statSync } from 'node:fs';
import { create, globals } from 'webgpu';

export interface DeviceInfo {
  /** One line a person can read: "llvmpipe (Mesa 25.0.7) via vulkan". */
  description: string;
  backend: string;
  vendor: string;
  architecture: string;
  isSoftware: boolean;
  hasTimestampQuery: boolean;
  /**
   * The device has WGSL's subgroup operations (the 'subgroups' feature) with subgroups of at
   * least 8 invocations, as the 'subgroup' convolution kernels need (llvmpipe: 8; GPUs: 8–128).
   */
  hasSubgroups: boolean;
}

export interface Gpu {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: DeviceInfo;
  limits: GPUSupportedLimits;
}

export class DeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceError';
  }
}

export type Backend = 'default' | 'vulkan' | 'opengl' | 'opengles';

let current: Gpu | undefined;
let pending: Promise<Gpu> | undefined;
// Held while the device is open; Dawn lets the process exit once it is released.
let dawn: ReturnType<typeof create> | undefined;
let lostReason: string | undefined;
const lostListeners: ((reason: string) => void)[] = [];

const HOW_TO_GET_ONE =
  'No WebGPU adapter was found. On a machine without a GPU, install Mesa\'s software driver: ' +
  'run `npm run setup` (as root it installs mesa-vulkan-drivers from bookworm-backports), or set ' +
  'WEBGPU_BACKEND=opengl to use Dawn\'s OpenGL backend over the stock Mesa (libegl1 libegl-dev libegl-mesa0: Dawn opens the unversioned libEGL.so).';

/** What `npm run setup` caches in node_modules/.cache/webgpu-setup.json (the part read here). */
interface SetupCache {
  backend?: unknown;
  fingerprint?: { node?: unknown; env?: Record<string, unknown>; files?: Record<string, unknown> };
}

// The environment variables the probe's answer depends on: the same list as
// environmentFingerprint() in scripts/setup.mjs, which writes the cache.
const FINGERPRINT_ENV = ['WEBGPU_BACKEND', 'VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES', 'EGL_PLATFORM', 'LD_LIBRARY_PATH'];

function mtimeOf(file: string): number | null {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * The backend a setup cache recommends, if it found one other than the default (trying the
 * default first there would only print Dawn's "Couldn't load Vulkan") and it still describes
 * this machine: same Node, same driver environment variables, and every driver file and
 * manifest folder it recorded unchanged. A cache written while, say, VK_ICD_FILENAMES pointed
 * at a broken driver must not keep later plain runs on OpenGL. Exported for the tests.
 */
export function backendFromSetupCache(cache: SetupCache, env: NodeJS.ProcessEnv = process.env, mtime: (file: string) => number | null = mtimeOf): Backend | undefined {
  const backend = cache.backend;
  if (backend !== 'opengl' && backend !== 'opengles') return undefined;
  const fp = cache.fingerprint;
  if (!fp || fp.node !== `${process.version} ${process.platform}-${process.arch}`) return undefined;
  const cachedEnv = fp.env ?? {};
  if (FINGERPRINT_ENV.some((name) => (cachedEnv[name] ?? undefined) !== env[name])) return undefined;
  for (const [file, recorded] of Object.entries(fp.files ?? {})) if (mtime(file) !== recorded) return undefined;
  return backend;
}

function backendSetupFound(): Backend | undefined {
  try {
    const cache = readFileSync(new URL('../../node_modules/.cache/webgpu-setup.json', import.meta.url), 'utf8');
    return backendFromSetupCache(JSON.parse(cache) as SetupCache);
  } catch {
    return undefined;
  }
}

function backendsToTry(): Backend[] {
  const forced = process.env.WEBGPU_BACKEND?.trim().toLowerCase();
  if (!forced) {
    const fromSetup = backendSetupFound();
    return fromSetup ? [fromSetup, 'default'] : ['default', 'opengl'];
  }
  if (forced === 'vulkan' || forced === 'opengl' || forced === 'opengles') return [forced];
  throw new DeviceError(`WEBGPU_BACKEND="${forced}" is not one of vulkan, opengl, opengles`);
}

async function requestAdapterFor(backend: Backend): Promise<GPUAdapter | null> {
  // Dawn rounds GPU timestamps to ~65 µs by default (a browser's defence against timing
  // attacks); the bench's per-kernel times need them exact, and Node has no such threat.
  const flags: string[] = ['disable-dawn-features=timestamp_quantization'];
  if (backend !== 'default') flags.push(`backend=${backend}`);
  if (backend === 'opengl' || backend === 'opengles') process.env.EGL_PLATFORM ??= 'surfaceless';
  const instance = create(flags);
  const adapter = await instance.requestAdapter(
    backend === 'opengl' || backend === 'opengles'
      ? ({ featureLevel: 'compatibility' } as GPURequestAdapterOptions)
      : { powerPreference: 'high-performance' },
  );
  if (adapter) dawn = instance;
  return adapter;
}

const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindingsPerBindGroup',
] as const;

async function open(): Promise<Gpu> {
  // Mesa complains on every start when this is unset; it needs no real directory from us.
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  Object.assign(globalThis, globals);
  let adapter: GPUAdapter | null = null;
  let backend: Backend = 'default';
  for (const candidate of backendsToTry()) {
    adapter = await requestAdapterFor(candidate);
    if (adapter) {
      backend = candidate;
      break;
    }
  }
  if (!adapter) throw new DeviceError(HOW_TO_GET_ONE);

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  const subgroupMin = adapter.info.subgroupMinSize ?? 0;
  if (adapter.features.has('subgroups') && subgroupMin >= 8) requiredFeatures.push('subgroups');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });

  lostReason = undefined;
  void device.lost.then((info) => {
    if (info.reason === 'destroyed') return;
    lostReason = `the WebGPU device was lost (${info.reason}): ${info.message}`;
    for (const listener of lostListeners) listener(lostReason);
  });

  const a = adapter.info;
  const name = a.description || a.device || a.vendor || 'unknown adapter';
  const isSoftware = /llvmpipe|lavapipe|swiftshader|software/i.test(`${a.description} ${a.architecture} ${a.vendor} ${a.device}`);
  const backendName = backend === 'default' ? (isSoftware ? 'vulkan' : 'native') : backend;
  const info: DeviceInfo = {
    description: `${name}${isSoftware ? ' (software, on the CPU)' : ''} via ${backendName}`,
    backend: backendName,
    vendor: a.vendor,
    architecture: a.architecture,
    isSoftware,
    hasTimestampQuery: device.features.has('timestamp-query'),
    hasSubgroups: device.features.has('subgroups'),
  };
  current = { device, adapter, info, limits: device.limits };
  return current;
}

/** Opens the device once; every later call returns the same one. */
export function init(): Promise<Gpu> {
  if (current) return Promise.resolve(current);
  pending ??= open().finally(() => {
    pending = undefined;
  });
  return pending;
}

/** The open device. Ops are synchronous, so the device must have been opened with `await init()`. */
export function getGpu(): Gpu {
  if (lostReason) throw new DeviceError(lostReason);
  if (!current) throw new DeviceError('WebGPU is not initialised: call `await init()` before creating tensors');
  return current;
}

export function getDevice(): GPUDevice {
  return getGpu().device;
}

export function isInitialized(): boolean {
  return current !== undefined && dawn !== undefined;
}

export function deviceLostReason(): string | undefined {
  return lostReason;
}

export function onDeviceLost(listener: (reason: string) => void): void {
  lostListeners.push(listener);
}

/** Destroys the device and lets go of Dawn, so a script's process can exit by itself. */
export function shutdownDevice(): void {
  current?.device.destroy();
  current = undefined;
  dawn = undefined;
}
