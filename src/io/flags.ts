// Command-line flags for the example scripts: declared once as a typed spec, parsed into a typed
// object, with help text generated from the spec and mistakes reported in one line plus usage
// (exit code 2), never as a stack trace.
//
//   const flags = parseFlagsOrExit({
//     epochs: { type: 'int', default: 3, min: 1, help: 'passes over the training set' },
//     lr: { type: 'number', default: 1e-3, min: 0, exclusiveMin: true, help: 'learning rate' },
//     out: { type: 'string', default: 'out/mlp', help: 'output folder' },
//     verbose: { type: 'boolean', help: 'print the adapter' },
//   }, { program: 'train-mlp', description: 'Trains an MLP on MNIST.' });
//   flags.epochs; // number
//
// Keys are camelCase; on the command line they are kebab-case (batchSize → --batch-size).
// Accepted forms: --name value, --name=value, --flag / --no-flag for booleans, -h / --help.

interface SpecBase {
  help: string;
  /** Shown in the usage line instead of the type (e.g. 'N', 'DIR'). */
  placeholder?: string;
}
export interface IntFlag extends SpecBase {
  type: 'int';
  default?: number;
  required?: boolean;
  min?: number;
  max?: number;
}
export interface NumberFlag extends SpecBase {
  type: 'number';
  default?: number;
  required?: boolean;
  min?: number;
  max?: number;
  /** min itself is not allowed (e.g. a learning rate must be > 0). */
  exclusiveMin?: boolean;
}
export interface StringFlag extends SpecBase {
  type: 'string';
  default?: string;
  required?: boolean;
}
export interface BooleanFlag extends SpecBase {
  type: 'boolean';
  default?: boolean;
}
export interface ChoiceFlag<C extends string = string> extends SpecBase {
  type: 'choice';
  choices: readonly C[];
  default?: C;
  required?: boolean;
}
export type FlagSpec = IntFlag | NumberFlag | StringFlag | BooleanFlag | ChoiceFlag;
export type FlagSpecs = Record<string, FlagSpec>;

type Present<S> = S extends { default: unknown } ? true : S extends { required: true } ? true : false;
type Base<S> = S extends { type: 'boolean' }
  ? boolean
  : S extends { type: 'choice'; choices: readonly (infer C)[] }
    ? C
    : S extends { type: 'int' | 'number' }
      ? number
      : string;
type FlagValue<S> = S extends { type: 'boolean' } ? boolean : Present<S> extends true ? Base<S> : Base<S> | undefined;

/** The parsed flags: one typed property per spec entry. */
export type Flags<T extends FlagSpecs> = { -readonly [K in keyof T]: FlagValue<T[K]> };

export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

export function kebabCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

function parseValue(name: string, spec: FlagSpec, raw: string): number | string | boolean {
  switch (spec.type) {
    case 'boolean': {
      if (/^(true|1|yes)$/i.test(raw)) return true;
      if (/^(false|0|no)$/i.test(raw)) return false;
      throw new FlagError(`--${name} takes no value or true/false, got '${raw}'`);
    }
    case 'choice':
      if (!spec.choices.includes(raw)) throw new FlagError(`--${name} must be one of ${spec.choices.join(', ')}, got '${raw}'`);
      return raw;
    case 'string':
      return raw;
    case 'int':
    case 'number': {
      const value = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(value)) throw new FlagError(`--${name} needs a number, got '${raw}'`);
      if (spec.type === 'int' && !Number.isInteger(value)) throw new FlagError(`--${name} needs a whole number, got '${raw}'`);
      const exclusive = spec.type === 'number' && spec.exclusiveMin;
      if (spec.min !== undefined && (exclusive ? value <= spec.min : value < spec.min)) {
        throw new FlagError(`--${name} must be ${exclusive ? 'greater than' : 'at least'} ${spec.min}, got ${raw}`);
      }
      if (spec.max !== undefined && value > spec.max) throw new FlagError(`--${name} must be at most ${spec.max}, got ${raw}`);
      return value;
    }
  }
}

/** Parses `argv` (without node and the script) against `specs`; throws FlagError on mistakes. */
export function parseFlags<const T extends FlagSpecs>(argv: readonly string[], specs: T): Flags<T> {
  return parseFlagsGiven(argv, specs).flags;
}

/**
 * parseFlags, also telling which flags the command line named (a default is not a choice: a
 * script rejects a flag that does not apply only when it was given). A flag given twice is a
 * mistake (`npm run train:vae -- --model gan` must not quietly train a GAN).
 */
export function parseFlagsGiven<const T extends FlagSpecs>(argv: readonly string[], specs: T): { flags: Flags<T>; given: ReadonlySet<keyof T & string> } {
  const given = new Set<keyof T & string>();
  const byName = new Map<string, [string, FlagSpec]>();
  for (const [key, spec] of Object.entries(specs)) byName.set(kebabCase(key), [key, spec]);
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) values[key] = spec.type === 'boolean' ? (spec.default ?? false) : spec.default;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      throw new FlagError(`unexpected argument '${arg}' (flags start with --)`);
    }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let inline: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let entry = byName.get(name);
    if (!entry && name.startsWith('no-') && byName.get(name.slice(3))?.[1].type === 'boolean' && inline === undefined) {
      name = name.slice(3);
      entry = byName.get(name);
      inline = 'false';
    }
    if (!entry) {
      const known = [...byName.keys()];
      const close = known.filter((k) => editDistance(k, name) <= 2).sort((a, b) => editDistance(a, name) - editDistance(b, name));
      throw new FlagError(`unknown flag --${name}${close.length ? ` (did you mean --${close[0]}?)` : ''}`);
    }
    const [key, spec] = entry;
    // A repeat is a contradiction (which one was meant?), except the boolean idiom where a later
    // --no-x undoes an earlier --x (or the reverse), as a script's fixed flags may be overridden.
    const negation = spec.type === 'boolean' && inline === 'false' && arg.startsWith('--no-');
    const earlierNegation = spec.type === 'boolean' && values[key] === false && given.has(key);
    if (given.has(key) && !negation && !earlierNegation) throw new FlagError(`--${name} is given twice; give it once`);
    given.add(key);
    let raw = inline;
    if (raw === undefined) {
      if (spec.type === 'boolean') raw = 'true';
      else {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new FlagError(`--${name} needs a value`);
        raw = next;
        i++;
      }
    }
    values[key] = parseValue(name, spec, raw);
  }
  for (const [key, spec] of Object.entries(specs)) {
    if ('required' in spec && spec.required && values[key] === undefined) throw new FlagError(`--${kebabCase(key)} is required`);
  }
  return { flags: values as Flags<T>, given };
}

export interface UsageInfo {
  /** Command a person types, e.g. 'npm run train:mlp --' or 'tsx examples/train-mlp.ts'. */
  program: string;
  description?: string;
}

/** The help text: a usage line, the description, and one line per flag with its default. */
export function usage(specs: FlagSpecs, info: UsageInfo): string {
  const rows = Object.entries(specs).map(([key, spec]) => {
    const name = kebabCase(key);
    const placeholder =
      spec.placeholder ?? (spec.type === 'boolean' ? '' : spec.type === 'choice' ? spec.choices.join('|') : spec.type === 'string' ? 'TEXT' : 'N');
    const left = `  --${name}${placeholder ? ` ${placeholder}` : ''}`;
    const extra: string[] = [];
    if ('default' in spec && spec.default !== undefined && spec.type !== 'boolean') extra.push(`default ${spec.default}`);
    if ('required' in spec && spec.required) extra.push('required');
    return [left, `${spec.help}${extra.length ? ` (${extra.join(', ')})` : ''}`];
  });
  rows.push(['  -h, --help', 'show this help']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return [
    `usage: ${info.program} [flags]`,
    ...(info.description ? ['', info.description] : []),
    '',
    'flags:',
    ...rows.map(([l, r]) => l.padEnd(width) + r),
  ].join('\n');
}

/**
 * parseFlags for scripts: --help prints the usage and exits 0; a mistake prints one line and
 * the usage to stderr and exits 2.
 */
export function parseFlagsOrExit<const T extends FlagSpecs>(specs: T, info: UsageInfo, argv: readonly string[] = process.argv.slice(2)): Flags<T> {
  return parseFlagsGivenOrExit(specs, info, argv).flags;
}

/** parseFlagsGiven for scripts, with parseFlagsOrExit's --help and mistakes. */
export function parseFlagsGivenOrExit<const T extends FlagSpecs>(specs: T, info: UsageInfo, argv: readonly string[] = process.argv.slice(2)): { flags: Flags<T>; given: ReadonlySet<keyof T & string> } {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage(specs, info) + '\n');
    process.exit(0);
  }
  try {
    return parseFlagsGiven(argv, specs);
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    exitWithFlagError(error.message, specs, info);
  }
}

/** A mistake on the command line found after parsing: one line and the usage on stderr, exit 2. */
export function exitWithFlagError(message: string, specs: FlagSpecs, info: UsageInfo): never {
  process.stderr.write(`error: ${message}\n\n${usage(specs, info)}\n`);
  process.exit(2);
}
