// The access policy june-ts owns: who may reach which service on which port, derived from the
// config alone. Pure: no I/O. Its text in each dialect: ./policy-render.ts (marked as june-ts's
// own, ./policy-marker.ts); read back: ./policy-read.ts; judged: ./policy-verdict.ts.
//
// The rules: the host of 11.5 and the operators' users (TAILNET_ADMINS) reach every service
// on its declared port; a service reaches another only along an edge of TAILNET_EDGES, on the
// target's port; nothing reaches the host or the operators' devices; nothing else is allowed.
import { HOST_USER } from '../names.js';
import { identityOf, type IdentityConfig } from './identity.js';

/**
 * How a Headscale version wants the policy written:
 *   v023  users are bare names (`june-idp`), rules are `acls`
 *   v026  users end in `@` (`june-idp@`), rules are `acls` (0.26–0.28)
 *   v029  as v026, rules are `grants`, and a `tests` block is evaluated on every write
 */
export type PolicyDialect = 'v023' | 'v026' | 'v029';

export function policyDialectOf(v: { major: number; minor: number }): PolicyDialect {
  if (v.major > 0 || v.minor >= 29) return 'v029';
  return v.minor >= 26 ? 'v026' : 'v023';
}

/** A Headscale user as the dialect names it in a policy: `alice` (0.23), `alice@` (0.26+). */
export function userPrincipal(user: string, dialect: PolicyDialect): string {
  if (dialect === 'v023' || user.includes('@')) return user;
  return `${user}@`;
}

/** The one place that says which principal stands for a service's nodes: its user, or its tag (`tag:june-idp`). */
export function servicePrincipal(service: string, identity: IdentityConfig, dialect: PolicyDialect): string {
  const id = identityOf(service, identity);
  return id.kind === 'tag' ? id.tag : userPrincipal(id.user, dialect);
}

export interface Edge {
  from: string;
  to: string;
}

export interface PolicyInput {
  /** Each service with the port(s) it serves (the chart's services.<svc>.port). */
  services: readonly { name: string; ports: readonly number[] }[];
  /** Headscale users of the operators' own devices (TAILNET_ADMINS). */
  admins: readonly string[];
  /** Service → service reachability (TAILNET_EDGES). */
  edges: readonly Edge[];
  /** Whether services are users or tags (TAILNET_IDENTITY); the host and the admins are always users. */
  identity: IdentityConfig;
}

/** One allowed flow: every node of `src` may open `ports` on every node of `dst`. */
export interface PolicyRule {
  src: string[];
  dst: string;
  ports: number[];
}

/** One assertion of a 0.29 `tests` block. */
export interface PolicyTest {
  src: string;
  accept?: string[];
  deny?: string[];
}

/** The operators' side: the host of 11.5 and every admin user. */
function operatorPrincipals(input: PolicyInput, dialect: PolicyDialect): string[] {
  return [HOST_USER, ...input.admins].map((u) => userPrincipal(u, dialect));
}

export function policyRules(input: PolicyInput, dialect: PolicyDialect): PolicyRule[] {
  const principal = (svc: string) => servicePrincipal(svc, input.identity, dialect);
  const portsOf = new Map(input.services.map((s) => [s.name, [...s.ports]]));
  const operators = operatorPrincipals(input, dialect);
  const rules: PolicyRule[] = input.services.map((s) => ({ src: operators, dst: principal(s.name), ports: [...s.ports] }));
  for (const target of input.services) {
    const callers = input.edges.filter((e) => e.to === target.name).map((e) => principal(e.from));
    if (callers.length) rules.push({ src: callers, dst: principal(target.name), ports: portsOf.get(target.name) ?? [] });
  }
  return rules;
}

/** A port no service declares, used to assert "any other port is refused". */
export function deniedProbePort(ports: readonly number[]): number {
  let p = 22;
  while (ports.includes(p)) p += 1;
  return p;
}

/**
 * The allowed and denied pairs of the rules, as Headscale 0.29 evaluates them on every write.
 * Headscale fails a test whose source or destination has no node yet, so only principals in
 * `present` (the users and tags that own a node now) take part.
 */
export function policyTests(input: PolicyInput, dialect: PolicyDialect, present: ReadonlySet<string>): PolicyTest[] {
  const principal = (svc: string) => servicePrincipal(svc, input.identity, dialect);
  const services = input.services.filter((s) => present.has(principal(s.name)));
  const operators = operatorPrincipals(input, dialect).filter((p) => present.has(p));
  const tests: PolicyTest[] = [];
  const probe = (p: string) => `${p}:${deniedProbePort([])}`;
  for (const op of operators) {
    tests.push({
      src: op,
      accept: services.flatMap((s) => s.ports.map((port) => `${principal(s.name)}:${port}`)),
      deny: services.map((s) => `${principal(s.name)}:${deniedProbePort(s.ports)}`),
    });
  }
  for (const from of services) {
    const targets = new Set(input.edges.filter((e) => e.from === from.name).map((e) => e.to));
    const accept = services.filter((s) => targets.has(s.name)).flatMap((s) => s.ports.map((port) => `${principal(s.name)}:${port}`));
    const deny = [
      ...services
        .filter((s) => s.name !== from.name && !targets.has(s.name))
        .flatMap((s) => s.ports.map((p) => `${principal(s.name)}:${p}`)),
      ...operators.map(probe),
    ];
    if (accept.length || deny.length)
      tests.push({ src: principal(from.name), ...(accept.length ? { accept } : {}), ...(deny.length ? { deny } : {}) });
  }
  return tests.filter((t) => t.accept?.length || t.deny?.length).map(dropEmpty);
}

function dropEmpty(t: PolicyTest): PolicyTest {
  return { src: t.src, ...(t.accept?.length ? { accept: t.accept } : {}), ...(t.deny?.length ? { deny: t.deny } : {}) };
}

/** `+ rule` / `- rule` lines between the rules in force and the wanted ones. */
export function diffRules(current: readonly PolicyRule[], wanted: readonly PolicyRule[]): string[] {
  const before = new Set(describeRules(current));
  const after = new Set(describeRules(wanted));
  return [
    ...[...after].filter((r) => !before.has(r)).map((r) => `+ ${r}`),
    ...[...before].filter((r) => !after.has(r)).map((r) => `- ${r}`),
  ];
}

/** `june-host@, alice@ → june-idp@ tcp/8080` per rule: the plan's and the log's summary. */
export function describeRules(rules: readonly PolicyRule[]): string[] {
  return rules.map((r) => `${r.src.join(', ')} → ${r.dst} tcp/${r.ports.join(',')}`);
}
