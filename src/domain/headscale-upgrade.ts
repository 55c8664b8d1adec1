// Which Headscale versions an upgrade passes through. Headscale migrates its database on
// start and 0.29 refuses to start after a skipped minor or on a downgrade, so the server
// goes up one minor at a time (the newest patch of each), never down. Pure.
import { UsageError } from '../errors.js';
import {
  HEADSCALE_RELEASES,
  parseVersionString,
  type HeadscaleVersion,
  type HsNode,
  type HsPreAuthKey,
  type HsUser,
} from '../headscale/types.js';

interface Numbers {
  major: number;
  minor: number;
  patch: number;
}

export type UpgradePlan =
  /** No Headscale is deployed: install the target directly. */
  | { kind: 'install'; target: string }
  /** The target is what runs. */
  | { kind: 'current'; version: string }
  /** `steps` in order, each a version to deploy and wait for; the last one is the target. */
  | { kind: 'upgrade'; from: string; steps: string[] };

/** `0.26.1` for `v0.26.1`; the form image tags and the plan use. */
export function plainVersion(v: Numbers): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

function parse(raw: string, what: string): Numbers {
  const v = parseVersionString(raw);
  if (!v) throw new UsageError(`${what} ${JSON.stringify(raw)} is not a Headscale version`, { hint: 'write it like 0.29.3' });
  return v;
}

function compare(a: Numbers, b: Numbers): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * The path from `running` (undefined: nothing deployed) to `target`, through the newest
 * patch of every minor in between as listed in `releases`. Throws UsageError (nothing
 * changed) for a downgrade, a running version older than june-ts knows, or a minor in
 * between that `releases` does not list.
 */
export function planUpgrade(running: string | undefined, target: string, releases: readonly string[] = HEADSCALE_RELEASES): UpgradePlan {
  const to = parse(target, 'target version');
  if (running === undefined) return { kind: 'install', target: plainVersion(to) };
  const from = parse(running, 'running version');
  const order = compare(from, to);
  if (order === 0) return { kind: 'current', version: plainVersion(to) };
  if (order > 0) throw downgradeRefused(plainVersion(from), plainVersion(to));
  if (from.major !== to.major) {
    throw new UsageError(`no known upgrade path from Headscale ${plainVersion(from)} to ${plainVersion(to)} (a new major version)`, {
      hint: 'read the Headscale release notes and upgrade by hand, or set HEADSCALE_VERSION to the newest 0.x release',
    });
  }
  const known = releases.map((r) => parse(r, 'known release'));
  const oldest = known[0]!;
  if (from.minor < oldest.minor) {
    throw new UsageError(`Headscale ${plainVersion(from)} is older than june-ts can upgrade (from ${oldest.major}.${oldest.minor} on)`, {
      hint: `upgrade it to ${plainVersion(oldest)} by hand first (its config keys changed in 0.23), then run june-ts again`,
    });
  }
  const steps: string[] = [];
  for (let minor = from.minor + 1; minor < to.minor; minor++) {
    const release = known.find((k) => k.major === to.major && k.minor === minor);
    if (!release) {
      throw new UsageError(
        `no known release of Headscale ${to.major}.${minor}, which the upgrade to ${plainVersion(to)} must pass through`,
        {
          hint: `set HEADSCALE_VERSION to ${to.major}.${minor - 1} or lower, or use a june-ts that knows ${to.major}.${minor}`,
        },
      );
    }
    steps.push(plainVersion(release));
  }
  steps.push(plainVersion(to));
  return { kind: 'upgrade', from: plainVersion(from), steps };
}

export function downgradeRefused(running: string, target: string): UsageError {
  return new UsageError(
    `Headscale ${running} is running and ${target} is older: june-ts does not downgrade (Headscale migrates its database on upgrade, and 0.29 refuses to start on a database a newer version wrote)`,
    {
      hint:
        `to go back to the state before an upgrade, restore the backup taken then: june-ts restore <backup directory> ` +
        `(phase 11 named it; also under /var/lib/headscale/backups on the Headscale volume). To stay on ${running}, set HEADSCALE_VERSION=${running}`,
    },
  );
}

/** Where the running version was read. */
export type RunningSource = 'server' | 'image';

/**
 * The version that runs: what the server reports about itself, else the Deployment's image
 * tag (a server that does not answer, or a source build that prints no version).
 */
export function runningVersion(
  reported: HeadscaleVersion | undefined,
  image: string | undefined,
): { version: string; source: RunningSource } | undefined {
  if (reported && reported.source === 'reported') return { version: plainVersion(reported), source: 'server' };
  const tag = image === undefined ? undefined : imageTag(image);
  const parsed = tag === undefined ? undefined : parseVersionString(tag);
  return parsed ? { version: plainVersion(parsed), source: 'image' } : undefined;
}

/** The tag of an image reference (`repo/name:tag`, `host:5000/name:tag@sha256:…`), or undefined. */
export function imageTag(image: string): string | undefined {
  const withoutDigest = image.split('@')[0]!;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  return colon === -1 ? undefined : withoutDigest.slice(colon + 1);
}

/** How many minor versions `running` is behind `deployed` (0 when same minor or newer; Infinity across majors). */
export function minorsBehind(running: string, deployed: string): number {
  const a = parse(running, 'running version');
  const b = parse(deployed, 'deployed version');
  if (a.major !== b.major) return a.major < b.major ? Infinity : 0;
  return Math.max(0, b.minor - a.minor);
}

/** What an upgrade step must keep: read before the step, compared after it. */
export interface TailnetSnapshot {
  users: HsUser[];
  nodes: HsNode[];
  keys: HsPreAuthKey[];
}

export interface StepCheck {
  /** Lost by the step: the step failed, its backup must come back. */
  missingUsers: string[];
  missingNodes: string[];
  missingKeys: string[];
  /** Online before the step, not (yet) online after it. */
  offline: string[];
  /** MagicDNS names that changed (0.29 gives duplicate names -1/-2 suffixes). */
  renamed: { id: string; from: string; to: string }[];
}

const nodeLabel = (n: HsNode) => `${n.givenName || n.name} (id ${n.id})`;

export function checkStep(before: TailnetSnapshot, after: TailnetSnapshot): StepCheck {
  const users = new Set(after.users.map((u) => u.name));
  const nodes = new Map(after.nodes.map((n) => [n.id, n]));
  const keys = new Set(after.keys.map((k) => k.id));
  return {
    missingUsers: before.users.filter((u) => !users.has(u.name)).map((u) => u.name),
    missingNodes: before.nodes.filter((n) => !nodes.has(n.id)).map(nodeLabel),
    missingKeys: before.keys.filter((k) => !keys.has(k.id)).map((k) => `${k.id} (user ${k.user || 'none'})`),
    offline: before.nodes.filter((n) => n.online && nodes.has(n.id) && !nodes.get(n.id)!.online).map(nodeLabel),
    renamed: before.nodes
      .filter((n) => nodes.has(n.id) && (nodes.get(n.id)!.givenName || nodes.get(n.id)!.name) !== (n.givenName || n.name))
      .map((n) => ({ id: n.id, from: n.givenName || n.name, to: nodes.get(n.id)!.givenName || nodes.get(n.id)!.name })),
  };
}

/** Data lost by a step, one line per kind; [] when nothing was lost. */
export function lostData(c: StepCheck): string[] {
  return [
    c.missingUsers.length ? `users missing: ${c.missingUsers.join(', ')}` : '',
    c.missingNodes.length ? `nodes missing: ${c.missingNodes.join(', ')}` : '',
    c.missingKeys.length ? `pre-auth keys missing: ${c.missingKeys.join(', ')}` : '',
  ].filter(Boolean);
}
