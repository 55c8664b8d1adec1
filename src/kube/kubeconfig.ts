// Where the kubeconfig comes from, as kubectl resolves it: --kubeconfig / KUBECONFIG (a list:
// missing files in it are ignored, as kubectl does), else ~/.kube/config, else the pod's
// service account. When none is there, say so instead of letting the client library fall
// back to http://localhost:8080.
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { PreflightError, UsageError } from '../errors.js';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export type KubeconfigSource = { kind: 'files'; files: string[] } | { kind: 'in-cluster' };

export interface KubeconfigLookup {
  /** --kubeconfig, or KUBECONFIG from the environment or config.env (may be a list). */
  kubeconfig?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  exists?: (path: string) => boolean;
}

const POINT_AT_A_CLUSTER =
  'point june-ts at a cluster: --kubeconfig PATH, or KUBECONFIG=PATH in the environment or config.env, or put the ' +
  "cluster's kubeconfig at ~/.kube/config; to try june-ts without a cluster: `npm run sandbox:up` (see the README)";

/** Which kubeconfig a run uses; throws PreflightError (exit 2) when there is none. */
export function findKubeconfig(o: KubeconfigLookup = {}): KubeconfigSource {
  const env = o.env ?? process.env;
  const exists = o.exists ?? existsSync;
  const home = o.home ?? env.HOME ?? homedir();
  if (o.kubeconfig) {
    const listed = o.kubeconfig.split(delimiter).filter(Boolean);
    const files = listed.filter((f) => exists(f));
    if (files.length) return { kind: 'files', files };
    throw new PreflightError(`no kubeconfig found: ${listed.join(', ')} ${listed.length > 1 ? 'do' : 'does'} not exist`, {
      hint: `fix --kubeconfig / KUBECONFIG, or ${POINT_AT_A_CLUSTER}`,
    });
  }
  const userConfig = join(home, '.kube', 'config');
  if (exists(userConfig)) return { kind: 'files', files: [userConfig] };
  if (env.KUBERNETES_SERVICE_HOST && exists(SERVICE_ACCOUNT_TOKEN)) return { kind: 'in-cluster' };
  throw new PreflightError(
    `no kubeconfig found: KUBECONFIG is not set, ${userConfig} does not exist, and this is not a pod with a service account`,
    { hint: POINT_AT_A_CLUSTER },
  );
}

/**
 * client-node makes a new agent for every request, so every call pays a new connection and
 * TLS handshake (the CA and client key parsed again), on this side and on the API server's.
 * The agent it makes is swapped for one kept-alive agent per TLS identity; proxy agents are
 * left as made.
 */
class PooledKubeConfig extends k8s.KubeConfig {
  private readonly agents = new Map<string, http.Agent>();

  override async applySecurityAuthentication(context: Parameters<k8s.KubeConfig['applySecurityAuthentication']>[0]): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    if (!made || (made.constructor !== https.Agent && made.constructor !== http.Agent)) return;
    const o = (made as https.Agent).options;
    const key = JSON.stringify([made.constructor.name, o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername]);
    let agent = this.agents.get(key);
    if (!agent) {
      agent = made instanceof https.Agent ? new https.Agent({ ...o, keepAlive: true }) : new http.Agent({ ...o, keepAlive: true });
      this.agents.set(key, agent);
    }
    context.setAgent(agent);
  }
}

/** Loads the kubeconfig and selects the context (`context`, else its current one). */
export function loadKubeConfig(o: KubeconfigLookup & { context?: string }): k8s.KubeConfig {
  const source = findKubeconfig(o);
  const kc = new PooledKubeConfig();
  if (source.kind === 'in-cluster') kc.loadFromCluster();
  else {
    for (const [i, file] of source.files.entries()) {
      try {
        if (i === 0) kc.loadFromFile(file);
        else {
          const more = new k8s.KubeConfig();
          more.loadFromFile(file);
          kc.mergeConfig(more, true);
        }
      } catch (e) {
        throw new UsageError(`cannot read kubeconfig ${file}: ${(e as Error).message}`, {
          hint: 'fix the file, or set KUBECONFIG (or --kubeconfig) to a valid kubeconfig file',
        });
      }
    }
  }
  const where = source.kind === 'in-cluster' ? 'the in-cluster config' : source.files.join(', ');
  const names = kc.getContexts().map((c) => c.name);
  if (o.context) {
    if (!names.includes(o.context)) {
      throw new UsageError(`kubeconfig context '${o.context}' does not exist in ${where}`, {
        hint: names.length
          ? `contexts there: ${names.join(', ')} (choose one with --context or KUBE_CONTEXT)`
          : 'that kubeconfig has no contexts: fix it, or point KUBECONFIG at another one',
      });
    }
    kc.setCurrentContext(o.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new PreflightError(`kubeconfig ${where} selects no cluster (current context: '${kc.getCurrentContext() || '(none)'}')`, {
      hint: names.length
        ? `choose a context with --context or KUBE_CONTEXT: ${names.join(', ')}`
        : 'that kubeconfig has no contexts: fix it, or point KUBECONFIG at another one',
    });
  }
  return kc;
}
