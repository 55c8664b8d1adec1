// zod schemas for `tailscale status --json` and `tailscale debug prefs`.
import { z } from 'zod';
import { ExternalError } from '../errors.js';

const status = z.object({
  BackendState: z.string(),
  TailscaleIPs: z
    .array(z.string())
    .nullish()
    .transform((v) => v ?? undefined),
  Self: z
    .object({
      DNSName: z.string().optional(),
      Online: z.boolean().optional(),
      TailscaleIPs: z
        .array(z.string())
        .nullish()
        .transform((v) => v ?? undefined),
    })
    .nullish()
    .transform((v) => v ?? undefined),
  MagicDNSSuffix: z.string().optional(),
});

const list = z
  .array(z.string())
  .nullish()
  .transform((v) => v ?? []);
/** The prefs `tailscale up` flags set (sanitized by tailscaled: no private keys). */
const prefs = z.object({
  ControlURL: z.string().optional(),
  RouteAll: z.boolean().optional(),
  ShieldsUp: z.boolean().optional(),
  RunSSH: z.boolean().optional(),
  ExitNodeAllowLANAccess: z.boolean().optional(),
  NoSNAT: z.boolean().optional(),
  ExitNodeIP: z.string().optional(),
  Hostname: z.string().optional(),
  OperatorUser: z.string().optional(),
  AdvertiseTags: list,
  AdvertiseRoutes: list,
});
export type NodePrefs = z.infer<typeof prefs>;

function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ExternalError(`${what}: tailscale printed something that is not JSON`);
  }
}

export function parseStatus(text: string) {
  const r = status.safeParse(json(text, 'tailscale status --json'));
  if (!r.success)
    throw new ExternalError(
      `tailscale status --json: unexpected output (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`,
    );
  return r.data;
}

export function parsePrefs(text: string) {
  const r = prefs.safeParse(json(text, 'tailscale debug prefs'));
  if (!r.success) throw new ExternalError('tailscale debug prefs: unexpected output');
  return r.data;
}
