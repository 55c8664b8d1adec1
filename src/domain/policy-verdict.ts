// The verdict on the policy in force, shared by 11.2, status and doctor: whose it is, whether
// it is current, which wanted rules it does not grant, and how a report rates that. Pure.
import type { HsPolicy } from '../headscale/types.js';
import { describeRules, type PolicyRule } from './policy.js';
import { policyOwnership, type PolicyOwnership } from './policy-marker.js';
import { missingRules, parseHuJson } from './policy-read.js';
import type { RenderedPolicy } from './policy-render.js';

export type PolicyState = PolicyOwnership['state'] | 'file-mode';

export interface PolicyVerdict {
  state: PolicyState;
  /** june-ts's own policy with exactly the wanted rules. */
  current: boolean;
  /** Wanted rules the policy in force does not grant (none when Headscale holds no policy: it allows all). */
  missing: PolicyRule[];
  /** Not a policy Headscale could parse (a foreign text june-ts cannot read). */
  unreadable?: boolean;
}

export function judgePolicy(stored: HsPolicy, wanted: Pick<RenderedPolicy, 'rules' | 'digest'>): PolicyVerdict {
  if (stored.kind === 'none') return { state: 'absent', current: false, missing: [] };
  if (stored.kind === 'file-mode') return { state: 'file-mode', current: false, missing: [] };
  const own = policyOwnership(stored.text);
  if (own.state === 'absent' || own.state === 'released') return { state: own.state, current: false, missing: [] };
  let doc: unknown;
  try {
    doc = parseHuJson(stored.text);
  } catch {
    return { state: own.state, current: false, missing: [...wanted.rules], unreadable: true };
  }
  const current = own.state === 'owned' && own.digest === wanted.digest;
  return { state: own.state, current, missing: current ? [] : missingRules(wanted.rules, doc) };
}

/** The policy's state as status -o json reports it and doctor judges it. */
export interface PolicyReport {
  mode: 'managed' | 'adopt' | 'off';
  state: PolicyState | 'off' | 'unknown';
  /** june-ts's own policy with exactly the rules the config asks for. */
  current: boolean;
  /** Rules the config needs that the policy in force does not grant. */
  missing: string[];
  level: 'ok' | 'warn' | 'error';
  problem: string | null;
}

export function reportPolicy(mode: PolicyReport['mode'], verdict: PolicyVerdict | { error: string }): PolicyReport {
  const base = { mode, current: false, missing: [] as string[] };
  if (mode === 'off') return { ...base, state: 'off', level: 'ok', problem: null };
  if ('error' in verdict) return { ...base, state: 'unknown', level: 'warn', problem: `cannot read the access policy: ${verdict.error}` };
  const missing = describeRules(verdict.missing);
  const report = { ...base, state: verdict.state, current: verdict.current, missing };
  if (verdict.current) return { ...report, level: 'ok', problem: null };
  if (missing.length) return { ...report, level: 'error', problem: `the access policy in force does not grant: ${missing.join('; ')}` };
  switch (verdict.state) {
    case 'absent':
    case 'released':
      return { ...report, level: 'warn', problem: 'Headscale holds no access policy: every node reaches every port of every other node' };
    case 'owned':
      return {
        ...report,
        level: 'warn',
        problem: "june-ts's access policy grants more than the config asks for (the config changed since it was written)",
      };
    case 'file-mode':
      return {
        ...report,
        level: 'warn',
        problem: 'Headscale reads its policy from a file (policy.mode: file): june-ts cannot check or write it',
      };
    default:
      return { ...report, level: 'ok', problem: null };
  }
}
