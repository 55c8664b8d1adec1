// The policy text june-ts writes, in the form each Headscale version accepts (acls before
// 0.29, grants and a tests block from 0.29), marked as its own. Pure: no I/O.
import { tagOwnersFor } from './identity.js';
import { policyRules, policyTests, type PolicyDialect, type PolicyInput, type PolicyRule, type PolicyTest } from './policy.js';
import { digest, rulesDigest, withMarker } from './policy-marker.js';

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
