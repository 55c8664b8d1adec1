// Reading a stored policy back: its text (HuJSON) and the rules it grants, in june-ts's own
// form for the plan's diff, and as flows for doctor's "is every wanted rule granted". Pure.
import type { PolicyRule } from './policy.js';

/** The rules of a policy in june-ts's own form (acls or grants), for the plan's diff. */
export function rulesIn(doc: unknown): PolicyRule[] {
  const d = (doc ?? {}) as { acls?: unknown; grants?: unknown };
  const rules: PolicyRule[] = [];
  for (const acl of Array.isArray(d.acls) ? d.acls : []) {
    const a = acl as { src?: unknown; dst?: unknown };
    if (!Array.isArray(a.src) || !Array.isArray(a.dst)) continue;
    const byHost = new Map<string, number[]>();
    for (const { host, ports } of a.dst.map(String).map(splitHostPorts)) byHost.set(host, [...(byHost.get(host) ?? []), Number(ports)]);
    for (const [host, ports] of byHost) rules.push({ src: a.src.map(String), dst: host, ports });
  }
  for (const grant of Array.isArray(d.grants) ? d.grants : []) {
    const g = grant as { src?: unknown; dst?: unknown; ip?: unknown };
    if (!Array.isArray(g.src) || !Array.isArray(g.dst) || !Array.isArray(g.ip)) continue;
    const ports = g.ip.map((x) => Number(String(x).replace(/^tcp:/, '')));
    for (const host of g.dst.map(String)) rules.push({ src: g.src.map(String), dst: host, ports });
  }
  return rules;
}

// ---------------------------------------------------------------------------------------
// What the policy in force grants (doctor): a rule of ours is present when some rule of the
// stored policy allows the same sources to the same destination and ports.

/** The rules of `wanted` the stored policy does not grant, read from its acls and grants. */
export function missingRules(wanted: readonly PolicyRule[], stored: unknown): PolicyRule[] {
  const granted = grantedFlows(stored);
  return wanted.filter((r) =>
    r.src.some((src) => r.ports.some((port) => !granted.some((g) => (g.src.has(src) || g.src.has('*')) && g.allows(r.dst, port)))),
  );
}

interface GrantedFlow {
  src: Set<string>;
  allows(dst: string, port: number): boolean;
}

function grantedFlows(doc: unknown): GrantedFlow[] {
  if (!doc || typeof doc !== 'object') return [];
  const d = doc as { acls?: unknown; grants?: unknown };
  const flows: GrantedFlow[] = [];
  for (const acl of Array.isArray(d.acls) ? d.acls : []) {
    const a = acl as { action?: unknown; src?: unknown; dst?: unknown };
    if (a.action !== 'accept' || !Array.isArray(a.src) || !Array.isArray(a.dst)) continue;
    const dsts = a.dst.filter((x): x is string => typeof x === 'string').map(splitHostPorts);
    flows.push({
      src: new Set(a.src.map(String)),
      allows: (dst, port) => dsts.some((x) => hostMatches(x.host, dst) && portsMatch(x.ports, port)),
    });
  }
  for (const grant of Array.isArray(d.grants) ? d.grants : []) {
    const g = grant as { src?: unknown; dst?: unknown; ip?: unknown };
    if (!Array.isArray(g.src) || !Array.isArray(g.dst) || !Array.isArray(g.ip)) continue;
    const hosts = g.dst.map(String);
    const ports = g.ip.map((x) => String(x).replace(/^(tcp|\*):/, ''));
    flows.push({
      src: new Set(g.src.map(String)),
      allows: (dst, port) => hosts.some((h) => hostMatches(h, dst)) && portsMatch(ports.join(','), port),
    });
  }
  return flows;
}

function splitHostPorts(dst: string): { host: string; ports: string } {
  const i = dst.lastIndexOf(':');
  return i < 0 ? { host: dst, ports: '*' } : { host: dst.slice(0, i), ports: dst.slice(i + 1) };
}

const hostMatches = (host: string, dst: string) => host === dst || host === '*';

function portsMatch(spec: string, port: number): boolean {
  return spec.split(',').some((p) => {
    if (p === '*') return true;
    const [lo, hi] = p.split('-').map(Number);
    return hi === undefined ? lo === port : lo! <= port && port <= hi;
  });
}

/** Parses HuJSON the way june-ts writes and reads it: comments and trailing commas dropped. */
export function parseHuJson(text: string): unknown {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2);
      if (i < 0) break;
      i++;
    } else out += c;
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, '$1'));
}
