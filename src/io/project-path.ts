// How files are named in what a run writes down for later (summaries, checkpoint recipes, the
// shipped weights' metadata): never by an absolute path, which names the machine that trained
// them and means nothing on another. A file inside the project is recorded relative to the
// project root, with '/' separators ("assets/judge.safetensors"); one outside by its file name
// alone (its content hash, recorded beside it, says which file it was). A recorded relative path
// is read back against the project root, so it works from any working directory.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (src/io/../..; dist/io/../.. once built). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** `path` (absolute, or relative to the working directory) relative to the project root, or undefined when it lies outside. */
export function projectRelative(path: string): string | undefined {
  const rel = relative(PROJECT_ROOT, resolve(path));
  if (rel === '' || isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) return undefined;
  return rel.split(sep).join('/');
}

/** How a record names the file at `path`: project-relative inside the project, else its file name. */
export function recordedPath(path: string): string {
  return projectRelative(path) ?? basename(path);
}

/** A recorded path back to one that opens: a relative one against the project root. */
export function resolveRecordedPath(recorded: string): string {
  return isAbsolute(recorded) ? recorded : join(PROJECT_ROOT, recorded);
}

/** The sha256 of a file's bytes, as hex. */
export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
