// june-ts doctor: the spec's Troubleshooting section as checks, each with the fix printed.
// `--pre` runs before install: binaries, versions, cluster reachable, permissions.
import { z } from 'zod';
import { policyCheck, postChecks } from '../doctor/post.js';
import { policyState } from '../phases/policy.js';
import { preChecks } from '../doctor/pre.js';
import { DegradedError, PreflightError } from '../errors.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { createContext, loadSettings } from './session.js';

export const doctorOptionsSchema = globalOptionsSchema.and(z.object({ pre: z.boolean().default(false) }));

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(doctorOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const g = { ...o, dryRun: 'off' as const };
  const { ctx } = createContext('doctor', g, loadSettings(g, rt, log), rt, log);
  const checks = o.pre ? await preChecks(ctx) : [...(await postChecks(ctx)), policyCheck(await policyState(ctx))];
  if (o.output === 'json') log.print(JSON.stringify({ pre: o.pre, checks }, null, 2));
  else {
    for (const c of checks) {
      const mark = c.ok ? log.c.green('✓') : c.level === 'warn' ? log.c.yellow('!') : log.c.red('✗');
      // one line per check; sidecar evidence (events, log lines) is indented on purpose
      const detail = c.detail.includes('\n      ') ? c.detail : c.detail.replace(/\s*\n\s*/g, ' | ');
      log.print(`${mark} ${c.name}: ${detail}`);
      if (!c.ok && c.fix) log.print(`    fix: ${c.fix}`);
    }
  }
  const failed = checks.filter((c) => !c.ok && c.level === 'error');
  if (failed.length) {
    const Err = o.pre ? PreflightError : DegradedError;
    throw new Err(`${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}`, { hint: 'apply the fixes printed above' });
  }
}
