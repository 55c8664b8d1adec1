// Real helm binaries (Helm 3 and Helm 4) for the chart tests, installed by
// scripts/tools/k8s-clients.sh under ${JUNE_TS_CACHE:-$HOME/.cache/june-ts-e2e}/bin.
import { execFile } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PLATFORM_CHART = join(REPO_ROOT, 'helm', 'june-platform');
export const HEADSCALE_CHART = join(REPO_ROOT, 'helm', 'headscale');

export type HelmFlavour = 'helm3' | 'helm4';

export interface Helm {
  flavour: HelmFlavour;
  /** Absolute path of the binary, or undefined when it is not installed. */
  bin: string | undefined;
}

export function cacheRoot(): string {
  return process.env.JUNE_TS_CACHE || join(homedir(), '.cache', 'june-ts-e2e');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The newest installed `<flavour>-<layer version>/helm` under the cache. */
function findHelm(flavour: HelmFlavour): string | undefined {
  const binDir = join(cacheRoot(), 'bin');
  let entries: string[];
  try {
    entries = readdirSync(binDir);
  } catch {
    return undefined;
  }
  const candidates = entries
    .filter((name) => name.startsWith(`${flavour}-`))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((name) => join(binDir, name, 'helm'))
    .filter(isExecutable);
  return candidates.at(-1);
}

export const HELMS: Helm[] = (['helm3', 'helm4'] as const).map((flavour) => ({ flavour, bin: findHelm(flavour) }));

const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** Skip a flavour's tests when its binary is missing locally; under CI=true never skip. */
export function shouldSkip(helm: Helm): boolean {
  return helm.bin === undefined && !IN_CI;
}

/** The binary, or an error that says how to install it (what CI reports instead of skipping). */
export function requireBin(helm: Helm): string {
  if (helm.bin === undefined) {
    throw new Error(
      `${helm.flavour} binary not found under ${join(cacheRoot(), 'bin')}/${helm.flavour}-*/helm: ` +
        'run `bash scripts/tools/k8s-clients.sh` (honours JUNE_TS_CACHE) to install the Helm 3 and Helm 4 clients',
    );
  }
  return helm.bin;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a binary to completion; never rejects, the exit code is in the result. */
export function runBinary(bin: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<HelmResult> {
  return new Promise((resolve) => {
    execFile(bin, args, { env, timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// Keep the user's helm config out of the way; nothing here needs a repo or cluster.
const run = (bin: string, args: string[]) =>
  runBinary(bin, args, { ...process.env, HELM_CONFIG_HOME: '/nonexistent', KUBECONFIG: '/nonexistent' });

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** Values files, relative to the chart directory or absolute. */
  valuesFiles?: string[];
  /** --set-json entries: key path -> any JSON value (strings need no quoting games). */
  set?: Record<string, unknown>;
  /**
   * --kube-version for `helm template` (.Capabilities.KubeVersion). Defaults to
   * RENDER_KUBE_VERSION: Helm 3 and 4 assume different versions without it.
   */
  kubeVersion?: string;
}

/** The Kubernetes version renders assume unless a test says otherwise (the e2e cluster's minor). */
export const RENDER_KUBE_VERSION = '1.34.0';

function valueArgs(chart: string, opts: RenderOptions): string[] {
  const args: string[] = [];
  for (const file of opts.valuesFiles ?? []) args.push('-f', file.startsWith('/') ? file : join(chart, file));
  for (const [key, value] of Object.entries(opts.set ?? {})) args.push('--set-json', `${key}=${JSON.stringify(value)}`);
  return args;
}

/** `helm template`, whatever its exit code. */
export function templateRaw(helm: Helm, chart: string, opts: RenderOptions = {}): Promise<HelmResult> {
  const release = opts.release ?? (chart === HEADSCALE_CHART ? 'headscale' : 'june-platform');
  const namespace = opts.namespace ?? (chart === HEADSCALE_CHART ? 'headscale' : 'june-services');
  const kubeVersion = ['--kube-version', opts.kubeVersion ?? RENDER_KUBE_VERSION];
  return run(requireBin(helm), ['template', release, chart, '--namespace', namespace, ...kubeVersion, ...valueArgs(chart, opts)]);
}

/** `helm template` that must succeed; returns the manifest stream. */
export async function template(helm: Helm, chart: string, opts: RenderOptions = {}): Promise<string> {
  const res = await templateRaw(helm, chart, opts);
  if (res.code !== 0) throw new Error(`helm template ${chart} failed (${res.code}):\n${res.stderr}`);
  return res.stdout;
}

/** `helm template` that must fail; returns stderr. */
export async function templateError(helm: Helm, chart: string, opts: RenderOptions = {}): Promise<string> {
  const res = await templateRaw(helm, chart, opts);
  if (res.code === 0) throw new Error(`helm template ${chart} was expected to fail but rendered:\n${res.stdout}`);
  return res.stderr;
}

/** `helm lint --strict`. */
export function lint(helm: Helm, chart: string, opts: RenderOptions = {}): Promise<HelmResult> {
  return run(requireBin(helm), ['lint', '--strict', chart, ...valueArgs(chart, opts)]);
}

// ---- parsed manifests ----------------------------------------------------------------

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [key: string]: any;
}

export function parseManifests(stream: string): K8sObject[] {
  return parseAllDocuments(stream)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`invalid YAML in render: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((obj): obj is K8sObject => obj !== null && typeof obj === 'object');
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function byName(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found)
    throw new Error(`no ${kind} named ${name} in render (have: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')})`);
  return found;
}
