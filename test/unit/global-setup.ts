// Builds dist/ once before the unit project, like `npm run build`: tsc type-checks src/, then
// scripts/build.mjs bundles it with esbuild. test/unit/cli.test.ts runs the built binary
// (bin/june-ts.js imports ../dist/cli.js) and docs.test.ts reads the generator's output.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export default function setup(): void {
  const root = resolve(__dirname, '../..');
  execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noEmit'], {
    cwd: root,
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [resolve(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
}
