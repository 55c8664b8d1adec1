// How june-ts knows a policy in Headscale is its own and untouched: a header line, then a
// marker carrying the digest of its rules and of the text below it. Pure: no I/O.
import { createHash } from 'node:crypto';
import type { PolicyDialect, PolicyRule } from './policy.js';

const MARKER = /^\/\/ june-ts:policy (rules|released)=([0-9a-f]{16}) sha256=([0-9a-f]{16})$/m;
const HEADER = {
  rules: '// Access policy written by june-ts from its config. Edit the config, not this text: an edited copy is left alone.',
  released: "// june-ts removed its access rules (cleanup --purge): Headscale's default, every node reaches every node.",
};

export const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** Identifies the rules, whatever the tests block says (it follows the nodes present). */
export function rulesDigest(rules: readonly PolicyRule[], dialect: PolicyDialect): string {
  return digest(JSON.stringify({ dialect, rules }));
}

export function withMarker(kind: 'rules' | 'released', id: string, body: string): string {
  return `${HEADER[kind]}\n// june-ts:policy ${kind}=${id} sha256=${digest(body)}\n${body}`;
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
