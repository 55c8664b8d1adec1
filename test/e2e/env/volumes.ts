// The environment's storage provisioner: every PersistentVolumeClaim gets a PersistentVolume
// of its own, backed by a directory of the machine (hostPath), bound to that claim. The
// directory outlives the pods that mount it and is removed, with the volume, once the
// claim is gone (reclaim policy Delete, carried out here).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import { errText, sleep } from './util.js';

const PROVISIONER = 'e2e.june-ts.dev/hostpath';

export interface Provisioner {
  /** The directory behind a bound claim, or undefined while it is not bound. */
  claimPath(namespace: string, claimName: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

export function startProvisioner({
  core,
  dir,
  log,
  pollMs = 500,
}: {
  core: CoreV1Api;
  dir: string;
  log: (m: string) => void;
  pollMs?: number;
}): Provisioner {
  mkdirSync(dir, { recursive: true });
  let stopped = false;

  async function tick() {
    const claims = (await core.listPersistentVolumeClaimForAllNamespaces()).items;
    const volumes = (await core.listPersistentVolume()).items.filter(
      (v) => v.metadata?.annotations?.['pv.kubernetes.io/provisioned-by'] === PROVISIONER,
    );
    const byClaim = new Map(volumes.map((v) => [v.spec?.claimRef?.uid, v]));
    for (const pvc of claims) {
      if (!pvc.metadata?.uid || pvc.metadata.deletionTimestamp || byClaim.has(pvc.metadata.uid) || pvc.spec?.volumeName) continue;
      const name = `pvc-${pvc.metadata.uid}`;
      const path = join(dir, `${pvc.metadata.namespace}_${pvc.metadata.name}_${pvc.metadata.uid.slice(0, 8)}`);
      mkdirSync(path, { recursive: true });
      await core.createPersistentVolume({
        body: {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
          spec: {
            capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
            accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
            storageClassName: pvc.spec?.storageClassName ?? '',
            persistentVolumeReclaimPolicy: 'Retain',
            hostPath: { path, type: 'Directory' },
            claimRef: {
              apiVersion: 'v1',
              kind: 'PersistentVolumeClaim',
              namespace: pvc.metadata.namespace,
              name: pvc.metadata.name,
              uid: pvc.metadata.uid,
            },
          },
        },
      });
      log(`volume ${name} (${path}) for claim ${pvc.metadata.namespace}/${pvc.metadata.name}`);
    }
    const live = new Set(claims.map((c) => c.metadata?.uid));
    for (const v of volumes) {
      if (live.has(v.spec?.claimRef?.uid)) continue;
      const name = v.metadata?.name ?? '';
      await core.deletePersistentVolume({ name }).catch((e) => log(`delete volume ${name}: ${errText(e)}`));
      if (v.spec?.hostPath?.path?.startsWith(dir + '/')) rmSync(v.spec.hostPath.path, { recursive: true, force: true });
      log(`volume ${name} removed with its claim`);
    }
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        await tick();
      } catch (e) {
        log(`provisioner: ${errText(e)}`);
      }
      await sleep(pollMs);
    }
  })();

  return {
    async claimPath(namespace, claimName) {
      const pvc = await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace });
      if (pvc.status?.phase !== 'Bound' || !pvc.spec?.volumeName) return undefined;
      const pv = await core.readPersistentVolume({ name: pvc.spec.volumeName });
      return pv.spec?.hostPath?.path;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
