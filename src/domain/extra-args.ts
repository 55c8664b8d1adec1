// tailscale.extraArgs against what a node really runs with. With TS_AUTH_ONCE a node that
// already has state is not given changed extraArgs on a restart (containerboot re-applies
// only --accept-dns and --hostname), so the chart's values, the Deployment's TS_EXTRA_ARGS
// and the node's prefs can disagree. Only flags whose pref is known are compared.
import type { NodePrefs } from '../tailscale/schemas.js';
import { isObject } from './release.js';

/** tailscale.extraArgs of a release's values ([] when unset, the chart's default). */
export function chartExtraArgs(values: Record<string, unknown> | null): string[] {
  const ts = values && isObject(values.tailscale) ? values.tailscale : {};
  return Array.isArray(ts.extraArgs) ? ts.extraArgs.map(String) : [];
}

/** TS_EXTRA_ARGS as the chart renders it, without the --login-server it always puts first. */
export function podExtraArgs(tsExtraArgs: string): string[] {
  return tsExtraArgs
    .split(/\s+/)
    .filter(Boolean)
    .filter((a) => !a.startsWith('--login-server'));
}

const sameList = (a: readonly string[], b: readonly string[]) => [...a].sort().join(',') === [...b].sort().join(',');
const flagBool = (v: string | undefined) => v === undefined || v === 'true';
const EXIT_ROUTES = ['0.0.0.0/0', '::/0'];

/** For each flag june-ts can compare: does the node's pref say what the flag asks? */
const PREF_OF: Record<string, (v: string | undefined, p: NodePrefs) => { ok: boolean; runs: string }> = {
  'shields-up': (v, p) => ({ ok: Boolean(p.ShieldsUp) === flagBool(v), runs: `ShieldsUp=${Boolean(p.ShieldsUp)}` }),
  'accept-routes': (v, p) => ({ ok: Boolean(p.RouteAll) === flagBool(v), runs: `RouteAll=${Boolean(p.RouteAll)}` }),
  ssh: (v, p) => ({ ok: Boolean(p.RunSSH) === flagBool(v), runs: `RunSSH=${Boolean(p.RunSSH)}` }),
  'exit-node-allow-lan-access': (v, p) => ({
    ok: Boolean(p.ExitNodeAllowLANAccess) === flagBool(v),
    runs: `ExitNodeAllowLANAccess=${Boolean(p.ExitNodeAllowLANAccess)}`,
  }),
  'snat-subnet-routes': (v, p) => ({ ok: !p.NoSNAT === flagBool(v), runs: `NoSNAT=${Boolean(p.NoSNAT)}` }),
  'advertise-tags': (v, p) => ({
    ok: sameList((v ?? '').split(',').filter(Boolean), p.AdvertiseTags),
    runs: `AdvertiseTags=[${p.AdvertiseTags.join(',')}]`,
  }),
  'advertise-routes': (v, p) => {
    const routes = p.AdvertiseRoutes.filter((r) => !EXIT_ROUTES.includes(r));
    return { ok: sameList((v ?? '').split(',').filter(Boolean), routes), runs: `AdvertiseRoutes=[${routes.join(',')}]` };
  },
  'advertise-exit-node': (v, p) => {
    const on = EXIT_ROUTES.every((r) => p.AdvertiseRoutes.includes(r));
    return { ok: on === flagBool(v), runs: `exit node ${on ? 'advertised' : 'not advertised'}` };
  },
  'exit-node': (v, p) => ({ ok: (p.ExitNodeIP ?? '') === (v ?? ''), runs: `ExitNodeIP=${p.ExitNodeIP || '(none)'}` }),
  operator: (v, p) => ({ ok: (p.OperatorUser ?? '') === (v ?? ''), runs: `OperatorUser=${p.OperatorUser || '(none)'}` }),
  hostname: (v, p) => ({ ok: (p.Hostname ?? '') === (v ?? ''), runs: `Hostname=${p.Hostname || '(none)'}` }),
};

export interface ExtraArgsDrift {
  /** `--flag=value (node: Pref=…)` for each flag the node does not run with. */
  differing: string[];
  /** Flags without a known pref: not compared. */
  unchecked: string[];
}

export function extraArgsDrift(args: readonly string[], prefs: NodePrefs): ExtraArgsDrift {
  const differing: string[] = [];
  const unchecked: string[] = [];
  for (const arg of args) {
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(arg);
    const compare = m ? PREF_OF[m[1]!] : undefined;
    if (!m || !compare) {
      unchecked.push(arg);
      continue;
    }
    const { ok, runs } = compare(m[2], prefs);
    if (!ok) differing.push(`${arg} (node: ${runs})`);
  }
  return { differing, unchecked };
}
