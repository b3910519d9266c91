// Options checked by name, across the public API: every entry point that takes an options object
// refuses an unknown key with a TypeError naming it, the function or class, and the nearest known
// key. The calls pass no real tensors or models: the check comes before any other work, GPU included.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkOptions, knownOptions, nearestOption } from '../src/core/options.ts';
import * as api from '../src/node.ts';

const none = undefined as never;

/** [entry point, a call with a misspelt key, the key, the suggestion] */
const ENTRIES: [string, () => unknown, string, string][] = [
  ['init', () => api.init({ tunes: 'off' } as never), 'tunes', 'tune'],
  ['tensor', () => api.tensor([1], [1], { dtyp: 'f32' } as never), 'dtyp', 'dtype'],
  ['zeros', () => api.zeros([1], { requiresgrad: true } as never), 'requiresgrad', 'requiresGrad'],
  ['ones', () => api.ones([1], { dtypes: 'f32' } as never), 'dtypes', 'dtype'],
  ['full', () => api.full([1], 1, { dtypes: 'f32' } as never), 'dtypes', 'dtype'],
  ['rand', () => api.rand([1], { hi: 2 } as never), 'hi', 'high'],
  ['randn', () => api.randn([1], { stddev: 2 } as never), 'stddev', 'std'],
  ['sum', () => api.sum(none, 0, { keepdims: true } as never), 'keepdims', 'keepDims'],
  ['mean', () => api.mean(none, 0, { keepdim: true } as never), 'keepdim', 'keepDims'],
  ['max', () => api.max(none, 0, { keepdims: true } as never), 'keepdims', 'keepDims'],
  ['conv2d', () => api.conv2d(none, none, { strides: 2 } as never), 'strides', 'stride'],
  ['conv2dTranspose', () => api.conv2dTranspose(none, none, { paddings: 'same' } as never), 'paddings', 'padding'],
  ['dropout', () => api.dropout(none, 0.5, { train: true } as never), 'train', 'training'],
  ['batchNorm', () => api.batchNorm(none, none, none, { eps: 1e-5 } as never), 'eps', 'epsilon'],
  ['mseLoss', () => api.mseLoss(none, 0, { reduce: 'sum' } as never), 'reduce', 'reduction'],
  ['binaryCrossEntropyWithLogits', () => api.binaryCrossEntropyWithLogits(none, 0, { reductions: 'sum' } as never), 'reductions', 'reduction'],
  ['crossEntropy', () => api.crossEntropy(none, none, { reductio: 'sum' } as never), 'reductio', 'reduction'],
  ['Dense', () => new api.nn.Dense({ inFeatures: 1, units: 1, use_bias: false } as never), 'use_bias', 'useBias'],
  ['LeakyReLU', () => new api.nn.LeakyReLU({ alpah: 0.1 } as never), 'alpah', 'alpha'],
  ['Conv2d', () => new api.nn.Conv2d({ inChannels: 1, filters: 1, kernelSize: 3, stride: 2 } as never), 'stride', 'strides'],
  ['Conv2dTranspose', () => new api.nn.Conv2dTranspose({ inChannels: 1, filters: 1, kernelSize: 3, kernel_size: 3 } as never), 'kernel_size', 'kernelSize'],
  ['Dropout', () => new api.nn.Dropout({ rate: 0.5, seeds: 1 } as never), 'seeds', 'seed'],
  ['BatchNorm', () => new api.nn.BatchNorm({ features: 4, momentun: 0.9 } as never), 'momentun', 'momentum'],
  ['Adam', () => new api.optim.Adam(none, { learningRate: 0.01 } as never), 'learningRate', ''],
  ['Adam', () => new api.optim.Adam(none, { beta_1: 0.5 } as never), 'beta_1', 'beta1'],
  ['SGD', () => new api.optim.SGD(none, { lr: 0.1, weight_decay: 0.1 } as never), 'weight_decay', 'weightDecay'],
  ['exponentialDecay', () => api.optim.exponentialDecay({ initialLr: 1, decaySteps: 1, decayRate: 0.5, staircas: true } as never), 'staircas', 'staircase'],
  ['cosineDecay', () => api.optim.cosineDecay({ initialLr: 1, decaySteps: 1, alfa: 0 } as never), 'alfa', 'alpha'],
  ['stepDecay', () => api.optim.stepDecay({ initialLr: 1, stepSize: 1, gama: 0.5 } as never), 'gama', 'gamma'],
  ['linearWarmup', () => api.optim.linearWarmup({ lr: 1, warmupSteps: 1, startfactor: 0 } as never), 'startfactor', 'startFactor'],
  ['fit', () => api.fit(none, none, { epochs: 1, batch_size: 8 } as never), 'batch_size', 'batchSize'],
  ['evaluate', () => api.evaluate(none, none, { loss: none, batchsize: 8 } as never), 'batchsize', 'batchSize'],
  ['trainLoop', () => api.trainLoop({ epoch: 1 } as never), 'epoch', 'epochs'],
  ['DataLoader', () => new api.DataLoader(none, { batchSize: 8, suffle: true } as never), 'suffle', 'shuffle'],
  ['MnistGpu', () => new api.MnistGpu(none, { ranges: [0, 1] } as never), 'ranges', 'range'],
  ['parseMnist', () => api.parseMnist(none, none, { limits: 1 } as never), 'limits', 'limit'],
  ['loadMnist', () => api.loadMnist('train', { limt: 1 } as never), 'limt', 'limit'],
  ['loadMnistGpu', () => api.loadMnistGpu('train', { dirs: '.' } as never), 'dirs', 'dir'],
  ['checkpointToBytes', () => api.checkpointToBytes(none, { halfs: true } as never), 'halfs', 'half'],
  ['loadCheckpointFromBytes', () => api.loadCheckpointFromBytes(none, none, { allowNonfinite: true } as never), 'allowNonfinite', 'allowNonFinite'],
  ['saveCheckpoint', () => api.saveCheckpoint('x', none, { haf: true } as never), 'haf', 'half'],
  ['loadCheckpoint', () => api.loadCheckpoint('x', none, { allownonfinite: true } as never), 'allownonfinite', 'allowNonFinite'],
  ['imageGrid', () => api.imageGrid(none, 1, 1, 1, { column: 2 } as never), 'column', 'cols'],
  ['saveImageGrid', () => api.saveImageGrid('x', none, 1, 1, 1, { row: 2 } as never), 'row', 'rows'],
  ['Vae', () => new api.Vae({ latent_dim: 2 } as never), 'latent_dim', 'latentDim'],
  ['Gan', () => new api.Gan({ noiseDims: 2 } as never), 'noiseDims', 'noiseDim'],
  ['MnistClassifier', () => new api.MnistClassifier({ feature: 2 } as never), 'feature', 'features'],
  ['runTraining', () => api.runTraining({ kind: 'vae', epoch: 1 } as never), 'epoch', 'epochs'],
  ['runClassifierTraining', () => api.runClassifierTraining({ epochs: 1, batch: 8 } as never), 'batch', 'batchSize'],
  ['tune', () => api.tune({ budget: 1000 } as never), 'budget', 'budgetMs'],
  ['tuneProblem', () => api.tuneProblem(none, { timed_batch: 8 } as never), 'timed_batch', 'timedBatch'],
  ['adamStep', () => api.adamStep(none, none, none, none, { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 1, learning_rate: 1 } as never), 'learning_rate', ''],
  ['sgdStep', () => api.sgdStep(none, none, null, { lr: 0.1, momentum: 0, weightDecay: 0, nestrov: true } as never), 'nestrov', 'nesterov'],
  ['summary', () => api.nn.Module.prototype.summary.call(none, undefined, { print_fn: null } as never), 'print_fn', 'printFn'],
  ['format', () => api.Tensor.prototype.format.call(none, { precission: 2 } as never), 'precission', 'precision'],
  ['print', () => api.Tensor.prototype.print.call(none, { edgeitems: 2 } as never), 'edgeitems', 'edgeItems'],
  ['backward', () => api.Tensor.prototype.backward.call(none, undefined, { input: [] } as never), 'input', 'inputs'],
];

async function refusal(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (e) {
    return e;
  }
  return undefined;
}

for (const [where, call, key, near] of ENTRIES) {
  test(`${where} refuses the unknown option '${key}'`, async () => {
    const e = await refusal(call);
    assert.instance(e, TypeError, `${where} did not throw a TypeError: ${String(e)}`);
    const message = (e as Error).message;
    const expected = near
      ? `${where}: unknown option '${key}'; did you mean '${near}'?`
      : `${where}: unknown option '${key}'; known options: `;
    assert.ok(message.startsWith(expected), `${where}: got "${message}", expected "${expected}…"`);
  });
}

test('checkOptions: undefined is fine, known keys pass, a non-object is refused, far keys list the known ones', () => {
  const known = knownOptions<{ stride?: number; padding?: string }>({ stride: true, padding: true });
  checkOptions('f', undefined, known);
  checkOptions('f', { stride: 1, padding: 'same' }, known);
  assert.throws(() => checkOptions('f', 3, known), /f: options must be an object, got number/);
  assert.throws(() => checkOptions('f', { zzzzzz: 1 }, known), /f: unknown option 'zzzzzz'; known options: stride, padding/);
  assert.is(nearestOption('STRIDE', known), 'stride');
  assert.is(nearestOption('learningRate', ['lr', 'beta1']), undefined);
});

// Every exported function or class in src/ (the kernels aside) whose parameter list takes an
// options or config object must be in ENTRIES above, or in this list of those deliberately left
// unchecked (with why). A new one that is in neither fails here.
const UNCHECKED: Record<string, string> = {
  matmulRaw: 'internal (not exported from the entries)',
  encodeCheckpoint: 'internal; checkpointToBytes and saveCheckpoint check',
  createModel: 'the model classes check the config',
  summarize: 'behind Module.summary',
  onDeviceOpen: "internal: the listener receives init's options, already checked",
  planFor: 'internal', runBackward: 'behind Tensor.backward', createMlp: "internal (the tests' MLP)", reproduce: "a script's runner, not exported",
  EpochProgress: 'the progress bar fit draws, not exported',
  scatterPlot: "a script's plot, not exported", lineChart: 'as scatterPlot', renderLineChart: 'as scatterPlot', renderScatterPlot: 'as scatterPlot',
  formatValues: 'behind Tensor.print',
};

test('every exported entry point with an options object is in the table', () => {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) { if (entry.name !== 'kernels') walk(path); } else if (path.endsWith('.ts')) files.push(path);
    }
  };
  walk('src');
  const found = new Set<string>();
  const param = String.raw`\b(?:options|opts|config|o|h)\??:\s*[^,)]*?(?:Options|Config)\b`;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(new RegExp(String.raw`export (?:async )?function\*? (\w+)(?:<[^(]*>)?\(([^)]*)\)`, 'g'))) {
      if (new RegExp(param).test(m[2]!)) found.add(m[1]!);
    }
    for (const m of text.matchAll(/export (?:abstract )?class (\w+)[^{]*\{([\s\S]*?)\n\}/g)) {
      const ctor = /constructor\(([^)]*)\)/.exec(m[2]!);
      if (ctor && (new RegExp(param).test(ctor[1]!) || /options: \{/.test(ctor[1]!))) found.add(m[1]!);
    }
  }
  const listed = new Set(ENTRIES.map(([where]) => where));
  const missing = [...found].filter((name) => !listed.has(name) && !(name in UNCHECKED)).sort();
  assert.equal(missing, [], `entry points with options but no test of the unknown-key check: ${missing.join(', ')}`);
  assert.ok(found.size >= 20, `the scan found only ${found.size} entry points; has the pattern gone stale?`);
});

test.run();
