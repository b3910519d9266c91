// Command-line flags of `npm run bench`, through the project's flag parser (src/io/flags.ts);
// `--compare OLD NEW` takes two values, which that parser does not do, so it is taken out first.
// Every mistake is answered with one line and the usage text, exit status 2 (see index.ts).

import { FlagError, parseFlags, usage } from '../src/io/flags.ts';

const SPECS = {
  filter: { type: 'string', placeholder: 'TEXT', help: 'only rows whose group, kernel, variant or shape contain TEXT (any case)' },
  sizes: { type: 'string', placeholder: 'LIST', help: 'square matmul sizes of the ladder, comma-separated (default 256,512,1024,2048; --quick: 256)' },
  variant: { type: 'string', placeholder: 'NAME', help: 'only this variant: of the matmul ladder naive, tiled, blocked, vec4, direct, or auto (the per-shape choice ops use); of the convolutions naive, direct, subgroup (where the device has subgroups), blocked, or auto (the kernel policy\'s choice, the default)' },
  reps: { type: 'int', min: 1, placeholder: 'N', help: 'exactly N timed repetitions per row (default: as many as fit ~1.5 s, within 5–200)' },
  quick: { type: 'boolean', help: 'a small subset with short time budgets: seconds (npm test runs it)' },
  peer: { type: 'choice', choices: ['tfjs'], help: "also run each operation in TensorFlow.js's WebGPU backend on the same adapter; print ours / theirs (both wall clock)" },
  train: { type: 'boolean', default: true, help: 'profile training steps (--no-train skips them)' },
  json: { type: 'string', placeholder: 'FILE', help: 'write every figure, the adapter, the date and the git commit to FILE' },
} as const;

export const USAGE =
  usage(SPECS, {
    program: 'npm run bench --',
    description:
      'Verifies every kernel against its float64 reference, then times it (median and p10–p90 of many\n' +
      'repetitions; GPU timestamps where the adapter has them), and profiles training steps.',
  }) + '\n  --compare OLD NEW  print per-row speed-ups between two --json records, and exit';

export interface BenchArgs {
  quick: boolean;
  filter?: string;
  sizes?: number[];
  variant?: string;
  reps?: number;
  peer?: 'tfjs';
  train: boolean;
  json?: string;
  compare?: [string, string];
  help: boolean;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[]): BenchArgs {
  const rest = [...argv];
  let compare: [string, string] | undefined;
  const at = rest.findIndex((a) => a === '--compare' || a.startsWith('--compare='));
  if (at >= 0) {
    const [oldFile, newFile] = [rest[at + 1], rest[at + 2]];
    if (rest[at] !== '--compare' || !oldFile || !newFile || oldFile.startsWith('--') || newFile.startsWith('--')) {
      throw new UsageError('--compare takes two files: --compare OLD.json NEW.json');
    }
    compare = [oldFile, newFile];
    rest.splice(at, 3);
  }
  const help = rest.includes('--help') || rest.includes('-h');
  if (help) return { quick: false, train: true, help: true, compare };
  let flags;
  try {
    flags = parseFlags(rest, SPECS);
  } catch (e) {
    if (e instanceof FlagError) throw new UsageError(e.message);
    throw e;
  }
  let sizes: number[] | undefined;
  if (flags.sizes !== undefined) {
    const list = flags.sizes.split(',').map((s) => s.trim()).filter(Boolean);
    sizes = list.map(Number);
    if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 8192)) {
      throw new UsageError(`--sizes wants positive integers up to 8192, comma-separated; got '${flags.sizes}'`);
    }
  }
  return {
    quick: flags.quick,
    filter: flags.filter,
    sizes,
    variant: flags.variant,
    reps: flags.reps,
    peer: flags.peer,
    train: flags.train,
    json: flags.json,
    compare,
    help: false,
  };
}
