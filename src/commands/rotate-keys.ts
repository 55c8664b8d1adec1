// june-ts rotate-keys: new keys, proven before the old ones are expired, with no pod
// restarted (unless --restart). The rotate workflow restores the Secret when it fails
// before the old keys are expired (see phases/rotate.ts). --if-expiring-within makes it
// safe to run from cron: nothing happens unless a key is due.
import { z } from 'zod';
import type { Config } from '../config/load.js';
import { keyDurationMs } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { rotateData, servicesDue } from '../phases/rotate.js';
import { splitIds } from '../phases/engine.js';
import { WORKFLOWS } from '../phases/workflows.js';
import { executeWorkflow } from './execute.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { createContext, loadSettings } from './session.js';

export const rotateKeysOptionsSchema = globalOptionsSchema.and(
  z.object({
    service: z.array(z.string()).default([]),
    restart: z.boolean().default(false),
    ifExpiringWithin: z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return undefined;
        try {
          return { text: v, ms: keyDurationMs(v) };
        } catch {
          ctx.addIssue({
            code: 'custom',
            message: `--if-expiring-within: '${v}' is not a duration — use a number followed by h, d or w, e.g. 30d`,
          });
          return z.NEVER;
        }
      }),
  }),
);

/** --service narrows the rotation to configured services; none named means all of them. */
function pickServices(named: readonly string[], config: Config): string[] {
  const services = splitIds(named);
  const unknown = services.filter((s) => !config.services.includes(s));
  if (unknown.length) {
    throw new UsageError(`--service ${unknown.join(', ')}: not in TAILSCALE_SERVICES (${config.services.join(', ')})`, {
      hint: 'name a configured service, or add it to TAILSCALE_SERVICES first',
    });
  }
  return services.length ? services : config.services;
}

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(rotateKeysOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const config = loadSettings(o, rt, log);
  let services = pickServices(o.service, config);
  const session = createContext('rotate-keys', o, config, rt, log);
  if (o.ifExpiringWithin && session.ctx.gate.mode !== 'static') {
    const due = await servicesDue(session.ctx, services, o.ifExpiringWithin.ms);
    if (!due.length) {
      await session.close();
      log.success(`no key expires within ${o.ifExpiringWithin.text}: nothing to rotate (${services.join(', ')})`);
      return;
    }
    for (const d of due) log.info(`${d.service}: ${d.reason}`);
    services = due.map((d) => d.service);
  }
  await executeWorkflow(WORKFLOWS['rotate-keys'], session, rotateData(services, { restart: o.restart }), o, {});
  if (!session.ctx.gate.dryRun) log.success(`keys rotated for ${services.join(', ')}`);
}
