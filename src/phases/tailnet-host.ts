// Phase 11.5: join this host to the tailnet with a key of the dedicated host user.
import type { WorkflowRun } from '../context.js';
import { PreflightError, UsageError } from '../errors.js';
import { HOST_USER } from '../names.js';
import { redactor } from '../ui/redact.js';
import type { PhaseDef } from './engine.js';

export const TAILNET_HOST_ID = '11.5-tailnet-host';

export interface TailnetHostData {
  /** --force-reauth: move a host logged in to another control server. */
  readonly forceReauth: boolean;
}

function sameServer(a: string | undefined, b: string): boolean {
  return Boolean(a) && a!.replace(/\/$/, '') === b.replace(/\/$/, '');
}

export async function joinHost(ctx: WorkflowRun<TailnetHostData>): Promise<void> {
  const ts = await ctx.tailscale();
  const url = ctx.config.headscale.url;
  let status;
  try {
    status = await ts.status();
  } catch (e) {
    if (e instanceof PreflightError) {
      throw new PreflightError(`the tailscale CLI (${ctx.config.tailscale.bin}) is not installed on this host`, {
        hint: `install Tailscale (apt install tailscale), set TAILSCALE=/path/to/tailscale, or re-run with --skip ${TAILNET_HOST_ID}`,
      });
    }
    throw e;
  }
  if (status === null) {
    throw new PreflightError('tailscaled is not running on this host', {
      hint: `start it (systemctl start tailscaled), set TAILSCALE_SOCKET, or re-run with --skip ${TAILNET_HOST_ID}`,
    });
  }
  if (status.backendState === 'Running' && sameServer(status.controlUrl, url)) {
    ctx.log.info(`  host already joined: ${status.dnsName ?? ctx.config.hostHostname} ${status.ips.join(', ')}`);
    return;
  }
  const elsewhere =
    status.controlUrl && !sameServer(status.controlUrl, url) && status.backendState !== 'NeedsLogin' && status.backendState !== 'NoState';
  if (elsewhere && !ctx.data.forceReauth) {
    throw new UsageError(`this host is logged in to another control server (${status.controlUrl}), not ${url}`, {
      hint: `re-run with --force-reauth to move it to ${url} (its current tailnet connection ends), or --skip ${TAILNET_HOST_ID}`,
    });
  }
  const hs = await ctx.headscale();
  const [user] = await hs.ensureUsers([HOST_USER]);
  const key = await hs.createPreAuthKey(user!, { reusable: false, expiration: '1h' });
  redactor.add(key.key);
  await ts.up({
    loginServer: url,
    key: key.key,
    hostname: ctx.config.hostHostname,
    forceReauth: Boolean(elsewhere),
    timeoutMs: ctx.config.waitTimeoutMs,
  });
  if (ctx.gate.dryRun) return;
  const after = await ts.status();
  if (after?.backendState !== 'Running') {
    throw new PreflightError(`tailscale up finished but the host is ${after?.backendState ?? 'not reachable'}`, {
      hint: 'check `tailscale status` and the tailscaled log',
    });
  }
  ctx.log.info(`  host joined: ${after.dnsName ?? ctx.config.hostHostname} ${after.ips.join(', ')}`);
}

export const tailnetHostPhase: PhaseDef<WorkflowRun<TailnetHostData>> = {
  id: TAILNET_HOST_ID,
  description: 'Join this host to the tailnet (tailscale up with a key of user june-host)',
  run: joinHost,
};
