import { describe, expect, it } from 'vitest';
import { imageTag, minorsBehind, planUpgrade, runningVersion } from '../../src/domain/headscale-upgrade.js';
import { UsageError } from '../../src/errors.js';
import {
  HEADSCALE_DEFAULT_VERSION,
  HEADSCALE_RELEASES,
  assumedVersion,
  probedVersion,
  reportedVersion,
} from '../../src/headscale/types.js';

function refusal(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

describe('the releases june-ts knows', () => {
  it('one per minor, in order, the default last', () => {
    const minors = HEADSCALE_RELEASES.map((r) => Number(r.split('.')[1]));
    expect(minors).toEqual(minors.map((_, i) => minors[0]! + i));
    expect(HEADSCALE_DEFAULT_VERSION).toBe(HEADSCALE_RELEASES[HEADSCALE_RELEASES.length - 1]);
    expect(HEADSCALE_RELEASES).toEqual(['0.23.0', '0.24.3', '0.25.1', '0.26.1', '0.27.1', '0.28.0', '0.29.3']);
  });
});

describe('planUpgrade', () => {
  it('nothing deployed: install the target as asked', () => {
    expect(planUpgrade(undefined, 'v0.26.1')).toEqual({ kind: 'install', target: '0.26.1' });
    expect(planUpgrade(undefined, '0.29.3')).toEqual({ kind: 'install', target: '0.29.3' });
  });

  it('the same version: nothing to do (v prefix and missing patch do not matter)', () => {
    expect(planUpgrade('v0.26.1', '0.26.1')).toEqual({ kind: 'current', version: '0.26.1' });
    expect(planUpgrade('0.28', '0.28.0')).toEqual({ kind: 'current', version: '0.28.0' });
  });

  it('0.26.1 → 0.29.3 steps through the newest patch of 0.27 and 0.28', () => {
    expect(planUpgrade('0.26.1', '0.29.3')).toEqual({ kind: 'upgrade', from: '0.26.1', steps: ['0.27.1', '0.28.0', '0.29.3'] });
  });

  it('from the oldest known to the newest: one step per minor, the target last', () => {
    expect(planUpgrade('0.23.0', '0.29.3')).toEqual({
      kind: 'upgrade',
      from: '0.23.0',
      steps: ['0.24.3', '0.25.1', '0.26.1', '0.27.1', '0.28.0', '0.29.3'],
    });
  });

  it('the next minor or a newer patch is a single step to exactly the target', () => {
    expect(planUpgrade('0.28.0', '0.29.3')).toEqual({ kind: 'upgrade', from: '0.28.0', steps: ['0.29.3'] });
    expect(planUpgrade('0.29.1', '0.29.3')).toEqual({ kind: 'upgrade', from: '0.29.1', steps: ['0.29.3'] });
    expect(planUpgrade('0.26.0', '0.26.1')).toEqual({ kind: 'upgrade', from: '0.26.0', steps: ['0.26.1'] });
  });

  it('a target patch other than the newest known is kept; the minors in between use the newest', () => {
    expect(planUpgrade('0.26.1', '0.28.1')).toEqual({ kind: 'upgrade', from: '0.26.1', steps: ['0.27.1', '0.28.1'] });
    expect(planUpgrade('0.25.0', '0.29.0')).toEqual({ kind: 'upgrade', from: '0.25.0', steps: ['0.26.1', '0.27.1', '0.28.0', '0.29.0'] });
  });

  it('an old patch of a minor steps to the next minor directly (the newest patch of its own minor is not needed)', () => {
    expect(planUpgrade('0.24.0', '0.26.1')).toEqual({ kind: 'upgrade', from: '0.24.0', steps: ['0.25.1', '0.26.1'] });
  });

  it('a target newer than every known release: the known minors, then the target', () => {
    const releases = [...HEADSCALE_RELEASES, '0.30.0'];
    expect(planUpgrade('0.28.0', '0.30.1', releases)).toEqual({ kind: 'upgrade', from: '0.28.0', steps: ['0.29.3', '0.30.1'] });
  });

  it('every pair of known releases: strictly increasing steps, one per minor, ending at the target', () => {
    for (const from of HEADSCALE_RELEASES) {
      for (const to of HEADSCALE_RELEASES) {
        const [a, b] = [Number(from.split('.')[1]), Number(to.split('.')[1])];
        if (a > b) {
          expect(() => planUpgrade(from, to)).toThrow(UsageError);
          continue;
        }
        const plan = planUpgrade(from, to);
        if (a === b) {
          expect(plan).toEqual({ kind: 'current', version: to });
          continue;
        }
        if (plan.kind !== 'upgrade') throw new Error(`expected an upgrade from ${from} to ${to}`);
        expect(plan.steps).toHaveLength(b - a);
        expect(plan.steps.at(-1)).toBe(to);
        expect(plan.steps.map((s) => Number(s.split('.')[1]))).toEqual(Array.from({ length: b - a }, (_, i) => a + 1 + i));
        for (const s of plan.steps) expect(HEADSCALE_RELEASES).toContain(s);
      }
    }
  });

  it('refuses a downgrade (exit 3), naming the restore and how to stay', () => {
    const e = refusal(() => planUpgrade('0.29.3', '0.26.1'));
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(/Headscale 0\.29\.3 is running and 0\.26\.1 is older: june-ts does not downgrade/);
    expect(e.hint).toMatch(/june-ts restore <backup directory>/);
    expect(e.hint).toMatch(/HEADSCALE_VERSION=0\.29\.3/);
    expect(refusal(() => planUpgrade('0.29.3', '0.29.2')).message).toMatch(/0\.29\.2 is older/);
  });

  it('refuses a running version older than june-ts knows', () => {
    const e = refusal(() => planUpgrade('0.22.3', '0.29.3'));
    expect(e.message).toMatch(/0\.22\.3 is older than june-ts can upgrade \(from 0\.23 on\)/);
    expect(e.hint).toMatch(/upgrade it to 0\.23\.0 by hand first/);
  });

  it('refuses a path through a minor it knows no release of', () => {
    const e = refusal(() => planUpgrade('0.29.3', '0.31.0'));
    expect(e.message).toMatch(/no known release of Headscale 0\.30/);
  });

  it('refuses a new major and anything that is not a version', () => {
    expect(refusal(() => planUpgrade('0.29.3', '1.0.0')).message).toMatch(/a new major version/);
    expect(refusal(() => planUpgrade('0.29.3', 'latest')).message).toMatch(/target version "latest" is not a Headscale version/);
    expect(refusal(() => planUpgrade('dev', '0.29.3')).message).toMatch(/running version "dev"/);
  });
});

describe('runningVersion', () => {
  it('what the server reports wins over the image tag', () => {
    expect(runningVersion(reportedVersion('v0.26.1'), 'headscale/headscale:0.29.3')).toEqual({ version: '0.26.1', source: 'server' });
  });
  it('the image tag when the server gave no release version (or did not answer)', () => {
    expect(runningVersion(probedVersion('v026', 'dev'), 'headscale/headscale:v0.27.1')).toEqual({ version: '0.27.1', source: 'image' });
    expect(runningVersion(undefined, 'registry:5000/headscale/headscale:0.28.0@sha256:abc')).toEqual({
      version: '0.28.0',
      source: 'image',
    });
    expect(runningVersion(assumedVersion('0.26'), 'headscale/headscale:0.26.1')).toEqual({ version: '0.26.1', source: 'image' });
  });
  it('undefined when neither says a version', () => {
    expect(runningVersion(undefined, 'headscale/headscale:stable')).toBeUndefined();
    expect(runningVersion(undefined, 'headscale/headscale@sha256:abc')).toBeUndefined();
    expect(runningVersion(undefined, undefined)).toBeUndefined();
  });
});

describe('imageTag', () => {
  it.each([
    ['headscale/headscale:0.26.1', '0.26.1'],
    ['localhost:5000/headscale:v0.29.3', 'v0.29.3'],
    ['localhost:5000/headscale', undefined],
    ['headscale/headscale:0.28.0@sha256:00', '0.28.0'],
  ])('%s → %s', (image, tag) => expect(imageTag(image)).toBe(tag));
});

describe('minorsBehind', () => {
  it.each([
    ['0.26.1', '0.29.3', 3],
    ['0.28.0', '0.29.3', 1],
    ['0.29.1', '0.29.3', 0],
    ['0.29.3', '0.28.0', 0],
    ['0.29.3', '1.0.0', Infinity],
  ])('%s behind %s: %d', (a, b, n) => expect(minorsBehind(a, b)).toBe(n));
});
