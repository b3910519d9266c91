// Helpers for the tests that run pages in a real browser: headless Chromium driven by
// playwright-core, with WebGPU on the CPU through Chromium's own SwiftShader. No GPU is needed.
//
// The browser is $CHROMIUM_PATH, else /usr/bin/chromium (Debian's chromium package, which
// `npm test` installs when run as root: scripts/setup.mjs --browser). Playwright's own browser
// downloads are never used. Pages must come from http://localhost (see playground/serve.ts):
// WebGPU exists only in secure contexts, and a file:// page cannot load modules.

import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** scripts/setup.mjs checks (and installs) the same path: keep the two equal. */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH || DEFAULT_CHROMIUM;
}

/**
 * Chromium's command-line switches for WebGPU in a headless, offline, root-run browser, each
 * with why it is there. Only the first matters to WebGPU; the rest keep a throwaway browser
 * quiet. To run the same by hand, add `--headless` and a fresh `--user-data-dir=DIR`
 * (launchBrowser gets both from Playwright, which also adds its own --no-first-run and the two
 * --disable-background-networking/--disable-component-update again; duplicates are harmless).
 */
const CHROMIUM_ARGS: readonly string[] = [
  // Chromium on Linux ships WebGPU switched off: without this, navigator.gpu exists but
  // requestAdapter() answers null ("No available adapters."). With it, a machine without a GPU
  // gets SwiftShader's Vulkan (vendor 'google', architecture 'swiftshader', isFallbackAdapter).
  // Nothing else is needed for that: --use-webgpu-adapter=swiftshader, --use-angle=swiftshader,
  // --enable-features=Vulkan and --enable-unsafe-swiftshader change nothing on Chromium 156, and
  // --disable-gpu does not turn WebGPU off either.
  '--enable-unsafe-webgpu',
  // Chromium refuses to start as root with its sandbox on (CI runs as root).
  '--no-sandbox',
  // Nothing but localhost is reachable here. These keep Chromium's background services
  // (component updates, sync, variations, QUIC probes) from trying the network at all; a short
  // run here logged no refusals without them, but a browser kept open longer may, and they cost
  // nothing. (Debian's /usr/bin/chromium launcher adds the first one itself.)
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  // No first-run dialogs or default-browser checks in a fresh profile.
  '--no-first-run',
];

/** The launch switches above, for a caller's own launch or for documentation to cite. */
export function webgpuFlags(): string[] {
  return [...CHROMIUM_ARGS];
}

/**
 * Starts headless Chromium with WebGPU. Playwright gives it a fresh temporary profile
 * (--user-data-dir), deleted on close. Close it in the test file's `after` hook, or the test
 * process never exits.
 */
export async function launchBrowser(options: { timeoutMs?: number } = {}): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    const how = process.env.CHROMIUM_PATH
      ? 'CHROMIUM_PATH names a file that does not exist'
      : "`npm test` installs it as root (Debian's chromium package, via scripts/setup.mjs --browser), or set CHROMIUM_PATH to a Chromium or Chrome binary";
    throw new Error(`The browser tests need Chromium at ${executablePath}, which is missing: ${how}.`);
  }
  try {
    return await chromium.launch({
      executablePath,
      headless: true,
      args: webgpuFlags(),
      timeout: options.timeoutMs ?? 60_000,
    });
  } catch (error) {
    throw new Error(`could not start ${executablePath}: ${(error as Error).message}`);
  }
}

export interface OpenedPage {
  page: Page;
  /**
   * What went wrong in the page: console.error messages (among them WebGPU's uncaptured
   * validation errors, and Chromium's own "Failed to load resource" for any HTTP error status),
   * uncaught exceptions and rejections, failed requests, and a renderer crash. A test asserts
   * it stays empty.
   */
  errors: string[];
  /** console.warn messages (Chromium's WebGPU notices land here), for a test to show or check. */
  warnings: string[];
}

/** Opens url in a new page of its own context, collecting its errors from the start. */
export async function openPage(browser: Browser, url: string, options: { timeoutMs?: number } = {}): Promise<OpenedPage> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const warnings: string[] = [];
  page.on('console', (message) => {
    const where = message.location();
    const at = where.url ? ` (${where.url}:${where.lineNumber + 1})` : '';
    if (message.type() === 'error') errors.push(`console.error: ${message.text()}${at}`);
    else if (message.type() === 'warning') warnings.push(`console.warn: ${message.text()}${at}`);
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.stack ?? error.message}`));
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? 'unknown'})`));
  page.on('crash', () => errors.push('the page crashed'));
  await page.goto(url, { timeout: options.timeoutMs ?? 60_000 });
  return { page, errors, warnings };
}

/**
 * Waits until the page sets window[name] (fixture pages put their answer in window.__result)
 * and returns it as JSON. On timeout, the error says what the page had logged meanwhile.
 */
export async function pageResult<T = unknown>(opened: OpenedPage, options: { name?: string; timeoutMs?: number } = {}): Promise<T> {
  const name = options.name ?? '__result';
  const timeout = options.timeoutMs ?? 60_000;
  try {
    const handle = await opened.page.waitForFunction(`window[${JSON.stringify(name)}] !== undefined`, undefined, { timeout });
    const value = (await opened.page.evaluate(`window[${JSON.stringify(name)}]`)) as T;
    await handle.dispose();
    return value;
  } catch (error) {
    const logged = [...opened.errors, ...opened.warnings];
    throw new Error(
      `the page never set window.${name} (${(error as Error).message.split('\n')[0]})${logged.length ? `; it logged:\n  ${logged.join('\n  ')}` : '; it logged nothing'}`,
    );
  }
}
