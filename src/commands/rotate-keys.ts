// june-ts rotate-keys: new keys without downtime. The rotate workflow restores the Secret
// when it fails before the old keys are expired (see phases/rotate.ts).
import { z } from 'zod';
import type { Config } from '../config/load.js';
import { UsageError } from '../errors.js';
import { rotateData } from '../phases/rotate.js';
import { splitIds } from '../phases/engine.js';
import { WORKFLOWS } from '../phases/workflows.js';
import { executeWorkflow } from './execute.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { createContext, loadSettings } from './session.js';

export const rotateKeysOptionsSchema = globalOptionsSchema.and(z.object({ service: z.array(z.string()).default([]) }));

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
  const services = pickServices(o.service, config);
  const session = createContext('rotate-keys', o, config, rt, log);
  await executeWorkflow(WORKFLOWS['rotate-keys'], session, rotateData(services), o, {});
  if (!session.ctx.gate.dryRun) log.success(`keys rotated for ${services.join(', ')}`);
}
