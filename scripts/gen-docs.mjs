#!/usr/bin/env node
// Regenerates the README sections that document code: the configuration table (from
// src/config/fields.ts), the command reference with every workflow's phases (from the
// commander program and src/phases/workflows.ts) and the exit codes (src/errors.ts).
// Needs dist/: `npm run docs` builds first.
// test/unit/docs.test.ts fails when README.md differs from what this would write.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const README = resolve(ROOT, 'README.md');

// Table cell: pipes escaped; < and > escaped outside `code` spans (else markdown reads them as HTML).
const cell = (s) =>
  String(s)
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ')
    .split('`')
    .map((part, i) => (i % 2 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('`');
const code = (s) => (s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``);

/** The configuration table. */
export function configSection(fields) {
  const rows = fields.map((f) => {
    const def = f.default === undefined ? '' : code(f.default);
    const desc = `${f.secret ? '**Secret.** ' : ''}${f.description}`;
    return `| ${code(f.key)} | ${cell(def)} | ${cell(desc)} |`;
  });
  return ['| key | default | description |', '|---|---|---|', ...rows].join('\n');
}

function optionRows(cmd) {
  return cmd.options
    .filter((o) => !o.hidden)
    .map((o) => {
      const def =
        o.defaultValue === undefined || (Array.isArray(o.defaultValue) && o.defaultValue.length === 0) || o.negate
          ? ''
          : ` (default: ${code(String(o.defaultValue))})`;
      const choices = o.argChoices ? ` (${o.argChoices.map(code).join(', ')})` : '';
      return `| ${code(o.flags)} | ${cell(`${o.description}${choices}${def}`)} |`;
    });
}

/** Commands with their options, then the phases of every workflow. */
export function commandsSection(program, workflows, flatten) {
  const out = [];
  out.push('| command | description |', '|---|---|');
  // `__complete` serves the completion scripts and is hidden from --help too
  const commands = program.commands.filter((c) => !c._hidden);
  for (const cmd of commands) {
    const args = cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
    out.push(`| ${code(`june-ts ${cmd.name()}${args ? ` ${args}` : ''}`)} | ${cell(cmd.description())} |`);
  }
  out.push('', 'Global options (before or after the command):', '', '| option | description |', '|---|---|', ...optionRows(program));
  for (const cmd of commands) {
    const rows = optionRows(cmd);
    if (!rows.length) continue;
    out.push('', `Options of \`june-ts ${cmd.name()}\`:`, '', '| option | description |', '|---|---|', ...rows);
  }
  for (const [name, tree] of Object.entries(workflows)) {
    const cmd = program.commands.find((c) => c.name() === name);
    const selectable = cmd?.options.some((o) => o.long === '--skip');
    out.push(
      '',
      `Phases of \`june-ts ${name}\` (\`june-ts phases ${name}\`${selectable ? '; ids for `--skip` and `--only`' : ''}):`,
      '',
      '| phase | description |',
      '|---|---|',
    );
    for (const p of flatten(tree)) out.push(`| ${code(p.id)} | ${cell(p.description)} |`);
  }
  return out.join('\n');
}

/** The exit-code table. */
export function exitCodesSection(exitCodes) {
  return ['| code | meaning |', '|---|---|', ...exitCodes.map((e) => `| ${e.code} | ${cell(e.meaning)} |`)].join('\n');
}

/** Replaces the text between `<!-- name:start -->` and `<!-- name:end -->`. */
export function replaceSection(text, name, body) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md: markers ${start} … ${end} not found`);
  return `${text.slice(0, i + start.length)}\n${body}\n${text.slice(j)}`;
}

/** The section text of `name` in `text`, as replaceSection writes it. */
export function readSection(text, name) {
  const start = `<!-- ${name}:start -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(`<!-- ${name}:end -->`);
  if (i < 0 || j < i) return undefined;
  return text
    .slice(i + start.length, j)
    .replace(/^\n/, '')
    .replace(/\n$/, '');
}

/** Every section, computed from the built code. */
export async function generate() {
  const [{ FIELDS }, { buildProgram, EXIT_CODES }, { WORKFLOWS }, { flatten }] = await Promise.all([
    import(pathToFileURL(resolve(ROOT, 'dist/config/fields.js')).href),
    import(pathToFileURL(resolve(ROOT, 'dist/cli.js')).href),
    import(pathToFileURL(resolve(ROOT, 'dist/phases/workflows.js')).href),
    import(pathToFileURL(resolve(ROOT, 'dist/phases/engine.js')).href),
  ]);
  const program = buildProgram({}, async () => {});
  return {
    config: configSection(FIELDS),
    commands: commandsSection(program, WORKFLOWS, flatten),
    'exit-codes': exitCodesSection(EXIT_CODES),
  };
}

/** README text with every section regenerated. */
export function render(readme, sections) {
  return Object.entries(sections).reduce((text, [name, body]) => replaceSection(text, name, body), readme);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const before = readFileSync(README, 'utf8');
  const after = render(before, await generate());
  if (after !== before) writeFileSync(README, after);
  process.stdout.write(after === before ? 'README.md is up to date\n' : 'README.md updated\n');
}
