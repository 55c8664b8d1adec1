// What every part of the environment's kubelet shares: its API clients, its dirs and ports,
// its event log, how a container runs, where a container's env and volumes come from.
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { transformSync } from 'esbuild';
import { kubernetesServiceEnv, type EnvSources } from './container-env.js';
import { runnableImage, type RunnableImage } from './images.js';
import { startProvisioner, type Provisioner } from './volumes.js';

const AGENT_SOURCE = fileURLToPath(new URL('./pod-agent.ts', import.meta.url));
export const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface KubeletOptions {
  kubeconfig: string;
  /** the pods' dirs (sandboxes, service accounts, volumes); not under /tmp, which pods get privately */
  dir: string;
  logsDir: string;
  /** containerboot, tailscaled and tailscale of the sidecars */
  tsBinDir: string;
  apiserverPort: number;
  headscalePort: number;
  pollMs?: number;
  /** also run pods whose images images.ts maps, and provision their PersistentVolumeClaims (volumes.ts) */
  runImages?: boolean;
  /** the toolchain's bin dir (default: the parent of tsBinDir) */
  binRoot?: string;
}

/** How a container runs: the sidecar's containerboot or an image's program (undefined: the HTTP stand-in). */
export type Runner = { name: 'containerboot' } | RunnableImage;

export interface KubeletContext {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  dir: string;
  logsDir: string;
  tsBinDir: string;
  apiserverPort: number;
  headscalePort: number;
  /** the pod agent compiled to plain JavaScript (every pod runs it under plain node) */
  agent: string;
  /** a line in the kubelet's own log (logs/env/<name>/pods/events.log) */
  log(msg: string): void;
  runnerOf(c: k8s.V1Container): Runner | undefined;
  /** Secrets, ConfigMaps and the service variables a container's env is computed from */
  src: EnvSources;
  provisioner: Provisioner | undefined;
}

export function kubeletContext(o: KubeletOptions): KubeletContext {
  const { kubeconfig, dir, logsDir, tsBinDir, apiserverPort, headscalePort } = o;
  const { runImages = false, binRoot = dirname(tsBinDir) } = o;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  mkdirSync(dir, { recursive: true });
  // every pod runs the agent under plain node: compiled from TypeScript once, here
  const agent = join(dir, 'pod-agent.mjs');
  writeFileSync(agent, transformSync(readFileSync(AGENT_SOURCE, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20' }).code);
  mkdirSync(join(logsDir, 'pods'), { recursive: true });
  const eventsLog = join(logsDir, 'pods', 'events.log');
  const log = (msg: string) => appendFileSync(eventsLog, `${new Date().toISOString()} ${msg}\n`);
  // the pods' PersistentVolumeClaims: a directory each, bound by the env's provisioner
  const provisioner = runImages ? startProvisioner({ core, dir: join(dir, 'pv'), log }) : undefined;
  const runnerOf = (c: k8s.V1Container): Runner | undefined =>
    c.name === 'tailscale' ? { name: 'containerboot' } : runImages ? runnableImage(c.image, binRoot) : undefined;

  const notFound = (e: unknown) => (e as { code?: number } | undefined)?.code === 404;
  const decoded = (data: Record<string, string> | undefined) =>
    Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')]));
  const src: EnvSources = {
    serviceEnv: kubernetesServiceEnv({ host: '127.0.0.1', port: 443 }),
    async secret(ns, name) {
      try {
        return decoded((await core.readNamespacedSecret({ name, namespace: ns })).data);
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
    },
    async configMap(ns, name) {
      try {
        return (await core.readNamespacedConfigMap({ name, namespace: ns })).data ?? {};
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
    },
  };
  return { core, custom, dir, logsDir, tsBinDir, apiserverPort, headscalePort, agent, log, runnerOf, src, provisioner };
}
