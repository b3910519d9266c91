// The one WebGPU device everything runs on. `init()` takes what the host has:
//
//   await init({ gpu: navigator.gpu })   a web page (or a worker): the browser's WebGPU
//   await init({ device })               a device you opened yourself (shared with your renderer)
//   await init()                         the browser's navigator.gpu when there is one; in Node,
//                                        Dawn's node bindings (npm `webgpu`), imported lazily
//
// In Node, the adapter choice: the platform's default first (a real GPU through Vulkan, Metal or D3D12, or
// Mesa's llvmpipe through Vulkan on a machine without one), then Dawn's OpenGL backend over
// Mesa, which needs WebGPU's 'compatibility' feature level. WEBGPU_BACKEND=vulkan|opengl|opengles
// forces one. We ask the device for the adapter's real limits: the spec defaults (128 MiB
// bindings, 16 KiB workgroup memory, 256 invocations) would needlessly cap our kernels. With
// `init({ limits: 'default' })` (or WEBGPU_LIMITS=default) it asks for nothing, and the device has
// exactly WebGPU's default limits, the least any WebGPU device gives: every kernel is written to
// fit them, and the tests run so too (tests/default-limits.test.ts).

import { envVar, importNodeModule, nodeProcess } from './host.ts';
import { checkOptions, knownOptions } from './options.ts';

/**
 * The WebGPU implementation behind the device: Dawn (Chrome, Edge, and Node's npm `webgpu`), wgpu
 * (Firefox, and Deno's built-in navigator.gpu), or one we cannot tell (Safari's WebKit, a device
 * handed to init() outside those hosts).
 */
export type Engine = 'dawn' | 'wgpu' | 'unknown';

export interface DeviceInfo {
  /** One line a person can read: "llvmpipe (Mesa 25.0.7) via vulkan, on Dawn". */
  description: string;
  /** The WebGPU engine: what a feature it lacks is blamed on, and what the description ends with. */
  engine: Engine;
  /** The adapter as WebGPU names it (GPUAdapterInfo): what tuned kernel choices are kept under. */
  adapter: { vendor: string; architecture: string; device: string; description: string };
  backend: string;
  vendor: string;
  architecture: string;
  isSoftware: boolean;
  hasTimestampQuery: boolean;
  /**
   * The device has WGSL's subgroup operations (the 'subgroups' feature), as the 'subgroup'
   * convolution kernels need, of whatever size (WebGPU: 4 to 128 lanes; llvmpipe: its SIMD width,
   * 8 on AVX2; GPUs: 8–128; SwiftShader: 4).
   */
  hasSubgroups: boolean;
  /**
   * The subgroup sizes the adapter reports it may run (adapter info's subgroupMinSize and
   * subgroupMaxSize); [0, 0] without subgroups. A subgroup kernel's block is at most
   * subgroupMinSize columns wide, the most lanes it can count on (conv2d-subgroup.ts).
   */
  subgroupSizes: [number, number];
  /**
   * Register-block loops are written out before compiling (Program.unroll, src/kernels/unroll.ts):
   * on wgpu, where naga's loop bounds and index clamps stop the driver from unrolling them. Dawn
   * leaves them to the driver, which unrolls them itself (and SwiftShader, Chrome's CPU driver,
   * takes tens of seconds over the written-out form: docs/kernels.md).
   */
  unrollBlocks: boolean;
  /** Which limits the device was asked for: 'adapter' (all the adapter has) or 'default' (WebGPU's defaults). */
  limits: LimitsChoice;
}

/** 'adapter': the device gets the adapter's own limits (the default); 'default': only WebGPU's default limits. */
export type LimitsChoice = 'adapter' | 'default';
export const LIMITS_CHOICES: readonly LimitsChoice[] = ['adapter', 'default'];

/**
 * The limits init() asks for: its option, else WEBGPU_LIMITS, else 'adapter'. Throws on an unknown
 * one, naming where it came from and the allowed values. Exported for the tests.
 */
export function limitsChoiceFrom(option: LimitsChoice | undefined, env: string | undefined): LimitsChoice {
  const raw = option ?? (env?.trim() ? env.trim().toLowerCase() : 'adapter');
  if (!LIMITS_CHOICES.includes(raw as LimitsChoice)) {
    const from = option !== undefined ? 'init({ limits })' : 'WEBGPU_LIMITS';
    throw new RangeError(`${from}: '${String(raw)}' is not one of ${LIMITS_CHOICES.join(', ')}`);
  }
  return raw as LimitsChoice;
}

export interface Gpu {
  device: GPUDevice;
  /** The adapter the device came from; absent when init() was handed a device. */
  adapter?: GPUAdapter;
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

/** What init() may be handed; with neither, it finds WebGPU itself (see the top of this file). */
export interface InitOptions {
  /** A WebGPU entry point, such as a page's `navigator.gpu`. */
  gpu?: GPU;
  /** A device already opened; the framework uses it as it is (its limits and features). */
  device?: GPUDevice;
  /** With `gpu`: passed to requestAdapter (default: high performance). */
  powerPreference?: GPUPowerPreference;
  /**
   * Kernel tuning (src/tune/): 'cached' (default; in Node WEBGPU_MINI_DL_TUNE sets it) runs the
   * kernels measured fastest on this adapter where the cache has them, 'on' also measures the
   * problems it lacks, 'off' runs the fixed rules.
   */
  tune?: 'on' | 'cached' | 'off';
  /**
   * The limits to ask the device for: 'adapter' (default; in Node WEBGPU_LIMITS sets it) all the
   * adapter has, 'default' only WebGPU's default limits (16 KiB of workgroup memory, 256
   * invocations per workgroup, 8 storage buffers per stage, 128 MiB per binding), as the least
   * capable WebGPU device would give. Not with `device`: a device handed in keeps its own.
   */
  limits?: LimitsChoice;
}

/** Dawn's node bindings (npm `webgpu`): the part used here. */
interface DawnModule {
  create(flags: string[]): GPU;
  globals: object;
}

/** node:fs, the part used here. */
interface FsModule {
  readFileSync(path: URL, encoding: 'utf8'): string;
  statSync(path: string): { mtimeMs: number };
}

let current: Gpu | undefined;
let pending: Promise<Gpu> | undefined;
// Dawn's instances, one per set of flags, kept for the life of the process and reused by a later
// init(): releasing one (to the garbage collector) while a second instance works crashed Dawn in
// about a quarter of runs (tests/package.test.ts). A held instance does not keep Node from exiting.
const dawnInstances = new Map<string, GPU>();
let lostReason: string | undefined;
// The options the open device was opened with: a lost one is replaced by one opened the same way.
let openedWith: InitOptions = {};
// Devices destroyed by simulateDeviceLoss(): their 'destroyed' is a loss, not a shutdown.
const simulatedLosses = new WeakSet<GPUDevice>();
const lostListeners: ((reason: string) => void)[] = [];
const openListeners: ((options: InitOptions) => Promise<void>)[] = [];
const closeListeners: (() => void)[] = [];
const replaceListeners: (() => void)[] = [];

const HOW_TO_GET_ONE_IN_NODE =
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

const HOW_TO_GET_ONE_IN_A_BROWSER =
  'This browser has no WebGPU (navigator.gpu is missing). Chrome and Edge 113+ have it on Windows, macOS and ChromeOS ' +
  '(on Linux: chrome://flags/#enable-unsafe-webgpu); Safari 26+ and Firefox 141+ (Windows) have it too. Pages must be ' +
  'served over https or from localhost.';

function mtimeWith(fs: FsModule): (file: string) => number | null {
  return (file) => {
    try {
      return fs.statSync(file).mtimeMs;
    } catch {
      return null;
    }
  };
}

/**
 * The backend a setup cache recommends, if it found one other than the default (trying the
 * default first there would only print Dawn's "Couldn't load Vulkan") and it still describes
 * this machine: same Node, same driver environment variables, and every driver file and
 * manifest folder it recorded unchanged. A cache written while, say, VK_ICD_FILENAMES pointed
 * at a broken driver must not keep later plain runs on OpenGL. Exported for the tests.
 */
export function backendFromSetupCache(cache: SetupCache, env: Record<string, string | undefined>, mtime: (file: string) => number | null): Backend | undefined {
  const backend = cache.backend;
  if (backend !== 'opengl' && backend !== 'opengles') return undefined;
  const fp = cache.fingerprint;
  const node = nodeProcess();
  if (!node || !fp || fp.node !== `${node.version} ${node.platform}-${node.arch}`) return undefined;
  const cachedEnv = fp.env ?? {};
  if (FINGERPRINT_ENV.some((name) => (cachedEnv[name] ?? undefined) !== env[name])) return undefined;
  for (const [file, recorded] of Object.entries(fp.files ?? {})) if (mtime(file) !== recorded) return undefined;
  return backend;
}

function backendSetupFound(fs: FsModule, env: Record<string, string | undefined>): Backend | undefined {
  try {
    const cache = fs.readFileSync(new URL('../../node_modules/.cache/webgpu-setup.json', import.meta.url), 'utf8');
    return backendFromSetupCache(JSON.parse(cache) as SetupCache, env, mtimeWith(fs));
  } catch {
    return undefined;
  }
}

function backendsToTry(fs: FsModule, env: Record<string, string | undefined>): Backend[] {
  const forced = env.WEBGPU_BACKEND?.trim().toLowerCase();
  if (!forced) {
    const fromSetup = backendSetupFound(fs, env);
    return fromSetup ? [fromSetup, 'default'] : ['default', 'opengl'];
  }
  if (forced === 'vulkan' || forced === 'opengl' || forced === 'opengles') return [forced];
  throw new DeviceError(`WEBGPU_BACKEND="${forced}" is not one of vulkan, opengl, opengles`);
}

async function requestAdapterFor(create: DawnModule['create'], env: Record<string, string | undefined>, backend: Backend): Promise<GPUAdapter | null> {
  // Dawn rounds GPU timestamps to ~65 µs by default (a browser's defence against timing
  // attacks); the bench's per-kernel times need them exact, and Node has no such threat.
  const flags: string[] = ['disable-dawn-features=timestamp_quantization'];
  if (backend !== 'default') flags.push(`backend=${backend}`);
  if (backend === 'opengl' || backend === 'opengles') env.EGL_PLATFORM ??= 'surfaceless';
  const key = flags.join(' ');
  const instance = dawnInstances.get(key) ?? create(flags);
  dawnInstances.set(key, instance);
  const adapter = await instance.requestAdapter(
    backend === 'opengl' || backend === 'opengles'
      ? ({ featureLevel: 'compatibility' } as GPURequestAdapterOptions)
      : { powerPreference: 'high-performance' },
  );
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

/** Node: Dawn's adapter, on the backend the setup probe found (see the top of this file). */
async function dawnAdapter(): Promise<{ adapter: GPUAdapter; backend: Backend }> {
  const node = nodeProcess()!;
  let dawnModule: DawnModule;
  try {
    dawnModule = await importNodeModule<DawnModule>('webgpu');
  } catch (e) {
    throw new DeviceError(`cannot load Dawn's WebGPU for Node (the npm package 'webgpu'): ${(e as Error).message}. Install it (\`npm install webgpu\`), or hand init() a device: init({ device })`);
  }
  const fs = await importNodeModule<FsModule>('node:fs');
  // Mesa complains on every start when this is unset; it needs no real directory from us.
  node.env.XDG_RUNTIME_DIR ??= '/tmp';
  // Dawn's GPUBufferUsage, GPUMapMode, … as the WebGPU spec puts them on the global object.
  Object.assign(globalThis, dawnModule.globals);
  for (const candidate of backendsToTry(fs, node.env)) {
    const adapter = await requestAdapterFor(dawnModule.create, node.env, candidate);
    if (adapter) return { adapter, backend: candidate };
  }
  throw new DeviceError(HOW_TO_GET_ONE_IN_NODE);
}

/** A page: the browser's (or the caller's) WebGPU entry point. */
async function browserAdapter(gpu: GPU, powerPreference: GPUPowerPreference): Promise<GPUAdapter> {
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) {
    throw new DeviceError('WebGPU is present but offered no adapter: the GPU may be blocklisted or WebGPU disabled (Chrome: chrome://gpu says why; on Linux try chrome://flags/#enable-unsafe-webgpu)');
  }
  return adapter;
}

/**
 * The engine of a page's WebGPU, by its browser: Firefox's is wgpu; Chrome's, Edge's and other
 * Chromium browsers' is Dawn; any other (Safari's WebKit) we cannot tell. Exported for the tests.
 */
export function engineOfBrowser(userAgent: string | undefined): Engine {
  const ua = userAgent ?? '';
  if (/\bFirefox\//.test(ua)) return 'wgpu';
  if (/\b(Chrome|Chromium)\//.test(ua)) return 'dawn';
  return 'unknown';
}

// Deno's own WebGPU classes (its navigator.gpu is wgpu), taken as this module loads: Dawn's node
// bindings load in Deno too, and whoever loads them may put Dawn's GPU* classes (and a navigator
// holding Dawn's GPU) in their place before init() runs.
const denoWebGpu = ((): { gpu: unknown; device: unknown } | undefined => {
  const g = globalThis as { Deno?: unknown; GPU?: unknown; GPUDevice?: unknown };
  return g.Deno !== undefined ? { gpu: g.GPU, device: g.GPUDevice } : undefined;
})();

/** The engine of a GPU (or a device) that did not come from our own Dawn path. */
function engineOf(value: GPU | GPUDevice, kind: 'gpu' | 'device'): Engine {
  if (denoWebGpu) {
    const cls = denoWebGpu[kind];
    return typeof cls === 'function' && value instanceof cls ? 'wgpu' : 'unknown';
  }
  // In Node the WebGPU is Dawn's (npm `webgpu`), whoever put it on navigator: the bench's
  // TensorFlow.js peer does, for its backend, before our init() finds it there. Without this its
  // adapter was 'unknown', and the tune cache's choices (kept for Dawn) were not found.
  if (nodeProcess()) return 'dawn';
  return engineOfBrowser((globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent);
}

const ENGINE_NAMES: Record<Engine, string> = { dawn: 'Dawn', wgpu: 'wgpu', unknown: '' };

function describe(device: GPUDevice, a: GPUAdapterInfo, backendName: string, engine: Engine, limits: LimitsChoice): DeviceInfo {
  const name = a.description || a.device || a.vendor || 'unknown adapter';
  const isSoftware = /llvmpipe|lavapipe|swiftshader|software/i.test(`${a.description} ${a.architecture} ${a.vendor} ${a.device}`) || a.isFallbackAdapter === true;
  const backend = backendName === 'default' ? (isSoftware ? 'vulkan' : 'native') : backendName;
  return {
    description: `${name}${isSoftware ? ' (software, on the CPU)' : ''} via ${backend}${engine === 'unknown' ? '' : `, on ${ENGINE_NAMES[engine]}`}`,
    engine,
    adapter: { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description },
    backend,
    vendor: a.vendor,
    architecture: a.architecture,
    isSoftware,
    hasTimestampQuery: device.features.has('timestamp-query'),
    hasSubgroups: device.features.has('subgroups'),
    subgroupSizes: device.features.has('subgroups') ? [a.subgroupMinSize ?? 0, a.subgroupMaxSize ?? 0] : [0, 0],
    unrollBlocks: engine === 'wgpu',
    limits,
  };
}

// A loss is what the device's `lost` promise says with any reason but 'destroyed' (the driver
// crashed, the GPU was reset or removed, the browser took it back); 'destroyed' is our own
// shutdownDevice() (or the caller's destroy()), which is no loss, unless simulateDeviceLoss() did it.
// Only the device in use counts: a device already replaced or shut down may report late.
function watchLoss(device: GPUDevice): void {
  lostReason = undefined;
  void device.lost.then((info) => {
    if (info.reason === 'destroyed' || simulatedLosses.has(device)) return; // a simulated loss was reported when it was made
    if (current !== undefined && current.device !== device) return;
    lostReason = `the WebGPU device was lost (${info.reason}): ${info.message}`;
    for (const listener of lostListeners) listener(lostReason);
  });
}

async function open(options: InitOptions): Promise<Gpu> {
  if (options.device) {
    const device = options.device;
    watchLoss(device);
    openedWith = { ...options };
    const adapterInfo = device.adapterInfo ?? ({ vendor: '', architecture: '', device: '', description: 'a device handed to init()' } as GPUAdapterInfo);
    const info = describe(device, adapterInfo, 'browser', engineOf(device, 'device'), 'adapter');
    current = { device, info, limits: device.limits };
    return current;
  }
  const gpu = options.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  let adapter: GPUAdapter;
  let backend: string;
  let engine: Engine;
  if (gpu) {
    adapter = await browserAdapter(gpu, options.powerPreference ?? 'high-performance');
    backend = nodeProcess() ? 'default' : 'browser';
    engine = engineOf(gpu, 'gpu');
  } else if (nodeProcess()) {
    ({ adapter, backend } = await dawnAdapter());
    engine = 'dawn';
  } else {
    throw new DeviceError(HOW_TO_GET_ONE_IN_A_BROWSER);
  }

  const limits = limitsChoiceFrom(options.limits, envVar('WEBGPU_LIMITS'));
  const requiredLimits: Record<string, number> = {};
  if (limits === 'adapter') for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  if (adapter.features.has('subgroups')) requiredFeatures.push('subgroups');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  watchLoss(device);
  openedWith = { ...options };
  current = { device, adapter, info: describe(device, adapter.info, backend, engine, limits), limits: device.limits };
  return current;
}

const INIT_OPTIONS = knownOptions<InitOptions>({ gpu: true, device: true, powerPreference: true, tune: true, limits: true });

/**
 * Opens the device once; every later call returns the same one (its options are then ignored,
 * unless they name a different device, which is refused: shut the first down first).
 */
export function init(options: InitOptions = {}): Promise<Gpu> {
  try {
    checkOptions('init', options, INIT_OPTIONS);
  } catch (e) {
    return Promise.reject(e as Error);
  }
  // Checked first, device open or not: a wrong value is a mistake whichever call makes it.
  if (options.limits !== undefined) {
    try {
      limitsChoiceFrom(options.limits, undefined);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (options.device) return Promise.reject(new RangeError("init({ device, limits }): a device handed to init() keeps the limits it was opened with; open it with the limits you want (requiredLimits), or leave out 'limits'"));
  }
  if (current) {
    if (options.device && options.device !== current.device) {
      return Promise.reject(new DeviceError('init({ device }): a different device is already in use; call shutdownDevice() first'));
    }
    return Promise.resolve(current);
  }
  if (options.tune !== undefined && !['on', 'cached', 'off'].includes(options.tune)) {
    return Promise.reject(new RangeError(`init({ tune }): '${String(options.tune)}' is not one of on, cached, off`));
  }
  pending ??= open(options)
    .then(async (gpu) => {
      for (const listener of openListeners) await listener(options);
      return gpu;
    })
    .finally(() => {
      pending = undefined;
    });
  return pending;
}

/** Called, and awaited, each time init() opens a device (with init's options): the tuner reads its cache here. */
export function onDeviceOpen(listener: (options: InitOptions) => Promise<void>): void {
  openListeners.push(listener);
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
  return current !== undefined;
}

export function deviceLostReason(): string | undefined {
  return lostReason;
}

export function onDeviceLost(listener: (reason: string) => void): void {
  lostListeners.push(listener);
}

/** Whether the device in use was lost (a real loss or a simulated one; not a shutdown). */
export function isDeviceLost(): boolean {
  return lostReason !== undefined;
}

/**
 * The loss behind an error, if any: the reason at once when the device is known to be lost, else,
 * for an error of the kind a loss causes (a failed read-back or kernel, a DeviceError), up to
 * `waitMs` for the device's `lost` promise (a driver may fail the work before it reports the
 * loss). Undefined for any other error, and when there is no device (shut down: not a loss).
 */
export async function deviceLossBehind(error: unknown, waitMs = 500): Promise<string | undefined> {
  if (lostReason !== undefined) return lostReason;
  const device = current?.device;
  const name = (error as { name?: unknown } | null)?.name;
  if (!device || !['KernelError', 'DeviceError', 'OperationError', 'AbortError'].includes(String(name))) return undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([device.lost, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
  clearTimeout(timer);
  // watchLoss's handler ran first (it was attached first), so the reason is set for a real loss.
  await Promise.resolve();
  return lostReason;
}

/**
 * Destroys the device as a loss would (the test hook behind WEBGPU_SIMULATE_DEVICE_LOSS): unlike
 * shutdownDevice(), this counts as a loss, reported at once (getGpu() throws from now on, and the
 * onDeviceLost listeners are called) so that the very next operation fails as it would on a
 * driver crash. Only a device init() opened itself: one handed to init() is the caller's.
 */
export function simulateDeviceLoss(what = 'simulated'): void {
  if (!current) throw new DeviceError('simulateDeviceLoss: no device is open');
  if (!current.adapter) throw new DeviceError("simulateDeviceLoss: the device was handed to init() and is the caller's; only a device init() opened can be lost on purpose");
  if (lostReason !== undefined) return;
  const device = current.device;
  simulatedLosses.add(device);
  lostReason = `the WebGPU device was lost (${what})`;
  device.destroy();
  for (const listener of lostListeners) listener(lostReason);
}

/**
 * After a loss: lets go of everything made on the lost device (as shutdownDevice does), opens a
 * fresh adapter and device the way the lost one was opened (init's options, the same WebGPU entry
 * point), and gives every live tensor new storage on it (onDeviceReplaced: tensor.ts). The
 * tensors' values are gone, except where their owner left a host copy (setHostSource: the data
 * sets do); restore the rest, from a checkpoint, say: fit() does all of it. A device handed to
 * init() cannot be replaced here (it is the caller's): that throws a DeviceError.
 */
export async function replaceLostDevice(): Promise<Gpu> {
  const reason = lostReason;
  if (reason === undefined || !current) throw new DeviceError('replaceLostDevice: the device is not lost');
  if (!current.adapter) throw new DeviceError(`${reason}; it was handed to init({ device }), so a new one cannot be opened here: open one and call init({ device }) again`);
  const options = openedWith;
  for (const listener of closeListeners) {
    try {
      listener();
    } catch {
      // what is made on a lost device cannot fail to be let go of in any way that matters
    }
  }
  current = undefined;
  lostReason = undefined;
  const gpu = await init(options);
  for (const listener of replaceListeners) listener();
  return gpu;
}

/** Whether replaceLostDevice() can open a new device: init() opened the one in use (it was not handed in). */
export function deviceCanBeReplaced(): boolean {
  return current?.adapter !== undefined;
}

/**
 * Called when replaceLostDevice() has opened the new device (after the onDeviceOpen listeners):
 * whatever holds objects of the lost one makes them again on the new one. Returns a function that
 * removes the listener.
 */
export function onDeviceReplaced(listener: () => void): () => void {
  replaceListeners.push(listener);
  return () => {
    const i = replaceListeners.indexOf(listener);
    if (i >= 0) replaceListeners.splice(i, 1);
  };
}

/**
 * Called when the device is shut down, before it is let go: whatever holds objects of that device
 * (the buffer pool, the pipeline cache) drops them, so a later init() starts clean.
 */
export function onDeviceClose(listener: () => void): void {
  closeListeners.push(listener);
}

/**
 * Destroys the device, so a script's process can exit by itself (Dawn's instance is kept for a
 * later init()). A device handed to init() is left alone: it is the caller's. Tensors made on the
 * device are invalid afterwards.
 */
export function shutdownDevice(): void {
  if (current) for (const listener of closeListeners) listener();
  if (current?.adapter) current.device.destroy();
  current = undefined;
}
