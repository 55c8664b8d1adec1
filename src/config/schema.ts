// The zod schema of june-ts's configuration: one validator per key of FIELDS, whose
// defaults it applies. Every message names the field, the bad value (unless the field is
// secret) and how to fix it; load.ts turns them into one ConfigError.
import { z } from 'zod';
import { FIELDS, type DefaultedKey, type FieldKey } from './fields.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$/;
/** A Headscale user name: a letter, then letters, digits, `-`, `.`, `_`, and at most one `@` (OIDC users). */
const HEADSCALE_USER = /^(?=.{2,})[A-Za-z][A-Za-z0-9._-]*(@[A-Za-z0-9._-]*)?$/;
const DURATION_DAYS = /^(\d+)(h|d|w)$/;
const DURATION_WAIT = /^(\d+)(s|m|h)$/;

/** `180d` → milliseconds; the units Headscale's --expiration accepts that we allow. */
export function keyDurationMs(value: string): number {
  const m = DURATION_DAYS.exec(value);
  if (!m) throw new Error(`not a key duration: ${value}`);
  const hours = { h: 1, d: 24, w: 24 * 7 }[m[2] as 'h' | 'd' | 'w'];
  return Number(m[1]) * hours * 3600_000;
}

export function waitDurationMs(value: string): number {
  const m = DURATION_WAIT.exec(value);
  if (!m) throw new Error(`not a wait duration: ${value}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'] * 1000;
}

const quoted = (v: unknown) => `'${String(v)}'`;

const bool = (key: string) =>
  z.string().transform((v, ctx) => {
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s)) return true;
    if (['false', '0', 'no', 'off'].includes(s)) return false;
    ctx.addIssue({ code: 'custom', message: `${key}: ${quoted(v)} is not a boolean — use true or false` });
    return z.NEVER;
  });

/** A string field checked by `test`; the message names the key, the bad value and the fix. */
const checked = (key: string, test: (v: string) => boolean, fix: string, secret = false) =>
  z.string().superRefine((v, ctx) => {
    if (!test(v)) ctx.addIssue({ code: 'custom', message: `${key}: ${secret ? 'the value' : quoted(v)} ${fix}` });
  });

/** Paths, binaries, context names: free text, but blank or space-padded values are typos. */
const text = (key: string) =>
  z.string().superRefine((v, ctx) => {
    if (v.trim() === '' || v !== v.trim())
      ctx.addIssue({ code: 'custom', message: `${key}: ${quoted(v)} has leading or trailing whitespace — remove it` });
  });

const k8sName = (key: string) =>
  checked(
    key,
    (v) => v.length <= 63 && DNS_LABEL.test(v),
    "is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters",
  );

/** A duration of at least `minimum` units and at most `maxMs`; the message names whichever bound was missed. */
const duration = (key: string, re: RegExp, toMs: (v: string) => number, units: string, example: string, max: string, minimum = 1) =>
  z.string().superRefine((v, ctx) => {
    const m = re.exec(v);
    if (!m || Number(m[1]) < minimum) {
      const kind = minimum ? 'positive' : 'whole';
      ctx.addIssue({
        code: 'custom',
        message: `${key}: ${quoted(v)} is not a duration — use a ${kind} number followed by ${units}, e.g. ${example}`,
      });
    } else if (toMs(v) > toMs(max)) {
      ctx.addIssue({ code: 'custom', message: `${key}: ${quoted(v)} is longer than the maximum ${max} — use e.g. ${example}` });
    }
  });

/** Longest accepted key lifetime, and the longest wait (Node's timers cannot wait longer than ~24.8 days). */
export const KEY_DURATION_MAX = '3650d';
export const WAIT_DURATION_MAX = '24h';

function isLoopbackOrPrivate(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
}

/** Why `new URL` refused `v`, for the two mistakes operators make: no scheme, or a port out of range. */
function whyNotUrl(v: string): string {
  const port = /^[a-z]+:\/\/[^/:]+:(\d+)(\/|$)/i.exec(v);
  if (port && Number(port[1]) > 65535) return `has port ${port[1]}, out of range — use a port from 1 to 65535, or none for 443`;
  if (DNS_NAME.test(v)) return `is a host name, not a URL — use https://${v}`;
  return 'is not a URL — use https://headscale.example.com';
}

const controlUrl = (key: string) =>
  z.string().superRefine((v, ctx) => {
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: `${key}: ${quoted(v)} ${whyNotUrl(v)}` });
      return;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      ctx.addIssue({ code: 'custom', message: `${key}: ${quoted(v)} must start with https:// (or http:// for a loopback/private IP)` });
    } else if (url.protocol === 'http:' && !isLoopbackOrPrivate(url.hostname)) {
      ctx.addIssue({
        code: 'custom',
        message: `${key}: ${quoted(v)} uses http:// with a public hostname; Tailscale clients then force port 443 — use https:// (http:// works only for localhost or private IPs)`,
      });
    } else if (url.pathname !== '/' || url.search || url.hash) {
      ctx.addIssue({
        code: 'custom',
        message: `${key}: ${quoted(v)} must be a bare server URL without a path, e.g. https://headscale.example.com`,
      });
    }
  });

/** How each key's value is checked (and converted); the key itself is the argument. */
const VALIDATORS = {
  HEADSCALE_DOMAIN: (k) => checked(k, (v) => DNS_NAME.test(v), 'is not a DNS name — use e.g. headscale.example.com (no scheme, no port)'),
  HEADSCALE_URL: controlUrl,
  HEADSCALE_NAMESPACE: k8sName,
  HEADSCALE_RELEASE: k8sName,
  HEADSCALE_CHART: text,
  HEADSCALE_VALUES: () => z.string(),
  HEADSCALE_VERSION: (k) =>
    checked(k, (v) => /^v?\d+\.\d+\.\d+$/.test(v), 'is not a Headscale release version — use e.g. 0.29.3').transform((v) =>
      v.replace(/^v/, ''),
    ),
  HEADSCALE_BACKUP_DIR: text,
  HEADSCALE_BACKUP_IMAGE: (k) => checked(k, (v) => /^\S+$/.test(v), 'is not an image reference — use e.g. keinos/sqlite3:latest'),
  HEADSCALE_TRANSPORT: (k) =>
    checked(k, (v) => v === 'exec' || v === 'api', 'is not a transport — use exec or api').pipe(z.enum(['exec', 'api'])),
  HEADSCALE_API_URL: controlUrl,
  HEADSCALE_API_KEY: (k) => checked(k, (v) => /^\S{8,}$/.test(v), 'is not an API key — create one with `headscale apikeys create`', true),
  ENABLE_TAILSCALE_SIDECARS: bool,
  PLATFORM_NAMESPACE: k8sName,
  PLATFORM_RELEASE: k8sName,
  PLATFORM_CHART: text,
  PLATFORM_VALUES: () => z.string(),
  TAILSCALE_SERVICES: (k) =>
    z.string().transform((v, ctx) => {
      const items = v.split(',').map((s) => s.trim());
      if (items.every((s) => s === '')) {
        ctx.addIssue({ code: 'custom', message: `${k}: is empty — list at least one service, e.g. orchestrator,idp` });
        return z.NEVER;
      }
      if (items.includes('')) {
        ctx.addIssue({ code: 'custom', message: `${k}: ${quoted(v)} has an empty entry — remove the extra comma, e.g. orchestrator,idp` });
        return z.NEVER;
      }
      for (const s of items) {
        // june-<svc>-tailscale-state must stay a valid 63-char name
        if (!DNS_LABEL.test(s) || s.length > 40 || !/^[a-z]/.test(s)) {
          ctx.addIssue({
            code: 'custom',
            message: `${k}: ${quoted(s)} is not a service name — use lowercase letters, digits and '-', starting with a letter, at most 40 characters (e.g. orchestrator,idp,stt)`,
          });
          return z.NEVER;
        }
      }
      const dup = items.find((s, i) => items.indexOf(s) !== i);
      if (dup) {
        ctx.addIssue({ code: 'custom', message: `${k}: ${quoted(dup)} is listed twice — list each service once` });
        return z.NEVER;
      }
      return items;
    }),
  TAILNET_IDENTITY: (k) =>
    checked(
      k,
      (v) => v === 'user' || v === 'tag',
      'is not an identity — use user (one Headscale user per service) or tag (Headscale 0.28+)',
    ).pipe(z.enum(['user', 'tag'])),
  TAILNET_DOMAIN: (k) => checked(k, (v) => DNS_NAME.test(v), 'is not a DNS name — use e.g. tail.example.com'),
  TAILNET_POLICY: (k) =>
    checked(k, (v) => ['managed', 'adopt', 'off'].includes(v), 'is not a policy mode — use managed, adopt or off').pipe(
      z.enum(['managed', 'adopt', 'off']),
    ),
  TAILNET_ADMINS: (k) =>
    z.string().transform((v, ctx) => {
      const items = v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = items.find((s) => !HEADSCALE_USER.test(s));
      if (bad) {
        ctx.addIssue({
          code: 'custom',
          message: `${k}: ${quoted(bad)} is not a Headscale user name — use e.g. alice or alice@example.com`,
        });
        return z.NEVER;
      }
      return [...new Set(items)];
    }),
  TAILNET_EDGES: (k) =>
    z.string().transform((v, ctx) => {
      const edges: { from: string; to: string }[] = [];
      for (const item of v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const m = /^([a-z][a-z0-9-]*)\s*->\s*([a-z][a-z0-9-]*)$/.exec(item);
        if (!m || m[1] === m[2]) {
          ctx.addIssue({
            code: 'custom',
            message: `${k}: ${quoted(item)} is not an edge — use FROM->TO between two services, e.g. orchestrator->idp`,
          });
          return z.NEVER;
        }
        if (!edges.some((e) => e.from === m[1] && e.to === m[2])) edges.push({ from: m[1]!, to: m[2]! });
      }
      return edges;
    }),
  KEY_EXPIRATION: (k) => duration(k, DURATION_DAYS, keyDurationMs, 'h, d or w', '180d', KEY_DURATION_MAX),
  KEY_RENEW_BEFORE: (k) => duration(k, DURATION_DAYS, keyDurationMs, 'h, d or w', '30d', KEY_DURATION_MAX),
  KEY_RETENTION: (k) => duration(k, DURATION_DAYS, keyDurationMs, 'h, d or w', '30d', KEY_DURATION_MAX, 0),
  AUTH_SECRET_NAME: (k) =>
    checked(
      k,
      (v) => v.length <= 253 && (DNS_NAME.test(v) || DNS_LABEL.test(v)),
      'is not a Secret name — use lowercase letters, digits, - and .',
    ),
  KUBECONFIG: text,
  KUBE_CONTEXT: text,
  KUBECTL: text,
  HELM: text,
  TAILSCALE: text,
  TAILSCALE_SOCKET: text,
  HOST_HOSTNAME: (k) => checked(k, (v) => DNS_LABEL.test(v) && v.length <= 63, 'is not a hostname — use lowercase letters, digits and -'),
  WAIT_TIMEOUT: (k) => duration(k, DURATION_WAIT, waitDurationMs, 's, m or h', '5m', WAIT_DURATION_MAX),
} satisfies Record<FieldKey, (key: string) => z.ZodType<unknown, string>>;

/** The loaded values: a key with a fixed default is always there, the others may be absent. */
export type RawConfig = {
  [K in FieldKey]: z.output<ReturnType<(typeof VALIDATORS)[K]>> | (K extends DefaultedKey ? never : undefined);
};

const shape = Object.fromEntries(
  FIELDS.map((f) => {
    const validate: z.ZodType<unknown, string> = VALIDATORS[f.key](f.key);
    const fixedDefault = f.derived ? undefined : f.default;
    return [f.key, fixedDefault === undefined ? validate.optional() : validate.prefault(fixedDefault)];
  }),
);

/** Raw input: every value a string (dotenv and environment), all optional. */
export const rawConfigSchema = z.object(shape).superRefine((raw, ctx) => {
  const c = raw as RawConfig;
  if (!c.HEADSCALE_DOMAIN && !c.HEADSCALE_URL) {
    ctx.addIssue({
      code: 'custom',
      path: ['HEADSCALE_DOMAIN'],
      message: 'HEADSCALE_DOMAIN: is required — set HEADSCALE_DOMAIN=headscale.example.com (or HEADSCALE_URL)',
    });
  }
  for (const e of c.TAILNET_EDGES ?? []) {
    const unknown = [e.from, e.to].find((s) => !c.TAILSCALE_SERVICES.includes(s));
    if (unknown) {
      ctx.addIssue({
        code: 'custom',
        path: ['TAILNET_EDGES'],
        message: `TAILNET_EDGES: ${e.from}->${e.to} names '${unknown}', which is not in TAILSCALE_SERVICES (${c.TAILSCALE_SERVICES.join(', ')}) — add it there or remove the edge`,
      });
    }
  }
  if (c.HEADSCALE_TRANSPORT === 'api' && !c.HEADSCALE_API_KEY) {
    ctx.addIssue({
      code: 'custom',
      path: ['HEADSCALE_API_KEY'],
      message: 'HEADSCALE_API_KEY: is required when HEADSCALE_TRANSPORT=api — export HEADSCALE_API_KEY=… (from `headscale apikeys create`)',
    });
  }
}) as unknown as z.ZodType<RawConfig, Record<string, string>>;
