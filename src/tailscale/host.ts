// The host's tailscale CLI (phase 11.5). The auth key reaches tailscale as file:<0600 temp
// file>, never as an argument.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExternalError } from '../errors.js';
import type { WriteGate } from '../write-gate.js';
import type { ProcessRunner } from '../process/runner.js';

export interface HostStatus {
  backendState: string;
  dnsName: string | undefined;
  ips: string[];
  online: boolean;
  controlUrl: string | undefined;
}

export interface HostTailscale {
  /** null when tailscaled is not running / not reachable. */
  status(): Promise<HostStatus | null>;
  up(o: { loginServer: string; key: string; hostname: string; forceReauth: boolean; timeoutMs: number }): Promise<void>;
}

export class TailscaleCli implements HostTailscale {
  constructor(private readonly o: { bin: string; socket: string | undefined; runner: ProcessRunner; gate: WriteGate }) {}

  private base(): string[] {
    return this.o.socket ? [`--socket=${this.o.socket}`] : [];
  }

  async status(): Promise<HostStatus | null> {
    const res = await this.o.runner.run(this.o.bin, [...this.base(), 'status', '--json'], { allowFailure: true });
    if (!res.stdout.trim().startsWith('{')) {
      if (/connect|no such file|tailscaled/i.test(res.stderr)) return null;
      throw new ExternalError(`tailscale status failed: ${res.stderr.trim()}`);
    }
    const { parseStatus, parsePrefs } = await import('./schemas.js');
    const st = parseStatus(res.stdout);
    const prefs = await this.o.runner.run(this.o.bin, [...this.base(), 'debug', 'prefs'], { allowFailure: true });
    const controlUrl = prefs.exitCode === 0 ? parsePrefs(prefs.stdout).ControlURL : undefined;
    return {
      backendState: st.BackendState,
      dnsName: st.Self?.DNSName?.replace(/\.$/, '') || undefined,
      ips: st.Self?.TailscaleIPs ?? st.TailscaleIPs ?? [],
      online: st.Self?.Online ?? false,
      controlUrl,
    };
  }

  async up(o: { loginServer: string; key: string; hostname: string; forceReauth: boolean; timeoutMs: number }): Promise<void> {
    const argv = (file: string) => [
      ...this.base(),
      'up',
      `--login-server=${o.loginServer}`,
      `--auth-key=file:${file}`,
      `--hostname=${o.hostname}`,
      `--timeout=${Math.round(o.timeoutMs / 1000)}s`,
      ...(o.forceReauth ? ['--force-reauth', '--reset'] : []),
    ];
    await this.o.gate.write(
      { kind: 'command', argv: [this.o.bin, ...argv('<0600 temp file>')], note: 'the key is read from a file that is removed afterwards' },
      async () => {
        const dir = await mkdtemp(join(tmpdir(), 'june-ts-key-'));
        const file = join(dir, 'authkey');
        try {
          await writeFile(file, o.key, { mode: 0o600 });
          await this.o.runner.run(this.o.bin, argv(file), { timeoutMs: o.timeoutMs + 10_000 });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
      undefined,
    );
  }
}
