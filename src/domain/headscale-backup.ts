// What a backup of Headscale's volume is: the helper pod that reads the volume (the
// Headscale image is distroless: no shell, no sqlite3), the scripts it runs, and the record
// kept beside the copy on the operator's machine. Pure.
import type { PodManifest, PodTemplateSpec } from '../kube/types.js';
import { HEADSCALE_DATA_DIR, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../names.js';

/** Label (and value) of the backup pod: the only pods june-ts deletes by it. */
export const BACKUP_POD_LABEL = 'june-ts.dev/role';
export const BACKUP_POD_ROLE = 'headscale-backup';
export const BACKUP_CONTAINER = 'backup';
/** The name of the Headscale chart's data volume in its pod template. */
const DATA_VOLUME = 'data';

/** Files of a backup, in the data directory and in the backup. The DB comes from SQLite's online backup. */
export const BACKUP_FILES = ['db.sqlite', 'noise_private.key'] as const;
/** Copied when it exists (only with the embedded DERP server). */
const OPTIONAL_FILES = ['derp_server_private.key'] as const;
/** The record written beside the files on the operator's machine. */
export const BACKUP_RECORD = 'backup.json';

export interface BackupRecord {
  /** Headscale version that wrote the database (restore deploys it again). */
  version: string;
  takenAt: string;
  namespace: string;
  release: string;
  /** The directory on the volume, e.g. /var/lib/headscale/backups/20261201T061500Z-v0.26.1. */
  volumePath: string;
  /** sha256 of each file, as the pod computed it. */
  sha256: Record<string, string>;
}

export function backupsDir(): string {
  return `${HEADSCALE_DATA_DIR}/backups`;
}

/** `20261201T061500Z-v0.26.1`: sorts by time, names the version that wrote the database. */
export function backupName(version: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
  return `${stamp}-v${version}`;
}

/** The claim behind the chart's data volume, or undefined when it is an emptyDir (persistence off). */
export function dataClaim(template: PodTemplateSpec): string | undefined {
  const volume = template.volumes?.find((v) => v.name === DATA_VOLUME) as { persistentVolumeClaim?: { claimName?: string } } | undefined;
  return volume?.persistentVolumeClaim?.claimName;
}

/**
 * The helper pod: the Headscale pod's security settings, the claim mounted where Headscale
 * has it. With `besideLabels` it must run on the node of the pod carrying them (a
 * ReadWriteOnce volume is attached to one node); a restore runs while no Headscale pod exists.
 */
export function backupPod(
  namespace: string,
  claim: string,
  image: string,
  template: PodTemplateSpec,
  besideLabels?: Record<string, string>,
): PodManifest {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'headscale-backup-',
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [BACKUP_POD_LABEL]: BACKUP_POD_ROLE },
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      // the pod only waits for `kubectl exec`; it must not outlive a run that crashed
      activeDeadlineSeconds: 3600,
      ...(template.securityContext ? { securityContext: template.securityContext } : {}),
      ...(template.tolerations ? { tolerations: template.tolerations } : {}),
      ...(template.imagePullSecrets ? { imagePullSecrets: template.imagePullSecrets } : {}),
      ...(besideLabels
        ? {
            affinity: {
              podAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [
                  { labelSelector: { matchLabels: besideLabels }, topologyKey: 'kubernetes.io/hostname' },
                ],
              },
            },
          }
        : {}),
      containers: [
        {
          name: BACKUP_CONTAINER,
          image,
          command: ['sleep', '3600'],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          volumeMounts: [{ name: DATA_VOLUME, mountPath: HEADSCALE_DATA_DIR }],
        },
      ],
      volumes: [{ name: DATA_VOLUME, persistentVolumeClaim: { claimName: claim } }],
    },
  };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Takes the backup on the volume while Headscale runs: SQLite's online backup (consistent
 * with the WAL), checked with integrity_check, and the private keys. Prints `sha256  path`
 * of every file.
 */
export function backupScript(name: string): string {
  const dir = `${backupsDir()}/${name}`;
  const db = `${HEADSCALE_DATA_DIR}/db.sqlite`;
  return [
    'set -e',
    `d=${q(dir)}`,
    `test -f ${q(db)} || { echo "no database at ${db}" >&2; exit 3; }`,
    'mkdir -p "$d"',
    `sqlite3 ${q(db)} ".backup '$d/db.sqlite'"`,
    `test "$(sqlite3 "$d/db.sqlite" 'PRAGMA integrity_check')" = ok || { echo 'the copy fails integrity_check' >&2; exit 4; }`,
    `cp ${q(`${HEADSCALE_DATA_DIR}/noise_private.key`)} "$d/"`,
    ...OPTIONAL_FILES.map((f) => `if [ -f ${q(`${HEADSCALE_DATA_DIR}/${f}`)} ]; then cp ${q(`${HEADSCALE_DATA_DIR}/${f}`)} "$d/"; fi`),
    'cd "$d" && sha256sum *',
  ].join('\n');
}

/** Prints one file of a backup on the volume as base64 (stdout of `kubectl exec` is text). */
export function readFileScript(name: string, file: string): string {
  return `base64 ${q(`${backupsDir()}/${name}/${file}`)}`;
}

/** Prints `sha256  file` of each file of a backup on the volume; nothing when there is no such backup. */
export function listScript(name: string): string {
  return `cd ${q(`${backupsDir()}/${name}`)} 2>/dev/null && sha256sum * || true`;
}

/** Writes stdin (base64) as a file of a backup directory on the volume, for a restore from the operator's copy. */
export function writeFileScript(name: string, file: string): string {
  return `set -e; mkdir -p ${q(`${backupsDir()}/${name}`)}; base64 -d > ${q(`${backupsDir()}/${name}/${file}`)}`;
}

/**
 * Puts a backup on the volume back in place. Headscale must not run: its WAL and shared
 * memory file go (they belong to the database being replaced). Prints `sha256  file` of
 * the files it restored, so the caller can check them against the record.
 */
export function restoreScript(name: string): string {
  const dir = `${backupsDir()}/${name}`;
  const files = [...BACKUP_FILES, ...OPTIONAL_FILES];
  return [
    'set -e',
    `d=${q(dir)}`,
    `test -f "$d/db.sqlite" || { echo "no backup at $d" >&2; exit 3; }`,
    `rm -f ${q(`${HEADSCALE_DATA_DIR}/db.sqlite-wal`)} ${q(`${HEADSCALE_DATA_DIR}/db.sqlite-shm`)}`,
    ...files.map(
      (f) =>
        `if [ -f "$d/${f}" ]; then cp "$d/${f}" ${q(`${HEADSCALE_DATA_DIR}/${f}.restoring`)}; mv ${q(`${HEADSCALE_DATA_DIR}/${f}.restoring`)} ${q(`${HEADSCALE_DATA_DIR}/${f}`)}; fi`,
    ),
    `cd ${q(HEADSCALE_DATA_DIR)} && sha256sum ${files.map((f) => `$(test -f ${f} && echo ${f})`).join(' ')}`,
  ].join('\n');
}

/** `sha256sum` output → file name → hash. */
export function parseSha256(output: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim());
    if (m) out[m[2]!.split('/').pop()!] = m[1]!;
  }
  return out;
}
