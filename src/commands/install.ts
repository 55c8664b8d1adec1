// june-ts install: a fresh install, phases 11 → 11.2 → 11.5.
import { z } from 'zod';
import { WORKFLOWS } from '../phases/workflows.js';
import { createContext, executeWorkflow, globalOptionsSchema, makeLogger, parseOptions, type Runtime } from './common.js';

export const installOptionsSchema = globalOptionsSchema.and(
  z.object({
    skip: z.array(z.string()).default([]),
    only: z.array(z.string()).default([]),
    forceReauth: z.boolean().default(false),
  }),
);

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(installOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const session = createContext('install', o, { forceReauth: o.forceReauth }, rt, log);
  await executeWorkflow(WORKFLOWS.install, session, o, { skip: o.skip, only: o.only });
  if (!session.ctx.gate.dryRun) log.success('install complete');
}
