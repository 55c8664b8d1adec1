// Node module hooks: `.ts` files are compiled with esbuild (already a devDependency) as they
// load, so plain `node` can import the TypeScript parts of test/e2e/env (vitest does this by
// itself). Registered by scripts/sandbox.mjs.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const { code } = await transform(await readFile(path, 'utf8'), { loader: 'ts', format: 'esm', sourcefile: path, target: 'node20' });
  return { format: 'module', source: code, shortCircuit: true };
}
