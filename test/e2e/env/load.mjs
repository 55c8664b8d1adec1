// The e2e environment for plain node (scripts/sandbox.mjs, bench/, test/charts/*-scenario.mjs):
// registers the module hooks that compile TypeScript as it loads (scripts/ts-hooks.mjs; esbuild,
// Node >= 20.6) and only then imports index.ts, so `node bench/run.mjs` works as typed.
// vitest compiles TypeScript itself: tests import index.ts directly.
import { register } from 'node:module';

if (!process.env.VITEST) register('../../../scripts/ts-hooks.mjs', import.meta.url);
const env = await import('./index.ts');

export const { startEnv, resolveTools, versions, cacheDir } = env;
