// june-ts deploy-sidecars: add the sidecars to an existing June Platform (phase 11.2 alone).
import { z } from 'zod';
import { sidecarsData } from '../phases/sidecars.js';
import { WORKFLOWS } from '../phases/workflows.js';
import { executeWorkflow } from './execute.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { createContext, loadSettings } from './session.js';

export const deploySidecarsOptionsSchema = globalOptionsSchema.and(
  z.object({ skip: z.array(z.string()).default([]), only: z.array(z.string()).default([]) }),
);

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(deploySidecarsOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const config = loadSettings(o, rt, log);
  const session = createContext('deploy-sidecars', o, config, rt, log);
  await executeWorkflow(WORKFLOWS['deploy-sidecars'], session, sidecarsData(config.services), o, { skip: o.skip, only: o.only });
  if (!session.ctx.gate.dryRun) log.success('sidecars deployed');
}
