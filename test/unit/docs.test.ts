// The README's generated sections and config.env.example must match the code.
// Fix a failure with `npm run docs` (README) or by editing config.env.example.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIELDS } from '../../src/config/fields.js';
import { EXIT_CODES, ExitCode } from '../../src/errors.js';
import { flatten } from '../../src/phases/engine.js';
import { WORKFLOWS } from '../../src/phases/workflows.js';

const ROOT = resolve(__dirname, '../..');

interface Sections {
  config: string;
  commands: string;
  'exit-codes': string;
}

interface Generator {
  generate(): Promise<Sections>;
  render(readme: string, sections: Sections): string;
  readSection(text: string, name: string): string | undefined;
  configSection(fields: readonly { key: string; default?: string; description: string; secret?: boolean }[]): string;
}

let gen: Generator;
let sections: Sections;
const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');

beforeAll(async () => {
  // dist/ is built by global-setup.ts; the generator reads the built code like `npm run docs`.
  gen = (await import(pathToFileURL(resolve(ROOT, 'scripts/gen-docs.mjs')).href)) as Generator;
  sections = await gen.generate();
});

describe('README generated sections', () => {
  it('the configuration table is what scripts/gen-docs.mjs writes (run `npm run docs`)', () => {
    expect(gen.readSection(readme, 'config')).toBe(sections.config);
  });

  it('the command reference is what scripts/gen-docs.mjs writes (run `npm run docs`)', () => {
    expect(gen.readSection(readme, 'commands')).toBe(sections.commands);
  });

  it('the exit-code table is what scripts/gen-docs.mjs writes from src/errors.ts (run `npm run docs`)', () => {
    expect(gen.readSection(readme, 'exit-codes')).toBe(sections['exit-codes']);
    const codes = sections['exit-codes']
      .split('\n')
      .slice(2)
      .map((r) => Number(/^\| (\d+) \|/.exec(r)?.[1]));
    expect(codes).toEqual(EXIT_CODES.map((e) => e.code));
    expect(new Set(codes)).toEqual(new Set(Object.values(ExitCode)));
  });

  it('regenerating leaves README.md unchanged', () => {
    expect(gen.render(readme, sections)).toBe(readme);
  });

  it('the configuration table has one row per field, secrets marked', () => {
    const rows = sections.config.split('\n').slice(2);
    expect(rows.map((r) => /^\| `([A-Z0-9_]+)` \|/.exec(r)?.[1])).toEqual(FIELDS.map((f) => f.key));
    for (const f of FIELDS) {
      const row = rows.find((r) => r.startsWith(`| \`${f.key}\` |`))!;
      expect(row.includes('**Secret.**')).toBe(Boolean(f.secret));
      if (f.default) expect(row).toContain(`\`${f.default}\``);
    }
  });

  it('the table follows FIELDS (a new field shows up)', () => {
    const text = gen.configSection([...FIELDS, { key: 'NEW_FIELD', default: 'x|y', description: 'a <b> c', secret: true }]);
    expect(text.split('\n').at(-1)).toBe('| `NEW_FIELD` | `x\\|y` | **Secret.** a &lt;b&gt; c |');
  });

  it('the command reference lists every phase of every workflow', () => {
    for (const [name, tree] of Object.entries(WORKFLOWS)) {
      expect(sections.commands).toContain(`Phases of \`june-ts ${name}\``);
      for (const p of flatten(tree)) expect(sections.commands).toContain(`| \`${p.id}\` |`);
    }
    for (const opt of [
      '--skip <ids>',
      '--only <ids>',
      '--purge',
      '--all',
      '--service <name>',
      '--dry-run [mode]',
      '-o, --output <format>',
    ]) {
      expect(sections.commands).toContain(`| \`${opt}\` |`);
    }
  });
});

describe('config.env.example', () => {
  const text = readFileSync(resolve(ROOT, 'config.env.example'), 'utf8');
  // KEY=value or a commented-out #KEY=value
  const mentioned = [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);

  it('mentions only keys that exist', () => {
    expect(mentioned.filter((k) => !FIELDS.some((f) => f.key === k))).toEqual([]);
  });

  it('mentions every key (set or commented out)', () => {
    expect(FIELDS.map((f) => f.key).filter((k) => !mentioned.includes(k))).toEqual([]);
  });

  it('mentions each key once', () => {
    expect(mentioned.filter((k, i) => mentioned.indexOf(k) !== i)).toEqual([]);
  });

  it('holds no secret value', () => {
    for (const f of FIELDS.filter((x) => x.secret)) expect(text).toMatch(new RegExp(`^#${f.key}=$`, 'm'));
  });
});
