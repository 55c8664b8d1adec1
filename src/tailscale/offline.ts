// The host's tailscale for a static dry-run: not logged in anywhere; `up` goes through the
// real CLI, whose gate records it instead of running it.
import type { HostStatus, HostTailscale } from './host.js';

export class OfflineTailscale implements HostTailscale {
  constructor(private readonly inner: HostTailscale) {}
  async status(): Promise<HostStatus | null> {
    return { backendState: 'NeedsLogin', dnsName: undefined, ips: [], online: false, controlUrl: undefined };
  }
  up(o: Parameters<HostTailscale['up']>[0]): Promise<void> {
    return this.inner.up(o);
  }
}
