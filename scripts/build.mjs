#!/usr/bin/env node
// Bundles src/ into dist/ with esbuild (`npm run build` runs `tsc --noEmit` first: tsc is the
// type check, esbuild only strips types and bundles). Why a bundle: Node 20 has no compile
// cache, and loading zod, yaml, commander, execa and ora as hundreds of small ES modules cost
// more start-up time than parsing them as a few large files (see bench/startup.mjs).
//
// Layout of dist/:
//   cli.js                 the entry bin/june-ts.js imports (commander is bundled into it)
//   chunks/*.js            code shared between entries, and one chunk per dynamic import():
//                          every `import()` in src stays lazy (splitting), so --help still
//                          loads none of zod, execa, ora or @kubernetes/client-node
//   config/fields.js, phases/workflows.js, phases/engine.js
//                          entries for scripts/gen-docs.mjs (they share chunks with cli.js)
//   *.js.map               source maps; not loaded at start-up (see README "Build")
//   meta.json              esbuild's metafile: which source modules each output file holds
//                          (test/unit/cli.test.ts uses it to check what --help loads)
// @kubernetes/client-node is bundled too, into the chunk of src/kube/client.ts (loaded only by
// commands that talk to a cluster): tree-shaken to the APIs june-ts uses, that chunk loads in
// ≈ 0.12 s where the package's own module graph took ≈ 0.35 s on every mutating run.
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'dist');

export const ENTRY_POINTS = ['src/cli.ts', 'src/config/fields.ts', 'src/phases/workflows.ts', 'src/phases/engine.ts'];
export const EXTERNAL = [];

// esbuild gives `await import('pkg')` of a bundled CommonJS package (yaml) only a default
// export, where Node gives the named exports too (`const { parse } = await import('yaml')`).
// This plugin routes such a dynamic import through a small ES module that re-exports exactly
// the names Node's own import() of the package shows, so the bundle behaves like the source.
const commonJsDynamicImports = {
  name: 'commonjs-dynamic-imports',
  setup(b) {
    const seen = new Set();
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.kind !== 'dynamic-import' || args.path.startsWith('node:') || EXTERNAL.includes(args.path)) return undefined;
      const resolved = await b.resolve(args.path, { kind: 'import-statement', resolveDir: args.resolveDir });
      if (resolved.errors.length || resolved.external || !isCommonJs(resolved.path)) return undefined;
      seen.add(args.path);
      return { path: args.path, namespace: 'commonjs-dynamic-import', pluginData: { resolveDir: args.resolveDir, file: resolved.path } };
    });
    b.onLoad({ filter: /.*/, namespace: 'commonjs-dynamic-import' }, async (args) => {
      const names = Object.keys(await import(pathToFileURL(args.pluginData.file).href));
      const named = names.filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
      const spec = JSON.stringify(args.path);
      return {
        contents: `export { ${named.join(', ')} } from ${spec};\n${names.includes('default') ? `export { default } from ${spec};\n` : ''}`,
        resolveDir: args.pluginData.resolveDir,
        loader: 'js',
      };
    });
    b.onEnd(() => {
      if (process.argv.includes('--verbose'))
        process.stdout.write(`CommonJS packages imported dynamically: ${[...seen].join(', ') || 'none'}\n`);
    });
  },
};

/** Does Node load this file as CommonJS? (.cjs, or .js without "type": "module" in the nearest package.json) */
function isCommonJs(file) {
  if (file.endsWith('.cjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = dirname(file); dirname(dir) !== dir; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) return JSON.parse(readFileSync(pkg, 'utf8')).type !== 'module';
  }
  return true;
}

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ENTRY_POINTS,
  outbase: 'src',
  outdir: OUT,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  plugins: [commonJsDynamicImports],
  // Bundled CommonJS (commander, yaml, dotenv, cross-spawn) calls require() for Node builtins;
  // an ES module has no require, so each output file gets one.
  banner: {
    js: "import { createRequire as __june_createRequire } from 'node:module';\nconst require = __june_createRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  sourcesContent: false,
  // Keep function and class names as in the source: bundling renames clashing bindings
  // (commander's CommanderError → CommanderError2) and some code reads constructor.name.
  // Measured ≈ +2 ms on a dry run, nothing on --help.
  keepNames: true,
  metafile: true,
  logLevel: 'warning',
});

writeFileSync(join(OUT, 'meta.json'), JSON.stringify(result.metafile));

// Remove what an earlier build (or the old one-file-per-module tsc output) left behind.
const keep = new Set([...Object.keys(result.metafile.outputs).map((p) => resolve(ROOT, p)), join(OUT, 'meta.json')]);
for (const entry of readdirSync(OUT, { recursive: true, withFileTypes: true })) {
  const path = join(entry.parentPath ?? entry.path, entry.name);
  if (entry.isFile() && !keep.has(path)) rmSync(path);
}
for (const entry of readdirSync(OUT, { recursive: true, withFileTypes: true }).reverse()) {
  const path = join(entry.parentPath ?? entry.path, entry.name);
  if (entry.isDirectory() && readdirSync(path).length === 0) rmSync(path, { recursive: true });
}

if (process.argv.includes('--verbose')) {
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (!file.endsWith('.map')) process.stdout.write(`${relative(ROOT, resolve(ROOT, file))}  ${(out.bytes / 1024).toFixed(1)} KiB\n`);
  }
}
