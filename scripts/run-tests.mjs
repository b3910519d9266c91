// Runs the uvu test suite (tests/*.test.ts) under tsx and ends with one summary line,
// "tests: N passed, N failed", that CI logs can be read by. Extra arguments filter test files:
//   npm test -- conv        runs only files whose name matches /conv/
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Only test files, even when the filter also matches a fixture's path (tests/fixtures/webgpu-smoke/…).
const pattern = process.argv[2] ? String.raw`(${process.argv[2]}).*\.test\.ts$` : String.raw`\.test\.ts$`;
const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'tests', pattern], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'pipe'],
  // Untuned kernels (the fixed rules), whatever this machine's cache of tuned choices holds: the
  // tests' expected figures are the fixed rules' (tests/tune.test.ts sets its own modes and stores).
  env: { XDG_RUNTIME_DIR: '/tmp', ...process.env, WEBGPU_MINI_DL_TUNE: 'off' },
});
// Dawn prints two warnings when it opens Mesa's llvmpipe adapter ("maxDynamic…BuffersPerPipelineLayout
// artificially reduced from 1000000 to 16"): the driver advertises a million dynamic buffers and
// Dawn caps them. They come from Dawn's C++ straight to stderr, before our code can act, and are
// harmless (we use no dynamic offsets), so the test log drops them; anything else goes through.
const DAWN_NOTICE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\n?$/;
let pendingErr = '';
child.stderr.on('data', (chunk) => {
  const lines = (pendingErr + chunk.toString()).split(/(?<=\n)/);
  pendingErr = lines[lines.length - 1].endsWith('\n') ? '' : lines.pop();
  for (const line of lines) if (!DAWN_NOTICE.test(line)) process.stderr.write(line);
});
child.stderr.on('end', () => {
  if (pendingErr && !DAWN_NOTICE.test(pendingErr)) process.stderr.write(pendingErr);
});
let total = 0;
let passed = 0;
let skipped = 0;
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
});
child.on('close', (code) => {
  const clean = tail.replace(/\x1b\[[0-9;]*m/g, '');
  total = Number(/Total:\s+(\d+)/.exec(clean)?.[1] ?? 0);
  passed = Number(/Passed:\s+(\d+)/.exec(clean)?.[1] ?? 0);
  skipped = Number(/Skipped:\s+(\d+)/.exec(clean)?.[1] ?? 0);
  const failed = code === 0 ? total - passed - skipped : Math.max(1, total - passed - skipped);
  console.log(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(code ?? 1);
});
