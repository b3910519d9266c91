// Pages in a real browser: headless Chromium with WebGPU through SwiftShader (tests/browser-kit.ts),
// serving fixture pages from tests/fixtures over http://localhost (playground/serve.ts).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { serveStatic, type StaticServer } from '../playground/serve.ts';
import { launchBrowser, openPage, pageResult } from './browser-kit.ts';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

let server: StaticServer | undefined;
let browser: Browser | undefined;

/** One browser and one server for the whole file, started by the first test that needs them. */
async function start(): Promise<{ server: StaticServer; browser: Browser }> {
  server ??= await serveStatic(fixtures);
  browser ??= await launchBrowser();
  return { server, browser };
}

test.after(async () => {
  await browser?.close();
  await server?.close();
});

interface SmokeResult {
  error?: string;
  input: number[];
  output: number[];
  adapter: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean };
  features: string[];
  limits: Record<string, number>;
}

test('webgpu-smoke: a WGSL compute shader doubles 65 floats in the browser, with no page errors', async () => {
  const { server, browser } = await start();
  const opened = await openPage(browser, `${server.url}webgpu-smoke/`);
  try {
    const result = await pageResult<SmokeResult>(opened);
    assert.is(result.error, undefined, result.error);
    assert.is(result.output.length, 65);
    // Inputs are halves (exact in f32), so the doubles must be exact too.
    assert.equal(result.output, result.input.map((x) => x * 2));
    const a = result.adapter;
    assert.type(a.isFallbackAdapter, 'boolean');
    assert.ok(result.limits.maxComputeInvocationsPerWorkgroup >= 64, 'the shader uses workgroups of 64');
    assert.equal(opened.errors, [], opened.errors.join('\n'));
    console.log(`  browser adapter: ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unnamed'}${a.isFallbackAdapter ? ' (fallback)' : ''}`);
  } finally {
    await opened.page.close();
  }
});

test.run();
