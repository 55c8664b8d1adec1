// The Helm seam as phases see it; HelmCli (helm.ts) and OfflineHelm (offline.ts) implement it.

export interface ReleaseInfo {
  name: string;
  namespace: string;
  revision: number;
  status: string;
  chart: string;
}

export interface UpgradeRequest {
  release: string;
  chart: string;
  namespace: string;
  values: Record<string, unknown>;
  timeoutMs: number;
}

export interface HelmClient {
  /** 3 or 4; fails with a clear message for anything else. */
  major(): Promise<3 | 4>;
  release(release: string, namespace: string): Promise<ReleaseInfo | null>;
  /** User-supplied values of the deployed release ({} when none), null when no release. */
  values(release: string, namespace: string): Promise<Record<string, unknown> | null>;
  /** Chart name-version from the chart's Chart.yaml, e.g. june-platform-0.1.0. */
  chartRef(chart: string): Promise<string>;
  /** helm upgrade --install without waiting (see HelmCli.upgradeInstall). */
  upgradeInstall(req: UpgradeRequest): Promise<void>;
  /** helm rollback to `revision`, without waiting. */
  rollback(release: string, namespace: string, revision: number, timeoutMs: number): Promise<void>;
  uninstall(release: string, namespace: string, timeoutMs: number): Promise<boolean>;
}
