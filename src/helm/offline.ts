// Helm for a static dry-run: no release exists; writes go through HelmCli, whose gate
// records them instead of running helm.
import { HelmCli, type HelmOptions } from './helm.js';
import type { HelmClient, ReleaseInfo, UpgradeRequest } from './types.js';

export class OfflineHelm implements HelmClient {
  private readonly real: HelmCli;
  constructor(private readonly o: HelmOptions) {
    this.real = new HelmCli(o);
  }
  async major(): Promise<3 | 4> {
    return 4;
  }
  async release(): Promise<ReleaseInfo | null> {
    return null;
  }
  async values(): Promise<Record<string, unknown> | null> {
    return null;
  }
  chartRef(chart: string): Promise<string> {
    return this.real.chartRef(chart);
  }
  upgradeInstall(req: UpgradeRequest): Promise<void> {
    return this.real.upgradeInstall(req);
  }
  uninstall(release: string, namespace: string, timeoutMs: number): Promise<boolean> {
    return this.real.uninstall(release, namespace, timeoutMs);
  }
  rollback(release: string, namespace: string, revision: number, timeoutMs: number): Promise<void> {
    return this.real.rollback(release, namespace, revision, timeoutMs);
  }
}
