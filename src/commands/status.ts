// june-ts status: one screen answering "is my tailnet healthy?". Exit 4 when degraded
// (so cron can alert); --wait polls, bounded by WAIT_TIMEOUT, until healthy.
import { z } from 'zod';
import type { Context } from '../context.js';
import { readOnce } from '../headscale/read-once.js';
import type { HeadscaleClient } from '../headscale/types.js';
import { DegradedError } from '../errors.js';
import { collectHealth, withPolicy, type HealthReport, type Level } from '../health/report.js';
import { policyState } from '../phases/policy.js';
import type { Logger } from '../ui/logger.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { createContext, loadSettings } from './session.js';

export const statusOptionsSchema = globalOptionsSchema.and(z.object({ wait: z.boolean().default(false) }));

function mark(log: Logger, level: Level): string {
  return level === 'ok' ? log.c.green('✓') : level === 'warn' ? log.c.yellow('!') : log.c.red('✗');
}

export function renderStatus(r: HealthReport, log: Logger): string {
  const lines = [
    `${mark(log, r.headscale.healthy ? 'ok' : 'error')} Headscale ${r.headscale.healthy ? `${r.headscale.version} healthy` : `unreachable: ${r.headscale.error}`}`,
    `${mark(log, r.secret.exists ? 'ok' : 'error')} Secret ${r.secret.namespace}/${r.secret.name} ${r.secret.exists ? 'present' : 'missing'}`,
    '',
  ];
  const head = ['SERVICE', 'OWNER', 'KEY EXPIRES', 'SIDECAR', 'NODE', 'MAGICDNS', 'LAST SEEN'];
  const rows = r.services.map((s) => [
    `${mark(log, s.level)} ${s.service}`,
    s.user ? (s.user.exists ? s.user.name : `${s.user.name} (missing)`) : (s.tag ?? ''),
    s.key.expiration ? `${s.key.expiration.slice(0, 10)} (${s.key.daysLeft}d)` : s.key.inSecret ? 'unknown' : 'no key',
    s.sidecar,
    s.node ? `${s.node.online ? 'online' : 'offline'} ${s.node.ips[0] ?? ''}`.trim() : 'not registered',
    s.magicDns,
    s.node?.lastSeen?.replace('T', ' ').slice(0, 19) ?? '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  lines.push(head.map((h, i) => h.padEnd(widths[i]!)).join('  '));
  for (const row of rows) lines.push(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  if (r.policy) {
    const p = r.policy;
    const what = p.state === 'off' ? 'not managed (TAILNET_POLICY=off)' : p.current ? "june-ts's, up to date" : p.state;
    lines.push('', `${mark(log, p.level)} Access policy: ${what}${p.problem ? ` — ${p.problem}` : ''}`);
  }
  const problems = r.services.flatMap((s) => s.problems.map((p) => `  ${s.service}: ${p}`));
  if (problems.length) lines.push('', 'Problems:', ...problems, '', 'Run `june-ts doctor` for causes and fixes.');
  return lines.join('\n');
}

/** The run's context for one report: its checks run at once and share Headscale's answers. */
function onePass(ctx: Context): Context {
  let shared: Promise<HeadscaleClient> | undefined;
  return { ...ctx, headscale: () => (shared ??= ctx.headscale().then(readOnce)) };
}

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(statusOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const g = { ...o, dryRun: 'off' as const };
  const { ctx } = createContext('status', g, loadSettings(g, rt, log), rt, log);
  const deadline = Date.now() + ctx.config.waitTimeoutMs;
  const collect = async () => {
    const pass = onePass(ctx);
    const [health, policy] = await Promise.all([collectHealth(pass), policyState(pass)]);
    return health.headscale.healthy ? withPolicy(health, policy) : health;
  };
  let report = await collect();
  while (o.wait && report.level === 'error' && Date.now() < deadline && !ctx.signal.aborted) {
    await new Promise((r) => setTimeout(r, 2000));
    report = await collect();
  }
  log.print(o.output === 'json' ? JSON.stringify(report, null, 2) : renderStatus(report, log));
  if (report.level === 'error') {
    const bad = report.services.filter((s) => s.level === 'error').map((s) => s.service);
    throw new DegradedError(
      `tailnet degraded${bad.length ? `: ${bad.join(', ')}` : ''}${o.wait ? ` (after waiting ${Math.round(ctx.config.waitTimeoutMs / 1000)}s)` : ''}`,
      {
        hint: 'run `june-ts doctor` for causes and fixes',
      },
    );
  }
}
