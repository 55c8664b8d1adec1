// The run lock: a coordination.k8s.io Lease taken at the start of a mutating run, renewed
// while it runs, released at the end. A stale Lease, or one held by a dead process in this
// pid namespace of this boot, is taken over.
import * as k8s from '@kubernetes/client-node';
import { PreflightError } from '../errors.js';
import { holderGone } from './lock-holder.js';
import { realClock, statusOf, withRetry, type RetryHooks, type RetryPolicy } from './retry.js';

/** How the lock reaches the API: the client's retried calls and error mapping. */
export interface LeaseApi {
  coord: k8s.CoordinationV1Api;
  call<T>(what: string, fn: () => Promise<T>): Promise<T>;
  fail(action: string, e: unknown): never;
  /** Retries of the release on exit (its own, short budget). */
  releaseRetry: RetryPolicy;
  onRetry: RetryHooks['onRetry'];
}

/** Takes the Lease or throws PreflightError naming the holder; returns release(). */
export async function acquireLease(
  api: LeaseApi,
  namespace: string,
  name: string,
  holder: string,
  durationSeconds: number,
): Promise<() => Promise<void>> {
  const coord = api.coord;
  const now = () => new k8s.V1MicroTime(Date.now());
  const spec = () => ({ holderIdentity: holder, leaseDurationSeconds: durationSeconds, acquireTime: now(), renewTime: now() });
  try {
    await api.call('create lease', () => coord.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: spec() } }));
  } catch (e) {
    if (statusOf(e) !== 409) api.fail(`create Lease ${namespace}/${name}`, e);
    let current: k8s.V1Lease;
    try {
      current = await api.call('read lease', () => coord.readNamespacedLease({ name, namespace }));
    } catch (e2) {
      api.fail(`read Lease ${namespace}/${name}`, e2);
    }
    const renewed = current.spec?.renewTime ? new Date(current.spec.renewTime as unknown as string).getTime() : 0;
    const ttl = (current.spec?.leaseDurationSeconds ?? durationSeconds) * 1000;
    const other = current.spec?.holderIdentity;
    if (other && other !== holder && renewed + ttl > Date.now() && !holderGone(other, holder)) {
      throw new PreflightError(`another june-ts run holds the lock (Lease ${namespace}/${name}, holder ${other})`, {
        hint: `wait for it to finish; if it died, its lock expires ${Math.ceil((renewed + ttl - Date.now()) / 1000)}s after its last renewal`,
      });
    }
    current.spec = spec();
    try {
      await api.call('take over lease', () => coord.replaceNamespacedLease({ name, namespace, body: current }));
    } catch (e2) {
      if (statusOf(e2) === 409) {
        throw new PreflightError(`another june-ts run took the lock (Lease ${namespace}/${name}) at the same moment`, {
          hint: 'wait for it to finish',
        });
      }
      api.fail(`take over Lease ${namespace}/${name}`, e2);
    }
  }
  const timer = setInterval(
    () => {
      void coord
        .readNamespacedLease({ name, namespace })
        .then((l) => {
          if (l.spec?.holderIdentity !== holder) return;
          l.spec.renewTime = now();
          return coord.replaceNamespacedLease({ name, namespace, body: l });
        })
        .catch(() => {});
    },
    (durationSeconds * 1000) / 3,
  );
  timer.unref();
  return async () => {
    clearInterval(timer);
    try {
      const l = await withRetry('read lease', () => coord.readNamespacedLease({ name, namespace }), api.releaseRetry, realClock, {
        onRetry: api.onRetry,
      });
      if (l.spec?.holderIdentity === holder)
        await withRetry('delete lease', () => coord.deleteNamespacedLease({ name, namespace }), api.releaseRetry);
    } catch {
      /* an expired lease is harmless */
    }
  };
}
