// june-ts config: the resolved configuration with the source of each value.
import { FIELDS } from '../config/fields.js';
import { REDACTED } from '../ui/redact.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { loadSettings } from './session.js';

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(globalOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const c = loadSettings(o, rt, log);
  const resolved = Object.fromEntries(FIELDS.map((f) => [f.key, f.secret && c.resolved[f.key] ? REDACTED : c.resolved[f.key]]));
  if (o.output === 'json') {
    log.print(JSON.stringify({ configFile: c.configPath ?? null, values: resolved, sources: c.sources }, null, 2));
    return;
  }
  log.print(`config file: ${c.configPath ?? '(none)'}`);
  const width = Math.max(...FIELDS.map((f) => f.key.length));
  for (const f of FIELDS)
    log.print(`${f.key.padEnd(width)}  ${(resolved[f.key] ?? '-').padEnd(30)}  ${log.c.dim(c.sources[f.key] ?? 'default')}`);
}
