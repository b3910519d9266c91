#!/usr/bin/env node
// Makes a checkout runnable: node packages installed, and a WebGPU adapter that Dawn can open.
// Every npm script runs this first, so it must cost almost nothing when all is in place: a
// successful adapter probe is cached under node_modules/.cache with a fingerprint of what the
// probe depended on, and the probe reruns only when that fingerprint changes.
//
// It runs before node_modules exists, so it may import nothing but Node's own modules.
//
//   node scripts/setup.mjs [--force] [--quiet] [--verbose] [--dry-run] [--browser]
//
//   --browser  also make sure a Chromium is there for the browser tests (tests/browser.test.ts):
//              $CHROMIUM_PATH, else /usr/bin/chromium, which Debian's chromium package provides
//   --force    probe the adapter again even if the cached probe still matches
//   --quiet    print nothing unless something is installed or wrong
//   --verbose  say what was checked, including on the fast path
//   --dry-run  print the install commands instead of running them
//
// Environment:
//   WEBGPU_BACKEND=vulkan|opengl|opengles   probe (and install for) only this backend
//   CHROMIUM_PATH=/path/to/chrome           with --browser: the browser to check for, instead of
//                                           /usr/bin/chromium (never installed, only checked)
//   WEBGPU_SETUP_SIMULATE_NO_ADAPTER=1      testing only: every probe finds no adapter (pair it
//                                           with --dry-run, or the install really runs)
//   WEBGPU_SETUP_SIMULATE_NOT_ROOT=1        testing only: behave as a non-root user
//   WEBGPU_SETUP_SIMULATE_ONLY_OPENGL=1     testing only: the default probe finds nothing and the
//                                           OpenGL one a made-up adapter (pair it with --dry-run)
//   WEBGPU_SETUP_SIMULATE_NO_CHROMIUM=1     testing only: with --browser, Chromium is missing (pair
//                                           it with --dry-run, or the install really runs)
// A simulated run never writes the probe cache.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Bump when the probe's logic changes, so caches written by an older probe are not trusted.
const PROBE_VERSION = 1;
const PROBE_TIMEOUT_MS = 120_000;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodeModules = path.join(repoRoot, 'node_modules');
const cacheFile = path.join(nodeModules, '.cache', 'webgpu-setup.json');

const KNOWN_FLAGS = ['--force', '--quiet', '--verbose', '--dry-run', '--browser', '--help'];
const flags = new Set(process.argv.slice(2));
for (const flag of flags) {
  if (!KNOWN_FLAGS.includes(flag)) fail(`unknown option ${flag} (known: ${KNOWN_FLAGS.join(' ')})`);
}
if (flags.has('--help')) {
  console.log('usage: node scripts/setup.mjs [--force] [--quiet] [--verbose] [--dry-run] [--browser]');
  process.exit(0);
}
const force = flags.has('--force');
const quiet = flags.has('--quiet');
const verbose = flags.has('--verbose') && !quiet;
const dryRun = flags.has('--dry-run');
const browser = flags.has('--browser');
const simulateNoAdapter = process.env.WEBGPU_SETUP_SIMULATE_NO_ADAPTER === '1';
const simulateNotRoot = process.env.WEBGPU_SETUP_SIMULATE_NOT_ROOT === '1';
const simulateOnlyOpenGl = process.env.WEBGPU_SETUP_SIMULATE_ONLY_OPENGL === '1';
// Not part of `simulating`: it changes nothing about the adapter, whose probe and cache stay real.
const simulateNoChromium = process.env.WEBGPU_SETUP_SIMULATE_NO_CHROMIUM === '1';
const simulating = simulateNoAdapter || simulateNotRoot || simulateOnlyOpenGl;

// Mesa complains on stderr about a missing runtime dir on headless machines; the children
// (probe, tests, examples) inherit this.
process.env.XDG_RUNTIME_DIR ||= '/tmp';

const BACKPORTS_SOURCE_FILE = '/etc/apt/sources.list.d/bookworm-backports.sources';
const BACKPORTS_SOURCE = [
  'Types: deb',
  'URIs: http://deb.debian.org/debian',
  'Suites: bookworm-backports',
  'Components: main',
  'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
  '',
].join('\n');

function say(message) {
  if (!quiet) console.log(`[setup] ${message}`);
}
function detail(message) {
  if (verbose) console.log(`[setup] ${message}`);
}
function fail(message) {
  console.error(`[setup] error: ${message}`);
  process.exit(1);
}

function exists(file) {
  return fs.existsSync(file);
}
function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
function mtimeOf(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}
function onPath(command) {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return dirs.some((dir) => exists(path.join(dir, command)));
}

// ---------------------------------------------------------------------------------------------
// Node packages

function dawnBinaryPath() {
  // Mirrors node_modules/webgpu/index.js: one prebuilt per platform, a universal one on macOS.
  const arch = process.platform === 'darwin' ? 'universal' : process.arch;
  return path.join(nodeModules, 'webgpu', 'dist', `${process.platform}-${arch}`, 'dawn.node');
}

/** Why node_modules needs a (re)install, or undefined when it looks complete and current. */
function nodeModulesProblem() {
  if (!exists(nodeModules)) return 'node_modules is missing';
  const pkg = readJson(path.join(repoRoot, 'package.json'));
  if (!pkg) fail(`cannot read ${path.join(repoRoot, 'package.json')}`);
  const direct = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
  for (const name of direct) {
    if (!exists(path.join(nodeModules, name, 'package.json'))) return `node_modules/${name} is missing`;
  }
  for (const entry of ['webgpu/index.js', 'uvu/bin.js', 'tsx/package.json']) {
    if (!exists(path.join(nodeModules, entry))) return `node_modules/${entry} is missing`;
  }
  if (!exists(dawnBinaryPath())) {
    return `${path.relative(repoRoot, dawnBinaryPath())} is missing (no Dawn build for this platform?)`;
  }
  return lockfileProblem();
}

function lockfileProblem() {
  const lockPath = path.join(repoRoot, 'package-lock.json');
  const installedPath = path.join(nodeModules, '.package-lock.json');
  if (!exists(lockPath)) return undefined;
  if (!exists(installedPath)) return 'node_modules/.package-lock.json is missing, so the install cannot be checked';
  if (mtimeOf(lockPath) <= mtimeOf(installedPath)) return undefined;
  // A checkout or a merge touches package-lock.json without changing it, so a newer mtime
  // alone would reinstall for nothing; compare what it pins with what npm recorded installing.
  const wanted = readJson(lockPath)?.packages;
  const installed = readJson(installedPath)?.packages;
  if (!wanted || !installed) return 'package-lock.json is newer than node_modules and cannot be compared';
  for (const [where, spec] of Object.entries(wanted)) {
    // "" is the project itself; optional entries are other platforms' binaries (esbuild's).
    if (where === '' || spec.optional) continue;
    const have = installed[where];
    if (!have) return `package-lock.json is newer than node_modules and lists ${where}, which is not installed`;
    if (have.version !== spec.version) {
      return `package-lock.json is newer than node_modules and pins ${where}@${spec.version}, installed ${have.version}`;
    }
  }
  return undefined;
}

function ensureNodeModules() {
  const problem = nodeModulesProblem();
  if (!problem) {
    detail('node_modules is complete');
    return;
  }
  const npmArgs = exists(path.join(repoRoot, 'package-lock.json')) ? ['ci'] : ['install'];
  console.log(`[setup] ${problem}: running npm ${npmArgs[0]}`);
  if (dryRun) {
    console.log(`[setup] dry run: would run: npm ${npmArgs.join(' ')}; stopping here, the adapter probe needs the packages`);
    process.exit(0);
  }
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, npmArgs, {
    cwd: repoRoot,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (result.error) fail(`could not run npm ${npmArgs[0]}: ${result.error.message} (is npm on PATH?)`);
  if (result.status !== 0) {
    fail(`npm ${npmArgs[0]} failed (exit ${result.status ?? result.signal}); see its output above`);
  }
  const stillWrong = nodeModulesProblem();
  if (stillWrong) fail(`after npm ${npmArgs[0]}, ${stillWrong}`);
}

// ---------------------------------------------------------------------------------------------
// WebGPU adapter

function libraryDirs() {
  const triplet = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];
  return [triplet && `/usr/lib/${triplet}`, '/usr/lib64', '/usr/lib', '/usr/local/lib'].filter(Boolean);
}

/**
 * Everything the probe's answer depends on. Directory mtimes change when dpkg (or anyone)
 * adds, removes or replaces a driver manifest; statSync follows the library symlinks, so an
 * upgraded library shows up as a different mtime.
 */
function environmentFingerprint() {
  const watched = [
    '/usr/share/vulkan/icd.d',
    '/etc/vulkan/icd.d',
    '/usr/local/share/vulkan/icd.d',
    '/usr/share/glvnd/egl_vendor.d',
  ];
  for (const dir of libraryDirs()) {
    for (const lib of ['libvulkan.so.1', 'libvulkan_lvp.so', 'libEGL.so', 'libEGL.so.1', 'libEGL_mesa.so.0']) {
      watched.push(path.join(dir, lib));
    }
  }
  const files = {};
  for (const file of watched) {
    const mtime = mtimeOf(file);
    if (mtime !== null) files[file] = mtime;
  }
  const env = {};
  // src/core/device.ts checks this cache against the same list (FINGERPRINT_ENV): keep them equal.
  for (const name of ['WEBGPU_BACKEND', 'VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES', 'EGL_PLATFORM', 'LD_LIBRARY_PATH']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  return {
    probeVersion: PROBE_VERSION,
    node: `${process.version} ${process.platform}-${process.arch}`,
    webgpu: readJson(path.join(nodeModules, 'webgpu', 'package.json'))?.version ?? null,
    dawnBinary: mtimeOf(dawnBinaryPath()),
    env,
    files,
  };
}

function requestedBackend() {
  const backend = process.env.WEBGPU_BACKEND;
  if (backend === undefined || backend === '') return undefined;
  const allowed = ['vulkan', 'opengl', 'opengles'];
  if (!allowed.includes(backend)) fail(`WEBGPU_BACKEND must be one of ${allowed.join(', ')} (got '${backend}')`);
  return backend;
}

/** The backends to try, in order. Dawn's own choice first; OpenGL works with stock Mesa. */
function probeAttempts(backend) {
  const gl = (name) => ({
    backend: name,
    dawnFlags: [`backend=${name}`],
    // Dawn only offers its GL backends as compatibility-mode adapters.
    featureLevel: 'compatibility',
    env: { EGL_PLATFORM: process.env.EGL_PLATFORM || 'surfaceless' },
  });
  if (backend === 'vulkan') return [{ backend, dawnFlags: ['backend=vulkan'], env: {} }];
  if (backend === 'opengl' || backend === 'opengles') return [gl(backend)];
  return [{ backend: 'default', dawnFlags: [], env: {} }, gl('opengl')];
}

// Runs in a separate node so that Dawn, which keeps a process alive while its instance exists,
// cannot hang this one, and so that a crash inside the driver is reported rather than fatal.
const PROBE_CHILD_SOURCE = `
const { create } = await import(process.env.WEBGPU_SETUP_MODULE_URL);
const dawnFlags = JSON.parse(process.env.WEBGPU_SETUP_DAWN_FLAGS);
const featureLevel = process.env.WEBGPU_SETUP_FEATURE_LEVEL || undefined;
const gpu = create(dawnFlags);
const adapter = await gpu.requestAdapter(featureLevel ? { featureLevel } : undefined);
const info = adapter && adapter.info;
const answer = info ? {
  vendor: info.vendor, architecture: info.architecture, device: info.device,
  description: info.description, isFallbackAdapter: info.isFallbackAdapter,
} : null;
console.log('WEBGPU_SETUP_RESULT ' + JSON.stringify(answer));
process.exit(0);
`;

function runProbeAttempt(attempt) {
  if (simulateNoAdapter) return { adapter: null, log: '(WEBGPU_SETUP_SIMULATE_NO_ADAPTER=1)' };
  if (simulateOnlyOpenGl) {
    if (attempt.backend !== 'opengl' && attempt.backend !== 'opengles') return { adapter: null, log: '(WEBGPU_SETUP_SIMULATE_ONLY_OPENGL=1)' };
    return { adapter: { vendor: '', architecture: '', device: 'llvmpipe (simulated)', description: 'simulated OpenGL adapter' }, log: '' };
  }
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE_CHILD_SOURCE], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: PROBE_TIMEOUT_MS,
    env: {
      ...process.env,
      ...attempt.env,
      WEBGPU_SETUP_MODULE_URL: pathToFileURL(path.join(nodeModules, 'webgpu', 'index.js')).href,
      WEBGPU_SETUP_DAWN_FLAGS: JSON.stringify(attempt.dawnFlags),
      WEBGPU_SETUP_FEATURE_LEVEL: attempt.featureLevel ?? '',
    },
  });
  const log = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  if (result.error) return { adapter: null, log: `${log}\n${result.error.message}`.trim() };
  const line = (result.stdout ?? '').split('\n').find((l) => l.startsWith('WEBGPU_SETUP_RESULT '));
  if (result.status !== 0 || !line) {
    return { adapter: null, log: `${log}\n(probe exited with ${result.status ?? result.signal})`.trim() };
  }
  return { adapter: JSON.parse(line.slice('WEBGPU_SETUP_RESULT '.length)), log };
}

function probe(backend) {
  const logs = [];
  for (const attempt of probeAttempts(backend)) {
    const { adapter, log } = runProbeAttempt(attempt);
    detail(`probe ${attempt.backend}: ${adapter ? adapter.description || adapter.device : 'no adapter'}`);
    if (adapter) {
      return { found: { backend: attempt.backend, featureLevel: attempt.featureLevel ?? 'core', adapter }, logs };
    }
    if (log) logs.push(`--- probe ${attempt.backend} ---\n${log}`);
  }
  return { found: undefined, logs };
}

function describe(found) {
  const a = found.adapter;
  const name = a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unnamed adapter';
  return `${name} (backend ${found.backend}, ${found.featureLevel})`;
}

function writeCache(fingerprint, found) {
  if (simulating) return;
  try {
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    // Write then rename, so two npm scripts starting together never read a half-written cache.
    const temporary = `${cacheFile}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, `${JSON.stringify({ fingerprint, ...found, probedAt: new Date().toISOString() }, null, 2)}\n`);
    fs.renameSync(temporary, cacheFile);
  } catch (error) {
    detail(`could not cache the probe (${error.message}); it will run again next time`);
  }
}

function changedKeys(before, after) {
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after)]);
  return [...keys].filter((k) => JSON.stringify(before?.[k]) !== JSON.stringify(after[k]));
}

function osRelease() {
  const fields = {};
  try {
    for (const line of fs.readFileSync('/etc/os-release', 'utf8').split('\n')) {
      const match = /^([A-Z_]+)=(.*)$/.exec(line);
      if (match) fields[match[1]] = match[2].replace(/^"(.*)"$/, '$1');
    }
  } catch {
    // No os-release: not a Linux we know how to install on.
  }
  return fields;
}

function hasBackportsSource() {
  const files = ['/etc/apt/sources.list'];
  try {
    for (const name of fs.readdirSync('/etc/apt/sources.list.d')) {
      if (name.endsWith('.list') || name.endsWith('.sources')) files.push(path.join('/etc/apt/sources.list.d', name));
    }
  } catch {
    // No sources.list.d: only sources.list counts.
  }
  return files.some((file) => {
    try {
      return fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .some((line) => !line.trimStart().startsWith('#') && /\bbookworm-backports\b/.test(line));
    } catch {
      return false;
    }
  });
}

/**
 * What to install for the backend that was asked for, as steps a root shell can run.
 * Debian 12's own Vulkan driver (Mesa 22.3) is too old for Dawn: it refuses the adapter
 * ("Vulkan shaderUniform*ArrayDynamicIndexing required"), hence backports there.
 */
function installPlan(backend) {
  const release = osRelease();
  const steps = [];
  if (backend === 'opengl' || backend === 'opengles') {
    steps.push({ argv: ['apt-get', 'update'] });
    // Dawn opens the unversioned libEGL.so, which only the -dev package provides.
    steps.push({ argv: ['apt-get', 'install', '-y', 'libegl1', 'libegl-dev', 'libegl-mesa0'], env: { DEBIAN_FRONTEND: 'noninteractive' } });
    return { summary: "Mesa's EGL libraries (libegl1 libegl-dev libegl-mesa0) for Dawn's OpenGL backend", steps };
  }
  const packages = ['mesa-vulkan-drivers', 'libvulkan1'];
  if (release.VERSION_CODENAME === 'bookworm') {
    if (!hasBackportsSource()) steps.push({ writeFile: BACKPORTS_SOURCE_FILE, content: BACKPORTS_SOURCE });
    steps.push({ argv: ['apt-get', 'update'] });
    steps.push({
      argv: ['apt-get', 'install', '-y', '-t', 'bookworm-backports', ...packages],
      env: { DEBIAN_FRONTEND: 'noninteractive' },
    });
    return { summary: "Mesa's software Vulkan driver (mesa-vulkan-drivers from bookworm-backports)", steps };
  }
  // Newer Debian and Ubuntu ship a Mesa recent enough for Dawn in their main archive.
  steps.push({ argv: ['apt-get', 'update'] });
  steps.push({ argv: ['apt-get', 'install', '-y', ...packages], env: { DEBIAN_FRONTEND: 'noninteractive' } });
  return { summary: "Mesa's software Vulkan driver (mesa-vulkan-drivers)", steps };
}

function shellQuote(word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function stepAsShell(step, sudo) {
  const prefix = sudo ? 'sudo ' : '';
  if (step.writeFile) {
    const printf = `printf ${shellQuote(step.content.replace(/\n/g, '\\n'))}`;
    return `${printf} | ${prefix}tee ${shellQuote(step.writeFile)} >/dev/null`;
  }
  const envWords = Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}`);
  const envPart = envWords.length ? (sudo ? `env ${envWords.join(' ')} ` : `${envWords.join(' ')} `) : '';
  return `${prefix}${envPart}${step.argv.map(shellQuote).join(' ')}`;
}

/** Runs one install step; exits with a message on failure unless asked to throw instead. */
function runStep(step, { throwOnError = false } = {}) {
  const failStep = (message) => {
    if (throwOnError) throw new Error(message);
    fail(message);
  };
  if (dryRun) {
    console.log(`[setup] dry run: would run: ${stepAsShell(step, false)}`);
    return;
  }
  if (step.writeFile) {
    console.log(`[setup] writing ${step.writeFile}`);
    try {
      fs.writeFileSync(step.writeFile, step.content);
    } catch (error) {
      failStep(`could not write ${step.writeFile}: ${error.message}`);
    }
    return;
  }
  console.log(`[setup] running: ${stepAsShell(step, false)}`);
  const result = spawnSync(step.argv[0], step.argv.slice(1), { stdio: 'inherit', env: { ...process.env, ...step.env } });
  if (result.error) failStep(`could not run ${step.argv[0]}: ${result.error.message}`);
  if (result.status !== 0) failStep(`${step.argv.join(' ')} failed (exit ${result.status ?? result.signal}); see its output above`);
}

function explainNonApt(backend) {
  const what =
    backend === 'opengl' || backend === 'opengles'
      ? "Mesa's EGL libraries (libEGL, including the unversioned libEGL.so Dawn opens, with the Mesa vendor)"
      : "the Vulkan loader and Mesa's lavapipe driver, Mesa 23 or newer";
  fail(
    [
      `no WebGPU adapter found, and this system has no apt-get, so it cannot be fixed automatically.`,
      `Install ${what}, for example:`,
      '  Fedora/RHEL: dnf install mesa-vulkan-drivers vulkan-loader',
      '  Arch:        pacman -S vulkan-swrast vulkan-icd-loader',
      '  Alpine:      apk add mesa-vulkan-swrast vulkan-loader',
      'then run this again (node scripts/setup.mjs). With a GPU, installing its Vulkan driver works too.',
    ].join('\n'),
  );
}

function isRoot() {
  return process.getuid?.() === 0 && !simulateNotRoot;
}

/** Whether this run may install Mesa's Vulkan driver itself (Linux, apt, root). */
function canInstall() {
  return process.platform === 'linux' && onPath('apt-get') && isRoot();
}

function hintVulkan() {
  if (process.platform !== 'linux' || !onPath('apt-get')) return;
  const sudo = onPath('sudo');
  say("Dawn's OpenGL adapter works but lacks GPU timestamps; for Mesa's Vulkan driver run" + (sudo ? '' : ' as root') + ':');
  for (const step of installPlan(undefined).steps) say(`  ${stepAsShell(step, sudo)}`);
}

function ensureAdapter() {
  const backend = requestedBackend();
  const fingerprint = environmentFingerprint();
  if (!force && !simulating) {
    const cached = readJson(cacheFile);
    if (cached && JSON.stringify(cached.fingerprint) === JSON.stringify(fingerprint)) {
      detail(`WebGPU adapter (cached ${cached.probedAt}): ${describe(cached)}`);
      return;
    }
    detail(cached ? `environment changed (${changedKeys(cached.fingerprint, fingerprint).join(', ')}): probing` : 'no cached probe: probing');
  }

  const first = probe(backend);
  // Only Dawn's OpenGL fallback answered (no backend was asked for). It works, but as a
  // 'compatibility' adapter without GPU timestamps (no per-kernel profile in the bench).
  const onlyOpenGl = first.found?.backend === 'opengl' && backend === undefined;
  if (first.found && !(onlyOpenGl && canInstall())) {
    writeCache(fingerprint, first.found);
    say(`WebGPU adapter: ${describe(first.found)}`);
    if (onlyOpenGl) hintVulkan();
    return;
  }
  if (first.found) {
    // As root, get the Vulkan one instead, keeping OpenGL if that fails.
    say(`only Dawn's OpenGL adapter was found (${describe(first.found)}); installing Mesa's Vulkan driver, which offers WebGPU's core features and GPU timestamps`);
    const plan = installPlan(undefined);
    try {
      for (const step of plan.steps) runStep(step, { throwOnError: true });
    } catch (error) {
      say(`${error.message}: keeping the OpenGL adapter`);
    }
    const second = dryRun ? { found: undefined } : probe(undefined);
    const found = second.found ?? first.found;
    writeCache(environmentFingerprint(), found);
    say(`WebGPU adapter: ${describe(found)}`);
    return;
  }
  if (verbose) for (const log of first.logs) console.log(log);

  if (process.platform !== 'linux') {
    fail(`no WebGPU adapter found${backend ? ` for WEBGPU_BACKEND=${backend}` : ''}; on ${process.platform} Dawn needs the GPU's own driver (Metal or D3D12). Probe output:\n${first.logs.join('\n')}`);
  }
  if (!onPath('apt-get')) explainNonApt(backend);

  const plan = installPlan(backend);
  if (!isRoot()) {
    const sudo = onPath('sudo');
    fail(
      [
        `No WebGPU adapter found, and installing ${plan.summary} needs root. Run${sudo ? '' : ' as root'}:`,
        ...plan.steps.map((step) => `  ${stepAsShell(step, sudo)}`),
        'then run this again (node scripts/setup.mjs, or any npm script).',
      ].join('\n'),
    );
  }

  console.log(`[setup] No WebGPU adapter found: installing ${plan.summary} so WebGPU can run on the CPU`);
  for (const step of plan.steps) runStep(step);
  if (dryRun) {
    console.log('[setup] dry run: nothing was installed, so the adapter was not probed again');
    return;
  }

  const second = probe(backend);
  if (!second.found) {
    fail(`still no WebGPU adapter after installing ${plan.summary}. Probe output:\n${second.logs.join('\n') || '(none)'}`);
  }
  writeCache(environmentFingerprint(), second.found);
  say(`WebGPU adapter: ${describe(second.found)}`);
}

// ---------------------------------------------------------------------------------------------
// Chromium, for the browser tests (--browser)

// tests/browser-kit.ts launches the same path: keep the two equal.
const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/**
 * Debian's chromium package puts its launcher at /usr/bin/chromium, and its SwiftShader gives
 * WebGPU on the CPU. Ubuntu's package of that name only installs a snap, which containers
 * cannot run, so there (and off apt) this only says what to do.
 */
function ensureChromium() {
  const override = process.env.CHROMIUM_PATH || undefined;
  const wanted = override ?? DEFAULT_CHROMIUM;
  if (!simulateNoChromium && exists(wanted)) {
    detail(`Chromium for the browser tests: ${wanted}`);
    return;
  }
  if (override) {
    fail(`CHROMIUM_PATH=${override} does not exist; point it at a Chromium or Chrome binary, or unset it to use ${DEFAULT_CHROMIUM}${process.platform === 'linux' ? " (Debian's chromium package, which this script installs as root)" : ''}`);
  }
  const release = osRelease();
  const debian = release.ID === 'debian';
  if (process.platform !== 'linux' || !onPath('apt-get') || !debian) {
    fail(
      [
        `the browser tests need Chromium and ${DEFAULT_CHROMIUM} is missing, which this script can install only on Debian.`,
        'Install Chromium or Chrome and set CHROMIUM_PATH to its binary, for example:',
        "  macOS:  CHROMIUM_PATH='/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'",
        '  Linux:  CHROMIUM_PATH=/usr/bin/google-chrome',
        'then run this again (npm test).',
      ].join('\n'),
    );
  }
  const steps = [
    { argv: ['apt-get', 'update'] },
    { argv: ['apt-get', 'install', '-y', 'chromium'], env: { DEBIAN_FRONTEND: 'noninteractive' } },
  ];
  if (!isRoot()) {
    const sudo = onPath('sudo');
    fail(
      [
        `the browser tests need Chromium (${DEFAULT_CHROMIUM} is missing), and installing it needs root. Run${sudo ? '' : ' as root'}:`,
        ...steps.map((step) => `  ${stepAsShell(step, sudo)}`),
        'then run this again (npm test), or set CHROMIUM_PATH to a Chromium or Chrome you have.',
      ].join('\n'),
    );
  }
  console.log(`[setup] ${DEFAULT_CHROMIUM} is missing: installing Debian's chromium for the browser tests (WebGPU through its SwiftShader)`);
  for (const step of steps) runStep(step);
  if (dryRun) {
    console.log('[setup] dry run: nothing was installed');
    return;
  }
  if (!exists(DEFAULT_CHROMIUM)) fail(`apt-get installed chromium, but ${DEFAULT_CHROMIUM} is still missing`);
  say(`Chromium for the browser tests: ${DEFAULT_CHROMIUM}`);
}

ensureNodeModules();
ensureAdapter();
if (browser) ensureChromium();
