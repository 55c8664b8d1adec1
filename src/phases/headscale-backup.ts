// Backups of Headscale's volume and their restore, through a short-lived helper pod that
// mounts the volume (domain/headscale-backup.ts says what the pod is and runs). A backup is
// kept on the volume and copied to the operator's machine; a restore puts one back while
// no Headscale pod runs.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.js';
import {
  BACKUP_CONTAINER,
  BACKUP_POD_LABEL,
  BACKUP_POD_ROLE,
  BACKUP_RECORD,
  backupName,
  backupPod,
  backupScript,
  backupsDir,
  dataClaim,
  listScript,
  parseSha256,
  readFileScript,
  restoreScript,
  writeFileScript,
  type BackupRecord,
} from '../domain/headscale-backup.js';
import { ExternalError, UsageError } from '../errors.js';
import type { PodInfo, PodTemplateSpec } from '../kube/types.js';
import { HEADSCALE_CONTAINER } from '../names.js';

type BackupCtx = Pick<Context, 'config' | 'log' | 'gate' | 'signal' | 'kube' | 'kubectl'>;

/** The Headscale Deployment's volume: its claim and the pod template the helper copies settings from. */
export interface HeadscaleVolume {
  claim: string;
  template: PodTemplateSpec;
}

export interface Backup {
  name: string;
  /** The copy on the operator's machine. */
  localDir: string;
  record: BackupRecord;
}

const POD_START_MS = 120_000;
const POLL_MS = 500;

/** The volume behind the running Headscale, or undefined when it keeps no data (persistence off). */
export function headscaleVolume(template: PodTemplateSpec): HeadscaleVolume | undefined {
  const claim = dataClaim(template);
  return claim ? { claim, template } : undefined;
}

export function headscaleSelector(ctx: Pick<Context, 'config'>): Record<string, string> {
  return { 'app.kubernetes.io/name': 'headscale', 'app.kubernetes.io/instance': ctx.config.headscale.release };
}

function podProblem(pod: PodInfo | null): string | undefined {
  if (!pod) return 'the pod disappeared';
  const c = pod.containers.find((x) => x.name === BACKUP_CONTAINER);
  if (pod.phase === 'Failed' || pod.phase === 'Succeeded') return `the pod ended (${pod.reason ?? pod.phase})`;
  if (c?.terminated) return `its container exited (${c.terminated.reason ?? `exit code ${c.terminated.exitCode}`})`;
  if (c?.waitingReason && /Err|Invalid|BackOff/.test(c.waitingReason)) return `its container cannot start (${c.waitingReason})`;
  return undefined;
}

/** Runs `fn` with a fresh helper pod on the volume, deleted again whatever happens. */
async function withHelperPod<T>(ctx: BackupCtx, volume: HeadscaleVolume, beside: boolean, fn: (pod: string) => Promise<T>): Promise<T> {
  const kube = await ctx.kube();
  const ns = ctx.config.headscale.namespace;
  const selector = `${BACKUP_POD_LABEL}=${BACKUP_POD_ROLE}`;
  await kube.deletePods(ns, selector);
  const manifest = backupPod(
    ns,
    volume.claim,
    ctx.config.headscale.backupImage,
    volume.template,
    beside ? headscaleSelector(ctx) : undefined,
  );
  const name = await kube.createPod(manifest);
  try {
    const deadline = Date.now() + Math.min(ctx.config.waitTimeoutMs, POD_START_MS);
    for (;;) {
      const pod = await kube.getPod(ns, name);
      if (pod?.phase === 'Running' && pod.containers.find((c) => c.name === BACKUP_CONTAINER)?.ready) break;
      const problem = podProblem(pod);
      if (problem || Date.now() > deadline) {
        throw new ExternalError(
          `the backup pod ${ns}/${name} did not start: ${problem ?? `not running after ${Math.round((deadline - Date.now()) / 1000 + POD_START_MS / 1000)}s`}`,
          {},
          {
            hint: `check the image (HEADSCALE_BACKUP_IMAGE=${ctx.config.headscale.backupImage}) and the claim ${volume.claim}: kubectl -n ${ns} describe pod ${name}`,
          },
        );
      }
      if (ctx.signal.aborted) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return await fn(name);
  } finally {
    await kube
      .deletePods(ns, selector)
      .catch((e: Error) =>
        ctx.log.warn(`could not delete the backup pod ${ns}/${name}: ${e.message} (kubectl -n ${ns} delete pod ${name})`),
      );
  }
}

/** Runs a script in the helper pod; a failure names the pod and what the script said, not the whole script. */
async function sh(ctx: BackupCtx, pod: string, what: string, script: string, input?: string): Promise<string> {
  const kubectl = await ctx.kubectl();
  const ns = ctx.config.headscale.namespace;
  try {
    return await kubectl.exec(ns, pod, BACKUP_CONTAINER, ['sh', '-c', script], input === undefined ? {} : { input });
  } catch (e) {
    if (!(e instanceof ExternalError) || e.details.exitCode === undefined) throw e;
    const said = (e.details.stderr ?? '').trim().split('\n').slice(-3).join('\n      ') || '(no output)';
    throw new ExternalError(`${what} in the backup pod ${ns}/${pod} failed (exit ${e.details.exitCode}): ${said}`, e.details, {
      hint: `the image (HEADSCALE_BACKUP_IMAGE=${ctx.config.headscale.backupImage}) must provide sh, sqlite3, base64 and sha256sum, and its user must read and write the volume`,
      cause: e,
    });
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Backs up the running Headscale's database (SQLite's online backup) and keys on its volume
 * and copies them to `localRoot/<name>`; `version` is the one that wrote the database.
 */
export async function takeBackup(ctx: BackupCtx, volume: HeadscaleVolume, version: string, localRoot: string): Promise<Backup> {
  const name = backupName(version, new Date());
  const ns = ctx.config.headscale.namespace;
  const localDir = join(localRoot, name);
  const record: BackupRecord = {
    version,
    takenAt: new Date().toISOString(),
    namespace: ns,
    release: ctx.config.headscale.release,
    volumePath: `${backupsDir()}/${name}`,
    sha256: {},
  };
  if (ctx.gate.dryRun) {
    ctx.gate.record({
      kind: 'note',
      text: `back up Headscale ${version}: a pod on claim ${volume.claim} (${ctx.config.headscale.backupImage}) copies the database (sqlite3 .backup) and the noise key to ${record.volumePath}, then to ${localDir}`,
    });
    return { name, localDir, record };
  }
  return withHelperPod(ctx, volume, true, async (pod) => {
    record.sha256 = parseSha256(await sh(ctx, pod, `the backup to ${record.volumePath}`, backupScript(name)));
    if (!record.sha256['db.sqlite']) throw new ExternalError(`the backup ${record.volumePath} holds no database`);
    await mkdir(localDir, { recursive: true, mode: 0o700 });
    for (const [file, hash] of Object.entries(record.sha256)) {
      const bytes = Buffer.from(await sh(ctx, pod, `reading ${file}`, readFileScript(name, file)), 'base64');
      if (sha256(bytes) !== hash)
        throw new ExternalError(`copying ${record.volumePath}/${file} to ${localDir} corrupted it (sha256 differs)`);
      // the noise key is the server's identity: only the operator may read it
      await writeFile(join(localDir, file), bytes, { mode: 0o600 });
    }
    await writeFile(join(localDir, BACKUP_RECORD), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    return { name, localDir, record };
  });
}

/** Reads a backup copied to this machine (a directory holding backup.json and the files it names). */
export async function readLocalBackup(dir: string): Promise<Backup> {
  let record: BackupRecord;
  try {
    record = JSON.parse(await readFile(join(dir, BACKUP_RECORD), 'utf8')) as BackupRecord;
  } catch (e) {
    throw new UsageError(`${dir} is not a june-ts backup: ${(e as Error).message}`, {
      hint: `name a directory phase 11 wrote (it holds ${BACKUP_RECORD}, db.sqlite and noise_private.key)`,
    });
  }
  if (typeof record.version !== 'string' || typeof record.volumePath !== 'string' || typeof record.sha256 !== 'object' || !record.sha256) {
    throw new UsageError(`${join(dir, BACKUP_RECORD)} is not a backup record june-ts wrote`, { hint: 'name a directory phase 11 wrote' });
  }
  for (const [file, hash] of Object.entries(record.sha256)) {
    const bytes = await readFile(join(dir, file)).catch(() => undefined);
    if (!bytes || sha256(bytes) !== hash) throw new UsageError(`${join(dir, file)} is missing or differs from the backup record (sha256)`);
  }
  return { name: record.volumePath.split('/').pop()!, localDir: dir, record };
}

/**
 * Puts a backup back on the volume while Headscale is stopped (headscale-release.ts: stopHeadscale first). With
 * `fromLocal` the files come from the operator's copy, else from the volume's own.
 */
export async function restoreFiles(ctx: BackupCtx, volume: HeadscaleVolume, backup: Backup, fromLocal: boolean): Promise<void> {
  if (ctx.gate.dryRun) {
    ctx.gate.record({
      kind: 'note',
      text: `restore ${fromLocal ? backup.localDir : backup.record.volumePath} onto claim ${volume.claim}: database and keys replaced, the WAL removed`,
    });
    return;
  }
  await withHelperPod(ctx, volume, false, async (pod) => {
    // the volume may still hold the same backup: then nothing needs to travel
    const onVolume = parseSha256(await sh(ctx, pod, `listing ${backup.name}`, listScript(backup.name)));
    const missing = Object.entries(backup.record.sha256).filter(([file, hash]) => onVolume[file] !== hash);
    if (fromLocal && !missing.length)
      ctx.log.info(`  the volume still holds ${backup.record.volumePath}, identical to ${backup.localDir}: restoring that`);
    if (fromLocal && missing.length) {
      for (const file of Object.keys(backup.record.sha256)) {
        const bytes = await readFile(join(backup.localDir, file));
        await sh(ctx, pod, `writing ${file}`, writeFileScript(backup.name, file), bytes.toString('base64'));
      }
    }
    const restored = parseSha256(await sh(ctx, pod, `restoring ${backup.name}`, restoreScript(backup.name)));
    for (const [file, hash] of Object.entries(backup.record.sha256)) {
      if (restored[file] !== hash)
        throw new ExternalError(`restoring ${file} failed: the volume holds a different file than the backup (sha256)`);
    }
  });
}

/** The last lines of the Headscale container's log, indented, for an error message. */
export async function headscaleLogTail(ctx: Pick<Context, 'config' | 'kube'>, pod: string | undefined): Promise<string> {
  if (!pod) return '';
  const kube = await ctx.kube();
  const tail = await kube.podLogTail(ctx.config.headscale.namespace, pod, HEADSCALE_CONTAINER, 8).catch(() => '');
  const lines = tail.trim() ? tail.trim().split('\n') : [];
  return lines.length ? `\n    last lines of its log:\n${lines.map((l) => `      ${l}`).join('\n')}` : '';
}
