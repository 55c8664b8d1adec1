// The access policy june-ts owns: who may reach which service on which port, derived from the
// config alone, rendered in the dialect a Headscale version accepts, and recognised again when
// read back. Pure: no I/O.
//
// The rules: the host of 11.5 and the operators' users (TAILNET_ADMINS) reach every service
// on its declared port; a service reaches another only along an edge of TAILNET_EDGES, on the
// target's port; nothing reaches the host or the operators' devices; nothing else is allowed.
import { createHash } from 'node:crypto';
import type { HsPolicy } from '../headscale/types.js';
import { HOST_USER } from '../names.js';
import { identityOf, tagOwnersFor, type IdentityConfig } from './identity.js';

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

type PolicyDocument = Record<string, readonly unknown[] | Readonly<Record<string, readonly string[]>>>;

/** Headscale refuses a policy naming a tag it does not declare; each tag is owned by nobody (see tagOwnersFor). */
function policyDocument(
  input: PolicyInput,
  rules: readonly PolicyRule[],
  dialect: PolicyDialect,
  tests: readonly PolicyTest[],
): PolicyDocument {
  const tagOwners = tagOwnersFor(
    input.services.map((s) => s.name),
    input.identity,
  );
  const head: PolicyDocument = Object.keys(tagOwners).length ? { tagOwners } : {};
  if (dialect === 'v029') {
    const grants = rules.map((r) => ({ src: r.src, dst: [r.dst], ip: r.ports.map((p) => `tcp:${p}`) }));
    return tests.length ? { ...head, grants, tests } : { ...head, grants };
  }
  const acls = rules.map((r) => ({ action: 'accept', src: r.src, proto: 'tcp', dst: r.ports.map((p) => `${r.dst}:${p}`) }));
  return { ...head, acls };
}

// ---------------------------------------------------------------------------------------
// The marker: how june-ts knows a policy is its own and untouched.

const MARKER = /^\/\/ june-ts:policy (rules|released)=([0-9a-f]{16}) sha256=([0-9a-f]{16})$/m;
const HEADER = {
  rules: '// Access policy written by june-ts from its config. Edit the config, not this text: an edited copy is left alone.',
  released: "// june-ts removed its access rules (cleanup --purge): Headscale's default, every node reaches every node.",
};

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** Identifies the rules, whatever the tests block says (it follows the nodes present). */
export function rulesDigest(rules: readonly PolicyRule[], dialect: PolicyDialect): string {
  return digest(JSON.stringify({ dialect, rules }));
}

/** One entry of each list (or map) per line: short enough to read in `headscale policy get`, and a plain JSON document. */
function formatDocument(doc: PolicyDocument): string {
  const sections = Object.entries(doc).map(([key, items]) =>
    Array.isArray(items)
      ? `  ${JSON.stringify(key)}: [\n${items.map((i) => `    ${JSON.stringify(i)}`).join(',\n')}\n  ]`
      : `  ${JSON.stringify(key)}: {\n${Object.entries(items)
          .map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
          .join(',\n')}\n  }`,
  );
  return `{\n${sections.join(',\n')}\n}\n`;
}

function withMarker(kind: 'rules' | 'released', id: string, body: string): string {
  return `${HEADER[kind]}\n// june-ts:policy ${kind}=${id} sha256=${digest(body)}\n${body}`;
}

export interface RenderedPolicy {
  text: string;
  rules: PolicyRule[];
  tests: PolicyTest[];
  digest: string;
}

export function renderPolicy(input: PolicyInput, dialect: PolicyDialect, present: ReadonlySet<string> = new Set()): RenderedPolicy {
  const rules = policyRules(input, dialect);
  const tests = dialect === 'v029' ? policyTests(input, dialect, present) : [];
  const id = rulesDigest(rules, dialect);
  const body = formatDocument(policyDocument(input, rules, dialect, tests));
  return { text: withMarker('rules', id, body), rules, tests, digest: id };
}

/**
 * What `cleanup --purge` leaves: Headscale's own default (every node reaches every node), as
 * it was before june-ts wrote a policy. Headscale cannot delete a stored policy, and `{}`
 * means "deny all" on 0.26–0.28 but "allow all" on 0.29, so it is written out.
 */
export function releasedPolicy(): string {
  const body = formatDocument({ acls: [{ action: 'accept', src: ['*'], dst: ['*:*'] }] });
  return withMarker('released', digest(body), body);
}

export type PolicyOwnership =
  | { state: 'absent' }
  | { state: 'released' }
  | { state: 'owned'; digest: string }
  /** Carries june-ts's marker, but its text was changed after june-ts wrote it. */
  | { state: 'edited' }
  | { state: 'foreign' };

/** Who wrote `text` (undefined: Headscale holds no policy). */
export function policyOwnership(text: string | undefined): PolicyOwnership {
  if (text === undefined || text.trim() === '') return { state: 'absent' };
  const m = MARKER.exec(text);
  if (!m) return { state: 'foreign' };
  const body = text.slice((m.index ?? 0) + m[0].length + 1);
  if (digest(body) !== m[3]) return { state: 'edited' };
  return m[1] === 'released' ? { state: 'released' } : { state: 'owned', digest: m[2]! };
}

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

// ---------------------------------------------------------------------------------------
// The verdict on the policy in force, shared by 11.2, status and doctor.

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
