// Renders a dry-run plan as text or JSON. Entries are already redacted by the WriteGate.
import { stringify } from 'yaml';
import type { DryRunMode, PhasePlan, PlanEntry } from '../write-gate.js';
import type { Logger } from './logger.js';

export interface PlanDocument {
  command: string;
  mode: DryRunMode;
  phases: PhasePlan[];
}

function indent(text: string, pad: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

function entryText(e: PlanEntry, log: Logger): string {
  const c = log.c;
  switch (e.kind) {
    case 'command':
      return `${c.cyan('$')} ${e.argv.join(' ')}${e.note ? c.dim(`  # ${e.note}`) : ''}`;
    case 'apply':
      return `${c.green('apply')} ${e.object}${e.namespace ? ` -n ${e.namespace}` : ''}${e.note ? c.dim(` (${e.note})`) : ''}\n${indent(stringify(e.manifest), '    ')}`;
    case 'delete':
      return `${c.red('delete')} ${e.object}${e.namespace ? ` -n ${e.namespace}` : ''}`;
    case 'restart':
      return `${c.yellow('restart')} ${e.object} -n ${e.namespace}`;
    case 'helm': {
      const head = `${c.cyan('$')} helm ${e.action} ${e.release}${e.chart ? ` ${e.chart}` : ''} ${(e.flags ?? []).join(' ')}`.trimEnd();
      return e.values ? `${head} --values <file>\n    values:\n${indent(stringify(e.values), '      ')}` : head;
    }
    case 'headscale': {
      // A list of lines (a policy's changes) is shown one per line under the entry.
      const isLines = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
      const head = `${c.magenta('headscale')} ${e.action} ${Object.entries(e.args)
        .filter(([, v]) => !isLines(v))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ')}`;
      const lists = Object.entries(e.args).flatMap(([k, v]) => (isLines(v) ? [`  ${k}:`, ...v.map((l) => `    ${l}`)] : []));
      return [head, ...lists].join('\n');
    }
    case 'note':
      return c.dim(`· ${e.text}`);
  }
}

export function renderPlanText(doc: PlanDocument, log: Logger): string {
  const c = log.c;
  const header =
    doc.mode === 'static'
      ? `Plan for \`june-ts ${doc.command}\` (static dry run: no cluster contacted; shown as on an empty cluster)`
      : `Plan for \`june-ts ${doc.command}\` (live dry run: cluster read, nothing written)`;
  const lines = [c.bold(header), ''];
  for (const p of doc.phases) {
    const depth = p.id.split('/').length - 1;
    const pad = '  '.repeat(depth);
    if (p.status === 'skipped') {
      lines.push(`${pad}${c.dim(`○ ${p.id}  skipped: ${p.reason}`)}`);
      continue;
    }
    lines.push(`${pad}${c.bold(`● ${p.id}`)}  ${c.dim(p.description)}`);
    for (const e of p.entries) lines.push(indent(entryText(e, log), `${pad}    `));
  }
  const writes = doc.phases.reduce((n, p) => n + p.entries.filter((e) => e.kind !== 'note').length, 0);
  lines.push('', `${writes} change(s) planned. Secrets are shown as <redacted>.`);
  return lines.join('\n');
}

export function renderPlanJson(doc: PlanDocument): string {
  return JSON.stringify(doc, null, 2);
}
