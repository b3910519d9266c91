// A tiny static file server for the built playground and the browser tests' fixture pages
// (node:http only, no dependency):
//
//   node --import tsx playground/serve.ts DIR [--port N]      serves DIR until Ctrl-C
//
// It listens on 127.0.0.1 only, and the URL it gives says `localhost`: browsers expose WebGPU
// only to secure contexts, and http://localhost is one (a LAN address over plain http is not).
// Port 0, the default, takes any free port. Nothing is cached (a rebuild shows on reload), and
// no path may leave DIR, through `..` or through a symlink.

import { createReadStream, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ServeOptions {
  /** 0 (the default) takes any free port. */
  port?: number;
  /** The address to listen on; 127.0.0.1 unless told. */
  host?: string;
}

export interface StaticServer {
  /** Where the folder is served, ending in '/', e.g. http://localhost:41234/ */
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  // WebAssembly.instantiateStreaming refuses any other type.
  '.wasm': 'application/wasm',
  // Raw bytes the page reads itself: weights, and MNIST's gzipped IDX files (sent as they are,
  // without Content-Encoding, so the page sees the gzip and unpacks it).
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.gz': 'application/gzip',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

function isInside(root: string, file: string): boolean {
  return file === root || file.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The file a request path names under root; 'slash' for a folder asked for without its trailing
 * slash (redirected, so the page's relative URLs resolve inside it); else why there is none.
 */
function resolveRequest(root: string, urlPath: string): string | 'slash' | 400 | 403 | 404 {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return 400;
  }
  if (decoded.includes('\0')) return 400;
  let file = resolve(root, `.${decoded.startsWith('/') ? decoded : `/${decoded}`}`);
  if (!isInside(root, file)) return 403;
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    return 404;
  }
  if (!isInside(root, real)) return 403;
  if (statSync(real).isDirectory()) {
    if (!urlPath.endsWith('/')) return 'slash';
    file = join(real, 'index.html');
    try {
      real = realpathSync(file);
    } catch {
      return 404;
    }
    if (!isInside(root, real)) return 403;
  }
  return statSync(real).isFile() ? real : 404;
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(`${text}\n`);
}

function handle(root: string, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    plain(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
    return;
  }
  const urlPath = (req.url ?? '/').split(/[?#]/, 1)[0];
  const found = resolveRequest(root, urlPath);
  if (found === 'slash') {
    const query = (req.url ?? '').slice(urlPath.length);
    plain(res, 301, 'moved', { Location: `${urlPath}/${query}` });
    return;
  }
  if (typeof found === 'number') {
    const reason = { 400: 'bad request', 403: 'forbidden', 404: 'not found' }[found];
    plain(res, found, `${reason}: ${urlPath}`);
    return;
  }
  res.writeHead(200, {
    'Content-Type': contentTypeOf(found),
    'Content-Length': String(statSync(found).size),
    'Cache-Control': 'no-store',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(found);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** Serves dir's files over http until close() is called. */
export async function serveStatic(dir: string, options: ServeOptions = {}): Promise<StaticServer> {
  let root: string;
  try {
    root = realpathSync(resolve(dir));
  } catch {
    throw new Error(`serveStatic: no such folder: ${dir}`);
  }
  if (!statSync(root).isDirectory()) throw new Error(`serveStatic: not a folder: ${dir}`);
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    try {
      handle(root, req, res);
    } catch (error) {
      if (!res.headersSent) plain(res, 500, `server error: ${(error as Error).message}`);
      else res.destroy();
    }
  });
  await new Promise<void>((ok, no) => {
    server.once('error', no);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', no);
      ok();
    });
  });
  const { port } = server.address() as AddressInfo;
  const loopback = host === '127.0.0.1' || host === 'localhost' || host === '::1';
  const shownHost = loopback ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    close: () =>
      new Promise<void>((ok, no) => {
        // A browser keeps idle keep-alive connections open; without this, close() waits on them.
        server.closeAllConnections();
        server.close((error) => (error ? no(error) : ok()));
      }),
  };
}

function usage(): never {
  console.error('usage: node --import tsx playground/serve.ts DIR [--port N]');
  process.exit(1);
}

async function main(args: string[]): Promise<void> {
  let dir: string | undefined;
  let port = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--port' || arg.startsWith('--port=')) {
      const value = arg === '--port' ? args[++i] : arg.slice('--port='.length);
      port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        console.error(`serve: --port wants a whole number from 0 to 65535 (got '${value ?? ''}')`);
        process.exit(1);
      }
    } else if (arg === '--help' || arg === '-h') {
      usage();
    } else if (arg.startsWith('-') || dir !== undefined) {
      console.error(`serve: unexpected argument '${arg}'`);
      usage();
    } else {
      dir = arg;
    }
  }
  if (dir === undefined) usage();
  let server: StaticServer;
  try {
    server = await serveStatic(dir, { port });
  } catch (error) {
    console.error(`serve: ${(error as Error).message}`);
    process.exit(1);
  }
  console.log(`Playground: ${server.url}`);
  process.once('SIGINT', () => {
    void server.close().then(() => process.exit(0));
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main(process.argv.slice(2));
}
