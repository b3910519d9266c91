// The window convolution kernels (conv2d-window.ts) against the float64 references: every kernel
// size, stride and padding, rows that are not a multiple of the block's width, partial column
// blocks, 1 channel, phases with no pixels, blocks of other widths, and fewer lanes than the device's.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ready } from './helpers.ts';
import { getGpu } from '../src/core/device.ts';
import { windowBlock, windowForwardWgsl, windowInputGradWgsl } from '../src/kernels/conv/conv2d-window.ts';
import { conv2dInputGradProgram, conv2dProgram, conv2dWeightGradProgram, convCandidates, convKernelKey } from '../src/kernels/conv/conv2d.ts';
import { conv2dGeometry } from '../src/kernels/conv/geometry.ts';
import { allCases, checkCase, type Case } from './conv-cases.ts';

test.before(async () => {
  await ready;
});

const skip = (): boolean => {
  if (getGpu().info.hasSubgroups) return false;
  console.log('  (skipped: this device has no subgroups)');
  return true;
};

test('window: forward, input- and weight-gradient vs references, every kernel size × stride × padding', async () => {
  if (skip()) return;
  let seed = 700;
  for (const c of allCases()) await checkCase(c, 'window', seed++);
});

// Rows of 1, 3, 13 and 33 pixels (TM 1, 3, 7 with a short last block, 4…8), 65 channels (a
// partial column block), stride 3 (phases of different widths), a 7×7 kernel wider than the rows.
const WINDOW_CASES: Case[] = [
  { batch: 3, h: 5, w: 1, inC: 7, outC: 9, k: 3, s: 1, padding: 'same' },
  { batch: 2, h: 4, w: 3, inC: 3, outC: 12, k: 3, s: 2, padding: 'same' },
  { batch: 2, h: 13, w: 13, inC: 9, outC: 65, k: 5, s: 2, padding: 'same' },
  { batch: 1, h: 7, w: 33, inC: 8, outC: 16, k: 3, s: 1, padding: 'valid' },
  { batch: 2, h: 10, w: 14, inC: 11, outC: 8, k: 4, s: 3, padding: 'same' },
  { batch: 2, h: 6, w: 5, inC: 4, outC: 10, k: 7, s: 1, padding: 'same' },
  { batch: 1, h: 2, w: 2, inC: 5, outC: 8, k: 1, s: 3, padding: 'valid' },
];

test('window on awkward rows and channels vs references', async () => {
  if (skip()) return;
  let seed = 760;
  for (const c of WINDOW_CASES) await checkCase(c, 'window', seed++);
});

test('window with blocks of other widths, and counting on 1, 3 and 4 lanes, vs references', async () => {
  if (skip()) return;
  let seed = 800;
  for (const tm of [1, 4, 16]) await checkCase(WINDOW_CASES[2], { variant: 'window', block: { tm, tn: 8 } }, seed++);
  await checkCase(WINDOW_CASES[3], { variant: 'window', block: { tm: 5, tn: 4 } }, seed++);
  for (const lanes of [1, 3, 4]) await checkCase(WINDOW_CASES[4], { variant: 'window', lanes }, seed++);
});

test('windowBlock: the width leaving the fewest unused slots at the rows\' ends (7 for MNIST\'s 7, 14 and 28), direct\'s channels', () => {
  assert.equal(windowBlock(28, 64), { tm: 7, tn: 8 });
  assert.equal(windowBlock(14, 32), { tm: 7, tn: 8 });
  assert.equal(windowBlock(7, 1), { tm: 7, tn: 1 });
  assert.equal(windowBlock(16, 8), { tm: 8, tn: 8 });
  assert.equal(windowBlock(9, 8), { tm: 5, tn: 8 }); // 2 × 5 = 10 slots; 8 would leave 7 unused
  assert.equal(windowBlock(3, 5), { tm: 3, tn: 4 });
  // The window's length: (TM − 1)·stride + kW inputs forward, TM + ⌈kW/s⌉ − 1 outputs of dy in a phase.
  assert.ok(windowForwardWgsl(7, 8, 3, 2, 8).includes('const WIN = 15u;'));
  assert.ok(windowForwardWgsl(7, 8, 5, 1, 8).includes('const WIN = 11u;'));
  assert.ok(windowInputGradWgsl(7, 8, 3, 2, 8).includes('const WIN = 8u;'));
  assert.ok(windowInputGradWgsl(7, 8, 5, 1, 8).includes('const WIN = 11u;'));
});

test('window: its Programs\' names, its weight-gradient subgroup\'s, and the tuner\'s candidates', () => {
  const g = conv2dGeometry([128, 28, 28, 32], [3, 3, 32, 64], 2, 'same'); // the VAE's convT2, seen as the convolution it inverts: rows 14 wide either way
  assert.is(conv2dProgram(g, undefined, 'window').name, 'conv2d.window');
  assert.is(conv2dProgram(g, undefined, { variant: 'window', block: { tm: 7, tn: 8 } }).name, 'conv2d.window', 'the default block is unnamed');
  assert.is(conv2dProgram(g, undefined, { variant: 'window', block: { tm: 4, tn: 8 } }).name, 'conv2d.window.4x8');
  assert.is(conv2dInputGradProgram(g, undefined, 'window').name, 'conv2dInputGrad.window');
  assert.is(conv2dWeightGradProgram(g, 4, 'window').name, 'conv2dWeightGrad.subgroup');
  const keys = (pass: 'forward' | 'inputGrad' | 'weightGrad', subgroups: boolean) => convCandidates(pass, g, { subgroups }).map(convKernelKey).filter((k) => k.startsWith('window'));
  assert.equal(keys('forward', true), ['window', 'window.8x8', 'window.14x8']);
  assert.equal(keys('inputGrad', true), ['window', 'window.8x8', 'window.14x8']);
  assert.equal(keys('weightGrad', true), []);
  assert.equal(keys('forward', false), [], 'no subgroups: no window');
});

test.run();
