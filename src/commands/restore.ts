// june-ts restore <backup>: Headscale back to a backup phase 11 took before an upgrade step.
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { backupsDir, type BackupRecord } from '../domain/headscale-backup.js';
import { UsageError } from '../errors.js';
import { Handoff } from '../phases/engine.js';
import { readLocalBackup, type Backup, type HeadscaleVolume } from '../phases/headscale-backup.js';
import { WORKFLOWS } from '../phases/workflows.js';
import { executeWorkflow } from './execute.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { createContext, loadSettings } from './session.js';

export const restoreOptionsSchema = globalOptionsSchema.and(z.object({ backup: z.string().min(1) }));

/** A backup on the volume named like 20261201T061500Z-v0.26.1 (no copy on this machine). */
const VOLUME_BACKUP = /^\d{8}T\d{6}Z-v(\d+\.\d+\.\d+)$/;

/** A directory holding a copy (backup.json + files), or the name of a backup on the volume. */
async function resolveBackup(arg: string, namespace: string, release: string): Promise<{ backup: Backup; fromLocal: boolean }> {
  if (existsSync(arg)) return { backup: await readLocalBackup(arg), fromLocal: true };
  const m = VOLUME_BACKUP.exec(arg);
  if (!m) {
    throw new UsageError(`${arg} is neither a backup directory nor the name of a backup on the Headscale volume`, {
      hint: `name the directory phase 11 printed (under HEADSCALE_BACKUP_DIR), or a name such as 20261201T061500Z-v0.26.1 from ${backupsDir()}`,
    });
  }
  const record: BackupRecord = {
    version: m[1]!,
    takenAt: arg.slice(0, 16),
    namespace,
    release,
    volumePath: `${backupsDir()}/${arg}`,
    sha256: {},
  };
  return { backup: { name: arg, localDir: '', record }, fromLocal: false };
}

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(restoreOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const config = loadSettings(o, rt, log);
  const { backup, fromLocal } = await resolveBackup(o.backup, config.headscale.namespace, config.headscale.release);
  const session = createContext('restore', o, config, rt, log);
  const data = { backup, fromLocal, volume: new Handoff<HeadscaleVolume | undefined>('the Headscale volume') };
  await executeWorkflow(WORKFLOWS.restore, session, data, o, { skip: [], only: [] });
  if (!session.ctx.gate.dryRun) log.success(`Headscale ${backup.record.version} restored from ${backup.name}`);
}
