// When a Helm release is stuck, and how june-ts's values combine with the user's. Pure.
import { PreflightError } from '../errors.js';
import type { ReleaseInfo } from '../helm/types.js';

export interface ReleaseRef {
  release: string;
  namespace: string;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge, everything else in `over` replaces. */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isObject(v) && isObject(out[k]) ? mergeValues(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

export function sameValues(a: unknown, b: unknown): boolean {
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => sameValues(a[k], b[k]));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValues(x, b[i]));
  return a === b;
}

/**
 * A release whose last revision is pending-install/-upgrade/-rollback: a Helm operation on it
 * was killed mid-way (or is running right now). Helm refuses every upgrade then ("another
 * operation is in progress"), and only a human can tell which of the two it is, so june-ts
 * stops before changing anything and names the command that puts the release back.
 */
export function stuckRelease(info: ReleaseInfo | null, spec: ReleaseRef): PreflightError | undefined {
  if (!info?.status.startsWith('pending-')) return undefined;
  const ns = `-n ${spec.namespace}`;
  const fix =
    info.status === 'pending-install'
      ? `\`helm uninstall ${spec.release} ${ns}\` (its first install never finished)`
      : `\`helm rollback ${spec.release} ${ns}\` (back to the revision before ${info.revision}; see \`helm history ${spec.release} ${ns}\`)`;
  // after a failed rollback, a bare `helm rollback` would go back to the interrupted revision: name the one before it
  const rollbackFails =
    info.status === 'pending-install'
      ? ''
      : `. ${ROLLBACK_MISSING_OBJECT_FIX(spec.namespace, `helm rollback ${spec.release} ${info.revision - 1} ${ns}`)}`;
  return new PreflightError(
    `release ${spec.release} in ${spec.namespace} is ${info.status} (revision ${info.revision}): a Helm operation on it was interrupted, or is still running`,
    { hint: `if no helm command is working on it, run ${fix}, then re-run june-ts${rollbackFails}` },
  );
}

/**
 * Helm rolls back by patching every object of the target revision that the interrupted
 * revision's manifest lists, and creating the others. An object the interrupted upgrade had
 * dropped from its manifest but not yet deleted is neither: it exists, so Helm will not create
 * it, and it is not in the manifest, so Helm will not patch it ("no Role with the name … found",
 * Helm 4: "original object Secret with the name … not found").
 * Deleting it lets the rollback create it again. The failed rollback is itself recorded as a
 * revision, so the next rollback must name its target revision.
 */
const ROLLBACK_MISSING_OBJECT_FIX = (namespace: string, rollback: string) =>
  `If the rollback fails with 'no <Kind> with the name "<name>" found' (Helm 3) or 'original object <Kind> with the name "<name>" not found' (Helm 4), ` +
  `the interrupted upgrade had dropped that object from the release without deleting it: ${recreate(namespace, '<kind>', '<name>', rollback)}`;

const recreate = (namespace: string, kind: string, name: string, rollback: string) =>
  `delete it (\`kubectl -n ${namespace} delete ${kind} ${name}\`) and run \`${rollback}\` (with the revision), repeating for each object it names; Helm re-creates them`;

/** The fix for a rollback that failed on an object the failed upgrade dropped but did not delete; undefined for other failures. */
export function rollbackFailureFix(message: string, namespace: string, rollback: string): string | undefined {
  const m = /(?:no|original object) (\w+) with the name "([^"]+)" (?:not )?found/.exec(message);
  if (!m) return undefined;
  return `${m[1]} ${m[2]} was dropped from the release by the failed upgrade without being deleted: ${recreate(namespace, m[1]!.toLowerCase(), m[2]!, rollback)}`;
}
/** Throws stuckRelease's error, if any. */
export function assertReleaseSettled(info: ReleaseInfo | null, spec: ReleaseRef): void {
  const stuck = stuckRelease(info, spec);
  if (stuck) throw stuck;
}
