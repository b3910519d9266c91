// Runs the uvu test suite (tests/*.test.ts) under tsx and ends with one summary line,
// "tests: N passed, N failed", that CI logs can be read by. Extra arguments filter test files:
//   npm test -- conv        runs only files whose name matches /conv/
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pattern = process.argv[2] ?? '.test.ts$';
const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'tests', pattern], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { XDG_RUNTIME_DIR: '/tmp', ...process.env },
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
