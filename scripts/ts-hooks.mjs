// Node module hooks: `.ts` files are compiled with esbuild (already a devDependency) as they
// load, so plain `node` can import the TypeScript parts of test/e2e/env (vitest does this by
// itself). A relative `./x.js` import resolves to `./x.ts` when only that exists (the
// TypeScript convention). Registered by test/e2e/env/load.mjs, the env's entry for plain node.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

export async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const asTs = new URL(specifier.replace(/\.js$/, '.ts'), context.parentURL);
    const asJs = new URL(specifier, context.parentURL);
    if (!existsSync(fileURLToPath(asJs)) && existsSync(fileURLToPath(asTs))) return { url: asTs.href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const { code } = await transform(await readFile(path, 'utf8'), { loader: 'ts', format: 'esm', sourcefile: path, target: 'node20' });
  return { format: 'module', source: code, shortCircuit: true };
}
