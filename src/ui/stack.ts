// Maps the stack of an internal error from the bundle (dist/*.js) back to src/*.ts with the
// source maps scripts/build.mjs writes next to each output file. Loaded only on the
// internal-error path: `--enable-source-maps` would make every run parse the maps of every
// loaded chunk; this costs nothing until a bug is reported. Frames without a map
// (node:internal, tests run from src/) are kept.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const FRAME = /(file:\/\/[^\s()]+?\.m?js):(\d+):(\d+)/g;

function load(url: string): SourceMap | undefined {
  try {
    return new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, 'utf8')));
  } catch {
    return undefined;
  }
}

export function mapStack(stack: string): string {
  const maps = new Map<string, SourceMap | undefined>();
  return stack.replace(FRAME, (frame: string, url: string, line: string, column: string) => {
    if (!maps.has(url)) maps.set(url, load(url));
    const entry = maps.get(url)?.findEntry(Number(line) - 1, Number(column) - 1);
    if (!entry || !('originalSource' in entry) || !entry.originalSource) return frame;
    const source = entry.originalSource.startsWith('file:')
      ? fileURLToPath(entry.originalSource)
      : resolve(dirname(fileURLToPath(url)), entry.originalSource);
    return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}
