// june-ts cleanup: the reverse of install. Asks on a TTY; refuses without --yes elsewhere.
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { WORKFLOWS } from '../phases/workflows.js';
import type { CleanupData } from '../phases/cleanup.js';
import { executeWorkflow } from './execute.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { createContext, loadSettings } from './session.js';

export const cleanupOptionsSchema = globalOptionsSchema.and(
  z.object({ purge: z.boolean().default(false), all: z.boolean().default(false) }),
);

async function askOnTty(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(cleanupOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const session = createContext('cleanup', o, loadSettings(o, rt, log), rt, log);
  const { ctx } = session;
  if (!ctx.gate.dryRun && !o.yes) {
    const what = `remove the Tailscale sidecars${o.purge || o.all ? ', the Headscale users' : ''}${o.all ? ' and Headscale itself' : ''} from ${ctx.config.platform.namespace}`;
    const tty = rt.stdinIsTTY ?? Boolean(process.stdin.isTTY);
    if (!tty)
      throw new UsageError(`cleanup would ${what}; refusing without --yes when not on a terminal`, {
        hint: 're-run with --yes (or --dry-run to see the plan)',
      });
    const ok = await (rt.confirm ?? askOnTty)(`This will ${what}. Continue?`);
    if (!ok) {
      log.info('cleanup cancelled; nothing changed');
      return;
    }
  }
  const data: CleanupData = { purge: o.purge, all: o.all, cleaned: 0 };
  await executeWorkflow(WORKFLOWS.cleanup, session, data, o, {});
  if (ctx.gate.dryRun) return;
  if (!data.cleaned) log.success('nothing to clean up: no sidecars, nodes, Secrets or users of june-ts were found');
  else log.success(`cleanup complete (${data.cleaned} object(s) changed or removed)`);
}
