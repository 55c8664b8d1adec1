// june-ts rotate-keys: new keys without downtime. On failure before the old keys are expired,
// the Secret is restored, so the running sidecars and the old keys stay valid.
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { WORKFLOWS } from '../phases/workflows.js';
import { createContext, executeWorkflow, globalOptionsSchema, makeLogger, parseOptions, type Runtime } from './common.js';

export const rotateKeysOptionsSchema = globalOptionsSchema.and(z.object({ service: z.array(z.string()).default([]) }));

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(rotateKeysOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const session = createContext('rotate-keys', o, {}, rt, log);
  const { ctx } = session;
  const services = o.service.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = services.filter((s) => !ctx.config.services.includes(s));
  if (unknown.length) {
    throw new UsageError(`--service ${unknown.join(', ')}: not in TAILSCALE_SERVICES (${ctx.config.services.join(', ')})`, {
      hint: 'name a configured service, or add it to TAILSCALE_SERVICES first',
    });
  }
  ctx.options.services = services;
  await executeWorkflow(WORKFLOWS['rotate-keys'], session, o, {}, {
    onFailure: async (error) => {
      const wrote = ctx.state.keys && [...ctx.state.keys.values()].some((k) => k.minted);
      if (!wrote || ctx.gate.dryRun || ctx.state.previousSecret === undefined) return;
      const kube = await ctx.kube();
      try {
        await kube.restoreSecret(ctx.config.platform.namespace, ctx.config.authSecretName, ctx.state.previousSecret);
        log.warn(`rotation failed (${(error as Error).message.split('\n')[0]}); the Secret was restored and the old keys stay valid. Fix the cause and re-run \`june-ts rotate-keys\`.`);
      } catch (e) {
        log.error(`rotation failed and the Secret could not be restored: ${(e as Error).message}`);
      }
    },
  });
  if (!ctx.gate.dryRun) log.success(`keys rotated for ${(services.length ? services : ctx.config.services).join(', ')}`);
}
