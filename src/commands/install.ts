// june-ts install: a fresh install, phases 11 → 11.2 → 11.5.
import { resolve } from 'node:path';
import { z } from 'zod';
import { sidecarsData } from '../phases/sidecars.js';
import { WORKFLOWS } from '../phases/workflows.js';
import { executeWorkflow } from './execute.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { createContext, loadSettings } from './session.js';

export const installOptionsSchema = globalOptionsSchema.and(
  z.object({
    skip: z.array(z.string()).default([]),
    only: z.array(z.string()).default([]),
    forceReauth: z.boolean().default(false),
    backupDir: z.string().optional(),
  }),
);

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(installOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const config = loadSettings(o, rt, log);
  const data = {
    ...sidecarsData(config.services),
    forceReauth: o.forceReauth,
    backupDir: resolve(o.backupDir ?? config.headscale.backupDir),
  };
  const session = createContext('install', o, config, rt, log);
  await executeWorkflow(WORKFLOWS.install, session, data, o, { skip: o.skip, only: o.only });
  if (!session.ctx.gate.dryRun) log.success('install complete');
}
