// The playground page as the browser tests use it: built into a scratch folder with a few MNIST
// digits, served from localhost and opened in headless Chromium once per test file, ready
// (weights loaded, latent map drawn). closePlayground() ends all three.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { buildPlayground, type BuildReport } from '../playground/build.ts';
import { serveStatic, type StaticServer } from '../playground/serve.ts';
import { launchBrowser, openPage, type OpenedPage } from './browser-kit.ts';
import type { PlaygroundHooks } from '../playground/src/hooks.ts';

declare const window: { __playground: PlaygroundHooks };

export interface ServedPlayground {
  opened: OpenedPage;
  report: BuildReport;
}

export class PlaygroundSession {
  private outDir: string | undefined;
  private server: StaticServer | undefined;
  private browser: Browser | undefined;
  private served: ServedPlayground | undefined;

  /** `prefix` names the scratch folder; `mnistImages` training digits are shipped with the page. */
  constructor(private readonly prefix: string, private readonly mnistImages: number) {}

  /** The page, built, served and opened on first use, then the same one. */
  async open(): Promise<ServedPlayground> {
    if (!this.served) {
      this.outDir = mkdtempSync(join(tmpdir(), this.prefix));
      const report = await buildPlayground({ outDir: this.outDir, mnistImages: this.mnistImages, quiet: true });
      this.server = await serveStatic(this.outDir);
      this.browser = await launchBrowser();
      const opened = await openPage(this.browser, this.server.url);
      await opened.page.evaluate(() => window.__playground.ready);
      this.served = { opened, report };
    }
    return this.served;
  }

  async close(): Promise<void> {
    await this.browser?.close();
    await this.server?.close();
    if (this.outDir) rmSync(this.outDir, { recursive: true, force: true });
  }
}
