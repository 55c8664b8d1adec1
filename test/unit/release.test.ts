import { describe, expect, it } from 'vitest';
import { mergeValues, sameValues } from '../../src/domain/release.js';

describe('mergeValues', () => {
  it('deep-merges objects, june-ts values win', () => {
    const user = { tailscale: { enabled: false, image: { tag: '1.80' } }, services: { idp: { enabled: true } }, replicas: 2 };
    const ours = { tailscale: { enabled: true, controlUrl: 'https://hs' } };
    expect(mergeValues(user, ours)).toEqual({
      tailscale: { enabled: true, image: { tag: '1.80' }, controlUrl: 'https://hs' },
      services: { idp: { enabled: true } },
      replicas: 2,
    });
  });

  it('arrays and scalars replace, never merge', () => {
    expect(mergeValues({ a: [1, 2, 3], b: { c: 1 } }, { a: [9], b: 'flat' })).toEqual({ a: [9], b: 'flat' });
    expect(mergeValues({ b: 'flat' }, { b: { c: 1 } })).toEqual({ b: { c: 1 } });
    expect(mergeValues({ a: { x: 1 } }, { a: null })).toEqual({ a: null });
    expect(mergeValues({ a: [{ x: 1 }] }, { a: { x: 2 } })).toEqual({ a: { x: 2 } });
  });

  it('does not mutate its inputs', () => {
    const base = { t: { a: 1, n: { deep: true } } };
    const over = { t: { b: 2, n: { deeper: 1 } } };
    const snapshot = JSON.parse(JSON.stringify([base, over]));
    const out = mergeValues(base, over);
    expect([base, over]).toEqual(snapshot);
    expect(out).toEqual({ t: { a: 1, b: 2, n: { deep: true, deeper: 1 } } });
    expect(out.t).not.toBe(base.t);
  });

  it('empty sides', () => {
    expect(mergeValues({}, { a: 1 })).toEqual({ a: 1 });
    expect(mergeValues({ a: 1 }, {})).toEqual({ a: 1 });
  });
});

describe('sameValues', () => {
  it.each<[string, unknown, unknown, boolean]>([
    ['equal nested objects, different key order', { a: 1, b: { c: [1, { d: 'x' }] } }, { b: { c: [1, { d: 'x' }] }, a: 1 }, true],
    ['a scalar differs deep down', { a: { b: { c: 1 } } }, { a: { b: { c: 2 } } }, false],
    ['an extra key', { a: 1 }, { a: 1, b: 2 }, false],
    ['an extra key on the left', { a: 1, b: 2 }, { a: 1 }, false],
    ['array order matters', [1, 2], [2, 1], false],
    ['array length matters', [1, 2], [1, 2, 3], false],
    ['array vs object with the same indexes', [1], { 0: 1 }, false],
    ['string vs number', { a: '1' }, { a: 1 }, false],
    ['true vs "true"', { enabled: true }, { enabled: 'true' }, false],
    ['null vs {}', null, {}, false],
    ['both empty', {}, {}, true],
    ['undefined value counts as absent', { a: 1, b: undefined }, { a: 1 }, true],
  ])('%s', (_n, a, b, want) => {
    expect(sameValues(a, b)).toBe(want);
    expect(sameValues(b, a)).toBe(want);
  });

  it('merging june-ts values already present changes nothing; new ones do', () => {
    const deployed = { tailscale: { enabled: true, controlUrl: 'https://hs' }, replicas: 2 };
    expect(sameValues(deployed, mergeValues(deployed, { tailscale: { enabled: true } }))).toBe(true);
    expect(sameValues(deployed, mergeValues(deployed, { tailscale: { enabled: false } }))).toBe(false);
  });
});
