// The environment acts as kubelet for one container kind: every scheduled pod (any
// namespace) with a container named `tailscale` gets a real tailscaled + `tailscale up`
// built from that container's env, the way tailscale's containerboot reads it.
import { mkdirSync, existsSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startTailscaled } from './tailscale.mjs';
import { sleep, waitFor } from './util.mjs';

/** Expands $(VAR) references like the kubelet does (earlier entries only; $$ escapes). */
function expand(value, vars) {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name) => {
    if (m === '$$') return '$';
    return name in vars ? vars[name] : m;
  });
}

/** Splits TS_EXTRA_ARGS on whitespace (containerboot does the same). */
function splitArgs(s) { return (s ?? '').trim().split(/\s+/).filter(Boolean); }

/**
 * @param {{kubeconfig:string, dir:string, logsDir:string, tsBin:string, tsCli:string, pollMs?:number}} o
 */
export function startSidecarKubelet({ kubeconfig, dir, logsDir, tsBin, tsCli, pollMs = 500 }) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  mkdirSync(join(dir, 's'), { recursive: true });
  mkdirSync(join(dir, 'state'), { recursive: true });
  mkdirSync(join(logsDir, 'sidecars'), { recursive: true });
  const eventsLog = join(logsDir, 'sidecars', 'events.log');
  const log = (msg) => appendFileSync(eventsLog, `${new Date().toISOString()} ${msg}\n`);

  /** @type {Map<string, any>} pod uid -> sidecar record */
  const sidecars = new Map();
  /** state key -> uid currently holding that node identity */
  const stateHolders = new Map();
  let seq = 0;
  let stopped = false;

  async function resolveEnv(pod, container) {
    /** @type {Record<string,string>} */
    const vars = {};
    const problems = [];
    for (const e of container.env ?? []) {
      // the API server drops `value: ""`: an entry without value/valueFrom is the empty string
      if (!e.valueFrom) { vars[e.name] = expand(e.value ?? '', vars); continue; }
      const vf = e.valueFrom;
      if (vf.secretKeyRef) {
        const { name, key, optional } = vf.secretKeyRef;
        try {
          const s = await core.readNamespacedSecret({ name, namespace: pod.metadata.namespace });
          const b64 = s.data?.[key];
          if (b64 === undefined) { if (!optional) problems.push(`secret ${pod.metadata.namespace}/${name} has no key ${key}`); }
          else vars[e.name] = Buffer.from(b64, 'base64').toString('utf8');
        } catch (err) {
          if (!optional) problems.push(`secret ${pod.metadata.namespace}/${name}: ${/** @type {any} */ (err).code ?? ''} ${String(/** @type {any} */ (err).message ?? err).split('\n')[0]}`);
        }
      } else if (vf.fieldRef) {
        const f = vf.fieldRef.fieldPath;
        const v = f === 'metadata.name' ? pod.metadata.name : f === 'metadata.namespace' ? pod.metadata.namespace
          : f === 'metadata.uid' ? pod.metadata.uid : f === 'spec.nodeName' ? pod.spec.nodeName
          : f === 'status.podIP' ? pod.status?.podIP : f === 'spec.serviceAccountName' ? pod.spec.serviceAccountName : undefined;
        if (v !== undefined) vars[e.name] = v;
      } else if (vf.configMapKeyRef) {
        const { name, key, optional } = vf.configMapKeyRef;
        try {
          const cm = await core.readNamespacedConfigMap({ name, namespace: pod.metadata.namespace });
          if (cm.data?.[key] !== undefined) vars[e.name] = cm.data[key];
          else if (!optional) problems.push(`configmap ${name} has no key ${key}`);
        } catch (err) { if (!optional) problems.push(`configmap ${name}: ${String(/** @type {any} */ (err).message).split('\n')[0]}`); }
      }
    }
    return { vars, problems };
  }

  async function startSidecar(rec, pod, container) {
    const ns = pod.metadata.namespace;
    const { vars, problems } = await resolveEnv(pod, container);
    const authKey = vars.TS_AUTHKEY ?? vars.TS_AUTH_KEY;
    rec.hostname = vars.TS_HOSTNAME || pod.metadata.name;
    const extra = splitArgs(vars.TS_EXTRA_ARGS);
    // containerboot: TS_KUBE_SECRET defaults to "tailscale" inside Kubernetes; "" = in-memory state.
    const kubeSecret = 'TS_KUBE_SECRET' in vars ? vars.TS_KUBE_SECRET : 'tailscale';
    rec.stateKey = kubeSecret ? `${ns}/${kubeSecret}` : undefined;
    if (rec.stateKey) {
      // one node identity per state Secret: wait until the previous holder is gone
      await waitFor(`state ${rec.stateKey} to be released`, () => !stateHolders.has(rec.stateKey) || stateHolders.get(rec.stateKey) === rec.uid || rec.cancelled, { timeoutMs: 10 * 60_000, intervalMs: 200 });
      if (rec.cancelled) return;
      stateHolders.set(rec.stateKey, rec.uid);
    }
    const stateDir = rec.stateKey ? join(dir, 'state', rec.stateKey.replace('/', '__')) : undefined;
    rec.logFile = join(logsDir, 'sidecars', `${ns}_${pod.metadata.name}.log`);
    log(`start ${rec.id} hostname=${rec.hostname} state=${rec.stateKey ?? 'mem'} extra=${extra.join(' ')}`);
    rec.ts = await startTailscaled({ bin: tsBin, cli: tsCli, dir: join(dir, 's', String(rec.n)), logFile: rec.logFile, stateDir });
    rec.socket = rec.ts.socket;
    if (rec.cancelled) return;
    if (problems.length) throw new Error(`CreateContainerConfigError: ${problems.join('; ')}`);
    // TS_AUTH_ONCE-like: a node restored from its state comes up Running without a key.
    if (stateDir) {
      const st = await waitFor('tailscaled backend state', async () => {
        const s = await rec.ts.status();
        return ['Running', 'NeedsLogin', 'NeedsMachineAuth', 'Stopped'].includes(s.BackendState) && s;
      }, { timeoutMs: 10_000, intervalMs: 200 }).catch(() => null);
      if (st?.BackendState === 'Running') {
        log(`${rec.id}: restored from state, already Running`);
        await writeDeviceInfo(ns, kubeSecret, st).catch(() => {});
        return;
      }
    }
    let loginServer;
    const rest = [];
    for (let i = 0; i < extra.length; i++) {
      if (extra[i].startsWith('--login-server=')) loginServer = extra[i].slice('--login-server='.length);
      else if (extra[i] === '--login-server') loginServer = extra[++i];
      else rest.push(extra[i]);
    }
    if (!authKey) throw new Error('no TS_AUTHKEY/TS_AUTH_KEY: node would need interactive login');
    if (!loginServer) throw new Error('no --login-server in TS_EXTRA_ARGS: would talk to controlplane.tailscale.com');
    let key = authKey;
    if (key.startsWith('file:')) throw new Error('TS_AUTHKEY=file:… is not supported by the e2e sidecar kubelet');
    await rec.ts.up({ loginServer, authKey: key, hostname: rec.hostname, timeoutSec: 20, extra: rest });
    if (kubeSecret) await writeDeviceInfo(ns, kubeSecret, await rec.ts.status()).catch((e) => log(`${rec.id}: state Secret ${kubeSecret} not written: ${String(e?.message ?? e).split('\n')[0]}`));
  }

  /** Like containerboot: device_id, device_fqdn, device_ips in the TS_KUBE_SECRET Secret
   *  (created if missing). Node keys stay in the local state dir. */
  async function writeDeviceInfo(namespace, name, st) {
    const data = {
      device_id: Buffer.from(String(st.Self?.ID ?? '')).toString('base64'),
      device_fqdn: Buffer.from(String(st.Self?.DNSName ?? '').replace(/\.$/, '')).toString('base64'),
      device_ips: Buffer.from(JSON.stringify(st.Self?.TailscaleIPs ?? [])).toString('base64'),
    };
    let cur;
    try { cur = await core.readNamespacedSecret({ name, namespace }); } catch { cur = undefined; }
    if (cur) {
      cur.data = { ...(cur.data ?? {}), ...data };
      await core.replaceNamespacedSecret({ name, namespace, body: cur });
    } else {
      await core.createNamespacedSecret({ namespace, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'Opaque', data } });
    }
  }

  // Like the kubelet: a sidecar that failed (CreateContainerConfigError for a Secret key that
  // does not exist yet, or `tailscale up` failing) is started again with a growing back-off.
  // The kubelet's back-off starts at 10s; 2s here keeps the tests short.
  const backoffMs = (restarts) => Math.min(2000 * 2 ** restarts, 30_000);

  function launch(pod, container, restarts = 0) {
    const rec = {
      restarts, failedAt: 0, relaunching: false,
      uid: pod.metadata.uid, id: `${pod.metadata.namespace}/${pod.metadata.name}`, namespace: pod.metadata.namespace,
      pod: pod.metadata.name, n: ++seq, state: 'starting', error: undefined, hostname: undefined, socket: undefined,
      stateKey: undefined, ts: undefined, logFile: undefined, cancelled: false, startedAt: Date.now(),
    };
    sidecars.set(rec.uid, rec);
    rec.done = startSidecar(rec, pod, container).then(
      () => { if (!rec.cancelled) { rec.state = 'joined'; log(`joined ${rec.id} (${rec.hostname}) in ${Date.now() - rec.startedAt}ms`); } },
      (err) => { rec.state = 'failed'; rec.failedAt = Date.now(); rec.error = String(err?.message ?? err); log(`FAILED ${rec.id} (${rec.hostname}): ${rec.error}`); },
    );
  }

  async function terminate(rec, why) {
    if (rec.cancelled) return;
    rec.cancelled = true;
    log(`stop ${rec.id} (${why})`);
    await rec.done.catch(() => {});
    await rec.ts?.stop().catch(() => {});
    rec.state = 'stopped';
    if (rec.stateKey && stateHolders.get(rec.stateKey) === rec.uid) stateHolders.delete(rec.stateKey);
    sidecars.delete(rec.uid);
  }

  async function tick() {
    const list = await core.listPodForAllNamespaces();
    const seen = new Set();
    for (const pod of list.items) {
      const c = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((x) => x.name === 'tailscale');
      if (!c) continue;
      const uid = pod.metadata.uid;
      const gone = !!pod.metadata.deletionTimestamp || ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '');
      if (gone) continue; // not "seen": terminated below
      seen.add(uid);
      const rec = sidecars.get(uid);
      if (!rec && pod.spec.nodeName && pod.status?.phase === 'Running') launch(pod, c);
      else if (rec && rec.state === 'failed' && !rec.relaunching && Date.now() - rec.failedAt > backoffMs(rec.restarts)) {
        rec.relaunching = true;
        void terminate(rec, `restart ${rec.restarts + 1} after failure`).then(() => { if (!stopped) launch(pod, c, rec.restarts + 1); });
      }
    }
    for (const rec of [...sidecars.values()]) if (!seen.has(rec.uid)) void terminate(rec, 'pod deleted');
  }

  const loop = (async () => {
    while (!stopped) {
      try { await tick(); } catch (e) { log(`poll error: ${String(/** @type {any} */ (e)?.message ?? e).split('\n')[0]}`); }
      await sleep(pollMs);
    }
  })();

  const find = (namespace, hostname) => [...sidecars.values()].filter((r) => r.namespace === namespace && r.hostname === hostname && !r.cancelled).sort((a, b) => b.n - a.n);

  return {
    /** every live sidecar */
    list: () => [...sidecars.values()].map(({ uid, id, namespace, pod, hostname, state, error, socket, stateKey, logFile }) => ({ uid, id, namespace, pod, hostname, state, error, socket, stateKey, logFile })),
    /** resolves once the newest sidecar with this TS_HOSTNAME has BackendState Running (real `tailscale status`). */
    async waitJoined(namespace, hostname, timeoutMs = 90_000) {
      return waitFor(`sidecar ${namespace}/${hostname} joined`, async () => {
        const r = find(namespace, hostname).find((x) => x.state === 'joined');
        if (!r) {
          const f = find(namespace, hostname)[0];
          if (f?.state === 'failed') throw new Error(`last attempt failed: ${f.error}`);
          return false;
        }
        const st = await r.ts.status();
        return st.BackendState === 'Running' && { pod: r.pod, socket: r.socket, status: st };
      }, { timeoutMs, intervalMs: 300 });
    },
    /** resolves with the error once the newest sidecar with this hostname failed to join */
    async waitFailed(namespace, hostname, timeoutMs = 90_000) {
      return waitFor(`sidecar ${namespace}/${hostname} to fail`, () => {
        const r = find(namespace, hostname)[0];
        if (r?.state === 'joined') throw Object.assign(new Error(`${namespace}/${hostname} joined instead of failing`), { fatal: true });
        return r?.state === 'failed' && r.error;
      }, { timeoutMs, intervalMs: 300 });
    },
    /** resolves when no live sidecar remains for this pod name */
    async waitPodGone(namespace, pod, timeoutMs = 60_000) {
      return waitFor(`sidecar of ${namespace}/${pod} stopped`, () => ![...sidecars.values()].some((r) => r.namespace === namespace && r.pod === pod), { timeoutMs, intervalMs: 200 });
    },
    socketFor(hostname, namespace) {
      const r = [...sidecars.values()].filter((x) => x.hostname === hostname && (!namespace || x.namespace === namespace) && x.state === 'joined').sort((a, b) => b.n - a.n)[0];
      return r?.socket;
    },
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...sidecars.values()].map((r) => terminate(r, 'env stop')));
    },
  };
}
