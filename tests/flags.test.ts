import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFlags, parseFlagsOrExit, usage, FlagError, kebabCase, type FlagSpecs } from '../src/io/flags.ts';
import { EpochProgress, formatDuration } from '../src/io/progress.ts';

const SPECS = {
  epochs: { type: 'int', default: 3, min: 1, help: 'passes' },
  batchSize: { type: 'int', default: 128, min: 1, help: 'images per step' },
  lr: { type: 'number', default: 1e-3, min: 0, exclusiveMin: true, help: 'learning rate' },
  limit: { type: 'int', min: 1, help: 'first N images' },
  out: { type: 'string', default: 'out/mlp', help: 'folder' },
  verbose: { type: 'boolean', help: 'say more' },
  mode: { type: 'choice', choices: ['fast', 'exact'], default: 'fast', help: 'which path' },
} as const satisfies FlagSpecs;

test('parses every form into typed values, with defaults', () => {
  const d = parseFlags([], SPECS);
  assert.equal(d, { epochs: 3, batchSize: 128, lr: 1e-3, limit: undefined, out: 'out/mlp', verbose: false, mode: 'fast' });
  const f = parseFlags(['--epochs', '5', '--batch-size=64', '--lr', '3e-4', '--limit', '2000', '--out', 'x/y', '--verbose', '--mode=exact'], SPECS);
  assert.equal(f, { epochs: 5, batchSize: 64, lr: 3e-4, limit: 2000, out: 'x/y', verbose: true, mode: 'exact' });
  assert.is(parseFlags(['--verbose', '--no-verbose'], SPECS).verbose, false);
  assert.is(parseFlags(['--no-verbose', '--verbose'], SPECS).verbose, true);
  // Any other repeat is a contradiction, not "the last one wins".
  assert.throws(() => parseFlags(['--epochs', '2', '--epochs=3'], SPECS), /--epochs is given twice/);
  assert.throws(() => parseFlags(['--verbose', '--verbose'], SPECS), /--verbose is given twice/);
  assert.throws(() => parseFlags(['--mode', 'fast', '--mode', 'fast'], SPECS), /--mode is given twice/);
  assert.is(parseFlags(['--verbose=false'], SPECS).verbose, false);
  assert.is(kebabCase('batchSize'), 'batch-size');
});

test('mistakes become one-line FlagErrors', () => {
  const cases: [string[], RegExp][] = [
    [['--epoch', '3'], /unknown flag --epoch \(did you mean --epochs\?\)/],
    [['--epochs'], /--epochs needs a value/],
    [['--epochs', '--verbose'], /--epochs needs a value/],
    [['--epochs', 'three'], /--epochs needs a number, got 'three'/],
    [['--epochs', '1.5'], /--epochs needs a whole number/],
    [['--epochs', '0'], /--epochs must be at least 1, got 0/],
    [['--lr', '0'], /--lr must be greater than 0/],
    [['--lr', ''], /--lr needs a number/],
    [['--mode', 'slow'], /--mode must be one of fast, exact, got 'slow'/],
    [['--verbose=maybe'], /--verbose takes no value or true\/false/],
    [['train'], /unexpected argument 'train'/],
  ];
  for (const [argv, message] of cases) {
    try {
      parseFlags(argv, SPECS);
      assert.unreachable(`${argv.join(' ')} was accepted`);
    } catch (error) {
      assert.instance(error, FlagError, `${argv.join(' ')}: ${String(error)}`);
      assert.match((error as Error).message, message);
    }
  }
  assert.throws(() => parseFlags([], { digit: { type: 'int', required: true, help: 'which digit' } }), /--digit is required/);
});

test('parseFlagsOrExit: a mistake prints one line and the usage to stderr and exits 2', () => {
  const written: string[] = [];
  const realExit = process.exit;
  const realWrite = process.stderr.write;
  let code: number | undefined;
  process.exit = ((c?: number) => {
    code = c;
    throw new Error('exit');
  }) as typeof process.exit;
  process.stderr.write = ((s: string) => (written.push(s), true)) as typeof process.stderr.write;
  try {
    assert.throws(() => parseFlagsOrExit(SPECS, { program: 'train-mlp' }, ['--epochs', 'x']), /exit/);
  } finally {
    process.exit = realExit;
    process.stderr.write = realWrite;
  }
  assert.is(code, 2);
  assert.match(written.join(''), /^error: --epochs needs a number, got 'x'\n\nusage: train-mlp/);
  assert.not.match(written.join(''), /at parseFlags/);
  assert.is(parseFlagsOrExit(SPECS, { program: 'x' }, ['--epochs', '2']).epochs, 2);
});

test('usage lists every flag with its default', () => {
  const text = usage(SPECS, { program: 'train-mlp', description: 'Trains.' });
  assert.match(text, /^usage: train-mlp \[flags\]/);
  assert.match(text, /--batch-size N\s+images per step \(default 128\)/);
  assert.match(text, /--mode fast\|exact\s+which path \(default fast\)/);
  assert.match(text, /--verbose\s+say more\n/);
  assert.match(text, /-h, --help/);
});

test('progress prints plain lines about every 10% when not on a terminal', () => {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WriteStream;
  const bar = new EpochProgress({ epoch: 1, epochs: 3, total: 1000, stream });
  for (let done = 50; done <= 1000; done += 50) bar.update(done, done % 100 === 0 ? 2 - done / 1000 : undefined);
  bar.finish('test accuracy 90.00%');
  assert.ok(lines.length >= 8 && lines.length <= 11, `${lines.length} lines`);
  assert.match(lines[0], /^epoch 1\/3 +10% 100\/1000 loss 1\.9000 \d+ img\/s ETA \S+\n$/);
  assert.match(lines[lines.length - 1], /^epoch 1\/3 done in \d+s: loss 1\.0000, \d+ img\/s, test accuracy 90\.00%\n$/);
  assert.is(formatDuration(75), '1m15s');
  assert.is(formatDuration(3700), '1h01m');
});

test('a resumed epoch counts only the images trained since it resumed in its img/s', async () => {
  const stream = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
  const resumed = new EpochProgress({ epoch: 2, epochs: 3, total: 60000, stream, startAt: 50000 });
  const fresh = new EpochProgress({ epoch: 2, epochs: 3, total: 60000, stream });
  await new Promise((resolve) => setTimeout(resolve, 50));
  resumed.update(50100, 1);
  fresh.update(100, 1);
  resumed.stop();
  fresh.stop();
  // 100 images in about 50 ms either way (the resumed bar once claimed 50,100 in that time).
  assert.ok(resumed.imagesPerSecond < 3000, `resumed: ${resumed.imagesPerSecond} img/s`);
  assert.ok(Math.abs(resumed.imagesPerSecond - fresh.imagesPerSecond) / fresh.imagesPerSecond < 0.5, `${resumed.imagesPerSecond} vs ${fresh.imagesPerSecond}`);
});

test.run();
