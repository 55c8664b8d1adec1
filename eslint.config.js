// ESLint: typescript-eslint's recommended rules, a line-length limit, no import cycles, and
// the layer rules of docs/architecture.md (each layer imports only the layers below it):
//
//   cli.ts → commands/ → phases/ | health/ | doctor/ → domain/ → seams → base
//   seams: context.ts, kube/, helm/, headscale/, tailscale/, process/
//   base:  config/, ui/, util/, errors.ts, names.ts, write-gate.ts
//
// Formatting is prettier's job (prettier.config.js); the length limit here catches what it
// cannot wrap (long identifiers chains, comments), so strings and templates are exempt.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const SEAMS = ['src/context.ts', 'src/kube', 'src/helm', 'src/headscale', 'src/tailscale', 'src/process'];
const BASE = ['src/config', 'src/ui', 'src/util', 'src/errors.ts', 'src/names.ts', 'src/write-gate.ts'];
const REPORTS = ['src/health', 'src/doctor'];

/** `target` may not import from any of `from`. */
const zone = (target, from, message) => ({ target, from, message });

const LAYERS = [
  zone(
    ['src/phases', ...REPORTS, 'src/domain', ...SEAMS, ...BASE],
    ['src/commands', 'src/cli.ts'],
    'only cli.ts and commands/ use the commands layer',
  ),
  zone(
    ['src/domain', ...SEAMS, ...BASE, ...REPORTS],
    ['src/phases'],
    'phases/ is imported by commands only; shared rules belong in domain/',
  ),
  zone(['src/phases', 'src/domain', ...SEAMS, ...BASE], REPORTS, 'health/ and doctor/ are read-only reports for commands'),
  zone('src/health', 'src/doctor', 'health/ is the report doctor builds on, not the other way round'),
  zone([...SEAMS, ...BASE], ['src/domain'], 'seams and base helpers do not depend on domain rules'),
  zone(BASE, SEAMS, 'base helpers (config, ui, util, errors, names, write gate) stay below the seams'),
];

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', '.test-results/**', 'coverage/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver': undefined,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: {
      'max-len': ['error', { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
      'import-x/no-cycle': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // the environment's teardown is best effort: a process or file already gone is fine
    files: ['test/e2e/env/**', 'scripts/**'],
    rules: { 'no-empty': ['error', { allowEmptyCatch: true }] },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'import-x/no-restricted-paths': ['error', { zones: LAYERS }] },
  },
);
