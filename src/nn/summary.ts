// Module.summary(): Keras's model.summary() table — each layer's name and type, output shape and
// parameter count, then the totals — for any module.
//
// Output shapes come from one of two places, and the table says which:
//  - inferred: every module on the way knows its outputShape(inputShape) (the layers of src/nn
//    and Sequential do), so nothing runs on the GPU;
//  - traced: otherwise (a custom module's forward is code we cannot read), one forward pass on
//    zeros with a batch of 1, in eval mode (BatchNorm uses its moving statistics and updates
//    nothing, Dropout draws no mask), inside noGrad and tidy, so it trains nothing and leaks
//    nothing; the training flags are restored afterwards.
// Either way each module's outputShape or forward is wrapped for the duration, on the instance,
// to record what it returns, and unwrapped after, even when it throws.

import type { Module } from './module.ts';
import type { Tensor, Shape } from '../core/tensor.ts';
import { zeros } from '../core/creation.ts';
import { noGrad } from '../core/autograd.ts';
import { tidy } from '../core/scope.ts';
import { checkOptions, knownOptions } from '../core/options.ts';

/** An input shape for summary(): the first entry may be null, meaning any batch size. */
export type SummaryInputShape = readonly (number | null)[];

export interface SummaryOptions {
  /** Prints the table (default console.log); null prints nothing (summary() returns it anyway). */
  printFn?: ((text: string) => void) | null;
}

/** How a row's output shape was found. */
type ShapeSource = 'inferred' | 'traced' | 'none';

interface Row {
  name: string;
  type: string;
  depth: number;
  module: Module;
}

function checkInputShape(shape: SummaryInputShape): void {
  if (!Array.isArray(shape) || shape.length === 0) throw new RangeError('summary: inputShape must be a non-empty array such as [null, 28, 28, 1]');
  shape.forEach((d, i) => {
    if (d === null && i === 0) return;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) {
      throw new RangeError(`summary: inputShape [${shape.map(String).join(', ')}] must hold positive integers (null is allowed first, for the batch)`);
    }
  });
}

/** Replaces a method on one instance for a while; the returned function puts it back. */
function intercept<K extends 'forward' | 'outputShape'>(m: Module, key: K, wrap: (original: Module[K]) => Module[K]): () => void {
  const own = Object.getOwnPropertyDescriptor(m, key);
  const original = m[key].bind(m) as Module[K];
  Object.defineProperty(m, key, { value: wrap(original), configurable: true, writable: true });
  return () => {
    if (own) Object.defineProperty(m, key, own);
    else Reflect.deleteProperty(m, key);
  };
}

/** Runs `body` with every module's `key` recording the shapes it returns. */
function recordShapes<K extends 'forward' | 'outputShape'>(modules: readonly Module[], key: K, body: () => void): Map<Module, Shape[]> {
  const seen = new Map<Module, Shape[]>();
  const restore: (() => void)[] = [];
  try {
    for (const m of new Set(modules)) {
      seen.set(m, []);
      restore.push(
        intercept(m, key, (original) => {
          const wrapped = (...args: never[]) => {
            const out = (original as (...a: never[]) => Tensor | Shape | undefined)(...args);
            const shape = out === undefined ? undefined : 'shape' in out ? out.shape : out;
            if (shape) seen.get(m)!.push([...shape]);
            return out;
          };
          return wrapped as unknown as Module[K];
        }),
      );
    }
    body();
  } finally {
    for (const r of restore.reverse()) r();
  }
  return seen;
}

function traceShapes(root: Module, modules: readonly Module[], input: Shape): Map<Module, Shape[]> {
  const flags = [root, ...modules].map((m) => [m, m.training] as const);
  try {
    root.eval();
    return recordShapes(modules.length ? modules : [root], 'forward', () => {
      noGrad(() => tidy(() => void root.forward(zeros(input))));
    });
  } finally {
    for (const [m, training] of flags) m.training = training;
  }
}

function shapeText(shapes: Shape[] | undefined, anyBatch: boolean): string {
  if (!shapes || shapes.length === 0) return '?';
  const texts = new Set(shapes.map((s) => `[${s.map((d, i) => (i === 0 && anyBatch ? 'null' : String(d))).join(', ')}]`));
  return texts.size === 1 ? [...texts][0] : 'multiple';
}

function count(tensors: readonly (readonly [string, Tensor])[]): number {
  return tensors.reduce((n, [, t]) => n + t.size, 0);
}

function bytesText(scalars: number): string {
  const bytes = scalars * 4;
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(2)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(2)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

const thousands = (n: number) => n.toLocaleString('en-US');

const SUMMARY_OPTIONS = knownOptions<SummaryOptions>({ printFn: true });

export function summarize(root: Module, inputShape: SummaryInputShape | undefined, options: SummaryOptions): string {
  checkOptions('summary', options, SUMMARY_OPTIONS);
  if (inputShape !== undefined) checkInputShape(inputShape);
  const named = root.namedModules();
  const rows: Row[] = named.length
    ? named.map(([name, m]) => ({ name: name.split('.').at(-1)!, type: m.constructor.name, depth: name.split('.').length - 1, module: m }))
    : [{ name: '(itself)', type: root.constructor.name, depth: 0, module: root }];
  const modules = named.map(([, m]) => m);

  let shapes = new Map<Module, Shape[]>();
  let source: ShapeSource = 'none';
  let output: Shape | undefined;
  const anyBatch = inputShape?.[0] === null;
  if (inputShape) {
    const input = inputShape.map((d) => d ?? 1);
    shapes = recordShapes([root, ...modules], 'outputShape', () => {
      output = root.outputShape(input);
    });
    if (output) source = 'inferred';
    else {
      shapes = traceShapes(root, modules, input);
      source = 'traced';
    }
  }

  const table = rows.map((r) => {
    const params = r.module.namedParameters();
    return [
      `${'  '.repeat(r.depth)}${r.name} (${r.type})`,
      shapeText(shapes.get(r.module), anyBatch),
      thousands(count(params) + count(r.module.namedBuffers())),
    ];
  });
  const header = ['Layer (type)', 'Output Shape', 'Param #'];
  const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => row[c].length)) + 3);
  const line = (cells: string[]) => ' ' + cells.map((cell, c) => (c === 2 ? cell : cell.padEnd(widths[c]))).join('').trimEnd();
  const total = widths.reduce((a, b) => a + b, 1);
  const params = root.namedParameters();
  const trainable = count(params.filter(([, t]) => t.requiresGrad));
  const nonTrainable = count(params.filter(([, t]) => !t.requiresGrad)) + count(root.namedBuffers());
  const text = [
    `Model: ${root.constructor.name}` + (inputShape ? `, input [${inputShape.map((d) => (d === null ? 'null' : String(d))).join(', ')}]` : ''),
    '_'.repeat(total),
    line(header),
    '='.repeat(total),
    ...table.map(line),
    '='.repeat(total),
    `Total params: ${thousands(trainable + nonTrainable)} (${bytesText(trainable + nonTrainable)})`,
    `Trainable params: ${thousands(trainable)} (${bytesText(trainable)})`,
    `Non-trainable params: ${thousands(nonTrainable)} (${bytesText(nonTrainable)})`,
    '_'.repeat(total),
    source === 'inferred'
      ? `Output shapes inferred without running the model; output ${shapeText(output ? [output] : undefined, anyBatch)}.`
      : source === 'traced'
        ? 'Output shapes traced by one forward pass on zeros (batch 1, eval mode, no gradients).'
        : 'Output shapes: give summary() an input shape, such as [null, 28, 28, 1].',
  ].join('\n');
  const printFn = options.printFn === undefined ? console.log : options.printFn;
  printFn?.(text);
  return text;
}
