// june-ts deploy-sidecars: add the sidecars to an existing June Platform (phase 11.2 alone).
import { z } from 'zod';
import { WORKFLOWS } from '../phases/workflows.js';
import { createContext, executeWorkflow, globalOptionsSchema, makeLogger, parseOptions, type Runtime } from './common.js';

export const deploySidecarsOptionsSchema = globalOptionsSchema.and(
  z.object({ skip: z.array(z.string()).default([]), only: z.array(z.string()).default([]) }),
);

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(deploySidecarsOptionsSchema, raw);
  const log = makeLogger(o, rt);
  // ENABLE_TAILSCALE_SIDECARS=false only gates `install`: this command exists to add them.
  const session = createContext('deploy-sidecars', o, {}, rt, log);
  session.ctx.config.sidecarsEnabled = true;
  await executeWorkflow(WORKFLOWS['deploy-sidecars'], session, o, { skip: o.skip, only: o.only });
  if (!session.ctx.gate.dryRun) log.success('sidecars deployed');
}
